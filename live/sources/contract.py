"""What every source promises the show (the capture thread reads it, the main thread opens and closes it).

A source subclasses `Source` and defines the four required members; the optional ones have defaults
here, so the show never asks whether a source has them.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

RECONNECT_SECONDS = 30  # a camera that stops is reopened for this long before the run gives up


class Source(Protocol):
    """A stream of frames.

    Required:
    - `read()` returns the next frame, HxWx3 uint8 RGB, or None when the source has ended (a file played
      once). It may block until a frame is there (a camera sets its own pace). It raises when a device has
      failed beyond its own reconnecting; the message says what to check. Only the capture thread calls it.
    - `close()` releases the device or file. It is called exactly once, by the show's shutdown, after the
      capture thread has stopped reading (or, for a reading that cannot be cut short, while it reads: see
      `stop_reading`).
    - `fps`: the rate the frames should be played at; None for a device that sets its own pace.
    - `description`: one line for the log ("camera 0 (HD Webcam) 1280x720@30").

    Optional (defaults below):
    - `still`: True where the same frame for ever is what the source is for (a photo), so a frozen frame
      is not taken for a hung driver.
    - `faces_visitors`: a camera looking at the people in front of the screen: the picture is mirrored
      when `capture.mirror` is set, as a mirror is what people expect.
    - `state` ("ok", "reconnecting", "stale", "closed") and `reconnects` (count): what a source that
      reopens itself is doing, for /health.
    - `stop_reading()`: any thread; a `read()` waiting for a device returns None at once.
    - `suspend()` / `resume()`: close the device outside opening hours, open it again after.
    """
    fps: float | None
    description: str
    still: bool = False
    faces_visitors: bool = False
    state: str = "ok"
    reconnects: int = 0

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...

    def stop_reading(self) -> None:
        """Nothing to cut short: a plain source's read() returns within a frame."""

    def suspend(self) -> None:
        """Nothing to close while the show is closed: only devices are closed outside opening hours."""

    def resume(self) -> None:
        """See suspend()."""
