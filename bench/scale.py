"""Many live voice calls in one client process, on one core: memory, CPU and latency per N.

    .venv/bin/python bench/scale.py                       # 100,200,500,1000 sessions, 3 clients
    .venv/bin/python bench/scale.py --sizes 100,1000,2000 --clients ours,picows
    .venv/bin/python bench/scale.py --processes 2 --sizes 1000   # spread over 2 processes
    .venv/bin/python bench/scale.py --idle-tls 200                 # idle memory per TLS session
    .venv/bin/python bench/scale.py --profile 200                  # py-spy profiles at N
    .venv/bin/python bench/scale.py --pacer shared                 # one send timer for all sessions

Each session is a live voice call: the client sends a 20 ms ``input_audio_buffer.append`` (960
bytes of PCM16, base64 on the way) every 20 ms from one task per session, and the server
(bench/_scale_server.py, a separate picows process pinned to the other core) sends one 20 ms
``response.output_audio.delta`` every 20 ms per session, with its ``time.monotonic_ns()`` in the
``event_id``. The client only has a handler for the deltas (no iteration), which records the
latency from the server's timestamp to the handler in a fixed histogram. Each (client, N) runs in
a fresh client process pinned to one core (``os.sched_setaffinity``), so RSS and CPU are its own.

Printed per N and client: RSS per session (RSS after connecting and warming up, minus RSS before
connecting, over N), client CPU (% of its one core), p50/p99/max handler latency, p99 lateness of
the send loop (how late each 20 ms send was against its schedule), the share of the expected
deltas that arrived, and the server's CPU. Clients:

* ``ours``:   AsyncOpenAIRealtimeWS, ``rt.on("response.output_audio.delta", handler)``,
  ``rt.send_audio(pcm)``;
* ``picows``: bare picows + msgspec: one typed decode (the same ServerEvent union) and a dict
  lookup per frame, ``transport.send(TEXT, encode({... "audio": pcm}))``, picows' own keepalive;
* ``openai``: openai-python ``AsyncOpenAI().realtime.connect()``, one ``async for`` task per
  session, ``await conn.input_audio_buffer.append(audio=b64)``; run only at ``--openai-sizes``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import json
import os
import subprocess
import sys
import time
from array import array
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _benchlib import ServerProcess, machine, render_table, versions

BENCH_DIR = Path(__file__).resolve().parent
SCALE_SERVER = BENCH_DIR / "_scale_server.py"
API_KEY = "sk-bench-scale-0000000000"
PCM_20MS = bytes(range(256)) * 3 + bytes(192)  # 960 bytes: 20 ms of 24 kHz PCM16 mono
DELTA = "response.output_audio.delta"
MEMORY_GUARD = 4 * 2**30  # a worker above this RSS stops (the machine is shared)


# ----------------------------------------------------------------------------- measurement


class Histogram:
    """Latencies in µs: 10 µs buckets below 10 ms, 1 ms buckets up to 10 s (fixed memory)."""

    __slots__ = ("coarse", "count", "fine", "max")

    def __init__(self) -> None:
        self.fine = array("q", bytes(8 * 1000))
        self.coarse = array("q", bytes(8 * 10_000))
        self.count = 0
        self.max = 0

    def add(self, us: int) -> None:
        if us < 0:
            us = 0
        if us < 10_000:
            self.fine[us // 10] += 1
        else:
            self.coarse[min(us // 1000, 9_999)] += 1
        if us > self.max:
            self.max = us
        self.count += 1

    def reset(self) -> None:
        for a in (self.fine, self.coarse):
            for i in range(len(a)):
                a[i] = 0
        self.count = self.max = 0

    def quantile(self, q: float) -> float:
        """Upper bound of the bucket holding quantile ``q``, in ms."""
        if not self.count:
            return float("nan")
        rank = q * self.count
        seen = 0
        for i, c in enumerate(self.fine):
            seen += c
            if seen >= rank:
                return (i + 1) * 10 / 1000
        for i, c in enumerate(self.coarse):
            seen += c
            if seen >= rank:
                return float(i + 1)
        return self.max / 1000


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


@contextlib.contextmanager
def server_process(*, tls: bool, cpu: int | None) -> Iterator[ServerProcess]:
    """bench/_scale_server.py in its own process (pinned to ``cpu``); its first two stdout lines
    are the base URL and the CA file."""
    cmd = [sys.executable, str(SCALE_SERVER)] + (["--tls"] if tls else [])
    if cpu is not None:
        cmd += ["--cpu", str(cpu)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=BENCH_DIR.parent)
    try:
        assert proc.stdout is not None
        url, ca = proc.stdout.readline().strip(), proc.stdout.readline().strip()
        if not url:
            raise RuntimeError(f"the scale server did not start (exit code {proc.poll()})")
        yield ServerProcess(url, ca or None, proc)  # type: ignore[arg-type]
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ----------------------------------------------------------------------------- clients

Handler = Callable[[Any], None]


async def open_ours(url: str, ca: str | None, n: int, on_delta: Handler, tls: bool) -> tuple[
    list[Callable[[], None]], Callable[[], Awaitable[None]]
]:
    import ssl

    from openai_realtime_ws import AsyncOpenAIRealtimeWS

    base = url
    ctx = ssl.create_default_context(cafile=ca) if ca else None
    sessions: list[Any] = []

    async def one() -> None:
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=base, model="gpt-realtime", api_key=API_KEY, ssl=ctx
        )
        rt.on(DELTA, on_delta)
        sessions.append(rt)

    await _in_batches(one, n)
    def sender(rt: Any) -> Callable[[], None]:
        def send() -> None:
            rt.send_audio(PCM_20MS)
        return send

    senders = [sender(rt) for rt in sessions]

    async def close() -> None:
        await asyncio.gather(*(rt.close() for rt in sessions), return_exceptions=True)

    return senders, close


async def open_picows(url: str, ca: str | None, n: int, on_delta: Handler, tls: bool) -> tuple[
    list[Callable[[], None]], Callable[[], Awaitable[None]]
]:
    import ssl

    import msgspec
    import picows

    from openai_realtime_ws.types import ServerEvent

    decode = msgspec.json.Decoder(ServerEvent).decode
    encode = msgspec.json.Encoder().encode
    ws_url = ("wss" if url.startswith("https") else "ws") + ":" + url.split(":", 1)[1]
    ws_url += "/realtime?model=gpt-realtime"
    ctx = ssl.create_default_context(cafile=ca) if ca else None
    text = picows.WSMsgType.TEXT
    handlers: dict[str, Handler] = {DELTA: on_delta}

    class Listener(picows.WSListener):
        def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
            if frame.msg_type is text:
                event = decode(frame.get_payload_as_memoryview())
                h = handlers.get(event.type)
                if h is not None:
                    h(event)
            elif frame.msg_type is picows.WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()

    transports: list[Any] = []

    async def one() -> None:
        tr, _ = await picows.ws_connect(
            Listener, ws_url, ssl_context=ctx,
            extra_headers={"Authorization": f"Bearer {API_KEY}"},
            enable_auto_ping=True, auto_ping_idle_timeout=20.0, auto_ping_reply_timeout=20.0,
        )
        transports.append(tr)

    await _in_batches(one, n)

    def sender(tr: Any) -> Callable[[], None]:
        def send() -> None:
            tr.send(text, encode({"type": "input_audio_buffer.append", "audio": PCM_20MS}))
        return send

    async def close() -> None:
        for tr in transports:
            tr.send_close(picows.WSCloseCode.OK)
            tr.disconnect()

    return [sender(tr) for tr in transports], close


async def open_openai(url: str, ca: str | None, n: int, on_delta: Handler, tls: bool) -> tuple[
    list[Callable[[], None]], Callable[[], Awaitable[None]]
]:
    import ssl

    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key=API_KEY, base_url=url)
    options: dict[str, Any] = {}
    if ca:
        options["ssl"] = ssl.create_default_context(cafile=ca)
    conns: list[Any] = []
    readers: list[asyncio.Task[None]] = []

    async def read(conn: Any) -> None:
        async for event in conn:
            if event.type == DELTA:
                on_delta(event)

    async def one() -> None:
        manager = client.realtime.connect(model="gpt-realtime", websocket_connection_options=options)  # type: ignore[arg-type]
        conn = await manager.enter()
        conns.append(conn)
        readers.append(asyncio.get_running_loop().create_task(read(conn)))

    await _in_batches(one, n)
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[None]] = set()

    def sender(conn: Any) -> Callable[[], None]:
        def send() -> None:
            # openai-python's send is a coroutine: each 20 ms chunk is its own task
            t = loop.create_task(
                conn.input_audio_buffer.append(audio=base64.b64encode(PCM_20MS).decode())
            )
            pending.add(t)
            t.add_done_callback(pending.discard)
        return send

    async def close() -> None:
        for r in readers:
            r.cancel()
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)

    return [sender(c) for c in conns], close


OPENERS = {"ours": open_ours, "picows": open_picows, "openai": open_openai}


async def _in_batches(one: Callable[[], Awaitable[None]], n: int, batch: int = 50) -> None:
    done = 0
    while done < n:
        k = min(batch, n - done)
        await asyncio.gather(*(one() for _ in range(k)))
        done += k


# ----------------------------------------------------------------------------- one client run


async def live(
    kind: str, url: str, ca: str | None, n: int, warmup: float, duration: float, pacing: str = "task"
) -> dict[str, Any]:
    hist = Histogram()
    late = Histogram()
    mono_ns = time.monotonic_ns

    def on_delta(event: Any) -> None:
        hist.add((mono_ns() - int(event.event_id[1:])) // 1000)

    gc.collect()
    rss0 = rss_bytes()
    senders, close = await OPENERS[kind](url, ca, n, on_delta, ca is not None)
    loop = asyncio.get_running_loop()
    stop = False
    t_start = loop.time() + 0.05
    sent = [0]

    async def pump(send: Callable[[], None], phase: float) -> None:
        due = t_start + phase
        while not stop:
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            late.add(int((loop.time() - due) * 1e6))
            send()
            sent[0] += 1
            due += 0.020

    pumps: list[asyncio.Task[None]] = []
    pacer = None
    if pacing == "shared":  # one timer for every session (openai_realtime_ws.scale.Pacer)
        from openai_realtime_ws.scale import Pacer

        pacer = Pacer(0.020)

        def paced(send: Callable[[], None]) -> Callable[[float], None]:
            def tick(due: float) -> None:
                late.add(int((loop.time() - due) * 1e6))
                send()
                sent[0] += 1
            return tick

        for s in senders:
            pacer.add(paced(s))
    else:  # one task per session, each sleeping until its next 20 ms
        pumps = [loop.create_task(pump(s, 0.020 * i / n)) for i, s in enumerate(senders)]

    async def guard() -> None:  # a client that falls behind queues without end: stop at 4 GiB
        while rss_bytes() < MEMORY_GUARD:
            await asyncio.sleep(0.5)
        print(json.dumps({"error": "memory guard", "kind": kind, "n": n}), flush=True)
        os._exit(3)

    guard_task = loop.create_task(guard())
    await asyncio.sleep(warmup)
    hist.reset()
    late.reset()
    sent[0] = 0
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    await asyncio.sleep(duration)
    cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - wall0
    received = hist.count
    result = {
        "kind": kind, "n": n, "rss_per_session_kb": (rss_bytes() - rss0) / n / 1024,
        "rss_mb": rss_bytes() / 2**20, "cpu_pct": cpu / wall * 100,
        "p50_ms": hist.quantile(0.50), "p99_ms": hist.quantile(0.99), "max_ms": hist.max / 1000,
        "late_p99_ms": late.quantile(0.99), "delivered_pct": received / (n * 50 * wall) * 100,
        "cpu_us_per_event": cpu / max(1, received + sent[0]) * 1e6,
    }
    stop = True
    guard_task.cancel()
    if pacer is not None:
        pacer.close()
    for p in pumps:
        p.cancel()
    await asyncio.gather(*pumps, return_exceptions=True)
    try:
        await asyncio.wait_for(close(), 10)
    except Exception:
        pass
    return result


async def idle(kind: str, url: str, ca: str | None, n: int) -> dict[str, Any]:
    gc.collect()
    rss0 = rss_bytes()
    _senders, close = await OPENERS[kind](url, ca, n, lambda e: None, ca is not None)
    await asyncio.sleep(1.0)
    gc.collect()
    result = {"kind": kind, "n": n, "idle_kb": (rss_bytes() - rss0) / n / 1024}
    try:
        await asyncio.wait_for(close(), 10)
    except Exception:
        pass
    return result


def worker(args: argparse.Namespace) -> None:
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    # import everything before the baseline RSS
    import msgspec  # noqa: F401
    import picows  # noqa: F401

    import openai_realtime_ws  # noqa: F401
    if args.worker == "openai":
        import openai
        import openai.resources.realtime  # noqa: F401
        import websockets.asyncio.client  # noqa: F401
    if args.idle:
        out = asyncio.run(idle(args.worker, args.url, args.ca or None, args.n))
    else:
        out = asyncio.run(live(args.worker, args.url, args.ca or None, args.n, args.warmup,
                               args.duration, args.pacer))
    print(json.dumps(out), flush=True)


# ----------------------------------------------------------------------------- driver


def run_worker(kind: str, url: str, ca: str | None, n: int, args: argparse.Namespace,
               *, cpu: int | None, idle_run: bool = False, profile: str | None = None) -> subprocess.Popen[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--url", url,
           "--ca", ca or "", "--n", str(n), "--warmup", str(args.warmup),
           "--duration", str(args.duration), "--pacer", args.pacer]
    if cpu is not None:
        cmd += ["--cpu", str(cpu)]
    if idle_run:
        cmd.append("--idle")
    if profile:
        cmd = [str(Path(sys.executable).with_name("py-spy")), "record", "-o", profile, "-f", "raw",
               "-r", "200", "--nonblocking", "--", *cmd]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=BENCH_DIR.parent)


def collect(procs: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    out = []
    for p in procs:
        stdout, _ = p.communicate(timeout=600)
        lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
        if p.returncode != 0 or not lines:
            error = json.loads(lines[-1]).get("error") if lines else None
            out.append({"error": error or f"exit {p.returncode}"})
        else:
            out.append(json.loads(lines[-1]))
    return out


def node_idle(base_url: str, ca_file: str | None, n: int, cpu: int | None) -> tuple[float | None, str]:
    """openai-node's idle KB per TLS session (bench/_idle_node.mjs), or (None, why not)."""
    import shutil
    import tempfile

    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        return None, "node/npm not installed"
    with tempfile.TemporaryDirectory(prefix="scale-node-") as tmp:
        inst = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", tmp, "openai", "ws"],
                              capture_output=True, text=True, timeout=300)
        if inst.returncode != 0:
            return None, "npm install openai ws failed: " + (inst.stderr.strip().splitlines() or ["?"])[-1]
        shutil.copy(BENCH_DIR / "_idle_node.mjs", Path(tmp) / "idle_node.mjs")
        env = {**os.environ, "NODE_EXTRA_CA_CERTS": ca_file or ""}
        cmd = [node, "--expose-gc", "idle_node.mjs", base_url, str(n)]
        if cpu is not None:
            cmd = ["taskset", "-c", str(cpu), *cmd] if shutil.which("taskset") else cmd
        run = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=300)
        lines = [ln for ln in run.stdout.splitlines() if ln.startswith("{")]
        if run.returncode != 0 or not lines:
            return None, "node run failed: " + (run.stderr.strip().splitlines() or ["?"])[-1]
        version = json.loads((Path(tmp) / "node_modules/openai/package.json").read_text())["version"]
        return float(json.loads(lines[-1])["idle_kb"]), f"openai-node {version}, node {run_node_version(node)}"


