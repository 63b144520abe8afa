"""The torch backend: eager PyTorch on the truncated network with BatchNorm folded into the convolutions
and channels_last memory; on CUDA in fp16 (or bf16) with the objective reduced in fp32, each step
replayed from a captured CUDA graph. `EagerBaseline` is the plain fp32 yardstick of the benchmark.

Takes and returns HxWx3 float32 RGB images in [0, 1].
"""
from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import torch

from live.config import DreamSettings
from live.dream.step import ascend

log = logging.getLogger("live-dream")


def to_image_tensor(image: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).to(device).permute(2, 0, 1)[None]


def to_image_array(x: torch.Tensor) -> np.ndarray:
    return x[0].permute(1, 2, 0).float().cpu().numpy()


class PreparedNet(torch.nn.Module):
    """The truncated network made fast: BatchNorm folded, channels_last, optionally half precision.
    Takes fp32 images; returns fp32 activations, so objectives are always reduced in fp32."""

    def __init__(self, net, dtype=torch.float32):
        super().__init__()
        from torch.fx.experimental.optimization import fuse
        try:
            self.net = fuse(net.eval())
        except Exception as exc:  # a network torch.fx cannot trace: still correct, just unfolded
            log.warning("could not fold BatchNorm for %s (%s); using it unfolded", net.spec.name, exc)
            self.net = net
        self.net = self.net.to(memory_format=torch.channels_last, dtype=dtype)
        self.dtype = dtype

    def forward(self, image):
        acts = self.net(image.to(self.dtype).contiguous(memory_format=torch.channels_last))
        return {name: a.float() for name, a in acts.items()}


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


class TorchBackend:
    use_graphs = False  # EagerBaseline keeps this: it never replays graphs

    def __init__(self, net, objective, settings: DreamSettings, device: torch.device, precision: str = "auto"):
        if precision == "auto":
            precision = "fp16" if device.type == "cuda" else "fp32"
        dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
        self.net = PreparedNet(net, dtype).to(device)
        self.objective, self.device = objective, device
        self.settings = replace(settings, tile=1 << 16)  # live frames are small: no tiling
        self.use_graphs, self._graphs = device.type == "cuda", {}
        self.name = f"torch-{device.type}-{precision}"

    def step(self, x: torch.Tensor, step_size) -> torch.Tensor:
        return ascend(self.net, self.objective, x, self.settings, step_size)

    def _graphed_step(self, x: torch.Tensor, step_size: float) -> torch.Tensor:
        shape = tuple(x.shape)
        if shape not in self._graphs:
            try:
                self._graphs[shape] = GraphedStep(self.step, x, step_size)
            except torch.cuda.OutOfMemoryError:
                raise  # the worker lowers the resolution
            except Exception as exc:  # a driver or op that cannot be captured: eager is still right
                log.warning("could not capture a CUDA graph (%s); stepping eagerly", str(exc).splitlines()[0][:200])
                self.use_graphs = False
                return self.step(x, step_size)
        return self._graphs[shape](x, step_size)

    def steps(self, image: np.ndarray, steps: int, step_size: float) -> np.ndarray:
        x = to_image_tensor(image, self.device)
        for _ in range(steps):
            x = self._graphed_step(x, step_size) if self.use_graphs else self.step(x, step_size)
        return to_image_array(x)


class EagerBaseline(TorchBackend):
    """Plain eager PyTorch, fp32, NCHW, nothing folded: the yardstick the benchmark divides by."""

    def __init__(self, net, objective, settings: DreamSettings, device: torch.device):
        self.net, self.objective, self.device = net.to(device), objective, device
        self.settings = replace(settings, tile=1 << 16)
        self.name = f"eager-{device.type}-fp32"
