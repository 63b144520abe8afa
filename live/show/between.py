"""The decoupled display's memory (display.decoupled): the newest dream, and what carries it to each
camera frame shown before the next dream comes (live/dream/carry.py)."""
from __future__ import annotations

import numpy as np

from live.control.state import ShowState
from live.core.imageio import fit_cover
from live.dream.carry import ResidualCarrier, with_residual
from live.dream.composite import framed_camera
from live.show.slots import Frame


class BetweenDreams:
    def __init__(self, flow: str):
        self.carrier = ResidualCarrier(flow)
        self.dream: Frame | None = None  # the newest dream taken; None: the show presents dreams as they come
        self.camera_seq = 0  # the newest camera frame shown

    def takes(self, item: Frame, state: ShowState) -> bool:
        """Whether this dream is carried to the camera frames. The attract loop (no visitor in it) and a
        frozen frame (the dream deepens on a held picture) are shown as the worker makes them."""
        if item.attract is not None or item.attract_weight > 0 or state.frozen or item.camera_image is None:
            self.dream = None
            self.carrier.reset()
            return False
        return True

    def dreamed(self, item: Frame) -> None:
        self.dream = item
        self.carrier.dreamed(item.image, item.source_image)

    def picture(self, frame: Frame, size: tuple[int, int], mix: float,
                dream_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The camera frame at `size` with the dream carried to it, and the camera framed alone (framed
        as a dream of `dream_size` would be, before there is one)."""
        self.camera_seq = frame.seq
        dream_size = dream_size if self.dream is None else self.dream.image.shape[1::-1]
        small = fit_cover(frame.image, dream_size)  # as the worker frames what it dreams
        camera = small if tuple(size) == tuple(dream_size) else framed_camera(frame.image, small, dream_size, size)
        residual = None if self.dream is None else self.carrier.to(small)
        return (camera if residual is None else with_residual(camera, residual, mix)), camera
