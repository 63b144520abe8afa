"""Where frames come from: a webcam, a video file, a folder of images, or the built-in demo.

Each source has `read() -> HxWx3 uint8 RGB | None` (None: it has ended), `close()`, `fps` (the
rate it should be played at; None for a camera, which sets its own pace) and `description`.
"""
from __future__ import annotations

import glob
import logging
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from live.errors import UserError
from live.core.imageio import read_image

log = logging.getLogger("live-dream")
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # camera probes would print warnings
MEDIA = Path(__file__).resolve().parent.parent / "media"
RECONNECT_SECONDS = 30
BAD_FRAMES_IN_A_ROW = 300  # a camera that reports success but delivers nothing for ~10 s has failed
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}


def decoded_to_rgb(frame) -> np.ndarray | None:
    """A frame as OpenCV decodes it (BGR, and whatever else a driver hands over: greyscale, BGRA,
    16 bits) as HxWx3 uint8 RGB; None for an empty frame, which some cameras report as a success."""
    if frame is None or frame.size == 0 or frame.ndim not in (2, 3):
        return None
    if frame.dtype == np.uint16:
        frame = (frame >> 8).astype(np.uint8)
    elif frame.dtype != np.uint8:
        return None
    channels = 1 if frame.ndim == 2 else frame.shape[2]
    conversion = {1: cv2.COLOR_GRAY2RGB, 3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGB}.get(channels)
    return None if conversion is None else cv2.cvtColor(frame, conversion)


