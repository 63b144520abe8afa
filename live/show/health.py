"""What the show tells the world about itself: /health (read by any thread, such as the HTTP server's),
the OSC status once a second, and systemd's READY and WATCHDOG (fed only while frames are being shown,
so a hung worker, camera or renderer is restarted).

The main thread takes a snapshot with every frame shown; a reader gets it with the time now and the
source's state as of now (while a camera is away no frame may come to update it)."""
from __future__ import annotations

import time
from typing import Callable

from live.control.osc import OscStatus
from live.control.state import ShowState, Status
from live.show.service import SystemdNotifier
from live.show.worker import WorkerStatus


def snapshot(state: ShowState, worker: WorkerStatus, source: dict, status: Status | None, frames_shown: int,
             is_open: bool, link_peers: int | None, error: str | None) -> dict:
    """The /health JSON as of the frame just shown."""
    return {
        **source, "fps": round(status.fps if status else 0.0, 2),
        "latency_ms": round(status.latency_ms if status else 0.0, 1), "frames_shown": frames_shown,
        "dream_hz": round(status.dream_rate if status else 0.0, 2),
        "backend": worker.backend, "preset": state.preset + 1, "presets": len(state.presets),
        "objective": state.objective, "strength": round(state.strength, 3), "mix": round(state.mix, 3),
        "steps": state.steps, "frozen": state.frozen, "blackout": state.blackout, "bpm": state.bpm,
        "crossfade_seconds": state.crossfade_seconds, "last_error": error or worker.last_failure,
        "link_peers": link_peers, "open": is_open,
        "attract": None if worker.attract_weight is None else round(worker.attract_weight, 2),
        "healing": worker.healing,
    }


class Health:
    def __init__(self, status_to: str | None, source_now: Callable[[], dict]):
        """`source_now`: ok, source and reconnects as of now (any thread)."""
        self.started = time.monotonic()
        self.source_now = source_now
        self.status_out = OscStatus(status_to) if status_to else None
        self.systemd = SystemdNotifier()
        self._snapshot: dict = {}
        self._ready = False
        self._next_watchdog = 0.0
        self._next_status = time.monotonic() + 1.0

    def report(self) -> dict:
        """Any thread: the snapshot of the last frame shown, as of now."""
        uptime = {"uptime_s": round(time.monotonic() - self.started, 1)}
        return {**self._snapshot, **self.source_now(), **uptime} if self._snapshot else uptime

    def update(self, snapshot: dict) -> None:
        self._snapshot = snapshot

    def shown(self, snapshot: dict, status: Status, dreaming: bool = True) -> None:
        """Main thread, with every frame shown (or the black frame while closed): READY with the first,
        then the watchdog, at most once a second, while the dream is alive (`dreaming`: a decoupled
        picture goes on showing the camera when the worker hangs, and systemd must still see it)."""
        self._snapshot = snapshot
        now = time.monotonic()
        if not self._ready:
            self.systemd.notify("READY=1")
            self._ready = True
        if dreaming and now >= self._next_watchdog:
            self.systemd.notify(f"WATCHDOG=1\nSTATUS={status.fps:.1f} fps, latency {status.latency_ms:.0f} ms, "
                                f"{status.state.objective}")
            self._next_watchdog = now + 1.0

    def tick(self) -> None:
        """Main thread, every turn: the OSC status once a second."""
        if self.status_out and time.monotonic() >= self._next_status:
            self.status_out.send(self.report())
            self._next_status = time.monotonic() + 1.0

    def close(self) -> None:
        self.systemd.notify("STOPPING=1")
        self.systemd.close()
