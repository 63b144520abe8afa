"""Where dreamed frames go besides the screen: a video file and snapshots, both written atomically."""
from __future__ import annotations

import os
import tempfile
import time
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from .errors import UserError
from .imageio import _umask, fit_cover, write_image


class VideoRecorder:
    """MP4 (mp4v) written to a hidden temporary file beside the target and renamed over it on close, so
    the target is always a whole, playable file. `realtime`: repeat or skip frames so the video plays at
    the speed it was seen; otherwise every frame is written once."""

    def __init__(self, path: str, fps: float, size: tuple[int, int], realtime: bool = True):
        self.path, self.fps, self.size, self.realtime = Path(path), fps, size, realtime
        if self.path.suffix.lower() not in {".mp4", ".m4v", ".mov"}:
            raise UserError(f"cannot record to {path}: use a .mp4 file name")
        if not self.path.parent.is_dir():
            raise UserError(f"cannot record to {path}: folder {self.path.parent} does not exist; create it first")
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=".partial.mp4", dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self.writer.isOpened():
            self.tmp.unlink(missing_ok=True)
            raise UserError(f"cannot record to {path}: OpenCV has no MP4 encoder here")
        self.frames = 0
        self._start: float | None = None

    def write(self, rgb: np.ndarray) -> None:
        if rgb.shape[1::-1] != self.size:
            rgb = fit_cover(rgb, self.size)
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        copies = 1
        if self.realtime:
            now = time.monotonic()
            self._start = self._start or now
            copies = max(0, int((now - self._start) * self.fps) + 1 - self.frames) if self.frames else 1
        for _ in range(copies):
            self.writer.write(bgr)
        self.frames += copies

    def close(self) -> Path | None:
        """Finish the file and move it into place; returns the path, or None if nothing was recorded."""
        self.writer.release()
        if self.frames == 0:
            self.tmp.unlink(missing_ok=True)
            return None
        os.chmod(self.tmp, 0o666 & ~_umask())
        os.replace(self.tmp, self.path)
        return self.path


def write_snapshot(folder: str, rgb: np.ndarray) -> Path:
    Path(folder).mkdir(parents=True, exist_ok=True)
    path = Path(folder) / f"dream-{datetime.now():%Y%m%d-%H%M%S-%f}.png"
    write_image(path, rgb)
    return path
