"""`live-dream run`: source -> capture thread -> dream worker thread -> renderer / recorder.

The main thread shows frames and handles keys; each stage keeps only its newest item. Shutdown,
whatever the cause (a key, the window closing, Ctrl-C, the source ending or failing), goes through
one `finally`: threads joined, camera released, recording finished and moved into place.
"""
from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, replace

import numpy as np
from tqdm import tqdm

from .config import Config
from .engine import check_dream_size, load_guide, pick_device
from .errors import UserError
from .flow import FlowEstimator, flicker
from .render import Renderer, screen_available
from .sinks import VideoRecorder, write_snapshot
from .slots import LatestSlot
from .sources import CameraSource, open_source
from .stats import RunStats, format_summary
from .files import check_output, write_json
from .stopping import StopSignals, stop_requested
from .capture import CaptureThread
from .profiling import Profile
from .tuning import Setting, Tuner, ladder
from .imageio import fit_cover
from .worker import Controls, Dreamer, DreamWorker
from .zoo import build_network, get_spec

log = logging.getLogger("live-dream")
MEASURE_MAX_FRAMES = 3000  # --measure keeps frames in memory; this bounds it (~0.7 GB at 320x240)
# Each torch op and OpenCV call releases the GIL and must then win it back; with Python's default 5 ms
# switch interval a busy capture thread makes the dream worker wait in that queue. 0.5 ms: +0.7 fps
# end to end on a 2-core CPU (4 interleaved runs each, both backends).
SWITCH_INTERVAL_S = 0.0005


@dataclass(frozen=True)
class RunOptions:
    seconds: float | None = None
    frames: int | None = None
    fast: bool = False
    measure: bool = False
    stats_json: str | None = None
    profile: bool = False


def presets_for(config: Config) -> list[str]:
    """The objective from [network] (if any) first, then the [live] presets."""
    first = [config.network.objective] if config.network.objective else []
    return first + [p for p in config.live.presets if p not in first]


def build_dreamer(config: Config) -> Dreamer:
    """The network with its presets, each preset's backend ready (exports and measurements happen here)."""
    spec = get_spec(config.network.name)
    guide = load_guide(config.network.guide) if config.network.guide else None
    device = pick_device(config.network.device)
    live = config.live
    check_dream_size((live.width, live.height), device)
    dreamer = Dreamer(spec, build_network(spec, config.network.weights or None).to(device), presets_for(config),
                      replace(config.dream, step_size=live.step_size), device, guide, config.dream.seed,
                      backend=live.backend, precision=live.precision)
    size = (live.width, live.height)
    for i in tqdm(range(len(dreamer.objectives)), desc="preparing presets", unit="preset", leave=False):
        dreamer.run(np.zeros((size[1], size[0], 3), np.float32), i, max(1, live.steps), 0.0)
    dreamer.backend(0, size, max(1, live.steps))  # so backend_name is the first preset's, not the last warmed
    dreamer.live = True
    return dreamer


def build_tuner(config: Config) -> Tuner | None:
    t, live = config.tuning, config.live
    if t.target_fps <= 0:
        return None
    rungs = ladder(live.width / live.height, t.min_width, max(t.min_width, t.max_width), t.min_steps,
                   max(t.min_steps, t.max_steps), live.steps)
    return Tuner(rungs, Setting(live.width, live.height, live.steps), t.target_fps)


class _Stop(Exception):
    pass


def run_live(config: Config, options: RunOptions) -> dict:
    with StopSignals() as signals:  # until the summary is written: a second signal cannot cut it short
        return _run_live(config, options, signals)


