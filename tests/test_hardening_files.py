"""What a run leaves on disk when it is stopped, killed, doubled or fed a damaged file, and the unit file a
strange folder name makes: each case on the real command, with real signals and real files.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from live_helpers import moving_cat_frames

# The run of the issue: small, one preset, no ONNX export; the recording is 640x480 at 30 fps.
RECORD_RUN = ("run", "--source", "demo", "--headless", "--set", "live.presets=block5", "--set", "live.backend=torch",
              "--size", "96x64")
FPS = 30


_started: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def no_run_outlives_its_test():
    """A test that fails half-way leaves no run behind it (one recording for 60 s would slow the others)."""
    yield
    while _started:
        proc = _started.pop()
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=60)


def start(*args, cwd):
    proc = subprocess.Popen([sys.executable, "-m", "live.cli", *map(str, args)], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _started.append(proc)
    return proc


def live_dream(*args, cwd, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "live.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def partials(folder: Path) -> list[Path]:
    """The hidden files a run writes before renaming them into place (whatever their naming), not locks."""
    return [p for p in folder.iterdir() if p.name.startswith(".") and not p.name.endswith(".lock")]


def wait_for_partial(folder: Path, proc, min_bytes=1, timeout=120, old=()) -> Path:
    """The partial this run writes (not one of `old`), once it holds `min_bytes`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p for p in partials(folder) if p not in old and p.stat().st_size >= min_bytes]
        if found:
            return found[0]
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before writing: {proc.communicate()[1][-2000:]}")
        time.sleep(0.05)
    raise AssertionError("the run never started writing")


def wait_for_growth(partial: Path, times: int, timeout=90) -> None:
    """Until the file has grown `times` times: whole seconds of video on disk, not in a buffer."""
    deadline, size, grown = time.monotonic() + timeout, partial.stat().st_size, 0
    while grown < times:
        assert time.monotonic() < deadline, f"{partial.name} stopped growing at {size} bytes"
        time.sleep(0.1)
        now = partial.stat().st_size
        if now > size:
            size, grown = now, grown + 1


def count_frames(path: Path) -> int:
    """Frames PyAV decodes from start to end; an error on the way fails the test (the file is not whole)."""
    import av
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


# ---------------------------------------------------------------- 13. SIGHUP, SIGQUIT, SIGUSR1 while recording

@pytest.mark.parametrize("name", ["SIGHUP", "SIGQUIT", "SIGUSR1"])
def test_a_hangup_or_quit_while_recording_stops_cleanly_and_usr1_is_ignored(tmp_path, name):
    """A closed SSH session sends SIGHUP; Ctrl-\\ SIGQUIT: both used to kill the run in 0.1 s and leave a
    28-byte partial. SIGUSR1 (a stray `kill -USR1`) is ignored: the show goes on until SIGTERM."""
    if not hasattr(signal, name):
        pytest.skip(f"this platform has no {name}")
    proc = start(*RECORD_RUN, "--record", "x.mp4", "--seconds", 30, cwd=tmp_path)
    partial = wait_for_partial(tmp_path, proc)
    wait_for_growth(partial, 4)
    proc.send_signal(getattr(signal, name))
    if name == "SIGUSR1":
        time.sleep(2)
        assert proc.poll() is None, proc.communicate()[1][-2000:]  # still running ...
        wait_for_growth(partial, 1)  # ... and recording
        proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode in (0, 130), stderr[-2000:]
    assert "Traceback" not in stderr and "interrupted: stopped cleanly" in stdout
    assert count_frames(tmp_path / "x.mp4") >= 3 * FPS  # several seconds, playable to the end
    assert [p.name for p in tmp_path.iterdir()] == ["x.mp4"]  # no partial, no lock left


# ---------------------------------------------------------------- 14. SIGKILL loses at most the last second

