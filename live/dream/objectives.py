"""What the dream maximises: small named values you can add and scale (after Lucent).

An `Objective` is a weighted sum of terms. Each term is a frozen dataclass that knows the one layer
it reads, prints itself for the HUD, and scores a dict of activations. Text such as
"0.7*block8 + 0.3*block11:42,117" or "class:jellyfish" parses into one (see `parse_objective`).
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache

import torch

from live.errors import UserError
from live.dream.zoo import NetworkSpec


@dataclass(frozen=True)
class LayerEnergy:
    """The classic DeepDream L2 objective: whatever the layer sees, make it see more of it."""
    layer: str

    def __call__(self, acts):
        return acts[self.layer].pow(2).mean()

    def __str__(self):
        return self.layer


def _pick_channels(acts: torch.Tensor, chosen: tuple[int, ...], index: torch.Tensor | None) -> torch.Tensor:
    """acts[:, chosen] without host-side data: a Python list as an index is copied to the device with a
    sync at every step, which a CUDA graph cannot capture. A range is a slice; other lists use the index
    tensor that bind() put on the network's device."""
    lo, hi = chosen[0], chosen[-1] + 1
    if chosen == tuple(range(lo, hi)):
        return acts[:, lo:hi]
    if index is None or index.device != acts.device:
        index = torch.tensor(chosen, device=acts.device)  # unbound: correct, but not capturable
    return acts.index_select(1, index)


def _index_on(net, chosen: tuple[int, ...]) -> torch.Tensor:
    return torch.tensor(chosen, device=net.mean.device)


@dataclass(frozen=True)
class Channels:
    """Mean activation of chosen channels of a layer."""
    layer: str
    channels: tuple[int, ...]
    index: torch.Tensor | None = field(default=None, compare=False, repr=False)  # on the device, by bind()

    def bind(self, net) -> "Channels":
        return replace(self, index=_index_on(net, self.channels))

    def __call__(self, acts):
        return _pick_channels(acts[self.layer], self.channels, self.index).mean()

    def __str__(self):
        return f"{self.layer}:{','.join(map(str, self.channels))}"


@dataclass(frozen=True)
class ClassLogit:
    """An ImageNet class score: 'make it more jellyfish-like'."""
    classes: tuple[int, ...]
    layer: str = "logits"
    index: torch.Tensor | None = field(default=None, compare=False, repr=False)  # on the device, by bind()

    def bind(self, net) -> "ClassLogit":
        return replace(self, index=_index_on(net, self.classes))

    def __call__(self, acts):
        return _pick_channels(acts[self.layer], self.classes, self.index).mean()

    def __str__(self):
        return "class:" + ",".join(imagenet_classes()[c].replace(" ", "_") for c in self.classes)


@dataclass(frozen=True, eq=False)
class Guide:
    """Match a guide image (the original notebook's objective_guide): each position of the layer is
    pulled towards the guide feature vector it already resembles most."""
    layer: str
    image: torch.Tensor  # 1x3xHxW in [0, 1]
    features: torch.Tensor | None = None  # C x N, filled in by bind()

    def bind(self, net) -> "Guide":
        with torch.no_grad():
            f = net(self.image.to(net.mean.device))[self.layer]
        return replace(self, features=f[0].flatten(1).float())

    def __call__(self, acts):
        x = acts[self.layer].flatten(2).transpose(1, 2)  # N x HW x C
        # matmul, not einsum: einsum's backward gave wrong gradients here (torch 2.14 CPU; a test checks).
        similarity = x @ self.features.to(x.dtype)  # N x HW x guide positions
        return similarity.amax(dim=2).mean()

    def __str__(self):
        return f"guide:{self.layer}"


@dataclass(frozen=True)
class Objective:
    """A weighted sum of terms; `+`, `-` and `*` build new objectives."""
    terms: tuple[tuple[float, object], ...]

    @property
    def layers(self) -> set[str]:
        return {term.layer for _, term in self.terms}

    def __call__(self, acts):
        return sum(weight * term(acts) for weight, term in self.terms)

    def bind(self, net) -> "Objective":
        """Precompute what depends on the network (guide features)."""
        return Objective(tuple((w, t.bind(net) if hasattr(t, "bind") else t) for w, t in self.terms))

    def __add__(self, other):
        return Objective(self.terms + other.terms)

    def __mul__(self, k: float):
        return Objective(tuple((w * k, t) for w, t in self.terms))

    __rmul__ = __mul__

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-other)

    def __str__(self):
        text = ""
        for i, (weight, term) in enumerate(self.terms):
            body = str(term) if abs(weight) == 1 else f"{abs(weight):g}*{term}"
            sign = ("-" if weight < 0 else "") if i == 0 else (" - " if weight < 0 else " + ")
            text += sign + body
        return text


def term(t) -> Objective:
    return Objective(((1.0, t),))


