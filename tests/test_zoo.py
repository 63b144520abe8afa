"""The network zoo: real embedded weights, truncation, torchvision loading from local files."""
from __future__ import annotations

import pytest
import torch

from live.errors import UserError
from live.dream.featurenet import FeatureNet
from live.dream.objectives import imagenet_classes
from live.dream.zoo import NETWORKS, build_network, get_spec
from conftest import photo


@pytest.mark.parametrize("name, expected", [("chelsea", {281, 282, 285}), ("coffee", {967})])
def test_embedded_weights_classify_real_photos(lite0, lite0_model, name, expected):
    net = FeatureNet(lite0, lite0_model, {"logits"})
    with torch.no_grad():
        probs = net(photo(name, (224, 224)))["logits"].softmax(1)[0]
    top = int(probs.argmax())
    assert top in expected, f"{name} classified as {imagenet_classes()[top]}"
    assert probs[list(expected)].sum() > 0.5


def test_truncation_runs_nothing_past_the_deepest_layer(lite0, lite0_model):
    ran = set()
    hooks = [m.register_forward_hook(lambda mod, i, o, name=name: ran.add(name))
             for name, m in lite0_model.named_modules() if name]
    try:
        net = FeatureNet(lite0, lite0_model, {"block3", "block8"})
        with torch.no_grad():
            acts = net(photo("chelsea", (160, 120)))
    finally:
        for h in hooks:
            h.remove()
    assert set(acts) == {"block3", "block8"}
    assert "_blocks.8._project_conv" in ran
    past = {f"_blocks.{i}" for i in range(9, 16)} | {"_conv_head", "_bn1", "_fc"}
    assert not ran & past, f"layers past block8 ran: {sorted(ran & past)}"
    assert list(net.stages)[-1] == "block8"


def test_layer_table_matches_the_real_network(lite0, lite0_model):
    """Every declared layer's channels and stride are what the network really produces."""
    net = FeatureNet(lite0, lite0_model, {l.name for l in lite0.layers if l.name != "logits"})
    with torch.no_grad():
        acts = net(torch.rand(1, 3, 128, 128))
    for layer in lite0.layers[:-1]:
        a = acts[layer.name]
        assert a.shape[1] == layer.channels, layer.name
        assert 128 // a.shape[-1] == layer.stride, layer.name


@pytest.mark.parametrize("name", [n for n in NETWORKS if n != "lite0"])
def test_torchvision_layer_tables_match_their_architectures(name):
    spec = get_spec(name)
    model = spec.build().eval()
    net = FeatureNet(spec, model, {layer.name for layer in spec.layers})
    with torch.no_grad():
        acts = net(torch.rand(1, 3, 320, 320))
    for layer in spec.layers:
        a = acts[layer.name]
        assert a.shape[1] == layer.channels, layer.name
        if layer.name != "logits":
            # Unpadded convolutions (Inception V3) shave a few pixels: allow 30%.
            assert abs(320 / a.shape[-1] - layer.stride) / layer.stride < 0.3, (layer.name, a.shape)


def test_torchvision_weights_load_from_a_local_file_and_from_the_cache(tmp_path, monkeypatch):
    """The torchvision path, without a download: a state dict saved here stands in for the real one."""
    spec = get_spec("googlenet")
    reference = spec.build().eval()
    path = tmp_path / "googlenet.pth"
    torch.save(reference.state_dict(), path)
    loaded = build_network(spec, path)
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        ours = FeatureNet(spec, loaded, {"inception_4c"})(x)["inception_4c"]
        theirs = FeatureNet(spec, reference, {"inception_4c"})(x)["inception_4c"]
    assert ours.shape == (1, 512, 14, 14)
    assert torch.equal(ours, theirs)
    assert not any(p.requires_grad for p in loaded.parameters())

    # The same file in torch's cache folder is found with no --weights.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert not spec.weights_available()
    cached = spec.cached_weights_path()
    cached.parent.mkdir(parents=True)
    cached.write_bytes(path.read_bytes())
    assert spec.weights_available()
    build_network(spec)


def test_missing_weights_offline_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(UserError) as err:
        build_network(get_spec("vgg16"))
    text = str(err.value)
    assert "vgg16" in text and "models fetch vgg16" in text and str(tmp_path) in text
    assert "\n" not in text


def test_weights_that_do_not_match_are_a_clear_error(tmp_path, lite0_model):
    path = tmp_path / "lite0.pth"
    torch.save(lite0_model.state_dict(), path)
    with pytest.raises(UserError, match="does not match network googlenet"):
        build_network(get_spec("googlenet"), path)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"this is not a state dict")
    with pytest.raises(UserError, match="not a readable PyTorch state dict"):
        build_network(get_spec("googlenet"), garbage)
    with pytest.raises(UserError, match="does not exist"):
        build_network(get_spec("googlenet"), tmp_path / "absent.pth")


def test_unknown_network_and_layer_list_what_is_valid(lite0):
    with pytest.raises(UserError, match="choose one of: lite0, googlenet"):
        get_spec("alexnet")
    with pytest.raises(UserError, match="valid layers: stem, block0"):
        lite0.layer("block99")
