"""A virtual camera (pyvirtualcam, the `virtualcam` extra; GPL-2.0): the shown picture as a webcam that
OBS, Zoom or a browser can pick. Linux needs the v4l2loopback module; Windows and macOS use OBS's virtual
camera (or Unity Capture on Windows)."""
from __future__ import annotations

import logging

import numpy as np

from live.outputs.contract import Output
from live.errors import UserError, require_extra
from live.core.imageio import fit_cover

log = logging.getLogger("live-dream")
INSTALL = "the virtual camera needs the virtualcam extra: pip install -e '.[virtualcam]' (pyvirtualcam, GPL-2.0)"


class VirtualCamera(Output):
    name = "virtualcam"

    def __init__(self, size: tuple[int, int], fps: float, device: str = ""):
        self.size, self.fps, self.device = size, fps, device or None
        self.error: str | None = None
        self.camera = None
        self._camera().close()  # a missing device is one line now, before the network and the camera start

    def _camera(self):
        pyvirtualcam = require_extra("pyvirtualcam", INSTALL)
        try:
            return pyvirtualcam.Camera(*self.size, self.fps, fmt=pyvirtualcam.PixelFormat.RGB, device=self.device)
        except RuntimeError as exc:  # no v4l2loopback device, no OBS virtual camera installed
            raise UserError(f"no virtual camera: {str(exc).splitlines()[0]}") from None

    def open(self) -> None:
        self.camera = self._camera()
        log.info("virtual camera: %s at %dx%d", self.camera.device, *self.size)

    def send(self, rgb: np.ndarray, status=None) -> None:
        try:
            self.camera.send(fit_cover(rgb, self.size))  # never waits for the camera's clock: the show keeps its own pace
        except Exception as exc:
            self.error = f"virtual camera failed ({exc})"

    def close(self):
        if self.camera is not None:
            self.camera.close()
            self.camera = None
        return None
