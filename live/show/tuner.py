"""Holding a target frame rate: choose dream resolution and steps per frame from measured frame times.

The choices form a ladder ordered by cost (pixels x (steps + overhead)). The tuner moves down when
the measured rate falls clearly below the target, and moves up only when the cost model predicts
the next rung still holds the target with a margin. Real costs are not exactly proportional to
pixels, so a rung that failed becomes a ceiling, lifted one rung at a time after a long quiet spell:
the tuner settles instead of oscillating, and still finds its way back up when the machine frees up.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

FLOW_AND_RESIZE_COST = 0.6  # per-frame work besides the steps, in units of one gradient step
DOWN_BELOW = 0.93  # move down when measured fps < 93% of target
UP_MARGIN = 1.10  # move up only if the next rung is predicted at >= 110% of target
RETRY_AFTER = 900  # frames (~45 s) before a rung that failed may be tried again


@dataclass(frozen=True)
class Setting:
    width: int
    height: int
    steps: int

    @property
    def cost(self) -> float:
        return self.width * self.height * (self.steps + FLOW_AND_RESIZE_COST)

    def __str__(self):
        return f"{self.width}x{self.height}, {self.steps} step{'s' if self.steps != 1 else ''}"


def ladder(aspect: float, min_width: int, max_width: int, min_steps: int, max_steps: int,
           preferred_steps: int) -> list[Setting]:
    """Settings from cheapest to dearest: the resolution adapts at the preferred steps per frame; only
    at the smallest resolution are steps taken away, and only at the largest are steps added."""
    widths, w = [], float(min_width)
    while round(w / 16) * 16 < max_width:
        width = max(16, round(w / 16) * 16)
        if not widths or width != widths[-1]:
            widths.append(width)
        w *= 1.15
    widths.append(max_width)
    at = lambda width, steps: Setting(width, max(16, round(width / aspect / 16) * 16), steps)
    preferred = min(max(preferred_steps, min_steps), max_steps)
    return ([at(widths[0], s) for s in range(min_steps, preferred)]
            + [at(width, preferred) for width in widths]
            + [at(widths[-1], s) for s in range(preferred + 1, max_steps + 1)])


class Tuner:
    def __init__(self, rungs: list[Setting], start: Setting, target_fps: float, window: int = 12, settle: int = 6):
        self.rungs, self.target = rungs, target_fps
        self.index = min(range(len(rungs)), key=lambda i: abs(rungs[i].cost - start.cost))
        self.window, self.settle = window, settle
        self._times: list[float] = []
        self._skip = settle
        self.ceiling = len(rungs) - 1  # highest rung allowed; lowered when a rung fails
        self._quiet = 0  # frames since the ceiling last moved
        self.changes = 0
        self.last_fps = 0.0

    @property
    def setting(self) -> Setting:
        return self.rungs[self.index]

    def update(self, frame_ms: float) -> Setting | None:
        """Feed one frame's processing time; returns the new setting when it changes."""
        self._quiet += 1
        if self._quiet >= RETRY_AFTER and self.ceiling < len(self.rungs) - 1:
            self.ceiling, self._quiet = self.ceiling + 1, 0
        if self._skip > 0:  # the first frames after a change carry its cost (new buffers, exports)
            self._skip -= 1
            return None
        self._times.append(frame_ms)
        if len(self._times) < self.window:
            return None
        fps = 1000.0 / statistics.median(self._times)
        self._times, self.last_fps = [], fps
        current = self.setting.cost
        if fps < DOWN_BELOW * self.target and self.index > 0:
            self.ceiling, self._quiet = self.index - 1, 0  # this rung failed: not again for a while
            # as far down as needed in one move: the cost model says where the target is met
            self.index -= 1
            while self.index > 0 and fps * current / self.setting.cost < self.target:
                self.index -= 1
        elif self.index < self.ceiling and fps * current / self.rungs[self.index + 1].cost >= UP_MARGIN * self.target:
            self.index += 1
        else:
            return None
        self.changes += 1
        self._skip = self.settle
        return self.setting

    def lower_ceiling(self) -> Setting:
        """Out of memory: drop to a cheaper rung and never come back above it."""
        self.rungs = self.rungs[: max(1, self.index)]
        self.index = max(0, min(self.index - 1, len(self.rungs) - 1))
        self.ceiling = min(self.ceiling, len(self.rungs) - 1)
        self._times, self._skip = [], self.settle
        self.changes += 1
        return self.setting
