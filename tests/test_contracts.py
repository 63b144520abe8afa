"""Every entry of every registry keeps its contract: each source kind (live/sources/contract.py), each
output (live/outputs/contract.py) and each backend (live/backends/contract.py), on real parts. The cases
are checked against the registries, so a new entry without a case here fails."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from live.backends.choice import BACKENDS, build_backend
from live.config import load_config
from live.control.state import ShowState, Status
from live.errors import UserError
from live.outputs import OUTPUTS
from live.sources import SOURCES, SourceRequest, list_cameras, open_source, source_kind
from live_helpers import scaled, write_video, moving_cat_frames

ROOT = Path(__file__).resolve().parent.parent
NDI_CONFIG = {"ndi": {"networks": {"ips": "127.0.0.1"}}}  # NDI without mDNS: look at this machine


def ndi_env(tmp_path) -> dict:
    pytest.importorskip("cyndilib", reason="NDI needs the ndi extra: pip install -e '.[ndi]'")
    folder = tmp_path / "ndi-config"
    folder.mkdir(exist_ok=True)
    (folder / "ndi-config.v1.json").write_text(json.dumps(NDI_CONFIG))
    return {**os.environ, "NDI_CONFIG_DIR": str(folder), "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}


# ---------------------------------------------------------------- sources

def check_source(source) -> list:
    """The Source contract, as the show relies on it; the frames read."""
    assert isinstance(source.description, str) and source.description
    assert source.fps is None or source.fps > 0
    assert isinstance(source.still, bool) and isinstance(source.faces_visitors, bool)
    assert source.state == "ok" and source.reconnects == 0
    frames = [source.read() for _ in range(3)]
    for frame in frames:
        assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3 and frame.size
    source.stop_reading()  # optional members exist on every source and do no harm
    source.close()
    return frames


def a_video(folder: Path) -> str:
    return str(write_video(folder / "clip.mp4", [frame for frame, _ in moving_cat_frames(6)]))


def a_folder(folder: Path) -> str:
    import cv2
    (folder / "pics").mkdir()
    for i, name in enumerate(("chelsea", "coffee")):
        cv2.imwrite(str(folder / "pics" / f"{i}.png"), scaled(name, (96, 64))[..., ::-1])
    return str(folder / "pics")


def a_photo(folder: Path) -> str:
    return str(ROOT / "live" / "media" / "coffee.png")


# kind -> specs to open with it (several where one kind covers several things)
SOURCE_CASES = {"auto": ["auto"], "demo": ["demo"], "camera": ["camera:0"], "ndi": ["ndi:live-dream-contract"],
                "file": [a_video, a_folder, a_photo]}


def test_every_source_kind_has_a_case():
    assert set(SOURCE_CASES) == {kind.name for kind in SOURCES}


NDI_SOURCE = """
import sys, time
from live.outputs.ndi import NdiSender
from live.sources import SourceRequest, open_source
from live_helpers import scaled
from test_contracts import check_source
sender = NdiSender("live-dream-contract", (160, 120), 30.0)
sender.open()
sender.send(scaled("chelsea", (160, 120)))
source = open_source("ndi:live-dream-contract", SourceRequest(160, 120, 30))
for _ in range(20):  # keep sending while the receiver connects
    sender.send(scaled("chelsea", (160, 120)))
    time.sleep(0.02)
