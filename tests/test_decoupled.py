"""The decoupled display (display.decoupled): the picture at the camera's rate, the dream at its own, carried
between dreams along the optical flow."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from live.backends.dreamer import Dreamer
from live.backends.engine import Network
from live.config import DreamSettings, TemporalSettings, load_config
from live.dream.carry import TAKE, ResidualCarrier, with_residual
from live.dream.temporal import TemporalDreamer
from live_helpers import moving_cat_frames, scaled


@pytest.fixture(scope="module")
def dreamed_cat(lite0, lite0_model):
    """A real dream of the moving cat (block9, the temporal dream), frame by frame: (frame, x, dream)."""
    dreamer = Dreamer(Network(lite0, lite0_model, torch.device("cpu"), None), ["block9"],
                      DreamSettings(step_size=0.03, jitter=16), seed=0)
    temporal = TemporalDreamer(lambda image: dreamer.run(image, 0, 1, 1.0), TemporalSettings())
    out = []
    for frame, x in moving_cat_frames(24):
        dream = (temporal(frame.astype(np.float32) / 255) * 255 + 0.5).astype(np.uint8)
        out.append((frame, x, dream))
    return out


def attachment_error(dreamed_cat, flow: str, gap: int = 3) -> float:
    """A dream made every `gap` frames, carried to the frames between: how far the carried dream on the
    cat is from the dream of the frame it was made on, the cat's motion undone (relative)."""
    carrier, errors = ResidualCarrier(flow), []
    for t, (frame, x, dream) in enumerate(dreamed_cat):
        if t % gap == 0:
            carrier.dreamed(dream, frame)
            made, made_x = dream.astype(np.float32) - frame, x
        elif t > 6:
            carried = carrier.to(frame)
            now, then = carried[34:86, x + 4: x + 76], made[34:86, made_x + 4: made_x + 76]
            errors.append(np.abs(now - then).mean() / np.abs(then).mean())
    return float(np.mean(errors))


def test_the_carried_dream_stays_on_the_moving_object(dreamed_cat):
    with_flow, without = attachment_error(dreamed_cat, "dis"), attachment_error(dreamed_cat, "none")
    assert with_flow < 0.75 * without, (with_flow, without)


def test_a_new_dream_replaces_the_carried_one_without_a_jump(dreamed_cat):
    """The change of the shown residual when a dream arrives is no larger than between dreams' arrivals
    would be with the new dream swapped in whole (take = 1): blended, its arrival is not a jump."""
    def arrival_jumps(take: float) -> float:
        carrier, jumps, previous = ResidualCarrier("dis", take=take), [], None
        for t, (frame, x, dream) in enumerate(dreamed_cat):
            if t % 3 == 0:
                carrier.dreamed(dream, frame)
            shown = carrier.to(frame)
            if previous is not None and t % 3 == 0 and t > 6:
                jumps.append(float(np.abs(shown - previous).mean()))
            previous = None if shown is None else shown.copy()
        return float(np.mean(jumps))
    assert arrival_jumps(TAKE) < 0.75 * arrival_jumps(1.0), (arrival_jumps(TAKE), arrival_jumps(1.0))


def test_the_picture_is_the_camera_plus_the_carried_change():
    camera = scaled("coffee", (320, 240))
    residual = np.zeros((120, 160, 3), np.float32)
    residual[40:80, 60:100] = 30.0
    shown = with_residual(camera, residual)
    expected = np.clip(camera[100:140, 140:180].astype(int) + 30, 0, 255)  # upscaled 2x: the box doubles
    assert np.abs(shown[100:140, 140:180].astype(int) - expected).max() <= 1
    assert np.array_equal(shown[:60], camera[:60])  # no change: the camera as it is
    half = with_residual(camera, residual, mix=0.5)
    expected = np.clip(camera[100:140, 140:180].astype(int) + 15, 0, 255)
    assert np.abs(half[100:140, 140:180].astype(int) - expected).max() <= 1


class SlowDreams:
    """The soak's fault-plan interface, used here to make every dream take 150 ms."""

    def source(self, source):
        return source

    def dreamer(self, dreamer):
        return SlowDreamer(dreamer)


class SlowDreamer:
    def __init__(self, dreamer):
        self._dreamer = dreamer

    def __getattr__(self, name):
        return getattr(self._dreamer, name)

    def run(self, image, preset, steps, strength):
        time.sleep(0.15)
        return self._dreamer.run(image, preset, steps, strength)


def test_decoupled_the_picture_keeps_the_cameras_rate_while_the_dream_is_slow():
    """A dream step made slow (150 ms): coupled, the picture waits for each dream (the code before shows
    ~6 fps); decoupled, every camera frame is shown (30 fps source) and the dream refreshes at its own rate."""
    from live.show.pipeline import RunOptions, run_live
    base = {"display.mode": "headless", "capture.source": "demo", "capture.width": 320, "capture.height": 240,
            "capture.fps": 30, "live.width": 160, "live.height": 120, "live.presets": "block9",
            "live.backend": "torch", "record.path": ""}
    runs = {decoupled: run_live(load_config(None, {**base, "display.decoupled": decoupled}),
                                RunOptions(seconds=4, faults=SlowDreams()))
            for decoupled in (False, True)}
    coupled, decoupled = runs[False], runs[True]
    assert coupled["fps"] < 8 and decoupled["dream_hz"] < 8, (coupled, decoupled)
    assert decoupled["fps"] > 3 * coupled["fps"], (coupled["fps"], decoupled["fps"])
    assert decoupled["shown"] > 0.8 * decoupled["captured"]  # every new camera frame, not a few of them
