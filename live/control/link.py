"""Ableton Link (aalink, the `link` extra): the tempo and the beat shared with Live, Resolume, Traktor and
any Link app on the network. Joining a session takes its tempo; a tap or a bpm sent here changes it for
everyone."""
from __future__ import annotations

import asyncio
import warnings

from live.errors import require_extra

INSTALL = "Ableton Link needs the link extra: pip install -e '.[link]' (aalink)"


class LinkClock:
    def __init__(self, bpm: float):
        aalink = require_extra("aalink", INSTALL)
        self._loop = asyncio.new_event_loop()  # aalink wants one; its clock is read without running it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.link = aalink.Link(bpm, self._loop)
        self.link.quantum = 1.0  # the phase runs through one beat
        self.link.enabled = True

    @property
    def tempo(self) -> float:
        return float(self.link.tempo)

    @tempo.setter
    def tempo(self, bpm: float) -> None:
        self.link.tempo = bpm

    def phase(self) -> float:
        return float(self.link.phase) % 1.0

    @property
    def peers(self) -> int:
        return int(self.link.num_peers)

    def close(self) -> None:
        self.link.enabled = False
        self._loop.close()
