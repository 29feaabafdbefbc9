"""Voice path benchmark: what live audio costs, printed side by side with the alternatives.

1. Conversion, per second of audio: the streaming Resampler (soxr vs the pure-Python fallback)
   and G.711 μ-law (numpy tables vs pure Python).
2. Two-way 24 kHz audio through a VoiceSession (20 ms microphone frames appended, assistant audio
   decoded and played by a real-time PacedSink): client CPU per second of conversation.
3. μ-law 8 kHz through the Twilio bridge (uvicorn + Starlette, one call; the caller runs in its own
   process): bridge-process CPU per second of call.
4. Sessions per core: N VoiceSessions in one process (one core), each with a 20 ms PacedSink at
   real time; p99 of how late a frame is played (playback jitter) and the process CPU; the
   largest N with p99 < 5 ms.

The emulator runs in a subprocess at real-time speed (``--speed 1``, 20 ms chunks) so its CPU is
not counted. Run: ``.venv/bin/python bench/voice.py [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import socket
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from openai_realtime_ws import AsyncOpenAIRealtimeWS  # noqa: E402
from openai_realtime_ws.audio import PacedSink, Resampler, soxr_available  # noqa: E402
from openai_realtime_ws.core import g711  # noqa: E402
from openai_realtime_ws.voice import VoiceSession  # noqa: E402

KEY = "sk-bench-00000000000"


def _emulator(speed: float = 1.0, chunk_ms: int = 20) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "openai_realtime_ws", "emulator", "--speed", str(speed),
         "--chunk-ms", str(chunk_ms)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    assert proc.stdout is not None
    base_url = proc.stdout.readline().strip()
    if not base_url.startswith("http"):
        proc.kill()
        raise SystemExit(f"emulator did not start: {base_url!r}")
    return proc, base_url


def _signal(rate: int, seconds: float) -> bytes:
    n = int(rate * seconds)
    return struct.pack(f"<{n}h", *[int(9000 * math.sin(i * 0.05)) for i in range(n)])


# --------------------------------------------------------------------------- 1. conversion


def bench_conversion(seconds: float) -> None:
    print("\n== conversion: CPU per second of audio (lower is better)")
    rows: list[tuple[str, str, float]] = []
    for rate_in, rate_out in ((48000, 24000), (16000, 24000), (24000, 8000)):
        pcm = _signal(rate_in, seconds)
        for backend in ("soxr", "linear"):
            if backend == "soxr" and not soxr_available():
                continue
            r = Resampler(rate_in, rate_out, backend=backend)
            t = time.perf_counter()
            for i in range(0, len(pcm), rate_in // 50 * 2):  # 20 ms chunks
                r.process(pcm[i : i + rate_in // 50 * 2])
            r.flush()
            rows.append((f"resample {rate_in // 1000}k->{rate_out // 1000}k", backend,
                         (time.perf_counter() - t) / seconds * 1e6))
    pcm8 = _signal(8000, seconds)
    law = g711.pcm16_to_ulaw(pcm8)
    for impl in ("numpy", "pure"):
        saved = g711._numpy()
        if impl == "pure":
            g711._np = None
        elif saved is None:
            continue
        try:
            g711.ulaw_to_pcm16(g711.pcm16_to_ulaw(pcm8[:320]))  # warm up: tables built once
            t = time.perf_counter()
            for i in range(0, len(pcm8), 320):
                g711.pcm16_to_ulaw(pcm8[i : i + 320])
            enc = (time.perf_counter() - t) / seconds * 1e6
            t = time.perf_counter()
            for i in range(0, len(law), 160):
                g711.ulaw_to_pcm16(law[i : i + 160])
            dec = (time.perf_counter() - t) / seconds * 1e6
        finally:
            g711._np = saved
        rows.append(("mu-law encode 8k", impl, enc))
        rows.append(("mu-law decode 8k", impl, dec))
    print(f"{'operation':24} {'backend':8} {'µs CPU / s audio':>18}")
    for name, backend, us in rows:
        print(f"{name:24} {backend:8} {us:18.1f}")


# --------------------------------------------------------------------------- 2 + 4. sessions


class _Mic:
    """A real-time microphone stand-in: 20 ms frames of low noise, on the loop clock."""

    def __init__(self, stop: asyncio.Event) -> None:
        self.stop = stop

    def __aiter__(self) -> Any:
        return self._frames()

    async def _frames(self) -> Any:
        loop = asyncio.get_running_loop()
        start = loop.time()
        frame = struct.pack("<480h", *([3, -3] * 240))
        n = 0
        while not self.stop.is_set():
            n += 1
            delay = start + n * 0.02 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            yield frame


async def _run_sessions(base_url: str, n: int, seconds: float) -> dict[str, float]:
    stop = asyncio.Event()
    sessions: list[tuple[Any, VoiceSession, PacedSink]] = []
    for _ in range(n):
        rt = await AsyncOpenAIRealtimeWS.create(base_url=base_url, api_key=KEY, model="gpt-realtime")
        sink = PacedSink()
        voice = VoiceSession(rt, source=_Mic(stop), sink=sink, transcription_model=None)

        def again(ev: Any, voice: VoiceSession = voice) -> None:
            if ev.type == "response_done":
                voice.say("keep talking about the sea and the wind for a while longer")

        voice.on_event = again
        await voice.start()
        voice.say("keep talking about the sea and the wind for a while longer")
        sessions.append((rt, voice, sink))
    await asyncio.sleep(1.0)  # warm up: the first replies start
    for _, _, sink in sessions:
        sink.frames.clear()
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - t0
    lates = [late for _, _, sink in sessions for (_, _, late) in sink.frames]
    played = sum(real for _, _, sink in sessions for (_, real, _) in sink.frames) / 48000
    stop.set()
    for rt, voice, _ in sessions:
        await voice.aclose()
        await rt.close()
    lates.sort()
    p99 = lates[int(0.99 * (len(lates) - 1))] if lates else float("nan")
    return {"cpu": cpu, "wall": wall, "p99": p99, "p50": statistics.median(lates) if lates else 0.0,
            "played_s": played}


def bench_two_way(base_url: str, seconds: float) -> None:
    print("\n== two-way 24 kHz audio through a VoiceSession (client process only)")
    r = asyncio.run(_run_sessions(base_url, 1, seconds))
    print(f"conversation {r['wall']:.1f} s (assistant audio played {r['played_s']:.1f} s, "
          f"microphone streamed all along): CPU {r['cpu'] / r['wall'] * 1000:.1f} ms per second "
          f"({r['cpu'] / r['wall'] * 100:.2f} % of a core); playback p99 late {r['p99']:.2f} ms")


def bench_sessions_per_core(base_url: str, seconds: float, counts: list[int]) -> None:
    print("\n== sessions per core (one process): playback jitter (how late a 20 ms frame plays)")
    print(f"{'sessions':>8} {'CPU %':>7} {'p50 ms':>7} {'p99 ms':>7}  p99 < 5 ms")
    best = 0
    for n in counts:
        r = asyncio.run(_run_sessions(base_url, n, seconds))
        ok = r["p99"] < 5.0
        if ok:
            best = n
        print(f"{n:8d} {r['cpu'] / r['wall'] * 100:7.1f} {r['p50']:7.2f} {r['p99']:7.2f}  {'yes' if ok else 'no'}")
        if not ok:
            break
    print(f"-> {best} sessions per core keep p99 playback jitter under 5 ms "
          "(the emulator, in its own process, shares this machine's cores)")


# --------------------------------------------------------------------------- 3. telephony

_CALLER = """
import asyncio, sys
sys.path.insert(0, {root!r})
from tests.telephony.twilio_caller import TwilioCaller
from openai_realtime_ws.emulator import synth_audio

