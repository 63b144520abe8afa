"""Latest-value slots: the only way the show's threads talk. A slow reader drops items, never queues them."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # HxWx3 uint8 RGB
    seq: int  # capture sequence number, counts from 1
    t_captured: float  # time.monotonic() when the source delivered it
    source_image: np.ndarray | None = None  # for dreamed frames: the input they were dreamed from
    camera_image: np.ndarray | None = None  # for dreamed frames: the camera frame as captured (full size)
    attract: np.ndarray | None = None  # the attract loop's frame, shown over the dream at attract_weight
    attract_weight: float = 0.0  # 1: the attract loop's frame is `image` itself (no visitor in it)


class LatestSlot:
    """Holds one item. `put` replaces what is there (counting it as dropped if nobody took it);
    `get_newer` waits for an item newer than the one the reader last saw."""

    def __init__(self):
        self._cond = threading.Condition()
        self._item: Any = None
        self._taken = True
        self._closed = False
        self.dropped = 0

    def put(self, item) -> None:
        with self._cond:
            if not self._taken:
                self.dropped += 1
            self._item, self._taken = item, False
            self._cond.notify_all()

    def get_newer(self, after_seq: int, timeout: float):
        """The newest item with seq > after_seq, or None on timeout / when closed and empty."""
        with self._cond:
            self._cond.wait_for(lambda: self._closed or (self._item is not None and self._item.seq > after_seq),
                                timeout)
            if self._item is not None and self._item.seq > after_seq:
                self._taken = True
                return self._item
            return None

    def latest(self, default=None):
        """The newest item without waiting (a value read every frame, such as the modulation's factors)."""
        item = self._item  # one reference read: atomic
        return default if item is None else item

    def close(self) -> None:
        """Wake every waiting reader: no more items will come."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
