# The emulator must not be the bottleneck of a 100k-event flood of 20 ms audio deltas: both
# burst paths (a responder reply at speed 0, and Emulator.inject) are measured with a raw client
# that only counts frames. The floor is deliberately low (shared CI cores); see bench_emit.py for
# the numbers with the server in its own process.
from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import aiohttp
import pytest

from openai_realtime_ws.emulator import Emulator, EmulatorConfig, Reply, TurnContext

N = 100_000
FLOOR = 15_000  # events/s, in-process (client and server share one core)


class Flood:
    def respond(self, turn: TurnContext) -> Reply:
        return Reply(text="a" * (N * 20 // 60))  # 60 ms per char → N chunks of 20 ms


async def count_until(ws: aiohttp.ClientWebSocketResponse, marker: str) -> int:
    frames = 0
    while True:
        msg = await ws.receive()
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        frames += 1
        if marker in msg.data:
            return frames


@pytest.mark.timeout(60)
async def test_flood_responder_and_inject() -> None:
    config = EmulatorConfig(speed=0, audio_chunk_ms=20, record_received=False)
    async with Emulator(responder=Flood(), config=config) as emu, aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{emu.ws_url}?model=x", max_msg_size=0) as ws:
            await ws.receive()
            t0 = time.perf_counter()
            await ws.send_str('{"type":"response.create"}')
            frames = await count_until(ws, '"rate_limits.updated"')
            rate1 = frames / (time.perf_counter() - t0)
            assert frames == N + 11  # created, item/part added (3), done events (7)

            conn = emu.connections[0]
            delta: dict[str, Any] = {"type": "response.output_audio.delta", "response_id": "resp_x", "item_id": "item_x",
                     "output_index": 0, "content_index": 0, "delta": base64.b64encode(bytes(960)).decode()}
            t0 = time.perf_counter()
            # inject() honours flow control, so it must run concurrently with this loop's reader
            events: list[dict[str, Any]] = [*(delta for _ in range(N)), {"type": "rate_limits.updated", "rate_limits": []}]
            frames, sent = await asyncio.gather(count_until(ws, '"rate_limits.updated"'), emu.inject(conn, events))
            rate2 = frames / (time.perf_counter() - t0)
            assert sent == frames == N + 1
    print(f"\nemit rate in-process: responder {rate1:,.0f} events/s, inject {rate2:,.0f} events/s")
    assert rate1 > FLOOR and rate2 > FLOOR


async def test_inject_raw_frames_and_dicts_keep_order(realtime_emulator: Emulator) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{realtime_emulator.ws_url}?model=x") as ws:
        await ws.receive()
        conn = realtime_emulator.connections[0]
        frames: list[Any] = [b'{"type":"x.raw","n":0}', {"type": "input_audio_buffer.cleared"}, '{"type":"x.raw","n":2}']
        sent = await realtime_emulator.inject(conn, frames)  # small: fits the socket buffers
        got = [await ws.receive_json() for _ in range(3)]
        assert sent == 3 and [g["type"] for g in got] == ["x.raw", "input_audio_buffer.cleared", "x.raw"]
        assert got[1]["event_id"].startswith("event_")
