"""GET /metrics: a running show in Prometheus's text format, scraped by a real Prometheus where the
machine has one (Debian's `prometheus` package; .ci/run installs it); the alert rules checked by promtool,
the dashboard's queries answered by that Prometheus."""
from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from live.config import load_config
from live.show.pipeline import RunOptions, run_live

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
TOKEN = "metrics-test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def show():
    """A real show with its HTTP control (and a token) on loopback, for the module."""
    port = free_port()
    config = load_config(None, {"display.mode": "headless", "capture.source": "demo", "capture.width": 320,
                                "capture.height": 240, "live.width": 128, "live.height": 96, "live.backend": "torch",
                                "live.presets": "block9", "record.path": "", "control.http_port": port,
                                "control.token": TOKEN, "control.name": "room-1"})
    running = {}
    thread = threading.Thread(target=lambda: running.update(summary=run_live(
        config, RunOptions(seconds=120), watch=lambda s: running.update(show=s))))
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if json.loads(get(base + "/health")[1]).get("frames_shown", 0) > 10:
                break
        except OSError:
            pass
        time.sleep(0.2)
    yield base
    running["show"].quit = True
    thread.join(timeout=30)


def scrape(base: str) -> dict:
    status, body = get(base + "/metrics")
    assert status == 200
    return {f.name: f for f in text_string_to_metric_families(body.decode())}


def value(families: dict, name: str, **labels) -> float:
    family = families[name]
    return next(s.value for s in family.samples if all(s.labels.get(k) == v for k, v in labels.items())
                and s.name in (name, name + "_total"))


def test_metrics_say_what_the_show_is_doing(show):
    first = scrape(show)
    time.sleep(1.0)
    then = scrape(show)
    shown = value(then, "live_dream_frames_shown")
    assert shown > value(first, "live_dream_frames_shown") > 0  # a counter, counting
    assert value(then, "live_dream_picture_frames_per_second") > 1
    assert value(then, "live_dream_dream_frames_per_second") > 0
    assert value(then, "live_dream_frames_captured") >= value(then, "live_dream_frames_dreamed") > 0
    assert value(then, "live_dream_source_state", state="ok") == 1.0
    assert value(then, "live_dream_source_state", state="reconnecting") == 0.0
    assert value(then, "live_dream_open") == 1.0 and value(then, "live_dream_ok") == 1.0
    assert value(then, "live_dream_resident_memory_bytes") > 100e6 and value(then, "live_dream_uptime_seconds") > 1
    for name in ("live_dream_step_failures", "live_dream_nan_resets", "live_dream_healing_events",
                 "live_dream_source_reconnects"):
        assert value(then, name) == 0.0, name
    info = next(s for s in then["live_dream_info"].samples)
    assert info.name == "live_dream_info" and info.labels["show"] == "room-1" and info.labels["network"] == "lite0"
    assert info.labels["backend"] == "torch-cpu-fp32" and info.labels["version"] and info.labels["objective"] == "block9"
    latency = then["live_dream_camera_to_screen_latency_seconds"]
    buckets = [s for s in latency.samples if s.name.endswith("_bucket")]
    counts = [s.value for s in buckets]
    assert counts == sorted(counts) and buckets[-1].labels["le"] == "+Inf"
    assert 0.9 * shown <= counts[-1] <= shown * 1.1  # every picture shown is counted once
    assert then["live_dream_frames_shown"].type == "counter" and latency.type == "histogram"


def test_metrics_are_readable_as_health_is_and_refused_as_it_is(show):
    """No token needed to read (monitoring), as /health; a foreign Host or another web page is refused."""
    assert get(show + "/metrics")[0] == 200
    assert get(show + "/metrics", {"Host": "evil.example"})[0] == 403
    assert get(show + "/metrics", {"Origin": "http://evil.example"})[0] == 403


