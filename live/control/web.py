"""HTTP control (standard library): `GET /health` (JSON), `POST /action` (JSON, the same actions as OSC)
and `GET /` (the control page: buttons and sliders, on a phone too).

Bound to 127.0.0.1 unless told otherwise; any other address needs `control.token`, which every action
(and the page) must then carry: `Authorization: Bearer TOKEN`, or `?token=TOKEN`. A bad request gets a
4xx with the reason and is logged; the show goes on.

Only the show's own page and deliberate clients get in: a `Host` that is not one of this machine's names
(DNS rebinding) and an `Origin` that is not the server's own (another web page) get 403, and actions must
say `Content-Type: application/json`, which no other page can send without our consent. Connections
idle for IDLE_SECONDS are closed, at most MAX_CONNECTIONS are served at once, tokens never reach the log
and a failed connection is one log line, never a traceback on the terminal.
"""
from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Callable
from urllib.parse import parse_qs, unquote_plus, urlsplit

from live.control.actions import ADDRESSES, Action
from live.control.bus import ControlBus
from live.errors import UserError

log = logging.getLogger("live-dream")
MAX_BODY = 64 * 1024
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus's text exposition format
IDLE_SECONDS = 5  # a client that sends nothing for this long is dropped: idle sockets cannot hold threads
# One thread per connection: the cap bounds what clients can make the show hold. A control page uses one
# or two at a time, so 64 leaves room for many phones and tools (and for 40 idle sockets, as in the tests).
MAX_CONNECTIONS = 64
WILDCARDS = ("", "0.0.0.0", "::")  # bound to every address of the machine
HOST_HEADER = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:[0-9]{1,5})?")  # name or [v6] literal, then port
QUERY_TOKEN = re.compile(r"([?&;])([^=&;#\s'\"]*)=[^&;#\s'\"]*")
BUSY = (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
        b'{"ok": false, "error": "too many connections at once; try again"}')


def _address(name: str):
    """The IP address `name` spells, or None for a name."""
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    address = _address(host)
    return host == "localhost" or (address is not None and address.is_loopback)


def host_allowed(header: str | None, bound: str) -> bool:
    """Is `Host: header` a name this server is reached by? A DNS-rebinding page reaches us under its own
    name (evil.example, re-resolved to 127.0.0.1) and the browser says so in Host: such names are refused.
    Loopback names always pass; so does the configured host. Bound to every address (0.0.0.0), the
    machine's own addresses and names are unknown here: any IP literal passes (a literal cannot be
    rebound), names other than localhost do not."""
    if header is None:
        return True  # HTTP/1.0 clients may leave it out; browsers never do
    match = HOST_HEADER.fullmatch(header.strip().lower())
    if not match:
        return False
    name, bound = match[1].strip("[]"), bound.strip("[]").lower()
    if is_loopback(name):
        return True
    if bound in WILDCARDS:
        return _address(name) is not None
    return name == bound or (_address(name) is not None and _address(name) == _address(bound))


def origin_allowed(origin: str | None, host: str | None) -> bool:
    """Browsers name the page that sent a request in Origin; only the server's own page may act. No Origin:
    not a browser page (curl, OSC bridges, scripts), which is what the token is for."""
    if origin is None:
        return True
    return host is not None and origin.strip().lower() == "http://" + host.strip().lower()


def loggable(text: str) -> str:
    """A log line without secrets or tricks: `token=` query values become ***, control characters (a
    forged line, a terminal escape) are shown escaped."""
    def redact(match: re.Match) -> str:
        return match[0] if unquote_plus(match[2]) != "token" else f"{match[1]}{match[2]}=***"
    text = QUERY_TOKEN.sub(redact, text)
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def check_binding(host: str, token: str) -> None:
    if not is_loopback(host) and not token:
        raise UserError(f"control.http_host = {host} opens the show's controls to the network; set control.token "
                        "(any secret) as well, or keep 127.0.0.1")


class ControlServer(ThreadingHTTPServer):
    """A thread per connection, at most MAX_CONNECTIONS at once; a failed connection is one log line."""
    daemon_threads = True
    request_queue_size = MAX_CONNECTIONS  # a burst of connections waits to be accepted, not refused by the OS

    def __init__(self, address, handler):
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            return self.turn_away(request, client_address)
        try:
            super().process_request(request, client_address)  # starts the thread that releases the slot
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def turn_away(self, request, client_address) -> None:
        """503 at once, on the listening thread, so the reply must never wait: a fresh socket's send buffer
        takes these few bytes, and if it does not the client just sees the connection closed."""
        log.debug("HTTP: %s turned away, %d connections already open", client_address[0], MAX_CONNECTIONS)
        try:
            request.setblocking(False)
            request.send(BUSY)
        except OSError:
            pass
        self.shutdown_request(request)

    def handle_error(self, request, client_address):
        """socketserver prints a traceback to stderr for any failed connection (a client that resets, a
        broken pipe); here it is one line in the log: routine network failures at DEBUG, the rest WARNING."""
        error = sys.exc_info()[1]
        level = logging.DEBUG if isinstance(error, OSError) else logging.WARNING
        log.log(level, "HTTP: the connection from %s failed: %s", client_address[0],
                loggable(f"{type(error).__name__}: {error}"))


