"""Assembling a ready-to-dream network from the settings: the one way still, the live show, render and the
bench start (`load_network`), the one half-precision policy (`precision_for`), and the checks before."""
from __future__ import annotations

import math
from typing import Callable
from dataclasses import dataclass

import torch

from live.backends.devices import available_memory, pick_device
from live.backends.torch_backend import PreparedNet
from live.config import NetworkConfig, dream_size
from live.errors import UserError
from live.dream.featurenet import FeatureNet
from live.core.imageio import read_image
from live.dream.tensors import to_tensor
from live.dream.step import resize
from live.dream.objectives import Objective, parse_objective
from live.dream.zoo import NetworkSpec, build_network, get_spec

GUIDE_MAX_SIDE = 448  # guide features come from a modest size: enough detail, cheap to match
# Peak memory of preparing and stepping a live dream, per dream pixel: 1.0-2.7 kB measured (Lite0, the
# deepest default preset, ONNX export included, 320x240 to 1280x960); 3 kB leaves a margin.
BYTES_PER_DREAM_PIXEL = 3000


def check_dream_size(size: tuple[int, int], device: torch.device) -> None:
    """Refuse a dream resolution this machine cannot hold, before seconds of export end in a crash."""
    w, h = size
    need, free = w * h * BYTES_PER_DREAM_PIXEL, available_memory(device)
    if free is None or need <= free:  # unknown here: the run will say so if it runs out
        return
    scale = math.sqrt(free / need)
    fit = dream_size(w * scale, h * scale)
    where = "GPU memory" if device.type == "cuda" else "memory"
    raise UserError(f"a {w}x{h} dream needs about {need / 1e9:.1f} GB of {where} and {free / 1e9:.1f} GB "
                    f"are free here; use --size {fit[0]}x{fit[1]} or smaller")


def load_guide(path: str) -> torch.Tensor:
    image = to_tensor(read_image(path))
    h, w = image.shape[-2:]
    scale = min(1.0, GUIDE_MAX_SIDE / max(h, w))
    return resize(image, (max(1, round(h * scale)), max(1, round(w * scale)))) if scale < 1 else image


@dataclass(frozen=True)
class Network:
    """The one way a dream starts (still, the live show, render, the bench): the network's spec, its
    full model with real weights on the chosen device, and the guide image if the settings name one.
    Each objective then takes the network truncated after its deepest layer (`truncated`)."""
    spec: NetworkSpec
    model: torch.nn.Module
    device: torch.device
    guide: torch.Tensor | None

    def objective(self, text: str | None = None) -> Objective:
        return parse_objective(text or self.spec.default_layer, self.spec, self.guide)

    def truncated(self, objective: Objective) -> tuple[FeatureNet, Objective]:
        """The network cut after `objective`'s deepest layer, and the objective bound to it."""
        net = FeatureNet(self.spec, self.model, objective.layers).to(self.device).eval()
        return net, objective.bind(net)


def objective_checker(cfg: NetworkConfig) -> Callable[[str], str]:
    """What a control surface's objective is checked with before the weights are loaded (they load
    while the show already shows the camera): ValueError with the reason, or the text."""
    spec = get_spec(cfg.name)
    guide = load_guide(cfg.guide) if cfg.guide else None

    def check(text: str) -> str:
        try:
            parse_objective(text, spec, guide)
        except UserError as exc:
            raise ValueError(str(exc)) from None
        return text
    return check


def load_network(cfg: NetworkConfig) -> Network:
    spec = get_spec(cfg.name)
    guide = load_guide(cfg.guide) if cfg.guide else None
    device = pick_device(cfg.device)
    return Network(spec, build_network(spec, cfg.weights or None).to(device), device, guide)


def precision_for(device: torch.device, precision: str = "auto") -> torch.dtype:
    """THE half-precision policy: fp16 on a GPU (CUDA, Apple), fp32 on a CPU, unless the settings say."""
    if precision == "auto":
        precision = "fp16" if device.type in ("cuda", "mps") else "fp32"
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


@dataclass
class Engine:
    spec: NetworkSpec
    net: PreparedNet
    objective: Objective
    device: torch.device


def load_engine(cfg: NetworkConfig, objective_text: str | None = None) -> Engine:
    """For a still: the network truncated after the objective's deepest layer, BatchNorm folded and
    channels_last (the same maths, 2-3x faster on a CPU), in the precision of `precision_for`."""
    network = load_network(cfg)
    net, objective = network.truncated(network.objective(objective_text or cfg.objective))
    return Engine(network.spec, PreparedNet(net, precision_for(network.device)).to(network.device), objective,
                  network.device)
