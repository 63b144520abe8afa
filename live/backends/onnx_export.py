"""Exporting k unrolled dream steps to one ONNX graph (the recipe in shared/DESIGN.md).

`torch.onnx.export` cannot translate autograd itself, so the step is first traced into plain ATen ops
with `make_fx`: BatchNorm is folded into the convolutions, the input-gradient of each convolution is
rewritten as a convolution (stride 1: ONNX Runtime runs those 1.2-1.3x faster than the transposed
convolutions they equal; OpenVINO runs both alike) or a transposed convolution (strided), and ReLU6's
backward as a comparison and a select. The traced graph then exports like any forward pass, and ONNX
Runtime and OpenVINO run the same file.
Input: image 1x3xHxW in [0, 1] and a scalar step size; output: the image after k steps (no jitter:
the caller rolls the image before and after).
"""
from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import io
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.fx.experimental.optimization import fuse

from live.backends.contract import Backend
from live.config import DreamSettings
from live.core.files import atomic_output, models_dir
from live.dream.step import ascend
from live.core.stopping import raise_if_stopping

log = logging.getLogger("live-dream")
aten = torch.ops.aten


def _conv_input_grad(grad_output, input, weight, bias_sizes, stride, padding, dilation, transposed,
                     output_padding, groups, output_mask, stride1_as_conv=True):
    """aten.convolution_backward, input gradient only (weights are frozen): a transposed convolution,
    or, of stride 1 (26 of Lite0's 30), the plain convolution it equals: each group's kernel mirrored and
    its in/out channels swapped (constants: the runtime folds this at load)."""
    k = weight.shape[2:]
    pad = [dilation[i] * (k[i] - 1) - padding[i] for i in range(2)]
    if stride1_as_conv and all(s == 1 for s in stride) and min(pad) >= 0:
        out_channels, in_per_group = weight.shape[:2]
        mirrored = (weight.reshape(groups, out_channels // groups, in_per_group, *k).transpose(1, 2)
                    .reshape(groups * in_per_group, out_channels // groups, *k).flip(-1, -2))
        return F.conv2d(grad_output, mirrored, None, 1, pad, dilation, groups), None, None
    extra = [input.shape[2 + i] - ((grad_output.shape[2 + i] - 1) * stride[i] - 2 * padding[i]
                                   + dilation[i] * (weight.shape[2 + i] - 1) + 1) for i in range(2)]
    grad_input = F.conv_transpose2d(grad_output, weight, None, stride, padding, extra, groups, dilation)
    return grad_input, None, None


def _hardtanh_grad(grad_output, x, min_val, max_val):
    """ReLU6's backward as one comparison with the forward's own clamp (shared by the runtime) and a
    select, where the stock decomposition takes four elementwise passes over the activation."""
    return torch.where(torch.clamp(x, min_val, max_val) == x, grad_output, 0.0)


def _decompositions(stride1_as_conv: bool = True):
    table = dict(torch._decomp.core_aten_decompositions())
    table[aten.convolution_backward.default] = functools.partial(_conv_input_grad, stride1_as_conv=stride1_as_conv)
    table[aten.hardtanh_backward.default] = _hardtanh_grad
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
    # Traced on a CPU copy in fp32, whatever device and dtype the caller's network lives in (a network
    # on CUDA traced with CPU examples failed on every GPU): the graph is the same maths for any runtime,
    # and its runtime (TensorRT in fp16, say) chooses its own precision.
    cpu_net = copy.deepcopy(net).to(device="cpu", dtype=torch.float32).eval()
    objective = objective.bind(cpu_net)  # its own device data (guide features, channel indices) too
    folded = fuse(cpu_net)
    example = (torch.rand(1, 3, h, w), torch.tensor(0.02))
    settings = replace(settings, tile=1 << 16)  # live frames are small: no tiling
    traced = make_fx(_Steps(folded, objective, settings, steps),
                     decomposition_table=_decompositions())(*example)
    path.parent.mkdir(parents=True, exist_ok=True)
    program = torch.onnx.export(_Traced(traced).eval(), example, dynamo=True, input_names=["image", "step_size"],
                                output_names=["dreamed"], verbose=False)
    # Under a unique temporary name, renamed when whole: two runs exporting the same graph at once
    # cannot write into each other's file, and a killed export leaves no truncated graph in the cache.
    with atomic_output(path) as tmp:
        program.save(str(tmp))
    return path


def graph_key(spec_name: str, objective, settings: DreamSettings, size: tuple[int, int], steps: int) -> str:
    """Cache name: network, objective (guide features included), regularisers, resolution, step count,
    versions."""
    regularisers = f"{settings.smoothing}|{settings.smoothing_sigma}|{settings.tv_weight}"
    h = hashlib.sha1(f"{objective}|{regularisers}|{torch.__version__}|v3".encode())
    for _, term in objective.terms:
        if getattr(term, "features", None) is not None:
            h.update(term.features.cpu().numpy().tobytes())
    safe = "".join(c if c.isalnum() else "_" for c in str(objective))[:40]
    return f"{spec_name}-{safe}-{size[0]}x{size[1]}-k{steps}-{h.hexdigest()[:10]}.onnx"


def exported_graph(net, objective, settings: DreamSettings, size: tuple[int, int], steps: int, load: Callable):
    """`load(path)` of the cached k-step graph, exported first if it is not there. A cached graph that
    cannot be loaded (truncated, damaged) is exported again once, rather than falling back for ever."""
    path = models_dir() / "cache" / "onnx" / graph_key(net.spec.name, objective, settings, size, steps)
    export = functools.partial(_export_with_progress, net, objective, settings, size, steps, path)
    if not path.is_file():
        export()
        return load(path)
    try:
        return load(path)
    except Exception as exc:
        raise_if_stopping()
        log.warning("cached graph %s cannot be loaded (%s); exporting it again", path.name,
                    str(exc).splitlines()[0][:120] if str(exc) else exc.__class__.__name__)
        path.unlink(missing_ok=True)
        export()
        return load(path)


def _export_with_progress(net, objective, settings: DreamSettings, size: tuple[int, int], steps: int,
                          path: Path) -> None:
    elsewhere = getattr(_this_thread, "exports_elsewhere", False)
    log.info("exporting %s %s at %dx%d, %d step(s), to ONNX (once; cached in %s)%s...", net.spec.name, objective,
             *size, steps, path.parent, " in a separate process" if elsewhere else "")
    t0 = time.perf_counter()
    if elsewhere:
        _export_in_a_process(net, objective, settings, size, steps, path)
    else:
        _export_quietly(net, objective, settings, size, steps, path)
    log.info("exported in %.1f s", time.perf_counter() - t0)


def _export_quietly(net, objective, settings: DreamSettings, size: tuple[int, int], steps: int, path: Path) -> None:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        export_steps(net, objective, settings, size, steps, path)


# Tracing patches torch process-wide (nn.Module calls among them): a torch step in another thread of the
# show fails while it runs. So a running show exports in a child process, which also keeps its GIL free.
_this_thread = threading.local()


def export_elsewhere() -> None:
    """From now on this thread exports graphs in a child process (the show's background builder)."""
    _this_thread.exports_elsewhere = True


def _export_in_a_process(net, objective, settings: DreamSettings, size: tuple[int, int], steps: int,
                         path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="live-dream-export-") as folder:
        job = Path(folder) / "job.pt"
        torch.save({"net": copy.deepcopy(net).cpu(), "objective": objective, "settings": settings, "size": size,
                    "steps": steps, "path": str(path)}, job)
        child = subprocess.Popen([sys.executable, "-m", "live.backends.onnx_export", str(job)], text=True,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _children.add(child)
        try:
            _, stderr = child.communicate()
        finally:
            _children.discard(child)
    if child.returncode != 0 or not path.is_file():
        if getattr(child, "stopped", False):  # stop_exports: the show ends; not a failure to report
            raise KeyboardInterrupt
        raise_if_stopping()
        lines = (stderr or "").strip().splitlines()
        raise RuntimeError(lines[-1][:200] if lines else f"the export process ended with {child.returncode}")


_children: set = set()  # export processes running now


def stop_exports() -> None:
    """Ends the export processes running now (the show ends: an export is not worth waiting for)."""
    for child in list(_children):
        child.stopped = True
        with contextlib.suppress(OSError):
            child.terminate()


def _export_job(job: str) -> None:
    """The child's side: a lower priority than the show, one graph, written atomically."""
    with contextlib.suppress(AttributeError, OSError):
        os.nice(10)
    j = torch.load(job, weights_only=False)
    _export_quietly(j["net"], j["objective"], j["settings"], tuple(j["size"]), j["steps"], Path(j["path"]))


if __name__ == "__main__":
    _export_job(sys.argv[1])


class ExportedStepBackend(Backend):
    """What the ONNX Runtime and OpenVINO backends share: the exported k-step graph (and the one-step
    graph, so another step count later needs no pause to export) loaded into the runtime by `_load`, and
    run by `_run` on HxWx3 images of the graph's size."""
    runtime = "exported"

    def __init__(self, net, objective, settings: DreamSettings, size: tuple[int, int], steps: int = 1):
        self.net, self.objective, self.settings, self.size = net, objective, settings, size
        self.graphs = {steps: self._graph(steps)}
        if steps != 1:  # other step counts (keys, tuner) repeat the 1-step graph: have it ready, no pause later
            self.graphs[1] = self._graph(1)

    def _graph(self, steps: int):
        return exported_graph(self.net, self.objective, self.settings, self.size, steps, self._load)

    def _load(self, path: Path):
        raise NotImplementedError

    def _run(self, graph, x, step_size: np.ndarray):
        """One run of the graph on `x` as _upload made it; returns the result in the same form."""
        raise NotImplementedError

    def _upload(self, x: np.ndarray):
        return x  # a runtime whose device is not host memory puts the image there once per frame

    def _download(self, x) -> np.ndarray:
        return x

    def steps(self, image: np.ndarray, steps: int, step_size: float) -> np.ndarray:
        if steps <= 0:
            return image
        h, w = image.shape[:2]
        if (w, h) != self.size:
            raise ValueError(f"{self.runtime} graph is for {self.size[0]}x{self.size[1]}, got {w}x{h}")
        x = np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32)
        feed_size = np.array(step_size, dtype=np.float32)
        graph, repeats = (self.graphs[steps], 1) if steps in self.graphs else (self.graphs[1], steps)
        x = self._upload(x)
        for _ in range(repeats):  # another step count than exported: repeat the one-step graph
            x = self._run(graph, x, feed_size)
        return self._download(x)[0].transpose(1, 2, 0)
