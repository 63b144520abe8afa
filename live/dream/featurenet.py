"""A network cut after the deepest layer an objective needs, returning activations by layer name.

Truncation is structural: stages past the cut are not part of the module at all, so they cannot
run (and cannot cost time in an exported graph).
"""
from __future__ import annotations

import torch
from torch import nn

from live.dream.zoo import NetworkSpec


class FeatureNet(nn.Module):
    """Input: RGB in [0, 1], NCHW. Output: {layer name: activation} for the requested layers."""

    def __init__(self, spec: NetworkSpec, model: nn.Module, layers: set[str]):
        super().__init__()
        for name in layers:
            spec.layer(name)  # unknown layer -> clear error listing valid ones
        stages = spec.stages(model)
        order = [name for name, _ in stages]
        cut = max(order.index(name) for name in layers)
        self.spec = spec
        self.layers = frozenset(layers)
        self.stages = nn.ModuleDict(stages[: cut + 1])
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1))

    @property
    def deepest_layer(self) -> str:
        return next(reversed(self.stages.keys()))

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (image - self.mean) / self.std
        activations = {}
        for name, stage in self.stages.items():
            x = stage(x)
            if name in self.layers:
                activations[name] = x
        return activations
