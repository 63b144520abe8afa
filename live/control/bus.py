"""The control bus: every control surface posts actions from any thread; one owner (the show's main
loop) applies them to the show state and publishes the result. Readers (the dream worker, the HUD, the
health page) take the latest published state: an immutable value, so nothing is written by two threads.
"""
from __future__ import annotations

import logging
import math
import queue
import threading
import time
from dataclasses import replace
from typing import Callable

from live.control.actions import EFFECTS, Action
from live.control.state import ShowState, apply

log = logging.getLogger("live-dream")


MAX_TIMED = 64  # actions waiting for their time: whatever clients send, the list stays this short
MAX_AHEAD_S = 24 * 3600.0  # an action due further ahead is a mistake (a time in milliseconds, say)


class ControlBus:
    def __init__(self, state: ShowState, check_objective: Callable[[str], str] = lambda text: text):
        """`next_bar` (set by the show when Link is on): the wall-clock time of the Link session's next bar."""
        self._queue: queue.SimpleQueue[Action] = queue.SimpleQueue()
        self._timed: list[Action] = []  # owner thread only: actions with a `due` time still ahead
        self.next_bar: Callable[[], float] | None = None
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
        effects, state, now = [], self._state, time.time()
        while True:
            try:
                action = self._queue.get_nowait()
            except queue.Empty:
                break
            if action.due is not None:
                self._hold(action, now)
            else:
                state = self._apply(state, action, effects)
        state = self._apply_due(state, effects, now)
        for action in sorted(latest, key=lambda a: a.at):
            state = self._apply(state, action, effects)
        self._state = state
        return effects

    def apply_due(self) -> list[Action]:
        """Owner thread, just before a picture is composed: the timed actions whose time has come, so
        that the first picture at or after their time shows them; the effects, as apply_pending."""
        if not self._timed:
            return []
        effects: list[Action] = []
        self._state = self._apply_due(self._state, effects, time.time())
        return effects

    def _apply_due(self, state: ShowState, effects: list[Action], now: float) -> ShowState:
        for action in [a for a in self._timed if a.due <= now]:
            self._timed.remove(action)
            # as if asked at its due time, so that a crossfade it starts runs alike on every show
            state = self._apply(state, replace(action, at=time.monotonic() - (now - action.due)), effects)
        return state

    def due_problem(self, due, now: float | None = None) -> str | None:
        """Why an action's `at` cannot be waited for, or None (the HTTP control answers with it at once)."""
        if due == "bar":
            return None if self.next_bar is not None else "at bar needs Ableton Link (beat.link = true)"
        now = time.time() if now is None else now
        if isinstance(due, bool) or not isinstance(due, (int, float)) or not math.isfinite(due) \
                or due > now + MAX_AHEAD_S:
            return "at must be a time (seconds since 1970, within a day) or 'bar'"
        return None

    def _hold(self, action: Action, now: float) -> None:
        """An action with a `due` time: kept until the first frame at or after it."""
        if (problem := self.due_problem(action.due, now)) is not None:
            log.warning("control %s from %s ignored: %s", action.name, action.source, problem)
        elif len(self._timed) >= MAX_TIMED:
            log.warning("control %s from %s ignored: %d actions already wait for their time", action.name,
                        action.source, MAX_TIMED)
        else:
            due = self.next_bar() if action.due == "bar" else float(action.due)
            self._timed.append(replace(action, due=due))

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
