"""`GET /metrics`: the show in Prometheus's text format, for a fleet's monitoring (Prometheus, Grafana).

Every value is read at scrape time from what the show keeps anyway (its run figures, the worker's and the
source's counters, /health's snapshot): nothing is added to a frame's work but one histogram count.
Names follow Prometheus's conventions: the `live_dream_` prefix, base units (seconds, bytes), `_total`
for counters."""
from __future__ import annotations

import time
from typing import Callable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, InfoMetricFamily

from live import __version__
from live.show.stats import LATENCY_BUCKETS_S, memory_mb

SOURCE_STATES = ("ok", "reconnecting", "stale", "closed", "ended", "failed")


class ShowCollector:
    """Reads the show when Prometheus scrapes: `show` is the running pipeline.Show."""

    def __init__(self, show, name: str):
        self.show, self.name = show, name
        self.started = time.monotonic()

    def collect(self):
        show = self.show
        stats, capture, worker = show.stats, show.capture, show.worker
        health = show.health()  # /health's snapshot: the rates as of the last picture, the source as of now
        status = worker.status
        yield _gauge("picture_frames_per_second", "Pictures shown per second (the last 30)", health.get("fps", 0.0))
        yield _gauge("dream_frames_per_second", "Dreams made per second (the last 30; coupled: the picture's)",
                     health.get("dream_hz", 0.0))
        histogram = HistogramMetricFamily("live_dream_camera_to_screen_latency_seconds",
                                          "From a camera frame's capture to its picture being shown")
        counts = stats.latency_counts.cumsum()
        buckets = [(f"{b:g}", float(c)) for b, c in zip(LATENCY_BUCKETS_S, counts)] + [("+Inf", float(counts[-1]))]
        histogram.add_metric([], buckets, stats.latency_sum_s)
        yield histogram
        yield _counter("frames_captured", "Camera frames read", capture.captured)
        yield _counter("frames_dreamed", "Frames dreamed", worker.dreamed)
        yield _counter("frames_shown", "Pictures shown (every output)", stats.shown)
        yield _counter("frames_dropped", "Camera frames never dreamed (the latest frame wins)",
                       max(0, capture.captured - worker.dreamed))
        yield _counter("source_reconnects", "Times the source was opened again", show.source.reconnects)
        state = GaugeMetricFamily("live_dream_source_state", "1 for the source's state now", labels=["state"])
        for name in SOURCE_STATES:
            state.add_metric([name], 1.0 if health.get("source") == name else 0.0)
        yield state
        yield _counter("healing_events", "Times the self-healing changed something (torch, a smaller size)",
                       worker.healing.remedies)
        yield _counter("step_failures", "Frames whose dream step raised", worker.healing.failed)
        yield _counter("nan_resets", "Dreams restarted because they were not finite", worker.resets)
        yield _gauge("attract_weight", "The attract loop's share of the picture (0: the visitors)",
                     status.attract_weight or 0.0)
        yield _gauge("open", "1 inside opening hours, 0 closed", 1.0 if show.light.is_open else 0.0)
        yield _gauge("ok", "1 when /health says ok", 1.0 if health.get("ok") else 0.0)
        yield _gauge("resident_memory_bytes", "Resident memory of the process", memory_mb()[0] * 2**20)
        yield _gauge("uptime_seconds", "Seconds since the show started", time.monotonic() - self.started)
        info = InfoMetricFamily("live_dream", "What this show is")
        info.add_metric([], {"version": __version__, "network": show.network_name, "backend": status.backend,
                             "preset": str(health.get("preset", "")), "objective": str(health.get("objective", "")),
                             "show": self.name})
        yield info


def _gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"live_dream_{name}", text, value=float(value))


def _counter(name: str, text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"live_dream_{name}", text, value=float(value))


def exposition(show, name: str) -> Callable[[], bytes]:
    """What GET /metrics answers: the show's metrics, generated at each scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ShowCollector(show, name))
    return lambda: generate_latest(registry)
