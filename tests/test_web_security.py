"""The control server refuses what is not its own page or a deliberate client: pages from other origins (in
a real headless Chromium), DNS-rebinding Host names, foreign Origins, bodies that are not declared JSON,
idle, surplus and reset connections, deeply nested JSON; tokens never reach the log. A real show runs in
a subprocess and the packets are real (loopback)."""
from __future__ import annotations

import http.client
import http.server
import json
import logging
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from functools import partial

import pytest

from live.control.bus import ControlBus
from live.control.state import ShowState
from live.control.web import MAX_CONNECTIONS, WebControl, host_allowed
from test_control import free_port

EVIL = "evil.example"


class RunningShow:
    """`live-dream run` on the demo source with HTTP control; its stderr and --log-file are files to read."""

    def __init__(self, tmp):
        self.port, self.log, self.stderr = free_port(), tmp / "show.log", tmp / "stderr.txt"
        with open(self.stderr, "w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "live.cli", "run", "--source", "demo", "--headless", "--seconds", "300",
                 "--http", str(self.port), "--log-file", str(self.log), "--size", "96x64",
                 "--set", "live.presets=block5", "--set", "live.backend=torch"],
                cwd=tmp, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if self.health()["frames_shown"] > 0:
                    return
            except (OSError, ValueError):
                time.sleep(0.3)
        self.stop()
        raise AssertionError("the show did not start: " + self.stderr.read_text()[-2000:])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def request(self, method: str, path: str, body: bytes | None = None, **headers) -> tuple[int, bytes]:
        """One request; headers as keywords (Content_Type= -> Content-Type). A Host given replaces the real one."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers={k.replace("_", "-"): v for k, v in headers.items()})
            reply = connection.getresponse()
            return reply.status, reply.read()
        finally:
            connection.close()

    def act(self, action: str, value, path: str = "/action", **headers) -> int:
        headers.setdefault("Content_Type", "application/json")
        return self.request("POST", path, json.dumps({"action": action, "value": value}).encode(), **headers)[0]

    def health(self) -> dict:
        status, body = self.request("GET", "/health")
        assert status == 200, body
        return json.loads(body)

    def wait_for(self, **expected) -> dict:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            health = self.health()
            if all(health[k] == v for k, v in expected.items()):
                return health
            time.sleep(0.1)
        raise AssertionError(f"health never showed {expected}: {health}")

    def applied_in_order(self, mix: float) -> dict:
        """A deliberate action after refused ones: once it shows, anything refused would have shown too."""
        assert self.act("mix", mix) == 202
        return self.wait_for(mix=mix)

    def log_count(self, text: str) -> int:
        return self.log.read_text().count(text)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(timeout=60)


@pytest.fixture(scope="module")
def show(tmp_path_factory):
    running = RunningShow(tmp_path_factory.mktemp("web-security"))
    yield running
    running.stop()
    assert "Traceback" not in running.stderr.read_text()


def wait_until(condition, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)
    return condition()


# ---------------------------------------------------------------- other web pages, in a real browser

ATTACK = """<!doctype html>
<form id="form" method="POST" enctype="text/plain" action="{action}">
  <input name='{{"action": "strength", "value": 0.5, "pad": "' value='"}}'>