def run_node_version(node: str) -> str:
    return subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()


def profile_summary(path: str, top: int = 15) -> str:
    """The busiest functions of a py-spy raw profile, as a share of the samples in which the loop
    was not waiting in ``epoll`` (self time, and inclusive time)."""
    from collections import Counter

    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    busy = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if "select (selectors.py" in frames[-1]:
            continue
        n = int(count)
        busy += n
        own[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    lines = [f"busy samples: {busy}", "self:"]
    lines += [f"  {c / busy * 100:5.1f}%  {f}" for f, c in own.most_common(top)]
    lines.append("inclusive (library and benchmark frames):")
    skip = ("<module>", "main (", "worker (", "run (", "run_forever", "run_until_complete",
            "Runner.run", "_run_once", "Handle._run")
    picked = [(f, c) for f, c in incl.most_common(top * 3) if not any(k in f for k in skip)]
    lines += [f"  {c / busy * 100:5.1f}%  {f}" for f, c in picked[:top]]
    return "\n".join(lines)


def fmt(x: Any, spec: str = ".2f") -> str:
    if not isinstance(x, int | float) or x != x:
        return "-"
    return format(x, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--sizes", default="100,200,500,1000")
    ap.add_argument("--clients", default="ours,picows,openai")
    ap.add_argument("--openai-sizes", default="10,20,50")
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--tls", action="store_true", help="live runs over TLS")
    ap.add_argument("--pacer", choices=("task", "shared"), default="task",
                    help="send loop: one task per session (default) or one shared timer (scale.Pacer)")
    ap.add_argument("--processes", type=int, default=1,
                    help="spread each N over this many client processes (one core each)")
    ap.add_argument("--idle-tls", type=int, default=0, metavar="N",
                    help="instead: idle memory per open TLS session, N sessions per client")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="instead: py-spy profile of each client at N sessions, summarised")
    # worker mode (internal)
    ap.add_argument("--worker", default=None)
    ap.add_argument("--url", default="")
    ap.add_argument("--ca", default="")
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--cpu", type=int, default=None)
    ap.add_argument("--idle", action="store_true")
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return

    cpus = sorted(os.sched_getaffinity(0))
    # the server on the last CPU, clients on the others; with more client processes than the
    # other CPUs can hold, everything shares every CPU (the server unpinned)
    server_cpu = cpus[-1] if len(cpus) > 1 and args.processes < len(cpus) else None
    client_cpus = [c for c in cpus if c != server_cpu] or cpus
    print(f"# bench/scale.py: {machine()}; {versions()}")
    print(f"# load average at start: {open('/proc/loadavg').read().split()[:3]}")
    clients = args.clients.split(",")

    if args.idle_tls:
        rows = []
        with server_process(tls=True, cpu=server_cpu) as srv:
            for kind in clients:
                (r,) = collect([run_worker(kind, srv.base_url, srv.ca_file, args.idle_tls, args,
                                           cpu=client_cpus[0], idle_run=True)])
                rows.append([kind, str(args.idle_tls), fmt(r.get("idle_kb"), ".1f"), ""])
            kb, note = node_idle(srv.base_url, srv.ca_file, args.idle_tls, client_cpus[0])
            rows.append(["openai-node", str(args.idle_tls) if kb is not None else "-",
                         fmt(kb, ".1f"), note])
        print(render_table(["client", "idle TLS sessions", "KB per session", "note"], rows))
        return

    if args.profile:
        for kind in clients:
            if kind == "openai":
                continue
            out = str(BENCH_DIR / f"scale-profile-{kind}-{args.profile}.txt")
            with server_process(tls=args.tls, cpu=server_cpu) as srv:
                (r,) = collect([run_worker(kind, srv.base_url, srv.ca_file, args.profile, args,
                                           cpu=client_cpus[0], profile=out)])
            print(f"## {kind}, {args.profile} sessions: {json.dumps(r)}")
            print(profile_summary(out))
            Path(out).unlink(missing_ok=True)
        return

    rows = []
    with server_process(tls=args.tls, cpu=server_cpu) as srv:
        for kind in clients:
            sizes = args.openai_sizes if kind == "openai" else args.sizes
            for n in (int(s) for s in sizes.split(",")):
                k = max(1, args.processes)
                per = [n // k + (1 if i < n % k else 0) for i in range(k)]
                cpu_s0 = srv.cpu_seconds()
                t0 = time.perf_counter()
                procs = [run_worker(kind, srv.base_url, srv.ca_file, m, args,
                                    cpu=client_cpus[i % len(client_cpus)]) for i, m in enumerate(per)]
                results = collect(procs)
                server_pct = (srv.cpu_seconds() - cpu_s0) / (time.perf_counter() - t0) * 100
                if any("error" in r for r in results):
                    why = next(r["error"] for r in results if "error" in r)
                    rows.append([kind, str(n), f"failed: {why}", *["-"] * 9])
                    continue
                w = [m / n for m in per]
                rows.append([
                    kind + (f" x{k} proc" if k > 1 else "")
                    + (" (shared pacer)" if args.pacer == "shared" else ""), str(n),
                    fmt(sum(r["rss_per_session_kb"] * wi for r, wi in zip(results, w, strict=True)), ".0f"),
                    " / ".join(fmt(r["cpu_pct"], ".0f") for r in results),
                    fmt(sum(r["cpu_us_per_event"] * wi for r, wi in zip(results, w, strict=True)), ".1f"),
                    fmt(max(r["p50_ms"] for r in results)),
                    fmt(max(r["p99_ms"] for r in results)),
                    fmt(max(r["max_ms"] for r in results), ".1f"),
                    fmt(max(r["late_p99_ms"] for r in results)),
                    fmt(min(r["delivered_pct"] for r in results), ".1f"),
                    fmt(server_pct, ".0f"),
                ])
                print(f"  {kind} n={n}: {results}", file=sys.stderr, flush=True)
    print(render_table(
        ["client", "sessions", "KB/session", "client CPU %", "CPU µs/event", "p50 ms", "p99 ms", "max ms",
         "send late p99 ms", "delivered %", "server CPU %*"],
        rows,
    ))
    print("CPU µs/event: the client's CPU time over the events it handled and sent (both directions);")
    print("client CPU %: the share of its one core it got (on a loaded machine, less than it wanted).")
    print("* the server's CPU over the whole run (connect, warm-up, measure, close), not the window")


if __name__ == "__main__":
    main()
