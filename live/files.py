"""Output files: checked before any long work, written atomically, JSON read without trusting it.

Everything the program writes goes through here, so an output that cannot be written is one clear line
before the work starts (not a traceback after it), an output is never the input it came from, and a
reader never sees a half-written file.
"""
from __future__ import annotations

import json
import logging
import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

from live.errors import UserError

log = logging.getLogger("live-dream")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def give_usual_permissions(path: str | Path) -> None:
    """mkstemp makes 0600 files; a finished output gets what any new file would."""
    os.chmod(path, 0o666 & ~_umask())


def same_file(a: str | Path, b: str | Path) -> bool:
    """The same file, through symlinks, hard links and relative paths alike."""
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_output(path: str | Path, what: str = "write", suffixes: dict | set | None = None,
                 inputs: tuple = ()) -> Path:
    """Fail before the work, with one line, if `path` cannot be written: wrong kind of file, a folder,
    a missing or read-only folder, or one of `inputs` (the work would destroy what it reads)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"cannot {what} {path}: it is a folder; give a file name inside it")
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise UserError(f"cannot {what} {path}: unsupported format '{path.suffix}'; "
                        f"use one of {', '.join(sorted(suffixes))}")
    for source in inputs:
        if source and same_file(path, source):
            raise UserError(f"cannot {what} {path}: it is the input {source}; choose another output file")
    folder = path.parent
    if not folder.is_dir():
        raise UserError(f"cannot {what} {path}: folder {folder} does not exist; create it first")
    try:  # permission bits do not tell (root, read-only mounts): try it
        fd, probe = tempfile.mkstemp(prefix=".live-dream-probe.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UserError(f"cannot {what} {path}: folder {folder} is not writable ({exc.strerror}); "
                        f"choose another folder") from None
    return path


@contextmanager
def atomic_output(path: str | Path):
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename, so a reader
    never sees a half-written file and a failed write leaves the old file intact. An OSError (disk full,
    folder gone) becomes one line naming the file."""
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
        os.close(fd)
        yield Path(tmp)
        give_usual_permissions(tmp)
        with open(tmp, "rb") as written:  # on disk before the rename: a power cut leaves old or new, whole
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}; free some space or choose another "
                        f"folder") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def write_json(path: str | Path, data) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1) + "\n")


MAX_STATE_FILE = 1 << 20  # bytes: the show's own small JSON files (state, caches) are far below this


def read_json_dict(path: Path) -> dict:
    """A JSON object from a state or cache file; anything else is an empty dict, with one warning when the
    file was there but unusable, so a bad file is rebuilt rather than fatal. Read defensively, since it is
    read at every start: only a regular file (a FIFO would hang the start, a link to /dev/zero fill the
    memory), at most MAX_STATE_FILE bytes, and any parse error (100,000 '[' is a RecursionError) discards it."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO opens at once, without a writer
    except FileNotFoundError:
        return {}
    except OSError as exc:
        return _discarded(path, exc.strerror or exc.__class__.__name__)
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            return _discarded(path, "not a regular file")
        if info.st_size > MAX_STATE_FILE:
            return _discarded(path, f"{info.st_size} bytes, over {MAX_STATE_FILE}")
        try:
            data = json.loads(f.read(MAX_STATE_FILE + 1))
        except (OSError, ValueError, RecursionError) as exc:
            return _discarded(path, exc.__class__.__name__)
    if not isinstance(data, dict):
        return _discarded(path, "not a JSON object")
    return data


def _discarded(path: Path, why: str) -> dict:
    log.warning("ignoring damaged file %s (%s); it will be rebuilt", path, why)
    return {}


def models_dir() -> Path:
    """Where exported graphs and measurements are cached: $LIVE_DREAM_MODELS, else ./models when
    running from the project folder, else ~/.cache/live-dream."""
    if os.environ.get("LIVE_DREAM_MODELS"):
        return Path(os.environ["LIVE_DREAM_MODELS"])
    if Path("models").is_dir():
        return Path("models")
    return Path.home() / ".cache" / "live-dream"
