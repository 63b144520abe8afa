"""Video files the program writes (recordings, renders) in fragmented MP4: a partial left by a killed run
is cut to its whole fragments and kept, or removed if it holds nothing playable."""
from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path

from live.core.files import give_usual_permissions, stale_partials

log = logging.getLogger("live-dream")
RECORD_SUFFIXES = {".mp4", ".m4v", ".mov"}


def truncate_to_whole_fragments(path: Path) -> None:
    """Cut an MP4 after its last complete top-level box that ends a fragment (moov or mdat): a fragment
    half-written when the disk filled or the process died is dropped, everything before it plays."""
    size = path.stat().st_size
    keep = pos = 0
    with open(path, "r+b") as f:
        while pos + 8 <= size:
            f.seek(pos)
            header = f.read(16)
            length, kind = int.from_bytes(header[:4], "big"), header[4:8]
            if length == 1 and len(header) == 16:  # 64-bit size
                length = int.from_bytes(header[8:16], "big")
            elif length == 0:  # "to the end of the file"
                length = size - pos
            if length < 8 or pos + length > size:
                break
            pos += length
            if kind in (b"moov", b"mdat"):
                keep = pos
        f.truncate(keep)


def count_frames(path: Path) -> int:
    import av
    try:
        with av.open(str(path)) as container:
            return sum(1 for packet in container.demux(video=0) if packet.size)
    except (OSError, av.FFmpegError, IndexError):
        return 0


def salvage(path: Path) -> int:
    """Make what a failed or killed recording wrote playable; the number of frames it holds."""
    try:
        truncate_to_whole_fragments(path)
    except OSError:
        return 0
    return count_frames(path)


def recover_partials(target: Path) -> None:
    """Partials of `target` left by runs that were killed (a recording or a render): kept as
    NAME.recovered-TIME.mp4 if they hold frames, else removed, with one line. A partial of a process still
    running is left alone."""
    removed = []
    for partial in stale_partials(target):
        frames = salvage(partial)
        if not frames:  # a render's partial (its index comes last), or a recording killed in its first second
            try:
                partial.unlink()
                removed.append(partial.name)
            except FileNotFoundError:
                pass
            continue
        when = datetime.fromtimestamp(partial.stat().st_mtime)
        kept = target.with_name(f"{target.stem}.recovered-{when:%Y%m%d-%H%M%S}{target.suffix}")
        give_usual_permissions(partial)
        os.replace(partial, kept)
        log.warning("an earlier run recording to %s was killed: its %d frames are kept in %s", target.name,
                    frames, kept)
    if removed:
        log.warning("removed %d unfinished file(s) of %s left by killed runs, with nothing playable in them: %s",
                    len(removed), target.name, ", ".join(removed))
