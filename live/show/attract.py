"""The empty room: is anybody moving, and the dream shown when nobody is.

`MotionWatch` compares a tiny grey copy of each camera frame with the one from a fifth of a second
before: sensor noise and slow light drift average away at that size, a visitor walking in does not.
`AttractLoop` is the picture for an empty room (installation mode): a dream that needs no visitor, the
classic zoom feedback (dream a little, zoom in a little, dream again) started from soft colour noise,
its objective drifting through the scenes. It fades in over `fade` seconds once nobody has moved for
`idle_seconds`, and out within a quarter of a second when somebody does. It keeps nothing of visitors:
it never starts from a camera frame, and its image is dropped whenever it is not shown.
"""
from __future__ import annotations

import logging
import math
import time

import cv2
import numpy as np

from live.config import objective_of
from live.control.state import ShowState

log = logging.getLogger("live-dream")
MOTION_SIZE = (64, 48)
MOTION_LEVELS = 20  # a grey level change larger than noise and light drift at 64x48
REFERENCE_EVERY_S = 0.2
FADE_OUT_S = 0.25  # a visitor's motion brings the live dream back this fast


class MotionWatch:
    def __init__(self, share: float, now: float):
        self.share = share
        self.last_motion = now
        self._reference: np.ndarray | None = None
        self._reference_at = 0.0

    def see(self, image: np.ndarray, now: float) -> bool:
        """Look at a camera frame; True if somebody moved."""
        if image.ndim != 3 or image.size == 0:  # an empty frame from a failing camera says nothing
            return False
        small = cv2.resize(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), MOTION_SIZE, interpolation=cv2.INTER_AREA)
        moved = False
        if self._reference is not None:
            changed = cv2.absdiff(small, self._reference) > MOTION_LEVELS
            moved = float(changed.mean()) > self.share
        if self._reference is None or now - self._reference_at >= REFERENCE_EVERY_S:
            self._reference, self._reference_at = small, now
        if moved:
            self.last_motion = now
        return moved

    def idle_for(self, now: float) -> float:
        return now - self.last_motion