</form>
<script>
async function attack() {{
  await fetch("{action}", {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}},
                           body: '{{"action": "mix", "value": 0}}'}});
  return navigator.sendBeacon("{action}", '{{"action": "blackout", "value": 1}}');
}}
</script>
"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def serve_directory(directory) -> http.server.ThreadingHTTPServer:
    """Another local origin: a plain file server on its own loopback port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_other_pages_in_a_browser_change_nothing_and_the_own_page_still_works(show, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no Chromium here (apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    (tmp_path / "attack.html").write_text(ATTACK.format(action=show.url("/action")))
    other = serve_directory(tmp_path)
    assert show.act("strength", 1.5) == 202 and show.act("blackout", 0) == 202
    before = show.applied_in_order(0.8)
    refused = show.log_count("refused: requests from other web pages")
    try:
        with playwright.sync_playwright() as p:
            # evil.example resolves to the show, as a DNS-rebinding attacker makes it do
            browser = p.chromium.launch(executable_path=chromium,
                                        args=["--no-sandbox", f"--host-resolver-rules=MAP {EVIL} 127.0.0.1"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{other.server_address[1]}/attack.html")
            assert page.evaluate("attack()")  # the beacon was queued
            with page.expect_navigation():
                page.evaluate("document.getElementById('form').submit()")
            # all three reached the show and were refused there, not lost on the way
            assert wait_until(lambda: show.log_count("refused: requests from other web pages") >= refused + 3)

            rebound = page.goto(f"http://{EVIL}:{show.port}/health")
            assert rebound.status == 403
            assert page.evaluate("""fetch("/action", {method: "POST", headers: {"Content-Type": "application/json"},
                                    body: '{"action": "mix", "value": 0}'}).then(r => r.status)""") == 403

            after = show.applied_in_order(0.7)
            assert {k: after[k] for k in ("blackout", "strength")} == {k: before[k] for k in ("blackout", "strength")}

            page.goto(show.url("/"))  # the show's own control page acts as before
            page.wait_for_function("document.getElementById('status').textContent.includes('fps')")
            page.fill("#mix", "0.3")
            page.dispatch_event("#mix", "input")
            show.wait_for(mix=0.3)
            page.click("#blackout")
            show.wait_for(blackout=True)
            page.wait_for_selector("#blackout.on")  # the page has seen it: its next click turns it off
            page.click("#blackout")
            show.wait_for(blackout=False)
            browser.close()
    finally:
        other.shutdown()
        other.server_close()


# ---------------------------------------------------------------- Host, Origin, Content-Type over loopback

def test_a_foreign_host_name_is_refused_and_changes_nothing(show):
    before = show.applied_in_order(0.6)
    for host in (EVIL, f"{EVIL}:{show.port}", "127.0.0.1.evil.example", "localhost.evil.example", ""):
        assert show.request("GET", "/health", Host=host)[0] == 403, host
        assert show.request("GET", "/", Host=host)[0] == 403, host
        assert show.act("blackout", 1, Host=host) == 403, host
    assert before["blackout"] is False and show.applied_in_order(0.65)["blackout"] is False
    for host in (f"localhost:{show.port}", "localhost", f"127.0.0.1:{show.port}", "127.3.2.1", f"[::1]:{show.port}"):
        assert show.request("GET", "/health", Host=host)[0] == 200, host


def test_host_names_allowed_depend_on_the_binding():
    for bound in ("127.0.0.1", "0.0.0.0", "192.168.1.5", "show.local"):
        for host in ("localhost", "localhost:8080", "127.0.0.1", "127.0.0.1:8080", "127.9.9.9", "[::1]", "[::1]:80"):
            assert host_allowed(host, bound), (host, bound)
        for host in (EVIL, f"{EVIL}:8080", "", "evil.example@127.0.0.1", "127.0.0.1:8080/x", "[::1", "a b"):
            assert not host_allowed(host, bound), (host, bound)
    assert host_allowed(None, "127.0.0.1")  # an HTTP/1.0 client without Host: not a browser
    # bound to every address: any IP literal (the machine's own are unknown), no other names
    assert host_allowed("192.168.1.5:8080", "0.0.0.0") and host_allowed("[fe80::1]:8080", "0.0.0.0")
    assert not host_allowed("show.local:8080", "0.0.0.0")
    # bound to one address or name: that one
    assert host_allowed("192.168.1.5:8080", "192.168.1.5") and not host_allowed("192.168.1.6", "192.168.1.5")
    assert host_allowed("SHOW.local:8080", "show.local") and not host_allowed("192.168.1.5", "show.local")


def test_another_origin_is_refused(show):
    own = f"127.0.0.1:{show.port}"
    for origin in (f"http://{EVIL}", "null", f"http://localhost:{show.port}", f"https://{own}", f"http://{own}.x"):
        assert show.request("GET", "/health", Host=own, Origin=origin)[0] == 403, origin
        assert show.act("blackout", 1, Host=own, Origin=origin) == 403, origin
    assert show.applied_in_order(0.55)["blackout"] is False
    assert show.act("mix", 0.5, Host=own, Origin=f"http://{own}") == 202  # the page itself
    show.wait_for(mix=0.5)


def test_actions_must_be_declared_json(show):
    body = b'{"action": "blackout", "value": 1}'
    for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
        status, reply = show.request("POST", "/action", body, **({"Content_Type": kind} if kind else {}))
        assert status == 415, kind
        assert json.loads(reply)["error"] == "send the action with Content-Type: application/json"
    assert show.applied_in_order(0.45)["blackout"] is False
    assert show.act("mix", 0.4, Content_Type="application/json; charset=utf-8") == 202
    assert show.act("mix", 0.35, Content_Type="Application/JSON") == 202
    show.wait_for(mix=0.35)


def test_deeply_nested_json_is_a_400_in_one_line(show):
    status, reply = show.request("POST", "/action", b"[" * 50_000, Content_Type="application/json")
    assert status == 400 and json.loads(reply)["error"] == "the body is nested too deeply"
    assert show.health()["ok"]


# ---------------------------------------------------------------- tokens and the log

def test_tokens_never_reach_the_log(show, tmp_path):
    records = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: records.append(record.getMessage())
    logger = logging.getLogger("live-dream")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    control = WebControl(ControlBus(ShowState()), lambda: {"ok": True}, "127.0.0.1", 0, token="SECRET").start()
    try:
        port = control.address[1]
        for method, path, headers in [("GET", "/?token=SECRET", {}), ("GET", "/?token=SECRET-but-wrong", {}),
                                      ("GET", "/nope?a=1&token=SECRET&b=2", {}), ("GET", "/?%74oken=SECRET", {}),
                                      ("POST", "/action?token=SECRET", {"Content-Type": "text/plain"}),
                                      ("GET", "/?token=SECRET", {"Host": EVIL})]:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request(method, path, body=b"{}" if method == "POST" else None, headers=headers)
            connection.getresponse().read()
            connection.close()
        with socket.create_connection(("127.0.0.1", port)) as raw:  # a bad request line is logged too
            raw.sendall(b"GET /?token=SECRET HTTP/1.1 junk\r\n\r\n")
            raw.recv(65536)
    finally:
        control.close()
        logger.removeHandler(handler)
        logger.setLevel(level)
    text = "\n".join(records)
    assert "SECRET" not in text
    assert "GET /?token=*** HTTP/1.1" in text and "&token=***&b=2" in text and "?%74oken=***" in text

    # the same through the command line: its --log-file keeps every DEBUG line
    show.request("GET", "/?token=SECRET")
    show.request("POST", "/action?token=SECRET", b"{}", Content_Type="text/plain")
    assert wait_until(lambda: show.log_count("POST /action?token=*** refused") == 1, 5)
    assert "SECRET" not in show.log.read_text()


# ---------------------------------------------------------------- connections

def open_idle(port: int, count: int) -> list[socket.socket]:
    return [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]


def closed_by_the_server(connection: socket.socket, seconds: float) -> bool:
    connection.settimeout(seconds)
    try:
        return connection.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_idle_connections_are_closed_and_connections_are_capped(show):
    start = time.monotonic()
    idle = open_idle(show.port, 40)
    try:
        assert show.health()["ok"]  # the show still answers meanwhile
        idle += open_idle(show.port, MAX_CONNECTIONS - 40)
        with socket.create_connection(("127.0.0.1", show.port), timeout=10) as surplus:
            surplus.settimeout(2)
            assert surplus.recv(1024).startswith(b"HTTP/1.0 503")  # at once, not after the others time out
        assert time.monotonic() - start < 4
        assert all(closed_by_the_server(connection, max(0.1, start + 8 - time.monotonic())) for connection in idle)
    finally:
        for connection in idle:
            connection.close()
    assert show.health()["ok"]


def test_a_client_that_resets_leaves_no_traceback(show):
    linger_zero = struct.pack("ii", 1, 0)  # close() then sends RST instead of FIN
    for request in [b""] * 10 + [b"POST /action HTTP/1.1\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: 100\r\n\r\n{"] * 10:
        connection = socket.create_connection(("127.0.0.1", show.port), timeout=10)
        connection.sendall(request)
        time.sleep(0.05)  # the server is reading when the reset comes
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger_zero)
        connection.close()
    logged = lambda: show.log_count("failed: ConnectionResetError") >= 10
    assert wait_until(lambda: logged() or "Traceback" in show.stderr.read_text(), 10)
    stderr = show.stderr.read_text()
    assert "Traceback" not in stderr and "Exception occurred" not in stderr
    assert logged() and show.health()["ok"]  # one line each, in the --log-file
