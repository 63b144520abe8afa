"""Running as a service: on Linux the systemd notify protocol (sd_notify) and the user unit that starts the
show; on macOS a LaunchAgent (launchd restarts the show whenever it ends; it has no watchdog protocol).

    READY=1      after the first frame is shown (systemd then counts the show as started)
    WATCHDOG=1   from the display loop, only while new frames are being shown: a hung worker or renderer
                 stops it, and systemd restarts the show after WatchdogSec
    STATUS=...   fps and latency, for `systemctl --user status live-dream`
    STOPPING=1   on the way out

The protocol is one datagram per message to the Unix socket named in $NOTIFY_SOCKET (absent: not under
systemd, and nothing is sent).
"""
from __future__ import annotations

import logging
import os
import plistlib
import shlex
import socket
import sys
from pathlib import Path

from live.files import atomic_output

log = logging.getLogger("live-dream")
UNIT_NAME = "live-dream.service"
AGENT_LABEL = "org.live-dream.show"  # the macOS LaunchAgent's label and file name
WATCHDOG_SECONDS = 30


class SystemdNotifier:
    def __init__(self, address: str | None = None):
        address = os.environ.get("NOTIFY_SOCKET") if address is None else address
        self.socket = None
        if address and not hasattr(socket, "AF_UNIX"):  # Windows: there is no systemd to tell
            log.info("NOTIFY_SOCKET is set but this system has no Unix sockets; not notifying a service manager")
        elif address:
            self.address = "\0" + address[1:] if address.startswith("@") else address  # abstract namespace
            self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def notify(self, message: str) -> None:
        if self.socket is None:
            return
        try:
            self.socket.sendto(message.encode(), self.address)
        except OSError:  # systemd gone or the socket full: the show goes on
            pass

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close()
            self.socket = None


def user_unit(config_path: str | None, workdir: str) -> str:
    command = show_command(config_path)
    return f"""[Unit]
Description=live-dream: a live DeepDream installation
# Restart for ever, but not in a tight loop: at most 10 starts in 5 minutes.
StartLimitIntervalSec=300
StartLimitBurst=10

[Service]
Type=notify
NotifyAccess=main
ExecStart={shlex.join(command)}
WorkingDirectory={workdir}
Restart=always
RestartSec=5
# No frame shown for this long (a hung worker, camera or renderer): systemd restarts the show.
WatchdogSec={WATCHDOG_SECONDS}
Environment=PYTHONUNBUFFERED=1

[Install]
WantedBy=default.target
"""


def install_unit(text: str, home: Path | None = None) -> Path:
    path = (home or Path.home()) / ".config" / "systemd" / "user" / UNIT_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        tmp.write_text(text)
    return path


def show_command(config_path: str | None) -> list[str]:
    command = [sys.executable, "-m", "live.cli", "run", "--installation"]
    if config_path:
        command += ["--config", str(Path(config_path).resolve())]
    return command


def launch_agent(config_path: str | None, workdir: str, log_dir: Path) -> bytes:
    """The LaunchAgent plist: started at login, restarted whenever it ends (KeepAlive), at most every
    10 s (ThrottleInterval), its output in log files (a LaunchAgent has no terminal)."""
    return plistlib.dumps({
        "Label": AGENT_LABEL, "ProgramArguments": show_command(config_path), "WorkingDirectory": workdir,
        "RunAtLoad": True, "KeepAlive": True, "ThrottleInterval": 10, "ProcessType": "Interactive",
        "EnvironmentVariables": {"PYTHONUNBUFFERED": "1"},
        "StandardOutPath": str(log_dir / "live-dream.log"), "StandardErrorPath": str(log_dir / "live-dream.log"),
    })


def install_launch_agent(plist: bytes, home: Path | None = None) -> Path:
    path = (home or Path.home()) / "Library" / "LaunchAgents" / f"{AGENT_LABEL}.plist"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        tmp.write_bytes(plist)
    return path
