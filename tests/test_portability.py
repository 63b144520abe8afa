"""Portable by construction: the show runs where Linux's own facilities are missing (Windows has no
`resource`, no `os.sysconf`, no Unix sockets; macOS and Windows have no /proc), and the service files
of each system are right. The real program runs in a subprocess with those facilities taken away."""
from __future__ import annotations

import json
import plistlib
import subprocess
import sys
import textwrap

from conftest import MEDIA

# Run in a fresh interpreter before live-dream loads: the facilities a Windows or macOS machine lacks
# are made to fail as they would there (an audit hook refuses /proc the way a missing folder does).
WITHOUT_LINUX = textwrap.dedent("""
    import json, os, socket, sys
    import psutil  # has its own backend on each system; only live-dream's own use of Linux is taken away
    sys.modules["resource"] = None                 # Windows: no such module
    for name in ("sysconf", "sysconf_names"):      # Windows: no sysconf; macOS lacks SC_AVPHYS_PAGES
        if hasattr(os, name):
            delattr(os, name)
    if hasattr(socket, "AF_UNIX"):                 # Windows: no Unix sockets
        del socket.AF_UNIX

    def no_proc(event, args):
        if event in ("open", "os.listdir", "os.scandir") and args:
            path = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
            if path.startswith("/proc"):
                raise FileNotFoundError(2, "No such file or directory (not Linux)", path)
    sys.addaudithook(no_proc)

    import importlib, pkgutil, live
    for module in pkgutil.walk_packages(live.__path__, "live."):
        importlib.import_module(module.name)
    from live.cli import main
    codes = [main(argv) for argv in json.loads(sys.argv[1])]
    print("EXIT CODES", json.dumps(codes))
""")

FAST = ["--set", "live.presets=block5", "--set", "live.backend=torch"]


def run_without_linux(commands: list[list[str]], tmp_path, **env) -> tuple[list[int], str]:
    result = subprocess.run([sys.executable, "-c", WITHOUT_LINUX, json.dumps(commands)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=600,
                            env={**__import__("os").environ, **env})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("EXIT CODES"))
    return json.loads(line.split(" ", 2)[2]), output


def test_still_run_and_render_work_without_linux_only_facilities(tmp_path):
    """Every module imports; `still`, a short `run` (recorded, under a service manager's NOTIFY_SOCKET)
    and `render` of that recording all finish, with no traceback. On the code before this change the
    run failed at once: `import resource` in the show's statistics."""
    stats = tmp_path / "stats.json"
    commands = [
        ["still", str(MEDIA / "chelsea.png"), str(tmp_path / "still.jpg"), "--steps", "1", "--octaves", "1"],
        ["run", "--source", "demo", "--headless", "--size", "160x120", "--seconds", "4",
         "--record", str(tmp_path / "run.mp4"), "--stats-json", str(stats), *FAST],
        ["render", str(tmp_path / "run.mp4"), str(tmp_path / "rendered.mp4"), "--size", "96x64",
         "--backend", "torch", "-q"],
    ]
    codes, output = run_without_linux(commands, tmp_path, NOTIFY_SOCKET=str(tmp_path / "notify"))
    assert codes == [0, 0, 0], output[-3000:]
    assert "Traceback" not in output
    for name in ("still.jpg", "run.mp4", "rendered.mp4"):
        assert (tmp_path / name).stat().st_size > 1000, name
    summary = json.loads(stats.read_text())
    assert summary["shown"] > 0
    assert summary["memory_mb"] >= 0  # read through psutil, or 0 where the system hides it


def test_memory_and_open_files_come_from_psutil():
    from live.show.stats import memory_mb, open_files
    resident, peak = memory_mb()
    assert 10 < resident <= peak
    assert open_files() > 0


def test_the_macos_launch_agent_restarts_the_show(tmp_path):
    from live.show.service import AGENT_LABEL, install_launch_agent, launch_agent
    config = tmp_path / "show.toml"
    config.write_text("")
    path = install_launch_agent(launch_agent(str(config), str(tmp_path), tmp_path / "logs"), home=tmp_path)
    assert path == tmp_path / "Library" / "LaunchAgents" / f"{AGENT_LABEL}.plist"
    agent = plistlib.loads(path.read_bytes())
    assert agent["KeepAlive"] is True and agent["RunAtLoad"] is True
    assert agent["ProgramArguments"][1:] == ["-m", "live.cli", "run", "--installation", "--config", str(config)]
    assert agent["WorkingDirectory"] == str(tmp_path)
