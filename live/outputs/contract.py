"""What every output promises the show (pyvirtualcam's backend contract, for frames leaving the show)."""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from live.control.actions import Action
from live.control.state import Status


class Output(Protocol):
    """A place the shown frames go. The main thread calls every member, in this order:

    - built from the settings at start, before the network and camera: a path that cannot be written or
      a missing extra is one UserError line then, and nothing is created yet;
    - `open()` once, when the first frame is near (a window appears, a file is created);
    - `send(rgb, status)` for every shown frame: HxWx3 uint8 RGB of any size (the output fits it to
      `size`), and the show's Status for a HUD. It must not wait for a clock of its own (the show keeps
      the pace). When it fails it sets `error` (one line) and returns; the show logs it once and stops
      sending to it, and the show goes on unless it was the only thing showing the picture;
    - `close()` is called exactly once, even after an error; it returns the file it kept, if any.

    `name` is its registry name; `size` (w, h) the frames it wants: the first output's size is the
    one the picture is composed at.

    Optional: `poll()` returns the actions its user asked for since the last call (a window's keys);
    outputs without an input return none.
    """
    name: str
    size: tuple[int, int]
    error: str | None = None

    def open(self) -> None: ...

    def send(self, rgb: np.ndarray, status: Status | None = None) -> None: ...

    def close(self) -> Path | None: ...

    def poll(self) -> list[Action]:
        return []
