# Emit-rate benchmark: how many server events per second the emulator puts on a socket.
# Run: `python -m tests.emulator.bench_emit [N]`. The emulator runs in a child process so that
# the counting client (aiohttp, counts frames without parsing them) does not share its GIL.
# Two paths: a responder reply of N 20 ms audio deltas at speed 0 (the full session/response
# machinery), and `Emulator.inject()` of N prebuilt 20 ms delta events (the raw burst path).
from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import aiohttp

CHILD = r"""
import asyncio, base64, sys
from openai_realtime_ws.emulator import Emulator, EmulatorConfig, Reply
N, MODE = int(sys.argv[1]), sys.argv[2]
class Flood:
    def respond(self, turn):
        return Reply(text="a" * (N * 20 // 60))  # tone code: 60 ms per char, 20 ms chunks
DELTA = {"type": "response.output_audio.delta", "response_id": "resp_flood", "item_id": "item_flood",
         "output_index": 0, "content_index": 0, "delta": base64.b64encode(bytes(960)).decode()}
async def main():
    async with Emulator(responder=Flood(), config=EmulatorConfig(speed=0, audio_chunk_ms=20,
                                                                 record_received=False)) as emu:
        print(emu.ws_url, flush=True)
        conn = await emu.wait_for_connection(0, timeout=60)
        if MODE == "inject":
            while not conn.received_frames:
                await asyncio.sleep(0.01)
            await emu.inject(conn, (DELTA for _ in range(N)))
            await emu.inject(conn, [{"type": "rate_limits.updated", "rate_limits": []}])
        await conn.closed.wait()
asyncio.run(main())
"""


async def count(url: str, mode: str) -> tuple[int, float]:
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{url}?model=x", max_msg_size=0) as ws:
            await ws.receive()  # session.created
            await ws.send_str('{"type":"conversation.item.create","item":{"type":"message","role":"user",'
                              '"content":[{"type":"input_text","text":"go"}]}}')
            await ws.receive()
            await ws.receive()
            t0 = time.perf_counter()
            if mode == "responder":
                await ws.send_str('{"type":"response.create"}')
            frames = 0
            while True:
                msg = await ws.receive()
                frames += 1
                data = msg.data if isinstance(msg.data, bytes) else str(msg.data).encode()
                if b'"rate_limits.updated"' in data:
                    break
            return frames, time.perf_counter() - t0


def run(n: int, mode: str) -> tuple[int, float]:
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(n), mode], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    url = child.stdout.readline().strip()
    try:
        return asyncio.run(count(url, mode))
    finally:
        child.terminate()
        child.wait(10)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    for mode in ("responder", "inject"):
        frames, secs = run(n, mode)
        print(f"{mode:9s}: {frames} frames in {secs:.2f}s = {frames / secs:,.0f} events/s")


if __name__ == "__main__":
    main()
