"""The `openai-realtime-ws relay` command as a real subprocess, the loopback-only default seen
from a real non-loopback address, and an upstream that ends for good."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from openai_realtime_ws.emulator import CloseWith, Emulator, EmulatorConfig
from openai_realtime_ws.relay import RealtimeRelay

from .helpers import USER_TEXT, next_of, send, serve, upstream_for, ws_url

FAST = pytest.mark.realtime_emulator(config=EmulatorConfig(speed=0))


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the route
            address = str(s.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


@pytest.mark.timeout(60)
@FAST
async def test_cli_serves_console_modules_and_relay(realtime_emulator: Emulator) -> None:
    env = {**os.environ, "OPENAI_BASE_URL": realtime_emulator.base_url, "OPENAI_API_KEY": "sk-test"}
    exe = os.path.join(os.path.dirname(sys.executable), "openai-realtime-ws")
    proc = await asyncio.create_subprocess_exec(
        exe, "relay", "--port", "0", "--instructions", "CLI prompt.", "--redact",
        stdout=asyncio.subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
        assert url.startswith("http://127.0.0.1:")
        reader, writer = await asyncio.open_connection(*url[7:-1].split(":"))
        writer.write(b"GET /realtime.js HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        body = await reader.read()
        writer.close()
        assert b"200 OK" in body.split(b"\r\n", 1)[0]
        assert b"export class RealtimeWebSocket" in body
        async with connect(url.replace("http://", "ws://") + "realtime") as ws:
            updated = await next_of(ws, "session.updated")
            assert "instructions" not in updated["session"]  # --redact
        assert realtime_emulator.connections[0].received[0]["session"]["instructions"] == (
            "CLI prompt.")
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 20) in (0, -15)


@FAST
async def test_loopback_only_without_authentication(realtime_emulator: Emulator) -> None:
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    relay = RealtimeRelay(upstream=upstream_for(realtime_emulator),
                          allowed_hosts=[address, "127.0.0.1"])
    async with serve(relay, "0.0.0.0") as base:
        port = base.rsplit(":", 1)[1]
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"ws://{address}:{port}/realtime"):
                pass
        assert refused.value.response.status_code == 403
        assert b"only accepts connections from this machine" in (refused.value.response.body or b"")
        async with connect(f"ws://127.0.0.1:{port}/realtime") as ws:
            await next_of(ws, "session.created")
    assert len(realtime_emulator.connections) == 1


@FAST
async def test_upstream_final_close_is_reported_to_the_browser(realtime_emulator: Emulator) -> None:
    async with serve(RealtimeRelay(upstream=upstream_for(realtime_emulator))) as base:
        async with connect(ws_url(base)) as ws:
            await next_of(ws, "session.created")
            await send(ws, USER_TEXT)
            await next_of(ws, "conversation.item.added")
            realtime_emulator.connections[0].inject_fault(CloseWith(1000))  # not retried
            error: dict[str, Any] = await next_of(ws, "error")
            assert error["error"]["code"] == "relay_upstream_closed"
            assert "code 1000" in error["error"]["message"]
            with pytest.raises(ConnectionClosed):
                await next_of(ws, "never")
            assert ws.close_code == 1011


@FAST
async def test_mounted_under_a_prefix_in_a_starlette_app(realtime_emulator: Emulator) -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    relay = RealtimeRelay(upstream=upstream_for(realtime_emulator))
    app = Starlette(routes=[Route("/", lambda request: PlainTextResponse("my app")),
                            Mount("/rt", app=relay)])
    async with serve(app) as base:  # type: ignore[arg-type]
        host, port = base[7:].split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /rt/realtime-audio.js HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        body = await reader.read()
        writer.close()
        assert b"export class AudioPlayer" in body
        async with connect(base.replace("http://", "ws://") + "/rt/realtime") as ws:
            await next_of(ws, "session.created")
