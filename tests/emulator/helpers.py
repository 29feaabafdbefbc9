# A raw WebSocket client (the `websockets` library) for protocol tests, and small helpers.
from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Sequence
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

from openai_realtime_ws.emulator import Emulator


class Raw:
    """Thin JSON wrapper over a websockets connection."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(event))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        ev: dict[str, Any] = json.loads(raw)
        self.seen.append(ev)
        return ev

    async def recv_until(self, type_: str, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Events up to and including the first of `type_`."""
        out: list[dict[str, Any]] = []
        while True:
            ev = await self.recv(timeout)
            out.append(ev)
            if ev["type"] == type_:
                return out

    async def response(self, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Events up to and including the rate_limits.updated that ends a response."""
        return await self.recv_until("rate_limits.updated", timeout)

    async def expect_error(self, timeout: float = 5.0) -> dict[str, Any]:
        ev = await self.recv(timeout)
        assert ev["type"] == "error", ev
        err: dict[str, Any] = ev["error"]
        return err

    async def no_event(self, within: float = 0.15) -> None:
        try:
            raw = await asyncio.wait_for(self.ws.recv(), within)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected event: {str(raw)[:300]}")


async def connect(emu: Emulator, query: str = "model=gpt-realtime", *, path: str = "/v1/realtime",
                  headers: dict[str, str] | None = None, subprotocols: Sequence[str] | None = None,
                  created: bool = True) -> Raw:
    """Open a raw socket; by default also read `session.created`."""
    scheme = "wss" if emu.tls else "ws"
    url = f"{scheme}://127.0.0.1:{emu.port}{path}?{query}"
    ws = await websockets.connect(url, additional_headers=headers or {}, ssl=emu.ssl_context,
                                  subprotocols=[Subprotocol(p) for p in subprotocols] if subprotocols else None,
                                  max_size=None)
    raw = Raw(ws)
    if created:
        ev = await raw.recv()
        assert ev["type"] == "session.created", ev
    return raw


def types(events: Sequence[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def user_text(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}, **extra}


TEXT_SEQUENCE = [
    "response.created", "response.output_item.added", "conversation.item.added", "response.content_part.added",
    "response.output_text.delta", "response.output_text.done", "response.content_part.done",
    "response.output_item.done", "conversation.item.done", "response.done", "rate_limits.updated",
]


def collapse(seq: Sequence[str]) -> list[str]:
    """Collapse runs of the same type (delta runs) to one."""
    out: list[str] = []
    for t in seq:
        if not out or out[-1] != t:
            out.append(t)
    return out
