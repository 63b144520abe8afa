"""`live-dream still` and `models` as a user runs them, bad input included; image files; config."""
from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import tomllib
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from live.config import SECTIONS, Config, load_config
from live.errors import UserError
from live.core.imageio import read_image, write_image
from conftest import MEDIA
from live_helpers import cli_cases

ROOT = Path(__file__).resolve().parent.parent


def live_dream(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "live.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=600)


def test_console_command_is_installed():
    assert shutil.which("live-dream") or (Path(sys.executable).parent / "live-dream").exists()


def test_still_dreams_a_photo(tmp_path):
    out = tmp_path / "cat.jpg"
    result = live_dream("still", MEDIA / "chelsea.png", out, "--steps", 3, "--octaves", 2, "--seed", 1)
    assert result.returncode == 0, result.stderr
    assert "done, 6 steps" in result.stderr  # the progress ran to the end (plain lines: no terminal here)
    before, after = read_image(MEDIA / "chelsea.png").astype(float), read_image(out).astype(float)
    assert after.shape == before.shape
    assert np.abs(after - before).mean() > 3
    assert [p.name for p in tmp_path.iterdir()] == ["cat.jpg"]  # no temporary files left behind


def test_models_lists_networks_availability_normalisation_and_layers():
    result, classes = cli_cases([["models"], ["models", "classes"]], cwd=ROOT)  # each a process of its own
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for name in ["lite0", "googlenet", "vgg16", "inception_v3", "resnet50", "mobilenet_v3_large"]:
        assert f"{name}: " in text
    assert "weights: available" in text  # lite0, embedded
    assert "live-dream models fetch googlenet" in text or "googlenet" in text and "available" in text
    assert "mean (0.485, 0.456, 0.406)" in text
    assert "inception_4c" in text and "conv4_3" in text and "block9" in text
    classes = classes.stdout.splitlines()
    assert len(classes) == 1000 and classes[107].split() == ["107", "jellyfish"]


BAD_INPUT = [
    (["still", "missing.png", "{tmp}/o.png"], "cannot read missing.png: no such file"),
    (["still", "{tmp}/notimage.png", "{tmp}/o.png"], "not a readable image"),
    (["still", "{media}/chelsea.png", "{tmp}/nofolder/o.png"], "folder {tmp}/nofolder does not exist"),
    (["still", "{media}/chelsea.png", "{tmp}/o.gif"], "unsupported format '.gif'"),
    (["still", "{media}/chelsea.png", "{tmp}/o.png", "--objective", "block99"], "valid layers: stem"),
    (["still", "{media}/chelsea.png", "{tmp}/o.png", "--objective", "class:zzzz"], "unknown class 'zzzz'"),
    (["still", "{media}/chelsea.png", "{tmp}/o.png", "--network", "googlenet"], "models fetch googlenet"),
    (["still", "{media}/chelsea.png", "{tmp}/o.png", "--weights", "{tmp}/none.pth"], "does not exist"),
    (["still", "{media}/chelsea.png", "{tmp}/o.png", "--steps", "0"], "still.steps = 0 is not allowed"),
    (["still", "{media}/chelsea.png", "{tmp}/o.png", "--smoothing", "blur"], "use one of none, gaussian"),
    (["still", "{media}/chelsea.png", "{tmp}/o.png", "--set", "dream.colour=1"], "unknown setting 'dream.colour'"),
    (["still", "{media}/chelsea.png", "{tmp}/o.png", "--config", "{tmp}/bad.toml"], "unknown setting 'dream.stepz'"),
    (["still", "{media}/chelsea.png", "{tmp}/o.png", "--guide", "{tmp}/none.jpg"], "cannot read"),
    (["models", "fetch", "alexnet"], "unknown network 'alexnet'"),
]


@pytest.fixture(scope="module")
def bad_input_results(tmp_path_factory):
    """Every case below run as the command, each in a folder of its own (one interpreter start for all)."""
    folders, cases = [], []
    for args, _ in BAD_INPUT:
        tmp = tmp_path_factory.mktemp("bad-input")
        (tmp / "notimage.png").write_text("hello")
        (tmp / "bad.toml").write_text("[dream]\nstepz = 3\n")
        fill = {"tmp": tmp, "media": MEDIA}
        cases.append(([a.format(**fill) for a in args], tmp))
        folders.append(tmp)
    return {tuple(args): (folder, result)
            for (args, _), folder, result in zip(BAD_INPUT, folders, cli_cases(cases))}


@pytest.mark.parametrize("args, message", BAD_INPUT)
def test_bad_input_is_one_clear_line(bad_input_results, args, message):
    tmp_path, result = bad_input_results[tuple(args)]
    fill = {"tmp": tmp_path, "media": MEDIA}
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if not line.startswith("Downloading")]
    assert len(lines) == 1 and lines[0].startswith("live-dream: "), result.stderr
    assert message.format(**fill) in lines[0]
    assert not (tmp_path / "o.png").exists()