def shrink_to_cover(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Downscale (never up) to the smallest size that still covers `size` (w, h): a 50 MP photo as a
    source is then held and copied at screen resolution, not at its own."""
    h, w = image.shape[:2]
    scale = max(size[0] / w, size[1] / h)
    if scale >= 1:
        return image
    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


# ---------------------------------------------------------------- cameras

def list_cameras() -> list[tuple[int, str]]:
    """(index, name) of the video devices this machine has (Linux: /dev/video*; elsewhere: probing)."""
    found = []
    if sys.platform.startswith("linux"):  # V4L2 lists every camera here; probing would only add noise
        for dev in sorted(glob.glob("/sys/class/video4linux/video*"), key=lambda p: int(p.rsplit("video", 1)[1])):
            # Many webcams expose a second node for metadata (its 'index' is not 0): it delivers no frames.
            node = Path(dev, "index")
            if node.exists() and node.read_text().strip() != "0":
                continue
            index = int(dev.rsplit("video", 1)[1])
            name = Path(dev, "name").read_text().strip() if Path(dev, "name").exists() else f"video{index}"
            found.append((index, name))
        return found
    for index in range(4):  # other systems: try the first few indices
        cap = cv2.VideoCapture(index, camera_api())
        if cap.isOpened():
            found.append((index, f"camera {index}"))
        cap.release()
    return found


def camera_api() -> int:
    """Each system's own camera interface: V4L2 on Linux, AVFoundation on macOS, DirectShow on Windows
    (it opens in a moment and takes the MJPG request; Media Foundation can take seconds to open)."""
    if sys.platform.startswith("linux"):
        return cv2.CAP_V4L2
    if sys.platform == "darwin":
        return cv2.CAP_AVFOUNDATION
    if sys.platform == "win32":
        return cv2.CAP_DSHOW
    return cv2.CAP_ANY


class CameraSource:
    def __init__(self, which: str, width: int, height: int, fps: int, reconnect_seconds: float = RECONNECT_SECONDS):
        self.reconnect_seconds = reconnect_seconds  # 0: fail at once (installation mode reopens it for ever)
        cameras = list_cameras()
        if not cameras and sys.platform.startswith("linux"):
            raise UserError(f"no camera found on this machine (wanted camera {which}); connect one and check "
                            f"`live-dream cameras`, or use --source demo / a video file")
        self.index = index = self._resolve(which, cameras)
        self.request = (width, height, fps)
        self.cap = self._open()
        if not self.cap.isOpened():
            listing = ", ".join(f"{i}: {n}" for i, n in cameras) or "none"
            if sys.platform == "darwin":  # macOS says no until the user allows the app that runs us
                raise UserError(f"cannot open camera {which}: macOS may not allow this app to use the camera; "
                                f"allow your terminal (or Python) in System Settings > Privacy & Security > "
                                f"Camera, then start again")
            raise UserError(f"cannot open camera {which} (cameras found: {listing}); check the cable and "
                            f"permissions, or use --source demo / a video file")
        got = (int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
               self.cap.get(cv2.CAP_PROP_FPS))
        name = dict(cameras).get(index, f"camera {index}")
        log.info("camera %d (%s): asked %dx%d@%d MJPG, got %dx%d@%.1f", index, name, width, height, fps, *got)
        self.description = f"camera {index} ({name}) {got[0]}x{got[1]}@{got[2]:.0f}"
        self.fps = None
        self.bad_frames = 0

    def _open(self):
        width, height, fps = self.request
        cap = cv2.VideoCapture(self.index, camera_api())
        if cap.isOpened():
            # MJPG lets USB cameras deliver full resolution at full rate.
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
            cap.set(cv2.CAP_PROP_FPS, fps)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not a stale one from a queue
        return cap

    @staticmethod
    def _resolve(which: str, cameras: list[tuple[int, str]]) -> int:
        if which.isdigit():
            index = int(which)
            if cameras and index not in dict(cameras):
                listing = ", ".join(f"{i}: {n}" for i, n in cameras)
                raise UserError(f"no camera at index {index} (cameras found: {listing}); pick one of those")
            return index
        matches = [i for i, n in cameras if which.lower() in n.lower()]
        if not matches:
            listing = ", ".join(f"{i}: {n}" for i, n in cameras) or "none"
            raise UserError(f"no camera named '{which}' (cameras found: {listing}); see `live-dream cameras`")
        return matches[0]

    def read(self):
        for _ in range(BAD_FRAMES_IN_A_ROW):
            ok, bgr = self.cap.read()
            if not ok:
                bgr = self._reconnect()
            rgb = decoded_to_rgb(bgr)
            if rgb is not None:
                return rgb
            self.bad_frames += 1
            if self.bad_frames == 1 or self.bad_frames % 1000 == 0:
                log.warning("camera %s delivered an empty frame (%d so far); skipped", self.index, self.bad_frames)
        raise RuntimeError(f"camera {self.index} delivered {BAD_FRAMES_IN_A_ROW} empty frames in a row; "
                           f"check its cable and `live-dream cameras`")

    def _reconnect(self):
        """A USB hiccup or a cable knocked by a visitor: reopen for a while before giving up."""
        if not self.reconnect_seconds:
            raise RuntimeError(f"camera {self.index} stopped delivering frames")
        log.warning("camera %s stopped delivering frames; reconnecting for up to %d s", self.index,
                    self.reconnect_seconds)
        deadline = time.monotonic() + self.reconnect_seconds
        while time.monotonic() < deadline:
            self.cap.release()
            time.sleep(1.0)
            self.cap = self._open()
            ok, bgr = self.cap.read() if self.cap.isOpened() else (False, None)
            if ok:
                log.info("camera %s is back", self.index)
                return bgr
        raise RuntimeError(f"camera {self.index} stopped delivering frames and did not come back within "
                           f"{self.reconnect_seconds:g} s; check its cable")

    def close(self):
        self.cap.release()


# ---------------------------------------------------------------- files

class VideoFileSource:
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


class FolderSource:
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


# ---------------------------------------------------------------- demo

class DemoSource:
    """Real photographs seen through a slowly drifting virtual camera: pan, zoom, lighting drift and
    sensor noise, changing photo every `hold` seconds with a crossfade. For machines without a camera."""

    def __init__(self, width: int, height: int, fps: float = 30.0, hold: float = 20.0, seed: int = 0):
        self.size, self.fps, self.hold = (width, height), fps, hold
        self.photos = [read_image(p) for p in sorted(MEDIA.glob("*.png"))]
        rng = np.random.default_rng(seed)
        # Fresh Gaussian noise per frame costs more than the rest of the frame: draw a bank once, split
        # into positive and negative parts so it is applied with saturating uint8 adds (SIMD, no floats).
        noise = [rng.normal(0, 2.0, (height, width, 3)) for _ in range(8)]
        self.noise = [(np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8)) for n in noise]
        self.t = 0
        self.description = f"demo ({len(self.photos)} photos, {width}x{height}@{fps:.0f})"

    def _view(self, photo: np.ndarray, seconds: float, phase: float) -> np.ndarray:
        w, h = self.size
        ph, pw = photo.shape[:2]
        cover = max(w / pw, h / ph) * (1.12 + 0.08 * math.sin(seconds * 0.21 + phase))  # slow zoom
        span_x, span_y = pw * cover - w, ph * cover - h
        x = span_x * (0.5 + 0.45 * math.sin(seconds * 0.13 + phase))  # slow pan
        y = span_y * (0.5 + 0.45 * math.sin(seconds * 0.09 + 2 * phase))
        m = np.float32([[cover, 0, -x], [0, cover, -y]])
        return cv2.warpAffine(photo, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    def read(self):
        seconds = self.t / self.fps
        self.t += 1
        n = int(seconds // self.hold)
        fade = float(np.clip((seconds % self.hold - (self.hold - 2.0)) / 2.0, 0, 1))  # 2 s crossfade
        frame = self._view(self.photos[n % len(self.photos)], seconds, n)
        if fade > 0:
            nxt = self._view(self.photos[(n + 1) % len(self.photos)], seconds, n + 1)
            frame = cv2.addWeighted(frame, 1 - fade, nxt, fade, 0)
        light = 1.0 + 0.12 * math.sin(seconds * 0.37)  # lighting drift, warmer and cooler
        warm = 0.04 * math.sin(seconds * 0.23)
        frame = cv2.transform(frame, np.diag([light * (1 + warm), light, light * (1 - warm)]).astype(np.float32))
        plus, minus = self.noise[(self.t * 5) % len(self.noise)]  # sensor noise
        return cv2.subtract(cv2.add(frame, plus), minus)

    def close(self):
        pass


def open_source(spec: str, *, width: int, height: int, fps: int, fast: bool = False, loop: bool = True,
                reconnect_seconds: float = RECONNECT_SECONDS):
    """'auto' (camera 0, else demo), 'demo', 'camera:N' / 'camera:NAME' / 'N', 'ndi:NAME', a video file, or a
    folder."""
    if spec == "auto":
        if list_cameras():
            return CameraSource("0", width, height, fps, reconnect_seconds)
        log.info("no camera found: using the built-in demo source")
        return DemoSource(width, height, fps)
    if spec == "demo":
        return DemoSource(width, height, fps)
    if spec.startswith("ndi:"):
        from live.sources.ndi import NdiSource
        return NdiSource(spec.removeprefix("ndi:"), fps)
    if spec.startswith("camera:") or spec.isdigit():
        return CameraSource(spec.removeprefix("camera:"), width, height, fps, reconnect_seconds)
    if not spec.strip():
        raise UserError("the source is empty; use auto, demo, camera:N, a video file or a folder of images")
    path = Path(spec)
    if path.is_dir():
        return FolderSource(spec, fps, loop, (width, height))
    if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
        return StillImageSource(spec, fps, (width, height))
    if path.suffix.lower() in VIDEO_SUFFIXES or path.is_file():
        return VideoFileSource(spec, loop, fast)
    raise UserError(f"unknown source '{spec}': no such file or folder; use auto, demo, camera:N, a video file "
                    f"or a folder of images")


class StillImageSource:
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
