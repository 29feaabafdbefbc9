"""The browser relay under load, side by side with two other relays in ONE run: N concurrent
browser-like sessions (20 ms of audio up every 20 ms, 20 ms audio deltas down) straight to the
emulator, and through each relay in turn:

* ``ours``: ``openai-realtime-ws relay`` (the ASGI app under uvicorn: policy, limits, upstream
  reconnection);
* ``ours-fast``: ``openai-realtime-ws relay --fast`` (relay.fast: the same policy and limits on
  picows both ways, frames forwarded as they are, no upstream reconnection);
* ``bare``: ``bench/relay_forwarder.py``, a bare picows forwarder (frames byte for byte, nothing
  else): the floor for a Python relay;
* ``node``: ``bench/relay_node/relay.mjs``, a minimal Node ``ws`` relay that parses and
  re-serialises every event (openai-realtime-console's relay shape); skipped without ``node``
  or without ``npm install`` in bench/relay_node.

Printed per session count: the round trip of a control event (``input_audio_buffer.clear`` →
``input_audio_buffer.cleared``, one outstanding per session, every 500 ms; p50/p99 and what the
relay adds over direct), audio deltas reaching the clients per second, each relay's CPU time per
relayed event and the cores it used, and the machine's load average around each run.

    python bench/relay.py                          # 100 and 500 sessions, 5 s measured each
    python bench/relay.py --sessions 100 --seconds 10 --only ours,bare

The emulator, the relay and this load generator (aiohttp clients) are three processes; on a
machine with few cores they compete, so the latency figures are an upper bound on what a relay
adds. Figures and their conditions: docs/relay.md, "Performance".
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import os
import shutil
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


def _start(cmd: list[str], env: dict[str, str] | None = None,
           quiet: bool = False) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env,
                            stderr=subprocess.DEVNULL if quiet else None)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


HERE = Path(__file__).resolve().parent
RELAYS = {
    "ours": [sys.executable, "-m", "openai_realtime_ws.relay", "--port", "0", "--log-level", "error"],
    "ours-fast": [sys.executable, "-m", "openai_realtime_ws.relay", "--port", "0", "--fast"],
    "bare": [sys.executable, str(HERE / "relay_forwarder.py")],
    "node": ["node", str(HERE / "relay_node" / "relay.mjs")],
}


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


def _row(label: str, values: list[str]) -> str:
    return f"{label:36}" + "".join(f"{v:>12}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", default="100,500", help="session counts (comma-separated)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--only", default="ours,ours-fast,bare,node", help="relays to run")
    parser.add_argument("--ours", default="", help="extra arguments for our relay's command")
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds over all targets, interleaved (the figures are medians): "
                             "on a shared machine the load drifts between runs")
    args = parser.parse_args()
    # a saturated run makes asyncio log every send to a socket the far side dropped
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    names = [n for n in args.only.split(",") if n]
    if "node" in names and (shutil.which("node") is None or
                            not (HERE / "relay_node" / "node_modules" / "ws").exists()):
        print("node relay skipped: needs node and `npm install` in bench/relay_node")
        names.remove("node")
    emu, base_url = _start([sys.executable, "-m", "openai_realtime_ws.emulator", "--port", "0",
                            "--speed", "1", "--chunk-ms", "20", "--session-seconds", "3600"],
                           quiet=True)  # (it logs every connection a saturated client gave up)
    env = {**os.environ, "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "sk-bench"}
    cores = os.cpu_count()
    print(f"relay benchmark: {args.seconds:g} s measured per run, {cores} CPUs visible, "
          f"Python {sys.version.split()[0]}; relays: {', '.join(names)}")
    try:
        for sessions in [int(n) for n in args.sessions.split(",")]:
            runs: dict[str, list[dict[str, float]]] = {n: [] for n in ["direct", *names]}
            loads: list[float] = []
            direct_url = base_url.replace("http://", "ws://") + "/realtime?model=gpt-realtime"
            for _ in range(args.rounds):
                loads.append(os.getloadavg()[0])
                runs["direct"].append(asyncio.run(_run(direct_url, sessions, args.seconds, None)))
                for name in names:
                    cmd = RELAYS[name] + (args.ours.split() if name.startswith("ours") and args.ours
                                          else [])
                    proc, url = _start(cmd, env)
                    try:
                        loads.append(os.getloadavg()[0])
                        runs[name].append(asyncio.run(_run(
                            url.replace("http://", "ws://") + "realtime", sessions, args.seconds,
                            proc.pid)))
                    finally:
                        proc.terminate()
                        proc.wait(30)
            loads.append(os.getloadavg()[0])
            results = {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
                       for n, rs in runs.items()}
            cols = ["direct", *names]
            d = results["direct"]
            print(f"\n{sessions} sessions, medians of {args.rounds} interleaved rounds (1-min load "
                  f"average before each run: {', '.join(f'{x:.1f}' for x in loads)})")
            print(_row("", cols))
            for key, label in (("p50", "control round trip p50 (ms)"),
                               ("p99", "control round trip p99 (ms)")):
                print(_row(label, [f"{results[c][key]:.1f}" for c in cols]))
                print(_row(f"  added by the relay ({key})",
                           ["", *[f"{results[c][key] - d[key]:+.1f}" for c in names]]))
            for key, label in (("deltas_per_s", "audio deltas down per s"),
                               ("up_per_s", "events up per s"), ("failed", "failed sessions")):
                print(_row(label, [f"{results[c][key]:.0f}" for c in cols]))
            print(_row("relay CPU per relayed event (µs)",
                       ["", *[f"{results[c]['cpu_us_per_event']:.1f}" for c in names]]))
            print(_row("relay CPU used (cores)",
                       ["", *[f"{results[c]['cpu_share']:.2f}" for c in names]]))
            print(_row("relay memory per idle session (KiB)",
                       ["", *[f"{results[c]['rss_per_session_kib']:.0f}" for c in names]]))
            if "bare" in results:
                bare = results["bare"]
                for name in names:
                    if name != "bare":
                        print(f"{name} / bare: CPU per event x"
                              f"{results[name]['cpu_us_per_event'] / bare['cpu_us_per_event']:.2f}"
                              f", added p50 {results[name]['p50'] - d['p50']:+.1f} vs "
                              f"{bare['p50'] - d['p50']:+.1f} ms, added p99 "
                              f"{results[name]['p99'] - d['p99']:+.1f} vs "
                              f"{bare['p99'] - d['p99']:+.1f} ms")
    finally:
        emu.terminate()
        emu.wait(30)


if __name__ == "__main__":
    main()