def test_a_killed_recording_keeps_all_but_its_last_second(tmp_path):
    """The fragments went to disk only when FFmpeg's ~256 KB write buffer filled: a run killed at 20 s
    left 13 s. Each fragment is flushed when complete, so a kill loses at most the one being written."""
    proc = start(*RECORD_RUN, "--record", "x.mp4", "--seconds", 60, cwd=tmp_path)
    wait_for_partial(tmp_path, proc)  # created with the first frame
    first_frame = time.monotonic()
    time.sleep(8)
    proc.kill()
    recorded = time.monotonic() - first_frame
    proc.communicate(timeout=60)
    result = live_dream(*RECORD_RUN, "--record", "x.mp4", "--frames", 5, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    recovered = list(tmp_path.glob("x.recovered-*.mp4"))
    assert len(recovered) == 1 and "was killed" in result.stderr
    frames = count_frames(recovered[0])
    assert frames >= (recorded - 1.5) * FPS, f"{frames} frames kept of {recorded:.1f} s recorded"


# ---------------------------------------------------------------- 15. partials of killed renders

FRAGMENTED = "frag_keyframe+empty_moov+default_base_moof"


def write_clip(path: Path, n: int, fps=15, movflags="faststart", tone=True, size=(160, 120)) -> Path:
    """H.264 with an AAC tone and the index at the start (as a phone or an editor's 'web' export writes
    it), or silent and fragmented (as the recorder writes it)."""
    import av
    frames = [f for f, _ in moving_cat_frames(n, size=size, speed=1)]
    with av.open(str(path), "w", options={"movflags": movflags}) as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        if tone:
            audio = out.add_stream("aac", rate=44100, layout="mono")
            samples = (0.5 * np.sin(2 * np.pi * 440 * np.arange(int(44100 * n / fps)) / 44100)).astype(np.float32)
            for i in range(0, len(samples), 1024):
                frame = av.AudioFrame.from_ndarray(samples[None, i:i + 1024], format="flt", layout="mono")
                frame.sample_rate, frame.pts = 44100, i
                out.mux(audio.encode(frame))
            out.mux(audio.encode(None))
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return path


RENDER = ("--size", "96x72", "--steps", 1, "--set", "live.backend=torch", "--quiet")


def removed_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "unfinished" in line]


def test_partials_of_killed_renders_are_removed_by_the_next_render(tmp_path):
    """Three kills used to leave three hidden 1.5-2 MB partials for ever; each next run removes them."""
    long = write_clip(tmp_path / "long.mp4", 600)
    short = write_clip(tmp_path / "short.mp4", 10)
    for kill in range(3):  # killed three times while writing
        proc = start("render", long, "out.mp4", *RENDER, cwd=tmp_path)
        wait_for_partial(tmp_path, proc, min_bytes=50_000, old=partials(tmp_path))
        proc.kill()
        lines = removed_lines(proc.communicate(timeout=60)[1])
        if kill:  # the one killed before
            assert len(lines) == 1 and "removed 1 unfinished file(s) of out.mp4 left by killed runs" in lines[0], lines
    assert len(partials(tmp_path)) == 1
    # stopped with SIGTERM (or SIGHUP), a render removes its own partial on the way out
    proc = start("render", long, "out.mp4", *RENDER, cwd=tmp_path)
    mine = wait_for_partial(tmp_path, proc, min_bytes=50_000, old=partials(tmp_path))
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and not mine.exists(), stderr[-2000:]
    assert len(removed_lines(stderr)) == 1 and not partials(tmp_path)
    result = live_dream("render", short, "out.mp4", *RENDER, cwd=tmp_path)
    assert result.returncode == 0 and not removed_lines(result.stderr), result.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4", "out.mp4", "short.mp4"]
    assert count_frames(tmp_path / "out.mp4") == 10


# ---------------------------------------------------------------- 16. two runs, one target