def test_exif_orientation_is_respected(tmp_path):
    upright = read_image(MEDIA / "chelsea.png")  # 300x451
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": stored sideways, shown upright
    Image.fromarray(np.rot90(upright, 1)).save(tmp_path / "sideways.jpg", exif=exif, quality=98)
    shown = read_image(tmp_path / "sideways.jpg")
    assert shown.shape == upright.shape
    assert np.abs(shown.astype(float) - upright).mean() < 6


def test_a_failed_write_leaves_the_old_file_and_no_debris(tmp_path):
    target = tmp_path / "keep.png"
    write_image(target, read_image(MEDIA / "coffee.png"))
    before = target.read_bytes()
    with pytest.raises(Exception):
        write_image(target, np.zeros((10, 10, 7), dtype=np.uint8))  # Pillow cannot save 7 channels
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.png"]


def test_config_toml_lists_every_setting_with_its_default():
    data = tomllib.loads((ROOT / "config.toml").read_text())
    defaults = asdict(Config())
    for section, cls in SECTIONS.items():
        assert set(data[section]) == {f.name for f in fields(cls)}, section
        as_toml = {k: list(v) if isinstance(v, tuple) else v for k, v in defaults[section].items()}
        assert data[section] == as_toml, section
    text = (ROOT / "config.toml").read_text()
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            assert "#" in line, f"setting without a comment: {line}"
    assert load_config(ROOT / "config.toml") == Config()


@pytest.mark.parametrize("toml, message", [
    ("[still]\nsteps = 'ten'\n", "still.steps = 'ten' is not an integer"),
    ("[still]\noctave_scale = 9.0\n", "between 1.01 and 4.0"),
    ("[network]\ndevice = 'tpu'\n", "use one of auto, cpu, cuda"),
    ("[nope]\nx = 1\n", "unknown setting 'nope.x'"),
    ("steps = 3\n", "must be a [section]"),
    ("[dream\n", "not valid TOML"),
])
def test_bad_config_values_are_rejected_by_name(tmp_path, toml, message):
    path = tmp_path / "c.toml"
    path.write_text(toml)
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace(".", r"\.")):
        load_config(path)


OLD_CONFIG = """
[dream]
steps = 3
step_size = 0.02
octaves = 2
jitter = 8
seed = 0

[live]
steps = 2
"""


def test_an_old_config_still_loads_and_each_renamed_key_is_one_line(tmp_path, caplog):
    """[dream] held the octaves' keys before they moved to [still]: they land there, with a line each."""
    path = tmp_path / "config.toml"
    path.write_text(OLD_CONFIG)
    with caplog.at_level(logging.WARNING, logger="live-dream"):
        config = load_config(path)
    assert (config.still.steps, config.still.step_size, config.still.octaves) == (3, 0.02, 2)
    assert (config.dream.jitter, config.dream.seed, config.live.steps) == (8, 0, 2)
    assert config.still_settings().steps == 3 and config.live_settings().step_size == config.live.step_size
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [f"setting dream.{k} is now still.{k}; read as such (rename it in your config.toml or --set)"
                     for k in ("steps", "step_size", "octaves")]
    # and the command reads it, saying so in one line per key
    result = cli_cases([(["still", str(MEDIA / "chelsea.png"), "o.jpg", "-q"], tmp_path)])[0]
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if "is now" in line] == [f"live-dream: {line}" for line in lines]
