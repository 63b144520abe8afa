"""The picture that is shown: the dream brought to the output's resolution.

- `residual` (default): the camera frame at the output's resolution plus the dream's change (dream -
  its input, at dream resolution) upscaled. The camera's own detail survives wherever the dream is weak;
  the dream's forms take over where it is strong.
- `upscale`: the dream itself upscaled (the look before: soft, a 320x240 picture on a 1080p screen).

Both keep the dream's framing: the camera frame is cropped to the dream's aspect ratio (as the worker
crops it) and the result centre-cropped to the output, so the two modes show the same part of the scene.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from live.imageio import fit_cover

COMPOSITES = ("residual", "upscale")


def compose(dream: np.ndarray, source: np.ndarray, camera: np.ndarray | None, size: tuple[int, int],
            mode: str = "residual") -> tuple[np.ndarray, np.ndarray]:
    """(shown, the camera frame as framed for it), both uint8 RGB of `size` (w, h). `dream` and `source`
    are the dream and the frame it was dreamed from (uint8, dream resolution); `camera` is the frame as
    captured (None: only `source` is known, and it stands in for the camera)."""
    dh, dw = dream.shape[:2]
    scale = max(size[0] / dw, size[1] / dh)
    cover = (max(size[0], math.ceil(dw * scale)), max(size[1], math.ceil(dh * scale)))  # dream's aspect
    camera_view = fit_cover(camera if camera is not None else source, cover)
    shown = (cv2.resize(dream, cover, interpolation=cv2.INTER_CUBIC) if mode == "upscale"
             else add_residual(camera_view, dream, source))
    if cover != tuple(size):
        shown, camera_view = fit_cover(shown, size), fit_cover(camera_view, size)
    return shown, camera_view


def add_residual(camera: np.ndarray, dream: np.ndarray, source: np.ndarray) -> np.ndarray:
    """`camera` (uint8, any size) plus the dream's change (dream - source, uint8 at dream resolution)
    upscaled to it."""
    residual = cv2.subtract(dream, source, dtype=cv2.CV_16S).astype(np.float32)  # -255..255, exact
    up = cv2.resize(residual, camera.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    total = camera.astype(np.float32)
    cv2.add(total, up, dst=total)
    return np.clip(total, 0, 255, out=total).astype(np.uint8)
