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


class RawTCPServer:
    """A plain TCP server on loopback whose ``behave(reader, writer, n)`` coroutine decides, per
    connection ``n`` (0-based), what the client gets: a reset, a FIN, half an upgrade, nothing…"""

    def __init__(self, behave: Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]) -> None:
        self.behave = behave
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        n = self.connections
        self.connections += 1
        self._writers.add(writer)
        try:
            await self.behave(reader, writer, n)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> RawTCPServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()


async def read_upgrade(reader: asyncio.StreamReader) -> dict[str, str]:
    """Read one HTTP upgrade request; its headers (lower-case names)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}


def accept_upgrade(headers: dict[str, str]) -> bytes:
    """The ``101`` response completing a WebSocket upgrade."""
    import base64
    import hashlib

    key = headers["sec-websocket-key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    accept = base64.b64encode(hashlib.sha1(key.encode()).digest()).decode()
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
    ).encode()


def text_frame(text: str) -> bytes:
    """One unmasked server text frame."""
    data = text.encode()
    if len(data) < 126:
        return bytes([0x81, len(data)]) + data
    return bytes([0x81, 126]) + len(data).to_bytes(2, "big") + data


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0) instead of a FIN."""
    import socket
    import struct

    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
