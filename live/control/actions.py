"""Actions: what any control surface asks of the show, as plain values.

Keys produce them today; OSC, MIDI and the web page will produce the same values, so a new surface is
a new producer, never a new code path into the show.
"""
from __future__ import annotations

from dataclasses import dataclass

# name -> what it does. State actions change the ShowState; the others are effects the show's owner
# carries out (quitting, saving a snapshot) or the window's own business (fullscreen, HUD).
ACTIONS = {
    "next": "next objective preset", "previous": "previous objective preset",
    "stronger": "strength x1.25 (at most 8)", "weaker": "strength /1.25 (at least 0.05)",
    "more_steps": "one more gradient step per frame", "fewer_steps": "one step fewer (0: dream off)",
    "freeze": "hold the input frame (the dream keeps deepening)", "set_steps": "steps per frame = value",
    "snapshot": "save the shown frame as a PNG", "quit": "end the show",
    "fullscreen": "toggle fullscreen", "hud": "toggle the heads-up display",
}
EFFECTS = {"snapshot", "quit", "fullscreen", "hud"}


@dataclass(frozen=True)
class Action:
    name: str
    value: float | None = None
    source: str = "key"  # who asked: key, timer, tuner, (later) osc, midi, web

    def __post_init__(self):
        if self.name not in ACTIONS:
            raise ValueError(f"unknown action '{self.name}'; known: {', '.join(ACTIONS)}")
