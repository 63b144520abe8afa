"""Temporal coherence: each frame starts from the new camera frame plus the previous dream's residual,
carried along the optical flow, so the dream builds up over frames instead of restarting.

    residual  = previous dream - previous frame          (what the network added)
    carried   = warp(residual, flow prev -> cur)          (stays attached to moving things)
    start     = frame + carry * carried                   (carry: high where still, low where moving)
    dream     = start + pace * (k gradient steps from start - start)
    residual' = dream - frame, minus its mean colour, clipped   (energy stays bounded)

Where a pixel has been still for a while its pace falls (to `settled_pace` after about `settle_frames`)
and its fading, 1 - carry, falls with the square of the pace: the dream there stops boiling and slowly
deepens instead. A normalised gradient step moves every pixel by about the step size each frame for ever,
so without this a still scene keeps changing by several levels a frame (24x the camera's own noise).

Removing the residual's mean colour and clipping its size are what keep a still scene from slowly
brightening or saturating over minutes, a known failure of earlier tools.
"""
from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from live.config import TemporalSettings
from live.dream.flow import FlowEstimator, warp
from live.core.profiling import NO_PROFILE, Profile


CHANNEL_MEAN = np.full((1, 3), 1 / 3, np.float32)  # cv2.transform matrix: the mean of R, G and B
STILL_MOTION, MOVING_MOTION = 0.1, 0.3  # a pixel's motion (0..1) under which it counts as still, over: moving


class TemporalDreamer:
    """Turns a stream of frames (HxWx3 float32 RGB in [0, 1]) into a stream of dreamed frames.

    `dream` runs the gradient steps: float image in, float image out, same size.
    """

    def __init__(self, dream: Callable[[np.ndarray], np.ndarray], settings: TemporalSettings,
                 profile: Profile = NO_PROFILE):
        self.dream = dream
        self.settings = settings
        self.profile = profile
        self.flow = FlowEstimator(settings.flow)
        self.prev_frame: np.ndarray | None = None
        self.residual: np.ndarray | None = None
        self.shown: np.ndarray | None = None  # the residual as shown: smoothed over time where still
        self.motion: np.ndarray | None = None  # last motion map in [0, 1], for inspection and the HUD
        self.still_frames: np.ndarray | None = None  # how long each pixel has been still, in frames

    def reset(self) -> None:
        self.prev_frame = self.residual = self.shown = self.still_frames = None

    def wake(self) -> None:
        """Back to full pace everywhere (the objective or the strength changed): the dream follows at once,
        then settles again where the scene stays still."""
        self.still_frames = None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        s = self.settings
        start, flow = frame, None
        if self.prev_frame is not None and self.prev_frame.shape != frame.shape:  # the tuner resized
            size = (frame.shape[1], frame.shape[0])
            self.prev_frame = cv2.resize(self.prev_frame, size, interpolation=cv2.INTER_AREA)
            self.residual = cv2.resize(self.residual, size, interpolation=cv2.INTER_LINEAR)
            self.shown = cv2.resize(self.shown, size, interpolation=cv2.INTER_LINEAR)
            self.still_frames = None
        if self.residual is not None and self.prev_frame is not None:
            with self.profile.stage("flow"):
                flow = self.flow.backward(frame, self.prev_frame)
                carried = warp(self.residual, flow)
                self.motion = self._motion(frame, flow)
            pace = self._pace()
            carry = s.still_carry + (s.moving_carry - s.still_carry) * self.motion
            carry = 1.0 - (1.0 - carry) * pace * pace
            start = np.clip(frame + carry[..., None] * carried, 0.0, 1.0)
            dreamed = start + pace[..., None] * (self.dream(start) - start)
        else:
            dreamed = self.dream(start)
        residual = dreamed - frame
        residual -= np.float32(cv2.mean(residual)[:3])  # no drift in overall brightness or colour
        self.residual = np.clip(residual, -s.residual_limit, s.residual_limit)
        self.shown = self._smoothed(self.residual, flow)
        self.prev_frame = frame
        return np.clip(frame + self.shown, 0.0, 1.0)

    def _pace(self) -> np.ndarray:
        """Per pixel, the share of a full step the dream takes: 1 where the scene moves or has just stopped,
        falling towards `settled_pace` as it stays still."""
        s = self.settings
        still = np.clip((MOVING_MOTION - self.motion) * (1.0 / (MOVING_MOTION - STILL_MOTION)), 0.0, 1.0)
        previous = 0.0 if self.still_frames is None else self.still_frames + 1.0
        self.still_frames = previous * still
        return s.settled_pace + (1.0 - s.settled_pace) * np.exp(self.still_frames * (-1.0 / s.settle_frames))

    def _smoothed(self, residual: np.ndarray, flow: np.ndarray | None) -> np.ndarray:
        """What is shown: where the scene is still, the new dream is blended into the shown one (carried
        along the flow), so a still visitor sees the dream deepen instead of boil; where it moves or is
        uncovered, the new dream shows at once. The dream itself (carried to the next step) is untouched."""
        keep = self.settings.shown_smoothing
        if keep <= 0 or self.shown is None or self.motion is None:
            return residual
        hold = (keep * (1.0 - self.motion))[..., None]
        previous = warp(self.shown, flow)
        return previous * hold + residual * (1.0 - hold)

    def _motion(self, frame: np.ndarray, flow: np.ndarray | None) -> np.ndarray:
        """1 where the scene moves (or changed in a way the flow cannot explain), 0 where still."""
        # OpenCV rather than numpy for each step: this is on every frame's path (the flow stage went
        # from 5.6 to 2.2 ms at 320x240).
        previous = self.prev_frame if flow is None else warp(self.prev_frame, flow)
        change = cv2.transform(cv2.absdiff(frame, previous), CHANNEL_MEAN / 0.08)
        if flow is not None:
            speed = cv2.magnitude(flow[..., 0], flow[..., 1]) * (1.0 / self.settings.motion_pixels)
            change = cv2.max(change, speed)
        change = cv2.GaussianBlur(change, (0, 0), 3)
        return np.clip(change, 0.0, 1.0)