def test_a_second_run_writing_the_same_file_is_refused_and_the_first_keeps_its_file(tmp_path):
    """Both used to say `wrote same.mp4`, and the later rename silently replaced the other's recording."""
    first = start(*RECORD_RUN, "--record", "same.mp4", "--seconds", 60, cwd=tmp_path)
    wait_for_growth(wait_for_partial(tmp_path, first), 2)
    clip = write_clip(tmp_path / "clip.mp4", 5)
    for args in [(*RECORD_RUN, "--record", "same.mp4", "--seconds", 5), ("render", clip, "same.mp4", *RENDER)]:
        second = live_dream(*args, cwd=tmp_path, timeout=120)
        lines = [line for line in second.stderr.splitlines() if line.strip()]
        assert second.returncode == 2 and len(lines) == 1, second.stderr[-2000:]
        assert f"same.mp4: another run (process {first.pid}, started at " in lines[0], lines[0]
        assert "wrote" not in second.stdout
    assert first.poll() is None  # the first run went on
    first.send_signal(signal.SIGTERM)
    stdout, stderr = first.communicate(timeout=60)
    assert first.returncode == 130 and "wrote same.mp4" in stdout, stderr[-2000:]
    assert count_frames(tmp_path / "same.mp4") >= 2 * FPS  # whole: decoded to the end without an error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "same.mp4"]


# ---------------------------------------------------------------- 17. a damaged input

def frames_before(path: Path, cut: int) -> int:
    """The video frames of `path` whose data, and the data of every packet read before it, lies wholly
    before byte `cut`: what can be dreamed of the file cut there."""
    import av
    frames = 0
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.size and packet.pos is not None:
                if packet.pos + packet.size > cut:
                    break
                frames += packet.stream.type == "video"
    return frames


@pytest.mark.parametrize("movflags, tone", [("faststart", True), (FRAGMENTED, False)], ids=["download", "recording"])
def test_render_of_a_damaged_input_writes_what_it_dreamed_and_says_where_it_stopped(tmp_path, movflags, tone):
    """A download cut short (index first, with sound) or a recording cut short (fragmented, silent):
    `run --source` plays them up to the cut. Render refused the one (the cut packet is video) and wrote
    the other as if it were whole (the cut packet is sound, copied unread); now it dreams up to the cut,
    writes that, and says so with its own exit status."""
    whole = write_clip(tmp_path / "whole.mp4", 45, movflags=movflags, tone=tone)
    data = whole.read_bytes()
    cut = int(len(data) * 0.6)
    (tmp_path / "cut.mp4").write_bytes(data[:cut])
    expected = frames_before(whole, cut)
    whole.unlink()
    result = live_dream("render", "cut.mp4", "out.mp4", *RENDER, cwd=tmp_path)
    assert result.returncode == 3, result.stderr[-2000:]  # written, but only in part
    m = re.search(r"live-dream: the input is damaged after frame (\d+) \((\d+\.\d) s\); dreamed and wrote the first "
                  r"(\d+) frames", result.stderr)
    assert m and m[1] == m[3], result.stderr[-2000:]
    n = int(m[1])
    assert n == expected and 10 <= n < 45 and abs(float(m[2]) - n / 15) <= 0.1, (n, expected)
    assert f"wrote out.mp4: {n} frames" in result.stdout
    assert count_frames(tmp_path / "out.mp4") == n
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mp4", "out.mp4"]


# ---------------------------------------------------------------- 18. the systemd unit of a strange folder

def systemd_words(value: str) -> list[str]:
    """Split an Exec line's value as systemd does (extract_first_word with UNQUOTE and CUNESCAPE)."""
    escapes = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "s": " ",
               "\\": "\\", '"': '"', "'": "'"}
    words, i = [], 0
    while i < len(value):
        if value[i] in " \t":
            i += 1
            continue
        word, quote = "", None
        while i < len(value) and (quote or value[i] not in " \t"):
            c = value[i]
            if c == "\\":
                word += escapes[value[i + 1]]
                i += 2
                continue
            if quote and c == quote:
                quote = None
            elif not quote and c in "\"'":
                quote = c
            else:
                word += c
            i += 1
        assert quote is None, value
        words.append(word)
    return words


