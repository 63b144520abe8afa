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

from live.config import TemporalSettings
from live.control.actions import Action
from live.control.bus import ControlBus
from live.control.state import ShowState, blended
from live.dream.temporal import TemporalDreamer
from live.imageio import fit_cover
from live.profiling import NO_PROFILE, Profile
from live.dreamer import Dreamer
from live.show.crossfade import Crossfade
from live.show.slots import Frame, LatestSlot
from live.show.tuner import Tuner

log = logging.getLogger("live-dream")
MAX_FAILURES_IN_A_ROW = 50  # frames: a fault that persists this long ends the run with its reason


def is_out_of_memory(exc: BaseException) -> bool:
    """A GPU out of memory: PyTorch has a type for it; ONNX Runtime has none, and says so in words."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return type(exc).__module__.startswith("onnxruntime") and ("out of memory" in text or "failed to allocate" in text)


@dataclass(frozen=True)
class WorkerStatus:
    size: tuple[int, int]  # dream resolution now (the tuner and the memory guard change it)
    frame_ms: float = 0.0  # the last frame's processing time
    backend: str = "?"  # the backend that dreamed the last frame


class DreamWorker:
    def __init__(self, dreamer: Dreamer, temporal: TemporalSettings, size: tuple[int, int],
                 inbox: LatestSlot, outbox: LatestSlot, bus: ControlBus, tuner: Tuner | None = None,
                 profile: Profile = NO_PROFILE, strength_pulse: Callable[[ShowState], float] = lambda state: 1.0):
        self.dreamer, self.inbox, self.outbox, self.bus = dreamer, inbox, outbox, bus
        self.tuner, self.profile = tuner, profile
        self.size = size  # this thread's own: written nowhere else
        self.base_temporal = temporal  # a scene may change some of it; the rest stays
        self.temporal = TemporalDreamer(self._dream, self._scene_temporal(bus.state), profile)
        self.status = WorkerStatus(size, backend=dreamer.backend(0, size, max(1, bus.state.steps)).name)
        self.dreamed = 0
        self.error: str | None = None
        self.failed = 0  # frames skipped because dreaming them raised
        self.resets = 0  # dreams restarted because they were not finite
        self.last_failure: str | None = None  # the last frame skipped, and why (for /health)
        self._state = bus.state  # the state this frame is dreamed with
        self.crossfade = Crossfade()
        self.strength_pulse = strength_pulse  # the beat's factor on the strength (1: no pulse)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dream-worker", daemon=True)

    def _scene_temporal(self, state: ShowState) -> TemporalSettings:
        """The temporal settings with the scene's own (scenes are checked at start)."""
        return replace(self.base_temporal, **dict(state.scene.temporal))

    def _dream(self, image: np.ndarray) -> np.ndarray:
        s, now = self._state, time.monotonic()
        preset = self.dreamer.preset_for(self.crossfade.objective(s, now))
        strength, _, steps = blended(s, now)  # a crossfade moves them from the old scene's to the new one's
        with self.profile.stage("steps"):
            return self.dreamer.run(image, preset, round(steps), strength * self.strength_pulse(s))

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
            w, h = self.size
            self.size = (max(32, int(w * 0.75) // 16 * 16), max(32, int(h * 0.75) // 16 * 16))
        log.warning("out of GPU memory: dream resolution lowered to %dx%d", *self.size)

    def _run(self):
        last_seq, held, failures_in_a_row = 0, None, 0
        try:
            while not self._stop.is_set():
                frame = self.inbox.get_newer(last_seq, timeout=0.1)
                if frame is None:
                    if self.inbox.closed:
                        break
                    continue
                last_seq = frame.seq
                t0 = time.perf_counter()
                previous, self._state = self._state, self.bus.state
                if ((previous.objective, previous.strength) != (self._state.objective, self._state.strength)
                        or Crossfade.fading(self._state, time.monotonic())):
                    self.temporal.wake()  # a settled dream would take seconds to follow the change
                if previous.preset != self._state.preset or previous.presets != self._state.presets:
                    self.temporal.settings = self._scene_temporal(self._state)
                try:
                    if self._state.frozen and held is not None and held.image.shape[:2] == self.size[::-1]:
                        frame = replace(held, seq=frame.seq, t_captured=frame.t_captured)
                    else:
                        with self.profile.stage("preprocess"):
                            small = fit_cover(frame.image, self.size)
                        frame = held = replace(frame, image=small, camera_image=frame.image)
                    out = self._dream_frame(frame.image.astype(np.float32) / 255.0)
                except Exception as exc:
                    if is_out_of_memory(exc):
                        self._out_of_memory()
                        continue
                    failures_in_a_row += 1
                    self.failed += 1
                    if failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
                        raise
                    self.last_failure = (f"frame {frame.seq} skipped: {exc.__class__.__name__}: "
                                         + (str(exc).splitlines()[0][:200] if str(exc) else ""))
                    log.warning("%s (the show goes on)", self.last_failure)
                    log.debug("frame %d skipped", frame.seq, exc_info=True)  # the traceback, for --log-file
                    continue
                failures_in_a_row = 0
                self.dreamed += 1
                dreamed = (out * 255.0 + 0.5).astype(np.uint8)
                self.outbox.put(Frame(dreamed, frame.seq, frame.t_captured, source_image=frame.image,
                                      camera_image=frame.camera_image))
                frame_ms = (time.perf_counter() - t0) * 1000
                h, w = frame.image.shape[:2]
                self.status = WorkerStatus((w, h), frame_ms, self._backend_name((w, h)))
                if self.tuner and (setting := self.tuner.update(frame_ms)):
                    self._apply(setting)
        except Exception as exc:
            log.debug("dream worker stopped", exc_info=True)  # the traceback, for --log-file
            self.error = (f"dream worker failed on {MAX_FAILURES_IN_A_ROW} frames in a row: "
                          f"{exc.__class__.__name__}: {exc}")
        finally:
            self.outbox.close()

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
            if is_out_of_memory(exc):
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
