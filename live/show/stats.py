"""Run figures: frames captured, dreamed, shown and dropped; fps; capture-to-display latency."""
from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

LATENCY_WINDOW_S = 3600.0  # latency percentiles cover the last hour, whatever the frame rate
# the upper bounds of /metrics's latency histogram, in seconds (a frame at the camera's 30 fps is 0.033)
LATENCY_BUCKETS_S = np.array([0.005, 0.01, 0.02, 0.033, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0])


class LatencyWindow:
    """Latencies of the last `seconds`, kept as one float32 array a minute (4 bytes a frame: about
    0.4 MB for an hour at 30 fps), so memory is bounded by time and stays flat for months."""

    def __init__(self, seconds: float = LATENCY_WINDOW_S, bucket_s: float = 60.0):
        self.seconds, self.bucket_s = seconds, bucket_s
        self.done: deque = deque()  # (bucket start time, np.float32 array)
        self.current: list[float] = []
        self.current_start: float | None = None

    def add(self, now: float, ms: float) -> None:
        if self.current_start is None:
            self.current_start = now
        elif now - self.current_start >= self.bucket_s:
            self.done.append((self.current_start, np.array(self.current, np.float32)))
            self.current, self.current_start = [], now
        self.current.append(ms)
        while self.done and self.done[0][0] + self.bucket_s < now - self.seconds:
            self.done.popleft()

    def values(self) -> np.ndarray:
        return np.concatenate([a for _, a in self.done] + [np.array(self.current, np.float32)])

    def __len__(self) -> int:
        return len(self.current) + sum(len(a) for _, a in self.done)


def memory_mb() -> tuple[float, float]:
    """(resident now, peak) of this process in MB, so a long run can say what it holds. psutil reads the
    resident size on every system; the peak comes from the system's own account (getrusage where there
    is one, in KB on Linux but bytes on macOS; Windows' peak working set), else the largest seen here.
    (0, 0) where neither can be read."""
    global _peak_seen_mb
    try:
        import psutil
        info = psutil.Process().memory_info()
    except Exception:  # noqa: BLE001 - a sandbox can hide it; a figure is not worth a failed run
        return 0.0, 0.0
    now = info.rss / 2**20
    _peak_seen_mb = max(_peak_seen_mb, now, getattr(info, "peak_wset", 0) / 2**20)
    return round(now, 1), round(max(_peak_seen_mb, _rusage_peak_mb()), 1)


_peak_seen_mb = 0.0


def _rusage_peak_mb() -> float:
    try:
        import resource  # not on Windows
    except ImportError:
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def open_files() -> int:
    """Open file handles (descriptors; handles on Windows) of this process; -1 where it cannot be read."""
    try:
        import psutil
        process = psutil.Process()
        return process.num_handles() if hasattr(process, "num_handles") else process.num_fds()
    except Exception:  # noqa: BLE001
        return -1


def launched() -> float:
    """When this process started, on the time.monotonic() clock (the start-up figures count from it: the
    imports are part of the wait); the run's own start where a sandbox hides it."""
    try:
        import psutil
        return time.monotonic() - (time.time() - psutil.Process().create_time())
    except Exception:  # noqa: BLE001
        return time.monotonic()