def unescape(text: str, char: str) -> str:
    """`%%` -> `%` (specifiers) or `$$` -> `$` (variables); any other use would expand to something else."""
    parts = text.split(char * 2)
    assert not any(char in part for part in parts), f"an unescaped {char} in {text!r}"
    return char.join(parts)


def exec_start(unit: str) -> tuple[str, list[str]]:
    """The program systemd runs and its argv: specifiers expanded in both, variables in argv only; with `@`
    the word after the program is argv[0]."""
    words = systemd_words(re.search(r"^ExecStart=(.*)$", unit, re.M)[1])
    program = words.pop(0)
    if program.startswith("@"):
        program = program[1:]
    else:
        words.insert(0, program)
    return unescape(program, "%"), [unescape(unescape(word, "%"), "$") for word in words]


def test_service_install_refuses_a_folder_whose_name_holds_a_newline(tmp_path):
    """Installed from this folder, the old unit gained a line `ExecStartPre=/bin/touch ...` of its own."""
    folder = tmp_path / "show\nExecStartPre=/bin/touch /tmp/injected"  # folders within folders: a name has no /
    folder.mkdir(parents=True)
    home = tmp_path / "home"
    for args, cwd in [(("service", "install"), folder),
                      (("service", "install", "--config", folder / "c.toml"), tmp_path),
                      (("service", "install", "--print"), tmp_path / "tab\there")]:
        cwd.mkdir(exist_ok=True)
        (folder / "c.toml").write_text("")
        result = live_dream(*args, cwd=cwd, env={**os.environ, "HOME": str(home)}, timeout=60)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2 and len(lines) == 1, (args, result.stderr[-1000:], result.stdout[-1000:])
        assert "holds a control character" in lines[0] and "ExecStart" not in result.stdout
    assert not home.exists()  # no unit written


def test_service_unit_holds_odd_paths_exactly_as_systemd_reads_them(tmp_path):
    """Spaces, quotes, a backslash, `%h` (a specifier: the home folder) and `$HOME` (a variable) in the
    folder, the config file's path and the interpreter's path come back from the unit as they are."""
    odd = "a b %h $HOME ${X}"
    python_dir = tmp_path / f"venv {odd}"  # systemd refuses quotes and backslashes in a program's path
    python_dir.mkdir()
    python = python_dir / "python"
    python.symlink_to(sys.executable)
    show = tmp_path / f"show {odd} \"q\" 'q' back\\slash"
    show.mkdir()
    (show / "config.toml").write_text("")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    result = subprocess.run([str(python), "-m", "live.cli", "service", "install", "--print"], cwd=show, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    unit = result.stdout
    program, argv = exec_start(unit)
    assert program == str(python)
    assert argv == [str(python), "-m", "live.cli", "run", "--installation", "--config", str(show / "config.toml")]
    assert unescape(re.search(r"^WorkingDirectory=(.*)$", unit, re.M)[1], "%") == str(show)
    if shutil.which("systemd-analyze"):  # what systemd itself says of the unit (Debian: package systemd)
        unit_file = tmp_path / "live-dream.service"
        unit_file.write_text(unit)
        verify = subprocess.run(["systemd-analyze", "verify", str(unit_file)], capture_output=True, text=True,
                                timeout=60)
        assert verify.returncode == 0, verify.stderr
    # an interpreter whose path systemd cannot run is one line, not a unit that fails when started
    quoted = tmp_path / "venv \"q\""
    quoted.mkdir()
    (quoted / "python").symlink_to(sys.executable)
    result = subprocess.run([str(quoted / "python"), "-m", "live.cli", "service", "install", "--print"], cwd=show,
                            env=env, capture_output=True, text=True, timeout=60)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and "has a quote or a backslash" in lines[0], result.stderr
