"""Webcams: listing them, opening one by index or name, and reopening it after a USB hiccup."""
from __future__ import annotations

import glob
import logging
import sys
import time
from pathlib import Path

import cv2

from live.errors import UserError
from live.sources.contract import RECONNECT_SECONDS, Source
from live.sources.frames import decoded_to_rgb

log = logging.getLogger("live-dream")
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # camera probes would print warnings
BAD_FRAMES_IN_A_ROW = 300  # a camera that reports success but delivers nothing for ~10 s has failed


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


class CameraSource(Source):
    """A webcam (V4L2, AVFoundation, DirectShow), asked for MJPG at the wanted size and rate."""
    faces_visitors = True
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
