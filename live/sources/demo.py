"""The built-in demo: real photographs through a drifting virtual camera, for machines without one."""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from live.core.imageio import read_image
from live.sources.contract import Source

MEDIA = Path(__file__).resolve().parent.parent / "media"


class DemoSource(Source):
    """Real photographs seen through a slowly drifting virtual camera: pan, zoom, lighting drift and
    sensor noise, changing photo every `hold` seconds with a crossfade. For machines without a camera."""

    def __init__(self, width: int, height: int, fps: float = 30.0, hold: float = 20.0, seed: int = 0):
        self.size, self.fps, self.hold = (width, height), fps, hold
        self.photos = [read_image(p) for p in sorted(MEDIA.glob("*.png"))]
        rng = np.random.default_rng(seed)
        # Fresh Gaussian noise per frame costs more than the rest of the frame: draw a bank once, split
        # into positive and negative parts so it is applied with saturating uint8 adds (SIMD, no floats).
        noise = [rng.normal(0, 2.0, (height, width, 3)) for _ in range(8)]
        self.noise = [(np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8)) for n in noise]
        self.t = 0
        self.description = f"demo ({len(self.photos)} photos, {width}x{height}@{fps:.0f})"

    def _view(self, photo: np.ndarray, seconds: float, phase: float) -> np.ndarray:
        w, h = self.size
        ph, pw = photo.shape[:2]
        cover = max(w / pw, h / ph) * (1.12 + 0.08 * math.sin(seconds * 0.21 + phase))  # slow zoom
        span_x, span_y = pw * cover - w, ph * cover - h
        x = span_x * (0.5 + 0.45 * math.sin(seconds * 0.13 + phase))  # slow pan
        y = span_y * (0.5 + 0.45 * math.sin(seconds * 0.09 + 2 * phase))
        m = np.float32([[cover, 0, -x], [0, cover, -y]])
        return cv2.warpAffine(photo, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    def read(self):
        seconds = self.t / self.fps
        self.t += 1
        n = int(seconds // self.hold)
        fade = float(np.clip((seconds % self.hold - (self.hold - 2.0)) / 2.0, 0, 1))  # 2 s crossfade
        frame = self._view(self.photos[n % len(self.photos)], seconds, n)
        if fade > 0:
            nxt = self._view(self.photos[(n + 1) % len(self.photos)], seconds, n + 1)
            frame = cv2.addWeighted(frame, 1 - fade, nxt, fade, 0)
        light = 1.0 + 0.12 * math.sin(seconds * 0.37)  # lighting drift, warmer and cooler
        warm = 0.04 * math.sin(seconds * 0.23)
        frame = cv2.transform(frame, np.diag([light * (1 + warm), light, light * (1 - warm)]).astype(np.float32))
        plus, minus = self.noise[(self.t * 5) % len(self.noise)]  # sensor noise
        return cv2.subtract(cv2.add(frame, plus), minus)

    def close(self):
        pass
