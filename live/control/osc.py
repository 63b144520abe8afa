"""OSC in and out (python-osc): `/live-dream/<action> [value]` becomes an Action on the control bus;
the status goes out once a second to a patch (TouchDesigner, Resolume) that wants to show it.

One receiving thread. Values for the same address coalesce on the bus (only the newest is applied), so
a fader sending hundreds of messages a second costs one change per frame. A bad message is logged and
dropped: the show goes on.
"""
from __future__ import annotations

import logging
import threading

from live.control.actions import ADDRESSES, Action
from live.control.bus import ControlBus
from live.errors import UserError

log = logging.getLogger("live-dream")
PREFIX = "/live-dream/"
MAX_STATUS_TEXT = 512  # characters of a text sent in a status message: far below a UDP datagram
# Actions without a value, or a one-off (tap, snapshot, next): every message counts, in order.
EVERY_MESSAGE = {"next", "prev", "tap", "snapshot", "objective", "preset", "freeze", "blackout", "learn"}


def parse_host_port(text: str, what: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"{what} '{text}' must look like HOST:PORT, e.g. 127.0.0.1:9001")
    return host, int(port)


class OscInput:
    """Receives OSC on host:port (UDP) in its own thread and posts actions on the bus."""
    name = "osc"

    def __init__(self, bus: ControlBus, host: str, port: int):
        from pythonosc.dispatcher import Dispatcher
        from pythonosc.osc_server import BlockingOSCUDPServer
        self.bus = bus
        # Bundles are applied when they arrive: with strict timing python-osc sleeps in the receiving thread
        # until a bundle's time tag (an hour ahead stopped OSC input and held up shutdown for as long).
        dispatcher = Dispatcher(strict_timing=False)
        dispatcher.set_default_handler(self.received)
        try:
            self.server = BlockingOSCUDPServer((host, port), dispatcher)
        except OSError as exc:
            raise UserError(f"cannot receive OSC on {host}:{port} ({exc.strerror}); choose another port "
                            "with --osc PORT") from None
        self.address = self.server.server_address
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="osc-in", daemon=True)

    def start(self) -> "OscInput":
        self._thread.start()
        log.info("OSC: listening on %s:%d (/live-dream/...)", *self.address)
        return self

    def received(self, address: str, *args) -> None:
        name = address[len(PREFIX):] if address.startswith(PREFIX) else None
        if name not in ADDRESSES:
            log.warning("OSC %s ignored: not a live-dream address (%s<%s>)", address[:80], PREFIX, "|".join(ADDRESSES))
            return
        if len(args) > 1:
            log.warning("OSC %s ignored: one value expected, got %d", address, len(args))
            return
        action = Action(name, args[0] if args else None, source="osc")
        if name in EVERY_MESSAGE:
            self.bus.post(action)
        else:
            self.bus.post_latest(address, action)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


class OscStatus:
    """Sends the status once a second: /live-dream/status/<field> <value> for each field of the health."""
    FIELDS = ("fps", "dream_hz", "latency_ms", "preset", "objective", "strength", "mix", "steps", "frozen", "blackout")

    def __init__(self, target: str):
        from pythonosc.udp_client import SimpleUDPClient
        self.host, self.port = parse_host_port(target, "control.status_to")
        self.client = SimpleUDPClient(self.host, self.port)
        self.failed = False

    def send(self, health: dict) -> None:
        try:
            for key in self.FIELDS:
                value = health[key]
                if isinstance(value, str) and len(value) > MAX_STATUS_TEXT:  # one datagram, whatever was sent
                    value = value[:MAX_STATUS_TEXT - 3] + "..."
                self.client.send_message(PREFIX + "status/" + key, int(value) if isinstance(value, bool) else value)
            self.failed = False
        except OSError as exc:  # nobody listening, or no route: say so once, keep trying
            if not self.failed:
                log.warning("OSC status to %s:%d not sent (%s); trying again each second", self.host, self.port, exc)
            self.failed = True
