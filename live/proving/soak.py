"""`live-dream soak`: the installation left alone with faults injected on a schedule, reporting per
minute the frame rate, the memory held and the open file handles, and for every fault whether the show
recovered and how long it took. Memory must stay flat: a leak of a few MB an hour is months of trouble.

Each minute (a cycle of `cycle` seconds) the same faults come in turn (see live/proving/faults.py): the camera
stops, freezes, returns garbage, changes size; a dream step raises; a step returns NaN. A fault counts
as recovered at the first frame shown afterwards that was dreamed from a camera frame captured after the
fault ended, with the source back and the dream step working again.
"""
from __future__ import annotations

import logging
import statistics
import threading
import time
from dataclasses import dataclass, replace

from live.config import Config
from live.proving.faults import FaultPlan
from live.core.files import write_json
from live.show.pipeline import RunOptions, run_live
from live.show.stats import memory_mb, open_files

log = logging.getLogger("live-dream")


@dataclass
class Fault:
    name: str
    at: float  # seconds into each minute (scaled to the cycle)
    seconds: float  # how long it lasts (stale_seconds are added to a freeze: the time it takes to notice)


SCHEDULE = [Fault("stop", 8, 6), Fault("freeze", 18, 2), Fault("garbage", 30, 2), Fault("resize", 37, 3),
            Fault("raise", 45, 1.5), Fault("nan", 52, 1)]


class SoakWatch:
    """Runs the fault schedule in its own thread and watches every frame shown."""

    def __init__(self, plan: FaultPlan, minutes: float, cycle: float, stale_seconds: float):
        self.plan, self.minutes, self.cycle, self.stale = plan, minutes, cycle, stale_seconds
        self.faults: list[dict] = []  # name, started, ended, recovered_s
        self.minute_rows: list[dict] = []
        self.shown = 0
        self._waiting: list[dict] = []  # faults ended, not recovered yet
        self._stop = threading.Event()
        self._start = None
        self.show = None  # the Show, once frames flow (for its worker and source)

    def frame_shown(self, state, shown_at: float, item) -> None:
        self.shown += 1
        now = time.monotonic()  # the clock of the frames' capture times
        if self._start is None:
            self._start = now
            threading.Thread(target=self._run, name="soak", daemon=True).start()
        if not self._waiting or item is None or item.camera_image is None or item.attract_weight >= 1.0:
            return
        worker_ok = self.show is None or not self.show.worker.status.failing
        source_ok = self.show is None or self.show.source.state == "ok"
        for fault in list(self._waiting):
            if item.t_captured >= fault["_ended_at"] and worker_ok and source_ok and self.plan.active is None:
                fault["recovered_s"] = round(now - fault["_ended_at"], 2)
                self._waiting.remove(fault)

    def _run(self) -> None:
        """Ticks ten times a second: a minute's row when one is due, a fault when its time comes."""
        start, minute, last_shown, end = self._start, 1, 0, self.minutes * 60
        events = sorted(((c * self.cycle + f.at * self.cycle / 60, f) for c in range(int(end / self.cycle) + 1)
                         for f in SCHEDULE),
                        key=lambda e: e[0])
        events = [(at, f) for at, f in events if at + f.seconds + self.stale + 5 < end]  # room to recover
        active, until = None, 0.0
        while not self._stop.wait(0.1):
            t = time.monotonic() - start
            if t >= minute * 60:
                last_shown = self._minute_row(minute, last_shown)
                minute += 1
                if minute * 60 > end + 1e-6:  # every minute reported: the soak is over
                    self.show.quit = True
                    return
            if active and t >= until:
                self.plan.set(None)
                active.update(_ended_at=time.monotonic(), recovered_s=None)
                self.faults.append(active)
                self._waiting.append(active)
                active = None
            if active is None and events and t >= events[0][0]:
                at, fault = events.pop(0)
                lasts = fault.seconds + (self.stale if fault.name == "freeze" else 0.0)
                active, until = {"fault": fault.name, "at_s": round(t, 1), "lasted_s": lasts}, t + lasts
                self.plan.set(fault.name)

    def _minute_row(self, minute: int, last_shown: int) -> int:
        rss, _ = memory_mb()
        row = {"minute": minute, "fps": round((self.shown - last_shown) / 60.0, 1), "rss_mb": rss, "open_fds": open_files()}
        self.minute_rows.append(row)
        log.info("soak minute %d: %.1f fps, RSS %.0f MB, %d open files", minute, row["fps"], rss, row["open_fds"])
        return self.shown

    def stop(self) -> None:
        self._stop.set()
        self.plan.set(None)

    def report(self) -> dict:
        rows, faults = self.minute_rows, [{k: v for k, v in f.items() if not k.startswith("_")} for f in self.faults]
        fps = [r["fps"] for r in rows]
        report = {"minutes": rows, "faults": faults,
                  "recovered": sum(1 for f in faults if f["recovered_s"] is not None), "injected": len(faults)}
        if rows:
            report.update(fps_min=min(fps), fps_median=statistics.median(fps), rss_first_mb=rows[0]["rss_mb"],
                          rss_last_mb=rows[-1]["rss_mb"], fds_first=rows[0]["open_fds"], fds_last=rows[-1]["open_fds"])
        return report


def format_report(report: dict) -> str:
    lines = ["minute   fps   RSS MB   open files"]
    lines += [f"{r['minute']:6d} {r['fps']:5.1f} {r['rss_mb']:8.0f} {r['open_fds']:12d}" for r in report["minutes"]]
    by_name: dict[str, list] = {}
    for f in report["faults"]:
        by_name.setdefault(f["fault"], []).append(f["recovered_s"])
    lines.append("fault      injected  recovered  recovery s (median, max)")
    for name, times in by_name.items():
        done = [t for t in times if t is not None]
        spread = f"{statistics.median(done):.2f}, {max(done):.2f}" if done else "-"
        lines.append(f"{name:10s} {len(times):8d} {len(done):10d}  {spread}")
    if report["minutes"]:
        lines.append(f"fps min {report['fps_min']:.1f}, median {report['fps_median']:.1f}; RSS first minute "
                     f"{report['rss_first_mb']:.0f} MB, last {report['rss_last_mb']:.0f} MB; open files "
                     f"{report['fds_first']} -> {report['fds_last']}")
    lines.append(f"recovered from {report['recovered']} of {report['injected']} faults")
    return "\n".join(lines)


def run_soak(config: Config, minutes: float, json_path: str | None = None, cycle: float = 60.0) -> dict:
    """The installation on its source (the demo unless one is given), headless, for `minutes`."""
    config = replace(config, installation=replace(config.installation, enabled=True, resume=False),
                     display=replace(config.display, mode="headless"))
    plan = FaultPlan()
    watch = SoakWatch(plan, minutes, cycle, config.installation.stale_seconds)

    # the watch ends the show after its last minute (counted from the first frame); the limit is a backstop
    options = RunOptions(seconds=minutes * 60 + 600, observe=watch.frame_shown, faults=plan)
    try:
        run_live(config, options, watch=lambda show: setattr(watch, "show", show))
    finally:
        watch.stop()
    report = watch.report()
    print(format_report(report))
    if json_path:
        write_json(json_path, report)
    return report
