"""Receive-flood benchmark: how fast each client turns server frames into typed events.

    .venv/bin/python bench/recv_flood.py            # 100_000 events, plain ws and TLS (~40 s)
    .venv/bin/python bench/recv_flood.py --quick    # 2_000 events, a few seconds
    .venv/bin/python bench/recv_flood.py --events 300000 --transport tls --repeat 3

Clients, one after another in this process, against the emulator in a separate process
(``bench/_flood_server.py``: ``Emulator.inject`` of the pre-encoded workload), so
``time.process_time()`` here is the client's CPU alone:

* ``ours: handler``    AsyncOpenAIRealtimeWS, typed events, one counting handler on
  ``response.output_audio.delta`` (+ one on ``response.done`` to know when to stop);
* ``ours: async for``  AsyncOpenAIRealtimeWS, ``async for event in rt``;
* ``openai-python``    ``AsyncOpenAI().realtime.connect()``, ``async for event in conn``
  (pydantic events);
* ``websockets+msgspec`` raw ``websockets`` client, ``recv(decode=False)`` decoded by
  ``msgspec.json.Decoder(ServerEvent)`` into our generated types;
* ``server emit``      a counting-only picows client (no JSON decoding): the server's emit
  rate, to show the server is not the limit.

A flood is asked for with ``input_audio_buffer.clear`` whose ``event_id`` is
``bench_flood_<n>``: the server answers ``input_audio_buffer.cleared``, then sends the first n
events of the workload (``_workload.py``: 200-event audio responses: 70 % 20 ms audio deltas, a
transcript delta every 3 audio deltas, a few text deltas, one ``response.done`` with full usage).
Latency: connect -> first event (``session.created``) over fresh connections, and request ->
first delta (the request sent -> first ``response.output_audio.delta`` in the consumer, behind
the ``cleared`` and 4 other events), median and p90.

``--server flood`` uses the bare picows flood server instead of the emulator (same protocol).
With the emulator, ``--emulator`` (on by default, ``--no-emulator`` skips it) also measures a
response the emulator generates itself (``response.create``: speed 0, 20 ms chunks, the
session/response machinery) with the counting client.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Final, cast

import msgspec
import picows

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchlib import (
    Clock,
    Row,
    Sample,
    ServerProcess,
    best,
    fmt_int,
    fmt_us,
    machine,
    median_ms,
    p90_ms,
    render_table,
    server_process,
    versions,
)
from _flood_server import FLOOD_PREFIX
from _workload import (
    AUDIO_TYPE,
    DONE_TYPE,
    FIRST_DELTA_INDEX,
    PERIOD,
    audio_per_period,
    encode_all,
    mix_summary,
    response_period,
)

from openai_realtime_ws import AsyncOpenAIRealtimeWS
from openai_realtime_ws.types import ResponseDoneEvent, ResponseOutputAudioDeltaEvent, ServerEvent

API_KEY: Final = "sk-bench-not-a-real-key"
AUDIO_PER_PERIOD: Final = audio_per_period()


CLEARED_TYPE: Final = "input_audio_buffer.cleared"


def create_event(n: int) -> dict[str, Any]:
    """The flood request: the server answers ``input_audio_buffer.cleared``, then n events."""
    return {"type": "input_audio_buffer.clear", "event_id": f"{FLOOD_PREFIX}{n}"}


class FloodClient(abc.ABC):
    """One client under test: connect, probe latency, consume floods."""

    name: str

    def __init__(self, server: ServerProcess) -> None:
        self.server = server

    @abc.abstractmethod
    async def connect(self) -> float:
        """Open a connection; seconds from starting to connect until the first event is read."""

    @abc.abstractmethod
    async def probe(self) -> float:
        """Seconds from sending response.create until the consumer has the first audio delta."""

    @abc.abstractmethod
    async def flood(self, responses: int) -> int:
        """Ask for ``responses`` whole responses and consume them; returns the events seen."""

    @abc.abstractmethod
    async def close(self) -> None: ...


class OursHandler(FloodClient):
    name = "ours: handler"

    def __init__(self, server: ServerProcess) -> None:
        super().__init__(server)
        self.rt: AsyncOpenAIRealtimeWS | None = None
        self.audio = 0
        self.done = 0
        self.want = 0
        self.finished: asyncio.Future[None] | None = None

    def on_audio(self, event: ResponseOutputAudioDeltaEvent) -> None:
        self.audio += 1

    def on_done(self, event: ResponseDoneEvent) -> None:
        self.done += 1
        if self.done == self.want and self.finished is not None and not self.finished.done():
            self.finished.set_result(None)

    async def connect(self) -> float:
        loop = asyncio.get_running_loop()
        first: asyncio.Future[float] = loop.create_future()
        t0 = time.perf_counter()
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=self.server.base_url, model="gpt-realtime", api_key=API_KEY,
            ssl=self.server.ssl_context(),
        )
        rt.once("session.created", lambda e: first.set_result(time.perf_counter()))
        rt.on(AUDIO_TYPE, self.on_audio)
        rt.on(DONE_TYPE, self.on_done)
        self.rt = rt
        return await first - t0

    async def probe(self) -> float:
        assert self.rt is not None
        t0 = time.perf_counter()
        self.rt.send(create_event(FIRST_DELTA_INDEX + 1))
        await self.rt.wait_for(AUDIO_TYPE)
        return time.perf_counter() - t0

    async def flood(self, responses: int) -> int:
        assert self.rt is not None
        self.audio = self.done = 0
        self.want = responses
        self.finished = asyncio.get_running_loop().create_future()
        self.rt.send(create_event(responses * PERIOD))
        await self.finished
        if self.audio != responses * AUDIO_PER_PERIOD:
            raise AssertionError(f"{self.name}: {self.audio} audio deltas, expected "
                                 f"{responses * AUDIO_PER_PERIOD}")
        return responses * PERIOD

    async def close(self) -> None:
        if self.rt is not None:
            await self.rt.close()


class OursIter(FloodClient):
    name = "ours: async for"

    def __init__(self, server: ServerProcess) -> None:
        super().__init__(server)
        self.rt: AsyncOpenAIRealtimeWS | None = None

    async def connect(self) -> float:
        t0 = time.perf_counter()
        self.rt = await AsyncOpenAIRealtimeWS.create(
            base_url=self.server.base_url, model="gpt-realtime", api_key=API_KEY,
            ssl=self.server.ssl_context(),
        )
        await anext(self.rt)
        return time.perf_counter() - t0

    async def probe(self) -> float:
        assert self.rt is not None
        t0 = time.perf_counter()
        self.rt.send(create_event(FIRST_DELTA_INDEX + 1))
        async for event in self.rt:
            if event.type == AUDIO_TYPE:
                break
        return time.perf_counter() - t0

    async def flood(self, responses: int) -> int:
        assert self.rt is not None
        self.rt.send(create_event(responses * PERIOD))
        first = await anext(self.rt)
        assert first.type == CLEARED_TYPE, first
        n = done = 0
        async for event in self.rt:
            n += 1
            if isinstance(event, ResponseDoneEvent):
                done += 1
                if done == responses:
                    break
        return n

    async def close(self) -> None:
        if self.rt is not None:
            await self.rt.close()


class OpenAIPython(FloodClient):
    name = "openai-python"

    def __init__(self, server: ServerProcess) -> None:
        super().__init__(server)
        self.manager: Any = None
        self.conn: Any = None
        self.events: Any = None

    async def connect(self) -> float:
        from openai import AsyncOpenAI

        client = AsyncOpenAI(api_key=API_KEY, base_url=self.server.base_url)
        # WebSocketConnectionOptions does not declare `ssl`, but it is passed on to
        # websockets.connect(): the only way to trust the emulator's CA.
        options: dict[str, Any] = {}
        ctx = self.server.ssl_context()
        if ctx is not None:
            options["ssl"] = ctx
        t0 = time.perf_counter()
        self.manager = client.realtime.connect(model="gpt-realtime",
                                               websocket_connection_options=cast(Any, options))
        self.conn = await self.manager.enter()
        self.events = self.conn.__aiter__()
        await anext(self.events)
        return time.perf_counter() - t0

    async def probe(self) -> float:
        t0 = time.perf_counter()
        await self.conn.send(create_event(FIRST_DELTA_INDEX + 1))
        async for event in self.events:
            if event.type == AUDIO_TYPE:
                break
        return time.perf_counter() - t0

    async def flood(self, responses: int) -> int:
        await self.conn.send(create_event(responses * PERIOD))
        first = await anext(self.events)
        assert first.type == CLEARED_TYPE, first
        n = done = 0
        async for event in self.events:
            n += 1
            if event.type == DONE_TYPE:
                done += 1
                if done == responses:
                    break
        return n

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()


class RawWebsockets(FloodClient):
    name = "websockets+msgspec"

    def __init__(self, server: ServerProcess) -> None:
        super().__init__(server)
        self.ws: Any = None
        self.decoder = msgspec.json.Decoder(ServerEvent)
        self.encoder = msgspec.json.Encoder()

    async def connect(self) -> float:
        from websockets.asyncio.client import connect

        ctx = self.server.ssl_context()
        extra: dict[str, Any] = {"ssl": ctx} if ctx is not None else {}
        t0 = time.perf_counter()
        self.ws = await connect(self.server.ws_url, compression=None, max_size=None,
                                additional_headers={"Authorization": f"Bearer {API_KEY}"}, **extra)
        self.decoder.decode(await self.ws.recv(decode=False))
        return time.perf_counter() - t0

    async def probe(self) -> float:
        t0 = time.perf_counter()
        await self.ws.send(self.encoder.encode(create_event(FIRST_DELTA_INDEX + 1)), text=True)
        decode = self.decoder.decode
        while not isinstance(decode(await self.ws.recv(decode=False)), ResponseOutputAudioDeltaEvent):
            pass
        return time.perf_counter() - t0

    async def flood(self, responses: int) -> int:
        await self.ws.send(self.encoder.encode(create_event(responses * PERIOD)), text=True)
        decode = self.decoder.decode
        recv = self.ws.recv
        first = decode(await recv(decode=False))
        assert first.type == CLEARED_TYPE, first
        n = done = 0
        while True:
            event = decode(await recv(decode=False))
            n += 1
            if isinstance(event, ResponseDoneEvent):
                done += 1
                if done == responses:
                    return n

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


class _Decoding(picows.WSListener):
    """picows + one msgspec typed decode + a dict lookup per frame: the floor for a client."""

    def __init__(self) -> None:
        super().__init__()
        self.decode = msgspec.json.Decoder(ServerEvent).decode
        self.handlers: dict[type[Any], Any] = {}
        self.audio = self.done = self.want = 0
        self.wake: asyncio.Future[float] | None = None
        self.wake_on: type[Any] | None = None

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type is picows.WSMsgType.TEXT:
            event = self.decode(frame.get_payload_as_memoryview())
            cls = type(event)
            if cls is ResponseOutputAudioDeltaEvent:
                self.audio += 1
            elif cls is ResponseDoneEvent:
                self.done += 1
                if self.done == self.want and self.wake_on is ResponseDoneEvent:
                    self._wake()
            if cls is self.wake_on and cls is not ResponseDoneEvent:
                self._wake()
        elif frame.msg_type is picows.WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()

    def _wake(self) -> None:
        if self.wake is not None and not self.wake.done():
            self.wake.set_result(time.perf_counter())


class PicowsFloor(FloodClient):
    name = "floor: picows+msgspec, no dispatch"

    def __init__(self, server: ServerProcess) -> None:
        super().__init__(server)
        self.transport: picows.WSTransport | None = None
        self.listener = _Decoding()
        self.encoder = msgspec.json.Encoder()

    def _arm(self, cls: type[Any]) -> asyncio.Future[float]:
        self.listener.wake_on = cls
        self.listener.wake = asyncio.get_running_loop().create_future()
        return self.listener.wake

    async def connect(self) -> float:
        from openai_realtime_ws.types import SessionCreatedEvent

        woke = self._arm(SessionCreatedEvent)
        t0 = time.perf_counter()
        self.transport, _ = await picows.ws_connect(
            lambda: self.listener, self.server.ws_url, ssl_context=self.server.ssl_context(),
            extra_headers={"Authorization": f"Bearer {API_KEY}"}, max_frame_size=64 * 1024 * 1024,
        )
        return await woke - t0

    def _send(self, event: dict[str, Any]) -> None:
        assert self.transport is not None
        self.transport.send(picows.WSMsgType.TEXT, self.encoder.encode(event))

    async def probe(self) -> float:
        woke = self._arm(ResponseOutputAudioDeltaEvent)
        t0 = time.perf_counter()
        self._send(create_event(FIRST_DELTA_INDEX + 1))
        return await woke - t0

    async def flood(self, responses: int) -> int:
        listener = self.listener
        listener.audio = listener.done = 0
        listener.want = responses
        woke = self._arm(ResponseDoneEvent)
        self._send(create_event(responses * PERIOD))
        await woke
        if listener.audio != responses * AUDIO_PER_PERIOD:
            raise AssertionError(f"{self.name}: {listener.audio} audio deltas")
        return responses * PERIOD

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.send_close(picows.WSCloseCode.OK)
            try:
                await asyncio.wait_for(self.transport.wait_disconnected(), 5)
            except TimeoutError:
                self.transport.disconnect(graceful=False)


class _Counter(picows.WSListener):
    """Counts text frames; done after ``target`` frames (or a frame starting with ``stop``)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.target = 0
        self.stop_prefix: bytes | None = None
        self.first: asyncio.Future[float] | None = None
        self.finished: asyncio.Future[None] | None = None

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type is picows.WSMsgType.TEXT:
            self.count += 1
            if self.first is not None and not self.first.done():
                self.first.set_result(time.perf_counter())
            fin = self.finished
            if fin is not None and not fin.done():
                if self.count >= self.target or (
                    self.stop_prefix is not None
                    and frame.get_payload_as_bytes()[: len(self.stop_prefix)] == self.stop_prefix
                ):
                    fin.set_result(None)
        elif frame.msg_type is picows.WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