@pytest.mark.skipif(not shutil.which("promtool"), reason="no promtool here (Debian package prometheus)")
def test_the_alert_rules_pass_promtool_and_fire_when_they_should():
    checked = subprocess.run(["promtool", "check", "rules", str(DEPLOY / "prometheus" / "alerts.yml")],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and "SUCCESS: 5 rules found" in checked.stdout, checked.stdout + checked.stderr
    tested = subprocess.run(["promtool", "test", "rules", "alerts-test.yml"], capture_output=True, text=True,
                            timeout=60, cwd=Path(__file__).parent / "data")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def dashboard_queries() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "live-dream-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_the_dashboard_asks_only_for_metrics_the_show_has(show):
    names = set()
    for family in scrape(show).values():
        names |= {s.name for s in family.samples}
    asked = {n for q in dashboard_queries() for n in re.findall(r"live_dream_[a-z_]+", q)}
    assert asked and asked <= names, asked - names


@pytest.mark.skipif(not shutil.which("prometheus"), reason="no Prometheus here (Debian package prometheus)")
def test_a_real_prometheus_scrapes_the_show(show, tmp_path):
    port = free_port()
    target = urllib.parse.urlsplit(show).netloc
    (tmp_path / "alerts.yml").write_text((DEPLOY / "prometheus" / "alerts.yml").read_text())
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\nrule_files: [alerts.yml]\n"
        f"scrape_configs:\n  - job_name: live-dream\n    static_configs: [{{targets: ['{target}']}}]\n")
    server = subprocess.Popen(["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
                               f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    api = f"http://127.0.0.1:{port}/api/v1/"

    def query(q: str) -> dict:
        status, body = get(api + "query?" + urllib.parse.urlencode({"query": q}))
        return json.loads(body) if status in (200, 400, 422) else {"status": f"HTTP {status}"}
    try:
        deadline, shown = time.monotonic() + 60, []
        while time.monotonic() < deadline and len(shown) < 3:
            try:
                result = query("live_dream_frames_shown_total")["data"]["result"]
                if result:
                    shown.append(float(result[0]["value"][1]))
            except (OSError, KeyError):
                pass
            time.sleep(1.0)
        assert len(shown) == 3 and shown[-1] > shown[0] > 0, shown  # scraped, again and again
        fps = query('live_dream_picture_frames_per_second{job="live-dream"}')["data"]["result"]
        assert float(fps[0]["value"][1]) > 1
        info = query("live_dream_info")["data"]["result"][0]["metric"]
        assert info["show"] == "room-1" and info["job"] == "live-dream"
        for q in dashboard_queries():  # every panel's query is valid PromQL over this data
            assert query(q)["status"] == "success", q
        rules = json.loads(get(api + "rules")[1])["data"]["groups"][0]["rules"]
        assert len(rules) == 5 and all(r["health"] == "ok" for r in rules), rules
    finally:
        server.terminate()
        server.wait(timeout=30)


def post(base: str, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(base + "/action", data=body, method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_timed_actions_refuse_what_cannot_be_waited_for(show):
    """`at` over HTTP: non-finite, absurdly far, not a time, bar without Link, or from another web page:
    refused with the reason, nothing changes, the show goes on."""
    before = json.loads(get(show + "/health")[1])["strength"]
    for at in (b"NaN", b"Infinity", b"1e300", b"-Infinity", b'"tomorrow"', b'"bar"', b"true", b"[1]"):
        status, reply = post(show, b'{"action": "strength", "value": 2.5, "at": ' + at + b"}")
        assert status == 400 and "at " in reply["error"], (at, status, reply)
    cross = post(show, json.dumps({"action": "strength", "value": 2.5, "at": time.time()}).encode(),
                 {"Origin": "http://evil.example"})
    assert cross[0] == 403
    time.sleep(0.3)
    health = json.loads(get(show + "/health")[1])
    assert health["strength"] == before and health["ok"]
    status, reply = post(show, json.dumps({"action": "strength", "value": 2.5, "at": time.time() + 0.2}).encode())
    assert status == 202 and reply["at"] > 0
    deadline = time.monotonic() + 10
    while json.loads(get(show + "/health")[1])["strength"] == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert json.loads(get(show + "/health")[1])["strength"] == 2.5  # a good one is applied at its time
