"""What moves the strength and the mix over time: beat pulses (tap tempo or Ableton Link) and the level
of an audio band. The main thread updates it every turn of its loop; the dream worker reads the newest
factors from a slot (never a call into the show from its thread)."""
from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass

from live.config import AudioConfig, BeatConfig
from live.control import beat
from live.control.actions import Action
from live.control.audio import AudioInput
from live.control.bus import ControlBus
from live.control.link import LinkClock
from live.control.state import ShowState
from live.show.slots import LatestSlot


@dataclass(frozen=True)
class Factors:
    """What the beat and the audio multiply the strength and the mix by now (1: nothing drives them)."""
    strength: float = 1.0
    mix: float = 1.0


class Modulation:
    def __init__(self, beat_config: BeatConfig, audio_config: AudioConfig):
        self.beat, self.audio_config = beat_config, audio_config
        self.started = time.monotonic()
        self.link: LinkClock | None = None
        self.link_bpm = beat_config.bpm
        self.audio: AudioInput | None = None
        self.factors = LatestSlot()  # the dream worker's view of the newest Factors

    def start(self, stack: ExitStack) -> None:
        if self.beat.link:
            self.link = LinkClock(self.beat.bpm)
            stack.callback(self.link.close)
        a = self.audio_config
        if a.device:
            self.audio = AudioInput(a.device, a.band, a.attack, a.release)
            stack.callback(self.audio.close)

    def update(self, bus: ControlBus) -> Factors:
        """Main thread, every turn: follows Link, publishes the factors for the worker, and returns them."""
        if self.link:
            self._follow_link(bus)
        factors = Factors(self.factor("strength", bus.state), self.factor("mix", bus.state))
        self.factors.put(factors)
        return factors

    def factor(self, parameter: str, state: ShowState) -> float:
        """The beat's and the audio's factor on `parameter` now (1 unless they drive it)."""
        b, a = self.beat, self.audio_config
        factor = (beat.factor(state, time.monotonic(), self.started, b.shape, b.depth,
                              self.link.phase() if self.link else None) if b.pulse == parameter else 1.0)
        if self.audio and a.modulate == parameter:
            factor *= self.audio.factor(a.depth)
        return factor

    @property
    def peers(self) -> int | None:
        return self.link.peers if self.link else None

    def _follow_link(self, bus: ControlBus) -> None:
        """A tempo set here (tap, OSC, the page) goes to the Link session; one set by a peer comes here."""
        bpm = bus.state.bpm
        if bpm != self.link_bpm:
            self.link.tempo = self.link_bpm = bpm
        elif abs(self.link.tempo - bpm) > 0.01:
            self.link_bpm = round(self.link.tempo, 2)
            bus.post(Action("bpm", self.link_bpm, source="link"))
