"""Soak benchmark: one simulated hour of a 20 ms audio session, time-compressed.

The client streams 20 ms PCM16 chunks (speech-like tone bursts and silences, so the emulator's
server VAD detects turns and answers with audio) as fast as the emulator takes them, with handlers
on the audio and transcript deltas, iteration left unused (its buffer must stay bounded), and
reconnection enabled; meanwhile `--churn` short sessions per simulated minute come and go (1,200
closed connections over the hour). Every simulated minute it prints the client's RSS, the emulator's RSS
(separate process), events received, responses and the outbound queue size. Flat memory is the
target: at the end it prints the emulator's RSS growth from the end of the warm-up (the first
`--warmup` simulated minutes, while its bounded buffers fill) to the end, which must stay within
10% (exit status 1 otherwise).

The emulator runs as the CLI runs it (`python -m openai_realtime_ws.emulator --speed 0`, its
defaults: client events recorded up to a cap, closed connections forgotten beyond a bounded
history, item audio within a budget); `--record-all` keeps every client event instead (what the
emulator did before those bounds: it grows by hundreds of MiB per session-hour).

    .venv/bin/python bench/soak.py              # 60 simulated minutes
    .venv/bin/python bench/soak.py --minutes 3  # quick
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import struct
import subprocess
import sys
import time

from openai_realtime_ws import AsyncOpenAIRealtimeWS, ReconnectPolicy

CHUNK_MS = 20
SAMPLES = 24_000 * CHUNK_MS // 1000  # 480 samples per chunk


def rss_kib(pid: int | None = None) -> int:
    path = f"/proc/{pid or 'self'}/status"
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def make_chunks() -> tuple[bytes, bytes]:
    """(speech, silence): a 220 Hz tone at -12 dBFS, and digital silence."""
    tone = struct.pack(
        f"<{SAMPLES}h",
        *(int(8000 * math.sin(2 * math.pi * 220 * i / 24_000)) for i in range(SAMPLES)),
    )
    return tone, b"\x00\x00" * SAMPLES


async def churn(base_url: str, n: int) -> None:
    """Open and close `n` short sessions (one text turn each): closed connections pile up in an
    emulator that remembers them all."""
    for _ in range(n):
        rt = await AsyncOpenAIRealtimeWS.create(base_url=base_url, api_key="sk-soak", model="gpt-realtime")
        rt.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
                 "content": [{"type": "input_text", "text": "a short visit"}]}})
        rt.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        await rt.wait_for("response.done", timeout=10)
        await rt.close()


async def soak(minutes: int, base_url: str, server_pid: int, churn_per_minute: int = 0) -> list[int]:
    rt = await AsyncOpenAIRealtimeWS.create(
        base_url=base_url,
        api_key="sk-soak",
        model="gpt-realtime",
        reconnect=ReconnectPolicy(restore="session"),
    )
    counts = {"events": 0, "audio_bytes": 0, "responses": 0, "errors": 0}

    def on_event(e: object) -> None:
        counts["events"] += 1

    def on_audio(e: object) -> None:
        counts["audio_bytes"] += len(getattr(e, "delta", ""))

    def on_done(e: object) -> None:
        counts["responses"] += 1

    def on_error(e: object) -> None:
        counts["errors"] += 1

    rt.on("event", on_event)
    rt.on("response.output_audio.delta", on_audio)
    rt.on("response.done", on_done)
    rt.on("error", on_error)
    await asyncio.sleep(0.1)
    speech, silence = make_chunks()
    per_minute = 60_000 // CHUNK_MS  # 3000 chunks
    pattern = [speech] * 50 + [silence] * 50  # 1 s of speech, 1 s of silence
    print(
        f"{'sim min':>7} {'wall s':>7} {'client RSS MiB':>15} {'emulator RSS MiB':>17} "
        f"{'events':>9} {'responses':>9} {'audio MB in':>11} {'queued':>7}"
    )
    start = time.perf_counter()
    baseline = rss_kib()
    server_rss: list[int] = []
    sent = 0
    for minute in range(1, minutes + 1):
        for _ in range(per_minute):
            rt.send_audio(pattern[sent % len(pattern)])
            sent += 1
            if sent % 50 == 0:
                # let the loop read server events; a real app would pace at 20 ms per chunk
                await asyncio.sleep(0)
                await rt.drain()
        if churn_per_minute:
            await churn(base_url, churn_per_minute)
        await asyncio.sleep(0.05)
        server_rss.append(rss_kib(server_pid))
        print(
            f"{minute:>7} {time.perf_counter() - start:>7.1f} {rss_kib() / 1024:>15.1f} "
            f"{rss_kib(server_pid) / 1024:>17.1f} {counts['events']:>9} {counts['responses']:>9} "
            f"{counts['audio_bytes'] * 3 / 4 / 1e6:>11.1f} {rt.outbound_bytes:>7}",
            flush=True,
        )
    growth = (rss_kib() - baseline) / 1024
    await rt.close()
    print(
        f"\nsent {sent} chunks ({sent * CHUNK_MS / 60000:.0f} simulated minutes) in "
        f"{time.perf_counter() - start:.1f} s; client RSS growth {growth:+.1f} MiB; "
        f"reconnects {rt.reconnects}; errors {counts['errors']}"
    )
    return server_rss


def flatness(server_rss: list[int], warmup: int) -> tuple[float, float, float]:
    """(RSS at the end of the warm-up, RSS at the end, growth %) of the emulator, in MiB."""
    first = server_rss[min(warmup, len(server_rss)) - 1]
    last = server_rss[-1]
    return first / 1024, last / 1024, (last - first) / first * 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=int, default=60, help="simulated minutes (default 60)")
    parser.add_argument("--quick", action="store_true", help="3 simulated minutes")
    parser.add_argument("--churn", type=int, default=20, metavar="N",
                        help="also open and close N short sessions per simulated minute (default 20)")
    parser.add_argument("--warmup", type=int, default=5,
                        help="simulated minutes before the flatness baseline (default 5)")
    parser.add_argument("--emulator-src", metavar="DIR",
                        help="run the emulator from this source tree (e.g. an older checkout's src/, "
                             "for before/after figures)")
    parser.add_argument("--record-all", action="store_true",
                        help="emulator keeps every client event (--record 0) and every item's audio")
    args = parser.parse_args()
    os.environ.pop("OPENAI_API_KEY", None)
    cmd = [sys.executable, "-m", "openai_realtime_ws.emulator", "--speed", "0"]
    if args.record_all:
        cmd += ["--record", "0", "--item-audio-mib", "0"]
    env = dict(os.environ)
    if args.emulator_src:
        env["PYTHONPATH"] = os.path.abspath(args.emulator_src)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    minutes = 3 if args.quick else args.minutes
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        server_rss = asyncio.run(soak(minutes, base_url, proc.pid, args.churn))
    finally:
        proc.terminate()
        proc.wait(10)
    warmup = min(args.warmup, max(1, minutes - 1))
    first, last, growth = flatness(server_rss, warmup)
    verdict = "flat" if abs(growth) <= 10 else "NOT flat"
    print(f"emulator RSS {first:.1f} MiB after {warmup} simulated min -> {last:.1f} MiB after {minutes}: "
          f"{growth:+.1f}% ({verdict} within 10%)")
    if abs(growth) > 10:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
