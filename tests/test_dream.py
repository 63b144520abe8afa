"""The step and its regularisers, octaves, tiling, and reproducibility, on real photos."""
from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

from live.config import DreamSettings
from live.dream.step import count_steps, deepdream, make_step, tiled_gradient
from live.dream.featurenet import FeatureNet
from live.dream.objectives import parse_objective
from conftest import photo


@pytest.fixture(scope="module")
def block9(lite0, lite0_model):
    return FeatureNet(lite0, lite0_model, {"block9"}), parse_objective("block9", lite0)


def high_frequency(delta):
    """Energy of what a 3x3 box blur removes: fine, pixel-level noise."""
    return float((delta - F.avg_pool2d(delta, 3, 1, 1, count_include_pad=False)).abs().mean())


def total_variation(image):
    return float((image[..., 1:, :] - image[..., :-1, :]).abs().mean() + (image[..., 1:] - image[..., :-1]).abs().mean())


def test_step_ascends_the_objective_and_stays_in_range(block9):
    net, objective = block9
    x = photo("chelsea", (224, 160))
    rng = random.Random(0)
    y = x
    for _ in range(5):
        y = make_step(net, objective, y, DreamSettings(), rng)
    with torch.no_grad():
        assert objective(net(y)) > 1.2 * objective(net(x))
    assert y.min() >= 0 and y.max() <= 1
    # the mean change per pixel per step is the step size (before clamping trims a little)
    assert 0.3 * 5 * 0.01 < float((y - x).abs().mean()) <= 5 * 0.01 + 1e-6


def test_seed_makes_dreams_reproducible(block9):
    net, objective = block9
    x = photo("coffee", (192, 128))
    s = DreamSettings(steps=3, octaves=2, seed=7)
    a, b = deepdream(net, objective, x, s), deepdream(net, objective, x, s)
    c = deepdream(net, objective, x, DreamSettings(steps=3, octaves=2, seed=8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_gaussian_and_laplacian_smoothing_remove_fine_noise(block9):
    net, objective = block9
    x = photo("chelsea", (224, 160))
    raw = deepdream(net, objective, x, DreamSettings(steps=6, octaves=1, seed=1))
    fine = high_frequency(raw - x)
    for kind, sigma in [("gaussian", 1.5), ("laplacian", 1.0)]:
        smooth = deepdream(net, objective, x, DreamSettings(steps=6, octaves=1, seed=1, smoothing=kind,
                                                            smoothing_sigma=sigma))
        assert high_frequency(smooth - x) < 0.8 * fine, kind


def test_total_variation_penalty_calms_the_image(block9):
    net, objective = block9
    x = photo("coffee", (224, 160))
    plain = deepdream(net, objective, x, DreamSettings(steps=6, octaves=1, seed=2))
    calm = deepdream(net, objective, x, DreamSettings(steps=6, octaves=1, seed=2, tv_weight=0.5))
    assert total_variation(calm) < total_variation(plain)


def test_octaves_run_small_to_large_and_carry_detail(block9):
    net, objective = block9
    x = photo("chelsea")  # 451x300
    sizes = []
    hook = net.register_forward_pre_hook(lambda m, args: sizes.append(tuple(args[0].shape[-2:])))
    steps = []
    try:
        s = DreamSettings(steps=2, octaves=3, octave_scale=1.5, seed=3)
        y = deepdream(net, objective, x, s, on_step=lambda: steps.append(1))
    finally:
        hook.remove()
    assert len(steps) == count_steps(300, 451, s) == 6
    assert sizes[0] == (133, 201) and sizes[-1] == (300, 451)  # 451 -> 301 -> 201
    assert y.shape == x.shape
    # Detail grown at the coarse octaves survives: the result is not what the last octave alone makes.
    last_only = deepdream(net, objective, x, DreamSettings(steps=2, octaves=1, seed=3))
    assert float((y - last_only).abs().mean()) > 0.01


def border_seam(delta, tile):
    """(spike, band): the step across tile borders vs the steps beside them, and the change's energy
    in a 6-px band on the borders vs elsewhere. Both are ~1 with no seam."""
    step = (delta[..., 1:] - delta[..., :-1]).abs().mean((0, 1, 2))
    cols = list(range(tile, delta.shape[-1], tile))
    spike = torch.stack([step[c - 1] / torch.cat([step[c - 4:c - 2], step[c:c + 2]]).mean() for c in cols]).mean()
    energy = delta[0].abs().mean(0)
    band = torch.zeros(energy.shape[-1], dtype=torch.bool)
    for c in cols:
        band[c - 3:c + 3] = True
    return float(spike), float(energy[:, band].mean() / energy[:, ~band].mean())


def test_tiling_leaves_no_seams(block9):
    net, objective = block9
    x = photo("coffee")  # 600x400: tiles of 128 give 4 vertical borders
    untiled = tiled_gradient(net, objective, x, 4096, 0)
    tiled = tiled_gradient(net, objective, x, 128, 32)
    assert F.cosine_similarity(tiled.flatten(), untiled.flatten(), dim=0) > 0.9

    y = deepdream(net, objective, x, DreamSettings(steps=8, octaves=2, tile=128, seed=0))
    spike, band = border_seam(y - x, 128)
    assert spike < 1.15 and 0.85 < band < 1.15, (spike, band)

    # Control: tiles with no margin and no jitter do leave seams, and the measure sees them.
    seamed = deepdream(net, objective, x, DreamSettings(steps=8, octaves=1, tile=128, tile_margin=0, jitter=0, seed=0))
    spike, band = border_seam(seamed - x, 128)
    assert spike > 1.2 or band < 0.7


def test_a_12_megapixel_photo_is_dreamed_in_bounded_pieces(block9):
    net, objective = block9
    x = F.interpolate(photo("chelsea"), size=(3000, 4000), mode="bilinear")
    largest = []
    hook = net.register_forward_pre_hook(lambda m, args: largest.append(max(args[0].shape[-2:])))
    try:
        y = deepdream(net, objective, x, DreamSettings(steps=1, octaves=1, tile=512, tile_margin=32, seed=0))
    finally:
        hook.remove()
    assert y.shape == x.shape
    assert max(largest) <= 512 + 2 * 32
    assert len(largest) == 6 * 8
    assert float((y - x).abs().mean()) > 0.002
