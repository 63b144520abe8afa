"""Backends agree with eager fp32, the ONNX graph is cached, failures fall back, the tuner settles,
running out of GPU memory lowers the resolution, and `live-dream bench` prints and writes its figures."""
from __future__ import annotations

import json
import logging
import random
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from live.backends.choice import PipelineTrial, choose_backend
from live.backends.onnx_backend import OnnxBackend
from live.backends.openvino_backend import OpenVinoBackend
from live.backends.torch_backend import EagerBaseline, TorchBackend
from live.core.files import models_dir
from live.config import DreamSettings
from live.dream.featurenet import FeatureNet
from live.dream.objectives import parse_objective
from live.show.slots import Frame, LatestSlot
from live.config import TemporalSettings
from live.show.tuner import Setting, Tuner, ladder
from live.control.bus import ControlBus
from live.control.state import ShowState
from live.backends.background import BackgroundBuilder
from live.backends.dreamer import Dreamer
from live.backends.engine import Network
from live.show.worker import DreamWorker
from live_helpers import scaled

SIZE = (160, 120)
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def photo_image():
    return scaled("chelsea", SIZE).astype(np.float32) / 255.0


def prepared(lite0, lite0_model, text):
    objective = parse_objective(text, lite0)
    net = FeatureNet(lite0, lite0_model, objective.layers).eval()
    return net, objective.bind(net)


def make(kind, net, objective, settings):
    if kind == "torch":
        return TorchBackend(net, objective, settings, CPU)
    return (OnnxBackend if kind == "onnx" else OpenVinoBackend)(net, objective, settings, SIZE, 1)


def update_cosine(a: np.ndarray, b: np.ndarray, start: np.ndarray) -> float:
    da, db = (a - start).ravel(), (b - start).ravel()
    return float(da @ db / (np.linalg.norm(da) * np.linalg.norm(db)))


@pytest.mark.parametrize("text", ["block9", "block11:3,40", "class:jellyfish"])
@pytest.mark.parametrize("kind", ["torch", "onnx", "openvino"])
def test_every_backend_steps_the_same_way_as_eager_fp32(lite0, lite0_model, photo_image, kind, text):
    net, objective = prepared(lite0, lite0_model, text)
    settings = DreamSettings()
    eager = EagerBaseline(net, objective, settings, CPU).steps(photo_image, 1, 0.02)
    backend = make(kind, net, objective, settings)
    fast = backend.steps(photo_image, 1, 0.02)
    assert update_cosine(fast, eager, photo_image) > 0.99
    assert fast.shape == photo_image.shape and fast.min() >= 0 and fast.max() <= 1


REGULARISERS = {"none": DreamSettings(), "gaussian": DreamSettings(smoothing="gaussian", smoothing_sigma=1.5),
                "laplacian": DreamSettings(smoothing="laplacian"), "tv": DreamSettings(tv_weight=0.3),
                "gaussian+tv": DreamSettings(smoothing="gaussian", tv_weight=0.3)}


@pytest.mark.parametrize("regulariser", sorted(REGULARISERS))
@pytest.mark.parametrize("kind", ["torch", "onnx", "openvino"])
def test_every_backend_runs_every_regulariser_like_eager_fp32(lite0, lite0_model, photo_image, kind, regulariser):
    """One step function: the ONNX graph is traced from it, so smoothing and total variation are in it."""
    net, objective = prepared(lite0, lite0_model, "block9")
    settings = REGULARISERS[regulariser]
    eager = EagerBaseline(net, objective, settings, CPU).steps(photo_image, 1, 0.02)
    backend = make(kind, net, objective, settings)
    fast = backend.steps(photo_image, 1, 0.02)
    assert backend.name == f"{kind}-cpu" + ("-fp32" if kind == "torch" else "")
    assert update_cosine(fast, eager, photo_image) > 0.99
    if regulariser != "none":  # the regulariser really acted: the step differs from the plain one
        plain = EagerBaseline(net, objective, DreamSettings(), CPU).steps(photo_image, 1, 0.02)
        assert update_cosine(fast, plain, photo_image) < 0.99


