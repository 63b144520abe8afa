"""The picture between dreams (display.decoupled): every new camera frame is shown at once, with the
latest dream's change carried to it along the optical flow, so the picture runs at the camera's rate
and the dream refreshes at whatever rate the machine allows.

    residual  = dream - the frame it was dreamed from        (what the network added, at dream size)
    each new dream:     residual <- take * its residual + (1 - take) * residual carried to its frame
    each camera frame:  shown residual = warp(residual, flow from the dream's frame to this one) * reliable

`reliable` is 1 where the flow explains the change between the frames and falls to 0 where it does not
(an occlusion, a large motion), so the dream fades there as it does in the temporal dream. A new dream is
blended in rather than swapped (`take` < 1), so its arrival is not a visible jump. Each camera frame
is reached from the dream's own frame in one flow, not frame by frame: repeated warping would blur the
dream away within a few frames (measured: half of its detail gone after 3).
"""
from __future__ import annotations

import cv2
import numpy as np

from live.dream.composite import add_change
from live.dream.flow import FlowEstimator, warp
from live.dream.temporal import CHANNEL_MEAN
UNRELIABLE_LEVELS = 48.0  # a warp error (mean of R, G, B, in 8-bit levels) at which the carried dream is gone
FLOW_WIDTH = 320  # the widest the carrying flow is computed at
TAKE = 0.6  # the share of a new dream's change taken at once; the rest follows with the next dreams


class ResidualCarrier:
    def __init__(self, flow: str = "dis", take: float = TAKE):
        self.flow = FlowEstimator(flow)
        self.take = take
        self.residual: np.ndarray | None = None  # float32 HxWx3, in levels, attached to `anchor`
        self.anchor: np.ndarray | None = None  # uint8 HxWx3 at dream size: the frame it is attached to

    def reset(self) -> None:
        self.residual = self.anchor = None

    def dreamed(self, dream: np.ndarray, source: np.ndarray) -> None:
        """A new dream (uint8, dream size) of `source` (the frame it was dreamed from)."""
        new = dream.astype(np.float32) - source.astype(np.float32)
        if self.residual is None or self.anchor is None or self.anchor.shape != source.shape:
            self.residual, self.anchor = new, source
            return
        carried = self._carried(self.residual, self.anchor, source)  # the dream so far, brought to the new one's frame
        self.residual, self.anchor = self.take * new + (1.0 - self.take) * carried, source

    def to(self, frame: np.ndarray) -> np.ndarray | None:
        """The residual carried to `frame` (uint8, dream size, the newest camera frame); None before the
        first dream."""
        if self.residual is None:
            return None
        if self.anchor.shape != frame.shape:  # the dream size changed: start again with the next dream
            self.reset()
            return None
        return self.residual if frame is self.anchor else self._carried(self.residual, self.anchor, frame)

    def _carried(self, residual: np.ndarray, before: np.ndarray, after: np.ndarray) -> np.ndarray:
        """`residual`, attached to `before`, moved to `after` along the flow and faded where the flow
        does not explain the change."""
        h, w = after.shape[:2]
        # Above FLOW_WIDTH the flow and its reliability are found at a smaller size and scaled up: this runs
        # for every camera frame, on the cores the dream needs (at 640x360 it cost the dream a third of its rate).
        scale = min(1.0, FLOW_WIDTH / w)
        small_after, small_before = (after, before) if scale == 1.0 else (
            cv2.resize(im, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) for im in (after, before))
        flow = self.flow.backward(small_after, small_before)
        if flow is None:
            return residual
        error = cv2.transform(cv2.absdiff(small_after, warp(small_before, flow)).astype(np.float32), CHANNEL_MEAN)
        reliable = np.clip(1.0 - cv2.GaussianBlur(error, (0, 0), 2 * scale) * (1.0 / UNRELIABLE_LEVELS), 0.0, 1.0)
        if scale != 1.0:
            flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) * np.float32(1.0 / scale)
            reliable = cv2.resize(reliable, (w, h), interpolation=cv2.INTER_LINEAR)
        moved = warp(residual, flow)
        # Bilinear warping between pixels averages the dream's fine detail away (it is mostly fine detail):
        # the moved residual is brought back to the strength it had, then faded where the flow fails.
        moved *= np.float32(np.clip(np.abs(residual).mean() / max(float(np.abs(moved).mean()), 1e-6), 1.0, 1.5))
        return moved * reliable[..., None]


def with_residual(camera: np.ndarray, residual: np.ndarray, mix: float = 1.0) -> np.ndarray:
    """`camera` (uint8, the output's size) plus `residual` (float levels, dream size) upscaled, times
    `mix`: the residual composite's picture, from a carried residual."""
    scaled = residual * mix if mix < 1.0 else residual
    # split at dream size, where it is cheap, and upscaled as uint8 like the composite's own change
    return add_change(camera, np.clip(scaled, 0, 255).astype(np.uint8), np.clip(-scaled, 0, 255).astype(np.uint8))
