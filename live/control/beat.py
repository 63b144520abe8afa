"""The beat: a tempo (bpm, tap tempo) and a pulse shape that modulates strength or mix on every beat.

    level(phase) in [0, 1]: 1 on the beat; decay falls off after it, sine swings, square is on for half
    factor = 1 - depth * (1 - level)      (depth 0: no pulse; 1: down to nothing between beats)

The beat counts from the last tap (so tapping also sets the downbeat), else from the start of the show.
"""
from __future__ import annotations

import math

from live.control.state import ShowState

SHAPES = ("decay", "sine", "square")


def level(phase: float, shape: str) -> float:
    """The pulse at `phase` (0..1 through a beat)."""
    if shape == "decay":
        return math.exp(-5.0 * phase)
    if shape == "sine":
        return 0.5 + 0.5 * math.cos(2.0 * math.pi * phase)
    return 1.0 if phase < 0.5 else 0.0


def phase(state: ShowState, now: float, started: float) -> float:
    downbeat = state.taps[-1] if state.taps else started
    return ((now - downbeat) * state.bpm / 60.0) % 1.0


def factor(state: ShowState, now: float, started: float, shape: str, depth: float,
           link_phase: float | None = None) -> float:
    """What the pulsed parameter is multiplied by at `now` (on Ableton Link's beat when it is given)."""
    if depth <= 0:
        return 1.0
    where = phase(state, now, started) if link_phase is None else link_phase
    return 1.0 - depth * (1.0 - level(where, shape))
