"""Helpers for the relay tests: a real uvicorn serving a RealtimeRelay on a free loopback port in
the test's event loop, and a real WebSocket client (websockets) talking to it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from websockets.asyncio.client import ClientConnection

from openai_realtime_ws.emulator import Emulator
from openai_realtime_ws.relay import RealtimeRelay, Upstream


def upstream_for(emu: Emulator) -> Upstream:
    return Upstream("openai", api_key="sk-test", base_url=emu.base_url)


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


@contextlib.asynccontextmanager
async def serve(relay: RealtimeRelay, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve ``relay`` with uvicorn; yields ``http://host:port``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = _Server(uvicorn.Config(relay, log_level="warning", lifespan="on"))
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    ready = asyncio.ensure_future(server.ready.wait())
    await asyncio.wait([task, ready], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/realtime"


async def next_of(ws: ClientConnection, *types: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next event (from the browser's side) whose type is one of ``types``."""
    async with asyncio.timeout(timeout):
        while True:
            event = json.loads(await ws.recv())
            if event["type"] in types:
                return dict(event)


async def send(ws: ClientConnection, event: dict[str, Any]) -> None:
    await ws.send(json.dumps(event))


USER_TEXT = {"type": "conversation.item.create", "item": {
    "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello"}]}}
TEXT_RESPONSE = {"type": "response.create", "response": {"output_modalities": ["text"]}}
