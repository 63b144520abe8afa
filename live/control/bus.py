"""The control bus: every control surface posts actions from any thread; one owner (the show's main
loop) applies them to the show state and publishes the result. Readers (the dream worker, the HUD, the
health page) take the latest published state: an immutable value, so nothing is written by two threads.
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Callable

from live.control.actions import EFFECTS, Action
from live.control.state import ShowState, apply

log = logging.getLogger("live-dream")


class ControlBus:
    def __init__(self, state: ShowState, check_objective: Callable[[str], str] = lambda text: text):
        self._queue: queue.SimpleQueue[Action] = queue.SimpleQueue()
        self._latest: dict[str, Action] = {}  # a fader's newest value per address; older ones are dropped
        self._lock = threading.Lock()
        self._state = state
        self.check_objective = check_objective

    def post(self, action: Action) -> None:
        """Any thread, any surface: applied in order."""
        self._queue.put(action)

    def post_latest(self, key: str, action: Action) -> None:
        """Any thread: only the newest action per key is applied (a fader sends far more values than
        frames are shown)."""
        with self._lock:
            self._latest[key] = action

    @property
    def state(self) -> ShowState:
        """The latest published state (one reference read: always a whole, consistent value)."""
        return self._state

    def apply_pending(self) -> list[Action]:
        """Owner thread only: apply what was posted, publish the new state, and return the effects
        (snapshot, quit, fullscreen, hud) for the owner to carry out. A bad action is logged and
        dropped: the show goes on."""
        with self._lock:
            latest, self._latest = list(self._latest.values()), {}
        effects, state = [], self._state
        while True:
            try:
                action = self._queue.get_nowait()
            except queue.Empty:
                break
            state = self._apply(state, action, effects)
        for action in sorted(latest, key=lambda a: a.at):
            state = self._apply(state, action, effects)
        self._state = state
        return effects

    def _apply(self, state: ShowState, action: Action, effects: list[Action]) -> ShowState:
        try:
            new = apply(state, action, self.check_objective)
        except ValueError as exc:
            log.warning("control %s from %s ignored: %s", action.name, action.source, str(exc)[:300])
            return state
        except Exception as exc:  # noqa: BLE001 - whatever a client sends, the show goes on
            log.warning("control %s from %s ignored: %s: %s", action.name, action.source, exc.__class__.__name__,
                        str(exc)[:300])
            return state
        if action.name in EFFECTS:
            effects.append(action)
        return new
