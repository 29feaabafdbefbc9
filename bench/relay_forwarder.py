"""A bare picows forwarder for bench/relay.py: one upstream picows socket per browser picows
socket, frames passed byte for byte both ways (no parsing, no policy, no limits, no
reconnection). The floor a Python relay can reach; prints its URL as its first line.

    OPENAI_BASE_URL=http://127.0.0.1:8765/v1 OPENAI_API_KEY=sk-… python bench/relay_forwarder.py
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys

import picows
from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest

BASE = os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:8765/v1").replace("http", "ws", 1)
KEY = os.environ.get("OPENAI_API_KEY", "")


class Upstream(WSListener):
    def __init__(self, browser: Browser) -> None:
        self.browser = browser

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            self.browser.transport.send(WSMsgType.TEXT, frame.get_payload_as_memoryview())
        elif frame.msg_type == WSMsgType.CLOSE:
            self.browser.transport.send_close(frame.get_close_code())
            self.browser.transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.browser.transport.disconnect()


class Browser(WSListener):
    transport: WSTransport

    def __init__(self) -> None:
        self.upstream: WSTransport | None = None
        self.pending: list[bytes] = []
        self.opening: asyncio.Future[None] | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        sock = transport.underlying_transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.opening = asyncio.ensure_future(self._open())

    async def _open(self) -> None:
        try:
            upstream, _ = await picows.ws_connect(
                lambda: Upstream(self), f"{BASE}/realtime?model=gpt-realtime",
                extra_headers={"Authorization": f"Bearer {KEY}"}, max_frame_size=1 << 24)
        except Exception:  # the bench's floor: any failure ends the browser
            self.transport.disconnect()
            return
        self.upstream = upstream
        for data in self.pending:
            upstream.send(WSMsgType.TEXT, data)
        self.pending.clear()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            if self.upstream is None:
                self.pending.append(frame.get_payload_as_bytes())
            else:
                self.upstream.send(WSMsgType.TEXT, frame.get_payload_as_memoryview())
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self.upstream is not None:
            self.upstream.disconnect()


def _route(request: WSUpgradeRequest) -> WSListener | None:
    return Browser() if request.path.startswith(b"/realtime") else None


async def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = await picows.ws_create_server(_route, "127.0.0.1", port, max_frame_size=1 << 24)
    print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
