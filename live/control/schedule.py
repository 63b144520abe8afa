"""Opening hours: "Mon-Fri 10:00-18:00; Sat,Sun 11:00-17:00" -> is the show open at this moment?

Each part is days (a day, a range Mon-Fri, or a list Sat,Sun) and one or more hour spans (10:00-13:00,
14:00-18:00). A span that ends before it starts runs past midnight (Fri 20:00-02:00 is open on
Saturday until 2). Days not named are closed. An empty text is always open. `ShowClock` gives the time
the schedule is read at: the machine's, or one given with `--now` that then runs on from there.
"""
from __future__ import annotations

import datetime as dt
import re
import time

from live.errors import UserError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
EXAMPLE = "Mon-Fri 10:00-18:00; Sat,Sun 11:00-17:00"
NOW_RANGE = (1970, 2200)  # years --now may start the show's clock at


def _day(text: str) -> int:
    name = text.strip().lower()
    if name in DAYS:
        return DAYS.index(name)
    if name in DAY_NAMES:
        return DAY_NAMES.index(name)
    raise ValueError(f"'{text.strip()}' is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)")


def _days(text: str) -> set[int]:
    days: set[int] = set()
    for part in text.split(","):
        first, dash, last = part.partition("-")
        if dash:
            a, b = _day(first), _day(last)
            days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        else:
            days.add(_day(first))
    return days


def _minute(text: str) -> int:
    hours, colon, minutes = text.strip().partition(":")
    try:
        h, m = int(hours), int(minutes or 0)
    except ValueError:
        raise ValueError(f"'{text.strip()}' is not a time like 10:00") from None
    if not (0 <= h <= 24 and 0 <= m < 60 and h * 60 + m <= 24 * 60):
        raise ValueError(f"'{text.strip()}' is not a time of day")
    return h * 60 + m


class OpeningHours:
    def __init__(self, text: str):
        self.text = text
        # minutes of the week (Monday 00:00 = 0) during which the show is open, as [start, end) spans
        self.spans: list[tuple[int, int]] = []
        try:
            for part in filter(str.strip, text.split(";")):
                # "Mon – Fri 10:00 - 18:00" (any dash, spaces around it) reads as "Mon-Fri 10:00-18:00"
                part = re.sub(r"\s*,\s*", ",", re.sub(r"\s*[-\u2013\u2014]\s*", "-", part))
                words = part.split()
                day_words = [w for w in words if not any(c.isdigit() for c in w)]  # "Sat, Sun" / "Mon-Fri"
                span_words = [w for w in words if any(c.isdigit() for c in w)]  # "10:00-13:00, 14:00-18:00"
                if not day_words or not span_words:
                    raise ValueError(f"'{part.strip()}' needs days and hours")
                days = _days(",".join(day_words))
                for piece in filter(None, ",".join(span_words).split(",")):
                    start, dash, end = piece.partition("-")
                    if not dash:
                        raise ValueError(f"'{piece}' is not a span like 10:00-18:00")
                    a, b = _minute(start), _minute(end)
                    for day in days:  # a span ending before it starts runs past midnight
                        self.spans.append((day * 1440 + a, day * 1440 + (b if b > a else b + 1440)))
            if text.strip() and not self.spans:  # ";" read as "never open": a black screen for good
                raise ValueError("it names no opening times (leave it empty for always open)")
        except ValueError as exc:
            raise UserError(f"schedule.hours '{text}': {exc}; write it like \"{EXAMPLE}\"") from None

    @property
    def always_open(self) -> bool:
        return not self.text.strip()

    def is_open(self, when: dt.datetime) -> bool:
        if self.always_open:
            return True
        minute = when.weekday() * 1440 + when.hour * 60 + when.minute
        week = 7 * 1440
        return any(start <= m < end for start, end in self.spans for m in (minute, minute + week))


def parse_now(text: str) -> dt.datetime:
    """`--now` as given: '2026-11-30 09:59' (or with seconds, or ISO 'T')."""
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        when = None
    if when is None or when.tzinfo is not None:  # the hours are local time: a zone would be ambiguous
        raise UserError(f"--now '{text}' is not a local date and time; write it like 2026-11-30 09:59:50")
    if not NOW_RANGE[0] <= when.year <= NOW_RANGE[1]:  # the clock runs on from it: year 9999 overflows
        raise UserError(f"--now '{text}' is out of range; give a moment in the years {NOW_RANGE[0]}-{NOW_RANGE[1]}")
    return when


class ShowClock:
    """The local time the schedule is read at: now, or from a given moment on (to test the hours)."""

    def __init__(self, start: dt.datetime | None = None):
        self.offset = (start - dt.datetime.now()).total_seconds() if start else 0.0
        self._monotonic_start, self._wall_start = time.monotonic(), dt.datetime.now()

    def now(self) -> dt.datetime:
        # monotonic time since start: a clock set by NTP mid-run does not jump the schedule by the offset
        elapsed = time.monotonic() - self._monotonic_start
        return self._wall_start + dt.timedelta(seconds=elapsed + self.offset) if self.offset else dt.datetime.now()
