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
from live.control.state import ShowState

LIVE = Path(__file__).resolve().parent.parent / "live"

# The layout's rules as data: folder -> what nothing it reaches may import, directly or through any chain of
# live's own modules. Imports inside functions count (they run when the function does); imports under
# `if TYPE_CHECKING:` do not (they never run). Each folder's __init__ says the same in words.
ALL_PARTS = ["live.core", "live.dream", "live.backends", "live.sources", "live.outputs", "live.control",
             "live.show", "live.offline", "live.proving", "live.cli"]
FORBIDDEN = {
    "core": [p for p in ALL_PARTS if p != "live.core"],
    "dream": ["pygame", "av", *[p for p in ALL_PARTS if p not in ("live.core", "live.dream")]],
    "backends": ["pygame", "av", "live.sources", "live.outputs", "live.control", "live.show", "live.offline",
                 "live.proving", "live.cli"],
    "sources": ["torch", "pygame", "live.dream", "live.backends", "live.outputs", "live.control", "live.show",
                "live.offline", "live.proving", "live.cli"],
    "outputs": ["torch", "torchvision", "onnxruntime", "live.dream", "live.backends", "live.sources", "live.show",
                "live.offline", "live.proving", "live.cli"],
    "control": ["torch", "torchvision", "cv2", "pygame", "av", "live.dream", "live.backends", "live.sources",
                "live.outputs", "live.show", "live.offline", "live.proving", "live.cli"],
    "offline": ["pygame", "live.show", "live.outputs", "live.control", "live.proving", "live.cli"],
    "show": ["live.proving", "live.cli"],
    "proving": ["live.cli"],
}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(tree: ast.AST, package: str) -> set[str]:
    """Every module an import statement names, TYPE_CHECKING blocks left out; relative ones made absolute."""
    names: set[str] = set()

    def visit(node):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from live.x import y`: y may be a module
        for child in ast.iter_child_nodes(node):
            visit(child)
    visit(tree)
    return names


def import_graph(root: Path) -> dict[str, set[str]]:
    """module -> the modules it imports (live's own that exist, and libraries by their top-level name).
    Importing a.b.c runs a/__init__ and a/b/__init__ first, so those count as imported too."""
    modules = {module_name(p, root): p for p in root.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for imported in _runtime_imports(ast.parse(path.read_text()), package):
            if imported.split(".")[0] != root.name:
                edges.add(imported.split(".")[0])
                continue
            parts = imported.split(".")
            edges.update(m for m in (".".join(parts[:i]) for i in range(1, len(parts) + 1)) if m in modules)
        graph[name] = edges - {name}
    return graph


def violations(graph: dict[str, set[str]], forbidden: dict[str, list[str]], top: str = "live") -> list[str]:
    """One line per module of a folder that reaches something its folder must not, with the chain."""
    found = []
    for module in sorted(graph):
        parts = module.split(".")
        if len(parts) < 2 or parts[1] not in forbidden:
            continue
        rules = forbidden[parts[1]]
        chains = {module: [module]}
        todo = [module]
        while todo:  # breadth first: the shortest chain to each module reached
            here = todo.pop(0)
            for nxt in sorted(graph.get(here, ())):
                if nxt not in chains:
                    chains[nxt] = chains[here] + [nxt]
                    if nxt in graph:
                        todo.append(nxt)
        for reached, chain in chains.items():
            if reached == module:
                continue
            bad = [f for f in rules if reached == f or reached.startswith(f + ".")]
            own = reached.startswith(f"{top}.{parts[1]}")  # a folder may use itself
            if bad and not own:
                found.append(f"{module} reaches {reached}: {' -> '.join(chain)}")
                break  # one line per module is enough to act on
    return found


def test_no_part_reaches_what_its_role_forbids():
    assert not violations(import_graph(LIVE), FORBIDDEN), "\n".join(violations(import_graph(LIVE), FORBIDDEN))


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_each_part_writes_its_rule_down(part):
    assert "May import" in (LIVE / part / "__init__.py").read_text()


def test_the_checker_follows_chains(tmp_path):
    """a -> b -> c, where a's folder must not reach c's: found through b, with the chain; and what an
    unknown relative path or a TYPE_CHECKING import names is not followed."""
    root = tmp_path / "pkg"
    for folder in ("one", "two", "three"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "one" / "a.py").write_text("def later():\n    from pkg.two import b\n")
    (root / "two" / "b.py").write_text("from ..three.c import thing\n")
    (root / "three" / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.one.a\nthing = 1\n")
    graph = import_graph(root)
    assert violations(graph, {"one": ["pkg.three"]}, top="pkg") == [
        "pkg.one.a reaches pkg.three: pkg.one.a -> pkg.two.b -> pkg.three"]
    assert violations(graph, {"three": ["pkg.one"]}, top="pkg") == []  # TYPE_CHECKING does not run


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


def test_the_checker_finds_the_old_trees_offline_to_control_path(tmp_path):
    """The tree before the layout change (86d1c47): render reached the control surfaces through the dreamer."""
    root = LIVE.parent
    if subprocess.run(["git", "cat-file", "-e", "86d1c47^{commit}"], cwd=root, capture_output=True).returncode:
        pytest.skip("no git history here (the commit before the layout change is not in this checkout)")
    archive = subprocess.run(["git", "archive", "86d1c47", "live"], cwd=root, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp_path)], input=archive, check=True)
    found = violations(import_graph(tmp_path / "live"), {"offline": ["live.control"]})
    assert found == ["live.offline.render reaches live.control: live.offline.render -> live.dreamer -> live.control"]
