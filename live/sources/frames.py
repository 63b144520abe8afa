"""Frames as sources deliver them: decoded to HxWx3 uint8 RGB, and held no larger than they are needed."""
from __future__ import annotations

import cv2
import numpy as np


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