class CountingClient(FloodClient):
    """picows, counting frames only: measures the server's emit rate, not a client."""

    name = "server emit (counting client)"

    def __init__(self, server: ServerProcess) -> None:
        super().__init__(server)
        self.transport: picows.WSTransport | None = None
        self.listener: _Counter | None = None

    async def connect(self) -> float:
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        listener = _Counter()
        listener.first = loop.create_future()
        transport, _ = await picows.ws_connect(
            lambda: listener, self.server.ws_url, ssl_context=self.server.ssl_context(),
            extra_headers={"Authorization": f"Bearer {API_KEY}"}, max_frame_size=64 * 1024 * 1024,
        )
        self.transport, self.listener = transport, listener
        return await listener.first - t0

    async def probe(self) -> float:
        raise NotImplementedError

    async def _run(self, trigger: dict[str, Any], target: int, stop_prefix: bytes | None = None) -> int:
        assert self.listener is not None and self.transport is not None
        listener = self.listener
        listener.count = 0
        listener.target = target
        listener.stop_prefix = stop_prefix
        listener.finished = asyncio.get_running_loop().create_future()
        self.transport.send(picows.WSMsgType.TEXT, msgspec.json.encode(trigger))
        await listener.finished
        return listener.count

    async def flood(self, responses: int) -> int:
        n = responses * PERIOD
        return await self._run(create_event(n), n + 1) - 1  # the cleared, then the n events

    async def say(self, text: str) -> None:
        """Add a user message (untimed) for ``generated`` to answer."""
        item = {"type": "conversation.item.create", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}}
        await self._run(item, 10**9, b'{"type":"conversation.item.done"')

    async def generated(self) -> int:
        """The emulator's own generated audio response (the default responder repeats the last
        user message): response.created ... response.done, rate_limits.updated."""
        return await self._run({"type": "response.create"}, 10**9, b'{"type":"rate_limits.updated"')

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.send_close(picows.WSCloseCode.OK)
            try:
                await asyncio.wait_for(self.transport.wait_disconnected(), 5)
            except TimeoutError:
                self.transport.disconnect(graceful=False)


