"""The picture on the wall: the full-resolution composite and the figures that measure it."""
from __future__ import annotations

import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from live.dream.composite import compose, framed_camera
from live.dream.quality import PictureMeter
from live_helpers import moving_cat_frames, scaled, write_video


def test_with_no_dream_the_composite_is_the_camera_frame_itself():
    camera = scaled("astronaut", (640, 480))
    source = scaled("astronaut", (160, 120))
    shown = compose(source.copy(), source, camera, (640, 480), "residual")
    assert np.array_equal(shown, camera)  # full detail, nothing added
    assert np.array_equal(framed_camera(camera, source, (160, 120), (640, 480)), camera)
    soft = compose(source.copy(), source, camera, (640, 480), "upscale")
    assert np.abs(soft.astype(int) - camera).mean() > 1  # the old look loses the camera's detail


def test_the_composite_keeps_the_dreams_change_and_the_dreams_framing():
    camera = scaled("coffee", (1280, 720))  # 16:9 camera, 4:3 dream, 16:9 screen: framing must agree
    source = scaled("coffee", (1280, 720))[:, 160:1120]
    source = np.ascontiguousarray(source[::6, ::6][:120, :160])
    dream = np.clip(source.astype(int) + 40, 0, 255).astype(np.uint8)  # a uniform change of +40
    shown = compose(dream, source, camera, (1280, 720), "residual")
    upscaled = compose(dream, source, camera, (1280, 720), "upscale")
    framed = framed_camera(camera, source, (160, 120), (1280, 720))
    assert shown.shape == upscaled.shape == framed.shape == (720, 1280, 3)
    unsaturated = framed < 200
    assert abs((shown.astype(int) - framed)[unsaturated].mean() - 40) < 2
    assert np.abs(shown.astype(int) - upscaled).mean() < 12  # the same part of the scene in both modes


def test_the_meter_sees_boiling_flicker_strength_and_lost_detail():
    frame = scaled("chelsea", (160, 120))
    rng = np.random.default_rng(0)
    soft = cv2.resize(cv2.resize(frame, (40, 30), interpolation=cv2.INTER_AREA), (160, 120))
    calm, boiling, blurred = PictureMeter(), PictureMeter(), PictureMeter()
    for _ in range(5):
        calm.add(frame, frame)
        boiling.add(np.clip(frame + rng.normal(0, 8, frame.shape), 0, 255).astype(np.uint8), frame)
        blurred.add(soft, frame)
    assert calm.figures()["strength"] == 0 and calm.figures()["detail"] == pytest.approx(1.0)
    assert boiling.figures()["strength"] > 5 and boiling.figures()["flicker_output"] > 5
    assert boiling.figures()["flicker_input"] == 0 and boiling.figures()["calm"] is None  # a camera that never changes: no ratio
    assert blurred.figures()["detail"] < 0.45 and blurred.figures()["flicker_output"] == 0


def render_figures(tmp_path, clip, steps=2, **settings):
    """The picture figures `render --measure` prints for `clip` dreamed at 160x120 with these settings."""
    name = "-".join(f"{k}{v}" for k, v in settings.items()) or "defaults"
    overrides = [arg for key, value in settings.items() for arg in ("--set", f"{key.replace('__', '.')}={value}")]
    result = subprocess.run([sys.executable, "-m", "live.cli", "render", clip, tmp_path / f"{name}.mp4", "--size",
                             "160x120", "--steps", str(steps), "--measure", "-q", "--set", "live.backend=torch",
                             *overrides], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    line = result.stdout.strip().splitlines()[-1]
    return {k: float(v) for k, v in re.findall(r"(calm|flicker|strength|detail) ([0-9.]+)", line)}


def test_the_camera_detail_survives_at_twice_the_dream_resolution(tmp_path):
    """A 320x240 clip dreamed at 160x120: the old upscaled look fails the bound the composite meets."""
    clip = write_video(tmp_path / "in.mp4", (f for f, _ in moving_cat_frames(24, size=(320, 240), speed=3)))
    old = render_figures(tmp_path, clip, display__composite="upscale")
    new = render_figures(tmp_path, clip, display__composite="residual")
    assert old["detail"] < 0.45 <= new["detail"], (old, new)
    assert new["strength"] > 3 and new["strength"] >= 0.6 * old["strength"]  # still a dream, not the camera


def still_clip_with_sensor_noise(path, frames=45):
    """A still scene as a camera sees it: the same photo, with fresh sensor noise each frame (lossless)."""
    import av
    rng = np.random.default_rng(1)
    photo = scaled("chelsea", (320, 240))
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=30, options={"qp": "0", "preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = 320, 240, "yuv444p"
        for i in range(frames):
            noisy = np.clip(photo + rng.normal(0, 0.6, photo.shape), 0, 255).round().astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(noisy, format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return path


def test_a_still_scene_deepens_instead_of_boiling(tmp_path):
    clip = still_clip_with_sensor_noise(tmp_path / "still.mp4")
    boiling = render_figures(tmp_path, clip, steps=1, temporal__shown_smoothing=0)
    calm = render_figures(tmp_path, clip, steps=1, temporal__shown_smoothing=0.9)
    assert boiling["calm"] > 10  # the measure fails the dream shown frame by frame as it is
    assert calm["calm"] < 0.4 * boiling["calm"] and calm["flicker"] < 3, (boiling, calm)
    assert calm["strength"] >= 0.7 * boiling["strength"] and calm["strength"] > 5  # still a dream


def test_a_moving_scene_flickers_less_at_a_similar_strength(tmp_path):
    clip = write_video(tmp_path / "pan.mp4", (f for f, _ in moving_cat_frames(30, size=(320, 240), speed=3)))
    plain = render_figures(tmp_path, clip, steps=1, temporal__shown_smoothing=0)
    smoothed = render_figures(tmp_path, clip, steps=1, temporal__shown_smoothing=0.9)
    assert plain["flicker"] > 3 > smoothed["flicker"], (plain, smoothed)
    assert smoothed["strength"] >= 0.7 * plain["strength"]
