"""Past one process (issue 18): two relay workers (real `relay` processes) behind a real HAProxy
(Debian's package, started here), sharing their per-principal limits in a real redis-server.
The console in headless Chromium talks through HAProxy; a rolling restart (SIGTERM: the worker
drains, its browsers get 1012) moves it to the other worker, where it carries on; then the
other worker is restarted too and the console comes back to the first. Both ways of serving
the relay: the ASGI app under uvicorn and the fast path (`--fast`)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from openai_realtime_ws.emulator import EmulatorConfig, EmulatorThread

from .conftest import launch, relay_subprocess

pytestmark = pytest.mark.skipif(
    shutil.which("haproxy") is None or shutil.which("redis-server") is None,
    reason="haproxy and redis-server are needed (apt-get install haproxy redis-server)")

KEY = "sk-" + "haproxytest-0123456789"

HAPROXY_CFG = """
global
    maxconn 256
defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    option redispatch
    retries 3
frontend relay
    bind 127.0.0.1:{port}
    default_backend workers
backend workers
    balance roundrobin
    option httpchk
    http-check send meth GET uri /health ver HTTP/1.1 hdr Host 127.0.0.1
    http-check expect status 200
    default-server inter 200ms fall 1 rise 2
    server a 127.0.0.1:{a} check
    server b 127.0.0.1:{b} check
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _health(port: int) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
            return dict(json.loads(r.read()))
    except urllib.error.HTTPError as exc:  # 503 while draining
        return dict(json.loads(exc.read()))
    except OSError:  # not listening (yet, or any more)
        return {}


def _until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def _second_session_refused(port: int) -> bool:
    """A second session of the same principal on ``port``: 429 before the upgrade (the ASGI app)
    or an `error` then close 1008 right after it (the fast path)."""
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    try:
        with connect(f"ws://127.0.0.1:{port}/realtime") as ws:
            event = json.loads(ws.recv(timeout=5))
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=5)
            return bool(event["type"] == "error" and ws.close_code == 1008
                        and event["error"]["code"] == "relay_too_many_sessions")
    except InvalidStatus as exc:
        return exc.response.status_code == 429


@contextmanager
def _redis() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "Ready to accept connections" in line:
            break
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def _haproxy(tmp: Path, a: int, b: int) -> Iterator[int]:
    port = _free_port()
    cfg = tmp / "haproxy.cfg"
    cfg.write_text(HAPROXY_CFG.format(port=port, a=a, b=b))
    proc = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        _until(lambda: proc.poll() is not None or _health(port).get("ok") is True)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("serve", ["asgi", "fast"])
def test_rolling_restart_behind_haproxy(tmp_path: Path, serve: str) -> None:
    with ExitStack() as stack:
        emulator = stack.enter_context(EmulatorThread(api_key=KEY, config=EmulatorConfig(speed=0)))
        redis_url = stack.enter_context(_redis())
        ports = {"a": _free_port(), "b": _free_port()}
        args = ("--redis", redis_url, "--max-sessions", "1",
                *(["--fast"] if serve == "fast" else []))

        def worker(name: str) -> Any:
            return stack.enter_context(relay_subprocess(
                emulator.base_url, *args, api_key=KEY, port=ports[name]))[1]

        procs = {"a": worker("a"), "b": worker("b")}
        lb = stack.enter_context(_haproxy(tmp_path, ports["a"], ports["b"]))
        browser = stack.enter_context(launch())
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"http://127.0.0.1:{lb}/?autoconnect")
        page.wait_for_function("window.realtimeConsole.status === 'connected'")

        def serving() -> str:
            counts = {n: _health(p).get("sessions") for n, p in ports.items()
                      if procs[n].poll() is None}
            return next(n for n, c in counts.items() if c == 1)

        def say(text: str) -> None:
            page.fill("#text", text)
            page.press("#text", "Enter")
            page.wait_for_function(
                "(t) => { const m = window.realtimeConsole.transcript;"
                " const i = m.findIndex((x) => x.text === t);"
                " return i >= 0 && m.slice(i + 1).some((x) => x.role === 'assistant'); }",
                arg=text, timeout=10_000)

        say("first")
        first = serving()
        other = "b" if first == "a" else "a"
        # the limit is shared: the other worker refuses a second session of the same principal
        assert _second_session_refused(ports[other])

        for step, (down, up) in enumerate([(first, other), (other, first)], start=2):
            procs[down].terminate()  # SIGTERM: drain, 1012 to the browser, stop
            procs[down].wait(20)
            page.wait_for_function(f"window.realtimeConsole.sessions === {step} && "
                                   "window.realtimeConsole.status === 'connected'",
                                   timeout=20_000)
            assert serving() == up
            say(f"after restart {step - 1}")
            procs[down] = worker(down)  # the restarted worker comes back
            _until(lambda d=down: _health(ports[d]).get("ok") is True)
        state = page.evaluate("""() => ({restarts: window.realtimeConsole.restarts,
                                         errors: window.realtimeConsole.errors,
                                         markers: window.realtimeConsole.transcript
                                             .filter((m) => m.role === 'session').length})""")
    assert state == {"restarts": 2, "errors": [], "markers": 2}
    assert errors == []
