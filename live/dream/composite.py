"""The picture that is shown: the dream brought to the output's resolution.

- `residual` (default): the camera frame at the output's resolution plus the dream's change (dream -
  its input, at dream resolution) upscaled. The camera's own detail survives wherever the dream is weak;
  the dream's forms take over where it is strong.
- `upscale`: the dream itself upscaled (the look before: soft, a 320x240 picture on a 1080p screen).

Both keep the dream's framing: the camera frame is cropped to the dream's aspect ratio (as the worker
crops it) and the result centre-cropped to the output, so the two modes show the same part of the scene.
"""
from __future__ import annotations

import cv2
import numpy as np

from live.core.imageio import crop_to_aspect, fit_cover

COMPOSITES = ("residual", "upscale")


def dimmed(image: np.ndarray, light: float) -> np.ndarray:
    """`image` at `light` (0: black, 1: as it is): the blackout's fade."""
    return image if light >= 1.0 else cv2.convertScaleAbs(image, alpha=max(light, 0.0))


def faded_into(shown: np.ndarray, other: np.ndarray, weight: float) -> np.ndarray:
    """`shown` fading into `other` (any size: brought to shown's): 0 shows `shown`, 1 `other`."""
    other = fit_cover(other, shown.shape[1::-1])
    return other if weight >= 1.0 else cv2.addWeighted(shown, 1.0 - weight, other, weight, 0.0)


def compose(dream: np.ndarray, source: np.ndarray, camera: np.ndarray | None, size: tuple[int, int],
            mode: str = "residual", mix: float = 1.0) -> np.ndarray:
    """The shown frame, uint8 RGB of `size` (w, h). `dream` and `source` are the dream and the frame it was
    dreamed from (uint8, dream resolution); `camera` is the frame as captured (None: `source` stands in).
    `mix` is dry/wet: 0 shows the camera, 1 the full dream."""
    if mix < 1.0:  # at dream resolution: the cheapest place
        dream = cv2.addWeighted(dream, mix, source, 1.0 - mix, 0.0)
    if mode == "upscale":
        return fit_cover(dream, size)
    return add_residual(framed_camera(camera, source, dream.shape[1::-1], size), dream, source)


def framed_camera(camera: np.ndarray | None, source: np.ndarray, dream_size: tuple[int, int],
                  size: tuple[int, int]) -> np.ndarray:
    """The camera frame as the dream frames it (cropped to the dream's aspect ratio, as the worker crops
    it), brought to `size`: what the composite starts from, and what the picture figures compare with."""
    return fit_cover(crop_to_aspect(camera, dream_size) if camera is not None else source, size)


def add_residual(camera: np.ndarray, dream: np.ndarray, source: np.ndarray) -> np.ndarray:
    """`camera` (uint8, at the output's size) plus the dream's change (dream - source,
    uint8 at dream resolution) upscaled to it. The change is split into its positive and negative parts
    so every operation is a saturating uint8 one (SIMD): a 1080p composite costs a few milliseconds."""
    return add_change(camera, cv2.subtract(dream, source), cv2.subtract(source, dream))


def add_change(camera: np.ndarray, plus: np.ndarray, minus: np.ndarray) -> np.ndarray:
    """`camera` (uint8, the output's size) brightened by `plus` and darkened by `minus` (uint8, dream
    resolution: a change split into its positive and negative parts) upscaled to it."""
    size = camera.shape[1::-1]

    def upscaled(part):  # linear: the two parts upscaled add up to the change upscaled
        return cv2.resize(crop_to_aspect(part, size), size, interpolation=cv2.INTER_LINEAR)

    return cv2.subtract(cv2.add(camera, upscaled(plus)), upscaled(minus))