CLIENTS: Final[dict[str, type[FloodClient]]] = {
    "floor": PicowsFloor,
    "ours-handler": OursHandler,
    "ours-iter": OursIter,
    "openai": OpenAIPython,
    "raw": RawWebsockets,
}


async def measure(factory: type[FloodClient], server: ServerProcess, *, responses: int,
                  repeat: int, connects: int, probes: int) -> Row:
    row = Row(factory.name)
    for _ in range(connects):
        c = factory(server)
        row.connect_ms.append(await c.connect() * 1e3)
        await c.close()
    client = factory(server)
    await client.connect()
    try:
        for _ in range(probes):
            row.first_delta_ms.append(await client.probe() * 1e3)
        await client.flood(1)  # warm-up
        samples: list[Sample] = []
        for _ in range(repeat):
            gc.collect()
            clock = Clock(server)
            n = await client.flood(responses)
            samples.append(clock.sample(n))
            if n != responses * PERIOD:
                raise AssertionError(f"{factory.name}: {n} events, expected {responses * PERIOD}")
        row.sample = best(samples)
    finally:
        await client.close()
    return row


async def measure_server(server: ServerProcess, responses: int, repeat: int) -> Row:
    client = CountingClient(server)
    row = Row(client.name)
    row.connect_ms.append(await client.connect() * 1e3)
    try:
        await client.flood(1)
        samples = []
        for _ in range(repeat):
            clock = Clock(server)
            n = await client.flood(responses)
            samples.append(clock.sample(n))
            if n != responses * PERIOD:
                raise AssertionError(f"{client.name}: {n} events, expected {responses * PERIOD}")
        row.sample = best(samples)
    finally:
        await client.close()
    return row


