"""Run figures: frames captured, dreamed, shown and dropped; fps; capture-to-display latency."""
from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .imageio import atomic_output


LATENCY_WINDOW = 100_000  # about an hour at 30 fps: percentiles cover that; memory stays flat for weeks


@dataclass
class RunStats:
    started: float = field(default_factory=time.monotonic)
    shown: int = 0
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    recent: deque = field(default_factory=lambda: deque(maxlen=30))  # (time shown, latency) for the HUD
    first_shown: float | None = None
    last_shown: float | None = None

    def frame_shown(self, t_captured: float) -> None:
        now = time.monotonic()
        latency = (now - t_captured) * 1000
        self.shown += 1
        self.latencies_ms.append(latency)
        self.recent.append((now, latency))
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
        lat = np.array(self.latencies_ms) if self.latencies_ms else np.zeros(1)
        return {
            "seconds": round(time.monotonic() - self.started, 2),
            "captured": captured, "dreamed": dreamed, "shown": self.shown,
            "dropped_before_dream": max(0, captured - dreamed), "dropped_before_display": max(0, dreamed - self.shown),
            "fps": round((self.shown - 1) / span, 2) if span > 0 else 0.0,
            "latency_ms_median": round(float(np.median(lat)), 1),
            "latency_ms_p95": round(float(np.percentile(lat, 95)), 1),
        }


def format_summary(s: dict) -> str:
    return (f"captured {s['captured']}, dreamed {s['dreamed']}, shown {s['shown']}, dropped "
            f"{s['dropped_before_dream'] + s['dropped_before_display']}; {s['fps']} fps; latency median "
            f"{s['latency_ms_median']} ms, p95 {s['latency_ms_p95']} ms")


def write_json(path: str, data: dict) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")
