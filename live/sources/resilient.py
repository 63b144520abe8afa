"""A source that never gives up (installation mode): whatever the camera does, the show goes on.

A source that raises, ends, changes its frame size or repeats one frame for `stale_seconds` (a driver
that froze) is closed and opened again, backing off from 0.5 s up to `max_backoff` between attempts,
for ever. `state` says what it is doing: ok, reconnecting, stale (reopening a frozen camera) or closed
(outside opening hours: `suspend()` closes the camera, `resume()` opens it again). Only the capture
thread calls `read()`; it is also the only thread that opens and closes the source it wraps.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import numpy as np

from live.errors import UserError
from live.sources.contract import Source

log = logging.getLogger("live-dream")
FIRST_BACKOFF_S = 0.5
BACKOFF_GROWTH = 1.5  # 0.5, 0.75, 1.1, 1.7, 2.5, 3.8, 5.7, 8.5 s, then max_backoff: a knocked cable is back soon


class ResilientSource(Source):
    def __init__(self, opener: Callable[[], Source], description: str, first: Source | None = None,
                 device: bool = True, faces_visitors: bool = False, stale_seconds: float = 5.0,
                 max_backoff: float = 10.0):
        """`first`: the source already opened (a file that cannot be opened is a mistake to say at once);
        None: open it here, and if the camera is not there yet, keep trying. `device`: a camera (or NDI),
        whose frames must keep their size and keep changing; a file or folder is reopened only when it
        fails or ends (its frames may change size, a title card may stand still)."""
        self.opener, self.stale_seconds, self.max_backoff = opener, stale_seconds, max_backoff
        self.device, self.faces_visitors = device, faces_visitors
        self._reading = False
        self.state, self.reconnects = "ok", 0
        self.inner = None
        self._wake = threading.Event()  # cuts a backoff wait short: close() or resume()
        self._closed = self._suspended = False
        self._attempts = 0
        self._size = None  # the frame size the open source delivers
        self._same_since: float | None = None  # when the frames stopped changing
        self._last_sample: np.ndarray | None = None
        try:
            self.inner = first or opener()
            self.description = self.inner.description
        except UserError as exc:  # a camera missing at boot: the attract loop plays until it is there
            self.description = description
            self._lost(f"cannot open {description}: {exc}")
        self.fps = self.inner.fps if self.inner else None

    def read(self) -> np.ndarray | None:
        """The next frame; blocks while the source is being reopened or the show is closed. None only
        once close() was called."""
        self._reading = True
        try:
            return self._read()
        finally:
            self._reading = False
            if self._closed:  # close() came while reading: the reading thread closes what it read from
                self._close_inner()

    def _read(self) -> np.ndarray | None:
        while not self._closed:
            if self._suspended:
                self._close_inner()
                self.state = "closed"
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            if self.inner is None:
                self._reopen()
                continue
            try:
                image = self.inner.read()
            except Exception as exc:  # noqa: BLE001 - whatever a driver throws, the camera is reopened
                log.warning("source %s failed: %s: %s; reopening", self.description, exc.__class__.__name__, exc,
                            exc_info=True)
                self._lost(None)
                continue
            if image is None:
                self._lost(f"source {self.description} ended; reopening")
            elif image.ndim != 3 or image.size == 0:
                self._lost(f"source {self.description} delivered an empty frame; reopening")
            elif self.device and self._size is not None and image.shape != self._size:
                self._lost(f"source {self.description} changed its frame size from {self._size[1]}x{self._size[0]} "
                           f"to {image.shape[1]}x{image.shape[0]}; reopening")
            elif self.device and self._stale(image):
                self._lost(f"source {self.description} has delivered the same frame for {self.stale_seconds:g} s; "
                           f"reopening", state="stale")
            else:
                if self.state != "ok":
                    log.info("source %s is back (reconnect %d)", self.description, self.reconnects)
                self.state, self._attempts, self._size = "ok", 0, image.shape
                return image
        return None

    def _stale(self, image: np.ndarray) -> bool:
        """The same frame, exactly, for stale_seconds (a live camera's noise makes every frame differ)."""
        if self.inner.still:  # a photo as the source is meant to stand still
            return False
        sample = image[::16, ::16]
        now = time.monotonic()
        if self._last_sample is None or not np.array_equal(sample, self._last_sample):
            self._last_sample, self._same_since = sample.copy(), now
            return False
        return now - self._same_since >= self.stale_seconds

    def _lost(self, message: str | None, state: str = "reconnecting") -> None:
        if message:
            log.warning(message)
        self._close_inner()
        self.state = state
        self._size, self._last_sample = None, None

    def _reopen(self) -> None:
        wait = self._backoff(self._attempts)
        self._attempts += 1
        if self._wake.wait(wait):
            self._wake.clear()
            return
        self.reconnects += 1
        try:
            self.inner = self.opener()
            self.fps = self.inner.fps
        except Exception as exc:  # noqa: BLE001 - not there yet: try again after a longer wait
            if self._attempts <= 3 or self._attempts % 30 == 0:
                log.warning("reopening %s failed (attempt %d): %s; next try in %.0f s", self.description,
                            self._attempts, exc, self._backoff(self._attempts))

    def _backoff(self, attempt: int) -> float:
        return min(self.max_backoff, FIRST_BACKOFF_S * BACKOFF_GROWTH ** min(attempt, 20))

    def _close_inner(self) -> None:
        if self.inner is not None:
            try:
                self.inner.close()
            except Exception:  # noqa: BLE001 - a source that cannot even close is dropped all the same
                log.debug("closing the source failed", exc_info=True)
            self.inner = None

    def suspend(self) -> None:
        """Close the camera (the show is closed); the capture thread does it at its next read."""
        self._suspended = True
        self._wake.set()

    def resume(self) -> None:
        self._suspended, self._attempts = False, 0
        self.state = "reconnecting"
        self._wake.set()

    def stop_reading(self) -> None:
        """Any thread: a read waiting for the camera returns None at once."""
        self._closed = True
        self._wake.set()

    def close(self) -> None:
        self.stop_reading()
        if not self._reading:  # else the reading thread closes it on its way out (never mid-read)
            self._close_inner()
