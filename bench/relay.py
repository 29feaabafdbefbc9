"""The browser relay under load: N concurrent browser-like sessions (20 ms of audio up every
20 ms, 20 ms audio deltas down) through ``openai-realtime-ws relay`` to the emulator, against
the same sessions connected to the emulator directly.

Printed side by side: the round trip of a control event (``input_audio_buffer.clear`` →
``input_audio_buffer.cleared``, one outstanding per session, every 500 ms) direct vs through
the relay (p50/p99, and the difference = what the relay hop adds), downstream audio deltas per
second, the relay's CPU time per relayed event, and its memory per idle session.

    python bench/relay.py                      # 500 sessions, 10 s of traffic each way
    python bench/relay.py --sessions 100 --seconds 5

The emulator, the relay and this load generator (aiohttp clients) are three processes; on a
machine with few cores they compete, so the latency figures are an upper bound on what the relay
adds. Figures and their conditions: docs/relay.md, "Performance".
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

AUDIO_20MS = base64.b64encode(bytes(960)).decode()  # 20 ms of PCM16 24 kHz silence
APPEND = '{"type":"input_audio_buffer.append","audio":"' + AUDIO_20MS + '"}'
CLEAR = '{"type":"input_audio_buffer.clear"}'
# a long user message: the echo responder speaks it back for minutes (20 ms deltas, real time)
SAY = ('{"type":"conversation.item.create","item":{"type":"message","role":"user","content":'
       '[{"type":"input_text","text":"' + "la " * 2000 + '"}]}}')
RESPOND = '{"type":"response.create"}'
# no server VAD: the emulator's energy detector over every 10 ms of 500 streams would be the
# bottleneck of the whole bench (it is not the relay's work)
NO_VAD = ('{"type":"session.update","session":{"type":"realtime","audio":{"input":'
          '{"turn_detection":null}}}}')


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _start(args: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", *args], stdout=subprocess.PIPE, text=True,
                            env=env)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


@dataclass(slots=True)
class Stats:
    rtts: list[float] = field(default_factory=list)
    sent: int = 0
    received: int = 0
    deltas: int = 0
    failed: int = 0
    measuring: bool = False


async def _session(http: aiohttp.ClientSession, url: str, stats: Stats, ready: asyncio.Event,
                   go: asyncio.Event, stop: asyncio.Event, opened: list[int]) -> None:
    try:
        ws = await http.ws_connect(url, protocols=("realtime",), max_msg_size=0, heartbeat=None)
    except aiohttp.ClientError:
        stats.failed += 1
        opened.append(0)
        return
    pong: asyncio.Future[float] | None = None
    loop = asyncio.get_running_loop()

    async def reader() -> None:
        nonlocal pong
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            head = msg.data[:48]
            if stats.measuring:
                stats.received += 1
                if "output_audio.delta" in head:
                    stats.deltas += 1
            if "input_audio_buffer.cleared" in head and pong is not None and not pong.done():
                pong.set_result(loop.time())

    read = asyncio.ensure_future(reader())
    opened.append(1)
    if len(opened) == ready_count[0]:
        ready.set()
    await go.wait()
    await ws.send_str(NO_VAD)
    await ws.send_str(SAY)
    await ws.send_str(RESPOND)
    tick = loop.time()
    n = 0
    try:
        while not stop.is_set():
            await ws.send_str(APPEND)
            if stats.measuring:
                stats.sent += 1
            n += 1
            if n % 25 == 0 and (pong is None or pong.done()):
                pong = loop.create_future()
                sent_at = loop.time()
                await ws.send_str(CLEAR)

                def done(f: asyncio.Future[float], t0: float = sent_at) -> None:
                    if stats.measuring and not f.cancelled():
                        stats.rtts.append((f.result() - t0) * 1000)

                pong.add_done_callback(done)
            tick += 0.02
            await asyncio.sleep(max(0.0, tick - loop.time()))
    except (aiohttp.ClientError, ConnectionError):
        stats.failed += 1
    finally:
        await ws.close()
        read.cancel()


ready_count = [0]


async def _run(url: str, sessions: int, seconds: float, relay_pid: int | None) -> dict[str, float]:
    stats = Stats()
    ready, go, stop = asyncio.Event(), asyncio.Event(), asyncio.Event()
    opened: list[int] = []
    ready_count[0] = sessions
    connector = aiohttp.TCPConnector(limit=0)
    result: dict[str, float] = {}
    async with aiohttp.ClientSession(connector=connector) as http:
        rss0 = _rss_bytes(relay_pid) if relay_pid else 0
        tasks = []
        for i in range(sessions):
            tasks.append(asyncio.ensure_future(_session(http, url, stats, ready, go, stop, opened)))
            if i % 50 == 49:
                await asyncio.sleep(0.05)  # connect in waves, as browsers would
        await asyncio.wait_for(ready.wait(), 120)
        if relay_pid:
            await asyncio.sleep(1.0)
            result["rss_per_session_kib"] = (_rss_bytes(relay_pid) - rss0) / sessions / 1024
        go.set()
        await asyncio.sleep(2.0)  # responses start, pacing settles
        cpu0 = _cpu_seconds(relay_pid) if relay_pid else 0.0
        stats.measuring = True
        t0 = time.perf_counter()
        await asyncio.sleep(seconds)
        stats.measuring = False
        elapsed = time.perf_counter() - t0
        cpu1 = _cpu_seconds(relay_pid) if relay_pid else 0.0
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    rtts = sorted(stats.rtts)
    events = stats.sent + stats.received
    result.update(
        p50=statistics.median(rtts) if rtts else float("nan"),
        p99=rtts[int(len(rtts) * 0.99)] if rtts else float("nan"),
        up_per_s=stats.sent / elapsed,
        down_per_s=stats.received / elapsed,
        deltas_per_s=stats.deltas / elapsed,
        failed=stats.failed,
        samples=len(rtts),
    )
    if relay_pid:
        result["cpu_us_per_event"] = (cpu1 - cpu0) / events * 1e6 if events else float("nan")
        result["cpu_share"] = (cpu1 - cpu0) / elapsed
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--ws", default="auto", help="the relay's uvicorn WebSocket protocol")
    args = parser.parse_args()
    emu, base_url = _start(["openai_realtime_ws.emulator", "--port", "0", "--speed", "1",
                            "--chunk-ms", "20", "--session-seconds", "3600"])
    env = {**os.environ, "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "sk-bench"}
    relay, relay_url = _start(["openai_realtime_ws.relay", "--port", "0", "--log-level", "error",
                               "--ws", args.ws], env)
    try:
        direct_url = base_url.replace("http://", "ws://") + "/realtime?model=gpt-realtime"
        direct = asyncio.run(_run(direct_url, args.sessions, args.seconds, None))
        via = asyncio.run(_run(relay_url.replace("http://", "ws://") + "realtime",
                               args.sessions, args.seconds, relay.pid))
    finally:
        for proc in (relay, emu):
            proc.terminate()
            proc.wait(30)
    cores = os.cpu_count()
    print(f"relay benchmark: {args.sessions} sessions, {args.seconds:g} s measured, "
          f"{cores} CPUs visible; Python {sys.version.split()[0]}")
    print(f"{'':34}{'direct':>12}{'via relay':>12}{'added':>10}")
    for key, label in (("p50", "control round trip p50 (ms)"), ("p99", "control round trip p99 (ms)")):
        print(f"{label:34}{direct[key]:>12.2f}{via[key]:>12.2f}{via[key] - direct[key]:>10.2f}")
    for key, label in (("up_per_s", "events up per s"), ("down_per_s", "events down per s"),
                       ("deltas_per_s", "audio deltas down per s"), ("failed", "failed sessions"),
                       ("samples", "round-trip samples")):
        print(f"{label:34}{direct[key]:>12.0f}{via[key]:>12.0f}")
    print(f"relay CPU per relayed event: {via['cpu_us_per_event']:.1f} µs "
          f"(relay process used {via['cpu_share']:.2f} CPU cores)")
    print(f"relay memory per idle session: {via['rss_per_session_kib']:.0f} KiB")


if __name__ == "__main__":
    main()
