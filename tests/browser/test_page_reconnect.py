"""The page reconnects (issue 18) in headless Chromium: realtime.js's opt-in reconnection after a
relay process is killed (close 1006) and started again on the same port, the console landing on
the new session and marking it in its transcript, the relay-token pattern (a non-`ek_` session
token towards a relay, read by its authentication hook and never forwarded), the `open`
semantics, and the backoff rule shared with the Python client."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from openai_realtime_ws.core.reconnect import ReconnectPolicy
from openai_realtime_ws.emulator import EmulatorConfig, EmulatorThread
from openai_realtime_ws.relay import RealtimeRelay, Upstream, subprotocol_key

from .conftest import launch, relay_in_a_thread, relay_process, relay_subprocess

KEY = "sk-" + "pagereconnect-0123456789"
TOKEN = "user-session-token-123"


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(api_key=KEY, config=EmulatorConfig(speed=0)) as emu:
        yield emu


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launch() as browser:
        yield browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _killed_and_restarted(emulator: EmulatorThread, page: Any, proc: Any, port: int,
                          ready: str, after: str) -> Iterator[None]:
    """Kill the relay under ``page`` (SIGKILL: no close frame, 1006), wait for ``ready`` to hold
    in the page, start a relay on the same port, and wait for ``after``."""
    proc.kill()
    proc.wait(10)
    page.wait_for_function(ready, timeout=10_000)
    with relay_process(emulator.base_url, api_key=KEY, port=port):
        page.wait_for_function(after, timeout=30_000)
        yield


@pytest.mark.timeout(90)
def test_realtime_js_reconnects_after_a_killed_relay(emulator: EmulatorThread,
                                                     browser: Any) -> None:
    port = _free_port()
    page = browser.new_page()
    with relay_subprocess(emulator.base_url, api_key=KEY, port=port) as (url, proc):
        page.goto(url)
        page.evaluate("""async () => {
            const rtjs = await import('/realtime.js');
            window.log = [];
            window.rt = await rtjs.RealtimeWebSocket.create(
                {relay: "/realtime", reconnect: {initialDelay: 0.2, maxDelay: 1, maxAttempts: 40}});
            rt.on("reconnecting", (e) => log.push(`reconnecting ${e.close_code}`));
            rt.on("reconnected", (e) => log.push(`reconnected new=${e.newSession}`));
            rt.on("session.created", () => log.push("session.created"));
            rt.on("close", (e) => log.push(`close ${e.code}`));
            await new Promise((resolve) => rt.once("session.created", resolve));
            window.plain = await rtjs.RealtimeWebSocket.create({relay: "/realtime"});
            plain.on("close", (e) => log.push(`plain close ${e.code}`));
        }""")
        with _killed_and_restarted(
            emulator, page, proc, port,
            "log.includes('reconnecting 1006') && log.includes('plain close 1006')",
            "log.includes('reconnected new=true') && log.filter((e) => e === 'session.created')"
            ".length === 2"):
            result = page.evaluate("""async () => {
                rt.send({type: "conversation.item.create", item: {type: "message", role: "user",
                         content: [{type: "input_text", text: "still here"}]}});
                const added = await new Promise((resolve) => rt.once("conversation.item.added", resolve));
                const closed = await rt.close();
                return {log, reconnects: rt.reconnects, added: added.item.content[0].text,
                        closed: closed.code, plainClosed: plain.closed};
            }""")
    reconnects = [e for e in result["log"] if e.startswith("reconnecting")]
    assert reconnects[0] == "reconnecting 1006"  # then failed attempts while the relay was down
    assert result["log"].count("reconnected new=true") == 1
    assert result["reconnects"] == 1 and result["added"] == "still here"
    assert result["closed"] == 1000 and result["log"][-1] == "close 1000"
    assert result["plainClosed"] is True  # no reconnect unless asked: one close, 1006
    page.close()


@pytest.mark.timeout(90)
def test_console_reconnects_after_a_killed_relay_and_marks_the_new_session(
        emulator: EmulatorThread, browser: Any) -> None:
    port = _free_port()
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    with relay_subprocess(emulator.base_url, api_key=KEY, port=port) as (url, proc):
        page.goto(url + "?autoconnect")
        page.wait_for_function("window.realtimeConsole.status === 'connected'")
        page.fill("#text", "before")
        page.press("#text", "Enter")
        page.wait_for_function("window.realtimeConsole.transcript.some((m) => m.text === 'before')")
        with _killed_and_restarted(
            emulator, page, proc, port, "window.realtimeConsole.status === 'reconnecting'",
            "window.realtimeConsole.sessions === 2 && "
            "window.realtimeConsole.status === 'connected'"):
            status = page.locator("#status").inner_text()
            page.fill("#text", "after")
            page.press("#text", "Enter")
            page.wait_for_function("window.realtimeConsole.transcript.some((m) => m.text === 'after')")
            roles = page.evaluate("window.realtimeConsole.transcript.map((m) => m.role)")
            marker = page.locator("#transcript .msg.session").inner_text()
    assert status == "connected"
    # before → marker → after: the new session is marked where it began
    assert roles.index("session") > 0 and roles.index("session") < len(roles) - 1
    assert "new session" in marker
    assert errors == []
    page.close()


def test_relay_token_pattern(emulator: EmulatorThread, browser: Any) -> None:
    seen: list[str | None] = []

    def authenticate(conn: Any) -> str | None:
        token = subprotocol_key(conn)
        seen.append(token)
        return "alice" if token == TOKEN else None

    relay = RealtimeRelay(upstream=Upstream("openai", api_key=KEY, base_url=emulator.base_url),
                          authenticate=authenticate)
    before = len(emulator.connections)
    with relay_in_a_thread(relay) as (url, _loop):
        page = browser.new_page()
        page.goto(url + "/")
        result = page.evaluate("""async (token) => {
            const rtjs = await import('/realtime.js');
            const rt = await rtjs.RealtimeWebSocket.create({relay: "/realtime", key: token});
            const created = await new Promise((resolve) => rt.once("session.created", resolve));
            await rt.close();
            let refused = null;
            try { await rtjs.RealtimeWebSocket.create({relay: "/realtime", key: "wrong-token"}); }
            catch (e) { refused = e.name; }
            let direct = null;  // towards the API itself a non-ek_ key is still refused
            try { await rtjs.RealtimeWebSocket.create({model: "gpt-realtime", key: token}); }
            catch (e) { direct = e.name; }
            return {created: created.type, refused, direct};
        }""", TOKEN)
        page.close()
    assert result == {"created": "session.created", "refused": "ConnectionClosedError",
                      "direct": "RealtimeConfigError"}
    assert TOKEN in seen and "wrong-token" in seen
    new = list(emulator.connections)[before:]
    assert len(new) == 1  # only the signed-in one reached the upstream ...
    assert new[0].received_api_key == KEY  # ... with the server's key
    assert TOKEN not in str(new[0].headers)  # the token was never forwarded


def test_open_semantics(emulator: EmulatorThread, browser: Any) -> None:
    with relay_process(emulator.base_url, api_key=KEY) as url:
        page = browser.new_page()
        page.goto(url)
        result = page.evaluate("""async () => {
            const rtjs = await import('/realtime.js');
            const rt = await rtjs.RealtimeWebSocket.create({relay: "/realtime"});
            const calls = [];
            rt.on("open", (info) => calls.push(["on", info.reconnects]));
            rt.once("open", () => calls.push(["once"]));
            const sync = calls.length;  // called in a microtask, not during on()
            await Promise.resolve();
            await new Promise((resolve) => setTimeout(resolve, 0));
            await rt.close();
            rt.on("open", () => calls.push(["after close"]));
            await new Promise((resolve) => setTimeout(resolve, 0));
            return {sync, calls};
        }""")
        page.close()
    assert result == {"sync": 0, "calls": [["on", 0], ["once"]]}


def test_backoff_matches_the_python_client(emulator: EmulatorThread, browser: Any) -> None:
    attempts = [1, 2, 3, 6, 12]
    policy = ReconnectPolicy(initial_delay=0.25, max_delay=15.0, factor=2.0, jitter=False)
    with relay_process(emulator.base_url, api_key=KEY) as url:
        page = browser.new_page()
        page.goto(url)
        got = page.evaluate("""async (attempts) => {
            const rtjs = await import('/realtime.js');
            const p = rtjs.reconnectPolicy({jitter: false});
            const bad = [];
            for (const opt of [{maxAttempts: 0}, {factor: 0.5}, {initialDelay: -1}, "yes"]) {
                try { rtjs.reconnectPolicy(opt); } catch (e) { bad.push(e.name); }
            }
            const half = rtjs.reconnectPolicy(true);
            return {delays: attempts.map((a) => rtjs.reconnectDelay(p, a)),
                    jittered: attempts.map((a) => rtjs.reconnectDelay(half, a, () => 0.5)), bad};
        }""", attempts)
        page.close()
    assert got["delays"] == pytest.approx([policy.delay(a) for a in attempts])
    assert got["jittered"] == pytest.approx([policy.delay(a) * 0.5 for a in attempts])
    assert got["bad"] == ["RealtimeConfigError"] * 4
