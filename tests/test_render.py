"""`live-dream render`: a real clip with a real tone, through the real command."""
from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from live_helpers import cli_cases, moving_cat_frames

FPS = 15
FRAMES = 24


def live_dream(*args, cwd):
    return subprocess.run([sys.executable, "-m", "live.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def write_clip_with_tone(path: Path, frames, fps=FPS, tone_hz=440.0) -> Path:
    """H.264 video and an AAC sine tone, as a phone or an editor would hand a VJ a clip."""
    import av
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        audio = out.add_stream("aac", rate=44100, layout="mono")
        samples = np.sin(2 * np.pi * tone_hz * np.arange(int(44100 * len(frames) / fps)) / 44100)
        block = 1024
        for i in range(0, len(samples), block):
            chunk = (samples[i:i + block] * 0.5).astype(np.float32)[None]
            frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            frame.sample_rate, frame.pts = 44100, i
            out.mux(audio.encode(frame))
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))
    return path


def decode(path: Path):
    import av
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        rate = video.average_rate
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        audio = [s.codec_context.name for s in container.streams.audio]
        tone = None
        if audio:
            container.seek(0)
            tone = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    return frames, rate, audio, tone


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    frames = [f for f, _ in moving_cat_frames(FRAMES, size=(160, 120), speed=4)]
    return write_clip_with_tone(folder / "in.mp4", frames), folder


def test_render_dreams_every_frame_in_order_at_the_inputs_rate_and_size_and_keeps_the_sound(clip):
    source, folder = clip
    out = folder / "dreamed.mp4"
    result = live_dream("render", source, out, "--size", "96x72", "--steps", 2, "--set", "live.backend=torch",
                        cwd=folder)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"done, {FRAMES} frames" in result.stderr  # the progress ran to the end (plain lines: no terminal)
    assert f"wrote {out}: {FRAMES} frames at 160x120" in result.stdout and "audio copied" in result.stdout
    inputs, in_rate, _, in_tone = decode(source)
    outputs, out_rate, audio, out_tone = decode(out)
    assert len(outputs) == len(inputs) == FRAMES
    assert out_rate == in_rate == Fraction(FPS) and outputs[0].shape == (120, 160, 3)
    assert audio == ["aac"] and abs(len(out_tone) - len(in_tone)) < 2048
    spectrum = np.abs(np.fft.rfft(out_tone[:44100 // 2]))
    assert abs(np.argmax(spectrum) * 2 - 440) <= 4  # still a 440 Hz tone
    for i in range(1, FRAMES - 1):  # each output frame is its own input frame dreamed, not a neighbour's
        own = np.abs(outputs[i].astype(int) - inputs[i]).mean()
        assert own < np.abs(outputs[i].astype(int) - inputs[i - 1]).mean()
        assert own < np.abs(outputs[i].astype(int) - inputs[i + 1]).mean()
    assert np.abs(outputs[5].astype(int) - inputs[5]).mean() > 3  # and dreamed, not copied
    assert sorted(p.name for p in folder.iterdir()) == ["dreamed.mp4", "in.mp4"]  # no partial left


def test_render_bad_input_is_one_line(tmp_path, clip):
    source, _ = clip
    (tmp_path / "junk.mp4").write_text("not a video")
    cases = [
        (("missing.mp4", tmp_path / "o.mp4"), "cannot read video missing.mp4: no such file"),
        ((tmp_path / "junk.mp4", tmp_path / "o.mp4"), "not a video FFmpeg can decode"),
        ((source, tmp_path / "nofolder" / "o.mp4"), "does not exist"),
        ((source, source), "it is the input"),
        ((source, tmp_path / "o.gif"), "unsupported format '.gif'"),
    ]
    results = cli_cases([["render", *args] for args, _ in cases], cwd=tmp_path)  # one process per case
    for (args, message), result in zip(cases, results):
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2 and len(lines) == 1 and message in lines[0], (args, result.stderr[-1500:])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.mp4"]
