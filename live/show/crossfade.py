"""Crossfades between objectives at no cost per frame: during a fade each frame's gradient step follows
either the old objective or the new one, the new one on a share of frames that grows from 0 to 1 with
the fade (spread evenly, by error diffusion). The dream carries over from frame to frame, so it follows
the blend w*new + (1-w)*old of the two objectives: the dream itself morphs, and a frame never costs more
than one step.
"""
from __future__ import annotations

from live.control.state import ShowState, fade_weight


class Crossfade:
    def __init__(self):
        self.owed = 0.0  # the new objective's share not yet given (error diffusion)

    def objective(self, state: ShowState, now: float) -> str:
        """The objective this frame's step follows."""
        w = fade_weight(state, now)
        if w >= 1.0:
            self.owed = 0.0
            return state.objective
        self.owed += w
        if self.owed >= 0.5:
            self.owed -= 1.0
            return state.objective
        return state.fade_from

    @staticmethod
    def fading(state: ShowState, now: float) -> bool:
        return fade_weight(state, now) < 1.0