async def main():
    speech = synth_audio("hello there", "audio/pcmu", tail_silence_ms=500)
    async with TwilioCaller({url!r}) as caller:
        for _ in range(int({seconds} // 3) + 1):
            caller.speak(speech)
            await asyncio.sleep(3)
        print(len(caller.played), flush=True)

asyncio.run(main())
"""


async def _bridge_call(base_url: str, seconds: float) -> tuple[float, float, int]:
    import uvicorn

    from openai_realtime_ws.telephony import TwilioBridge

    async def connect(start: Any) -> AsyncOpenAIRealtimeWS:
        return await AsyncOpenAIRealtimeWS.create(base_url=base_url, api_key=KEY, model="gpt-realtime")

    bridge = TwilioBridge(connect, greeting="")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    url = f"ws://127.0.0.1:{sock.getsockname()[1]}/media-stream"
    server = uvicorn.Server(uvicorn.Config(bridge.app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    caller = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CALLER.format(root=str(ROOT), url=url, seconds=seconds),
        stdout=asyncio.subprocess.PIPE, cwd=ROOT)
    cpu0, t0 = time.process_time(), time.perf_counter()
    out, _ = await caller.communicate()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    server.should_exit = True
    await task
    sock.close()
    played = int(out.decode().strip() or 0)
    return cpu, wall, played


def bench_bridge(base_url: str, seconds: float) -> None:
    print("\n== mu-law 8 kHz through the Twilio bridge (bridge process: ASGI app + Realtime client)")
    cpu, wall, played = asyncio.run(_bridge_call(base_url, seconds))
    print(f"call {wall:.1f} s (caller audio streamed all along, assistant audio played "
          f"{played / 8000:.1f} s): CPU {cpu / wall * 1000:.1f} ms per second of call "
          f"({cpu / wall * 100:.2f} % of a core) -> about {int(wall / cpu) if cpu else 0} calls per core")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="short runs (smoke)")
    args = ap.parse_args()
    seconds = 2.0 if args.quick else 8.0
    print(f"python {sys.version.split()[0]} · {os.cpu_count()} CPUs · soxr {'yes' if soxr_available() else 'no'}")
    bench_conversion(seconds)
    proc, base_url = _emulator()
    try:
        bench_two_way(base_url, seconds)
        bench_bridge(base_url, seconds)
        counts = [1, 4, 16] if args.quick else [1, 4, 8, 16, 32, 64, 128]
        bench_sessions_per_core(base_url, seconds / 2, counts)
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