def seed_image(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Soft colour noise (float32 RGB in [0, 1]): the dream grows its own forms out of it."""
    w, h = size
    coarse = rng.normal(0.0, 0.12, (max(2, h // 16), max(2, w // 16), 3)).astype(np.float32)
    fine = rng.normal(0.0, 0.04, (h, w, 3)).astype(np.float32)
    return np.clip(0.5 + cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC) + fine, 0.0, 1.0)


def zoomed(image: np.ndarray, factor: float) -> np.ndarray:
    """`image` zoomed in by `factor` about its centre."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, factor)
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


class AttractLoop:
    def __init__(self, dream, fade: float, zoom_per_second: float, scene_seconds: float):
        """`dream(image, objective_text, state) -> image`: one frame's dreaming (the worker's)."""
        self.dream, self.fade, self.zoom, self.scene_seconds = dream, fade, zoom_per_second, scene_seconds
        self.weight = 0.0  # 0: the live dream is shown; 1: the attract loop
        self.image: np.ndarray | None = None
        self.rng = np.random.default_rng()
        self._updated = self._started = self._last_frame = None
        self.episodes = 0  # how many times the room emptied

    def update(self, now: float, idle: bool) -> float:
        """Move the weight towards 1 (idle) or 0; the new weight."""
        dt = now - self._updated if self._updated is not None else 0.0
        self._updated = now
        if idle:
            if self.weight == 0.0:
                self.episodes += 1
            self.weight = min(1.0, self.weight + dt / self.fade) if self.fade else 1.0
            self.weight = max(self.weight, 1e-3)  # fading in has begun
        else:
            self.weight = max(0.0, self.weight - dt / FADE_OUT_S)
            if self.weight == 0.0:
                self.image = None  # nothing kept between empty rooms
        return self.weight

    def reset(self) -> None:
        """Nothing shown, nothing kept: the next empty room starts afresh."""
        self.weight, self.image, self._updated = 0.0, None, None

    def objective(self, state: ShowState, now: float) -> str:
        """The scene drifts on every scene_seconds, starting from the show's own."""
        drift = int((now - self._started) / self.scene_seconds)
        return objective_of(state.presets[(state.preset + drift) % len(state.presets)])

    def frame(self, state: ShowState, size: tuple[int, int], now: float) -> np.ndarray:
        """The next attract frame (float32 RGB in [0, 1]) at `size` (w, h)."""
        if self.image is None or self.image.shape[1::-1] != tuple(size):
            self.image, self._started, self._last_frame = seed_image(size, self.rng), now, now
        dt = min(now - self._last_frame, 0.5)  # zoom by time, not by frame: the same drift at any frame rate
        self._last_frame = now
        self.image = zoomed(self.image, math.exp(self.zoom * dt))  # zoomed even if the dream step fails
        self.image = np.clip(self.dream(self.image, self.objective(state, now), state), 0.0, 1.0)
        return self.image


class EmptyRoom:
    """The dream worker's watch on the room (installation mode): when nobody has moved for
    `idle_seconds`, or the camera has been away for a second, the attract loop fades in over the dream;
    a visitor's motion brings the dream back."""

    def __init__(self, settings, dream, source_ok, on_out_of_memory):
        """`settings`: [installation]; `dream(image, objective, state)`: one attract frame's dreaming;
        `source_ok()`: whether the camera is delivering; `on_out_of_memory()`: the worker's remedy."""
        self.idle_seconds = settings.idle_seconds
        self.motion = MotionWatch(settings.motion_share, time.monotonic())
        self.loop = AttractLoop(dream, settings.attract_fade, settings.attract_zoom, settings.attract_scene_seconds)
        self.source_ok, self.on_out_of_memory = source_ok, on_out_of_memory
        self.failures = 0
        self.last_failure: str | None = None
        self._away_since: float | None = None

    @property
    def weight(self) -> float:
        return self.loop.weight

    def see(self, image: np.ndarray, now: float) -> None:
        self.motion.see(image, now)

    def update(self, now: float) -> float:
        """The attract loop's weight now (0: the live dream, 1: the attract loop alone)."""
        return self.loop.update(now, self._idle(now))

    def _idle(self, now: float) -> bool:
        away = self.source_ok is not None and not self.source_ok()
        if away and self._away_since is None:
            self._away_since = now
        elif not away:
            self._away_since = None
        return (self.motion.idle_for(now) >= self.idle_seconds
                or (self._away_since is not None and now - self._away_since >= 1.0))

    def picture(self, state: ShowState, size: tuple[int, int], now: float) -> np.ndarray | None:
        """The attract frame (uint8); on a failure, the last one (still zooming), so it never ends the show."""
        from live.backends.devices import is_out_of_memory, is_sticky_device_error
        try:
            return (self.loop.frame(state, size, now) * 255.0 + 0.5).astype(np.uint8)
        except Exception as exc:  # noqa: BLE001 - the attract loop must not end an unattended show
            if is_sticky_device_error(exc):
                raise
            if is_out_of_memory(exc):
                self.on_out_of_memory()
            self.failures += 1
            self.last_failure = f"attract loop frame not dreamed: {exc.__class__.__name__}: {exc}"
            if self.failures == 1 or self.failures % 100 == 0:
                log.warning("%s (%d so far)", self.last_failure, self.failures, exc_info=True)
            image = self.loop.image  # still moving: the last attract picture, zoomed on
            return None if image is None else (image * 255.0 + 0.5).astype(np.uint8)

    def forget(self) -> None:
        """Closed: nothing shown, nothing kept; the room counts as just entered."""
        self._away_since = None
        self.loop.reset()
        self.motion.last_motion = time.monotonic()
