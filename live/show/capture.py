"""The capture thread: reads the source as it delivers (or at the file's own rate) and keeps only the
newest frame in a slot. It never blocks on the dream worker."""
from __future__ import annotations

import logging
import threading
import time

import numpy as np

from live.core.profiling import NO_PROFILE, Profile
from live.show.slots import Frame, LatestSlot
from live.sources import Source

log = logging.getLogger("live-dream")


class CaptureThread:
    def __init__(self, source: Source, slot: LatestSlot, mirror: bool = False, profile: Profile = NO_PROFILE):
        self.source, self.slot, self.mirror, self.profile = source, slot, mirror, profile
        self.captured = 0
        self.error: str | None = None  # why the source stopped, if it failed
        self.ended = threading.Event()  # the source has no more frames (or failed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        """Stops reading; the show closes the source after (see `reading`)."""
        self._stop.set()
        self.source.stop_reading()  # a source waiting to reopen a camera returns at once
        self._thread.join(timeout=5)

    @property
    def reading(self) -> bool:
        """Still inside the source's read() (a driver stuck in it): the source must not be closed under it."""
        return self._thread.is_alive()

    def _run(self):
        next_time = time.monotonic()
        try:
            while not self._stop.is_set():
                period = 1.0 / self.source.fps if self.source.fps else 0.0  # a reopened source may differ
                with self.profile.stage("capture"):
                    image = self.source.read()
                if image is None:
                    break
                if self.mirror:
                    image = np.ascontiguousarray(image[:, ::-1])
                self.captured += 1
                self.slot.put(Frame(image, self.captured, time.monotonic()))
                if period:  # a file or the demo: play at its own rate, skipping ahead if we fell behind
                    next_time = max(next_time + period, time.monotonic() - period)
                    self._stop.wait(max(0.0, next_time - time.monotonic()))
        except Exception as exc:  # a camera unplugged mid-run, a corrupt file: end cleanly, say why
            log.debug("capture stopped", exc_info=True)  # the traceback, for --log-file; the user gets one line
            self.error = f"source {self.source.description} failed: {exc.__class__.__name__}: {exc}"
        finally:
            self.ended.set()
            self.slot.close()
