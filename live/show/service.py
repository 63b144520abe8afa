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
import re
import socket
import sys
from pathlib import Path

from live.errors import UserError
from live.core.files import atomic_output

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


def checked_path(path: str, what: str) -> str:
    """A path that goes into a unit file or a plist as it is, or one line saying why it cannot: a newline
    would start a line of its own in the unit (`ExecStartPre=...` injected by a folder's name), other
    control characters are not text, and a name that is not UTF-8 cannot be written in either file."""
    bad = next((c for c in path if ord(c) < 0x20 or ord(c) == 0x7F), None)
    if bad is not None:
        raise UserError(f"cannot install the service: the {what} {path!r} holds a control character "
                        f"({bad!r}); move or rename it to a name without one")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise UserError(f"cannot install the service: the {what} {path!r} is not valid UTF-8; rename it") from None
    return path


_PLAIN = re.compile(r"[A-Za-z0-9_@%+=:,./$-]+")


def _quoted(arg: str) -> str:
    """Double quotes around an argument that needs them, in which a backslash escapes (C style)."""
    if _PLAIN.fullmatch(arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def exec_quote(arg: str) -> str:
    """One argument of ExecStart=, as systemd reads it: split on spaces, quoted where needed; specifiers
    (`%h`) and variables (`$HOME`) are expanded in arguments, so `%` and `$` are doubled to stand for
    themselves."""
    return _quoted(arg).replace("%", "%%").replace("$", "$$")


def exec_start(command: list[str]) -> str:
    """The value of ExecStart=. The program's path has its specifiers expanded but never variables, while
    the argv[0] made from the same word has both: with a `$` in the path, `@` gives argv[0] as a word of
    its own (Python finds its virtual environment from argv[0], so it must be the path exactly)."""
    program = _quoted(command[0]).replace("%", "%%")
    if "$" in command[0]:
        return "@" + program + " " + " ".join(exec_quote(arg) for arg in command)
    return " ".join([program] + [exec_quote(arg) for arg in command[1:]])


def user_unit(config_path: str | None, workdir: str) -> str:
    checked_path(sys.executable, "Python interpreter")
    if any(c in sys.executable for c in "\"'\\"):  # systemd refuses such a program ("special characters")
        raise UserError(f"cannot install the service: the Python interpreter {sys.executable!r} has a quote or "
                        f"a backslash in its path, which systemd does not accept for a program; install "
                        f"live-dream in a virtual environment whose path has none")
    if config_path:
        checked_path(str(Path(config_path).resolve()), "config file")
    checked_path(workdir, "working folder")
    command = show_command(config_path)
    if workdir != workdir.strip() or workdir.endswith("\\"):
        # WorkingDirectory= takes no quotes: the unit parser strips the spaces around a value, and a
        # backslash at the end of a line continues it on the next
        raise UserError(f"cannot install the service: the working folder {workdir!r} ends with a space or a "
                        f"backslash, which a systemd unit cannot hold; start it from another folder")
    return f"""[Unit]
Description=live-dream: a live DeepDream installation
# Restart for ever, but not in a tight loop: at most 10 starts in 5 minutes.
StartLimitIntervalSec=300
StartLimitBurst=10

[Service]
Type=notify
NotifyAccess=main
ExecStart={exec_start(command)}
WorkingDirectory={workdir.replace("%", "%%")}
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
    command = [checked_path(arg, "path") for arg in show_command(config_path)]  # plistlib refuses control characters
    return plistlib.dumps({
        "Label": AGENT_LABEL, "ProgramArguments": command, "WorkingDirectory": checked_path(workdir, "working folder"),
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
