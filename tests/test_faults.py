"""Nothing lost, nothing sent, one fault never ends the show: each case found by a hostile user, run on
the real command with real signals, real files and, where the machine lets us mount one, a real full disk.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import MEDIA
from live_helpers import cli_cases, moving_cat_frames, read_video, scaled, write_video

ROOT = Path(__file__).resolve().parent.parent
TORCH = ("--set", "live.backend=torch")  # no ONNX export: these runs test faults, not speed
SMALL = ("--headless", "--size", "160x120")
ONE = ("--set", "live.presets=block9")  # one preset to prepare, not five: where a run tests a fault, not presets


def live_dream(*args, cwd, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "live.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def start(*args, cwd, env=None):
    return subprocess.Popen([sys.executable, "-m", "live.cli", *map(str, args)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def one_line_error(result, message: str) -> None:
    """Exit status 2 and exactly one line on stderr, naming the problem."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("live-dream: "), result.stderr[-2000:]
    assert message in lines[0], lines[0]


@contextmanager
def mounted_tmpfs(path: Path, options: str):
    path.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True,
                           text=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mount.stderr.strip() or 'not root'}): a full or read-only "
                    f"disk needs one")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def wait_for_partial(folder: Path, proc, min_bytes=20_000, timeout=120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if any("partial" in p.name and p.stat().st_size > min_bytes for p in folder.iterdir()):
            return
        time.sleep(0.2)
    raise AssertionError("the run never started recording")


def wait_for_text(proc, text: str, timeout=120) -> None:
    """Read the run's stderr (raw: progress bars end their lines with \\r) until `text` appears."""
    deadline, seen = time.monotonic() + timeout, b""
    os.set_blocking(proc.stderr.fileno(), False)
    while time.monotonic() < deadline:
        try:
            chunk = os.read(proc.stderr.fileno(), 65536)
        except BlockingIOError:
            chunk = None
        if chunk == b"":
            raise AssertionError(f"the run ended before saying '{text}': {seen[-2000:]!r}")
        seen += chunk or b""
        if text.encode() in seen:
            os.set_blocking(proc.stderr.fileno(), True)
            return
        time.sleep(0.02)
    raise AssertionError(f"the run never said '{text}'")


# ---------------------------------------------------------------- 1. a full disk while recording

def test_a_full_disk_while_recording_fails_loudly_and_keeps_what_was_recorded(tmp_path):
    with mounted_tmpfs(tmp_path / "small", "size=512k") as disk:  # full after a few seconds
        result = live_dream("run", *SMALL, "--source", "demo", "--seconds", 60, "--record", disk / "rec.mp4",
                            *TORCH, *ONE, cwd=tmp_path)
        assert result.returncode == 2, result.stderr[-2000:]
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("live-dream: recording failed: ") and "No space left on device" in last, last
        assert "wrote" not in result.stdout and "Traceback" not in result.stderr
        frames = read_video(disk / "rec.mp4")  # what was recorded before the disk filled plays
        assert len(frames) >= 15 and frames[0].shape == (480, 640, 3)
        assert f"({len(frames)} frames)" in last
        assert sorted(p.name for p in disk.iterdir()) == ["rec.mp4"]  # no partial left behind


# ---------------------------------------------------------------- 2. signals

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_repeated_signals_during_shutdown_still_finish_the_recording(tmp_path, sig):
    proc = start("run", *SMALL, "--source", "demo", "--record", "out.mp4", *TORCH, *ONE, cwd=tmp_path)
    wait_for_partial(tmp_path, proc)
    for _ in range(3):  # a service manager repeating itself, or an impatient Ctrl-C
        proc.send_signal(sig)
        time.sleep(0.01)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr and "terminate called" not in stderr
    assert "interrupted: stopped cleanly" in stdout
    assert len(read_video(tmp_path / "out.mp4")) > 0
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_run_stopped_during_start_up_leaves_no_file(tmp_path, sig):
    """Coupled, nothing is shown (or recorded) until the network is loaded and the first frame dreamed.
    (Decoupled, the camera is shown within a second, and recorded: that is a recording like any other.)"""
    proc = start("run", *SMALL, "--source", "demo", "--record", "out.mp4", *TORCH, "--set", "display.decoupled=false",
                 cwd=tmp_path)
    wait_for_text(proc, "the camera is shown while the network loads")
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    # no video, whole or partial (a lock left by SIGKILL holds nothing: the next run takes it over)
    assert [p.name for p in tmp_path.iterdir()] in ([], [".out.mp4.lock"])


def test_a_recording_killed_mid_run_is_recovered_by_the_next_run(tmp_path):
    proc = start("run", *SMALL, "--source", "demo", "--record", "out.mp4", *TORCH, *ONE, cwd=tmp_path)
    wait_for_partial(tmp_path, proc, min_bytes=300_000)  # a few whole seconds written
    proc.kill()
    proc.communicate(timeout=60)
    assert not (tmp_path / "out.mp4").exists()
    result = live_dream("run", *SMALL, "--source", "demo", "--frames", 5, "--record", "out.mp4", *TORCH, *ONE,
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    recovered = list(tmp_path.glob("out.recovered-*.mp4"))
    assert len(recovered) == 1 and "an earlier run recording to out.mp4 was killed" in result.stderr
    assert len(read_video(recovered[0])) >= 30  # at least the first whole second
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out.mp4", recovered[0].name])


def test_ctrl_c_while_exporting_stops_the_run(tmp_path):
    """The interrupt must not be taken for a backend failure, and the export (a process of its own, in the
    background) must not keep the run waiting."""
    env = {**os.environ, "LIVE_DREAM_MODELS": str(tmp_path / "models")}  # a fresh cache: it exports
    proc = start("run", *SMALL, "--source", "demo", "--set", "live.backend=auto", cwd=tmp_path, env=env)
    wait_for_text(proc, "exporting")
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr[-2000:]
    assert "unavailable" not in stderr and "could not be built" not in stderr and "Traceback" not in stderr


# ---------------------------------------------------------------- 3. an output that is the input

def test_an_output_that_is_the_input_is_refused(tmp_path):
    photo = tmp_path / "in.png"
    photo.write_bytes((MEDIA / "chelsea.png").read_bytes())
    (tmp_path / "link.png").symlink_to(photo)
    before = photo.read_bytes()
    video = write_video(tmp_path / "v.mp4", (f for f, _ in moving_cat_frames(10)))
    video_before = video.read_bytes()
    for result in cli_cases([["still", photo, photo], ["still", photo, "link.png"],  # one process per case
                             ["run", *SMALL, "--source", video, "--record", video, *TORCH]], cwd=tmp_path):
        one_line_error(result, "it is the input")
    assert photo.read_bytes() == before and video.read_bytes() == video_before


# ---------------------------------------------------------------- one line, not a traceback

def test_unwritable_outputs_are_one_line_before_the_work(tmp_path):
    photo = MEDIA / "chelsea.png"
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("x")
    cases = [(["run", *SMALL, "--source", "demo", "--stats-json", tmp_path / "no" / "s.json", *TORCH], "folder"),
             (["run", *SMALL, "--source", "demo", "--record", tmp_path / "adir", *TORCH], "it is a folder"),
             (["still", photo, tmp_path / "o.png", "--objective", "+"], "has no terms"),
             (["still", photo, tmp_path / "o.png", "--objective", " - "], "has no terms")]
    for (_, message), result in zip(cases, cli_cases([args for args, _ in cases], cwd=tmp_path)):
        one_line_error(result, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "afile"]  # nothing hidden left behind


def test_still_into_a_read_only_or_full_folder_is_one_line(tmp_path):
    photo = MEDIA / "chelsea.png"
    with mounted_tmpfs(tmp_path / "ro", "ro,size=1m") as ro, mounted_tmpfs(tmp_path / "full", "size=64k") as full:
        read_only, result = cli_cases([["still", photo, ro / "o.png", "--steps", 1, "--octaves", 1],  # a process each
                                       ["still", photo, full / "o.png", "--steps", 1, "--octaves", 1, "-q"]],
                                      cwd=tmp_path)
        one_line_error(read_only, "not writable (Read-only file system)")
        one_line_error(result, "No space left on device")
        assert list(full.iterdir()) == []


def test_a_snapshot_that_cannot_be_written_does_not_end_the_show(tmp_path):
    """The real pygame window (SDL dummy driver) and real key events; the snapshot folder is a file."""
    import logging
    import threading
    import pygame
    from live.config import load_config
    from live.show.pipeline import RunOptions, run_live
    video = write_video(tmp_path / "in.mp4", (f for f, _ in moving_cat_frames(30)))
    (tmp_path / "snaps").write_text("I am a file")
    cfg = load_config(None, {"display.mode": "window", "display.fullscreen": False, "display.window_width": 320,
                             "display.window_height": 240, "capture.source": str(video), "live.width": 160,
                             "live.height": 120, "live.backend": "torch", "live.presets": "block9",
                             "record.snapshot_dir": str(tmp_path / "snaps")})
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logging.getLogger("live-dream").addHandler(handler)

    def press(*keys):
        time.sleep(3)
        for key in keys:
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, unicode="", scancode=0))
            time.sleep(1.0)

    presser = threading.Thread(target=press, args=(pygame.K_s, pygame.K_RIGHTBRACKET, pygame.K_q))
    presser.start()
    try:
        summary = run_live(cfg, RunOptions(seconds=60))
    finally:
        presser.join()
        logging.getLogger("live-dream").removeHandler(handler)
    assert any("snapshot not saved" in m and "is a file" in m for m in messages), messages
    assert summary["steps"] == 2  # the key after S still worked: the show went on
    assert summary["seconds"] < 50  # and Q ended it


