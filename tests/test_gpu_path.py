"""The NVIDIA path, tested where it needs no GPU: the export from a network in another precision, objectives
a CUDA graph can capture, a half-precision step that agrees with fp32 at live resolutions, graph constants
that fit fp16 (TensorRT), a bounded cache of captured graphs, GPU errors that end the process, and a GPU
that is there but unusable said in one line. What only a GPU can show is in `live-dream bench --gpu-report`."""
from __future__ import annotations

import copy
import logging
import os
import stat
import threading
import time
from dataclasses import replace

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper
from torch.utils._python_dispatch import TorchDispatchMode

from conftest import photo
from live.backends.devices import is_sticky_device_error, pick_device
from live.backends.onnx_export import export_steps
from live.backends.torch_backend import GraphCache, PreparedNet
from live.config import DreamSettings, load_config
from live.dream.featurenet import FeatureNet
from live.dream.objectives import parse_objective
from live.dream.step import ascend
from live.errors import UserError
from live.proving.faults import FaultPlan
from live.show.pipeline import RunOptions, run_live

FP16_MAX, FP16_SMALLEST = 65504.0, 2.0 ** -24


def test_a_network_in_another_precision_exports_the_same_step(tmp_path, lite0, lite0_model):
    """The export traces a CPU fp32 copy of whatever it is given (on a GPU the network is on CUDA and
    in half precision; it failed there): the graph from a float64 network equals the one from fp32."""
    objective = parse_objective("block5:3,9", lite0)
    net = FeatureNet(lite0, lite0_model, objective.layers).eval()
    settings = DreamSettings()
    reference = export_steps(net, objective.bind(net), settings, (64, 48), 1, tmp_path / "fp32.onnx")
    wide = copy.deepcopy(net).double()
    other = export_steps(wide, objective.bind(wide), settings, (64, 48), 1, tmp_path / "fp64.onnx")
    import onnxruntime as ort
    x = photo("chelsea", (64, 48)).numpy()
    feed = {"image": x, "step_size": np.array(0.02, np.float32)}
    a, b = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, feed)[0]
            for p in (reference, other))
    assert np.abs(a - b).max() < 1e-4


class HostData(TorchDispatchMode):
    """Records every op that mixes host tensors into work on another device: a copy and a sync at every
    step, which CUDA-graph capture forbids. The 'meta' device stands in for the GPU."""

    def __init__(self):
        super().__init__()
        self.mixed = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        tensors = [a for a in torch.utils._pytree.tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)]
        devices = {t.device.type for t in tensors}
        if "meta" in devices and "cpu" in devices:
            self.mixed.append(str(func))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("text", ["block9:42,100,7", "block9:10-20", "class:jellyfish,goldfish", "block9"])
def test_objectives_read_activations_without_host_data(lite0, text):
    objective = parse_objective(text, lite0)
    device_net = torch.nn.Module()
    device_net.register_buffer("mean", torch.zeros(3, device="meta"))
    bound = objective.bind(device_net)
    acts = {"block9": torch.randn(1, 80, 15, 20, device="meta"), "logits": torch.randn(1, 1000, device="meta")}
    with HostData() as watch:
        bound(acts)
    assert watch.mixed == [], f"{text} sends host data to the device: {watch.mixed}"


def camera_like(size: tuple[int, int]) -> torch.Tensor:
    """A real photo at a live resolution with a camera's sensor noise (2 levels). On a perfectly smooth
    upscaled photo every gradient is fragile: rounding the fp32 input to fp16 alone turns it (cosine 0.93)."""
    x = photo("chelsea", size)
    return (x + torch.randn(x.shape, generator=torch.Generator().manual_seed(0)) * 2 / 255).clamp(0, 1)


@pytest.mark.parametrize("text,size", [("class:jellyfish", (1280, 720)), ("class:jellyfish", (1920, 1080))])
def test_the_half_precision_step_agrees_with_fp32_at_live_resolutions(lite0, lite0_model, text, size):
    """Computed in fp16 on the CPU, as a GPU would: the step points where the fp32 one does (cosine
    > 0.98) and under 1 % of its gradient is lost to zero. All-fp16 gave 0.977 and 0.975 for the class."""
    objective = parse_objective(text, lite0)
    net = FeatureNet(lite0, lite0_model, objective.layers).eval()
    objective = objective.bind(net)
    settings = replace(DreamSettings(), step_size=0.03, tile=1 << 16)
    x = camera_like(size)
    full = ascend(PreparedNet(net, torch.float32), objective, x, settings) - x
    half = ascend(PreparedNet(net, torch.float16), objective, x, settings) - x
    cosine = torch.nn.functional.cosine_similarity(full.flatten(), half.flatten(), dim=0).item()
    assert cosine > 0.98, cosine
    assert (half == 0).float().mean().item() < 0.01


