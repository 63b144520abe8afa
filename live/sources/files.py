"""Files as sources: a video file, a folder of images, one photo."""
from __future__ import annotations

import logging
from pathlib import Path

import cv2

from live.errors import UserError
from live.core.imageio import read_image
from live.sources.contract import Source
from live.sources.frames import decoded_to_rgb, shrink_to_cover

log = logging.getLogger("live-dream")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}


class VideoFileSource(Source):
    """A video file, looped (or played once), at its own frame rate unless `fast`."""

    def __init__(self, path: str, loop: bool = True, fast: bool = False):
        self.path, self.loop = path, loop
        if not Path(path).is_file():
            raise UserError(f"cannot read video {path}: no such file")
        self.cap = cv2.VideoCapture(path)
        ok, first = self.cap.read() if self.cap.isOpened() else (False, None)
        if not ok:
            raise UserError(f"cannot read video {path}: OpenCV cannot decode it; convert it to H.264 MP4")
        self._first = decoded_to_rgb(first)
        rate = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = None if fast else (rate if 1 <= rate <= 240 else 30.0)
        self.description = f"video {Path(path).name} ({first.shape[1]}x{first.shape[0]}@{rate:.0f}{', fast' if fast else ''})"

    def read(self):
        if self._first is not None:
            frame, self._first = self._first, None
            return frame
        ok, bgr = self.cap.read()
        if not ok and self.loop:
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = self.cap.read()
        return decoded_to_rgb(bgr) if ok else None

    def close(self):
        self.cap.release()


class FolderSource(Source):
    """Every image in a folder, in name order, looped, at `fps`. A file that cannot be read (a stray
    text file, a half-copied photo) is skipped with one warning; the run fails only if none can be."""

    def __init__(self, path: str, fps: float, loop: bool = True, size: tuple[int, int] = (1280, 720)):
        self.files = sorted(p for p in Path(path).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise UserError(f"folder {path} has no images; add PNG or JPEG files")
        self.loop, self.fps, self.size, self.index = loop, fps, size, 0
        self.unreadable: set[Path] = set()
        self.description = f"folder {path} ({len(self.files)} images)"

    def read(self):
        while len(self.unreadable) < len(self.files):
            if self.index >= len(self.files):
                if not self.loop:
                    return None
                self.index = 0
            path = self.files[self.index]
            self.index += 1
            if path in self.unreadable:
                continue
            try:
                return shrink_to_cover(read_image(path), self.size)
            except UserError as exc:
                self.unreadable.add(path)
                log.warning("skipping %s (%s)", path.name, exc)
        raise UserError(f"no image in {self.description} can be read; see the lines above")

    def close(self):
        pass


class StillImageSource(Source):
    """One photo, shown as a still scene: decoded once (unreadable: a clear line now), held at the size
    it is needed at."""
    still = True  # the same frame for ever is what it is for (not a frozen camera)

    def __init__(self, path: str, fps: float, size: tuple[int, int]):
        self.image = shrink_to_cover(read_image(path), size)
        self.fps = fps
        self.description = f"image {Path(path).name}"

    def read(self):
        return self.image.copy()  # the capture thread may mirror it; the slot must own its frame

    def close(self):
        pass
