"""Objectives: parsing, algebra, correct gradients, and each one raising its own measure on a real photo."""
from __future__ import annotations

import pytest
import torch

from live.config import DreamSettings
from live.dream.step import deepdream
from live.backends.engine import load_guide
from live.errors import UserError
from live.dream.featurenet import FeatureNet
from live.dream.objectives import Channels, ClassLogit, Guide, LayerEnergy, parse_objective
from conftest import MEDIA, photo


@pytest.mark.parametrize("text, terms", [
    ("block9", [(1.0, LayerEnergy("block9"))]),
    ("block11:42,117", [(1.0, Channels("block11", (42, 117)))]),
    ("block9:5-7", [(1.0, Channels("block9", (5, 6, 7)))]),
    ("class:jellyfish", [(1.0, ClassLogit((107,)))]),
    ("class:107", [(1.0, ClassLogit((107,)))]),
    ("class:go-kart", [(1.0, ClassLogit((573,)))]),
    ("0.7*block8 + 0.3*block11", [(0.7, LayerEnergy("block8")), (0.3, LayerEnergy("block11"))]),
    ("block8 - 0.5*block11:3", [(1.0, LayerEnergy("block8")), (-0.5, Channels("block11", (3,)))]),
])
def test_parse(lite0, text, terms):
    objective = parse_objective(text, lite0)
    assert list(objective.terms) == terms
    assert parse_objective(str(objective), lite0) == objective  # prints in the syntax it reads


@pytest.mark.parametrize("text, message", [
    ("block99", "unknown layer 'block99' for network lite0; valid layers: stem, block0"),
    ("block9:112", "channel 112 of block9 is out of range; valid: 0-111"),
    ("block9:x", "bad list 'x'"),
    ("class:catt", "unknown class 'catt'"),
    ("class:1000", "class index 1000 is out of range"),
    ("guide:block9", "needs a guide image"),
    ("  ", "objective is empty"),
])
def test_bad_objectives_say_what_is_valid(lite0, text, message):
    with pytest.raises(UserError, match=message):
        parse_objective(text, lite0)


def test_guide_image_turns_layer_terms_into_guide_terms(lite0):
    guide = load_guide(MEDIA / "coffee.png")
    objective = parse_objective("block9", lite0, guide)
    assert isinstance(objective.terms[0][1], Guide) and objective.terms[0][1].layer == "block9"
    assert max(guide.shape[-2:]) <= 448


def test_sums_are_sums(lite0, lite0_model):
    net = FeatureNet(lite0, lite0_model, {"block8", "block11"})
    with torch.no_grad():
        acts = net(photo("chelsea", (160, 120)))
    a, b = parse_objective("block8", lite0), parse_objective("block11", lite0)
    mixed = parse_objective("0.7*block8 + 0.3*block11", lite0)
    assert torch.allclose(mixed(acts), 0.7 * a(acts) + 0.3 * b(acts))
    assert torch.allclose((a - b)(acts), a(acts) - b(acts))
    assert mixed.layers == {"block8", "block11"}


@pytest.mark.parametrize("text", ["block9", "block9:42,100", "class:jellyfish", "guide:block9"])
def test_gradients_match_finite_differences(lite0, lite0_model, text):
    """The image gradient through the real network agrees with a central difference (float64)."""
    model = type(lite0_model)()
    model.load_state_dict(lite0_model.state_dict())
    net = FeatureNet(lite0, model.double().eval(), {"block9", "logits"})
    objective = parse_objective(text, lite0, load_guide(MEDIA / "coffee.png").double()).bind(net)
    x = photo("chelsea", (128, 96)).double().requires_grad_(True)
    (g,) = torch.autograd.grad(objective(net(x)), x)
    torch.manual_seed(0)
    d = torch.randn_like(x)
    d /= d.norm()
    h = 1e-6
    with torch.no_grad():
        numeric = (objective(net(x + h * d)) - objective(net(x - h * d))) / (2 * h)
    assert float((g * d).sum()) == pytest.approx(float(numeric), rel=1e-3, abs=1e-9)


def test_each_objective_raises_its_own_measure_most(lite0, lite0_model):
    """Dream the same photo with each objective; every objective's own score must grow more under its
    own dream than under any other objective's dream."""
    guide = load_guide(MEDIA / "coffee.png")
    texts = ["block5", "block11", "block9:42", "class:jellyfish", "guide:block9"]
    objectives = [parse_objective(t, lite0, guide if t.startswith("guide") else None) for t in texts]
    net = FeatureNet(lite0, lite0_model, set().union(*(o.layers for o in objectives)))
    objectives = [o.bind(net) for o in objectives]
    x = photo("chelsea", (224, 224))

    def scores(image):
        with torch.no_grad():
            acts = net(image)
        return torch.tensor([float(o(acts)) for o in objectives])

    before = scores(x)
    settings = DreamSettings(steps=10, octaves=1, seed=0)
    gains = torch.stack([scores(deepdream(net, o, x, settings)) - before for o in objectives])
    for i, text in enumerate(texts):
        others = torch.cat([gains[:i, i], gains[i + 1:, i]])
        assert gains[i, i] > 0 and gains[i, i] > others.max(), (text, gains[:, i])


def test_class_objective_raises_that_class_far_more_than_others(lite0, lite0_model):
    net = FeatureNet(lite0, lite0_model, {"logits"})
    x = photo("coffee", (224, 224))
    y = deepdream(net, parse_objective("class:jellyfish", lite0), x, DreamSettings(steps=10, octaves=1, seed=0))
    with torch.no_grad():
        change = net(y)["logits"].softmax(1)[0] - net(x)["logits"].softmax(1)[0]
    others = torch.cat([change[:107], change[108:]])
    assert change[107] > 0.3
    assert change[107] > 20 * others.max()