@dataclass
class RunStats:
    started: float = field(default_factory=time.monotonic)
    launched: float = field(default_factory=launched)
    longest_gap_s: float = 0.0  # the longest wait between two pictures shown (a stutter)
    first_dream: float | None = None
    # camera-to-screen latency counted into LATENCY_BUCKETS_S since the start (what /metrics's histogram reads)
    latency_counts: np.ndarray = field(default_factory=lambda: np.zeros(len(LATENCY_BUCKETS_S) + 1, np.int64))
    latency_sum_s: float = 0.0
    shown: int = 0
    latencies_ms: LatencyWindow = field(default_factory=LatencyWindow)
    recent: deque = field(default_factory=lambda: deque(maxlen=30))  # (time shown, latency) for the HUD
    first_shown: float | None = None
    last_shown: float | None = None
    dream_ages_ms: LatencyWindow = field(default_factory=LatencyWindow)  # how old the dream shown is (decoupled)
    dreams: deque = field(default_factory=lambda: deque(maxlen=30))  # when the last dreams arrived

    def dream_arrived(self, now: float | None = None) -> None:
        self.dreams.append(time.monotonic() if now is None else now)
        self.first_dream = self.first_dream or self.dreams[-1]

    def recent_dream_hz(self) -> float:
        if len(self.dreams) < 2:
            return 0.0
        return (len(self.dreams) - 1) / max(1e-6, self.dreams[-1] - self.dreams[0])

    def dream_shown(self, t_dreamed_from: float, now: float | None = None) -> None:
        """The dream shown with this frame was dreamed from a camera frame captured at `t_dreamed_from`."""
        now = time.monotonic() if now is None else now
        self.dream_ages_ms.add(now, (now - t_dreamed_from) * 1000)

    def frame_shown(self, t_captured: float, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        latency = (now - t_captured) * 1000
        self.latency_counts[np.searchsorted(LATENCY_BUCKETS_S, latency / 1000)] += 1
        self.latency_sum_s += latency / 1000
        self.shown += 1
        self.latencies_ms.add(now, latency)
        self.recent.append((now, latency))
        if self.last_shown is not None:
            self.longest_gap_s = max(self.longest_gap_s, now - self.last_shown)
        self.first_shown = self.first_shown or now
        self.last_shown = now

    def recent_fps(self) -> float:
        if len(self.recent) < 2:
            return 0.0
        return (len(self.recent) - 1) / max(1e-6, self.recent[-1][0] - self.recent[0][0])

    def recent_latency_ms(self) -> float:
        return float(np.median([lat for _, lat in self.recent])) if self.recent else 0.0

    def summary(self, captured: int, dreamed: int) -> dict:
        span = (self.last_shown - self.first_shown) if self.shown > 1 else 0.0
        lat = self.latencies_ms.values() if len(self.latencies_ms) else np.zeros(1)
        resident, peak = memory_mb()
        first_dream = self.first_dream or (self.first_shown if dreamed else None)  # coupled: every picture is one
        return {
            "seconds": round(time.monotonic() - self.started, 2),
            "captured": captured, "dreamed": dreamed, "shown": self.shown,
            "dropped_before_dream": max(0, captured - dreamed), "dropped_before_display": max(0, dreamed - self.shown),
            "fps": round((self.shown - 1) / span, 2) if span > 0 else 0.0,
            "latency_ms_median": round(float(np.median(lat)), 1),
            "latency_ms_p95": round(float(np.percentile(lat, 95)), 1),
            "latency_window_frames": len(self.latencies_ms),
            "dream_hz": round(dreamed / span, 2) if span > 0 else 0.0,
            **({"dream_age_ms_median": round(float(np.median(self.dream_ages_ms.values())), 1)}
               if len(self.dream_ages_ms) else {}),
            "longest_gap_ms": round(self.longest_gap_s * 1000, 1),
            # since the process started; coupled, the first picture is the first dream
            **({"first_picture_s": round(self.first_shown - self.launched, 2)} if self.first_shown else {}),
            **({"first_dream_s": round(first_dream - self.launched, 2)} if first_dream else {}),
            "memory_mb": resident, "peak_memory_mb": peak,
        }


def format_summary(s: dict) -> str:
    return (f"captured {s['captured']}, dreamed {s['dreamed']}, shown {s['shown']}, dropped "
            f"{s['dropped_before_dream'] + s['dropped_before_display']}; {s['fps']} fps (dream {s['dream_hz']} Hz); "
            f"latency median "
            f"{s['latency_ms_median']} ms, p95 {s['latency_ms_p95']} ms; memory {s['memory_mb']:.0f} MB "
            f"(peak {s['peak_memory_mb']:.0f} MB)")
