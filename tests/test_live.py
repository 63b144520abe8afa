"""The live pipeline with real parts: video files made from real photos, the real network, real threads,
a real pygame window (SDL dummy driver), a real process interrupted by a signal. No timing thresholds."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from live.config import load_config
from live.config import DreamSettings
from live.errors import UserError
from live.dream.featurenet import FeatureNet
from live.dream.flow import FlowEstimator, flicker
from live.show.pipeline import RunOptions, run_live
from live.show.slots import Frame, LatestSlot
from live.sources import DemoSource, SourceRequest, open_source
from live.config import TemporalSettings
from live.dream.temporal import TemporalDreamer
from live.backends.dreamer import Dreamer
from live.backends.engine import Network
from live_helpers import cli_cases, moving_cat_frames, read_video, scaled, write_video

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dreamer(lite0, lite0_model):
    return Dreamer(Network(lite0, lite0_model, torch.device("cpu"), None), ["block9"], DreamSettings(step_size=0.03, jitter=16), seed=0)


def dream_fn(dreamer, steps=1):
    return lambda image: dreamer.run(image, 0, steps, 1.0)


def as_float(frame):
    return frame.astype(np.float32) / 255.0


def config(tmp_path, **overrides):
    base = {"display.mode": "headless", "live.width": 160, "live.height": 120, "live.presets": "block9",
            "dream.seed": 0, "record.width": 160, "record.height": 120, "live.backend": "torch"}
    base.update(overrides)
    return load_config(None, base)


def block9_energy(net, frames):
    with torch.no_grad():
        x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255
        return float(net(x)["block9"].pow(2).mean())


# ---------------------------------------------------------------- the temporal dreamer

def test_a_still_scene_stays_bounded_over_hundreds_of_frames(dreamer):
    still = as_float(scaled("chelsea", (160, 120)))
    temporal = TemporalDreamer(dream_fn(dreamer), TemporalSettings())
    brightness, strength = [], []
    for _ in range(240):
        out = temporal(still)
        brightness.append(float(out.mean() - still.mean()))
        strength.append(float(np.abs(out - still).mean()))
    assert max(abs(b) for b in brightness) < 0.01  # no brightening or darkening
    assert strength[30] > 0.02  # the dream did build up over the first frames...
    plateau_a, plateau_b = np.mean(strength[120:180]), np.mean(strength[180:240])
    assert abs(plateau_b - plateau_a) < 0.1 * plateau_a  # ...and then holds steady
    saturation = lambda im: float((im.max(2) - im.min(2)).mean())
    assert saturation(out) < saturation(still) + 0.1
    assert np.abs(temporal.residual).max() <= TemporalSettings().residual_limit + 1e-6


def residual_attachment_error(dreamer, flow: str) -> tuple[float, float]:
    """How much the dream on a moving cat changes between frames once the cat's motion is undone
    (relative), and the flicker figure of the output."""
    temporal = TemporalDreamer(dream_fn(dreamer), TemporalSettings(flow=flow))
    dreamer.rng.seed(0)
    errors, outputs, inputs, previous = [], [], [], None
    for t, (frame, x) in enumerate(moving_cat_frames(36)):
        out = temporal(as_float(frame))
        r = temporal.residual
        if previous is not None and t > 6:
            pr, px = previous
            now, before = r[34:86, x + 4: x + 76], pr[34:86, px + 4: px + 76]
            errors.append(np.abs(now - before).mean() / np.abs(now).mean())
        previous = (r.copy(), x)
        outputs.append((out * 255).astype(np.uint8))
        inputs.append(frame)
    return float(np.mean(errors)), flicker(outputs, inputs, FlowEstimator("dis"))[0]


def test_flow_warping_keeps_the_dream_on_a_moving_object_better_than_plain_blending(dreamer):
    with_flow, flicker_flow = residual_attachment_error(dreamer, "dis")
    plain, flicker_plain = residual_attachment_error(dreamer, "none")
    assert with_flow < 0.9 * plain, (with_flow, plain)
    assert flicker_flow < flicker_plain, (flicker_flow, flicker_plain)


def test_flicker_is_zero_for_a_still_sequence_and_sees_noise():
    frame = scaled("coffee", (160, 120))
    still = flicker([frame] * 4, [frame] * 4, FlowEstimator("dis"))
    assert still == (0.0, 0.0)
    rng = np.random.default_rng(0)
    noisy = [np.clip(frame + rng.normal(0, 8, frame.shape), 0, 255).astype(np.uint8) for _ in range(4)]
    out_flicker, in_flicker = flicker(noisy, [frame] * 4, FlowEstimator("dis"))
    assert out_flicker > 5 and in_flicker == 0.0


# ---------------------------------------------------------------- slots and sources

def test_the_latest_frame_slot_drops_rather_than_queues_under_a_slow_reader():
    slot, received = LatestSlot(), []

    def slow_reader():
        seq = 0
        while True:
            item = slot.get_newer(seq, timeout=1.0)
            if item is None:
                return
            seq = item.seq
            received.append(seq)
            time.sleep(0.01)

    reader = threading.Thread(target=slow_reader)
    reader.start()
    for seq in range(1, 301):
        slot.put(Frame(np.zeros((1, 1, 3), np.uint8), seq, time.monotonic()))
        time.sleep(0.0005)
    slot.close()
    reader.join()
    assert received == sorted(received) and received[-1] == 300  # in order, and the newest always arrives
    assert len(received) < 300  # the reader skipped what it was too slow for...
    assert slot.dropped == 300 - len(received)  # ...and every skipped frame is counted as dropped


def test_demo_source_is_photographic_and_moves_like_a_camera():
    demo = DemoSource(320, 240, fps=30)
    frames = [demo.read() for _ in range(31)]
    assert frames[0].shape == (240, 320, 3) and frames[0].dtype == np.uint8
    step = np.abs(frames[1].astype(float) - frames[0]).mean()
    second = np.abs(frames[30].astype(float) - frames[0]).mean()
    assert 0.5 < step < second  # sensor noise frame to frame, real drift over a second
    assert frames[0].std() > 30  # a photo, not a flat test card


def test_bad_sources_are_one_clear_line(tmp_path):
    with pytest.raises(UserError, match="cannot read video nope.mp4: no such file"):
        open_source("nope.mp4", SourceRequest(64, 64, 30))
    with pytest.raises(UserError, match="no camera"):
        open_source("camera:7", SourceRequest(64, 64, 30))
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    with pytest.raises(UserError, match="cannot read video .*broken.mp4"):
        open_source(str(tmp_path / "broken.mp4"), SourceRequest(64, 64, 30))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="has no images"):
        open_source(str(tmp_path / "empty"), SourceRequest(64, 64, 30))


# ---------------------------------------------------------------- the whole pipeline

def test_headless_run_dreams_the_frames_and_records_them(tmp_path, lite0, lite0_model):
    inputs = [f for f, _ in moving_cat_frames(60)]
    video = write_video(tmp_path / "in.mp4", inputs)
    out = tmp_path / "out.mp4"
    summary = run_live(config(tmp_path, **{"capture.source": str(video), "capture.loop": False,
                                           "record.path": str(out)}),
                       RunOptions(measure=True, stats_json=str(tmp_path / "stats.json")))
    assert summary["captured"] == 60 and summary["shown"] >= 10
    assert summary["captured"] == summary["dreamed"] + summary["dropped_before_dream"]
    assert summary["flicker_output"] > summary["flicker_input"] >= 0
    recorded = read_video(out)
    assert len(recorded) >= 10 and recorded[0].shape == (120, 160, 3)
    net = FeatureNet(lite0, lite0_model, {"block9"})
    assert block9_energy(net, recorded) > 1.2 * block9_energy(net, inputs)  # dreamed the way block9 wants
    import json
    assert json.loads((tmp_path / "stats.json").read_text())["shown"] == summary["shown"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4", "stats.json"]


def test_fast_mode_reads_as_fast_as_it_can_and_records_each_frame_once(tmp_path):
    video = write_video(tmp_path / "in.mp4", (f for f, _ in moving_cat_frames(40)))
    out = tmp_path / "out.mp4"
    summary = run_live(config(tmp_path, **{"capture.source": str(video), "capture.loop": False,
                                           "record.path": str(out)}), RunOptions(fast=True))
    assert summary["captured"] == 40 and summary["shown"] >= 1
    assert len(read_video(out)) == summary["shown"]


def test_a_source_that_fails_mid_run_ends_the_run_with_a_clear_message(tmp_path):
    """One junk file is skipped (tests/test_faults.py); a folder whose every file turns unreadable while
    the show runs ends it, with the reason, and keeps the recording."""
    folder = tmp_path / "frames"
    folder.mkdir()
    from live.core.imageio import write_image
    for i, name in enumerate(["astronaut", "chelsea", "coffee"]):
        write_image(folder / f"{i}.png", scaled(name, (160, 120)))
    out = tmp_path / "out.mp4"
    cfg = config(tmp_path, **{"capture.source": str(folder), "capture.fps": 20, "record.path": str(out)})

    def spoil():
        for path in folder.iterdir():
            path.write_text("no longer an image")

    timer = threading.Timer(4.0, spoil)
    timer.start()
    try:
        with pytest.raises(UserError, match=r"source folder .* failed: .*no image in folder .*recording up to then"):
            run_live(cfg, RunOptions(seconds=60))
    finally:
        timer.cancel()
    assert len(read_video(out)) >= 1  # what was dreamed before the failure is kept, playable


def test_a_source_that_ends_ends_the_run(tmp_path, capsys):
    video = write_video(tmp_path / "in.mp4", (f for f, _ in moving_cat_frames(10)))
    summary = run_live(config(tmp_path, **{"capture.source": str(video), "capture.loop": False}), RunOptions())
    assert summary["captured"] == 10 and not summary["interrupted"]
    assert "source ended: video in.mp4" in capsys.readouterr().out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_recording_is_playable_after_an_interrupt(tmp_path, sig):
    out = tmp_path / "dream.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "live.cli", "run", "--source", "demo", "--headless", "--size",
                             "160x120", "--record", str(out), "--set", "live.backend=torch",
                             "--set", "live.presets=block9"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    partial = []
    deadline = time.monotonic() + 120
    while not partial and time.monotonic() < deadline and proc.poll() is None:  # wait until it is recording
        time.sleep(0.5)
        partial = [p for p in tmp_path.iterdir() if p.name.endswith(".partial.mp4") and p.stat().st_size > 20_000]
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted: stopped cleanly" in stdout and "Traceback" not in stderr
    frames = read_video(out)
    assert len(frames) > 0 and frames[0].shape == (480, 640, 3)
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_window_keys_change_the_dream_take_snapshots_and_quit(tmp_path, monkeypatch):
    """The real pygame window (SDL dummy driver) and real key events."""
    import pygame
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    video = write_video(tmp_path / "in.mp4", (f for f, _ in moving_cat_frames(30)))
    cfg = config(tmp_path, **{"display.mode": "window", "display.fullscreen": False, "display.window_width": 320,
                              "display.window_height": 240, "capture.source": str(video),
                              "live.presets": "block9; class:jellyfish", "record.snapshot_dir": str(tmp_path / "snaps")})
    seen_hud = []

    def press_keys():
        time.sleep(3)  # the window opens on the main thread meanwhile
        for key in (pygame.K_h, pygame.K_RIGHT, pygame.K_UP, pygame.K_RIGHTBRACKET, pygame.K_SPACE, pygame.K_s):
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, unicode="", scancode=0))
            time.sleep(0.3)
        time.sleep(1.0)
        surface = pygame.display.get_surface()
        if surface is not None:
            seen_hud.append(pygame.surfarray.array3d(surface)[10:40, 10:40].mean())
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_q, mod=0, unicode="", scancode=0))

    presser = threading.Thread(target=press_keys)
    presser.start()
    summary = run_live(cfg, RunOptions(seconds=120))
    presser.join()
    assert summary["seconds"] < 100  # Q ended the run, not the time limit
    assert summary["objective"] == "class:jellyfish"  # right arrow: next preset
    assert summary["strength"] == 1.25 and summary["steps"] == 2 and summary["frozen"]
    snaps = list((tmp_path / "snaps").glob("dream-*.png"))
    assert len(snaps) == 1
    from live.core.imageio import read_image
    assert read_image(snaps[0]).shape == (240, 320, 3)  # the composite, as shown in the 320x240 window
    assert seen_hud and seen_hud[0] < 120  # the HUD's dark panel covers the top-left corner


def test_cameras_and_displays_commands_say_what_is_there(tmp_path):
    import os
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")}
    cameras, displays, dummy = cli_cases(  # each the command, in a process of its own
        [["cameras"], ["displays"], (["displays"], tmp_path, {"SDL_VIDEODRIVER": "dummy"})], cwd=tmp_path, env=env,
        timeout=300)
    assert cameras.returncode == 0
    assert "no cameras found" in cameras.stdout or cameras.stdout.split(":")[0].isdigit()
    assert "no screen" in displays.stdout
    listed = dummy.stdout.split()
    assert listed[0] == "0:" and "x" in listed[1]


def test_presets_cycle_on_a_timer_for_unattended_shows(tmp_path):
    summary = run_live(config(tmp_path, **{"capture.source": "demo", "live.presets": "block9; block11",
                                           "live.cycle_seconds": 0.5}), RunOptions(seconds=2.5))
    assert summary["timed_preset_changes"] >= 2
    assert summary["objective"] in ("block9", "block11")
    off = run_live(config(tmp_path, **{"capture.source": "demo", "live.presets": "block9; block11"}),
                   RunOptions(seconds=1.5))
    assert off["timed_preset_changes"] == 0 and off["objective"] == "block9"
