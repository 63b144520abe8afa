"""Audio in (sounddevice, the `audio` extra): the level of one frequency band, followed with an attack
and a release, modulates strength or mix.

    bands: low 20-250 Hz (kick, bass), mid 250-2000 Hz, high 2000-8000 Hz (hats)
    level: the band's energy over its recent peak (automatic gain: quiet rooms and loud clubs alike)
    factor = 1 - depth * (1 - level)

No audio system, no device or no extra: one line, and the show goes on without it.
"""
from __future__ import annotations

import logging
import math

import numpy as np

log = logging.getLogger("live-dream")
BANDS = {"low": (20.0, 250.0), "mid": (250.0, 2000.0), "high": (2000.0, 8000.0)}
INSTALL = "audio input needs the audio extra: pip install -e '.[audio]' (sounddevice; PortAudio on Linux: " \
          "apt-get install libportaudio2)"


class BandFollower:
    """Blocks of samples in, the band's level (0..1) out, with attack and release in seconds."""

    def __init__(self, band: str, rate: float, attack: float, release: float, peak_seconds: float = 10.0):
        self.low, self.high = BANDS[band]
        self.rate, self.attack, self.release, self.peak_seconds = rate, attack, release, peak_seconds
        self.level, self.peak = 0.0, 1e-9

    def add(self, samples: np.ndarray) -> float:
        """One block (mono float samples); returns the new level."""
        n = len(samples)
        if n == 0:
            return self.level
        spectrum = np.abs(np.fft.rfft(samples * np.hanning(n))) ** 2
        freqs = np.fft.rfftfreq(n, 1.0 / self.rate)
        energy = float(spectrum[(freqs >= self.low) & (freqs < self.high)].sum())
        seconds = n / self.rate
        self.peak = max(energy, self.peak * math.exp(-seconds / self.peak_seconds))  # the peak slowly forgets
        target = min(energy / self.peak, 1.0) if self.peak > 1e-9 else 0.0
        time_constant = self.attack if target > self.level else self.release
        self.level += (target - self.level) * (1.0 - math.exp(-seconds / max(time_constant, 1e-4)))
        return self.level

    def factor(self, depth: float) -> float:
        return 1.0 - depth * (1.0 - self.level)


class AudioInput:
    """Listens on an input device (name, part of one, or 'default') in sounddevice's own thread."""

    def __init__(self, device: str, band: str, attack: float, release: float):
        self.follower, self.stream = None, None
        try:
            import sounddevice
        except (ImportError, OSError) as exc:  # OSError: the wheel is there but PortAudio is not
            log.warning("%s (%s); the show goes on without it", INSTALL, exc)
            return
        try:
            info = sounddevice.query_devices(None if device == "default" else device, "input")
            rate = float(info["default_samplerate"])
            self.follower = BandFollower(band, rate, attack, release)
            self.stream = sounddevice.InputStream(device=info["index"] if device != "default" else None,
                                                  channels=1, samplerate=rate, blocksize=1024,
                                                  callback=lambda data, frames, t, status: self.follower.add(data[:, 0]))
            self.stream.start()
            log.info("audio: listening to %s (%s band)", info["name"], band)
        except Exception as exc:  # no device, busy, or no such name: the show goes on without audio
            log.warning("audio: no input '%s' (%s); the show goes on without it", device, str(exc).splitlines()[0])
            self.follower, self.stream = None, None

    def factor(self, depth: float) -> float:
        return self.follower.factor(depth) if self.follower else 1.0

    def close(self) -> None:
        if self.stream is not None:
            self.stream.stop()
            self.stream.close()
