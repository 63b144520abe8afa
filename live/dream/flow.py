"""Optical flow between consecutive frames, and warping images along it (OpenCV DIS or Farneback)."""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np


class FlowEstimator:
    """`backward(cur, prev)`: for each pixel of `cur`, the offset to where it was in `prev`. Warping
    anything from the previous frame along it aligns it with the current frame."""

    def __init__(self, method: str = "dis"):
        self.method = method
        if method == "dis":
            self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)

    def backward(self, cur_rgb: np.ndarray, prev_rgb: np.ndarray) -> np.ndarray | None:
        if self.method == "none":
            return None
        cur, prev = gray(cur_rgb), gray(prev_rgb)
        if self.method == "dis":
            return self._dis.calc(cur, prev, None)
        return cv2.calcOpticalFlowFarneback(cur, prev, None, 0.5, 3, 15, 3, 5, 1.2, 0)


def gray(rgb: np.ndarray) -> np.ndarray:
    if rgb.dtype != np.uint8:
        rgb = (np.clip(rgb, 0, 1) * 255).astype(np.uint8)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


@lru_cache(maxsize=4)
def pixel_grid(h: int, w: int) -> np.ndarray:
    """HxWx2 float32 (x, y) of every pixel; made once per size, it is on every frame's path."""
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    grid = np.stack([grid_x, grid_y], axis=2)
    grid.flags.writeable = False
    return grid


def warp(image: np.ndarray, flow: np.ndarray | None, border_value: float = 0.0) -> np.ndarray:
    """Sample `image` (from the previous frame) at pixel + flow; outside the frame gives border_value."""
    if flow is None:
        return image
    return cv2.remap(image, pixel_grid(*flow.shape[:2]) + flow, None, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=(border_value,) * 4)


def flicker(outputs: list[np.ndarray], inputs: list[np.ndarray], estimator: FlowEstimator) -> tuple[float, float]:
    """Temporal flicker, in 8-bit levels: mean |frame_t - warp(frame_t-1)| over the sequence, where the
    warp follows the *input's* optical flow. Returned for the outputs and for the inputs themselves."""
    out_diffs, in_diffs = [], []
    for t in range(1, len(outputs)):
        flow = estimator.backward(inputs[t], inputs[t - 1])
        valid = inside_frame(flow, inputs[t].shape[:2])
        for frames, diffs in ((outputs, out_diffs), (inputs, in_diffs)):
            diffs.append(warp_error(frames[t].astype(np.float32), frames[t - 1].astype(np.float32), flow, valid))
    return float(np.mean(out_diffs)), float(np.mean(in_diffs))


def warp_error(current: np.ndarray, previous: np.ndarray, flow: np.ndarray | None, valid: np.ndarray) -> float:
    """Mean |current - previous warped along `flow`| over the `valid` pixels (float images)."""
    return float(np.abs(current - warp(previous, flow))[valid].mean())


def inside_frame(flow: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    """Pixels whose warped source lies inside the previous frame (others have no history)."""
    if flow is None:
        return np.ones(shape, dtype=bool)
    h, w = flow.shape[:2]
    source = pixel_grid(h, w) + flow
    x, y = source[..., 0], source[..., 1]
    return (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
