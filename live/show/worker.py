"""The dream worker thread: newest camera frame -> dream resolution -> temporal dream -> output slot.

It reads the show state (preset, strength, steps, freeze) from the control bus once per frame and
never writes it: what it wants changed (the tuner's step count) it posts as an action like any other
control surface. What the HUD shows of it is one immutable `WorkerStatus`, replaced once per frame.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import torch

from live.backends.devices import is_out_of_memory, is_sticky_device_error
from live.config import InstallationConfig, TemporalSettings
from live.control.actions import Action
from live.control.bus import ControlBus
from live.control.state import ShowState, blended
from live.dream.temporal import TemporalDreamer
from live.errors import UserError
from live.core.imageio import fit_cover
from live.core.profiling import NO_PROFILE, Profile
from live.backends.dreamer import Dreamer
from live.show.attract import EmptyRoom
from live.show.crossfade import Crossfade
from live.show.healing import MAX_FAILURES_IN_A_ROW, Decision, Healing, shrunk
from live.show.modulation import Factors
from live.show.slots import Frame, LatestSlot
from live.show.tuner import Tuner

log = logging.getLogger("live-dream")
ATTRACT_WAIT_S = 1 / 30  # with the attract loop on, the worker dreams without waiting for the camera


@dataclass(frozen=True)
class WorkerStatus:
    """What the worker tells the rest of the show (the HUD, /health), replaced as it changes."""
    size: tuple[int, int]  # dream resolution now (the tuner and the memory guard change it)
    frame_ms: float = 0.0  # the last frame's processing time
    backend: str = "?"  # the backend that dreamed the last frame
    failing: bool = False  # the last frame could not be dreamed
    healing: str | None = None  # what the self-healing changed
    last_failure: str | None = None
    attract_weight: float | None = None  # the attract loop's share of the picture (None: no attract loop)


class DreamWorker:
    """The dream's thread. Its attributes, by what they are for: the stages it links (dreamer, inbox,
    outbox, bus, tuner, profile, factors), its thread (_thread, _stop, _asleep), the dream it carries
    (temporal, base_temporal, crossfade, _state, size), the frames it keeps (_in_seq, _out_seq, _held,
    _last_live, _woke_at), what it tells (dreamed, error, resets, _last) and its parts (healing, room).
    All are this one thread's own but the status it publishes: splitting them further would spread one
    loop over objects only it uses."""

    def __init__(self, dreamer: Dreamer | None, temporal: TemporalSettings, size: tuple[int, int],
                 inbox: LatestSlot, outbox: LatestSlot, bus: ControlBus, tuner: Tuner | None = None,
                 profile: Profile = NO_PROFILE, factors: LatestSlot | None = None,
                 unattended: InstallationConfig | None = None, source_ok: Callable[[], bool] | None = None,
                 load: Callable[[], Dreamer] | None = None):
        """`factors`: the modulation's newest Factors (beat, audio) on the strength. `unattended`
        (installation mode): failures heal instead of ending the run, and an empty room (or a camera
        away) brings the attract loop. `source_ok`: whether the camera is delivering. `load`: makes the
        dreamer in this thread first, when none is given (the show shows the camera meanwhile)."""
        self.dreamer, self.inbox, self.outbox, self.bus = dreamer, inbox, outbox, bus
        self._load = load
        self.loaded = threading.Event()  # the dreamer is there (or could not be made: `error` says why)
        self.tuner, self.profile = tuner, profile
        self.size = size  # this thread's own: written nowhere else
        self.base_temporal = temporal  # a scene may change some of it; the rest stays
        self.temporal = TemporalDreamer(self._dream, self._scene_temporal(bus.state), profile)
        self._last = WorkerStatus(size, backend="loading the network")
        if dreamer is not None:
            self._loaded()
        self.dreamed = 0
        self.error: str | None = None
        self.resets = 0  # dreams restarted because they were not finite
        self._state = bus.state  # the state this frame is dreamed with
        self.crossfade = Crossfade()
        self.factors = factors or LatestSlot()
        self.healing = Healing(self_healing=unattended is not None)
        self.room = (EmptyRoom(unattended, self._dream_attract, source_ok, self._out_of_memory)
                     if unattended is not None and unattended.idle_seconds > 0 else None)
        self._woke_at = 0.0  # frames captured before the show last woke (last night's) are dropped
        self._held: Frame | None = None  # the frame being dreamed on while frozen
        self._last_live: Frame | None = None  # the last live dream (shown under the attract loop's fade)
        self._in_seq = self._out_seq = 0
        self._asleep = threading.Event()  # outside opening hours
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dream-worker", daemon=True)

    def _loaded(self) -> None:
        self._last = WorkerStatus(self.size, backend=self.dreamer.backend(0, self.size, max(1, self.bus.state.steps)).name)
        self.loaded.set()

    def _scene_temporal(self, state: ShowState) -> TemporalSettings:
        """The temporal settings with the scene's own (scenes are checked at start)."""
        return replace(self.base_temporal, **dict(state.scene.temporal))

    @property
    def status(self) -> WorkerStatus:
        """Any thread: the worker as of its last frame, and its failures and healing as of now."""
        h = self.healing
        room = self.room
        return replace(self._last, failing=h.failures_in_a_row > 0, healing=h.description,
                       last_failure=h.last_failure or (room.last_failure if room else None),
                       attract_weight=room.weight if room else None)

    def sleep(self) -> None:
        """Closed (opening hours): nothing is dreamed, and every dream is forgotten."""
        self._asleep.set()

    def wake(self) -> None:
        self._asleep.clear()

    @property
    def asleep(self) -> bool:
        return self._asleep.is_set()

    def _dream(self, image: np.ndarray) -> np.ndarray:
        s, now = self._state, time.monotonic()
        preset = self.dreamer.preset_for(self.crossfade.objective(s, now))
        strength, _, steps = blended(s, now)  # a crossfade moves them from the old scene's to the new one's
        pulse = self.factors.latest(Factors()).strength  # the beat's and the audio's factor (1: none)
        with self.profile.stage("steps"):
            return self.dreamer.run(image, preset, round(steps), strength * pulse)

    def _dream_attract(self, image: np.ndarray, objective: str, state: ShowState) -> np.ndarray:
        return self.dreamer.run(image, self.dreamer.preset_for(objective), max(1, state.steps), state.strength)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=10)

    def _set_steps(self, steps: int, why: str) -> None:
        if steps != self._state.steps:
            self.bus.post(Action("set_steps", steps, source=why))

    def _apply(self, setting) -> None:
        self.size = (setting.width, setting.height)
        self._set_steps(setting.steps, "tuner")
        log.info("tuning: %s (measured %.1f fps, target %.0f)", setting, self.tuner.last_fps, self.tuner.target)

    def _out_of_memory(self) -> None:
        """A GPU ran out of memory: continue at a lower resolution instead of crashing."""
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        if self.tuner:
            setting = self.tuner.lower_ceiling()
            self.size = (setting.width, setting.height)
            self._set_steps(setting.steps, "memory guard")
        else:
            self.size = shrunk(self.size)
        log.warning("out of GPU memory: dream resolution lowered to %dx%d", *self.size)

    def _run(self):
        try:
            if self.dreamer is None:
                self.dreamer = self._load()
                self._loaded()
            while not self._stop.is_set():
                if self.asleep:
                    self._sleep_a_while()
                    continue
                frame, now = self._next_frame(), time.monotonic()
                if frame is None and self.inbox.closed:
                    break
                weight = self.room.update(now) if self.room else 0.0
                if frame is None and weight == 0.0:
                    continue
                t0 = time.perf_counter()
                self._follow_state()
                out = self._picture(frame, weight, now)
                if out is not None:
                    self._put(out, frame)
                    self._tune(out, weight, (time.perf_counter() - t0) * 1000)
                    if self.dreamed == 1:  # the first picture is out: now the other presets' first steps
                        self.dreamer.warm_up()
        except UserError as exc:  # the network could not be loaded: what to fix, in one line
            self.error = str(exc)
        except Exception as exc:
            self._fail(exc)
        finally:
            self.loaded.set()
            self.outbox.close()

    def _sleep_a_while(self) -> None:
        """Outside opening hours: no dreaming, nothing kept."""
        self._forget()
        self._woke_at = time.monotonic()
        self._stop.wait(0.1)

    def _next_frame(self) -> Frame | None:
        """The newest camera frame not seen yet (None: none came in time, or it was last night's)."""
        frame = self.inbox.get_newer(self._in_seq, timeout=ATTRACT_WAIT_S if self.room else 0.1)
        if frame is None:
            return None
        self._in_seq = frame.seq
        if frame.t_captured < self._woke_at:  # captured before the show last woke: never shown
            return None
        if self.room:
            self.room.see(frame.image, time.monotonic())
        return frame

    def _picture(self, frame: Frame | None, weight: float, now: float) -> Frame | None:
        """This turn's picture: the camera frame dreamed, under the attract loop as far as it has faded in."""
        if frame is not None and weight < 1.0:
            live = self._live_frame(frame)
            if live is None:
                return None
            self._last_live = live
        elif weight >= 1.0:
            self._forget_visitors()
        out = self._last_live if frame is not None else self._shown_again(now)
        if weight > 0.0 and (attract := self.room.picture(self._state, self.size, now)) is not None:
            out = self._with_attract(out, attract, weight, now)
        return out

    def _put(self, out: Frame, frame: Frame | None) -> None:
        # the camera frame's number where there is one (frames keep their identity), else the next
        self._out_seq = max(self._out_seq + 1, frame.seq if frame is not None else 0)
        self.outbox.put(replace(out, seq=self._out_seq))

    def _tune(self, out: Frame, weight: float, frame_ms: float) -> None:
        h, w = out.image.shape[:2]
        self._last = WorkerStatus((w, h), frame_ms, self._backend_name((w, h)))
        dreamed = weight == 0.0 and self.healing.failures_in_a_row == 0  # the tuner learns from dreamed frames only
        if self.tuner and dreamed and (setting := self.tuner.update(frame_ms)):
            self._apply(setting)

    def _fail(self, exc: Exception) -> None:
        """The worker cannot go on: the reason, for the run's end (the service restarts a sticky GPU)."""
        log.debug("dream worker stopped", exc_info=True)  # the traceback, for --log-file
        many = self.healing.failures_in_a_row >= MAX_FAILURES_IN_A_ROW and not self.healing.self_healing
        if is_sticky_device_error(exc):
            log.error("the GPU failed beyond repair for this process (%s); exiting so that the service "
                      "restarts the show", str(exc).splitlines()[0][:200], exc_info=True)
        self.error = (f"dream worker failed{f' on {MAX_FAILURES_IN_A_ROW} frames in a row' if many else ''}: "
                      f"{exc.__class__.__name__}: {exc}")

    def _follow_state(self) -> None:
        """This frame's state from the bus; a change of objective or strength wakes a settled dream."""
        previous, self._state = self._state, self.bus.state
        if ((previous.objective, previous.strength) != (self._state.objective, self._state.strength)
                or Crossfade.fading(self._state, time.monotonic())):
            self.temporal.wake()  # a settled dream would take seconds to follow the change
        if previous.preset != self._state.preset or previous.presets != self._state.presets:
            self.temporal.settings = self._scene_temporal(self._state)

    def _live_frame(self, frame: Frame) -> Frame | None:
        """A camera frame dreamed, or None if it was skipped (a failure, the memory guard)."""
        try:
            if self._state.frozen and self._held is not None and self._held.image.shape[:2] == self.size[::-1]:
                frame = replace(self._held, seq=frame.seq, t_captured=frame.t_captured)
            else:
                with self.profile.stage("preprocess"):
                    small = fit_cover(frame.image, self.size)
                frame = self._held = replace(frame, image=small, camera_image=frame.image)
            out = self._dream_frame(frame.image.astype(np.float32) / 255.0)
        except Exception as exc:
            if is_sticky_device_error(exc):
                raise  # the GPU is unusable for this process: end it, the service starts a fresh one
            if is_out_of_memory(exc):
                self._out_of_memory()
                return None
            return self._failed(frame, exc)
        self.dreamed += 1
        if self.healing.success():
            self._undo_healing()
        dreamed = (out * 255.0 + 0.5).astype(np.uint8)
        return Frame(dreamed, frame.seq, frame.t_captured, source_image=frame.image, camera_image=frame.camera_image)

    def _failed(self, frame: Frame, exc: Exception) -> Frame | None:
        """A frame whose dreaming raised, answered as the healing decides; meanwhile (unattended) the
        camera undreamed, so the picture never freezes."""
        decision = self.healing.failure(frame.seq, exc, self.size)
        if decision is Decision.GIVE_UP:
            raise exc
        if decision is Decision.SKIP:
            return None
        if decision is Decision.FALL_BACK and self._fall_back_to_torch():
            self.healing.fell_back()
        elif decision is Decision.SHRINK:
            self.size = self.healing.shrink(self.size)
        self.temporal.reset()
        try:
            image = fit_cover(frame.camera_image if frame.camera_image is not None else frame.image, self.size)
        except Exception:  # noqa: BLE001 - a frame that cannot even be resized (garbage) is skipped
            return None
        return Frame(image, frame.seq, frame.t_captured, source_image=image, camera_image=frame.camera_image)

    def _undo_healing(self) -> None:
        """No failure for a while: the failure was passing; back to the backends and size of before."""
        self.size = self.healing.undone() or self.size
        restored = self.dreamer.restore_backends()
        log.info("no failure for a while: back to %s at %dx%d",
                 "the backends of before" if restored else "the dream size", *self.size)

    def _fall_back_to_torch(self) -> bool:
        try:
            return self.dreamer.fall_back_to_torch()
        except Exception:  # noqa: BLE001 - the device itself may be what fails: keep trying as it is
            log.warning("could not switch to the torch backend", exc_info=True)
            return False

    def _with_attract(self, live: Frame | None, attract: np.ndarray, weight: float, now: float) -> Frame:
        if live is None or weight >= 1.0 or live.image.shape != attract.shape:
            return Frame(attract, 0, now, source_image=attract, attract_weight=1.0)
        return replace(live, attract=attract, attract_weight=weight)

    def _shown_again(self, now: float) -> Frame | None:
        """The last live dream again, under the attract loop's fade while no camera frame comes: as the
        dream's own picture (no camera frame of its time kept with it), timed now."""
        last = self._last_live
        return None if last is None else replace(last, t_captured=now, camera_image=None)

    def _forget(self) -> None:
        """Closed: drop every dream, the visitors' and the attract loop's."""
        self._forget_visitors()
        if self.room:
            self.room.forget()

    def _forget_visitors(self) -> None:
        """The attract loop is all that is shown: nothing of the last visitor is kept for later."""
        if self._last_live is not None or self._held is not None:
            self.temporal.reset()
            self._last_live = self._held = None

    def _backend_name(self, size: tuple[int, int]) -> str:
        if self._state.steps <= 0:
            return "off (0 steps)"
        preset = self.dreamer.preset_for(self._state.objective)
        return self.dreamer.backend(preset, size, self._state.steps).name

    def _dream_frame(self, image: np.ndarray) -> np.ndarray:
        """One frame through the temporal dream. A step that raises is retried once from a fresh start
        (the carried dream may be what broke it); a dream that is not finite (one NaN would be carried
        into every later frame and black the picture out) restarts the dream from this frame."""
        try:
            out = self.temporal(image)
        except Exception as exc:
            if is_out_of_memory(exc) or is_sticky_device_error(exc):
                raise
            self.temporal.reset()
            out = self.temporal(image)
        if not np.isfinite(out).all():
            self.temporal.reset()
            self.resets += 1
            if self.resets == 1 or self.resets % 100 == 0:
                log.warning("the dream went numerically wrong (NaN) %d time(s); restarted from the camera "
                            "image", self.resets)
            return image
        return out