@pytest.mark.parametrize("text", ["block9", "class:jellyfish"])
def test_every_graph_constant_fits_half_precision(tmp_path, lite0, lite0_model, text):
    """TensorRT in fp16 casts the graph's constants: H*W (76,800 at 320x240) overflowed to inf and the
    1e-30 floors became 0. Every constant now fits fp16; every scalar survives as a non-zero number."""
    objective = parse_objective(text, lite0)
    net = FeatureNet(lite0, lite0_model, objective.layers).eval()
    path = export_steps(net, objective.bind(net), DreamSettings(), (320, 240), 1, tmp_path / "step.onnx")
    model = onnx.load(str(path))
    constants = [numpy_helper.to_array(t) for t in model.graph.initializer]
    for node in model.graph.node:
        constants += [numpy_helper.to_array(a.t) for a in node.attribute if a.type == onnx.AttributeProto.TENSOR]
    values = [c.astype(np.float64) for c in constants if c.dtype.kind == "f"]
    assert values
    for c in values:
        assert np.isfinite(c).all() and np.abs(c).max(initial=0) <= FP16_MAX, c.ravel()[:5]
        if c.size == 1 and c.item() != 0:
            assert abs(c.item()) >= FP16_SMALLEST, c.item()


def test_captured_graphs_are_bounded_and_dropped_when_memory_runs_out():
    made, released = [], []
    cache = GraphCache(lambda shape: made.append(shape) or f"graph {shape}", capacity=2)
    for shape in [(1, 3, 48, 64), (1, 3, 96, 128), (1, 3, 48, 64), (1, 3, 120, 160)]:
        cache.get(shape, shape)
    assert list(cache.graphs) == [(1, 3, 48, 64), (1, 3, 120, 160)]  # the least recently used went
    assert made == [(1, 3, 48, 64), (1, 3, 96, 128), (1, 3, 120, 160)]  # a kept graph is not captured again

    def out_of_memory(shape):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    cache.capture = out_of_memory
    with pytest.raises(torch.cuda.OutOfMemoryError):
        cache.get((1, 3, 720, 1280), None)
    assert not cache.graphs  # every pool goes before the worker lowers the resolution


def test_a_gpu_broken_for_the_process_ends_an_unattended_show_with_an_error():
    """Installation mode heals every other failure for ever; an illegal address on CUDA fails every
    later call the same way, so the run ends (exit 2 from the CLI) and the service starts a new one."""
    assert is_sticky_device_error(RuntimeError("CUDA error: an illegal memory access was encountered"))
    assert not is_sticky_device_error(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert not is_sticky_device_error(RuntimeError("injected fault: the dream step failed"))
    config = load_config(None, {"display.mode": "headless", "capture.source": "demo", "live.width": 96,
                                "live.height": 64, "live.backend": "torch", "live.presets": "block5",
                                "installation.enabled": True, "installation.resume": False})
    plan, shown, outcome = FaultPlan(), [], {}

    def run():
        try:
            outcome["summary"] = run_live(config, RunOptions(seconds=60, faults=plan,
                                                             observe=lambda *frame: shown.append(frame)))
        except UserError as exc:
            outcome["error"] = str(exc)
    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 120
    while len(shown) < 5 and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    plan.set("sticky")
    started = time.monotonic()
    thread.join(timeout=60)
    assert not thread.is_alive() and time.monotonic() - started < 30, "the show went on with a broken GPU"
    assert "illegal memory access" in outcome.get("error", ""), outcome


def test_a_gpu_that_is_there_but_unusable_is_said(tmp_path, monkeypatch, caplog):
    """An NVIDIA GPU answers nvidia-smi, but this torch cannot use it (a CPU build here; elsewhere a driver
    too old): one warning line says why, instead of a silent CPU."""
    if torch.cuda.is_available():
        pytest.skip("this machine's GPU is usable")
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H200'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    with caplog.at_level(logging.WARNING, logger="live-dream"):
        assert pick_device("auto").type in ("cpu", "mps")
    assert any("NVIDIA GPU is present but unusable" in r.getMessage() for r in caplog.records), caplog.text


def test_auto_leaves_out_a_backend_whose_step_disagrees_with_fp32(lite0, lite0_model, caplog):
    """bf16 on this CPU turns the step (cosine ~0.8): a runtime that picks its own precision must not win
    the trial with another dream. The fp32 reference stands in for the torch candidate it replaces."""
    from live.backends.choice import agreeing, step_agreement
    from live.backends.torch_backend import TorchBackend
    objective = parse_objective("block9", lite0)
    net = FeatureNet(lite0, lite0_model, objective.layers).eval()
    objective = objective.bind(net)
    settings, cpu = DreamSettings(), torch.device("cpu")
    bf16 = TorchBackend(net, objective, settings, cpu, "bf16")
    fp32 = TorchBackend(net, objective, settings, cpu, "fp32")
    assert step_agreement(bf16, fp32, (160, 120)) < 0.98
    with caplog.at_level(logging.WARNING, logger="live-dream"):
        kept = agreeing([bf16], net, objective, settings, cpu, (160, 120))
    assert [b.name for b in kept] == ["torch-cpu-fp32"]
    assert "torch-cpu-bf16 disagrees with fp32" in caplog.text