class WebControl:
    name = "http"

    def __init__(self, bus: ControlBus, health: Callable[[], dict], host: str, port: int, token: str = "",
                 metrics: Callable[[], bytes] | None = None):
        """`metrics`: what GET /metrics answers (Prometheus's text format), readable as /health is."""
        check_binding(host, token)
        self.bus, self.health, self.host, self.token, self.metrics = bus, health, host, token, metrics
        self.page = resources.files("live.control").joinpath("page.html").read_bytes()
        try:
            self.server = ControlServer((host, port), self._handler())
        except OSError as exc:
            raise UserError(f"cannot serve HTTP on {host}:{port} ({exc.strerror}); choose another port with "
                            "--http PORT") from None
        self.address = self.server.server_address
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="http", daemon=True)

    def start(self) -> "WebControl":
        self._thread.start()
        log.info("HTTP: control page http://%s:%d/  health /health  metrics /metrics  actions POST /action",
                 *self.address[:2])
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def authorised(self, headers, query: dict) -> bool:
        if not self.token:
            return True
        given = headers.get("Authorization", "").removeprefix("Bearer ").strip() or query.get("token", [""])[0]
        return hmac.compare_digest(given.encode(), self.token.encode())

    def post_action(self, body: bytes) -> tuple[int, dict]:
        """The JSON body {"action": name, "value": v} onto the bus: (HTTP status, reply)."""
        try:
            request = json.loads(body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return 400, {"ok": False, "error": f"the body is not JSON ({exc})"}
        except RecursionError:  # [[[[... : the decoder recurses once per level
            return 400, {"ok": False, "error": "the body is nested too deeply"}
        if not isinstance(request, dict) or not isinstance(request.get("action"), str):
            return 400, {"ok": False, "error": 'send {"action": NAME, "value": VALUE}; names: ' + ", ".join(ADDRESSES)}
        name, value, due = request["action"], request.get("value"), request.get("at")
        if name not in ADDRESSES:
            return 400, {"ok": False, "error": f"unknown action '{name}'; known: {', '.join(ADDRESSES)}"}
        if not (value is None or isinstance(value, (int, float, str))):
            return 400, {"ok": False, "error": f"{name} takes one number or text, got {value!r}"}
        if due is not None and (problem := self.bus.due_problem(due)) is not None:
            return 400, {"ok": False, "error": f"{problem}; got {due!r}"[:300]}
        self.bus.post(Action(name, value, source="http", due=due))
        return 202, {"ok": True, "action": name, "value": value, **({"at": due} if due is not None else {})}

    def _handler(self):
        # Long only because it holds the request handler's class, which needs this server in a closure
        # (http.server builds a handler per request from the class); each of its methods is short.
        control = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "live-dream"
            timeout = IDLE_SECONDS  # a read or write that waits this long drops the connection

            def log_message(self, format, *args):  # the show's log, not stderr
                log.debug("http %s: %s", self.client_address[0], loggable(format % args))

            def reply(self, status: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def reply_json(self, status: int, data: dict) -> None:
                if status >= 400:
                    log.warning("HTTP %s", loggable(f"{self.command} {self.path} refused: {data.get('error')}"))
                self.reply(status, json.dumps(data).encode())

            def refused_at_the_door(self) -> bool:
                """Host and Origin, before anything is read or done (see host_allowed, origin_allowed)."""
                host = self.headers.get("Host")
                if not host_allowed(host, control.host):
                    self.reply_json(403, {"ok": False, "error": f"Host {host!r} is not a name of this show; "
                                                                "use its IP address or localhost"})
                elif not origin_allowed(self.headers.get("Origin"), host):
                    self.reply_json(403, {"ok": False, "error": "requests from other web pages are refused"})
                else:
                    return False
                return True

            def do_GET(self):
                if self.refused_at_the_door():
                    return
                url = urlsplit(self.path)
                if url.path == "/health":
                    self.reply_json(200, control.health())
                elif url.path == "/metrics" and control.metrics:
                    self.reply(200, control.metrics(), METRICS_TYPE)
                elif url.path in ("/", "/index.html"):
                    if not control.authorised(self.headers, parse_qs(url.query)):
                        self.reply_json(401, {"ok": False, "error": "open the page with ?token=TOKEN"})
                    else:
                        self.reply(200, control.page, "text/html; charset=utf-8")
                else:
                    self.reply_json(404, {"ok": False, "error": f"no page {url.path}; try /, /health, /metrics or POST /action"})

            def do_POST(self):
                if self.refused_at_the_door():
                    return
                url = urlsplit(self.path)
                if url.path != "/action":
                    return self.reply_json(404, {"ok": False, "error": "POST to /action"})
                if not control.authorised(self.headers, parse_qs(url.query)):
                    return self.reply_json(401, {"ok": False, "error": "this show needs its token "
                                                                      "(Authorization: Bearer TOKEN)"})
                # a web page can POST text/plain or a form anywhere without asking; JSON it cannot
                if self.headers.get_content_type() != "application/json":
                    return self.reply_json(415, {"ok": False, "error": "send the action with Content-Type: "
                                                                      "application/json"})
                try:
                    length = int(self.headers.get("Content-Length", "0"))
                except ValueError:
                    length = -1
                if not 0 <= length <= MAX_BODY:
                    return self.reply_json(400, {"ok": False, "error": f"a body of 0 to {MAX_BODY} bytes is expected"})
                self.reply_json(*control.post_action(self.rfile.read(length)))

        return Handler
