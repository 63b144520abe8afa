"""Restart keeps the show: the scene, strength and mix, saved when they change and restored at start,
so a watchdog restart (or a power cut) resumes where the show was. Numbers and the scene's text only:
never an image. The file is written atomically (a crash mid-write leaves the previous one whole), at
most once a second however fast a fader moves.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

from live.control.actions import Action
from live.control.bus import ControlBus
from live.config import objective_of
from live.control.state import ShowState
from live.core.files import read_json_dict, write_json

log = logging.getLogger("live-dream")
SAVE_EVERY_S = 1.0


def state_file() -> Path:
    """Where this system keeps an application's state that should survive a restart: on Linux
    $XDG_STATE_HOME/live-dream (~/.local/state/live-dream), on macOS ~/Library/Application Support/live-dream,
    on Windows %LOCALAPPDATA%\\live-dream."""
    from platformdirs import user_state_path
    return user_state_path("live-dream", appauthor=False) / "show.json"


def remembered(state: ShowState) -> dict:
    return {"scene": state.presets[state.preset], "strength": round(state.strength, 4), "mix": round(state.mix, 4)}


class ShowMemory:
    def __init__(self, path: Path | None = None):
        self.path = path or state_file()
        self.saved: dict | None = None
        self._next_save = 0.0
        self._failed = False

    def restore(self, bus: ControlBus) -> None:
        """Post what was saved as actions: a saved value the show no longer accepts is a logged line."""
        saved = read_json_dict(self.path)
        if not saved:
            return
        scene = saved.get("scene")
        if isinstance(scene, str) and scene in bus.state.presets:
            bus.post(Action("preset", scene, source="restore"))
        elif isinstance(scene, str):  # an objective a control sent live
            bus.post(Action("objective", objective_of(scene), source="restore"))
        for name in ("strength", "mix"):
            if name in saved:
                bus.post(Action(name, saved[name], source="restore"))
        bus.apply_pending()
        self.saved = remembered(bus.state)
        log.info("resumed the show as it was: %s, strength %.2f, mix %.2f", self.saved["scene"],
                 self.saved["strength"], self.saved["mix"])

    def keep(self, state: ShowState, now: float | None = None, force: bool = False) -> None:
        """Save the state if it changed (at most once a second unless `force`)."""
        now = time.monotonic() if now is None else now
        values = remembered(state)
        if values == self.saved or (now < self._next_save and not force):
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_json(self.path, values)
        except Exception as exc:  # noqa: BLE001 - a full or read-only disk must not end the show
            if not self._failed:
                log.warning("cannot keep the show's state in %s (%s); a restart will start afresh", self.path, exc)
            self._failed = True
            self._next_save = now + 60.0  # a read-only or full disk: try again in a minute, not every frame
            return
        self.saved, self._next_save = values, now + SAVE_EVERY_S
