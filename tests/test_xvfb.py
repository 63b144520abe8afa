"""The real program, fullscreen on a real X server (Xvfb), and a real screenshot of that screen.
.ci/run installs Xvfb and xwd; where they are missing this test is skipped and says so."""
from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from live_helpers import moving_cat_frames, write_video

pytestmark = pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xwd")),
                                reason="Xvfb and xwd are not installed (apt-get install xvfb x11-apps)")
SCREEN = (800, 600)


def read_xwd(data: bytes) -> np.ndarray:
    """An xwd screenshot (24-bit TrueColor, 32 bits per pixel) as HxWx3 RGB."""
    header = struct.unpack(">25I", data[:100])
    header_size, width, height, byte_order, bpp, bytes_per_line, ncolors = (
        header[0], header[4], header[5], header[7], header[11], header[12], header[19])
    assert bpp == 32, bpp
    pixels = np.frombuffer(data, np.uint8, height * bytes_per_line, header_size + 12 * ncolors)
    pixels = pixels.reshape(height, bytes_per_line)[:, : width * 4].reshape(height, width, 4)
    return pixels[..., [2, 1, 0]] if byte_order == 0 else pixels[..., [1, 2, 3]]


@pytest.fixture()
def x_display(tmp_path):
    number = 90 + os.getpid() % 9
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten",
                               "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not Path(f"/tmp/.X11-unix/X{number}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)


def test_fullscreen_window_with_hud_on_a_real_x_server(tmp_path, x_display):
    video = write_video(tmp_path / "in.mp4", (f for f, _ in moving_cat_frames(60, size=(320, 240))))
    env = {k: v for k, v in os.environ.items() if k != "SDL_VIDEODRIVER"}
    env["DISPLAY"] = x_display
    proc = subprocess.Popen([sys.executable, "-m", "live.cli", "run", "--source", str(video), "--hud", "--size",
                             "160x120", "--set", "live.backend=torch", "--set", "live.presets=block9",
                             "--stats-json", str(tmp_path / "s.json")],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    screen = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(1.0)
            shot = subprocess.run(["xwd", "-root", "-silent", "-display", x_display], capture_output=True)
            image = read_xwd(shot.stdout) if shot.returncode == 0 else None
            if image is not None and image.std() > 20:  # the dream is on screen
                screen = image
                time.sleep(1.0)
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    assert screen is not None, stderr
    assert screen.shape == (SCREEN[1], SCREEN[0], 3)  # fullscreen: the whole X screen is ours
    hud = screen[15:60, 15:200].astype(float)
    picture = screen[300:500, 300:700].astype(float)
    assert hud.mean() < picture.mean()  # the HUD's dark panel, top left
    assert (hud > 200).mean() > 0.02  # with white text on it
    assert proc.returncode == 130 and "Traceback" not in stderr
