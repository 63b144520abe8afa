"""Faults injected into a real pipeline, for the soak and the tests: what a camera and a dream step do
when things go wrong, switched on and off by one `FaultPlan` from any thread.

Source faults (the source's reads): stop (reads raise and reopening fails: an unplugged camera), end
(reads return None), freeze (the same frame again and again: a driver that hung), resize (frames of
another size: a camera that renegotiated), garbage (empty frames). Step faults (the dreamer's run):
raise (a step throws), nan (a step returns NaN), sticky (the error of a GPU broken for the process).
"""
from __future__ import annotations

import threading

import cv2
import numpy as np

from live.sources import Source
from live.errors import UserError

SOURCE_FAULTS = ("stop", "end", "freeze", "resize", "garbage")
STEP_FAULTS = ("raise", "nan", "sticky")


class FaultPlan:
    def __init__(self):
        self._lock = threading.Lock()
        self.active: str | None = None

    def set(self, fault: str | None) -> None:
        if fault is not None and fault not in SOURCE_FAULTS + STEP_FAULTS:
            raise ValueError(f"unknown fault {fault}")
        with self._lock:
            self.active = fault

    def source(self, source):
        """The pipeline's source opener calls this with each source it opens."""
        if self.active == "stop":
            raise UserError("injected fault: the camera is not there")
        return FaultySource(source, self)

    def dreamer(self, dreamer):
        return FaultyDreamer(dreamer, self)


class FaultySource(Source):
    """A source that misbehaves as the plan says, in front of a real one (which ResilientSource wraps)."""

    def __init__(self, inner: Source, plan: FaultPlan):
        self.inner, self.plan = inner, plan
        self.fps, self.description = inner.fps, inner.description
        self.still, self.faces_visitors = inner.still, inner.faces_visitors
        self._last: np.ndarray | None = None

    def read(self):
        fault = self.plan.active
        if fault == "stop":
            raise OSError("injected fault: the camera stopped delivering")
        if fault == "end":
            return None
        if fault == "garbage":
            return np.zeros((0, 0, 3), np.uint8)
        if fault == "freeze" and self._last is not None:
            return self._last.copy()
        image = self.inner.read()
        if image is not None and fault == "resize":
            h, w = image.shape[:2]
            image = cv2.resize(image, (w * 3 // 4, h * 3 // 4), interpolation=cv2.INTER_AREA)
        self._last = image
        return image

    def close(self):
        self.inner.close()


class FaultyDreamer:
    """The dreamer with its `run` failing on demand; everything else is the dreamer's own."""

    def __init__(self, dreamer, plan: FaultPlan):
        self._dreamer, self._plan = dreamer, plan

    def __getattr__(self, name):
        return getattr(self._dreamer, name)

    def run(self, image, preset, steps, strength):
        fault = self._plan.active
        if fault == "raise":
            raise RuntimeError("injected fault: the dream step failed")
        if fault == "sticky":  # as PyTorch words it, on CUDA, after a kernel wrote where it must not
            raise RuntimeError("CUDA error: an illegal memory access was encountered (injected fault)")
        out = self._dreamer.run(image, preset, steps, strength)
        return np.full_like(out, np.nan) if fault == "nan" else out