def devices_present() -> list[str]:
    """Every device this machine can dream on: the same parity tests check CUDA or MPS where they exist."""
    mps = getattr(torch.backends, "mps", None)
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) + (["mps"] if mps and mps.is_available() else [])


@pytest.mark.parametrize("device", devices_present())
@pytest.mark.parametrize("text", ["block9", "class:jellyfish"])
def test_the_torch_backend_on_every_device_steps_the_same_way_as_eager_fp32(lite0, lite0_model, photo_image,
                                                                            text, device):
    """In its own precision there (fp16 on CUDA and MPS, replayed from a CUDA graph on CUDA)."""
    net, objective = prepared(lite0, lite0_model, text)
    settings = DreamSettings()
    eager = EagerBaseline(net, objective, settings, CPU).steps(photo_image, 1, 0.02)
    backend = TorchBackend(net, objective, settings, torch.device(device))  # a folded copy goes there
    first = backend.steps(photo_image, 1, 0.02)
    again = backend.steps(photo_image, 1, 0.02)  # on CUDA: replayed from the captured graph
    assert backend.name == f"torch-{device}-" + ("fp32" if device == "cpu" else "fp16")
    if device == "cuda":
        assert backend.use_graphs and len(backend._graphs.graphs) == 1
    assert update_cosine(first, eager, photo_image) > 0.98
    assert update_cosine(again, eager, photo_image) > 0.98


def test_the_onnx_graph_is_exported_once_and_unrolls_k_steps(lite0, lite0_model, photo_image, caplog):
    net, objective = prepared(lite0, lite0_model, "block8")
    settings = DreamSettings()
    with caplog.at_level(logging.INFO, logger="live-dream"):
        two = OnnxBackend(net, objective, settings, SIZE, 2)
        assert "exporting lite0 block8 at 160x120, 2 step(s)" in caplog.text
        assert "exporting lite0 block8 at 160x120, 1 step(s)" in caplog.text  # for other step counts later
        caplog.clear()
        again = OnnxBackend(net, objective, settings, SIZE, 2)
        assert "exporting" not in caplog.text  # cached under models/cache/onnx
    assert list((models_dir() / "cache" / "onnx").glob("lite0-block8-160x120-k2-*.onnx"))
    unrolled = again.steps(photo_image, 2, 0.02)
    repeated = two.steps(two.steps(photo_image, 1, 0.02), 1, 0.02)  # the 1-step graph, twice
    eager = EagerBaseline(net, objective, settings, CPU).steps(photo_image, 2, 0.02)
    assert update_cosine(unrolled, eager, photo_image) > 0.99
    assert update_cosine(repeated, eager, photo_image) > 0.99


@pytest.mark.parametrize("kind", ["onnx", "openvino"])
def test_a_backend_that_cannot_load_falls_back_with_one_warning(lite0, lite0_model, caplog, tmp_path, monkeypatch,
                                                                kind):
    net, objective = prepared(lite0, lite0_model, "block7")
    blocker = tmp_path / "not-a-folder"  # an export that cannot be written: the cache folder is a file
    blocker.write_text("")
    monkeypatch.setenv("LIVE_DREAM_MODELS", str(blocker))
    with caplog.at_level(logging.WARNING, logger="live-dream"):
        backend = choose_backend(kind, net, objective, DreamSettings(), CPU, SIZE, 1)
    assert backend.name == "torch-cpu-fp32"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and f"backend {kind} unavailable" in warnings[0] and "falling back to torch" in warnings[0]


