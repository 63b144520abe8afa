"""Real test material for the live pipeline: videos made from the bundled photos, and the real dreamer."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from live.core.imageio import read_image
from conftest import MEDIA


def scaled(name: str, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(read_image(MEDIA / f"{name}.png"), size, interpolation=cv2.INTER_AREA)


def moving_cat_frames(n: int, size=(160, 120), speed=2):
    """The cat's face (a real photo) sliding right over the coffee photo: a moving object on a still scene.
    Yields (frame uint8 RGB, x of the cat's left edge)."""
    w, h = size
    background = scaled("coffee", size)
    cat = scaled("chelsea", (w // 2, h // 2))
    for t in range(n):
        frame = background.copy()
        x = 8 + speed * t
        frame[h // 4: h // 4 + cat.shape[0], x: x + cat.shape[1]] = cat[:, : max(0, min(cat.shape[1], w - x))]
        yield frame, x


def write_video(path: Path, frames, fps: float = 30.0) -> Path:
    frames = list(frames)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def read_video(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


# One interpreter start for several `live-dream` commands. Each command still runs in a process of its own,
# forked once the imports are done, with its own working folder, environment, exit status, stdout and
# stderr, as `python -m live.cli ARGS` started there would: an exception it does not handle ends it with a
# traceback and status 1. Only the seconds every start spends importing torch, OpenCV and the rest are
# shared (and the driver never runs any of them, so no thread pool is forked). Linux only: elsewhere each
# case is started as the command itself.
_CLI_CASES = r"""
import json, os, sys
task = json.loads(sys.argv[1])
import live.cli
for module in task["preload"]:  # what the commands import when they start
    __import__(module)
import gc
gc.freeze()  # the cases' collections and exits leave the shared imports' pages alone
statuses = []
for case in task["cases"]:
    pid = os.fork()
    if pid == 0:
        os.chdir(case["cwd"])
        os.environ.update(case["env"])
        for fd, name in ((1, case["stdout"]), (2, case["stderr"])):
            opened = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(opened, fd)
            os.close(opened)
        sys.argv = [live.cli.__file__, *case["args"]]
        sys.exit(live.cli.main(case["args"]))
    statuses.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
print(json.dumps(statuses))
"""
PRELOAD = ("live.show.pipeline", "live.offline.render", "live.offline.still")


def cli_cases(cases, cwd=None, env=None, timeout=600, preload=PRELOAD) -> list:
    """Runs each case, `args`, `(args, cwd)` or `(args, cwd, extra_env)`, as the `live-dream` command, one
    after the other; a CompletedProcess for each."""
    import json
    import os
    import subprocess
    import sys
    import tempfile
    cases = [tuple(case) + (cwd, {})[len(case) - 1:] if isinstance(case, tuple) else (case, cwd, {})
             for case in cases]
    if sys.platform != "linux":  # Windows cannot fork; macOS must not once its frameworks are loaded
        return [subprocess.run([sys.executable, "-m", "live.cli", *map(str, args)], capture_output=True, text=True,
                               cwd=folder, env={**(os.environ if env is None else env), **extra}, timeout=timeout)
                for args, folder, extra in cases]
    with tempfile.TemporaryDirectory(prefix="live-dream-cases-") as outputs:
        task = {"preload": list(preload), "cases": [
            {"args": [str(a) for a in args], "cwd": str(folder or os.getcwd()), "env": extra,
             "stdout": f"{outputs}/{i}.out", "stderr": f"{outputs}/{i}.err"}
            for i, (args, folder, extra) in enumerate(cases)]}
        driver = subprocess.Popen([sys.executable, "-c", _CLI_CASES, json.dumps(task)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env, process_group=0)
        try:
            stdout, stderr = driver.communicate(timeout=timeout)
        except BaseException:  # a timeout, or the tests interrupted: the case running now goes too
            os.killpg(driver.pid, 9)
            driver.communicate()
            raise
        assert driver.returncode == 0, stderr[-2000:]
        statuses = json.loads(stdout.strip().splitlines()[-1])
        return [subprocess.CompletedProcess(["live-dream", *case["args"]], status,
                                            Path(case["stdout"]).read_text(), Path(case["stderr"]).read_text())
                for case, status in zip(task["cases"], statuses)]
