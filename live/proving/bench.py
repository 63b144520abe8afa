"""`live-dream bench`: milliseconds per gradient step for each backend and size, against plain eager
PyTorch fp32 measured in the same run, then an end-to-end run of the live pipeline on the demo source."""
from __future__ import annotations

import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from live.backends.choice import p95
from live.backends.onnx_backend import OnnxBackend
from live.backends.torch_backend import EagerBaseline, TorchBackend
from live.config import Config
from live.backends.engine import load_network, pick_device
from live.show.pipeline import RunOptions, run_live
from live.core.files import write_json
from live.dream.zoo import get_spec

log = logging.getLogger("live-dream")
SIZES = [(320, 240), (640, 360), (1280, 720)]


def time_steps(backends: list, size: tuple[int, int], repeats: int = 5, warmup: int = 2) -> list[list[float]]:
    """Milliseconds per single step of each backend, after warm-up. The backends take turns, one step
    each, so a machine that speeds up or slows down meanwhile (a shared host) favours none of them."""
    rng = np.random.default_rng(0)
    image = rng.random((size[1], size[0], 3), dtype=np.float32)
    for backend in backends:
        for _ in range(warmup):
            backend.steps(image, 1, 0.02)
    times = [[] for _ in backends]
    for _ in range(repeats):
        for backend, own in zip(backends, times):
            t0 = time.perf_counter()
            backend.steps(image, 1, 0.02)
            own.append((time.perf_counter() - t0) * 1000)
    return times


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU"


def describe_machine(device: torch.device) -> str:
    import onnxruntime as ort
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{cpu_name()}, {os.cpu_count()} cores"
    try:
        from live.backends.openvino_backend import import_openvino
        versions = f", openvino {import_openvino().__version__}"
    except ImportError:
        versions = ""
    return f"{where} ({platform.machine()}), torch {torch.__version__}, onnxruntime {ort.__version__}{versions}"