def test_auto_tries_each_backend_on_the_frames_it_dreams_then_keeps_and_remembers_the_fastest(
        lite0, lite0_model, photo_image, caplog):
    net, objective = prepared(lite0, lite0_model, "block6")
    trial = choose_backend("auto", net, objective, DreamSettings(), CPU, SIZE, 1)
    assert isinstance(trial, PipelineTrial)
    assert [b.name for b in trial.candidates] == ["openvino-cpu", "onnx-cpu", "torch-cpu-fp32"]  # all of them
    eager = EagerBaseline(net, objective, DreamSettings(), CPU).steps(photo_image, 1, 0.02)
    frames = (PipelineTrial.WARMUP + PipelineTrial.TIMED) * 3
    with caplog.at_level(logging.INFO, logger="live-dream"):
        for _ in range(frames):  # every frame is dreamed properly, whichever backend's turn it is
            assert update_cosine(trial.steps(photo_image, 1, 0.02), eager, photo_image) > 0.99
    assert trial.winner is not None and trial.name in ("openvino-cpu", "onnx-cpu", "torch-cpu-fp32")
    assert [len(t) for t in trial.times] == [PipelineTrial.TIMED] * 3  # warm-up frames were not timed
    assert "the fastest in the running pipeline of" in caplog.text and "(p95" in caplog.text
    assert trial.steps(photo_image, 1, 0.02).shape == photo_image.shape  # now the winner alone

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="live-dream"):
        again = choose_backend("auto", net, objective, DreamSettings(), CPU, SIZE, 1)
    assert again.name == trial.name and not isinstance(again, PipelineTrial)
    assert "(measured 20" in caplog.text  # "(measured YYYY-MM-DD: ...)": remembered, not tried again
    cached = json.loads((models_dir() / "cache" / "backend-choice.json").read_text())
    assert any(v["name"] == trial.name for v in cached.values())


def test_in_a_show_torch_dreams_at_once_and_the_backend_made_in_the_background_takes_over(lite0, lite0_model):
    """A running show never waits for an export: at the start size and at a size first met mid-run (the
    tuner), torch dreams the first frame, and the ONNX graph exported in the background then takes over.
    (Before, the start size was exported in place, with the picture waiting for it.)"""
    builder = BackgroundBuilder()
    dreamer = Dreamer(Network(lite0, lite0_model, CPU, None), ["block8:5,9"], DreamSettings(), seed=0, backend="onnx",
                      builder=builder)
    try:
        dreamer.prepare(SIZE, 1)  # returns at once: asked for in the background
        assert dreamer.backend(0, SIZE, 1).name == "torch-cpu-fp32"
        assert builder.idle.wait(180)
        assert dreamer.backend(0, SIZE, 1).name == "onnx-cpu"
        size = (128, 96)  # now the tuner moves to a size never seen before
        image = scaled("chelsea", size).astype(np.float32) / 255.0
        assert dreamer.backend(0, size, 1).name == "torch-cpu-fp32"
        net, objective = dreamer.net(0)
        eager = EagerBaseline(net, objective, DreamSettings(), CPU).steps(image, 1, 0.02)
        assert update_cosine(dreamer.backend(0, size, 1).steps(image, 1, 0.02), eager, image) > 0.99
        assert builder.idle.wait(180)
        assert dreamer.backend(0, size, 1).name == "onnx-cpu"
        graphs = models_dir() / "cache" / "onnx"
        assert list(graphs.glob("lite0-block8_5_9-160x120-*")) and list(graphs.glob("lite0-block8_5_9-128x96-*"))
    finally:
        dreamer.close()


def test_a_backend_that_cannot_be_built_in_the_background_leaves_torch_dreaming(lite0, lite0_model, tmp_path,
                                                                                monkeypatch):
    (tmp_path / "blocked").write_text("")  # the onnx export cannot be written: this preset stays on torch
    monkeypatch.setenv("LIVE_DREAM_MODELS", str(tmp_path / "blocked"))
    builder = BackgroundBuilder()
    dreamer = Dreamer(Network(lite0, lite0_model, CPU, None), ["block7"], DreamSettings(), seed=0, backend="onnx",
                      builder=builder)
    try:
        dreamer.prepare(SIZE, 1)
        assert builder.idle.wait(180)
        assert isinstance(dreamer.backend(0, SIZE, 1), TorchBackend)
        image = scaled("chelsea", SIZE).astype(np.float32) / 255.0
        assert np.isfinite(dreamer.run(image, 0, 1, 1.0)).all()
    finally:
        dreamer.close()


