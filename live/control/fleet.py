"""Many shows: each announces itself over mDNS (`_live-dream._tcp`, the `fleet` extra: zeroconf), and
`live-dream shows` / `live-dream send` find them and post one action to several at once, optionally at a
given time (`at`), so that shows whose clocks agree (NTP) switch on the same frame.

Nothing here is a cluster engine: discovery is mDNS, control is each show's own HTTP POST /action, time is
the machines' clocks (or Ableton Link's bar, which the shows follow themselves)."""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from live import __version__
from live.errors import UserError, require_extra

log = logging.getLogger("live-dream")
SERVICE = "_live-dream._tcp.local."
INSTALL = "finding shows needs the fleet extra: pip install -e '.[fleet]' (zeroconf)"
TOKEN_ENV = "LIVE_DREAM_TOKEN"


@dataclass(frozen=True)
class FoundShow:
    name: str
    address: str  # host:port of its HTTP control
    version: str = ""


def parse_at(text: str | None, now: float | None = None) -> float | str | None:
    """`--at`: "bar" (the next Link bar), "+S" (S seconds from now), "HH:MM[:SS]" (today, this computer's
    time zone) or seconds since 1970; the wall-clock time (time.time()) it means."""
    if text is None:
        return None
    now = time.time() if now is None else now
    text = text.strip()
    try:
        if text == "bar":
            return "bar"
        if text.startswith("+"):
            return now + float(text[1:])
        if ":" in text:
            clock = dt.time.fromisoformat(text)
            moment = dt.datetime.combine(dt.datetime.fromtimestamp(now).date(), clock)
            return moment.timestamp()
        return float(text)
    except ValueError:
        raise UserError(f"--at {text!r}: give bar, +SECONDS, HH:MM[:SS] or seconds since 1970") from None


def token_from(path: str | None) -> str:
    """The shows' token: from a file (--token-file), else $LIVE_DREAM_TOKEN; never from the command line,
    where every user of the computer could read it."""
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise UserError(f"cannot read the token file {path} ({exc.strerror})") from None
    return os.environ.get(TOKEN_ENV, "")


def send(address: str, token: str, action: str, value, at) -> dict:
    """POST one action to the show at host:port; its reply (or the reason it failed, as {"ok": False})."""
    body = json.dumps({"action": action, "value": value, **({"at": at} if at is not None else {})}).encode()
    request = urllib.request.Request(f"http://{address}/action", data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        try:
            return json.loads(exc.read())
        except ValueError:
            return {"ok": False, "error": f"HTTP {exc.code}"}
    except (OSError, ValueError) as exc:
        return {"ok": False, "error": str(getattr(exc, "reason", exc))}


def health_of(address: str) -> dict:
    try:
        with urllib.request.urlopen(f"http://{address}/health", timeout=2) as reply:
            return json.loads(reply.read())
    except (OSError, ValueError) as exc:
        return {"ok": False, "error": str(getattr(exc, "reason", exc))}


def find_shows(seconds: float = 2.0) -> list[FoundShow]:
    """The shows announcing themselves on this network, as found within `seconds`."""
    zeroconf = require_extra("zeroconf", INSTALL)
    found: dict[str, FoundShow] = {}
    try:
        zc = zeroconf.Zeroconf()
    except OSError as exc:  # no multicast-capable network here
        raise UserError(f"mDNS cannot be used on this computer's network ({exc}); use send --to HOST:PORT") from None

    class Listener:
        def add_service(self, zc_, kind, name):
            info = zc_.get_service_info(kind, name, timeout=1000)
            if info and info.parsed_addresses():
                props = {k.decode(): (v or b"").decode() for k, v in info.properties.items()}
                found[name] = FoundShow(props.get("name", name.split(".")[0]),
                                        f"{info.parsed_addresses()[0]}:{info.port}", props.get("version", ""))

        update_service = add_service

        def remove_service(self, zc_, kind, name):
            found.pop(name, None)
    try:
        zeroconf.ServiceBrowser(zc, SERVICE, Listener())
        time.sleep(seconds)
    finally:
        zc.close()
    return sorted(found.values(), key=lambda s: s.name)


class Announcer:
    """Says over mDNS that this show is here: its name, HTTP port and version (control.announce)."""

    def __init__(self, name: str, host: str, port: int):
        zeroconf = require_extra("zeroconf", INSTALL)
        addresses = [host] if host not in ("0.0.0.0", "") else _own_addresses()
        safe = "".join(c if c.isalnum() or c in "-_ " else "-" for c in name)[:60] or "live-dream"
        self.info = zeroconf.ServiceInfo(SERVICE, f"{safe}.{SERVICE}", port=port,
                                         addresses=[socket.inet_aton(a) for a in addresses],
                                         properties={"name": name[:200], "version": __version__},
                                         server=f"{socket.gethostname()}.local.")
        self.zc = zeroconf.Zeroconf()

    def start(self) -> "Announcer":
        self.zc.register_service(self.info, allow_name_change=True)
        log.info("announced on the network as %s (mDNS %s)", self.info.name, SERVICE)
        return self

    def close(self) -> None:
        try:
            self.zc.unregister_service(self.info)
        finally:
            self.zc.close()


def _own_addresses() -> list[str]:
    """This computer's IPv4 addresses beyond loopback (ifaddr comes with zeroconf)."""
    import ifaddr
    return [ip.ip for adapter in ifaddr.get_adapters() for ip in adapter.ips
            if isinstance(ip.ip, str) and not ip.ip.startswith("127.")]
