# Emit-rate benchmark: how many server events per second the emulator puts on a socket.
#
#     python -m tests.emulator.bench_emit [N] [--repeat K] [--transport plain|tls|both]
#                                         [--modes inject,inject-str,inject-dict,reply]
#
# The emulator runs in a child process; this process is a picows client that only counts frames
# (no parsing), on the other core, so the figures are the emulator's emit rate. Paths measured:
#
# * inject       `Emulator.inject(conn, frames)` of N pre-encoded `bytes` frames (20 ms audio
#                deltas of 1.4 KB, like a real stream);
# * inject-str   the same frames as `str`;
# * inject-dict  the same events as dicts (msgspec-encoded by the emulator, event_id kept);
# * reply        the default responder speaking a long user text at `speed=0` with 20 ms audio
#                chunks: the whole session/response machinery (~N events: audio + transcript
#                deltas + the item/part/response events).
#
# Each mode runs on one connection: one untimed warm-up, then K timed runs, from sending the
# trigger until the last frame was counted. Shown: best and median events/s, and the CPU per event
# of the server (from /proc, 10 ms ticks) and of this counting client in the best run (when the
# client's is close to the wall time per event, the client is the limit, not the emulator).
from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import statistics
import subprocess
import sys
import time
from pathlib import Path

import picows

CHILD = r"""
import asyncio, base64, sys
import msgspec
from openai_realtime_ws.emulator import Emulator, EmulatorConfig
N, MODE, TLS = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "tls"
DELTA = {"type": "response.output_audio.delta", "event_id": "event_BenchEmit000000000000",
         "response_id": "resp_BenchEmit0000000000001", "item_id": "item_BenchEmit0000000000001",
         "output_index": 0, "content_index": 0, "delta": base64.b64encode(bytes(960)).decode()}
ENCODED = msgspec.json.encode(DELTA)
FRAMES = {"inject": [ENCODED] * N, "inject-str": [ENCODED.decode()] * N, "inject-dict": [DELTA] * N}.get(MODE)
async def main():
    emu = Emulator(tls=TLS, config=EmulatorConfig(speed=0, audio_chunk_ms=20, record_received=False))
    tasks = set()
    if FRAMES is not None:
        # input_audio_buffer.clear -> the emulator sends `cleared` (seen here), then we inject N
        def observe(event):
            if event.get("type") == "input_audio_buffer.cleared":
                task = asyncio.get_running_loop().create_task(emu.inject(emu.connections[-1], FRAMES))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        emu.config.frame_observer = observe
    async with emu:
        print(emu.ws_url, flush=True)
        print(emu.ca_file or "", flush=True)
        await asyncio.Event().wait()
asyncio.run(main())
"""

MODES = ("inject", "inject-str", "inject-dict", "reply")
WORDS = "the quick brown fox jumps over the lazy dog "  # 44 chars, 9 words: ~141 events


class Counter(picows.WSListener):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.target = 0
        self.stop: bytes | None = None
        self.done: asyncio.Future[float] | None = None

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type is picows.WSMsgType.TEXT:
            self.count += 1
            done = self.done
            if done is not None and not done.done() and (
                    self.count == self.target
                    or (self.stop is not None and frame.get_payload_as_bytes().startswith(self.stop))):
                done.set_result(time.perf_counter())
        elif frame.msg_type is picows.WSMsgType.CLOSE:
            transport.disconnect()

    def arm(self, target: int = 0, stop: bytes | None = None) -> asyncio.Future[float]:
        self.count, self.target, self.stop = 0, target, stop
        self.done = asyncio.get_running_loop().create_future()
        return self.done


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _measure(url: str, ca: str | None, pid: int, mode: str, n: int, repeat: int) -> list[tuple[int, float, float, float]]:
    ctx = ssl.create_default_context(cafile=ca) if ca else None
    listener = Counter()
    first = listener.arm(1)
    transport, _ = await picows.ws_connect(lambda: listener, f"{url}?model=gpt-realtime", ssl_context=ctx,
                                           max_frame_size=64 * 1024 * 1024)
    await first  # session.created

    def send(text: str) -> None:
        transport.send(picows.WSMsgType.TEXT, text.encode())

    if mode == "reply":
        text = (WORDS * (n // 141 + 1))[: n * 44 // 141]
        ready = listener.arm(stop=b'{"type":"conversation.item.done"')
        send('{"type":"conversation.item.create","item":{"type":"message","role":"user",'
             f'"content":[{{"type":"input_text","text":"{text}"}}]}}}}')
        await ready
    runs: list[tuple[int, float, float, float]] = []
    for i in range(repeat + 1):
        if mode == "reply":
            done = listener.arm(stop=b'{"type":"rate_limits.updated"')
            trigger = '{"type":"response.create"}'
        else:
            done = listener.arm(n + 1)  # input_audio_buffer.cleared + the n injected frames
            trigger = '{"type":"input_audio_buffer.clear"}'
        cpu0, ccpu0 = _cpu(pid), time.process_time()
        t0 = time.perf_counter()
        send(trigger)
        t1 = await done
        if i:  # run 0 warms up
            runs.append((listener.count, t1 - t0, _cpu(pid) - cpu0, time.process_time() - ccpu0))
        await asyncio.sleep(0.05)
    transport.send_close(picows.WSCloseCode.OK)
    transport.disconnect()
    return runs


def run(n: int, mode: str, tls: bool, repeat: int) -> list[tuple[int, float, float, float]]:
    """K timed runs of one mode against a fresh emulator process: (events, seconds, server CPU s, client CPU s)."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(n), mode, "tls" if tls else "plain"],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    url = child.stdout.readline().strip()
    ca = child.stdout.readline().strip() or None
    try:
        return asyncio.run(_measure(url, ca, child.pid, mode, n, repeat))
    finally:
        child.terminate()
        child.wait(10)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="The emulator's emit rate (see the module comment).")
    p.add_argument("events", nargs="?", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--transport", choices=("plain", "tls", "both"), default="both")
    p.add_argument("--modes", default="inject,reply", help=f"comma-separated subset of {','.join(MODES)}")
    args = p.parse_args(argv)
    transports = ("plain", "tls") if args.transport == "both" else (args.transport,)
    print(f"# {args.events:,} events, best / median of {args.repeat}; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for transport in transports:
        for mode in args.modes.split(","):
            runs = run(args.events, mode, transport == "tls", args.repeat)
            rates = [r[0] / r[1] for r in runs]
            ev, _, cpu, ccpu = max(runs, key=lambda r: r[0] / r[1])
            print(f"{transport:5s} {mode:11s}: {ev:,} events, best {max(rates):>11,.0f}/s, "
                  f"median {statistics.median(rates):>11,.0f}/s, CPU µs/event: server {cpu / ev * 1e6:.2f}, "
                  f"client {ccpu / ev * 1e6:.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