# ---------------------------------------------------------------- tuning

def simulate(tuner: Tuner, ms_per_megapixel_step: float, frames: int, seed: int = 0) -> list[int]:
    """Feed the tuner frame times from a cost model of a machine; returns the rung index per frame."""
    rng, path = random.Random(seed), []
    for _ in range(frames):
        s = tuner.setting
        ms = ms_per_megapixel_step * s.width * s.height / 1e6 * (s.steps + 0.6) + 3 + rng.gauss(0, 1.5)
        tuner.update(max(1.0, ms))
        path.append(tuner.index)
    return path


def test_the_tuner_reaches_the_target_and_stays_there():
    rungs = ladder(4 / 3, 160, 640, 1, 3, preferred_steps=1)
    for speed in (180.0, 360.0, 60.0):  # this machine, one twice as slow, one three times as fast
        tuner = Tuner(rungs, Setting(320, 240, 1), target_fps=20)
        path = simulate(tuner, speed, 800)
        assert path[-300:] == [path[-1]] * 300, speed  # settled: no oscillation in the last 300 frames
        s = tuner.setting
        fps = 1000 / (speed * s.width * s.height / 1e6 * (s.steps + 0.6) + 3)
        assert fps >= 0.93 * 20, (speed, s)  # holds the target...
        if tuner.index < len(rungs) - 1:  # ...at the richest setting that does
            nxt = rungs[tuner.index + 1]
            assert 1000 / (speed * nxt.width * nxt.height / 1e6 * (nxt.steps + 0.6) + 3) < 1.1 * 20 * 1.05
        assert tuner.changes <= 6


def test_the_tuner_does_not_oscillate_when_costs_are_not_proportional_to_pixels():
    """A machine whose step time doubles above 400 px wide (caches overflow): the cost model predicts a
    rung that then fails. The tuner may probe it again only after a long quiet spell."""
    rungs = ladder(4 / 3, 160, 640, 1, 1, preferred_steps=1)
    tuner, rng, path = Tuner(rungs, Setting(320, 240, 1), target_fps=12), random.Random(0), []
    for _ in range(3000):
        s = tuner.setting
        ms = 0.00045 * s.width * s.height * (2.2 if s.width > 400 else 1.0) + 4 + rng.gauss(0, 1.5)
        tuner.update(ms)
        path.append(s.width)
    moves = [i for i in range(1, len(path)) if path[i] != path[i - 1]]
    bursts = []  # moves less than 100 frames apart belong to one probe
    for i in moves:
        if bursts and i - bursts[-1][-1] < 100:
            bursts[-1].append(i)
        else:
            bursts.append([i])
    later = bursts[1:]
    assert all(len(b) <= 3 for b in later), bursts
    assert all(b[0] - a[-1] >= 800 for a, b in zip(later, later[1:])), bursts  # a probe per ~45 s at most
    assert sum(w <= 400 for w in path[-1000:]) > 900  # and it lives below the size that fails


def test_the_tuner_follows_a_machine_that_slows_down():
    rungs = ladder(16 / 9, 160, 1280, 1, 2, preferred_steps=1)
    tuner = Tuner(rungs, Setting(640, 368, 1), target_fps=25)
    simulate(tuner, 60.0, 300)
    before = tuner.setting
    simulate(tuner, 240.0, 300, seed=1)  # something else now takes most of the machine
    assert tuner.setting.cost < before.cost
    assert all(160 <= r.width <= 1280 and 1 <= r.steps <= 2 for r in rungs)


