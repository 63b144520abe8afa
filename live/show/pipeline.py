"""`live-dream run`: source -> capture thread -> dream worker thread -> outputs (window, recorder).

The main thread owns the show: it shows frames, reads the window's keys and applies every action on
the control bus. Each stage keeps only its newest item. Everything opened is registered in one
ExitStack, so shutdown, whatever the cause (a key, the window closing, a signal, the source ending or
failing), closes it all in reverse order: threads joined, camera released, recording finished.
"""
from __future__ import annotations

import datetime as dt
import logging
import socket
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Callable

import numpy as np

from live.config import Config
from live.control.actions import Action
from live.control.bus import ControlBus
from live.control.state import ShowState, Status, blended, with_scene
from live.control.midi import MidiInput, MidiMap
from live.control.osc import OscInput
from live.control.fleet import Announcer
from live.control.web import WebControl, check_binding, is_loopback
from live.dream.composite import compose, faded_into, framed_camera
from live.dream.quality import PictureMeter, format_figures
from live.errors import UserError
from live.core.files import check_output, write_json
from live.outputs import wanted as wanted_outputs
from live.outputs.snapshots import write_snapshot
from live.outputs.window import screen_available
from live.core.profiling import Profile
from live.control.schedule import OpeningHours
from live.show.capture import CaptureThread
from live.show.health import Health, snapshot
from live.show.between import BetweenDreams
from live.show.light import Light
from live.show.modulation import Modulation
from live.control.scenes import parse_scene
from live.backends.dreamer import build_dreamer, presets_for
from live.backends.engine import check_dream_size, objective_checker
from live.backends.devices import pick_device
from live.dream.zoo import get_spec
from live.show.memory import ShowMemory
from live.show.metrics import exposition
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
# Decoupled, the watchdog is fed only while dreams keep coming: a hung worker must still be restarted.
# A slow dream (a second or more per frame) feeds it between its gaps, far inside WatchdogSec (30 s).
DREAM_ALIVE_S = 1.0
SETTLE_S = 120.0  # RunOptions.settle waits at most this long for the backends (a trial never shown waits for ever)


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
    pictures: Callable[[float], None] | None = None  # told time.perf_counter() of each picture shown (its pace)
    now: dt.datetime | None = None  # read the opening hours as if it were this moment now (--now)
    faults: object | None = None  # the soak's fault plan: wraps the source opener and the dreamer
    # the bench: the figures (and `seconds`) count from when every backend in use is made, not from start-up
    settle: bool = False


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


@dataclass
class Stages:
    """What `start` opens, in order: the source, the control bus, the capture thread and the dream worker
    (which loads the dreamer first), with the slots between them."""
    source: Source
    bus: ControlBus
    tuner: Tuner | None
    capture: CaptureThread
    worker: DreamWorker
    inbox: LatestSlot  # the camera's newest frame
    outbox: LatestSlot  # the worker's newest dream


class PresetTimer:
    """`live.cycle_seconds`: the next preset when the time is up; a preset chosen by hand gets its full time."""

    def __init__(self, seconds: float):
        self.seconds, self.changes = seconds, 0
        self.due = time.monotonic() + seconds

    def chosen(self) -> None:
        self.due = time.monotonic() + self.seconds

    def poll(self) -> Action | None:
        if not self.seconds or time.monotonic() < self.due:
            return None
        self.changes += 1
        self.chosen()
        return Action("next", source="timer")