def _run_live(config: Config, options: RunOptions, signals: StopSignals) -> dict:
    headless = config.display.mode == "headless" or (config.display.mode == "auto" and not screen_available())
    if headless and config.display.mode == "auto":
        log.info("no screen: running headless%s", "" if config.record.path else " (add --record FILE to keep the output)")
    c, live = config.capture, config.live
    inputs = (c.source, config.network.guide)
    # Every output is checked before the network and camera start; none is created before the first frame.
    if options.stats_json:
        check_output(options.stats_json, "write", inputs=inputs)
    recorder = None
    if config.record.path:
        recorder = VideoRecorder(config.record.path, config.record.fps, (config.record.width, config.record.height),
                                 realtime=not options.fast, inputs=inputs)
    # The source first: a missing file or camera is one line at once, not after the network is ready.
    source = open_source(c.source, width=c.width, height=c.height, fps=c.fps, fast=options.fast, loop=c.loop)
    try:
        dreamer = build_dreamer(config)
    except BaseException:
        source.close()
        raise
    log.info("source: %s; dreaming %s at %dx%d, %d step(s) per frame, backend %s", source.description,
             dreamer.spec.name, live.width, live.height, live.steps, dreamer.backend_name)

    inbox, outbox = LatestSlot(), LatestSlot()
    controls = Controls(steps=live.steps)
    profile = Profile(options.profile)
    tuner = build_tuner(config)
    capture = CaptureThread(source, inbox, mirror=c.mirror and isinstance(source, CameraSource), profile=profile)
    worker = DreamWorker(dreamer, config.temporal, (live.width, live.height), inbox, outbox, controls, tuner,
                         profile)
    renderer = None
    preset_changes = 0
    stats = RunStats()
    measured: list[tuple[np.ndarray, np.ndarray]] = []
    interrupted = False
    previous_switch = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        renderer = None if headless else Renderer(config.display)
        capture.start()
        worker.start()
        signals.frames_flowing()
        last_seq, last_image, preset_changes = 0, None, 0
        deadline = time.monotonic() + options.seconds if options.seconds else None
        next_cycle = time.monotonic() + live.cycle_seconds
        while True:
            if stop_requested():
                interrupted = True
                break
            item = outbox.get_newer(last_seq, timeout=0.02)
            if item is not None:
                last_seq, last_image = item.seq, item.image
                with profile.stage("upscale"):  # once, to the screen's size (or the recording's)
                    shown = fit_cover(item.image, renderer.size if renderer else recorder.size if recorder
                                      else item.image.shape[1::-1])
                with profile.stage("display"):
                    if renderer:
                        renderer.show(shown, hud_lines(config, dreamer, controls, stats, worker))
                    if recorder and not recorder.error:
                        recorder.write(shown)
                        if recorder.error:
                            log.error("recording stopped: %s%s", recorder.error,
                                      "; the show goes on" if renderer else "")
                            if not renderer:  # headless: the recording was the only output
                                break
                stats.frame_shown(item.t_captured)
                if options.measure and len(measured) < MEASURE_MAX_FRAMES:
                    measured.append((item.image, item.source_image))
                if options.frames and stats.shown >= options.frames:
                    break
            for action in renderer.poll() if renderer else []:
                if action == "quit":
                    raise _Stop
                apply_action(action, controls, config, len(dreamer.objectives), last_image)
                if action in ("next", "previous"):
                    next_cycle = time.monotonic() + live.cycle_seconds  # a chosen preset gets its full time
            if live.cycle_seconds and time.monotonic() >= next_cycle:
                apply_action("next", controls, config, len(dreamer.objectives), last_image)
                preset_changes += 1
                next_cycle = time.monotonic() + live.cycle_seconds
            if deadline and time.monotonic() >= deadline:
                break
            if item is None and outbox.closed:  # the source ended or a stage failed
                break
    except _Stop:
        pass
    except KeyboardInterrupt:  # a signal before frames flowed
        interrupted = True
    finally:
        sys.setswitchinterval(previous_switch)
        capture.stop()
        worker.stop()
        if renderer:
            renderer.close()
        saved = recorder.close() if recorder else None

    summary = stats.summary(capture.captured, worker.dreamed)
    summary.update(network=dreamer.spec.name, objective=str(dreamer.objectives[controls.preset]),
                   dream_size=list(worker.size), steps=controls.steps, strength=round(controls.strength, 3),
                   frozen=controls.frozen, device=str(dreamer.device), backend=dreamer.backend_name,
                   timed_preset_changes=preset_changes, interrupted=interrupted, skipped_frames=worker.failed,
                   nonfinite_resets=worker.resets)
    if tuner:
        summary.update(target_fps=tuner.target, tuning_changes=tuner.changes)
    if options.profile:
        summary["profile"] = profile.summary()
    print(format_summary(summary))
    if options.measure and len(measured) > 1:
        out_flicker, in_flicker = flicker([o for o, _ in measured], [i for _, i in measured], FlowEstimator("dis"))
        summary.update(flicker_output=round(out_flicker, 3), flicker_input=round(in_flicker, 3))
        print(f"flicker (mean |frame - previous frame warped by the input's flow|, 8-bit levels): "
              f"output {out_flicker:.2f}, input {in_flicker:.2f}")
    if saved and not (recorder and recorder.error):
        print(f"wrote {saved}")
    if interrupted:
        print("interrupted: stopped cleanly")
    if options.stats_json:
        write_json(options.stats_json, summary)
    if recorder and recorder.error:
        kept = (f"the first {recorder.seconds:.1f} s ({recorder.frames} frames) are in {saved}" if saved
                else "nothing was recorded")
        raise UserError(f"recording failed: {recorder.error}; {kept}")
    if capture.error or worker.error:
        raise UserError((capture.error or worker.error) + (f"; the recording up to then is in {saved}" if saved else ""))
    if capture.ended.is_set() and not c.loop:
        print(f"source ended: {source.description}")
    return summary


def hud_lines(config: Config, dreamer: Dreamer, controls: Controls, stats: RunStats, worker: DreamWorker) -> list[str]:
    objective = dreamer.objectives[controls.preset % len(dreamer.objectives)]
    tuning = f"   auto -> {worker.tuner.target:.0f} fps" if worker.tuner else ""
    return [
        f"{stats.recent_fps():5.1f} fps   latency {stats.recent_latency_ms():4.0f} ms   frame {worker.frame_ms:4.0f} ms",
        f"dream {worker.size[0]}x{worker.size[1]}   {controls.steps} step(s)   strength {controls.strength:.2f}"
        + tuning + ("   FROZEN" if controls.frozen else ""),
        f"{dreamer.spec.name}: {objective}   (preset {controls.preset % len(dreamer.objectives) + 1}/"
        f"{len(dreamer.objectives)})",
        f"backend: {dreamer.backend_name}",
    ]


def apply_action(action: str, controls: Controls, config: Config, presets: int, last_image) -> None:
    """A key's effect on the running dream."""
    if action == "next":
        controls.preset = (controls.preset + 1) % presets
    elif action == "previous":
        controls.preset = (controls.preset - 1) % presets
    elif action == "stronger":
        controls.strength = min(controls.strength * 1.25, 8.0)
    elif action == "weaker":
        controls.strength = max(controls.strength / 1.25, 0.05)
    elif action == "more_steps":
        controls.steps = min(controls.steps + 1, config.live.max_steps)
    elif action == "fewer_steps":
        controls.steps = max(controls.steps - 1, 0)
    elif action == "freeze":
        controls.frozen = not controls.frozen
    elif action == "snapshot" and last_image is not None:
        try:
            log.info("snapshot: %s", write_snapshot(config.record.snapshot_dir, last_image))
        except UserError as exc:  # a snapshot that cannot be written must not end the show
            log.error("snapshot not saved: %s", exc)
