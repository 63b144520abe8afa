"""Images as the network sees them (1x3xHxW float in [0, 1]) and back to uint8 RGB."""
from __future__ import annotations

import numpy as np
import torch


def to_tensor(rgb: np.ndarray, device="cpu") -> torch.Tensor:
    if not rgb.flags.writeable:  # torch warns on read-only arrays (e.g. np.asarray of a PIL image)
        rgb = rgb.copy()
    return torch.from_numpy(rgb).to(device).permute(2, 0, 1)[None].float().div_(255)


def to_rgb(image: torch.Tensor) -> np.ndarray:
    return image[0].detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
