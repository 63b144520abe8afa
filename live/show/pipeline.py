"""`live-dream run`: source -> capture thread -> dream worker thread -> outputs (window, recorder).

The main thread owns the show: it shows frames, reads the window's keys and applies every action on
the control bus. Each stage keeps only its newest item. Everything opened is registered in one
ExitStack, so shutdown, whatever the cause (a key, the window closing, a signal, the source ending or
failing), closes it all in reverse order: threads joined, camera released, recording finished.
"""
from __future__ import annotations

import datetime as dt
import logging
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Callable

import numpy as np

from live.config import Config
from live.control.actions import Action
from live.control import beat
from live.control.bus import ControlBus
from live.control.state import ShowState, Status, blended, with_scene
from live.control.audio import AudioInput
from live.control.link import LinkClock
from live.control.midi import MidiInput, MidiMap
from live.control.osc import OscInput, OscStatus
from live.control.web import WebControl, check_binding
from live.dream.composite import compose, dimmed, faded_into, framed_camera
from live.dream.quality import PictureMeter, format_figures
from live.errors import UserError
from live.core.files import check_output, write_json
from live.outputs import wanted as wanted_outputs
from live.outputs.snapshots import write_snapshot
from live.outputs.window import screen_available
from live.core.profiling import Profile
from live.control.schedule import OpeningHours, ShowClock
from live.show.service import SystemdNotifier
from live.show.capture import CaptureThread
from live.control.scenes import parse_scene
from live.backends.dreamer import build_dreamer, presets_for
from live.show.memory import ShowMemory
from live.sources.resilient import ResilientSource
from live.show.slots import LatestSlot
from live.show.stats import RunStats, format_summary
from live.show.tuner import Setting, Tuner, ladder
from live.show.worker import DreamWorker
from live.sources import RECONNECT_SECONDS, Source, SourceRequest, source_kind
from live.core.stopping import StopSignals, stop_requested

log = logging.getLogger("live-dream")
# Each torch op and OpenCV call releases the GIL and must then win it back; with Python's default 5 ms
# switch interval a busy capture thread makes the dream worker wait in that queue. 0.5 ms: +0.7 fps
# end to end on a 2-core CPU (4 interleaved runs each, both backends).
SWITCH_INTERVAL_S = 0.0005
BLACKOUT_FADE_S = 1.0  # blackout fades to black (and back) over this long


@dataclass(frozen=True)
class RunOptions:
    seconds: float | None = None
    frames: int | None = None
    fast: bool = False
    measure: bool = False
    stats_json: str | None = None
    profile: bool = False
    # told of each frame shown: (state, time.perf_counter(), the worker's Frame) (the bench's probe, the soak)
    observe: Callable[[ShowState, float, object], None] | None = None
    now: dt.datetime | None = None  # read the opening hours as if it were this moment now (--now)
    faults: object | None = None  # the soak's fault plan: wraps the source opener and the dreamer


def build_tuner(config: Config) -> Tuner | None:
    t, live = config.tuning, config.live
    if t.target_fps <= 0:
        return None
    rungs = ladder(live.width / live.height, t.min_width, max(t.min_width, t.max_width), t.min_steps,
                   max(t.min_steps, t.max_steps), live.steps)
    return Tuner(rungs, Setting(live.width, live.height, live.steps), t.target_fps)


def run_live(config: Config, options: RunOptions, watch: Callable[["Show"], None] | None = None) -> dict:
    """`watch` is handed the show before it starts (the soak looks at its source and worker)."""
    with StopSignals() as signals:  # until the summary is written: a second signal cannot cut it short
        show = Show(config, options)
        if watch:
            watch(show)
        with ExitStack() as stack:
            show.start(stack)
            signals.frames_flowing()
            show.run()
        return show.finish()