async def measure_emulator_generated(server: ServerProcess, chars: int, repeat: int) -> Row:
    client = CountingClient(server)
    row = Row(f"emulator: generated response, speed 0 ({chars:,} chars)")
    row.connect_ms.append(await client.connect() * 1e3)
    try:
        await client.say("hi")
        await client.generated()  # warm-up
        words = ("the quick brown fox jumps over the lazy dog " * (chars // 44 + 1))[:chars]
        await client.say(words)
        samples = []
        for _ in range(repeat):
            clock = Clock(server)
            n = await client.generated()
            samples.append(clock.sample(n))
        row.sample = best(samples)
    finally:
        await client.close()
    return row


def table(rows: list[Row], baseline: str = "openai-python") -> str:
    base = next((r.sample for r in rows if r.name == baseline and r.sample), None)
    headers = ["client", "events/s", "CPU µs/event", "server CPU µs/event", "x openai (ev/s)", "x openai (CPU)",
               "connect→1st ms", "request→delta ms (p50 / p90)"]
    out = []
    for r in rows:
        s = r.sample
        if s is None:
            continue
        ratio = cpu_ratio = "-"
        if base and r.name != CountingClient.name:
            ratio = f"{s.rate / base.rate:.1f}x"
            cpu_ratio = f"{base.cpu_us / s.cpu_us:.1f}x"
        delta = f"{median_ms(r.first_delta_ms)} / {p90_ms(r.first_delta_ms)}" if r.first_delta_ms else "-"
        out.append([r.name, fmt_int(s.rate), f"{s.cpu_us:.2f}", fmt_us(s.server_cpu_us), ratio, cpu_ratio,
                    median_ms(r.connect_ms), delta])
    return render_table(headers, out)


def check_workload() -> None:
    """Every scripted event must decode on the typed fast path, for us and for openai."""
    decoder = msgspec.json.Decoder(ServerEvent)
    for payload in encode_all(response_period()):
        decoder.decode(payload)  # raises if the typed decode would fall back
    from openai.types.realtime import RealtimeServerEvent
    from pydantic import TypeAdapter

    adapter: Any = TypeAdapter(RealtimeServerEvent)
    for event in response_period():
        adapter.validate_python(event)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    responses = max(1, args.events // PERIOD)
    results: dict[str, Any] = {"events": responses * PERIOD, "machine": machine(),
                               "versions": versions(), "tables": {}}
    print(f"# receive flood: {responses * PERIOD:,} events = {responses} audio responses x {PERIOD}"
          f" events; best of {args.repeat}")
    print(f"# mix per response: {mix_summary()}")
    print(f"# {machine()}\n# {versions()}")
    print(f"# load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    transports = ("plain", "tls") if args.transport == "both" else (args.transport,)
    server_name = ("the emulator (Emulator.inject)" if args.server == "emulator"
                   else "bench/_flood_server.py --backend flood (picows)")
    em_rows: list[Row] = []
    for transport in transports:
        rows: list[Row] = []
        with server_process(tls=transport == "tls", backend=args.server) as server:
            rows.append(await measure_server(server, responses, args.repeat))
            for key in args.clients:
                rows.append(await measure(CLIENTS[key], server, responses=responses,
                                          repeat=args.repeat, connects=args.connects,
                                          probes=args.probes))
            if args.emulator and args.server == "emulator":
                row = await measure_emulator_generated(server, args.emulator_chars, args.repeat)
                row.name += f", {transport}"
                em_rows.append(row)
        title = "plain ws://" if transport == "plain" else "TLS wss://"
        text = table(rows)
        print(f"\n## {title}  (server: {server_name}, separate process)\n{text}", flush=True)
        results["tables"][transport] = text
    if em_rows:
        headers = ["emulator emit rate (counting client)", "events", "events/s", "client CPU µs/event",
                   "server CPU µs/event"]
        text = render_table(headers, [[r.name, fmt_int(r.sample.events), fmt_int(r.sample.rate),
                                       f"{r.sample.cpu_us:.2f}", fmt_us(r.sample.server_cpu_us)]
                                      for r in em_rows if r.sample])
        print(f"\n## the emulator's own generated response (separate process)\n{text}", flush=True)
        results["tables"]["emulator"] = text
    return results


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Receive-flood benchmark (see the module docstring).")
    p.add_argument("--events", type=int, default=100_000, help="events per timed flood (default 100000)")
    p.add_argument("--quick", action="store_true", help="smoke run: 2000 events, few probes, seconds")
    p.add_argument("--transport", choices=("plain", "tls", "both"), default="both")
    p.add_argument("--clients", default=",".join(CLIENTS),
                   help=f"comma-separated subset of {','.join(CLIENTS)}")
    p.add_argument("--repeat", type=int, default=1, help="timed floods per client; the best is shown")
    p.add_argument("--connects", type=int, default=5, help="fresh connections for connect→1st event")
    p.add_argument("--probes", type=int, default=50, help="request→first delta probes")
    p.add_argument("--server", choices=("emulator", "flood"), default="emulator",
                   help="the emulator (default) or the bare picows flood server")
    p.add_argument("--no-emulator", dest="emulator", action="store_false",
                   help="skip measuring the emulator's own generated response")
    p.add_argument("--emulator-chars", type=int, default=None,
                   help="length of the text the emulator speaks back (~3.2 events per char; "
                        "default: about --events events)")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    args.clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    unknown = [c for c in args.clients if c not in CLIENTS]
    if unknown:
        p.error(f"unknown clients: {unknown}")
    if args.quick:
        args.events = min(args.events, 2_000)
        args.connects, args.probes = min(args.connects, 2), min(args.probes, 10)
    if args.emulator_chars is None:
        args.emulator_chars = max(10, args.events * 44 // 141)  # 44 chars speak as ~141 events
    check_workload()
    results = asyncio.run(run(args))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
