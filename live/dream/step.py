"""DeepDream itself: one gradient step, and octaves of steps. The rest of live-dream wraps this.

The shape follows the original notebook (google/deepdream): `make_step` rolls the image by a random
jitter, asks the network how to change it so the objective grows, normalises that gradient by its
mean magnitude, takes the step, rolls back and clamps; `deepdream` runs steps over an octave
pyramid and carries the added detail from each octave to the next. Images are float tensors,
1x3xHxW, RGB in [0, 1].
"""
from __future__ import annotations

import math
import random
from typing import Callable

import torch
import torch.nn.functional as F

from live.config import DreamSettings
# FP16_TINY floors the normalisations: 1e-30 became 0 in a half-precision graph (TensorRT casts constants)
from live.dream.regularisers import FP16_TINY, smooth_gradient, total_variation_gradient


def gradient_scale(h: int, w: int) -> float:
    """Loss scaling, as in mixed-precision training. The objectives are means, so the gradient reaching
    each activation is about 2a/N: at 1280x720 most of it falls below fp16's smallest normal number and
    a half-precision step points elsewhere (cosine 0.91 to fp32). Scaling the score before the backward
    pass keeps it in range: a power of two (exact in every precision) near H*W/64 puts the image's
    gradient in the tens, and capping it at 2^15 keeps the constant itself inside fp16."""
    return float(2 ** min(15, max(0, round(math.log2(max(1, h * w) / 64)))))


def objective_gradient(net, objective, image: torch.Tensor) -> torch.Tensor:
    """d objective / d image for one piece of image, times gradient_scale (the step normalises it)."""
    with torch.enable_grad():
        x = image.detach().requires_grad_(True)
        score = objective(net(x)) * gradient_scale(*image.shape[-2:])
        (g,) = torch.autograd.grad(score, x)
    return g


def tiled_gradient(net, objective, image: torch.Tensor, tile: int, margin: int) -> torch.Tensor:
    """The objective's gradient computed on tiles of at most (tile + 2*margin)^2 pixels, each scaled as
    if the objective were a sum over positions, so tiles of different sizes get comparable gradients."""
    h, w = image.shape[-2:]
    if h <= tile and w <= tile:
        return objective_gradient(net, objective, image)
    g = torch.zeros_like(image)
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            ya, xa, yb, xb = max(y0 - margin, 0), max(x0 - margin, 0), min(y1 + margin, h), min(x1 + margin, w)
            piece = objective_gradient(net, objective, image[..., ya:yb, xa:xb])
            piece = piece * ((yb - ya) * (xb - xa) / gradient_scale(yb - ya, xb - xa))
            g[..., y0:y1, x0:x1] = piece[..., y0 - ya: y1 - ya, x0 - xa: x1 - xa]
    return g


def ascent_direction(net, objective, image: torch.Tensor, s: DreamSettings) -> torch.Tensor:
    """Where one step goes: the gradient, smoothed, normalised by its mean |g|, minus total variation."""
    g = tiled_gradient(net, objective, image, s.tile, s.tile_margin)
    g = smooth_gradient(g, s.smoothing, s.smoothing_sigma)
    g = g / g.abs().mean().clamp_min(FP16_TINY)
    if s.tv_weight > 0:
        tv = total_variation_gradient(image)
        g = g - s.tv_weight * tv / tv.abs().mean().clamp_min(FP16_TINY)
    return g


def ascend(net, objective, image: torch.Tensor, s: DreamSettings, step_size=None) -> torch.Tensor:
    """Gradient ascent by one step, no jitter: THE step. Every backend runs this function (torch calls it,
    or replays it from a CUDA graph; the ONNX graph is traced from it), so every regulariser works on
    every backend. `step_size` (a number or a 0-d tensor) overrides the settings' one."""
    size = s.step_size if step_size is None else step_size
    return (image + size * ascent_direction(net, objective, image, s)).clamp(0, 1)


def make_step(net, objective, image: torch.Tensor, s: DreamSettings, rng: random.Random) -> torch.Tensor:
    """One DeepDream step: roll by a random jitter, ascend, roll back."""
    ox, oy = rng.randint(-s.jitter, s.jitter), rng.randint(-s.jitter, s.jitter)
    rolled = ascend(net, objective, image.roll((oy, ox), dims=(2, 3)), s)
    return rolled.roll((-oy, -ox), dims=(2, 3))


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)


def octave_sizes(h: int, w: int, s: DreamSettings) -> list[tuple[int, int]]:
    """Smallest octave first; octaves that would be tiny are skipped."""
    sizes = [(h, w)]
    for _ in range(s.octaves - 1):
        nh, nw = round(sizes[-1][0] / s.octave_scale), round(sizes[-1][1] / s.octave_scale)
        if min(nh, nw) < 32:
            break
        sizes.append((nh, nw))
    return sizes[::-1]


def deepdream(net, objective, image: torch.Tensor, s: DreamSettings,
              on_step: Callable[[], None] | None = None) -> torch.Tensor:
    """Dream an image over an octave pyramid, carrying the dream's detail up each octave."""
    rng = random.Random(None if s.seed < 0 else s.seed)
    sizes = octave_sizes(*image.shape[-2:], s)
    detail = None
    for size in sizes:
        base = resize(image, size) if size != tuple(image.shape[-2:]) else image
        dreamed = base if detail is None else (base + resize(detail, size)).clamp(0, 1)
        for _ in range(s.steps):
            dreamed = make_step(net, objective, dreamed, s, rng)
            if on_step:
                on_step()
        detail = dreamed - base
    return dreamed


def count_steps(h: int, w: int, s: DreamSettings) -> int:
    return len(octave_sizes(h, w, s)) * s.steps
