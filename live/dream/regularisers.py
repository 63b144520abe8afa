"""Ways to shape the raw image gradient before a step: smoothing and total variation."""
from __future__ import annotations

import torch
import torch.nn.functional as F

FP16_TINY = 2.0 ** -14  # the smallest normal fp16 number: a floor that survives a half-precision graph


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with reflect padding (keeps borders free of dark halos)."""
    if sigma <= 0:
        return x
    radius = max(1, int(3 * sigma + 0.5))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = (k / k.sum()).view(1, 1, 1, -1).repeat(x.shape[1], 1, 1, 1)
    pad_w = min(radius, x.shape[-1] - 1)
    pad_h = min(radius, x.shape[-2] - 1)
    x = F.conv2d(F.pad(x, (pad_w, pad_w, 0, 0), mode="reflect"), k[..., radius - pad_w: radius + pad_w + 1],
                 groups=x.shape[1])
    k = k.transpose(-1, -2)
    return F.conv2d(F.pad(x, (0, 0, pad_h, pad_h), mode="reflect"), k[..., radius - pad_h: radius + pad_h + 1, :],
                    groups=x.shape[1])


def laplacian_normalise(g: torch.Tensor, levels: int = 4) -> torch.Tensor:
    """Give every frequency band of the gradient equal weight (the older TF DeepDream notebook's
    trick): coarse bands get a voice, so patterns grow larger and smoother."""
    bands, current = [], g
    for _ in range(levels - 1):
        if min(current.shape[-2:]) < 4:
            break
        low = F.avg_pool2d(current, 2, ceil_mode=True)
        up = F.interpolate(low, size=current.shape[-2:], mode="bilinear", align_corners=False)
        bands.append(current - up)
        current = low
    bands.append(current)
    out = bands[-1] / (bands[-1].std() + FP16_TINY)
    for band in reversed(bands[:-1]):
        out = F.interpolate(out, size=band.shape[-2:], mode="bilinear", align_corners=False)
        out = out + band / (band.std() + FP16_TINY)
    return out


def smooth_gradient(g: torch.Tensor, kind: str, sigma: float) -> torch.Tensor:
    if kind == "gaussian":
        return gaussian_blur(g, sigma)
    if kind == "laplacian":
        return laplacian_normalise(g)
    return g


def total_variation_gradient(image: torch.Tensor) -> torch.Tensor:
    """Gradient of the (L1) total variation: points towards a noisier image, so we step against it."""
    with torch.enable_grad():
        x = image.detach().requires_grad_(True)
        tv = (x[..., 1:, :] - x[..., :-1, :]).abs().sum() + (x[..., :, 1:] - x[..., :, :-1]).abs().sum()
        (g,) = torch.autograd.grad(tv, x)
    return g