@contextmanager
def busy_neighbours(n: int):
    """`n` processes each keeping one core busy (a plain Python loop), for a bench under load: what a
    show meets on a machine that also runs a browser, a media server or an update."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def bench_steps(config: Config, sizes, repeats: int) -> list[dict]:
    network = load_network(config.network)
    device = network.device
    net, objective = network.truncated(network.objective(config.network.objective))
    settings = config.live_settings()  # its regularisers too: every backend runs them
    rows = []
    for size in sizes:
        makers = [("eager", lambda: EagerBaseline(net, objective, settings, device)),
                  ("torch", lambda: TorchBackend(net, objective, settings, device, config.live.precision)),
                  ("onnx", lambda: OnnxBackend(net, objective, settings, size, 1))]
        if device.type != "cuda":
            from live.backends.openvino_backend import OpenVinoBackend
            makers.append(("openvino", lambda: OpenVinoBackend(net, objective, settings, size, 1)))
        backends = []
        for kind, make in makers:
            try:
                backend = make()
                time_steps([backend], size, repeats=0, warmup=1)  # a failure shows here, not mid-timing
            except Exception as exc:
                log.warning("bench: %s at %dx%d failed (%s)", kind, *size, str(exc).splitlines()[0][:160])
                continue
            backends.append(backend)
        if not backends:
            continue
        all_times = time_steps(backends, size, repeats=repeats)
        baseline = statistics.median(all_times[0])  # eager fp32, unless it failed
        for backend, times in zip(backends, all_times):
            median = statistics.median(times)
            row = {"size": f"{size[0]}x{size[1]}", "backend": backend.name, "median_ms": round(median, 2),
                   "p95_ms": round(p95(times), 2), "speedup_vs_eager_fp32": round(baseline / median, 2)}
            rows.append(row)
            print(f"{row['size']:<10} {row['backend']:<22} {row['median_ms']:>9.1f} {row['p95_ms']:>9.1f} "
                  f"{row['speedup_vs_eager_fp32']:>8.2f}x", flush=True)
    return rows


MODES = {"decoupled": True, "coupled": False}  # display.decoupled: the picture at the camera's rate, or the dream's


def run_bench(config: Config, sizes=None, repeats: int = 10, seconds: float = 20.0, profile: bool = False,
              json_path: str | None = None, load: int = 0, startup: bool = False, demo_fps: int | None = None) -> dict:
    """The step table and the end-to-end run in both display modes; with `load`, both beside that many
    busy processes, and the end-to-end runs first without them, so the frame rates are of the same hour;
    with `startup`, how soon a new show shows a picture and a dream, with an empty cache and a filled one."""
    device = pick_device(config.network.device)
    spec = get_spec(config.network.name)
    objective = config.network.objective or spec.default_layer
    print(f"live-dream bench: {spec.name} {objective}; {describe_machine(device)}"
          + (f"; under load: {load} busy process(es) beside it" if load else ""))
    print(f"{'size':<10} {'backend':<22} {'median ms':>9} {'p95 ms':>9} {'vs eager fp32':>9}")
    with busy_neighbours(load):
        rows = bench_steps(config, sizes or SIZES, repeats)
    result = {"machine": describe_machine(device), "network": spec.name, "objective": objective, "load": load,
              "steps": rows}
    if load:
        result["end_to_end_quiet"] = {mode: end_to_end(with_mode(config, mode), seconds, profile, f"{mode}, quiet",
                                                       demo_fps)
                                      for mode in MODES}
    with busy_neighbours(load):
        result["end_to_end"] = {mode: end_to_end(with_mode(config, mode), seconds, profile,
                                                 mode + (f", beside {load} busy process(es)" if load else ""),
                                                 demo_fps)
                                for mode in MODES}
    print_modes(result["end_to_end"], result.get("end_to_end_quiet"))
    if load:
        result["fps_under_load_share"] = {mode: round(result["end_to_end"][mode]["fps"] / max(
            result["end_to_end_quiet"][mode]["fps"], 1e-9), 3) for mode in MODES}
    if startup:
        result["startup"] = {mode: start_up(config, mode) for mode in MODES}
        print_startup(result["startup"])
    if json_path:
        write_json(json_path, result)
        print(f"wrote {json_path}")
    return result


def with_mode(config: Config, mode: str) -> Config:
    return replace(config, display=replace(config.display, decoupled=MODES[mode]))


def print_modes(runs: dict, quiet: dict | None) -> None:
    print(f"{'mode':<10} {'fps':>6} {'dream Hz':>8} {'latency ms':>10} {'p95':>6} {'dream age':>9} {'longest gap':>11}"
          + (f" {'of quiet fps':>12}" if quiet else ""))
    for mode, r in runs.items():
        share = f" {r['fps'] / max(quiet[mode]['fps'], 1e-9):>12.0%}" if quiet else ""
        print(f"{mode:<10} {r['fps']:>6.1f} {r['dream_hz']:>8.1f} {r['latency_ms_median']:>10.1f} "
              f"{r['latency_ms_p95']:>6.1f} {r.get('dream_age_ms_median', r['latency_ms_median']):>9.1f} "
              f"{r['longest_gap_ms']:>11.1f}{share}")


def start_up(config: Config, mode: str, cold_seconds: float = 60.0, warm_seconds: float = 10.0) -> dict:
    """`live-dream run` as a user starts it (a new process, the demo source, headless), first with an
    empty models folder, left running until its backends are made, then again with that folder filled:
    seconds from launch to the first picture and to the first dreamed picture."""
    import tempfile
    live = config.live
    args = ["--headless", "--source", "demo", "--size", f"{live.width}x{live.height}",
            "--set", f"live.backend={live.backend}", "--set", f"display.decoupled={str(MODES[mode]).lower()}",
            "--set", f"network.name={config.network.name}"]
    figures = {}
    with tempfile.TemporaryDirectory(prefix="live-dream-startup-") as folder:
        env = {**os.environ, "LIVE_DREAM_MODELS": folder}
        for cache, seconds in (("cold", cold_seconds), ("warm", warm_seconds)):
            print(f"start-up ({mode}, {cache} cache): live-dream run for {seconds:.0f} s ...", flush=True)
            stats = Path(folder) / f"stats-{cache}.json"
            done = subprocess.run([sys.executable, "-m", "live.cli", "run", *args, "--seconds", str(seconds),
                                   "--stats-json", str(stats)], env=env, capture_output=True, text=True)
            if done.returncode != 0 or not stats.is_file():
                raise RuntimeError(f"the start-up run failed: {(done.stderr or '').strip()[-300:]}")
            summary = json.loads(stats.read_text())
            figures[cache] = {k: summary.get(k) for k in ("first_picture_s", "first_dream_s", "backend", "fps")}
    return figures


def print_startup(figures: dict) -> None:
    print(f"{'mode':<10} {'cache':<6} {'first picture s':>15} {'first dream s':>13}  backend at the end")
    for mode, caches in figures.items():
        for cache, f in caches.items():
            print(f"{mode:<10} {cache:<6} {f['first_picture_s'] or 0:>15.2f} {f['first_dream_s'] or 0:>13.2f}  "
                  f"{f['backend']}")


def end_to_end(config: Config, seconds: float, profile: bool, label: str, demo_fps: int | None = None) -> dict:
    """The live pipeline on the demo source, headless, with a control-latency probe."""
    live = config.live
    demo_fps = demo_fps or 60  # by default 60: the source does not cap the figure (a 30 fps camera would)
    print(f"end to end{' (' + label + ')' if label else ''}: demo source at {demo_fps} fps, headless, "
          f"{live.width}x{live.height}, {live.steps} step(s) per frame, backend {live.backend}, {seconds:.0f} s ...",
          flush=True)
    e2e_config = replace(config, capture=replace(config.capture, source="demo", fps=demo_fps),
                         display=replace(config.display, mode="headless"), record=replace(config.record, path=""))
    probe = ControlProbe()
    e2e_config = replace(e2e_config, control=replace(config.control, osc_port=probe.port, osc_host="127.0.0.1"))
    # measured from when the backends are made (start-up is the --startup figures' business)
    shows = []
    summary = run_live(e2e_config, RunOptions(seconds=seconds, profile=profile, observe=probe.frame_shown,
                                              settle=True), watch=shows.append)
    summary["control_latency"] = probe.figures()
    summary["metrics_scrape_ms"] = scrape_ms(shows[0])
    print(f"GET /metrics: {summary['metrics_scrape_ms']} ms of the show's time per scrape (median of 200)")
    c = summary["control_latency"]
    if c["messages"]:
        print(f"control latency (OSC /live-dream/mix -> first frame shown with it): median {c['median_ms']} ms, "
              f"p95 {c['p95_ms']} ms over {c['messages']} messages; frame time median {c['frame_ms']} ms")
    if profile:
        print(f"{'stage':<12} {'median ms':>9} {'p95 ms':>9}  (one frame; capture, dream and display overlap)")
        for stage, figures in summary["profile"].items():
            print(f"{stage:<12} {figures['median_ms']:>9.2f} {figures['p95_ms']:>9.2f}")
    return summary


def scrape_ms(show, scrapes: int = 200) -> float:
    """What one /metrics scrape costs the show (the exposition, as the HTTP thread makes it), in ms."""
    from live.show.metrics import exposition
    generate = exposition(show, show.name)
    times = []
    for _ in range(scrapes):
        t0 = time.perf_counter()
        generate()
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 3)


class ControlProbe:
    """Control latency: sends an OSC /live-dream/mix value twice a second to the running show and times
    each to the first frame shown with it."""

    def __init__(self):
        import socket
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.sent: dict[float, float] = {}  # value -> when it was sent
        self.latencies: list[float] = []
        self.shown_at: list[float] = []
        self._thread = None
        self._stop = threading.Event()

    def frame_shown(self, state, now: float, item=None) -> None:
        self.shown_at.append(now)
        if self._thread is None:  # frames flow: start sending
            self._thread = threading.Thread(target=self._send, name="control-probe", daemon=True)
            self._thread.start()
        sent = self.sent.pop(round(state.mix, 3), None)
        if sent is not None:
            self.latencies.append(now - sent)

    def _send(self) -> None:
        from pythonosc.udp_client import SimpleUDPClient
        client = SimpleUDPClient("127.0.0.1", self.port)
        i = 0
        while not self._stop.is_set():
            value = round(0.5 + 0.01 * (i % 40 + 1), 3)  # never the same value twice in a row
            self.sent = {value: time.perf_counter()}  # an unanswered value is dropped, not counted late
            client.send_message("/live-dream/mix", value)
            i += 1
            self._stop.wait(0.5)

    def figures(self) -> dict:
        self._stop.set()
        ms = [1000 * t for t in self.latencies]
        frames = [1000 * (b - a) for a, b in zip(self.shown_at, self.shown_at[1:])]
        if not ms:
            return {"messages": 0}
        return {"messages": len(ms), "median_ms": round(statistics.median(ms), 1), "p95_ms": round(p95(ms), 1),
                "frame_ms": round(statistics.median(frames), 1) if frames else None}
