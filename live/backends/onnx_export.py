"""Exporting k unrolled dream steps to one ONNX graph (the recipe in shared/DESIGN.md).

`torch.onnx.export` cannot translate autograd itself, so the step is first traced into plain ATen ops
with `make_fx`: BatchNorm is folded into the convolutions, and the input-gradient of each convolution
is rewritten as a transposed convolution. The traced graph then exports like any forward pass.
Input: image 1x3xHxW in [0, 1] and a scalar step size; output: the image after k steps (no jitter:
the caller rolls the image before and after).
"""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.fx.experimental.optimization import fuse

from live.config import DreamSettings
from live.files import atomic_output
from live.dream.step import ascend

log = logging.getLogger("live-dream")
aten = torch.ops.aten


def _conv_input_grad(grad_output, input, weight, bias_sizes, stride, padding, dilation, transposed,
                     output_padding, groups, output_mask):
    """aten.convolution_backward, input gradient only (weights are frozen): a transposed convolution."""
    extra = [input.shape[2 + i] - ((grad_output.shape[2 + i] - 1) * stride[i] - 2 * padding[i]
                                   + dilation[i] * (weight.shape[2 + i] - 1) + 1) for i in range(2)]
    grad_input = F.conv_transpose2d(grad_output, weight, None, stride, padding, extra, groups, dilation)
    return grad_input, None, None


def _decompositions():
    table = dict(torch._decomp.core_aten_decompositions())
    table[aten.convolution_backward.default] = _conv_input_grad
    return table


class _Steps(torch.nn.Module):
    """k applications of the one step function (live.dream.step.ascend), regularisers included."""

    def __init__(self, net, objective, settings: DreamSettings, steps: int):
        super().__init__()
        self.net, self.objective, self.settings, self.steps = net, objective, settings, steps

    def forward(self, image, step_size):
        x = image
        for _ in range(self.steps):
            x = ascend(self.net, self.objective, x, self.settings, step_size)
        return x


class _Traced(torch.nn.Module):
    def __init__(self, graph):
        super().__init__()
        self.graph_module = graph

    def forward(self, image, step_size):
        return self.graph_module(image, step_size)


def export_steps(net, objective, settings: DreamSettings, size: tuple[int, int], steps: int, path: Path) -> Path:
    """Write the k-step graph for images of `size` (w, h) to `path` (atomically)."""
    from torch.fx.experimental.proxy_tensor import make_fx

    w, h = size
    folded = fuse(net.eval())
    example = (torch.rand(1, 3, h, w), torch.tensor(0.02))
    settings = replace(settings, tile=1 << 16)  # live frames are small: no tiling
    traced = make_fx(_Steps(folded, objective, settings, steps), decomposition_table=_decompositions())(*example)
    path.parent.mkdir(parents=True, exist_ok=True)
    program = torch.onnx.export(_Traced(traced).eval(), example, dynamo=True, input_names=["image", "step_size"],
                                output_names=["dreamed"], verbose=False)
    # Under a unique temporary name, renamed when whole: two runs exporting the same graph at once
    # cannot write into each other's file, and a killed export leaves no truncated graph in the cache.
    with atomic_output(path) as tmp:
        program.save(str(tmp))
    return path
