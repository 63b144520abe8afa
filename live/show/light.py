"""The light on the screen: the blackout's fade, and opening hours (at closing the picture fades to black
and the show sleeps: no dreaming, the camera closed; at opening it wakes and the dream fades up).

The main thread owns it. It decides; the show carries out sleeping and waking (the worker and the
source are the show's)."""
from __future__ import annotations

import datetime as dt
import logging
import time

import numpy as np

from live.control.schedule import OpeningHours, ShowClock
from live.dream.composite import dimmed

log = logging.getLogger("live-dream")
BLACKOUT_FADE_S = 1.0  # blackout fades to black (and back) over this long
SCHEDULE_CHECK_S = 1.0


class Light:
    def __init__(self, hours: OpeningHours, closing_fade_s: float):
        self.hours, self.closing_fade_s = hours, closing_fade_s
        self.clock = ShowClock()
        self.is_open = True  # by the opening hours
        self.closing = False  # fading to black for closing time, or closed
        self.asleep = False  # closed: the show is asleep
        self.level, self.fade_s = 1.0, BLACKOUT_FADE_S  # 0 black .. 1 the picture; how long a fade takes
        self._last_shown: float | None = None
        self._next_check = 0.0

    def start(self, now: dt.datetime | None) -> bool:
        """The show is ready: read the hours from `now` on (--now) if given. False: closed already."""
        if now:
            self.clock = ShowClock(now)
        self.is_open = self.hours.is_open(self.clock.now())
        return self.is_open

    def shine(self, image: np.ndarray, blackout: bool) -> np.ndarray:
        """`image` at the light now: it moves towards black (blackout, closing) or full by the time
        since the last frame."""
        now = time.monotonic()
        step = 0.0 if self._last_shown is None else (now - self._last_shown) / self.fade_s if self.fade_s else 1.0
        self._last_shown = now
        dark = blackout or self.closing
        self.level = max(self.level - step, 0.0) if dark else min(self.level + step, 1.0)
        if self.level >= 1.0:
            self.fade_s = BLACKOUT_FADE_S
        return dimmed(image, self.level)

    @property
    def dark_for_closing(self) -> bool:
        """Faded to black at closing time, not asleep yet: time to sleep."""
        return self.closing and self.level <= 0.0 and not self.asleep

    def follow_schedule(self, frames_shown: int) -> str | None:
        """Once a second: "sleep" (closed, and already dark or nothing shown yet), "wake", or None."""
        now = time.monotonic()
        if now < self._next_check:
            return None
        self._next_check = now + SCHEDULE_CHECK_S
        is_open = self.hours.is_open(self.clock.now())
        if is_open == self.is_open:
            return None
        self.is_open, self.fade_s = is_open, self.closing_fade_s
        when = self.clock.now().strftime("%a %H:%M")
        if not is_open:
            log.info("closing time (%s): fading to black, then the camera closes", when)
            self.closing = True
            return "sleep" if frames_shown == 0 or self.level <= 0.0 else None
        log.info("opening time (%s): the camera opens and the dream comes back", when)
        self.closing = self.asleep = False
        self.level, self._last_shown = 0.0, None  # the light comes up from black from the first frame on
        return "wake"

    def went_to_sleep(self) -> None:
        self.closing, self.asleep, self.level = True, True, 0.0