class Show:
    """One run of the installation: the outputs, the stages that feed them, and the parts of one concern
    each (light, modulation, health) that the main loop consults."""

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
        self.stats, self.profile = RunStats(), Profile(options.profile)
        self.meter = PictureMeter() if options.measure else None
        self.interrupted = self.quit = False
        if config.control.http_port:  # before anything starts: a binding that needs a token is one line at once
            check_binding(config.control.http_host, config.control.token)
        for preset in presets_for(config):  # a bad scene is one line before anything starts
            parse_scene(preset)
        m = config.midi  # the mapping is checked before anything starts; the port is opened in start()
        learned = "" if config.installation.enabled else m.learned_file  # installation mode writes no file
        self.midi_map = MidiMap(m.cc, m.notes, learned) if m.port else None
        self.midi: MidiInput | None = None
        self.light = Light(OpeningHours(config.schedule.hours), config.schedule.fade_seconds)
        self.modulation = Modulation(config.beat, config.audio)
        self.monitor = Health(config.control.status_to, self._source_now)
        installation = config.installation
        self.memory = ShowMemory() if installation.enabled and installation.resume else None
        self.stages: Stages | None = None  # opened by start()
        self._dreamer = None  # loaded by the worker (unwrapped by a fault plan)
        self.network_name = get_spec(config.network.name).name
        self.name = config.control.name or socket.gethostname()  # how /metrics and the fleet call this show
        self.timer = PresetTimer(config.live.cycle_seconds)
        self.deadline: float | None = None
        self.last_seq, self.last_image, self.saved, self.next_black_frame = 0, None, None, 0.0
        self.between = BetweenDreams(config.temporal.flow) if config.display.decoupled else None
        self.settled_after: float | None = None  # RunOptions.settle: when the figures started again
        self._counted_from = (0, 0)  # frames captured and dreamed before the figures started

    # ------------------------------------------------------------ what was opened
    @property
    def window(self):
        return next((o for o in self.outputs if o.name == "window"), None)

    @property
    def recorder(self):
        return next((o for o in self.outputs if o.name == "recorder"), None)

    @property
    def bus(self) -> ControlBus:
        return self.stages.bus

    @property
    def source(self) -> Source:
        return self.stages.source

    @property
    def worker(self) -> DreamWorker:
        return self.stages.worker

    @property
    def capture(self) -> CaptureThread:
        return self.stages.capture

    @property
    def asleep(self) -> bool:
        """Closed: the worker dreams nothing and the camera is closed."""
        return self.light.asleep

    # ------------------------------------------------------------ start
    def start(self, stack: ExitStack) -> None:
        """Opens every stage (registered in `stack`, closed in reverse), then the control surfaces."""
        self.stages = self._open_stages(stack)
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
        self._open_controls(stack)
        self.monitor.update(self._snapshot(None))  # /health answers before the first frame
        settling = self.options.settle  # then `seconds` count from when the backends are made
        self.deadline = time.monotonic() + self.options.seconds if self.options.seconds and not settling else None
        self.timer.chosen()
        if not self.light.start(self.options.now):  # --now: the moment the show starts, now that it is ready
            self._sleep()

    def _open_stages(self, stack: ExitStack) -> Stages:
        c, live = self.config.capture, self.config.live
        # The source first: a missing file or camera is one line at once, not after the network is ready.
        source = self._open_source()
        stack.callback(self._close_source, source)
        check_dream_size((live.width, live.height), pick_device(self.config.network.device))
        stack.callback(self._close_dreamer)  # its background builder, once the worker stopped
        # the first scene's numbers hold from the start
        start = ShowState(presets=tuple(presets_for(self.config)), max_steps=live.max_steps, steps=live.steps,
                          strength=live.strength, mix=live.mix, crossfade_seconds=live.crossfade_seconds,
                          bpm=self.config.beat.bpm)
        bus = ControlBus(with_scene(start), check_objective=objective_checker(self.config.network))
        if self.memory:
            self.memory.restore(bus)
        tuner = build_tuner(self.config)
        inbox, outbox = LatestSlot(), LatestSlot()
        capture = CaptureThread(source, inbox, mirror=c.mirror and source.faces_visitors, profile=self.profile)
        unattended = self.config.installation if self.config.installation.enabled else None
        worker = DreamWorker(None, self.config.temporal, (live.width, live.height), inbox, outbox, bus, tuner,
                             self.profile, factors=self.modulation.factors, unattended=unattended,
                             source_ok=lambda: source.state == "ok", load=self._load_dreamer)
        log.info("source: %s; the camera is shown while the network loads", source.description)
        return Stages(source, bus, tuner, capture, worker, inbox, outbox)

    def _load_dreamer(self):
        """The worker's first job: the network, dreaming with torch at once; the faster backends are
        made in the background and take over when ready."""
        live = self.config.live
        self._dreamer = build_dreamer(self.config, background=True)
        log.info("dreaming %s at %dx%d, %d step(s) per frame, backend %s (more in the background: %s)",
                 self._dreamer.spec.name, live.width, live.height, live.steps,
                 self._dreamer.backend(0, (live.width, live.height), max(1, live.steps)).name, live.backend)
        return self.options.faults.dreamer(self._dreamer) if self.options.faults else self._dreamer

    def _close_dreamer(self) -> None:
        if self._dreamer is not None:
            self._dreamer.close()

    def _open_controls(self, stack: ExitStack) -> None:
        control = self.config.control
        if control.osc_port:
            stack.callback(OscInput(self.bus, control.osc_host, control.osc_port).start().close)
        self.modulation.start(stack)
        if self.midi_map:
            self.midi = MidiInput(self.bus, self.midi_map, self.config.midi.port).start()
            stack.callback(self.midi.close)
        if control.http_port:
            web = WebControl(self.bus, self.health, control.http_host, control.http_port, control.token,
                             metrics=exposition(self, self.name)).start()
            stack.callback(web.close)
            if control.announce:
                self._announce(stack, web.address[1])
        if self.modulation.link:
            self.bus.next_bar = self.modulation.link.next_bar  # actions sent "at bar"

    def _announce(self, stack: ExitStack, port: int) -> None:
        """control.announce: the show says over mDNS that it is here, if it is reachable from elsewhere."""
        host = self.config.control.http_host
        if is_loopback(host):
            log.warning("control.announce ignored: the show's HTTP is bound to %s, which no other computer can "
                        "reach (set control.http_host and control.token)", host)
            return
        try:
            stack.callback(Announcer(self.name, host, port).start().close)
        except (UserError, OSError) as exc:  # the extra is missing, or no network: one line, the show goes on
            log.warning("control.announce ignored: %s", exc)

    def _open_source(self) -> Source:
        """The source; unattended or with opening hours, wrapped so that it never gives up (and can be
        closed while the show is)."""
        c, faults = self.config.capture, self.options.faults
        resilient = self.config.installation.enabled or not self.light.hours.always_open
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

    def _close_source(self, source: Source) -> None:
        """Exactly once, after the capture thread stopped; never under a read stuck in a driver."""
        if self.stages is None or not self.capture.reading:
            source.close()

    # ------------------------------------------------------------ the main loop
    def run(self) -> None:
        """Show the newest picture, apply the controls, until something ends the show."""
        try:
            while not self.ended():
                if not self.turn():
                    break  # the source ended or a stage failed
                self.control()
        except KeyboardInterrupt:  # a signal before frames flowed
            self.interrupted = True

    def turn(self) -> bool:
        """Show what is new: the newest dream, or (decoupled) the newest camera frame with the dream
        carried to it. False when nothing more will come."""
        outbox = self.stages.outbox
        carrying = self.between is not None and self.between.dream is not None and not self.asleep
        item = outbox.get_newer(self.last_seq, timeout=0.0 if carrying else 0.02)  # else the camera paces it
        if item is not None and self.between and self.between.takes(item, self.bus.state):
            self.last_seq = item.seq
            self._dreamed(item)
        elif item is not None:
            self.present(item)
        elif outbox.closed:
            return False
        elif self.asleep and time.monotonic() >= self.next_black_frame:
            self.present_closed()
        starting = self.between is not None and not self.stats.dreams and not self.asleep
        if starting or (carrying and self.between.dream is not None):  # starting: the camera until it is dreamed
            frame = self.stages.inbox.get_newer(self.between.camera_seq, timeout=0.02)
            if frame is not None:
                self.present_camera(frame)
        return True

    def _dreamed(self, item) -> None:
        """Decoupled: a new dream, carried to the camera frames shown until the next one."""
        self.between.dreamed(item)
        self.stats.dream_arrived()
        if self.options.observe:
            self.options.observe(self.bus.state, time.perf_counter(), item)

    def present_camera(self, frame) -> None:
        """Decoupled: the newest camera frame at once, with the newest dream carried to it (before the
        first dream, the camera alone)."""
        self._apply_due()
        state, dream = self.bus.state, self.between.dream
        with self.profile.stage("upscale"):
            size = self._picture_size(None if dream is None else dream.image)
            shown, camera = self.between.picture(frame, size, self._mix(state), self.worker.size)
            shown = self.light.shine(shown, state.blackout)
        self._put_out(shown, frame.t_captured)
        if dream is not None:
            self.stats.dream_shown(dream.t_captured)
        if self.meter and dream is not None:  # the picture's figures count from its first dream, as coupled
            self.meter.add(shown, camera)

    def _settle(self) -> None:
        """`settle`: once the backends in use are made (at most SETTLE_S), the figures start again."""
        waited = time.monotonic() - self.stats.started
        if self.settled_after is not None or not self.worker.dreamed:
            return
        if not self._dreamer.settled() and waited < SETTLE_S:
            return
        self.settled_after = round(waited, 1)
        log.info("backends ready after %.1f s; the figures count from now", waited)
        self.stats = RunStats(launched=self.stats.launched)
        self._counted_from = (self.capture.captured, self.worker.dreamed)
        if self.options.seconds:
            self.deadline = time.monotonic() + self.options.seconds
        if self.meter:
            self.meter = PictureMeter()

    def ended(self) -> bool:
        if self.options.settle:
            self._settle()
        if stop_requested():
            self.interrupted = True
        frames = self.options.frames and self.stats.shown >= self.options.frames
        late = self.deadline and time.monotonic() >= self.deadline
        lost_only_output = self.recorder and self.recorder.error and not self.window  # headless, nothing to show
        return bool(self.interrupted or self.quit or frames or late or lost_only_output)

    def present(self, item) -> None:
        """One dreamed frame to every output, composed once at the first output's size."""
        self.last_seq = item.seq
        self._apply_due()
        state = self.bus.state
        with self.profile.stage("upscale"):
            size = self._picture_size(item.image)
            shown = compose(item.image, item.source_image, item.camera_image, size, self.config.display.composite,
                            self._mix(state))
            if item.attract is not None:  # fading into (or out of) the attract loop
                shown = faded_into(shown, item.attract, item.attract_weight)
            shown = self.light.shine(shown, state.blackout)
        self._put_out(shown, item.t_captured)
        if self.options.observe:
            self.options.observe(state, time.perf_counter(), item)
        if self.meter:
            self.meter.add(shown, framed_camera(item.camera_image, item.source_image, item.image.shape[1::-1],
                                                shown.shape[1::-1]))

    def _mix(self, state: ShowState) -> float:
        """The dry/wet mix of the picture composed now: the crossfade's, times the beat's or audio's pulse."""
        return blended(state, time.monotonic())[1] * self.modulation.factor("mix", state)

    def _put_out(self, shown: np.ndarray, t_captured: float) -> None:
        """A composed picture to every output, counted; dark at closing time, the show goes to sleep."""
        if self.light.dark_for_closing:
            self._sleep()
        self.last_image = shown
        self._send(shown)
        self.stats.frame_shown(t_captured)

    def _apply_due(self) -> None:
        """Actions sent for a time (`at`) take effect on the first picture at or after it."""
        for effect in self.bus.apply_due():
            self._carry_out(effect)

    def present_closed(self) -> None:
        """Closed: a black frame once a second keeps the outputs alive and the watchdog fed (the display
        loop is alive; nothing is being dreamed)."""
        self.next_black_frame = time.monotonic() + 1.0
        size = self._picture_size(None)
        self.last_image = None
        self._send(np.zeros((size[1], size[0], 3), np.uint8))

    def _picture_size(self, dream: np.ndarray | None) -> tuple[int, int]:
        """The size the picture is composed at: the first output's, or with none (headless, nothing
        recorded) the dream's own, whichever way it is shown."""
        if self.outputs:
            return self.outputs[0].size
        return self.worker.size if dream is None else dream.shape[1::-1]

    def _send(self, image: np.ndarray) -> None:
        if self.options.pictures:
            self.options.pictures(time.perf_counter())
        status = self.status()
        with self.profile.stage("display"):
            for output in self.outputs:
                if not output.error:
                    output.send(image, status)
                    if output.error:
                        log.error("%s stopped: %s%s", output.name, output.error,
                                  "; the show goes on" if self.window and output is not self.window else "")
        self.monitor.shown(self._snapshot(status), status, dreaming=self._dream_alive())

    def _dream_alive(self) -> bool:
        """Coupled, every frame shown is a dream; decoupled, a dream must have come within the last
        DREAM_ALIVE_S (or the show is closed and dreams nothing on purpose)."""
        if self.between is None or self.asleep:
            return True
        dreams = self.stats.dreams
        return bool(dreams) and time.monotonic() - dreams[-1] <= DREAM_ALIVE_S

    def control(self) -> None:
        """Keys and the preset timer post actions; the bus applies them; this carries out the effects."""
        for action in (a for output in self.outputs for a in output.poll()):
            self.bus.post(action)
            if action.name in ("next", "prev", "preset"):
                self.timer.chosen()
        if (timed := self.timer.poll()) is not None:
            self.bus.post(timed)
        for effect in self.bus.apply_pending():
            self._carry_out(effect)
        self.modulation.update(self.bus)
        change = self.light.follow_schedule(self.stats.shown)
        if change == "sleep":
            self._sleep()
        elif change == "wake":
            self._wake()
        if self.memory:
            self.memory.keep(self.bus.state, time.monotonic())
        self.monitor.tick()

    def _carry_out(self, effect: Action) -> None:
        """What an action does beyond the show state: quit, MIDI learn, a snapshot."""
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

    def _sleep(self) -> None:
        self.light.went_to_sleep()
        self.worker.sleep()
        self.source.suspend()
        log.info("closed: not dreaming, camera closed, until the next opening time")

    def _wake(self) -> None:
        self.worker.wake()
        self.source.resume()

    # ------------------------------------------------------------ what it says
    def health(self) -> dict:
        """Any thread: what /health says."""
        return self.monitor.report()

    def _source_now(self) -> dict:
        """ok, source and reconnects, as of now (any thread)."""
        if self.stages is None:
            return {}
        capture, worker = self.capture, self.worker
        error = capture.error or worker.error
        source = "failed" if capture.error else "ended" if capture.ended.is_set() else self.source.state
        return {"ok": error is None and source in ("ok", "closed") and not worker.status.failing,
                "source": source, "reconnects": self.source.reconnects}

    def _snapshot(self, status: Status | None) -> dict:
        return snapshot(self.bus.state, self.worker.status, self._source_now(), status, self.stats.shown,
                        self.light.is_open, self.modulation.peers, self.capture.error or self.worker.error)

    def status(self) -> Status:
        state, worker = self.bus.state, self.worker.status
        tuner = self.stages.tuner
        return Status(self.stats.recent_fps(), self.stats.recent_latency_ms(), worker.frame_ms, worker.size,
                      state, self.network_name, state.objective, worker.backend,
                      tuner.target if tuner else None, self.stats.recent_dream_hz() if self.between else None)

    # ------------------------------------------------------------ the end
    def _close_output(self, output) -> None:
        kept = output.close()
        if output is self.recorder:
            self.saved = kept

    def finish(self) -> dict:
        """The run's figures, printed and written; the reason as a UserError if a stage failed."""
        self.monitor.close()
        if self.memory:
            self.memory.keep(self.bus.state, force=True)
        summary = self._summary()
        print(format_summary(summary))
        if self.meter:
            summary.update(self.meter.figures())
            print(format_figures(self.meter.figures()))
        recorder = self.recorder
        if self.saved and not recorder.error:
            print(f"wrote {self.saved}")
        if self.interrupted:
            print("interrupted: stopped cleanly")
        if self.options.stats_json:
            write_json(self.options.stats_json, summary)
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

    def _summary(self) -> dict:
        state, worker, tuner = self.bus.state, self.worker, self.stages.tuner
        captured, dreamed = self._counted_from
        summary = self.stats.summary(self.capture.captured - captured, worker.dreamed - dreamed)
        if self.options.settle:
            summary["settled_after_s"] = self.settled_after
        summary.update(network=self.network_name, objective=state.objective,
                       dream_size=list(worker.size), steps=state.steps, strength=round(state.strength, 3),
                       frozen=state.frozen, device=str(self._dreamer.device if self._dreamer else ""), backend=worker.status.backend,
                       timed_preset_changes=self.timer.changes, interrupted=self.interrupted,
                       skipped_frames=worker.healing.failed, nonfinite_resets=worker.resets)
        if tuner:
            summary.update(target_fps=tuner.target, tuning_changes=tuner.changes)
        if self.options.profile:
            summary["profile"] = self.profile.summary()
        return summary
