"""Actions: what any control surface asks of the show, as plain values.

Keys, OSC, HTTP (and later MIDI) all produce the same values: a new surface is a new producer, never a
new code path into the show. The names are the address space: `/live-dream/<name>` in OSC,
`{"action": "<name>", "value": ...}` over HTTP.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from live.config import bounds


def _span(key: str) -> str:
    lo, hi = bounds(key)
    return f"{lo:g}..{hi:g}"


# name -> (argument, what it does). The table in the README is this table.
ADDRESSES = {
    "preset": ("n or name", "go to preset n (1-based, as on the HUD) or the preset with this objective"),
    "next": ("", "next preset"),
    "prev": ("", "previous preset"),
    "strength": (_span("live.strength"), "strength: multiplies the step size"),
    "mix": (_span("live.mix"), "dry/wet: 0 the camera, 1 the full dream"),
    "steps": ("0..max_steps", "gradient steps per frame (0: dream off)"),
    "freeze": ("0/1, none: toggle", "hold the input frame; the dream keeps deepening"),
    "objective": ("text", "dream this objective (checked; a bad one is refused and logged)"),
    "crossfade": ("seconds", "how long a change of preset takes to morph (0: a cut)"),
    "blackout": ("0/1, none: toggle", "fade to black (and back)"),
    "tap": ("", "tap tempo: the beat follows your taps"),
    "bpm": (_span("beat.bpm"), "tempo in beats per minute"),
    "snapshot": ("", "save the shown frame as a PNG"),
    "learn": ("action", "MIDI learn: the next knob or pad touched controls this action"),
}
# Only from the machine's own keyboard and the show itself.
LOCAL = {
    "stronger": f"strength x1.25 (at most {bounds('live.strength')[1]:g})",
    "weaker": f"strength /1.25 (at least {bounds('live.strength')[0]:g})",
    "more_steps": "one more gradient step per frame", "fewer_steps": "one step fewer (0: dream off)",
    "quit": "end the show", "fullscreen": "toggle fullscreen", "hud": "toggle the heads-up display",
    "set_steps": "steps per frame = value, past max_steps (the frame-rate tuner, the memory guard)",
}
ACTIONS = {**{name: what for name, (_, what) in ADDRESSES.items()}, **LOCAL}
# Carried out by the show's owner (or the window), not by changing the state.
EFFECTS = {"snapshot", "quit", "fullscreen", "hud", "learn"}


@dataclass(frozen=True)
class Action:
    name: str
    value: float | str | None = None
    source: str = "key"  # who asked: key, timer, tuner, osc, http, midi
    at: float = field(default_factory=time.monotonic)  # when it was asked (tap tempo counts on it)
    # when it takes effect: a wall-clock time (time.time(): shows whose clocks agree switch together), "bar"
    # (the next bar of the Link session), or None: at once
    due: float | str | None = None

    def __post_init__(self):
        if self.name not in ACTIONS:
            raise ValueError(f"unknown action '{self.name}'; known: {', '.join(ACTIONS)}")
