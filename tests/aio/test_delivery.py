"""Every handler kind follows the one delivery order, coroutines included (they were once
scheduled with ensure_future and ran out of order); the loopback resolution rule via create()."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from aiohttp import web

from openai_realtime_ws import AsyncOpenAIRealtimeWS, RealtimeConfigError
from openai_realtime_ws.core.reconnect import ReconnectContext, ReconnectPolicy
from openai_realtime_ws.emulator import CloseWith, Emulator

from .rawserver import RawServer, session_created, wait_closed

DELTA = (
    '{"type":"response.output_text.delta","event_id":"e","response_id":"r","item_id":"i",'
    '"output_index":0,"content_index":0,"delta":"d"}'
)


async def test_coroutine_handlers_of_every_kind_run_in_arrival_order() -> None:
    async def script(ws: web.WebSocketResponse, srv: RawServer) -> None:
        await ws.send_str(session_created())
        await ws.send_str("not json")
        await ws.send_str(DELTA)
        await wait_closed(ws)

    async with RawServer(script) as srv:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=srv.base_url, api_key="sk-x", model="m")
        order: list[str] = []
        done = asyncio.Event()

        async def on_frame(text: str) -> None:
            await asyncio.sleep(0.01)  # a slow coroutine: later items must wait for it
            order.append("frame")

        async def on_error(error: Any) -> None:
            await asyncio.sleep(0.01)
            order.append("error")

        async def on_event(event: Any) -> None:
            await asyncio.sleep(0)
            order.append("event:" + event.type)
            if event.type == "response.output_text.delta":
                done.set()

        rt.on("frame", on_frame)
        rt.on("error", on_error)
        rt.on("event", on_event)
        await asyncio.wait_for(done.wait(), 5)
        await rt.close()
    assert order == [
        "frame", "event:session.created",
        "frame", "error",
        "frame", "event:response.output_text.delta",
    ]


async def test_reconnecting_and_reconnected_coroutines_are_awaited_in_order() -> None:
    async with Emulator() as emu:
        emu.faults.next_connection(CloseWith(code=1012, after_type="session.updated"))
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=emu.base_url, api_key="sk-x", model="m",
            reconnect=ReconnectPolicy(initial_delay=0.01, jitter=False),
        )
        order: list[str] = []
        back = asyncio.Event()

        async def reconnecting(ctx: ReconnectContext) -> None:
            await asyncio.sleep(0.05)
            order.append("reconnecting")

        async def reconnected(info: Any) -> None:
            order.append("reconnected")
            back.set()

        rt.on("reconnecting", reconnecting)
        rt.on("reconnected", reconnected)
        rt.on("session.created", lambda e: order.append("session.created"))
        rt.send({"type": "session.update", "session": {"type": "realtime"}})
        await asyncio.wait_for(back.wait(), 10)
        await rt.close()
    # the slow "reconnecting" handler finished before anything after it was delivered
    assert order[:2] == ["session.created", "reconnecting"]
    assert order.index("reconnected") > order.index("reconnecting")


async def test_localhost_names_must_resolve_to_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    async def script(ws: web.WebSocketResponse, srv: RawServer) -> None:
        await ws.send_str(session_created())
        await wait_closed(ws)

    async with RawServer(script) as srv:
        # a real name that resolves to loopback connects
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=f"http://localhost:{srv.port}/v1", api_key="sk-x", model="m"
        )
        await rt.close()
        # a *.localhost name whose resolver answers a public address is refused before connecting
        loop = asyncio.get_running_loop()

        async def resolver(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("203.0.113.7", port))]

        monkeypatch.setattr(loop, "getaddrinfo", resolver)
        with pytest.raises(RealtimeConfigError, match="not a loopback address"):
            await AsyncOpenAIRealtimeWS.create(
                base_url=f"http://evil.localhost:{srv.port}/v1", api_key="sk-x", model="m"
            )
    assert len(srv.requests) == 1