@lru_cache(maxsize=1)
def imagenet_classes() -> tuple[str, ...]:
    """The 1000 ImageNet class names (shipped inside torchvision, no download)."""
    from torchvision.models import ResNet50_Weights
    return tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def find_class(text: str) -> int:
    names = imagenet_classes()
    if text.isdigit():
        index = int(text)
        if 0 <= index < len(names):
            return index
        raise UserError(f"class index {index} is out of range; valid: 0-{len(names) - 1}")
    wanted = text.replace("_", " ").strip().lower()
    lowered = [n.lower() for n in names]
    if wanted in lowered:
        return lowered.index(wanted)
    partial = [i for i, n in enumerate(lowered) if wanted in n]
    if len(partial) == 1:
        return partial[0]
    close = partial[:6] or [lowered.index(n) for n in difflib.get_close_matches(wanted, lowered, n=6)]
    hint = ", ".join(names[i].replace(" ", "_") for i in close) or "none"
    raise UserError(f"unknown class '{text}' (close matches: {hint}); use an index 0-999 or a name from "
                    f"`live-dream models classes`")


def _parse_indices(text: str, limit: int, what: str) -> tuple[int, ...]:
    indices = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            raise UserError(f"bad list '{text}'; write numbers like 42,117 or a range 10-20")
        lo, hi = int(m[1]), int(m[2] or m[1])
        if hi < lo:  # 5-3 would select nothing and dream nothing
            raise UserError(f"empty channel range {lo}-{hi}; write it low to high, e.g. {hi}-{lo}")
        for i in range(lo, hi + 1):
            if not 0 <= i < limit:
                raise UserError(what.format(i) + f" is out of range; valid: 0-{limit - 1}")
            indices.append(i)
        if len(indices) > MAX_CHANNELS:
            raise UserError(f"'{text[:40]}...' names over {MAX_CHANNELS} channels; name fewer")
    return tuple(indices)


def _parse_atom(text: str, spec: NetworkSpec, guide_image) -> object:
    name, _, arg = text.partition(":")
    name = name.strip()
    if name == "class":
        if not arg:
            raise UserError("class objective needs a class, e.g. class:jellyfish or class:107")
        spec.layer("logits")
        return ClassLogit(tuple(find_class(p.strip()) for p in arg.split(",")))
    if name == "guide":
        layer = arg.strip() or spec.default_layer
        spec.layer(layer)
        if guide_image is None:
            raise UserError("objective 'guide' needs a guide image; pass --guide IMAGE")
        return Guide(layer, guide_image)
    info = spec.layer(name)
    if arg:
        return Channels(name, _parse_indices(arg, info.channels, "channel {} of " + name))
    return LayerEnergy(name)


MAX_OBJECTIVE_CHARS, MAX_TERMS, MAX_CHANNELS = 2048, 16, 4096  # what one objective may ask for
_TERM = re.compile(r"^\s*(?:([0-9]*\.?[0-9]+(?:e-?\d+)?)\s*\*\s*)?(.+?)\s*$")


def parse_objective(text: str, spec: NetworkSpec, guide_image=None) -> Objective:
    """Parse e.g. "0.7*block8 + 0.3*block11", "block9:42,117", "class:jellyfish", "guide:block9".

    With a guide image and no explicit guide term, plain layer terms become guide terms on that layer.
    """
    if not text or not text.strip():
        raise UserError("objective is empty; write a layer name, e.g. " + spec.default_layer)
    if len(text) > MAX_OBJECTIVE_CHARS:  # a control surface may send anything: 64 KB took the show to 1.5 fps
        raise UserError(f"objective is {len(text)} characters long; at most {MAX_OBJECTIVE_CHARS} are read")
    objective, sign = None, 1.0
    # '+' always adds; '-' subtracts only after a space or at the start, so ranges (10-20) and class
    # names (go-kart) keep their hyphens.
    for piece in re.split(r"\s*(\+|(?<!\S)-)\s*", text.strip()):
        if piece in ("+", "-"):
            sign = 1.0 if piece == "+" else -1.0
            continue
        if not piece.strip():
            continue
        m = _TERM.match(piece)
        if not m:
            raise UserError(f"cannot read objective term '{piece.strip()}'; write e.g. 0.7*block8")
        weight = float(m[1]) if m[1] else 1.0
        if not math.isfinite(weight):  # 1e400 is inf: the dream would be all NaN, written as black
            raise UserError(f"objective weight {m[1]} is too large to compute with; use weights like 0.5 or 2")
        atom = _parse_atom(m[2], spec, guide_image)
        part = term(atom) * (sign * weight)
        objective = part if objective is None else objective + part
        sign = 1.0
    if objective is None:
        raise UserError(f"objective '{text.strip()}' has no terms; write a layer name, e.g. {spec.default_layer}")
    if len(objective.terms) > MAX_TERMS:
        raise UserError(f"objective has {len(objective.terms)} terms; at most {MAX_TERMS} (each costs the step time)")
    channels = sum(len(getattr(t, "channels", ())) for _, t in objective.terms)
    if channels > MAX_CHANNELS:
        raise UserError(f"objective names {channels} channels; at most {MAX_CHANNELS}")
    if guide_image is not None and not any(isinstance(t, Guide) for _, t in objective.terms):
        objective = Objective(tuple((w, Guide(t.layer, guide_image) if isinstance(t, LayerEnergy) else t)
                                    for w, t in objective.terms))
    return objective
