"""Output files: checked before any long work, written atomically, JSON read without trusting it.

Everything the program writes goes through here, so an output that cannot be written is one clear line
before the work starts (not a traceback after it), an output is never the input it came from, and a
reader never sees a half-written file.
"""
from __future__ import annotations

import glob
import json
import logging
import os
import re
import stat
import tempfile
import time
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
def atomic_output(path: str | Path, named_by_process: bool = False):
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename, so a reader
    never sees a half-written file and a failed write leaves the old file intact. An OSError (disk full,
    folder gone) becomes one line naming the file.

    `named_by_process`: the temporary file is `partial_path(path)`, for long work (a render) that a kill
    can cut short: a later run can tell it was left by a dead process, and remove it."""
    path = Path(path)
    tmp = None
    try:
        if named_by_process:
            tmp = partial_path(path)
            os.close(os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600))
        else:
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


# ---------------------------------------------------------------- partials and locks of long outputs
# A recording or a render writes for minutes or hours: it writes a partial named by its process, so that a
# later run to the same target can clean up after one that was killed, and it holds a lock beside the
# target, so that two runs never write the same file (the later rename would silently replace the other).

def partial_path(target: Path) -> Path:
    """`.NAME.PID.partial.SUFFIX` beside `target`: hidden, and named by the process that writes it."""
    return target.with_name(f".{target.stem}.{os.getpid()}.partial{target.suffix}")


_PARTIAL = re.compile(r"^\.(?P<stem>.+)\.(?P<pid>\d+)\.partial\.[^.]+$")


def stale_partials(target: Path) -> list[Path]:
    """The partials of `target` whose process is gone, oldest first. A partial named with this process's
    id but older than this process was left by an earlier one that had the same id (ids are reused)."""
    import psutil
    try:
        me = psutil.Process()
        my_start = me.create_time()
    except Exception:  # a sandbox that hides the process table: leave every partial where it is
        log.debug("cannot read this process's start time; partials of %s left alone", target)
        return []
    stale = []
    for partial in target.parent.glob(f".{glob.escape(target.stem)}.*.partial*"):  # a name may hold [ or *
        m = _PARTIAL.match(partial.name)
        if not m or m["stem"] != target.stem:
            continue
        pid = int(m["pid"])
        try:
            mtime = partial.stat().st_mtime
        except OSError:  # gone meanwhile
            continue
        if pid == me.pid:
            if mtime < my_start:
                stale.append((mtime, partial))
        elif not process_alive(pid):
            stale.append((mtime, partial))
    return [partial for _, partial in sorted(stale)]


def process_alive(pid: int) -> bool:
    """psutil, not os.kill(pid, 0): on Windows that call terminates the process."""
    import psutil
    try:
        return psutil.pid_exists(pid)
    except Exception:  # cannot tell (a sandbox hiding the process table): alive, so nothing is removed
        return True


if os.name == "nt":
    import msvcrt

    _LOCKED_BYTE = 1 << 30  # far past the process id written at the start, which stays readable

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _LOCKED_BYTE, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # BlockingIOError: held; others (a file system without locks): not ours to take
            return False
        return True


class OutputLock:
    """`.NAME.lock` beside `target`, locked (flock / msvcrt) for as long as a run writes `target`, with
    the run's process id in it. The operating system releases it when the process ends, however it ends,
    so a lock file left by a killed run never blocks the next one."""

    def __init__(self, target: Path, what: str = "write"):
        self.target, self.what = Path(target), what
        self.path = self.target.with_name(f".{self.target.name}.lock")
        self.fd: int | None = None

    def check(self) -> None:
        """Refuse now, with one line, if another run holds the lock; takes nothing and creates no file
        (a run stopped before it starts writing leaves nothing behind)."""
        try:
            fd = os.open(self.path, os.O_RDWR)
        except OSError:  # no lock file: nobody is writing (one that cannot be opened: acquire() says)
            return
        try:
            if not _try_lock(fd):
                self._refuse()
        finally:
            os.close(fd)  # closing releases a lock taken just to look

    def acquire(self) -> None:
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as exc:
                raise UserError(f"cannot {self.what} {self.target}: cannot create the lock file {self.path} "
                                f"({exc.strerror}); choose another folder") from None
            if not _try_lock(fd):
                os.close(fd)
                self._refuse()
            try:  # the holder before us may have removed the file between our open and our lock: retry
                if os.path.samestat(os.fstat(fd), os.stat(self.path)):
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        if os.name == "nt":  # an open file cannot be removed there; another run may open it first: then it stays
            os.close(fd)
            try:
                os.unlink(self.path)
            except OSError:
                pass
        else:  # removed while still locked, so no one can lock the old file after us (acquire checks)
            try:
                os.unlink(self.path)
            except OSError:
                pass
            os.close(fd)

    def _refuse(self) -> None:
        raise UserError(f"cannot {self.what} {self.target}: {self._holder()} is writing it; stop that run or "
                        f"choose another file")

    def _holder(self) -> str:
        try:
            pid = int(self.path.read_text(errors="replace").split()[0])
        except (OSError, ValueError, IndexError):  # being written this instant, or another program's
            return "another run"
        import psutil
        try:
            started = time.strftime("%H:%M:%S", time.localtime(psutil.Process(pid).create_time()))
        except psutil.Error:
            return f"another run (process {pid})"
        return f"another run (process {pid}, started at {started})"


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
    running from the project folder, else this system's cache folder (~/.cache/live-dream on Linux,
    ~/Library/Caches/live-dream on macOS, %LOCALAPPDATA%\\live-dream\\Cache on Windows)."""
    if os.environ.get("LIVE_DREAM_MODELS"):
        return Path(os.environ["LIVE_DREAM_MODELS"])
    if Path("models").is_dir():
        return Path("models")
    from platformdirs import user_cache_path
    return user_cache_path("live-dream", appauthor=False)
