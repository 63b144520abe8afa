"""The torch backend: eager PyTorch on the truncated network with BatchNorm folded into the convolutions
and channels_last memory; on CUDA in fp16 (or bf16) with the objective reduced in fp32, each step
replayed from a captured CUDA graph. `EagerBaseline` is the plain fp32 yardstick of the benchmark.

Takes and returns HxWx3 float32 RGB images in [0, 1].
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import replace

import numpy as np
import torch

from live.backends.contract import Backend
from live.config import DreamSettings
from live.dream.step import ascend

log = logging.getLogger("live-dream")


def to_image_tensor(image: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).to(device).permute(2, 0, 1)[None]


def to_image_array(x: torch.Tensor) -> np.ndarray:
    return x[0].permute(1, 2, 0).float().cpu().numpy()


MAX_GRAPHS = 4  # captured CUDA graphs kept (sizes x step counts): each holds its own memory
FULL_PRECISION_STRIDE = 2  # stages at full or half resolution stay fp32 in a half-precision network


# torch.fx patches every module call process-wide while it traces: a torch step in another thread (the
# dream worker, while the background builder folds a new backend) must not run meanwhile.
TRACING = threading.Lock()


def _folded(module: torch.nn.Module, what: str) -> torch.nn.Module:
    from torch.fx.experimental.optimization import fuse
    try:
        with TRACING:
            return fuse(module.eval())
    except Exception as exc:  # a module torch.fx cannot trace: still correct, just unfolded
        log.warning("could not fold BatchNorm for %s (%s); using it unfolded", what, exc)
        return module.eval()


class PreparedNet(torch.nn.Module):
    """The truncated network made fast: BatchNorm folded, channels_last, optionally half precision.
    Takes fp32 images; returns fp32 activations, so objectives are always reduced in fp32.

    In fp16 or bf16 the stages at full and half resolution stay fp32: the step's gradient reaches the
    picture through them, and rounding there alone turned it (cosine 0.979 to fp32 for class:jellyfish at
    1280x720; 0.991 with them in fp32). They are a small share of the work."""

    def __init__(self, net, dtype=torch.float32):
        super().__init__()
        self.spec, self.layers, self.dtype = net.spec, net.layers, dtype
        self.stages = torch.nn.ModuleDict({name: _folded(stage, f"{net.spec.name} {name}")
                                           for name, stage in net.stages.items()})
        self.stage_dtypes = {name: torch.float32 if self._full_resolution(name) else dtype for name in self.stages}
        for name, stage in self.stages.items():
            stage.to(memory_format=torch.channels_last, dtype=self.stage_dtypes[name])
        self.register_buffer("mean", net.mean.clone())
        self.register_buffer("std", net.std.clone())

    def _full_resolution(self, name: str) -> bool:
        try:
            return 0 < self.spec.layer(name).stride <= FULL_PRECISION_STRIDE
        except Exception:  # a stage that is no dreamable layer (none in the zoo today): follow the dtype
            return False

    def forward(self, image):
        x = ((image - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
        activations = {}
        for name, stage in self.stages.items():
            x = stage(x.to(self.stage_dtypes[name]))
            if name in self.layers:
                activations[name] = x.float()
        return activations


class GraphedStep:
    """The step replayed from a captured CUDA graph: one launch instead of a few hundred small kernels,
    which is where most of the time goes at live resolutions. One graph per shape; the image and the
    step size are the graph's static inputs."""

    def __init__(self, step, example: torch.Tensor, step_size: float):
        self.input, self.size = example.clone(), torch.tensor(float(step_size), device=example.device)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm up outside the graph: cuDNN settles on its algorithms
            for _ in range(3):
                step(self.input, self.size)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.output = step(self.input, self.size)

    def __call__(self, image: torch.Tensor, step_size: float) -> torch.Tensor:
        self.input.copy_(image)
        self.size.fill_(float(step_size))
        self.graph.replay()
        return self.output  # overwritten by the next replay: use it at once


class GraphCache:
    """Captured CUDA graphs by input shape. Each graph keeps a memory pool of its own, and the tuner or
    the memory guard can visit many sizes: at most `capacity` are kept, the least recently used going
    first. Out of memory while capturing, every graph goes (their pools with them) before the error
    reaches the worker, which then lowers the resolution."""

    def __init__(self, capture, capacity: int = MAX_GRAPHS):
        self.capture, self.capacity = capture, capacity
        self.graphs: OrderedDict[tuple, object] = OrderedDict()

    def get(self, shape: tuple, *args):
        if shape in self.graphs:
            self.graphs.move_to_end(shape)
            return self.graphs[shape]
        while len(self.graphs) >= self.capacity:
            self.graphs.popitem(last=False)
            _release_device_memory()
        try:
            graph = self.capture(*args)
        except torch.cuda.OutOfMemoryError:
            self.clear()
            raise
        self.graphs[shape] = graph
        return graph

    def clear(self) -> None:
        self.graphs.clear()
        _release_device_memory()


def _release_device_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()  # the dropped graphs' pools go back to the driver


class TorchBackend(Backend):
    use_graphs = False  # EagerBaseline keeps this: it never replays graphs

    def __init__(self, net, objective, settings: DreamSettings, device: torch.device, precision: str = "auto"):
        from live.backends.engine import precision_for  # (engine builds on this module)
        dtype = precision_for(device, precision)
        precision = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}[dtype]
        self.net = PreparedNet(net, dtype).to(device)
        self.objective, self.device = objective, device
        self.settings = replace(settings, tile=1 << 16)  # live frames are small: no tiling
        self.use_graphs = device.type == "cuda"
        self._graphs = GraphCache(lambda x, step_size: GraphedStep(self.step, x, step_size))
        self.name = f"torch-{device.type}-{precision}"

    def step(self, x: torch.Tensor, step_size) -> torch.Tensor:
        return ascend(self.net, self.objective, x, self.settings, step_size)

    def _graphed_step(self, x: torch.Tensor, step_size: float) -> torch.Tensor:
        try:
            graph = self._graphs.get(tuple(x.shape), x, step_size)
        except torch.cuda.OutOfMemoryError:
            raise  # the graphs are gone; the worker lowers the resolution
        except Exception as exc:  # a driver or op that cannot be captured: eager is still right
            log.warning("could not capture a CUDA graph (%s); stepping eagerly", str(exc).splitlines()[0][:200])
            self.use_graphs = False
            return self.step(x, step_size)
        return graph(x, step_size)

    def steps(self, image: np.ndarray, steps: int, step_size: float) -> np.ndarray:
        x = to_image_tensor(image, self.device)
        with TRACING:
            for _ in range(steps):
                x = self._graphed_step(x, step_size) if self.use_graphs else self.step(x, step_size)
        return to_image_array(x)


class EagerBaseline(TorchBackend):
    """Plain eager PyTorch, fp32, NCHW, nothing folded: the yardstick the benchmark divides by."""

    def __init__(self, net, objective, settings: DreamSettings, device: torch.device):
        self.net, self.objective, self.device = net.to(device), objective, device
        self.settings = replace(settings, tile=1 << 16)
        self.name = f"eager-{device.type}-fp32"
