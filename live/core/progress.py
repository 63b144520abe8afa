"""Progress of a long step (export, preparing presets, a still, a render): a bar on a terminal, and a few
plain lines where there is none (a log file, the journal, a pipe), where a bar's hundreds of redraws
would be noise: one line at the start, one at every quarter, one when done.

Both have tqdm's small interface (`update`, `close`, iteration, a context manager), so a caller does not
care which it got.
"""
from __future__ import annotations

import logging
import sys
import time

from tqdm import tqdm

log = logging.getLogger("live-dream")
QUARTER = 25  # percent of the work between plain lines


class PlainProgress:
    """Progress as a few log lines: "preparing presets: 0/5", "... 2/5 (40 %, 3.1 s)", "... done"."""

    def __init__(self, iterable=None, total: int | None = None, desc: str = "", unit: str = "it"):
        self.iterable = iterable
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        self.desc, self.unit, self.n = desc, unit, 0
        self.started = time.perf_counter()
        self.next_share, self.closed = QUARTER, False
        log.info("%s: %s", desc, f"0/{self.total} {unit}s" if self.total else "started")

    def update(self, n: int = 1) -> None:
        self.n += n
        if not self.total:
            return
        share = 100 * self.n / self.total
        if share >= self.next_share and self.n < self.total:
            log.info("%s: %d/%d %ss (%d %%, %.1f s)", self.desc, self.n, self.total, self.unit, share,
                     time.perf_counter() - self.started)
            while self.next_share <= share:
                self.next_share += QUARTER

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            log.info("%s: done, %d %ss in %.1f s", self.desc, self.n, self.unit, time.perf_counter() - self.started)

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update()
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress(iterable=None, *, total: int | None = None, desc: str = "", unit: str = "it", disable: bool = False,
             leave: bool = True):
    """A tqdm bar when stderr is a terminal; else PlainProgress. `disable` (--quiet) shows nothing."""
    if disable or sys.stderr is None:
        return tqdm(iterable, total=total, disable=True)
    if sys.stderr.isatty():
        return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave)
    return PlainProgress(iterable, total, desc, unit)