frames = check_source(source)
sender.close()
print("FRAMES", frames[-1].shape)
"""


@pytest.mark.parametrize("kind, spec", [(k, s) for k, specs in SOURCE_CASES.items() for s in specs],
                         ids=lambda v: v if isinstance(v, str) else v.__name__)
def test_every_source_keeps_the_contract(kind, spec, tmp_path):
    if callable(spec):
        spec = spec(tmp_path)
    assert source_kind(spec).name == kind  # the spec is recognised by the kind that builds it
    if kind == "camera" and not list_cameras():
        pytest.skip("no camera on this machine (a USB webcam cannot be plugged in here)")
    if kind == "ndi":  # NDI reads its settings once per process: a process of its own
        result = subprocess.run([sys.executable, "-c", NDI_SOURCE], capture_output=True, text=True,
                                env=ndi_env(tmp_path), cwd=tmp_path, timeout=120)
        if "no NDI source named" in result.stderr:
            pytest.skip("NDI discovery does not work on this machine even on 127.0.0.1")
        assert result.returncode == 0 and "FRAMES (120, 160, 3)" in result.stdout, result.stderr[-2000:]
        return
    check_source(open_source(spec, SourceRequest(96, 64, 30)))


def test_a_spec_nobody_recognises_is_one_line(tmp_path):
    with pytest.raises(UserError, match="no such file or folder"):
        open_source(str(tmp_path / "nothing-here"), SourceRequest(96, 64, 30))
    with pytest.raises(UserError, match="the source is empty"):
        source_kind("  ")


# ---------------------------------------------------------------- outputs

# name -> the settings that want it
OUTPUT_SETTINGS = {
    "window": {"display.fullscreen": False, "display.window_width": 160, "display.window_height": 120},
    "recorder": {"record.path": "{tmp}/out.mp4", "record.width": 160, "record.height": 120},
    "ndi": {"ndi.output": "live-dream-contract-out", "ndi.width": 160, "ndi.height": 120},
    "virtualcam": {"virtualcam.enabled": True, "virtualcam.width": 160, "virtualcam.height": 120},
    "spout": {"share.spout": "live-dream", "share.width": 160, "share.height": 120},
    "syphon": {"share.syphon": "live-dream", "share.width": 160, "share.height": 120},
}
ELSEWHERE = {"spout": "win32", "syphon": "darwin"}


def test_every_output_has_a_case():
    assert set(OUTPUT_SETTINGS) == set(OUTPUTS)


def check_output(output, name: str) -> object:
    """The Output contract: open once, frames of any size, poll, close exactly once (a second close changes
    nothing); what close returns."""
    assert output.name == name and output.error is None
    output.open()
    status = Status(30.0, 50.0, 30.0, (160, 120), ShowState(presets=("block9", "block11")), "lite0", "block9",
                    "torch-cpu-fp32")
    for photo, size in (("chelsea", (160, 120)), ("coffee", (320, 200)), ("astronaut", (96, 64))):
        output.send(scaled(photo, size), status)
    assert output.error is None and isinstance(output.poll(), list)
    assert len(output.size) == 2
    kept = output.close()
    assert output.close() == kept
    return kept


NDI_OUTPUT = """
from live.config import load_config
from live.outputs import OUTPUTS
from test_contracts import OUTPUT_SETTINGS, check_output
config = load_config(None, OUTPUT_SETTINGS["ndi"])
print("KEPT", check_output(OUTPUTS["ndi"].build(config, False, ()), "ndi"))
"""


@pytest.mark.parametrize("name", list(OUTPUT_SETTINGS))
def test_every_output_keeps_the_contract(name, tmp_path, monkeypatch):
    if name in ELSEWHERE and sys.platform != ELSEWHERE[name]:
        pytest.skip(f"{name} runs on {ELSEWHERE[name]} only (tests/test_video_io.py checks the one line here)")
    settings = {k: v.format(tmp=tmp_path) if isinstance(v, str) else v for k, v in OUTPUT_SETTINGS[name].items()}
    config = load_config(None, settings)
    kind = OUTPUTS[name]
    assert kind.wanted(config, False) and not kind.wanted(load_config(None, {}), True)  # the settings want it
    if name == "ndi":
        result = subprocess.run([sys.executable, "-c", NDI_OUTPUT], capture_output=True, text=True,
                                env=ndi_env(tmp_path), cwd=tmp_path, timeout=120)
        assert result.returncode == 0 and "KEPT None" in result.stdout, result.stderr[-2000:]
        return
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    try:
        output = kind.build(config, False, ())
        if name == "virtualcam":
            output.open()  # the device is found when it opens
            output.close()
            output = kind.build(config, False, ())
    except UserError as exc:
        pytest.skip(f"{name} cannot run here: {exc}")
    kept = check_output(output, name)
    if name == "recorder":
        from live_helpers import read_video
        assert kept == tmp_path / "out.mp4" and len(read_video(kept)) == 3
    else:
        assert kept is None
    if name == "window":
        import pygame
        assert not pygame.display.get_init()


# ---------------------------------------------------------------- backends

@pytest.fixture(scope="module")
def dream_parts():
    from live.backends.engine import load_network
    config = load_config(None, {"network.objective": "block5"})
    network = load_network(config.network)
    return (*network.truncated(network.objective()), config.live_settings())


@pytest.mark.parametrize("name", list(BACKENDS))
def test_every_backend_keeps_the_contract(name, dream_parts):
    import torch
    if name == "openvino":
        pytest.importorskip("openvino", reason="OpenVINO has wheels for some machines only")
    net, objective, settings = dream_parts
    size = (64, 48)
    backend = build_backend(name, net, objective, settings, torch.device("cpu"), size, 1, "fp32")
    assert isinstance(backend.name, str) and backend.name.startswith(name)
    image = scaled("chelsea", size).astype(np.float32) / 255
    assert np.array_equal(backend.steps(image.copy(), 0, 0.03), image)  # 0 steps: as it is
    out = backend.steps(image.copy(), 2, 0.03)
    assert out.shape == image.shape and out.dtype == np.float32 and np.isfinite(out).all()
    assert np.abs(out - image).mean() > 1e-4  # it dreamed
    if name != "torch":  # an exported graph is for its size
        with pytest.raises(ValueError, match="graph is for 64x48"):
            backend.steps(np.zeros((32, 32, 3), np.float32), 1, 0.03)
