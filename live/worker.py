"""The dream worker thread: newest camera frame -> dream resolution -> temporal dream -> output slot.

Runtime controls (preset, strength, steps, freeze) are plain attributes of `Controls`, set by the
renderer's keys and read once per frame here.
"""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, replace

import cv2
import numpy as np
import torch

from .dream import DreamSettings, make_step
from .featurenet import FeatureNet
from .objectives import Objective, parse_objective
from .slots import Frame, LatestSlot
from .temporal import TemporalDreamer, TemporalSettings
from .zoo import NetworkSpec


@dataclass
class Controls:
    preset: int = 0
    strength: float = 1.0  # multiplies the step size
    steps: int = 1
    frozen: bool = False  # keep dreaming on the current frame; new frames are dropped


def fit_cover(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale and centre-crop to exactly `size` (w, h), filling it: no black bars on a gallery screen."""
    w, h = size
    ih, iw = image.shape[:2]
    scale = max(w / iw, h / ih)
    cw, ch = min(iw, round(w / scale)), min(ih, round(h / scale))
    x0, y0 = (iw - cw) // 2, (ih - ch) // 2
    crop = image[y0:y0 + ch, x0:x0 + cw]
    shrinking = cw > w
    return cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


class Dreamer:
    """Objective presets on one network, each truncated as deep as it needs; runs k steps on an image."""

    def __init__(self, spec: NetworkSpec, model: torch.nn.Module, presets: list[str], settings: DreamSettings,
                 device: torch.device, guide=None, seed: int = -1):
        self.spec, self.model, self.settings, self.device = spec, model, settings, device
        self.objectives: list[Objective] = [parse_objective(text, spec, guide) for text in presets]
        self._nets: dict[int, tuple[FeatureNet, Objective]] = {}
        self.rng = random.Random(None if seed < 0 else seed)

    def net(self, preset: int) -> tuple[FeatureNet, Objective]:
        if preset not in self._nets:
            objective = self.objectives[preset]
            net = FeatureNet(self.spec, self.model, objective.layers).to(self.device).eval()
            self._nets[preset] = (net, objective.bind(net))
        return self._nets[preset]

    def run(self, image: np.ndarray, preset: int, steps: int, strength: float) -> np.ndarray:
        net, objective = self.net(preset)
        settings = replace(self.settings, step_size=self.settings.step_size * strength)
        x = torch.from_numpy(image).to(self.device).permute(2, 0, 1)[None]
        for _ in range(steps):
            x = make_step(net, objective, x, settings, self.rng)
        return x[0].permute(1, 2, 0).float().cpu().numpy()


class DreamWorker:
    def __init__(self, dreamer: Dreamer, temporal: TemporalSettings, size: tuple[int, int],
                 inbox: LatestSlot, outbox: LatestSlot, controls: Controls):
        self.dreamer, self.size, self.inbox, self.outbox, self.controls = dreamer, size, inbox, outbox, controls
        self.temporal = TemporalDreamer(self._dream, temporal)
        self.dreamed = 0
        self.step_ms = 0.0  # last frame's dreaming time, for the HUD
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dream-worker", daemon=True)

    def _dream(self, image: np.ndarray) -> np.ndarray:
        c = self.controls
        return self.dreamer.run(image, c.preset % len(self.dreamer.objectives), c.steps, c.strength)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self):
        last_seq, held = 0, None
        try:
            while not self._stop.is_set():
                frame = self.inbox.get_newer(last_seq, timeout=0.1)
                if frame is None:
                    if self.inbox.closed:
                        break
                    continue
                last_seq = frame.seq
                if self.controls.frozen and held is not None:
                    frame = replace(held, seq=frame.seq, t_captured=frame.t_captured)
                else:
                    small = fit_cover(frame.image, self.size)
                    frame = held = replace(frame, image=small)
                t0 = time.perf_counter()
                out = self.temporal(frame.image.astype(np.float32) / 255.0)
                self.step_ms = (time.perf_counter() - t0) * 1000
                self.dreamed += 1
                dreamed = (out * 255.0 + 0.5).astype(np.uint8)
                self.outbox.put(Frame(dreamed, frame.seq, frame.t_captured, source_image=frame.image))
        except Exception as exc:
            self.error = f"dream worker failed: {exc.__class__.__name__}: {exc}"
        finally:
            self.outbox.close()
