"""Assembling a ready-to-dream network and objective from the settings (shared by still and live)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from live.backends.devices import available_memory, pick_device
from live.backends.torch_backend import PreparedNet
from live.config import NetworkConfig
from live.errors import UserError
from live.dream.featurenet import load_feature_net
from live.core.imageio import read_image, to_tensor
from live.dream.step import resize
from live.dream.objectives import Objective, parse_objective
from live.dream.zoo import NetworkSpec, get_spec

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
    fit = (max(32, int(w * scale) // 16 * 16), max(32, int(h * scale) // 16 * 16))
    where = "GPU memory" if device.type == "cuda" else "memory"
    raise UserError(f"a {w}x{h} dream needs about {need / 1e9:.1f} GB of {where} and {free / 1e9:.1f} GB "
                    f"are free here; use --size {fit[0]}x{fit[1]} or smaller")


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
    return Engine(spec, PreparedNet(net, torch.float16 if device.type in ("cuda", "mps") else torch.float32).to(device),
                  objective, device)
