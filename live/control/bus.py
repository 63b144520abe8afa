"""The control bus: every control surface posts actions on one queue, from any thread; one owner (the
show's main loop) applies them to the show state and publishes the result. Readers (the dream worker,
the HUD) take the latest published state: an immutable value, so nothing is written by two threads.
"""
from __future__ import annotations

import logging
import queue

from live.control.actions import EFFECTS, Action
from live.control.state import ShowState, apply

log = logging.getLogger("live-dream")


class ControlBus:
    def __init__(self, state: ShowState):
        self._queue: queue.SimpleQueue[Action] = queue.SimpleQueue()
        self._state = state

    def post(self, action: Action) -> None:
        """Any thread, any surface."""
        self._queue.put(action)

    @property
    def state(self) -> ShowState:
        """The latest published state (one reference read: always a whole, consistent value)."""
        return self._state

    def apply_pending(self) -> list[Action]:
        """Owner thread only: apply what was posted, publish the new state, and return the effects
        (snapshot, quit, fullscreen, hud) for the owner to carry out. A bad action is logged and
        dropped: the show goes on."""
        effects, state = [], self._state
        while True:
            try:
                action = self._queue.get_nowait()
            except queue.Empty:
                break
            try:
                state = apply(state, action)
            except ValueError as exc:
                log.warning("control %s from %s ignored: %s", action.name, action.source, exc)
                continue
            if action.name in EFFECTS:
                effects.append(action)
        self._state = state
        return effects