def test_the_ladder_changes_resolution_first_and_steps_only_at_the_ends():
    rungs = ladder(4 / 3, 160, 480, 1, 3, preferred_steps=2)
    assert rungs[0] == Setting(160, 128, 1) and rungs[1].steps == 2 and rungs[-1].steps == 3
    assert [r.cost for r in rungs] == sorted(r.cost for r in rungs)
    assert {r.steps for r in rungs[1:-1]} == {2}


class GpuMemoryLimit(Dreamer):
    """Stands in for a GPU (none runs here) that runs out of memory above a pixel budget."""

    def run(self, image, preset, steps, strength):
        if image.shape[0] * image.shape[1] > 200 * 150:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().run(image, preset, steps, strength)


def test_running_out_of_gpu_memory_lowers_the_resolution_instead_of_crashing(lite0, lite0_model, caplog):
    dreamer = GpuMemoryLimit(Network(lite0, lite0_model, CPU, None), ["block9"], DreamSettings(step_size=0.03), seed=0)
    inbox, outbox = LatestSlot(), LatestSlot()
    worker = DreamWorker(dreamer, TemporalSettings(), (320, 240), inbox, outbox, ControlBus(ShowState(steps=1)))
    frame = scaled("coffee", (640, 480))
    with caplog.at_level(logging.WARNING, logger="live-dream"):
        worker.start()
        shown = None
        for seq in range(1, 40):
            inbox.put(Frame(frame, seq, time.monotonic()))
            shown = outbox.get_newer(0 if shown is None else shown.seq, timeout=2.0) or shown
        inbox.close()
        worker.stop()
    assert worker.error is None
    assert shown is not None and shown.image.shape[0] * shown.image.shape[1] <= 200 * 150
    assert "out of GPU memory: dream resolution lowered" in caplog.text


# ---------------------------------------------------------------- the benchmark command

def test_bench_prints_and_writes_its_figures(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run([sys.executable, "-m", "live.cli", "bench", "--sizes", "160x120", "--repeats", "3",
                             "--size", "160x120", "--seconds", "4", "--profile", "--json", str(out), "--load", "1",
                             "--set", "live.presets=block9"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "under load: 1 busy process(es)" in result.stdout and json.loads(out.read_text())["load"] == 1
    quiet = json.loads(out.read_text())["end_to_end_quiet"]
    assert "of quiet fps" in result.stdout and quiet["coupled"]["fps"] > 0 and quiet["decoupled"]["fps"] > 0
    for name in ("eager-cpu-fp32", "torch-cpu-fp32", "onnx-cpu", "openvino-cpu", "end to end", "fps", "latency",
                 "flow", "steps"):
        assert name in result.stdout, name
    data = json.loads(out.read_text())
    backends = {row["backend"]: row for row in data["steps"]}
    assert backends["eager-cpu-fp32"]["speedup_vs_eager_fp32"] == 1.0
    assert all(row["median_ms"] > 0 and row["p95_ms"] >= row["median_ms"] for row in data["steps"])
    assert all(data["end_to_end"][mode]["dream_hz"] > 0 for mode in ("coupled", "decoupled"))  # both rates, both modes
    e2e = data["end_to_end"]["coupled"]
    assert e2e["shown"] > 0 and e2e["fps"] > 0 and e2e["latency_ms_median"] > 0
    assert e2e["settled_after_s"] is not None and "the figures count from now" in result.stderr
    assert 0 < e2e["metrics_scrape_ms"] and "GET /metrics:" in result.stdout
    assert {"capture", "preprocess", "flow", "steps", "upscale"} <= set(e2e["profile"])
    control = e2e["control_latency"]  # real OSC packets over loopback, timed to the first frame shown with them
    assert "control latency" in result.stdout and control["messages"] >= 3
    assert 0 < control["median_ms"] <= control["p95_ms"] and control["frame_ms"] > 0