class Show:
    """One run of the installation: what it opened, the control bus, and the figures it keeps."""

    def __init__(self, config: Config, options: RunOptions):
        self.config, self.options = config, options
        mode = config.display.mode
        headless = mode == "headless" or (mode == "auto" and not screen_available())
        if headless and mode == "auto":
            log.info("no screen: running headless%s", "" if config.record.path else " (add --record FILE to keep the output)")
        # Every output is checked before the network and camera start; none is created before the first frame.
        inputs = (config.capture.source, config.network.guide)
        if options.stats_json:
            check_output(options.stats_json, "write", inputs=inputs)
        self.outputs = wanted_outputs(config, headless, realtime=not options.fast, inputs=inputs)
        self.window = next((o for o in self.outputs if o.name == "window"), None)
        self.recorder = next((o for o in self.outputs if o.name == "recorder"), None)
        self.stats, self.profile = RunStats(), Profile(options.profile)
        self.meter = PictureMeter() if options.measure else None
        self.interrupted = self.quit = False
        control = config.control
        if control.http_port:  # before anything starts: a binding that needs a token is one line at once
            check_binding(control.http_host, control.token)
        self.status_out = OscStatus(control.status_to) if control.status_to else None
        self.presets = tuple(presets_for(config))
        for preset in self.presets:  # a bad scene is one line before anything starts
            parse_scene(preset)
        m = config.midi  # the mapping is checked before anything starts; the port is opened in start()
        learned = "" if config.installation.enabled else m.learned_file  # installation mode writes no file
        self.midi_map, self.midi = (MidiMap(m.cc, m.notes, learned) if m.port else None), None
        self.audio = self.link = None
        self.systemd, self.next_watchdog, self.ready = SystemdNotifier(), 0.0, False
        installation = config.installation
        self.unattended = installation if installation.enabled else None
        self.hours, self.clock = OpeningHours(config.schedule.hours), ShowClock()
        self.memory = ShowMemory() if installation.enabled and installation.resume else None
        self.is_open, self.closing, self.fade_s = True, False, BLACKOUT_FADE_S
        self.next_schedule_check = self.next_black_frame = 0.0
        self.started, self.light, self.last_shown = time.monotonic(), 1.0, None
        self.next_status = time.monotonic() + 1.0
        self._health: dict = {}
        self.preset_changes, self.last_seq, self.last_image, self.saved = 0, 0, None, None
        self.capture: CaptureThread | None = None

    def start(self, stack: ExitStack) -> None:
        c, live = self.config.capture, self.config.live
        # The source first: a missing file or camera is one line at once, not after the network is ready.
        self.source = self._open_source()
        stack.callback(self._close_source)
        self.dreamer = build_dreamer(self.config)
        if self.options.faults:
            self.dreamer = self.options.faults.dreamer(self.dreamer)
        # the first scene's numbers hold from the start
        self.bus = ControlBus(with_scene(ShowState(presets=self.presets, max_steps=live.max_steps, steps=live.steps,
                                                   crossfade_seconds=live.crossfade_seconds, bpm=self.config.beat.bpm)),
                              check_objective=self.dreamer.check_objective)
        if self.memory:
            self.memory.restore(self.bus)
        self.tuner = build_tuner(self.config)
        inbox, self.outbox = LatestSlot(), LatestSlot()
        self.capture = CaptureThread(self.source, inbox, mirror=c.mirror and self.source.faces_visitors, profile=self.profile)
        self.worker = DreamWorker(self.dreamer, self.config.temporal, (live.width, live.height), inbox,
                                  self.outbox, self.bus, self.tuner, self.profile,
                                  strength_pulse=lambda state: self.pulse("strength", state),
                                  unattended=self.unattended, source_ok=self._source_ok)
        log.info("source: %s; dreaming %s at %dx%d, %d step(s) per frame, backend %s", self.source.description,
                 self.dreamer.spec.name, live.width, live.height, live.steps, self.worker.status.backend)
        for output in self.outputs:
            output.open()
            stack.callback(self._close_output, output)
        previous_switch = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        stack.callback(sys.setswitchinterval, previous_switch)
        self.capture.start()
        stack.callback(self.capture.stop)
        self.worker.start()
        stack.callback(self.worker.stop)  # (callbacks run in reverse: worker, capture, outputs, source)
        self._health = self.health_now()
        control = self.config.control
        if control.osc_port:
            stack.callback(OscInput(self.bus, control.osc_host, control.osc_port).start().close)
        if self.config.beat.link:
            self.link, self.link_bpm = LinkClock(self.config.beat.bpm), self.config.beat.bpm
            stack.callback(self.link.close)
        a = self.config.audio
        if a.device:
            self.audio = AudioInput(a.device, a.band, a.attack, a.release)
            stack.callback(self.audio.close)
        if self.midi_map:
            self.midi = MidiInput(self.bus, self.midi_map, self.config.midi.port).start()
            stack.callback(self.midi.close)
        if control.http_port:
            stack.callback(WebControl(self.bus, self.health, control.http_host, control.http_port,
                                      control.token).start().close)
        self.deadline = time.monotonic() + self.options.seconds if self.options.seconds else None
        self.next_cycle = time.monotonic() + live.cycle_seconds
        if self.options.now:  # --now: the moment the show starts, now that it is ready (exports can take a while)
            self.clock = ShowClock(self.options.now)
        if not self.hours.is_open(self.clock.now()):
            self.is_open = False
            self._go_to_sleep()

    def _open_source(self) -> Source:
        """The source; unattended or with opening hours, wrapped so that it never gives up (and can be
        closed while the show is)."""
        c, faults = self.config.capture, self.options.faults
        resilient = self.unattended or not self.hours.always_open
        # unattended, 'auto' is the camera: a camera missing for a moment must not become the demo for good
        spec = "camera:0" if resilient and c.source == "auto" else c.source
        kind = source_kind(spec)
        request = SourceRequest(c.width, c.height, c.fps, self.options.fast, c.loop,
                                reconnect_seconds=0 if resilient else RECONNECT_SECONDS)

        def opener() -> Source:
            source = kind.build(spec, request)
            return faults.source(source) if faults else source
        if not resilient:
            return opener()
        i = self.config.installation
        # a camera may be missing at boot (it is waited for); a file that cannot be read is a mistake to say now
        return ResilientSource(opener, spec, first=None if kind.device else opener(), device=kind.device,
                               faces_visitors=kind.faces_visitors, stale_seconds=i.stale_seconds,
                               max_backoff=i.reconnect_max_seconds)

    def _close_source(self) -> None:
        """Exactly once, after the capture thread stopped; never under a read stuck in a driver."""
        if self.capture is None or not self.capture.reading:
            self.source.close()

    @property
    def asleep(self) -> bool:
        """Closed: the worker dreams nothing and the camera is closed."""
        return self.worker.asleep.is_set()

    def _source_ok(self) -> bool:
        return self.source.state == "ok"

    def run(self) -> None:
        """The main loop: show the newest dream, apply the controls, until something ends the show."""
        try:
            while not self.ended():
                item = self.outbox.get_newer(self.last_seq, timeout=0.02)
                if item is not None:
                    self.present(item)
                elif self.outbox.closed:  # the source ended or a stage failed
                    break
                elif self.asleep and time.monotonic() >= self.next_black_frame:
                    self.present_closed()
                self.control()
        except KeyboardInterrupt:  # a signal before frames flowed
            self.interrupted = True

    def ended(self) -> bool:
        if stop_requested():
            self.interrupted = True
        frames = self.options.frames and self.stats.shown >= self.options.frames
        late = self.deadline and time.monotonic() >= self.deadline
        lost_only_output = self.recorder and self.recorder.error and not self.window  # headless, nothing to show
        return bool(self.interrupted or self.quit or frames or late or lost_only_output)

    def present(self, item) -> None:
        """One dreamed frame to every output, upscaled once to the first output's size."""
        self.last_seq = item.seq
        with self.profile.stage("upscale"):  # the composite, once, at the first output's size
            size = self.outputs[0].size if self.outputs else item.image.shape[1::-1]
            state = self.bus.state
            mix = blended(state, time.monotonic())[1]
            shown = compose(item.image, item.source_image, item.camera_image, size, self.config.display.composite,
                            mix * self.pulse("mix", state))
            if item.attract is not None:  # fading into (or out of) the attract loop
                shown = faded_into(shown, item.attract, item.attract_weight)
            shown = dimmed(shown, self._light(state.blackout or self.closing))
        if self.closing and self.light <= 0.0:
            self._go_to_sleep()
        self.last_image = shown
        status = self.status()
        with self.profile.stage("display"):
            for output in self.outputs:
                if not output.error:
                    output.send(shown, status)
                    if output.error:
                        log.error("%s stopped: %s%s", output.name, output.error,
                                  "; the show goes on" if self.window and output is not self.window else "")
        self.stats.frame_shown(item.t_captured)
        self._health = self.health_now(status)
        self._tell_systemd(status)
        if self.options.observe:
            self.options.observe(state, time.perf_counter(), item)
        if self.meter:
            self.meter.add(shown, framed_camera(item.camera_image, item.source_image, item.image.shape[1::-1],
                                                shown.shape[1::-1]))

    def control(self) -> None:
        """Keys and the preset timer post actions; the bus applies them; this carries out the effects."""
        cycle = self.config.live.cycle_seconds
        for action in (a for output in self.outputs for a in output.poll()):
            self.bus.post(action)
            if action.name in ("next", "prev", "preset"):
                self.next_cycle = time.monotonic() + cycle  # a chosen preset gets its full time
        if cycle and time.monotonic() >= self.next_cycle:
            self.bus.post(Action("next", source="timer"))
            self.preset_changes += 1
            self.next_cycle = time.monotonic() + cycle
        for effect in self.bus.apply_pending():
            if effect.name == "quit":
                self.quit = True
            elif effect.name == "learn":
                try:
                    self.midi.mapping.learn(effect.value) if self.midi else log.warning(
                        "learn ignored: no MIDI input (set midi.port or --midi PORT)")
                except ValueError as exc:
                    log.warning("learn ignored: %s", exc)
            elif effect.name == "snapshot" and self.config.installation.enabled:
                log.warning("snapshot ignored: installation mode keeps nothing of its visitors")
            elif effect.name == "snapshot" and self.last_image is not None:
                try:
                    log.info("snapshot: %s", write_snapshot(self.config.record.snapshot_dir, self.last_image))
                except UserError as exc:  # a snapshot that cannot be written must not end the show
                    log.error("snapshot not saved: %s", exc)
        if self.link:
            self._follow_link()
        now = time.monotonic()
        if now >= self.next_schedule_check:
            self._follow_schedule()
            self.next_schedule_check = now + 1.0
        if self.memory:
            self.memory.keep(self.bus.state, now)
        if self.status_out and time.monotonic() >= self.next_status:
            self.status_out.send(self.health())
            self.next_status = time.monotonic() + 1.0

    def pulse(self, parameter: str, state: ShowState) -> float:
        """The beat's and the audio's factor on `parameter` now (1 unless they drive it)."""
        b, a = self.config.beat, self.config.audio
        factor = (beat.factor(state, time.monotonic(), self.started, b.shape, b.depth,
                              self.link.phase() if self.link else None) if b.pulse == parameter else 1.0)
        if self.audio and a.modulate == parameter:
            factor *= self.audio.factor(a.depth)
        return factor

    def _tell_systemd(self, status: Status) -> None:
        """READY with the first frame shown; then, from here only (frames are being shown), the watchdog."""
        now = time.monotonic()
        if not self.ready:
            self.systemd.notify("READY=1")
            self.ready = True
        if now >= self.next_watchdog:
            self.systemd.notify(f"WATCHDOG=1\nSTATUS={status.fps:.1f} fps, latency {status.latency_ms:.0f} ms, "
                                f"{self.bus.state.objective}")
            self.next_watchdog = now + 1.0

    def _follow_link(self) -> None:
        """A tempo set here (tap, OSC, the page) goes to the Link session; one set by a peer comes here."""
        bpm = self.bus.state.bpm
        if bpm != self.link_bpm:
            self.link.tempo = self.link_bpm = bpm
        elif abs(self.link.tempo - bpm) > 0.01:
            self.link_bpm = round(self.link.tempo, 2)
            self.bus.post(Action("bpm", self.link_bpm, source="link"))

    def _light(self, dark: bool) -> float:
        """The fade to black (blackout, closing time): the light moves towards 0 (dark) or 1 by the time
        since the last frame."""
        now = time.monotonic()
        step = (0.0 if self.last_shown is None else (now - self.last_shown) / self.fade_s if self.fade_s else 1.0)
        self.last_shown = now
        self.light = max(self.light - step, 0.0) if dark else min(self.light + step, 1.0)
        if self.light >= 1.0:
            self.fade_s = BLACKOUT_FADE_S
        return self.light

    def _follow_schedule(self) -> None:
        """Closing time: fade to black, then sleep (no dreaming, the camera closed); opening: wake up."""
        is_open = self.hours.is_open(self.clock.now())
        if is_open == self.is_open:
            return
        self.is_open = is_open
        self.fade_s = self.config.schedule.fade_seconds
        if not is_open:
            log.info("closing time (%s): fading to black, then the camera closes", self.clock.now().strftime("%a %H:%M"))
            self.closing = True
            if self.stats.shown == 0 or self.light <= 0.0:
                self._go_to_sleep()
        else:
            log.info("opening time (%s): the camera opens and the dream comes back",
                     self.clock.now().strftime("%a %H:%M"))
            self.closing = False
            self.light, self.last_shown = 0.0, None  # the light comes up from black from the first frame on
            self.worker.asleep.clear()
            self.source.resume()

    def _go_to_sleep(self) -> None:
        self.closing, self.light = True, 0.0
        self.worker.asleep.set()
        self.source.suspend()
        log.info("closed: not dreaming, camera closed, until the next opening time")

    def present_closed(self) -> None:
        """Closed: a black frame once a second keeps the outputs alive and the watchdog fed (the display
        loop is alive; nothing is being dreamed)."""
        self.next_black_frame = time.monotonic() + 1.0
        size = self.outputs[0].size if self.outputs else self.worker.size
        black = np.zeros((size[1], size[0], 3), np.uint8)
        for output in self.outputs:
            if not output.error:
                output.send(black, self.status())
        self.last_image = None
        self._health = self.health_now()
        self._tell_systemd(self.status())

    def health(self) -> dict:
        """Any thread (the HTTP server's): the snapshot taken at the last frame shown, with the time now
        and the source's state as of now (while a camera is away no frame may be coming to update it)."""
        if not self._health:
            return {"uptime_s": round(time.monotonic() - self.started, 1)}
        return {**self._health, **self._source_health(), "uptime_s": round(time.monotonic() - self.started, 1)}

    def _source_health(self) -> dict:
        """ok, source and reconnects, as of now."""
        capture = self.capture
        error = capture.error or self.worker.error
        source = ("failed" if capture.error else "ended" if capture.ended.is_set()
                  else self.source.state)
        return {"ok": error is None and source in ("ok", "closed") and not self.worker.failures_in_a_row,
                "source": source, "reconnects": self.source.reconnects}

    def health_now(self, status: Status | None = None) -> dict:
        """Main thread: what /health and the OSC status say, as of now."""
        state, worker = self.bus.state, self.worker.status
        error = self.capture.error or self.worker.error
        return {
            **self._source_health(), "fps": round(status.fps if status else 0.0, 2),
            "latency_ms": round(status.latency_ms if status else 0.0, 1), "frames_shown": self.stats.shown,
            "backend": worker.backend, "preset": state.preset + 1, "presets": len(state.presets),
            "objective": state.objective, "strength": round(state.strength, 3), "mix": round(state.mix, 3),
            "steps": state.steps, "frozen": state.frozen, "blackout": state.blackout, "bpm": state.bpm,
            "crossfade_seconds": state.crossfade_seconds, "last_error": error or self.worker.last_failure,
            "link_peers": self.link.peers if self.link else None, "open": self.is_open,
            "attract": round(self.worker.attract.weight, 2) if self.worker.attract else None,
            "healing": self.worker.healing,
        }

    def status(self) -> Status:
        state, worker = self.bus.state, self.worker.status
        return Status(self.stats.recent_fps(), self.stats.recent_latency_ms(), worker.frame_ms, worker.size,
                      state, self.dreamer.spec.name, state.objective, worker.backend,
                      self.tuner.target if self.tuner else None)

    def _close_output(self, output) -> None:
        kept = output.close()
        if output is self.recorder:
            self.saved = kept

    def finish(self) -> dict:
        """The run's figures, printed and written; the reason as a UserError if a stage failed."""
        self.systemd.notify("STOPPING=1")
        self.systemd.close()
        if self.memory:
            self.memory.keep(self.bus.state, force=True)
        options, state, recorder = self.options, self.bus.state, self.recorder
        summary = self.stats.summary(self.capture.captured, self.worker.dreamed)
        summary.update(network=self.dreamer.spec.name, objective=state.objective,
                       dream_size=list(self.worker.size), steps=state.steps, strength=round(state.strength, 3),
                       frozen=state.frozen, device=str(self.dreamer.device), backend=self.worker.status.backend,
                       timed_preset_changes=self.preset_changes, interrupted=self.interrupted,
                       skipped_frames=self.worker.failed, nonfinite_resets=self.worker.resets)
        if self.tuner:
            summary.update(target_fps=self.tuner.target, tuning_changes=self.tuner.changes)
        if options.profile:
            summary["profile"] = self.profile.summary()
        print(format_summary(summary))
        if self.meter:
            summary.update(self.meter.figures())
            print(format_figures(self.meter.figures()))
        if self.saved and not recorder.error:
            print(f"wrote {self.saved}")
        if self.interrupted:
            print("interrupted: stopped cleanly")
        if options.stats_json:
            write_json(options.stats_json, summary)
        if recorder and recorder.error:
            kept = (f"the first {recorder.seconds:.1f} s ({recorder.frames} frames) are in {self.saved}"
                    if self.saved else "nothing was recorded")
            raise UserError(f"recording failed: {recorder.error}; {kept}")
        error = self.capture.error or self.worker.error
        if error:
            raise UserError(error + (f"; the recording up to then is in {self.saved}" if self.saved else ""))
        if self.capture.ended.is_set() and not self.config.capture.loop:
            print(f"source ended: {self.source.description}")
        return summary
