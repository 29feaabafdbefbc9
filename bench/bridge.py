"""The Twilio bridge's cost per call beside a bare picows bridge doing the same forwarding.

    python bench/bridge.py [--calls 10,50,100,200] [--seconds 3] [--warmup 3]
                           [--variants bare,picows,asgi]

Three processes besides this one, so that only the bridge's own CPU is counted:

* **upstream**: a picows server speaking enough of the Realtime protocol (``session.created``,
  then one ``response.output_audio.delta`` of 20 ms of μ-law, 216 base64 characters, every
  20 ms per session, from the session's first client frame; client frames are only counted).
  The first 8 bytes of each delta's audio are the upstream's ``time.monotonic()`` at sending.
* **callers**: N Twilio Media Streams callers (picows clients) that send ``connected``,
  ``start`` and then one ``media`` of 20 ms every 20 ms (connection ``k`` in millisecond slot
  ``k % 20``), echo every ``mark``, and measure each ``media`` they receive: lateness is the
  arrival time minus the upstream's send time (CLOCK_MONOTONIC is one clock for every process).
* **bridge**, one of: ``bare`` (picows server + picows client per call, ``json.loads`` each
  message and build the append / the ``media`` + ``mark`` with ``json.dumps``, one picows
  ``send`` per message: the forwarding with nothing else), ``bare1w`` (the same, with a chunk's
  ``media`` and ``mark`` in one socket write, as the standalone bridge writes them), ``picows`` (``TwilioBridge.serve()``, the standalone server),
  ``asgi`` (``TwilioBridge`` as an ASGI app under uvicorn). Both TwilioBridge variants use
  ``AsyncOpenAIRealtimeWS`` upstream with the full turn rules and checks.

``BRIDGE_UVICORN_WS=websockets-sansio`` runs the ASGI variant on uvicorn's other WebSocket
protocol (about 15 % less CPU per frame at 50 calls in one try, with a worse p99 lateness).
``BRIDGE_PROFILE=FILE`` writes a cProfile of the ``picows`` variant's bridge.

Bridge CPU is read from /proc over the measured window (after ``--warmup``) and divided by the
call-frames forwarded (one call-frame = 20 ms of one call: one caller ``media`` in, one assistant
delta out with its ``mark`` and the mark's echo). Every variant runs at each call count in the
same invocation, one after the other, so they share the machine's state.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).resolve()
FRAME = 160  # 20 ms of μ-law 8 kHz
PERIOD = 0.020


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------- upstream


async def run_upstream() -> None:
    import picows

    loop = asyncio.get_running_loop()
    sessions: list[Any] = []

    class Upstream(picows.WSListener):
        def on_ws_connected(self, transport: picows.WSTransport) -> None:
            self.transport = transport
            self.started = False
            self.slot = len(sessions) % 20
            sessions.append(self)
            transport.send(picows.WSMsgType.TEXT, json.dumps({
                "type": "session.created", "event_id": "e0", "session": {
                    "type": "realtime", "id": f"sess_{len(sessions)}", "model": "gpt-realtime",
                    "object": "realtime.session"}}).encode())

        def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
            if frame.msg_type == picows.WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()
                return
            if not self.started:
                self.started = True
                loop.call_later(self.slot / 1000, self.tick, loop.time() + self.slot / 1000)

        def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
            self.started = None  # type: ignore[assignment]

        def tick(self, due: float) -> None:
            if self.started is None or self.transport.is_disconnected:
                return
            audio = struct.pack("d", time.monotonic()) + b"\xff" * (FRAME - 8)
            self.transport.send(picows.WSMsgType.TEXT, (
                '{"type":"response.output_audio.delta","event_id":"ev","response_id":"resp_1",'
                '"item_id":"item_1","output_index":0,"content_index":0,"delta":"'
                + base64.b64encode(audio).decode() + '"}').encode())
            due += PERIOD
            loop.call_at(due, self.tick, due)

    server = await picows.ws_create_server(lambda request: Upstream(), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()


# ---------------------------------------------------------------------------------- callers


async def run_callers(url: str, calls: int, seconds: float, warmup: float) -> None:
    import picows

    loop = asyncio.get_running_loop()
    lateness: list[float] = []
    counts = {"media": 0, "marks": 0}
    measuring = False

    class Caller(picows.WSListener):
        sid = ""

        def on_ws_connected(self, transport: picows.WSTransport) -> None:
            self.transport = transport
            self.seq = 0

        def send(self, msg: dict[str, Any]) -> None:
            self.seq += 1
            msg["sequenceNumber"] = str(self.seq)
            self.transport.send(picows.WSMsgType.TEXT, json.dumps(msg).encode())

        def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
            # light parsing (this process must not be the bottleneck): find the fields by name
            if frame.msg_type != picows.WSMsgType.TEXT:
                return
            data = frame.get_payload_as_bytes()
            i = data.find(b'"payload"')
            if i >= 0:
                start = data.index(b'"', i + 10) + 1
                sent_at = struct.unpack("d", base64.b64decode(data[start:start + 12])[:8])[0]
                if measuring:
                    lateness.append(time.monotonic() - sent_at)
                    counts["media"] += 1
                return
            i = data.find(b'"name"')
            if i >= 0:  # a mark: Twilio echoes it once the audio before it has played
                start = data.index(b'"', i + 7) + 1
                name = data[start:data.index(b'"', start)]
                self.seq += 1
                transport.send(picows.WSMsgType.TEXT, b'{"event":"mark","sequenceNumber":"'
                               + str(self.seq).encode() + b'","streamSid":"' + self.sid.encode()
                               + b'","mark":{"name":"' + name + b'"}}')

    callers: list[Caller] = []
    for k in range(calls):
        _, listener = await picows.ws_connect(Caller, url)
        caller: Caller = listener  # type: ignore[assignment]
        caller.sid = f"MZ{k:032d}"
        caller.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        caller.send({"event": "start", "streamSid": caller.sid, "start": {
            "streamSid": caller.sid, "callSid": f"CA{k:032d}", "accountSid": "AC" + "0" * 32,
            "tracks": ["inbound"], "customParameters": {},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})
        callers.append(caller)
    payload = base64.b64encode(b"\xff" * FRAME).decode()
    t0 = loop.time()

    def tick(caller: Caller, n: int, due: float) -> None:
        caller.seq += 1
        caller.transport.send(picows.WSMsgType.TEXT, (
            f'{{"event":"media","sequenceNumber":"{caller.seq}","streamSid":"{caller.sid}",'
            f'"media":{{"track":"inbound","chunk":"{n}","timestamp":"{n * 20}",'
            f'"payload":"{payload}"}}}}').encode())
        loop.call_at(due + PERIOD, tick, caller, n + 1, due + PERIOD)

    for k, caller in enumerate(callers):
        due = t0 + (k % 20) / 1000
        loop.call_at(due, tick, caller, 1, due)
    await asyncio.sleep(warmup)
    print("measuring", flush=True)
    measuring = True
    await asyncio.sleep(seconds)
    measuring = False
    lateness.sort()
    n = len(lateness)

    def pct(p: float) -> float:
        return lateness[min(n - 1, int(p * n))] * 1000 if n else float("nan")

    print(json.dumps({"media": counts["media"], "p50_ms": pct(0.5), "p99_ms": pct(0.99),
                      "max_ms": lateness[-1] * 1000 if n else float("nan")}), flush=True)
    for caller in callers:
        caller.transport.send_close(picows.WSCloseCode.OK)
        caller.transport.disconnect()


# ---------------------------------------------------------------------------------- bridges


async def run_bare(upstream_port: int, one_write: bool = False) -> None:
    """The floor: the same forwarding with nothing else (no checks, no turn rules). With
    ``one_write`` a chunk's ``media`` and ``mark`` go out in one socket write, as the standalone
    bridge does."""
    import picows

    upstream_url = f"ws://127.0.0.1:{upstream_port}/v1/realtime?model=gpt-realtime"
    loop = asyncio.get_running_loop()

    class Up(picows.WSListener):
        def __init__(self, phone: Phone) -> None:
            self.phone = phone

        def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
            if frame.msg_type != picows.WSMsgType.TEXT:
                return
            event = json.loads(frame.get_payload_as_utf8_text())
            if event.get("type") == "response.output_audio.delta":
                phone = self.phone
                if phone.transport.is_disconnected:
                    return
                phone.seq += 1
                sid = phone.sid
                media = json.dumps({"event": "media", "streamSid": sid,
                                    "media": {"payload": event["delta"]}}).encode()
                mark = json.dumps({"event": "mark", "streamSid": sid,
                                   "mark": {"name": str(phone.seq)}}).encode()
                if one_write:
                    phone.transport.underlying_transport.write(_frame(media) + _frame(mark))
                else:
                    phone.transport.send(picows.WSMsgType.TEXT, media)
                    phone.transport.send(picows.WSMsgType.TEXT, mark)

    class Phone(picows.WSListener):
        def on_ws_connected(self, transport: picows.WSTransport) -> None:
            self.transport = transport
            self.up: picows.WSTransport | None = None
            self.sid = ""
            self.seq = 0

        def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
            if frame.msg_type != picows.WSMsgType.TEXT:
                return
            msg = json.loads(frame.get_payload_as_utf8_text())
            event = msg.get("event")
            if event == "media":
                if self.up is not None:
                    self.up.send(picows.WSMsgType.TEXT, json.dumps(
                        {"type": "input_audio_buffer.append", "audio": msg["media"]["payload"]}).encode())
            elif event == "start":
                self.sid = msg["start"]["streamSid"]
                self.opening = loop.create_task(self.open())

        def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
            if self.up is not None:
                self.up.send_close()
                self.up.disconnect()

        async def open(self) -> None:
            up, _ = await picows.ws_connect(lambda: Up(self), upstream_url,
                                            extra_headers={"Authorization": "Bearer sk-bench"})
            self.up = up

    server = await picows.ws_create_server(lambda request: Phone(), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()


def _frame(payload: bytes) -> bytes:
    """An unmasked text frame (RFC 6455 §5.2), for payloads under 64 KiB."""
    n = len(payload)
    return (bytes((0x81, n)) if n < 126 else struct.pack("!BBH", 0x81, 126, n)) + payload


def _bridge(upstream_port: int) -> Any:
    sys.path.insert(0, str(ROOT / "src"))
    from openai_realtime_ws import AsyncOpenAIRealtimeWS
    from openai_realtime_ws.telephony import TwilioBridge

    async def connect(start: Any) -> AsyncOpenAIRealtimeWS:
        return await AsyncOpenAIRealtimeWS.create(
            base_url=f"http://127.0.0.1:{upstream_port}/v1", api_key="sk-bench", model="gpt-realtime")

    return TwilioBridge(connect, auth_token="", greeting=None)


async def run_picows(upstream_port: int) -> None:
    bridge = _bridge(upstream_port)
    server = await bridge.serve("127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    profile = os.environ.get("BRIDGE_PROFILE")  # cProfile the bridge: stats to that file
    if profile:
        import cProfile

        with cProfile.Profile() as prof:
            await stop.wait()
        prof.dump_stats(profile)
        return
    await stop.wait()


def run_asgi(upstream_port: int) -> None:
    import socket

    import uvicorn

    bridge = _bridge(upstream_port)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    print(sock.getsockname()[1], flush=True)
    server = uvicorn.Server(uvicorn.Config(bridge, log_level="warning", lifespan="off",
                                           ws=os.environ.get("BRIDGE_UVICORN_WS", "auto")))
    server.run(sockets=[sock])


# ---------------------------------------------------------------------------------- driver


def _spawn(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, str(SCRIPT), *args], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def _stop(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def measure(variant: str, upstream_port: int, calls: int, seconds: float, warmup: float) -> dict[str, Any]:
    bridge, port = _spawn("--role", variant, "--upstream-port", str(upstream_port))
    callers: subprocess.Popen[str] | None = None
    try:
        callers = subprocess.Popen(
            [sys.executable, str(SCRIPT), "--role", "callers", "--url",
             f"ws://127.0.0.1:{port}/media-stream", "--calls", str(calls), "--seconds", str(seconds),
             "--warmup", str(warmup)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert callers.stdout is not None
        line = callers.stdout.readline()
        if line.strip() != "measuring":
            raise RuntimeError(f"callers failed: {line!r}")
        cpu0, t0 = _cpu_seconds(bridge.pid), time.monotonic()
        result = json.loads(callers.stdout.readline())
        cpu1, t1 = _cpu_seconds(bridge.pid), time.monotonic()
        callers.wait(10)
    finally:
        if callers is not None and callers.poll() is None:
            callers.kill()
            callers.wait()
        _stop(bridge)
    assert isinstance(result, dict)
    nominal = calls * (t1 - t0) / PERIOD
    frames = max(1, min(result["media"], nominal))  # forwarded call-frames (a bridge behind does less)
    result.update(variant=variant, calls=calls, cpu_s=cpu1 - cpu0, window_s=t1 - t0,
                  us_per_frame=(cpu1 - cpu0) / frames * 1e6, cpu_share=(cpu1 - cpu0) / (t1 - t0),
                  delivered=result["media"] / nominal)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", default="driver")
    parser.add_argument("--upstream-port", type=int)
    parser.add_argument("--url")
    parser.add_argument("--calls", default="10,50,100,200")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--variants", default="bare,bare1w,picows,asgi")
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs per variant and call count, alternating; the one with the lowest "
                             "p99 lateness (all frames delivered) counts")
    args = parser.parse_args()
    if args.role == "upstream":
        asyncio.run(run_upstream())
    elif args.role == "callers":
        asyncio.run(run_callers(args.url, int(args.calls), args.seconds, args.warmup))
    elif args.role == "bare":
        asyncio.run(run_bare(args.upstream_port))
    elif args.role == "bare1w":
        asyncio.run(run_bare(args.upstream_port, one_write=True))
    elif args.role == "picows":
        asyncio.run(run_picows(args.upstream_port))
    elif args.role == "asgi":
        run_asgi(args.upstream_port)
    else:
        drive(args)


def drive(args: argparse.Namespace) -> None:
    variants = args.variants.split(",")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}; load average before: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"window {args.seconds:.1f} s after {args.warmup:.1f} s warm-up per run; "
          "upstream, callers and bridge in separate processes on the same machine")
    upstream, port = _spawn("--role", "upstream")
    rows: list[dict[str, Any]] = []
    try:
        for calls in (int(c) for c in args.calls.split(",")):
            runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
            for _ in range(args.repeat):
                for variant in variants:
                    try:
                        r = measure(variant, int(port), calls, args.seconds, args.warmup)
                    except Exception as exc:  # the machine could not carry it (handshakes timed out)
                        print(f"  {variant:7s} {calls:4d} calls: failed ({type(exc).__name__}: {exc})",
                              flush=True)
                        r = {"variant": variant, "calls": calls, "us_per_frame": float("nan"),
                             "p99_ms": float("inf"), "p50_ms": float("inf"), "delivered": 0.0,
                             "cpu_share": float("nan")}
                    runs[variant].append(r)
                    print(f"  {variant:7s} {calls:4d} calls: {r['us_per_frame']:7.1f} µs/frame, "
                          f"CPU {r['cpu_share'] * 100:5.1f} %, lateness p50 {r['p50_ms']:.1f} ms "
                          f"p99 {r['p99_ms']:.1f} ms, delivered {r['delivered'] * 100:.0f} %, "
                          f"load {os.getloadavg()[0]:.1f}", flush=True)
            # the run that kept up best (a starved bridge does less and looks cheaper)
            rows += [min(rs, key=lambda r: (r["delivered"] < 0.95, r["p99_ms"])) for rs in runs.values()]
    finally:
        _stop(upstream)
    print()
    floors = [f for f in ("bare", "bare1w") if f in variants]
    ratios = [(v, f) for v in variants if not v.startswith("bare") for f in floors]
    header = "| calls | " + " | ".join(f"{v} µs/frame (p99 ms)" for v in variants)
    header += "".join(f" | {v}/{f}" for v, f in ratios)
    print(header + " |")
    print("|" + "---|" * (header.count("|") - 1))
    for calls in sorted({r["calls"] for r in rows}):
        by = {r["variant"]: r for r in rows if r["calls"] == calls}
        cells = [str(calls)]
        cells += [f"{by[v]['us_per_frame']:.0f} ({by[v]['p99_ms']:.0f})" for v in variants]
        cells += [f"{by[v]['us_per_frame'] / by[f]['us_per_frame']:.2f}x" for v, f in ratios]
        print("| " + " | ".join(cells) + " |")
    print()
    for v in variants:
        ok = [r for r in rows if r["variant"] == v and r["p99_ms"] < 20 and r["delivered"] > 0.95]
        best = max(ok, key=lambda r: r["calls"], default=None)
        if best is None:
            print(f"{v}: no call count kept p99 lateness < 20 ms")
            continue
        per_core = 1e6 / (best["us_per_frame"] * 50)
        print(f"{v}: p99 lateness < 20 ms up to {best['calls']} calls (the most tried that held); "
              f"at {best['us_per_frame']:.0f} µs/frame one core carries about {per_core:.0f} calls")


if __name__ == "__main__":
    main()
