"""Unattended running: the systemd notify protocol (a real Unix datagram socket standing in for systemd),
the user unit, and installation mode's privacy (no file written, nothing listening beyond loopback)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from live.config import load_config

# the show's unattended running is tested here, not backends or presets: no ONNX export, one preset to prepare
CHEAP = ("--set", "live.backend=torch", "--set", "live.presets=block9")


def notify_socket(tmp_path) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(tmp_path / "notify.sock"))
    listener.settimeout(0.2)
    return listener


def received(listener, seconds) -> list[tuple[float, str]]:
    messages, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            messages.append((time.monotonic(), listener.recv(4096).decode()))
        except socket.timeout:
            pass
    return messages


def test_the_show_speaks_the_systemd_notify_protocol(tmp_path):
    listener = notify_socket(tmp_path)
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock")}
    show = subprocess.Popen([sys.executable, "-m", "live.cli", "run", "--source", "demo", "--headless", "--seconds",
                             "5", "--size", "96x64", "--installation", *CHEAP], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    messages = []
    while show.poll() is None or not messages or messages[-1] != "STOPPING=1":
        messages += [m for _, m in received(listener, 0.5)]
        if show.poll() is not None and not any(m == "STOPPING=1" for m in messages):
            messages += [m for _, m in received(listener, 0.5)]
            break
    show.communicate(timeout=60)
    assert messages and messages[0] == "READY=1", messages[:3]
    watchdogs = [m for m in messages if m.startswith("WATCHDOG=1")]
    assert len(watchdogs) >= 3 and "fps" in watchdogs[-1] and "STATUS=" in watchdogs[-1]
    assert messages[-1] == "STOPPING=1"


@pytest.mark.parametrize("decoupled", [False, True])
def test_no_watchdog_while_no_frame_is_shown(tmp_path, monkeypatch, decoupled):
    """A dream step that hangs (injected into the real pipeline): the show stops feeding the watchdog, so
    systemd would restart it; released, the watchdog comes back. Decoupled, the camera is still shown
    meanwhile, and the watchdog must stop all the same (it did not, before it looked at the dreams)."""
    from live.show import pipeline
    from live.show.pipeline import RunOptions, run_live
    listener = notify_socket(tmp_path)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify.sock"))
    hang, frames = threading.Event(), []
    real_build = pipeline.build_dreamer

    def build_with_a_hang(config, **kwargs):
        dreamer = real_build(config, **kwargs)
        run = dreamer.run

        def hanging(image, preset, steps, strength):
            if len(frames) >= 15 and not hang.is_set():
                hang.wait(6)  # the worker hangs for 6 s
                hang.set()
            return run(image, preset, steps, strength)
        dreamer.run = hanging
        return dreamer
    monkeypatch.setattr(pipeline, "build_dreamer", build_with_a_hang)
    config = load_config(None, {"display.mode": "headless", "capture.source": "demo", "live.width": 96,
                                "live.height": 64, "live.backend": "torch", "live.presets": "block9",
                                "display.decoupled": decoupled})
    shown = threading.Thread(target=run_live, args=(config, RunOptions(seconds=14, observe=lambda s, t, item: frames.append(t))))
    shown.start()
    messages = received(listener, 16)
    shown.join(timeout=60)
    watchdog = [t for t, m in messages if m.startswith("WATCHDOG=1")]
    gaps = [b - a for a, b in zip(watchdog, watchdog[1:])]
    assert max(gaps) > 4.5, gaps  # silent while the worker hung
    assert sum(1 for g in gaps if g < 1.5) >= 4  # about once a second before and after


def test_the_user_unit_restarts_with_a_watchdog(tmp_path):
    printed = subprocess.run([sys.executable, "-m", "live.cli", "service", "install", "--print"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0
    unit = printed.stdout
    for line in ["Type=notify", "Restart=always", "WatchdogSec=30", "StartLimitBurst=10", "run --installation",
                 f"WorkingDirectory={tmp_path}"]:
        assert line in unit, line
    home = tmp_path / "home"
    written = subprocess.run([sys.executable, "-m", "live.cli", "service", "install"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60, env={**os.environ, "HOME": str(home)})
    assert written.returncode == 0 and "systemctl --user" in written.stdout
    assert (home / ".config/systemd/user/live-dream.service").read_text() == unit


def listening_addresses(pid: int) -> list[str]:
    """The local addresses of the process's TCP listeners and UDP sockets, from /proc."""
    inodes = {os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1] for fd in os.listdir(f"/proc/{pid}/fd")
              if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:[")}
    found = []
    for table in ("tcp", "udp", "tcp6", "udp6"):
        for row in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if inode in inodes and (table.startswith("udp") or state == "0A"):  # 0A: LISTEN
                found.append(f"{table} {local}")
    return found


def test_installation_mode_writes_nothing_and_listens_only_on_loopback(tmp_path):
    import json
    import urllib.request
    from test_control import free_port
    home, cwd = tmp_path / "home", tmp_path / "show"
    home.mkdir()
    cwd.mkdir()
    http, osc = free_port(), free_port(socket.SOCK_DGRAM)
    show = subprocess.Popen([sys.executable, "-m", "live.cli", "run", "--source", "demo", "--headless", "--seconds",
                             "60", "--size", "96x64", "--installation", "--http", str(http), "--osc", str(osc), *CHEAP],
                            cwd=cwd, env={**{k: v for k, v in os.environ.items() if k != "XDG_STATE_HOME"},
                                          "HOME": str(home)}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if json.load(urllib.request.urlopen(f"http://127.0.0.1:{http}/health", timeout=2))["frames_shown"]:
                    break
            except OSError:
                time.sleep(0.3)
        request = urllib.request.Request(f"http://127.0.0.1:{http}/action", method="POST",
                                         data=b'{"action": "snapshot"}',
                                         headers={"Content-Type": "application/json"})
        assert urllib.request.urlopen(request, timeout=5).status == 202
        addresses = listening_addresses(show.pid)
        assert len(addresses) >= 2, addresses  # the HTTP and OSC listeners are there ...
        loopback = ("0100007F:", "00000000000000000000000001000000:")
        assert all(a.split()[1].startswith(loopback) for a in addresses), addresses  # ... on loopback only
        time.sleep(1)
    finally:
        show.terminate()
        output = show.communicate(timeout=60)[0]
    assert "snapshot ignored: installation mode keeps nothing of its visitors" in output
    assert list(cwd.rglob("*")) == []  # no file, no folder
    # the one file anywhere: the show's state for a restart (numbers and the scene's text, never an image)
    assert [p.relative_to(home) for p in home.rglob("*") if p.is_file()] == [Path(".local/state/live-dream/show.json")]
    assert set(json.loads((home / ".local/state/live-dream/show.json").read_text())) == {"scene", "strength", "mix"}
