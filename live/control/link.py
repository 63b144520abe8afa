"""Ableton Link (aalink, the `link` extra): the tempo and the beat shared with Live, Resolume, Traktor and
any Link app on the network. Joining a session takes its tempo; a tap or a bpm sent here changes it for
everyone."""
from __future__ import annotations

import asyncio
import time
import warnings

from live.errors import require_extra

BEATS_PER_BAR = 4.0
INSTALL = "Ableton Link needs the link extra: pip install -e '.[link]' (aalink)"


class LinkClock:
    def __init__(self, bpm: float):
        aalink = require_extra("aalink", INSTALL)
        self._loop = asyncio.new_event_loop()  # aalink wants one; its clock is read without running it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.link = aalink.Link(bpm, self._loop)
        self.link.quantum = BEATS_PER_BAR  # the phase runs through one bar (four beats)
        self.link.enabled = True

    @property
    def tempo(self) -> float:
        return float(self.link.tempo)

    @tempo.setter
    def tempo(self, bpm: float) -> None:
        self.link.tempo = bpm

    def phase(self) -> float:
        """Where in the beat the session is, 0..1."""
        return float(self.link.phase) % 1.0

    def next_bar(self) -> float:
        """The wall-clock time (time.time()) of the session's next bar: shows in one Link session switch
        together on it."""
        left = BEATS_PER_BAR - float(self.link.phase) % BEATS_PER_BAR
        return time.time() + left * 60.0 / max(self.tempo, 1e-6)

    @property
    def peers(self) -> int:
        return int(self.link.num_peers)

    def close(self) -> None:
        self.link.enabled = False
        self._loop.close()
