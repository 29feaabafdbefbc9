"""What an abrupt drop loses in flight: events the client wrote that the server never read.

    .venv/bin/python bench/drop_loss.py             # 5 runs per send rate
    .venv/bin/python bench/drop_loss.py --runs 1

The Realtime protocol has no acknowledgements, so an event handed to the socket before the peer
vanishes is gone: it sat in the client's socket buffers (or the network) when the connection was
reset. Everything the client still held (its outbound queue) is not lost: it is re-sent after the
reconnect, or returned in ``ConnectionClosed.unsent``.

Set-up (loopback, one process): an aiohttp server reads text frames and, after reading
``--drop-after`` of them, aborts the TCP connection (RST, no close frame); the client
(``AsyncOpenAIRealtimeWS`` with ``reconnect=``) keeps sending ``conversation.item.create``
events (~200 bytes each) at a fixed rate; it reconnects, and the second connection counts what
arrives. ``lost = sent - read by server 1 - read by server 2``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from typing import Any

from aiohttp import WSMsgType, web

from openai_realtime_ws import AsyncOpenAIRealtimeWS, ReconnectPolicy

SESSION_CREATED = (
    '{"type":"session.created","event_id":"event_1","session":{"type":"realtime",'
    '"object":"realtime.session","id":"sess_1","model":"m"}}'
)


async def one_run(total: int, per_ms: int, drop_after: int, stall: float) -> tuple[int, int]:
    counts: list[int] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        await ws.send_str(SESSION_CREATED)
        index = len(counts)
        counts.append(0)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT and '"item_' in msg.data:
                counts[index] += 1
                if index == 0 and counts[0] >= drop_after:
                    assert request.transport is not None
                    if stall:  # a peer that hangs (stops reading), then dies
                        await asyncio.sleep(stall)
                    request.transport.abort()
                    break
        return ws

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    rt = await AsyncOpenAIRealtimeWS.create(
        base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-bench", model="m",
        reconnect=ReconnectPolicy(initial_delay=0.01, jitter=False),
    )
    event: dict[str, Any] = {"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "x" * 100}]}}
    for i in range(total):
        event["item"]["id"] = f"item_{i}"
        rt.send(event)
        if i % per_ms == per_ms - 1:
            await asyncio.sleep(0.001)
    await rt.drain()
    for _ in range(500):  # let the second connection read what was flushed to it
        if len(counts) > 1 and sum(counts) >= total:
            break
        await asyncio.sleep(0.01)
    await rt.close()
    await runner.cleanup()
    return total - sum(counts), rt.reconnects


async def main(args: argparse.Namespace) -> None:
    print(f"# abrupt drop (RST after {args.drop_after} events read), {args.total} events sent, "
          f"{args.runs} runs per case; lost = written to the dropped socket, never read")
    print("| peer | nominal send rate (events/s) | lost events (median / max) | lost bytes (median) |")
    print("|---|---:|---:|---:|")
    for stall in (0.0, args.stall):
        for per_ms in args.rates:
            losses = [
                (await one_run(args.total, per_ms, args.drop_after, stall))[0]
                for _ in range(args.runs)
            ]
            peer = f"stops reading, RST {stall} s later" if stall else "reading, then RST"
            print(f"| {peer} | {per_ms * 1000:,} | {statistics.median(losses):.0f} / "
                  f"{max(losses)} | {statistics.median(losses) * 200:,.0f} |")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--total", type=int, default=4000)
    p.add_argument("--drop-after", type=int, default=1000)
    p.add_argument("--stall", type=float, default=0.2, help="seconds the hanging peer waits")
    p.add_argument("--rates", type=int, nargs="+", default=[1, 10, 50], help="events per ms")
    asyncio.run(main(p.parse_args()))
