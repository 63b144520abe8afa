"""Assembling a ready-to-dream network and objective from the settings (shared by still and live)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .backends import PreparedNet
from .config import NetworkConfig
from .errors import UserError
from .featurenet import load_feature_net
from .imageio import read_image, to_tensor
from .dream import resize
from .objectives import Objective, parse_objective
from .zoo import NetworkSpec, get_spec

GUIDE_MAX_SIDE = 448  # guide features come from a modest size: enough detail, cheap to match


def pick_device(setting: str) -> torch.device:
    if setting == "cuda" and not torch.cuda.is_available():
        raise UserError("network.device = 'cuda' but no CUDA GPU is visible; use device = 'auto' or 'cpu'")
    if setting == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


def load_guide(path: str) -> torch.Tensor:
    image = to_tensor(read_image(path))
    h, w = image.shape[-2:]
    scale = min(1.0, GUIDE_MAX_SIDE / max(h, w))
    return resize(image, (max(1, round(h * scale)), max(1, round(w * scale)))) if scale < 1 else image


@dataclass
class Engine:
    spec: NetworkSpec
    net: PreparedNet
    objective: Objective
    device: torch.device


def load_engine(cfg: NetworkConfig, objective_text: str | None = None) -> Engine:
    """Network truncated after the objective's deepest layer, on the chosen device, guide bound."""
    spec = get_spec(cfg.name)
    guide = load_guide(cfg.guide) if cfg.guide else None
    objective = parse_objective(objective_text or cfg.objective or spec.default_layer, spec, guide)
    device = pick_device(cfg.device)
    net = load_feature_net(spec, objective.layers, cfg.weights or None).to(device)
    objective = objective.bind(net)
    # BatchNorm folded and channels_last: the same maths, 2-3x faster on a CPU (see backends.py)
    return Engine(spec, PreparedNet(net, torch.float16 if device.type == "cuda" else torch.float32).to(device),
                  objective, device)
