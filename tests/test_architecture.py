"""The layout's promises: what each part may import, and the control bus (the registries' contracts:
tests/test_contracts.py)."""
from __future__ import annotations

import ast
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from live.control.actions import Action
from live.control.bus import ControlBus
from live.control.state import ShowState, Status

LIVE = Path(__file__).resolve().parent.parent / "live"

# subpackage -> module prefixes it must never import (each subpackage's docstring says why).
FORBIDDEN = {
    "dream": ["pygame", "av", "threading", "live.show", "live.outputs", "live.control", "live.backends",
              "live.offline", "live.sources"],
    "backends": ["pygame", "av", "live.show", "live.outputs", "live.control", "live.offline"],
    "outputs": ["torch", "torchvision", "onnxruntime", "live.dream", "live.backends", "live.show",
                "live.backends.engine"],
    "control": ["torch", "torchvision", "cv2", "pygame", "av", "live.dream", "live.backends",
                "live.show", "live.outputs"],
    "offline": ["pygame", "live.show", "live.outputs.window", "live.control"],
}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_each_part_imports_only_what_its_role_allows(package):
    files = sorted((LIVE / package).glob("*.py"))
    assert files, package
    for path in files:
        for name in imported_modules(path):
            bad = [f for f in FORBIDDEN[package] if name == f or name.startswith(f + ".")]
            assert not bad, f"live/{package}/{path.name} imports {name}, which live/{package} must not"
    assert "May import" in (LIVE / package / "__init__.py").read_text()  # the rule is written down there


def test_nothing_under_dream_uses_opencv_gui():
    for path in (LIVE / "dream").glob("*.py"):
        text = path.read_text()
        for call in ("cv2.imshow", "cv2.namedWindow", "cv2.waitKey"):
            assert call not in text, f"{path.name} uses {call}"


def test_settings_import_without_torch_or_opencv():
    code = "import sys, live.config; print(sorted(m for m in ('torch', 'cv2', 'pygame') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_settings_rule_belongs_to_a_field_that_exists():
    from dataclasses import fields
    from live.config import SECTIONS, load_config
    ruled = [(s, f) for s, cls in SECTIONS.items() for f in fields(cls) if "rule" in f.metadata]
    assert len(ruled) > 30  # the rules are attached to the fields themselves
    for section, f in ruled:
        check, allowed = f.metadata["rule"]
        assert check(getattr(getattr(load_config(), section), f.name)), f"default of {section}.{f.name}"


# ---------------------------------------------------------------- the control bus

def test_actions_from_many_threads_are_applied_by_one_owner():
    bus = ControlBus(ShowState(presets=("block5", "block6", "block7", "block8", "block9"), steps=1, max_steps=64))
    posters = [threading.Thread(target=lambda: [bus.post(Action("more_steps", source="osc")) for _ in range(50)])
               for _ in range(4)]
    for t in posters:
        t.start()
    for t in posters:
        t.join()
    before = bus.state
    bus.post(Action("next"))
    bus.post(Action("snapshot"))
    assert bus.state is before  # nothing changes until the owner applies
    effects = bus.apply_pending()
    assert bus.state.steps == 64  # 200 posts, bounded by max_steps
    assert bus.state.preset == 1 and [e.name for e in effects] == ["snapshot"]
    with pytest.raises(ValueError, match="unknown action"):
        Action("explode")


def test_a_bad_control_message_is_logged_and_the_show_goes_on(caplog):
    import logging
    bus = ControlBus(ShowState(steps=2))
    bus.post(Action("set_steps", -3, source="osc"))
    bus.post(Action("stronger"))
    with caplog.at_level(logging.WARNING, logger="live-dream"):
        bus.apply_pending()
    assert "set_steps from osc ignored" in caplog.text
    assert bus.state.steps == 2 and bus.state.strength == 1.25
