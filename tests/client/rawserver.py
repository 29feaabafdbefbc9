"""A scripted WebSocket server for client edge cases that a well-behaved server never produces
(invalid UTF-8, binary and fragmented frames, floods, redirects). Real aiohttp server on loopback:
real handshake, real frames; only the script is made up."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

Script = Callable[[web.WebSocketResponse, "RawServer"], Awaitable[None]]


@dataclass
class RawServer:
    script: Script
    status: int | None = None  # refuse the upgrade with this HTTP status
    location: str | None = None  # with a 3xx status
    autoping: bool = True  # False: never answer the client's pings (a dead peer)
    requests: list[dict[str, Any]] = field(default_factory=list)
    received: list[str] = field(default_factory=list)
    close_codes: list[int | None] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            {"path": request.path, "query": dict(request.query), "headers": dict(request.headers)}
        )
        if self.status is not None and request.path != "/target/v1/realtime":
            headers = {"Location": self.location} if self.location else {}
            return web.Response(
                status=self.status,
                body=b'{"error":{"message":"nope","type":"invalid_request_error"}}',
                headers=headers,
                content_type="application/json",
            )
        ws = web.WebSocketResponse(max_msg_size=0, autoping=self.autoping)
        await ws.prepare(request)
        reader = asyncio.ensure_future(self._read(ws))
        try:
            await self.script(ws, self)
        finally:
            await asyncio.sleep(0)
        await reader
        return ws

    async def _read(self, ws: web.WebSocketResponse) -> None:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                self.received.append(msg.data)
        self.close_codes.append(ws.close_code)

    async def __aenter__(self) -> RawServer:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


def session_created(event_id: str = "event_000000000000000000001") -> str:
    return (
        '{"type":"session.created","event_id":"%s","session":{"type":"realtime",'
        '"object":"realtime.session","id":"sess_1","model":"gpt-realtime"}}' % event_id
    )


async def wait_closed(ws: web.WebSocketResponse, timeout: float = 5) -> None:
    """Keep the server side open until the client closes (or timeout)."""
    for _ in range(int(timeout * 100)):
        if ws.closed:
            return
        await asyncio.sleep(0.01)
