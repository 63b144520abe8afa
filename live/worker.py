"""The dream worker thread: newest camera frame -> dream resolution -> temporal dream -> output slot.

Runtime controls (preset, strength, steps, freeze) are plain attributes of `Controls`, set by the
renderer's keys and read once per frame here.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from .backends import TorchBackend, choose_backend
from .dream import DreamSettings
from .featurenet import FeatureNet
from .imageio import fit_cover
from .objectives import Objective, parse_objective
from .profiling import NO_PROFILE, Profile
from .slots import Frame, LatestSlot
from .temporal import TemporalDreamer, TemporalSettings
from .tuning import Tuner
from .zoo import NetworkSpec

log = logging.getLogger("live-dream")
MAX_FAILURES_IN_A_ROW = 50  # frames: a fault that persists this long ends the run with its reason


@dataclass
class Controls:
    preset: int = 0
    strength: float = 1.0  # multiplies the step size
    steps: int = 1
    frozen: bool = False  # keep dreaming on the current frame; new frames are dropped


class Dreamer:
    """Objective presets on one network, each truncated as deep as it needs, run through a backend.
    One random jitter roll per frame; the backend does the gradient steps."""

    def __init__(self, spec: NetworkSpec, model: torch.nn.Module, presets: list[str], settings: DreamSettings,
                 device: torch.device, guide=None, seed: int = -1, backend: str = "torch", precision: str = "auto"):
        self.spec, self.model, self.settings, self.device = spec, model, settings, device
        self.kind, self.precision = backend, precision
        self.objectives: list[Objective] = [parse_objective(text, spec, guide) for text in presets]
        self._nets: dict[int, tuple[FeatureNet, Objective]] = {}
        self._backends: dict[tuple, object] = {}
        self.backend_name = "?"
        self.live = False  # set after the start-up warm-up: from then on nothing may pause the picture
        self.rng = random.Random(None if seed < 0 else seed)

    def net(self, preset: int) -> tuple[FeatureNet, Objective]:
        if preset not in self._nets:
            objective = self.objectives[preset]
            net = FeatureNet(self.spec, self.model, objective.layers).to(self.device).eval()
            self._nets[preset] = (net, objective.bind(net))
        return self._nets[preset]

    def backend(self, preset: int, size: tuple[int, int], steps: int):
        """The backend for this preset and frame size; with 'auto', the remembered choice or a trial."""
        key = (preset, size if self.kind != "torch" else None)  # the torch backend takes any size
        if key not in self._backends:
            net, objective = self.net(preset)
            if self.live and self.kind != "torch":
                # A size first met mid-run (the tuner, the out-of-memory guard): exporting a graph or
                # building a TensorRT engine now would freeze the picture for seconds. Torch starts at once.
                self._backends[key] = self._torch_backend(preset, net, objective)
                log.info("%s at %dx%d: %s (no pause to export for a size met mid-run)", objective, *size,
                         self._backends[key].name)
            else:
                self._backends[key] = choose_backend(self.kind, net, objective, self.settings, self.device, size,
                                                     max(1, steps), self.precision)
        backend = self._backends[key]
        self.backend_name = backend.name
        return backend

    def _torch_backend(self, preset: int, net, objective) -> TorchBackend:
        """The preset's torch backend (it takes any size): the one it has already, on its own or as a
        candidate of an 'auto' trial, else a new one."""
        for (owner, _), backend in self._backends.items():
            for candidate in getattr(backend, "candidates", [backend]):
                if owner == preset and isinstance(candidate, TorchBackend):
                    return candidate
        return TorchBackend(net, objective, self.settings, self.device, self.precision)

    def run(self, image: np.ndarray, preset: int, steps: int, strength: float) -> np.ndarray:
        if steps <= 0:
            return image
        h, w = image.shape[:2]
        backend = self.backend(preset, (w, h), steps)
        j = self.settings.jitter
        oy, ox = self.rng.randint(-j, j), self.rng.randint(-j, j)
        rolled = np.roll(image, (oy, ox), axis=(0, 1))
        dreamed = backend.steps(rolled, steps, self.settings.step_size * strength)
        return np.roll(dreamed, (-oy, -ox), axis=(0, 1))


def is_out_of_memory(exc: Exception) -> bool:
    """CUDA out-of-memory, from PyTorch or from ONNX Runtime (which reports it as a plain failure)."""
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


class DreamWorker:
    def __init__(self, dreamer: Dreamer, temporal: TemporalSettings, size: tuple[int, int],
                 inbox: LatestSlot, outbox: LatestSlot, controls: Controls, tuner: Tuner | None = None,
                 profile: Profile = NO_PROFILE):
        self.dreamer, self.size, self.inbox, self.outbox, self.controls = dreamer, size, inbox, outbox, controls
        self.tuner, self.profile = tuner, profile
        self.temporal = TemporalDreamer(self._dream, temporal, profile)
        self.dreamed = 0
        self.frame_ms = 0.0  # last frame's processing time, for the HUD
        self.error: str | None = None
        self.failed = 0  # frames skipped because dreaming them raised
        self.resets = 0  # dreams restarted because they were not finite
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dream-worker", daemon=True)

    def _dream(self, image: np.ndarray) -> np.ndarray:
        c = self.controls
        with self.profile.stage("steps"):
            return self.dreamer.run(image, c.preset % len(self.dreamer.objectives), c.steps, c.strength)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=10)

    def _apply(self, setting) -> None:
        self.size = (setting.width, setting.height)
        self.controls.steps = setting.steps
        log.info("tuning: %s (measured %.1f fps, target %.0f)", setting, self.tuner.last_fps, self.tuner.target)

    def _out_of_memory(self) -> None:
        """A GPU ran out of memory: continue at a lower resolution instead of crashing."""
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        if self.tuner:
            setting = self.tuner.lower_ceiling()
            self.size, self.controls.steps = (setting.width, setting.height), setting.steps
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
                try:
                    if self.controls.frozen and held is not None and held.image.shape[:2] == self.size[::-1]:
                        frame = replace(held, seq=frame.seq, t_captured=frame.t_captured)
                    else:
                        with self.profile.stage("preprocess"):
                            small = fit_cover(frame.image, self.size)
                        frame = held = replace(frame, image=small)
                    out = self._dream_frame(frame.image.astype(np.float32) / 255.0)
                except Exception as exc:
                    if is_out_of_memory(exc):
                        self._out_of_memory()
                        continue
                    failures_in_a_row += 1
                    self.failed += 1
                    if failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
                        raise
                    log.warning("frame %d skipped: %s: %s (the show goes on)", frame.seq,
                                exc.__class__.__name__, str(exc).splitlines()[0][:200] if str(exc) else "")
                    continue
                failures_in_a_row = 0
                self.frame_ms = (time.perf_counter() - t0) * 1000
                self.dreamed += 1
                dreamed = (out * 255.0 + 0.5).astype(np.uint8)
                self.outbox.put(Frame(dreamed, frame.seq, frame.t_captured, source_image=frame.image))
                if self.tuner and (setting := self.tuner.update(self.frame_ms)):
                    self._apply(setting)
        except Exception as exc:
            self.error = (f"dream worker failed on {MAX_FAILURES_IN_A_ROW} frames in a row: "
                          f"{exc.__class__.__name__}: {exc}")
        finally:
            self.outbox.close()

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
