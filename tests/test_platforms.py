"""Install works everywhere a user would try it: the base install and every extra resolve against the package
index for Linux x86-64, Windows x64, macOS arm64 and Linux aarch64 (glibc 2.35 and the 2.28 baseline of older
boards), each with exactly one ONNX Runtime build and OpenVINO where it is meant to be.

The resolutions run `uv pip compile` for the target platform (uv comes with the [test] extra), so one machine
checks them all in a few seconds; they are skipped, with the reason, when uv is missing or no index answers.
The index is PyPI (uv reads no pip configuration), or $UV_INDEX_URL when that is set. uv's own cache (or
$UV_CACHE_DIR) is shared between runs, so a repeated run reads most of the index from disk.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

try:
    import tomllib
except ImportError:  # Python 3.10
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS = sorted(PROJECT["optional-dependencies"])
PYTHON = "3.11"
ORT = {"onnxruntime", "onnxruntime-gpu"}  # one import name: exactly one of the two may be installed


@dataclass(frozen=True)
class Platform:
    name: str
    target: str  # uv's --python-platform
    sys_platform: str
    machine: str  # platform.machine() there
    onnxruntime: str  # the ONNX Runtime build it gets
    openvino: bool  # OpenVINO in the base install
    excluded: tuple[str, ...] = ()  # extras that cannot install there, by design

    def environment(self, extra: str = "") -> dict[str, str]:
        """The PEP 508 marker variables on this platform (CPython 3.11)."""
        system = {"linux": "Linux", "win32": "Windows", "darwin": "Darwin"}[self.sys_platform]
        return {"sys_platform": self.sys_platform, "platform_machine": self.machine, "platform_system": system,
                "os_name": "nt" if self.sys_platform == "win32" else "posix", "python_version": PYTHON,
                "python_full_version": f"{PYTHON}.0", "implementation_name": "cpython",
                "platform_python_implementation": "CPython", "implementation_version": f"{PYTHON}.0",
                "platform_release": "", "platform_version": "", "extra": extra}


PLATFORMS = [
    Platform("linux-x86_64", "x86_64-manylinux_2_28", "linux", "x86_64", "onnxruntime-gpu", True),
    Platform("windows-x64", "x86_64-pc-windows-msvc", "win32", "AMD64", "onnxruntime-gpu", True),
    # uv assumes macOS 13, the oldest macOS still supported (newer torch and onnxruntime wheels need 14)
    Platform("macos-arm64", "aarch64-apple-darwin", "darwin", "arm64", "onnxruntime", True),
    Platform("linux-aarch64-glibc2.35", "aarch64-manylinux_2_35", "linux", "aarch64", "onnxruntime", False),
    # Raspberry Pi OS 11, Ubuntu 20.04 boards: OpenVINO's aarch64 wheels need glibc 2.35, so no [openvino]
    Platform("linux-aarch64-glibc2.28", "aarch64-manylinux_2_28", "linux", "aarch64", "onnxruntime", False,
             excluded=("openvino",)),
]
# Per platform two resolutions: the base install, and the base with every extra that platform takes (if they
# resolve together, each resolves alone: a subset of the requirements). One compile per extra would be 50-odd
# of them, each revalidating the index: 20-60 s instead of a few.
CASES = [pytest.param(p, extras, id=f"{p.name}-{'extras' if extras else 'base'}")
         for p in PLATFORMS for extras in [(), tuple(e for e in EXTRAS if e not in p.excluded)]]


def requirements(extra: str = "") -> list[Requirement]:
    reqs = PROJECT["dependencies"] if not extra else PROJECT["optional-dependencies"][extra]
    return [Requirement(r) for r in reqs]


def wanted(platform: Platform, *extras: str) -> set[str]:
    """The names the install asks for on this platform: the base's and the extras', markers applied."""
    asked = [(r, "") for r in requirements()] + [(r, e) for e in extras for r in requirements(e)]
    return {canonicalize_name(r.name) for r, extra in asked
            if r.marker is None or r.marker.evaluate(platform.environment(extra))}


# -- the markers themselves (no index needed) --------------------------------------------------------------

@pytest.mark.parametrize("platform", PLATFORMS, ids=lambda p: p.name)
def test_the_markers_pick_one_onnxruntime_and_openvino_as_designed(platform):
    for extra in ["", *EXTRAS]:
        names = wanted(platform, *[extra] if extra else [])
        assert names & ORT == {platform.onnxruntime}, (platform.name, extra or "base")
        assert ("openvino" in names) == (platform.openvino or extra == "openvino"), (platform.name, extra or "base")


def test_the_readme_install_is_the_same_command_on_every_platform():
    """The Quick start installs name the project alone (and extras that install everywhere): no platform-only
    package, no extra index, no platform-specific extra; the markers choose per platform."""
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    installs = re.findall(r"pip install ([^&\n]*)", quick)
    assert installs, "no `pip install` in the README's Quick start"
    everywhere = {e for e in EXTRAS if all(r.marker is None for r in requirements(e))}
    for args in installs:
        targets = [a.strip("'\"") for a in args.split() if not a.startswith("-")]
        assert targets and all(t == "." or t.startswith(".[") for t in targets), args
        assert "index-url" not in args and "find-links" not in args, args
        for target in targets:
            extras = set(target[2:-1].split(",")) - {""} if target.startswith(".[") else set()
            assert extras <= everywhere, f"{args}: {extras - everywhere} is not for every platform"


# -- real resolutions against the index --------------------------------------------------------------------

NETWORK_ERRORS = ("error sending request", "client error", "dns error", "timed out", "failed to fetch",
                  "connection", "certificate", "tunnel", "proxy", "could not connect", "network")


def uv_binary() -> str | None:
    try:
        import uv
        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        pass
    here = Path(sys.executable).parent
    return shutil.which("uv", path=str(here)) or shutil.which("uv")


def uv_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("UV_PYTHON_DOWNLOADS", "never")  # sdists' metadata is built with this interpreter
    env.setdefault("UV_HTTP_TIMEOUT", "60")
    env.pop("MACOSX_DEPLOYMENT_TARGET", None)  # macOS: uv's default, the oldest supported version
    env["UV_NO_PROGRESS"] = "1"
    return env


def compile_command(uv: str, platform: Platform | None, *args: str) -> list[str]:
    index = os.environ.get("UV_INDEX_URL") or "https://pypi.org/simple"
    target = ["--python-platform", platform.target] if platform else []
    return [uv, "pip", "compile", "--no-config", "--default-index", index, "--python", sys.executable,
            "--python-version", PYTHON, *target, "--no-header", "--no-annotate", *args]


@pytest.fixture(scope="session")
def uv() -> str:
    found = uv_binary()
    if not found:
        pytest.skip("uv is not installed (it comes with the [test] extra: pip install -e '.[test]')")
    try:
        probe = subprocess.run(compile_command(found, None, "--refresh-package", "pip", "-"), input="pip\n",
                               capture_output=True, text=True, timeout=60, cwd=ROOT,
                               env={**uv_environment(), "UV_HTTP_TIMEOUT": "20", "UV_HTTP_RETRIES": "0"})
    except subprocess.TimeoutExpired:
        pytest.skip("no package index reachable: resolving `pip` took over 60 s")
    if probe.returncode != 0:
        error = probe.stderr.strip()
        if any(word in error.lower() for word in NETWORK_ERRORS):
            lines = error.splitlines()
            pytest.skip(f"no package index reachable: {lines[0]} ({lines[-1].strip()})")
        pytest.fail(f"uv cannot resolve `pip`:\n{error}")
    return found


@pytest.fixture(scope="session")
def resolutions(uv, request):
    """Every resolution the collected tests ask for, run four at a time (waiting on the index, not on the
    CPU), in the order of the tests: each waits only for its own."""
    cases = [(item.callspec.params["platform"], item.callspec.params["extras"]) for item in request.session.items
             if getattr(item, "originalname", "") == "test_the_install_resolves"]
    env = uv_environment()

    def resolve(platform, extras):
        args = [arg for extra in extras for arg in ("--extra", extra)]
        return subprocess.run(compile_command(uv, platform, "pyproject.toml", *args), capture_output=True,
                              text=True, timeout=300, cwd=ROOT, env=env)

    pool = ThreadPoolExecutor(max_workers=4)
    futures = {case: pool.submit(resolve, *case) for case in dict.fromkeys(cases)}
    yield futures
    pool.shutdown(wait=False, cancel_futures=True)


@pytest.mark.parametrize("platform, extras", CASES)
def test_the_install_resolves(platform, extras, resolutions):
    done = resolutions[(platform, extras)].result()
    install = f"pip install -e '.[{','.join(extras)}]'" if extras else "pip install -e ."
    assert done.returncode == 0, f"`{install}` does not resolve on {platform.name}:\n{done.stderr}"
    pinned = dict(re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", done.stdout, re.MULTILINE))
    pinned = {canonicalize_name(name): version for name, version in pinned.items()}
    versions = ", ".join(f"{n} {pinned[n]}" for n in ("torch", *sorted(ORT), "openvino") if n in pinned)
    assert set(pinned) & ORT == {platform.onnxruntime}, versions
    assert ("openvino" in pinned) == (platform.openvino or "openvino" in extras), versions
    missing = wanted(platform, *extras) - set(pinned)
    assert not missing, f"asked for but not in the resolution: {missing}"
