"""The exported step graph is lean: stride-1 input gradients are plain convolutions, ReLU6's backward is a
comparison and a select. The rewrites are exact (finite differences on a small net) and the whole graph
still steps like eager PyTorch (tests/test_speed.py runs every backend against eager)."""
from __future__ import annotations

from collections import Counter

import onnx
import pytest
import torch
import torch.nn.functional as F
from torch.fx.experimental.proxy_tensor import make_fx

from live.backends.onnx_export import _decompositions, graph_key
from live.backends.onnx_backend import OnnxBackend
from live.config import DreamSettings
from live.dream.featurenet import FeatureNet
from live.dream.objectives import parse_objective
from live.core.files import models_dir

torch.manual_seed(0)
W_POINTWISE = torch.randn(8, 3, 1, 1, dtype=torch.float64)
W_DEPTHWISE = torch.randn(8, 1, 3, 3, dtype=torch.float64)
W_GROUPED = torch.randn(8, 4, 3, 3, dtype=torch.float64)  # two groups of four
W_STRIDED = torch.randn(6, 8, 3, 3, dtype=torch.float64)
READOUT = torch.randn(1, 6, 6, 7, dtype=torch.float64)


def small_net(x):
    """Each kind of convolution Lite0 has (1x1, depthwise, strided), a grouped one, and ReLU6 between."""
    y = F.hardtanh(F.conv2d(x, W_POINTWISE), 0.0, 6.0)
    y = F.hardtanh(F.conv2d(y, W_DEPTHWISE, padding=1, groups=8), 0.0, 6.0)
    y = F.hardtanh(F.conv2d(y, W_GROUPED, padding=2, dilation=2, groups=2), 0.0, 6.0)
    y = F.conv2d(y, W_STRIDED, stride=2, padding=1)
    return (y * READOUT).sum()


def input_gradient(x):
    x = x.detach().requires_grad_(True)
    return torch.autograd.grad(small_net(x), x)[0]


@pytest.mark.parametrize("stride1_as_conv", [True, False])  # the graph's rewrite, and without it
def test_the_rewritten_gradient_agrees_with_finite_differences(stride1_as_conv):
    x = torch.rand(1, 3, 11, 13, dtype=torch.float64) * 3
    traced = make_fx(input_gradient, decomposition_table=_decompositions(stride1_as_conv))(x)
    ops = Counter(str(n.target) for n in traced.graph.nodes if n.op == "call_function")
    assert not any("backward" in op for op in ops), ops  # no autograd op left for the exporter
    assert ops["aten.convolution.default"] == 4 + 4  # forward 4; an input gradient for each
    transposed = [n for n in traced.graph.nodes if n.op == "call_function" and "convolution" in str(n.target)
                  and n.args[6]]
    assert len(transposed) == (1 if stride1_as_conv else 4)  # the strided one stays transposed
    gradient = traced(x)
    eps = 1e-6
    for seed in range(5):
        v = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        finite = (small_net(x + eps * v) - small_net(x - eps * v)) / (2 * eps)
        assert torch.allclose((gradient * v).sum(), finite, rtol=1e-6, atol=1e-8), seed
    assert torch.allclose(gradient, input_gradient(x))


@pytest.fixture(scope="module")
def exported(lite0, lite0_model):
    objective = parse_objective("block9", lite0)
    net = FeatureNet(lite0, lite0_model, objective.layers).eval()
    objective = objective.bind(net)
    OnnxBackend(net, objective, DreamSettings(), (96, 64), 1)
    return onnx.load(str(models_dir() / "cache" / "onnx" / graph_key(lite0.name, objective, DreamSettings(),
                                                                       (96, 64), 1)))


def test_the_exported_step_has_transposed_convolutions_only_where_strided(exported):
    nodes = list(exported.graph.node)
    transposed = [n for n in nodes if n.op_type == "ConvTranspose"]
    strides = [next(list(a.ints) for a in n.attribute if a.name == "strides") for n in transposed]
    assert transposed and all(max(s) > 1 for s in strides), strides  # was 30, of which 26 of stride 1
    assert sum(n.op_type == "Conv" for n in nodes) > 2 * len(transposed)


def test_relu6_backward_is_a_comparison_and_a_select(exported):
    ops = Counter(n.op_type for n in exported.graph.node)
    assert ops["LessOrEqual"] == ops["GreaterOrEqual"] == ops["Or"] == 0, ops  # the stock four-op backward
    assert ops["Equal"] >= 1 and ops["Where"] >= ops["Equal"]


NETWORK_WATCH = """
import sys
contacts = []
sys.addaudithook(lambda event, args: contacts.append((event, args)) if event in (
    "socket.connect", "socket.getaddrinfo", "socket.sendto", "socket.sendmsg") else None)
import numpy as np
from live.backends.openvino_backend import OpenVinoBackend
from live.config import DreamSettings
from live.dream.featurenet import FeatureNet
from live.dream.objectives import parse_objective
from live.dream.zoo import build_network, get_spec
spec = get_spec("lite0")
objective = parse_objective("block9", spec)
net = FeatureNet(spec, build_network(spec), objective.layers).eval()
backend = OpenVinoBackend(net, objective.bind(net), DreamSettings(), (96, 64), 1)
backend.steps(np.full((64, 96, 3), 0.5, np.float32), 1, 0.02)
import time
time.sleep(2)  # a telemetry sender would post from a thread of its own
print("contacts:", contacts, "telemetry loaded:", "openvino_telemetry" in sys.modules)
"""


def test_openvino_sends_and_keeps_nothing(exported, tmp_path):
    """`import openvino` alone loads its model-conversion tools, which send a usage event and write a
    client id into ~/intel. The backend imports the runtime without them: no telemetry module, no
    connection (every socket call is audited), no file in a fresh home."""
    import os
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "-c", NETWORK_WATCH], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "contacts: [] telemetry loaded: False" in result.stdout, result.stdout
    assert list(tmp_path.rglob("*")) == []
