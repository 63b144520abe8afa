"""Per-stage timings of the live pipeline, for `live-dream bench --profile`. Off unless enabled."""
from __future__ import annotations

import statistics
import threading
import time
from collections import defaultdict
from contextlib import contextmanager

STAGES = ["capture", "preprocess", "flow", "steps", "upscale", "display"]


class Profile:
    def __init__(self, enabled: bool = False):
        self.enabled = enabled
        self._times: dict[str, list[float]] = defaultdict(list)
        self._lock = threading.Lock()

    @contextmanager
    def stage(self, name: str):
        if not self.enabled:
            yield
            return
        t0 = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:
                self._times[name].append((time.perf_counter() - t0) * 1000)

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for name in STAGES + sorted(set(self._times) - set(STAGES)):
            times = self._times.get(name)
            if times:
                out[name] = {"median_ms": round(statistics.median(times), 2),
                             "p95_ms": round(sorted(times)[int(0.95 * (len(times) - 1))], 2), "count": len(times)}
        return out


NO_PROFILE = Profile(False)