# ---------------------------------------------------------------- 5. NaN

def test_an_infinite_weight_is_refused_instead_of_a_black_image(tmp_path):
    result = live_dream("still", MEDIA / "chelsea.png", tmp_path / "o.png", "--objective", "1e400*block9",
                        cwd=tmp_path)
    one_line_error(result, "objective weight 1e400 is too large")
    assert not (tmp_path / "o.png").exists()


def test_a_dream_that_goes_nan_does_not_black_out_the_rest_of_the_show(tmp_path):
    """1e38 is finite, but the gradient overflows float32: every step of that preset is NaN. The other
    preset must still dream, and no frame may be black."""
    result = live_dream("run", *SMALL, "--source", "demo", "--seconds", 3, "--record", "out.mp4", *TORCH,
                        "--set", "live.presets=1e38*block9; block9", "--set", "live.cycle_seconds=1",
                        "--stats-json", "s.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "the dream went numerically wrong (NaN)" in result.stderr
    frames = read_video(tmp_path / "out.mp4")
    assert len(frames) > 30
    assert min(f.mean() for f in frames) > 40  # the demo's photos; black would be ~0
    assert json.loads((tmp_path / "s.json").read_text())["nonfinite_resets"] > 0


# ---------------------------------------------------------------- 6. one bad frame or file

def test_a_folder_with_one_junk_file_keeps_running(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, name in enumerate(["astronaut", "chelsea", "coffee"]):
        Image.fromarray(scaled(name, (160, 120))).save(folder / f"{i}.png")
    (folder / "1b.png").write_text("a file that is not an image")
    result = live_dream("run", *SMALL, "--source", folder, "--frames", 20, "--set", "capture.fps=30", *TORCH,
                        *ONE, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr.count("skipping 1b.png") == 1  # said once, not every loop
    assert "shown 20" in result.stdout


def test_a_folder_of_junk_only_fails_with_one_line(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "a.png").write_text("junk")
    result = live_dream("run", *SMALL, "--source", folder, "--seconds", 30, "--log-file", "show.log", *TORCH,
                        *ONE, cwd=tmp_path)
    assert result.returncode == 2
    assert "no image in folder" in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr  # the user sees lines; the log file keeps the traceback
    log = (tmp_path / "show.log").read_text()
    assert "Traceback (most recent call last)" in log and "no image in folder" in log and "skipping a.png" in log


def test_a_frame_that_makes_the_step_raise_is_skipped_and_the_show_goes_on(lite0, lite0_model):
    """The real worker thread and dreamer; an empty frame (what some cameras deliver with ok=True)
    makes preprocessing raise."""
    from live.config import DreamSettings
    from live.show.slots import Frame, LatestSlot
    from live.config import TemporalSettings
    from live.control.bus import ControlBus
    from live.control.state import ShowState
    from live.backends.dreamer import Dreamer
    from live.backends.engine import Network
    from live.show.worker import DreamWorker
    dreamer = Dreamer(Network(lite0, lite0_model, __import__("torch").device("cpu"), None), ["block9"], DreamSettings(step_size=0.03))
    inbox, outbox = LatestSlot(), LatestSlot()
    worker = DreamWorker(dreamer, TemporalSettings(), (96, 64), inbox, outbox, ControlBus(ShowState())).start()
    good = scaled("chelsea", (160, 120))
    shown = []

    def feed(seq, image, wait):
        inbox.put(Frame(image, seq, time.monotonic()))
        item = outbox.get_newer(seq - 1, timeout=wait)
        if item is not None:
            shown.append(item.seq)

    try:
        feed(1, good, 30)
        feed(2, np.zeros((0, 0, 3), np.uint8), 2)
        feed(3, good, 30)
        feed(4, good, 30)
    finally:
        inbox.close()
        worker.stop()
    assert worker.error is None and worker.healing.failed == 1
    assert shown == [1, 3, 4]  # the frames after the bad one were dreamed


def test_camera_frames_of_any_shape_become_rgb_or_are_skipped():
    """What cv2.VideoCapture.read can return with ok=True (no camera here to unplug: the conversion
    that every camera frame goes through, on real arrays)."""
    from live.sources.frames import decoded_to_rgb
    bgr = scaled("coffee", (64, 48))[..., ::-1].copy()
    assert decoded_to_rgb(np.zeros((0, 0, 3), np.uint8)) is None
    assert decoded_to_rgb(None) is None
    assert np.array_equal(decoded_to_rgb(bgr), bgr[..., ::-1])
    grey = decoded_to_rgb(bgr[..., 1])
    assert grey.shape == (48, 64, 3) and np.array_equal(grey[..., 0], bgr[..., 1])
    assert decoded_to_rgb(np.dstack([bgr, np.full(bgr.shape[:2], 255, np.uint8)])).shape == (48, 64, 3)
    deep = decoded_to_rgb(bgr[..., 1].astype(np.uint16) * 257)
    assert np.abs(deep[..., 0].astype(int) - bgr[..., 1]).max() <= 1


# ---------------------------------------------------------------- 7. damaged caches

@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory):
    """A models cache written by a real run: an ONNX graph and an 'auto' choice for one preset. A render
    makes them before its first frame and tries the candidates on its frames (a show makes them in the
    background, which takes longer than this whole render)."""
    models = tmp_path_factory.mktemp("models")
    env = {**os.environ, "LIVE_DREAM_MODELS": str(models)}
    clip = write_video(models / "clip.mp4", (f for f, _ in moving_cat_frames(70, size=(128, 96))))
    result = live_dream("render", clip, models / "out.mp4", "--size", "128x96", "--set", "live.presets=block5",
                        "--set", "live.backend=auto", cwd=models, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (models / "cache" / "backend-choice.json").is_file()
    return models, env


DAMAGED = ["[]", "null", "{not json", "entry without ms"]


@pytest.fixture(scope="module")
def damaged_choice_results(tmp_path_factory, warm_cache):
    """For each damage, a copy of the warm cache with its choice damaged so, and the run on it: the command,
    each in a process of its own (one interpreter start for all)."""
    import shutil
    models, env = warm_cache
    good = (models / "cache" / "backend-choice.json").read_text()
    cases = []
    for content in DAMAGED:
        damaged = tmp_path_factory.mktemp("damaged-models")
        shutil.copytree(models / "cache", damaged / "cache")
        if content == "entry without ms":
            data = json.loads(good)
            data = {key: {k: v for k, v in entry.items() if k != "ms"} for key, entry in data.items()}
            content = json.dumps(data)
        (damaged / "cache" / "backend-choice.json").write_text(content)
        cases.append((["run", "--headless", "--size", "128x96", "--source", "demo", "--frames", 3,
                       "--set", "live.presets=block5", "--set", "live.backend=auto"],
                      tmp_path_factory.mktemp("damaged"), {"LIVE_DREAM_MODELS": str(damaged)}))
    return dict(zip(DAMAGED, cli_cases(cases, env=env)))


@pytest.mark.parametrize("content", DAMAGED)
def test_a_damaged_backend_choice_is_measured_again(damaged_choice_results, content):
    result = damaged_choice_results[content]
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "damaged" in result.stderr


def test_a_truncated_cached_graph_is_exported_again(warm_cache, monkeypatch, caplog):
    models, env = warm_cache
    graphs = list((models / "cache" / "onnx").glob("*.onnx"))
    assert graphs
    for graph in graphs:
        data = graph.read_bytes()
        graph.write_bytes(data[: len(data) // 2])
    # a show: exported again in the background while torch dreams; it ends once ONNX has taken over
    from live.config import load_config
    from live.show.pipeline import RunOptions, run_live
    monkeypatch.setenv("LIVE_DREAM_MODELS", str(models))
    config = load_config(None, {"display.mode": "headless", "capture.source": "demo", "live.width": 128,
                                "live.height": 96, "live.presets": "block5", "live.backend": "onnx", "record.path": ""})
    shows = []

    def once_onnx_dreams(_):
        shows[0].quit = shows[0].quit or shows[0].worker.status.backend.startswith("onnx")
    with caplog.at_level(logging.INFO, logger="live-dream"):
        summary = run_live(config, RunOptions(seconds=120, pictures=once_onnx_dreams), watch=shows.append)
    assert "cannot be loaded" in caplog.text and "exporting it again" in caplog.text
    assert summary["backend"].startswith("onnx")  # not torch for ever
    assert not [p for p in (models / "cache" / "onnx").iterdir() if "partial" in p.name]


# ---------------------------------------------------------------- 8. privacy

def test_onnx_runtime_writes_no_telemetry(tmp_path, warm_cache):
    models, env = warm_cache
    home = tmp_path / "home"
    home.mkdir()
    result = live_dream("run", "--headless", "--size", "128x96", "--source", "demo", "--seconds", 6,
                        "--set", "live.presets=block5", "--set", "live.backend=onnx", cwd=tmp_path,
                        env={**env, "HOME": str(home)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "onnx-cpu takes over from torch" in result.stderr  # ONNX Runtime really ran
    assert not (home / ".cache" / "Microsoft").exists()
    assert list(home.rglob("*")) == []


# ---------------------------------------------------------------- 9. sizes beyond the machine

def test_a_dream_size_beyond_the_machine_is_refused(refused):
    one_line_error(refused["size"], "dream needs about")


def test_a_gigantic_image_is_refused_before_decoding(tmp_path):
    Image.new("1", (20000, 20000)).save(tmp_path / "huge.png")  # 400 megapixels, a few kB on disk
    for result in cli_cases([["still", tmp_path / "huge.png", tmp_path / "o.png"],  # one process per case
                             ["run", *SMALL, "--source", tmp_path / "huge.png", *TORCH, *ONE]], cwd=tmp_path,
                            timeout=240):
        one_line_error(result, "downscale it first")


def test_a_still_source_is_decoded_once(tmp_path):
    from live.sources import SourceRequest, open_source
    Image.fromarray(scaled("chelsea", (1600, 1200))).save(tmp_path / "still.png")
    source = open_source(str(tmp_path / "still.png"), SourceRequest(320, 240, 30))
    (tmp_path / "still.png").unlink()  # decoding it again would now fail
    frames = [source.read() for _ in range(3)]
    assert all(f.shape == (240, 320, 3) for f in frames)  # held at the size it is needed at


# ---------------------------------------------------------------- 10. 16-bit pictures

def test_a_16_bit_greyscale_png_keeps_its_picture(tmp_path):
    grey8 = scaled("chelsea", (160, 120)).mean(axis=2)
    Image.fromarray((grey8 * 257).astype(np.uint16)).save(tmp_path / "grey16.png")
    result = live_dream("still", tmp_path / "grey16.png", tmp_path / "o.png", "--steps", 1, "--octaves", 1,
                        "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    out = np.asarray(Image.open(tmp_path / "o.png").convert("L"), dtype=float)
    assert abs(out.mean() - grey8.mean()) < 15 and out.std() > 20  # the cat, not a white sheet


# ---------------------------------------------------------------- 11. values that would run for ever

FOR_EVER = [
    (["--seconds", "0"], "--seconds: '0' must be a number above 0"),
    (["--seconds", "nan"], "--seconds: 'nan' must be a number above 0"),
    (["--frames", "0"], "--frames: '0' must be a number above 0"),
    (["--set", "tuning.min_width=600", "--set", "tuning.max_width=300"], "larger than tuning.max_width"),
    (["--source", ""], "setting capture.source = '' is not allowed"),
    (["--config", "."], "is a folder"),
]


@pytest.fixture(scope="module")
def refused(tmp_path_factory):
    """The runs of this file refused before they start (FOR_EVER's by their arguments), each the command
    in a folder and a process of its own (one interpreter start for all)."""
    cases = {tuple(args): ["run", "--headless", *args] for args, _ in FOR_EVER}
    cases["size"] = ["run", "--headless", "--size", "7680x4320", "--source", "demo", *TORCH]
    cases["config folder"] = ["run", "--headless", "--source", "demo"]
    folders = {key: tmp_path_factory.mktemp("refused") for key in cases}
    (folders["config folder"] / "config.toml").mkdir()
    return dict(zip(cases, cli_cases([(args, folders[key]) for key, args in cases.items()], timeout=180)))


@pytest.mark.parametrize("args, message", FOR_EVER)
def test_values_that_would_run_for_ever_are_refused(refused, args, message):
    one_line_error(refused[tuple(args)], message)


def test_a_folder_named_config_toml_is_refused(refused):
    one_line_error(refused["config folder"], "config file config.toml is a folder")


# ---------------------------------------------------------------- 12. memory over months

def test_the_latency_window_is_bounded_by_time_and_the_summary_says_what_is_held():
    from live.show.stats import LATENCY_WINDOW_S, RunStats
    stats = RunStats()
    t0 = 1000.0
    for i in range(int(2.5 * LATENCY_WINDOW_S * 30)):  # two and a half hours at 30 fps
        now = t0 + i / 30
        stats.frame_shown(now - 0.05, now=now)
    held = len(stats.latencies_ms)
    assert LATENCY_WINDOW_S * 30 <= held <= (LATENCY_WINDOW_S + 120) * 30  # the last hour, not all of it
    summary = stats.summary(captured=stats.shown, dreamed=stats.shown)
    assert summary["latency_ms_median"] == pytest.approx(50, abs=0.1)
    assert summary["latency_window_frames"] == held
    assert 0 < summary["memory_mb"] <= summary["peak_memory_mb"]
