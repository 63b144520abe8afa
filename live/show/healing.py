"""Self-healing: what the dream worker does when dreaming a frame fails.

Each failure is counted and logged (with its traceback where it matters) and answered with a decision.
Attended, a frame is skipped, and a fault that persists for MAX_FAILURES_IN_A_ROW frames ends the run
with its reason. Unattended (installation mode), the show never ends for it: after TORCH_AFTER_FAILURES
failures in a row the torch backend takes over from an exported one, after every SHRINK_AFTER_FAILURES
more the dream size drops by a quarter, and after HEALED_AFTER_S without a failure both are undone
(the fault may have been passing). The one rule for a smaller size is `shrunk`.
"""
from __future__ import annotations

import enum
import logging
import time

from live.config import dream_size

log = logging.getLogger("live-dream")
MAX_FAILURES_IN_A_ROW = 50  # frames: a fault that persists this long ends an attended run with its reason
TORCH_AFTER_FAILURES = 5  # unattended: this many failed frames in a row and the torch backend takes over
SHRINK_AFTER_FAILURES = 100  # ... and every this many more (seconds of failing), a smaller dream size
MIN_HEALING_WIDTH = 64
HEALED_AFTER_S = 600.0  # what the healing changed (backend, size) is undone after this long without a failure


def shrunk(size: tuple[int, int], scale: float = 0.75) -> tuple[int, int]:
    """The dream size a quarter smaller (out of memory, or healing), by the one rounding rule."""
    return dream_size(size[0] * scale, size[1] * scale)


class Decision(enum.Enum):
    SKIP = "skip the frame"  # attended: the next frame may well work
    SHOW_CAMERA = "show the camera undreamed"  # unattended: the picture must not freeze
    FALL_BACK = "fall back to the torch backend"
    SHRINK = "dream at a smaller size"
    GIVE_UP = "end the run with the reason"


class Healing:
    def __init__(self, self_healing: bool):
        self.self_healing = self_healing
        self.failures_in_a_row = 0
        self.failed = 0  # frames skipped because dreaming them raised
        self.remedies = 0  # times the healing changed something (a fallback to torch, a smaller size)
        self.last_failure: str | None = None  # the last frame skipped, and why (for /health)
        self.description: str | None = None  # what the healing changed, for /health
        self.shrunk_from: tuple[int, int] | None = None  # the size before the healing lowered it
        self._last_failure_at = 0.0

    def failure(self, seq: int, exc: Exception, size: tuple[int, int]) -> Decision:
        """Frame `seq` could not be dreamed at `size`: counted, logged, and what to do about it."""
        self.failures_in_a_row += 1
        self.failed += 1
        self._last_failure_at = time.monotonic()
        self.last_failure = (f"frame {seq} skipped: {exc.__class__.__name__}: "
                             + (str(exc).splitlines()[0][:200] if str(exc) else ""))
        if self.failures_in_a_row == 1 or self.failures_in_a_row % 100 == 0:
            log.warning("%s (the show goes on)", self.last_failure, exc_info=self.self_healing)
        else:
            log.debug("frame %d skipped", seq, exc_info=True)  # the traceback, for --log-file
        if not self.self_healing:
            return Decision.GIVE_UP if self.failures_in_a_row >= MAX_FAILURES_IN_A_ROW else Decision.SKIP
        if self.failures_in_a_row == TORCH_AFTER_FAILURES:
            return Decision.FALL_BACK
        if self.failures_in_a_row % SHRINK_AFTER_FAILURES == 0 and size[0] > MIN_HEALING_WIDTH:
            return Decision.SHRINK
        return Decision.SHOW_CAMERA

    def fell_back(self) -> None:
        self.remedies += 1
        self.description = f"fell back to the torch backend after {TORCH_AFTER_FAILURES} failed frames"
        log.warning("dreaming failed %d times in a row: %s", TORCH_AFTER_FAILURES, self.description)

    def shrink(self, size: tuple[int, int]) -> tuple[int, int]:
        """The smaller size to dream at; the size of before is kept to go back to."""
        self.shrunk_from = self.shrunk_from or size
        self.remedies += 1
        smaller = shrunk(size)
        smaller = (max(MIN_HEALING_WIDTH, smaller[0]), smaller[1])
        self.description = f"dream size lowered to {smaller[0]}x{smaller[1]} after repeated failures"
        log.warning("dreaming failed %d times in a row: %s", self.failures_in_a_row, self.description)
        return smaller

    def success(self) -> bool:
        """A frame was dreamed. True when what the healing changed should be undone now."""
        self.failures_in_a_row = 0
        return bool(self.description) and time.monotonic() - self._last_failure_at >= HEALED_AFTER_S

    def undone(self) -> tuple[int, int] | None:
        """Healed: the size to go back to (None: the size was not changed)."""
        size, self.shrunk_from, self.description = self.shrunk_from, None, None
        return size
