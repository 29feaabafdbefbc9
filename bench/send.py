"""Send benchmark: how cheaply each client gets ``input_audio_buffer.append`` events on the wire.

    .venv/bin/python bench/send.py             # 100_000 appends, plain ws and TLS (~30 s)
    .venv/bin/python bench/send.py --quick     # 2_000 appends, a few seconds

Each client sends one ``session.update``, then N appends of 20 ms of PCM16 (960 bytes, base64
-> 1280 chars; the base64 step is inside the timed loop for every client), with a
``response.create`` every 250 appends (a turn every 5 s of audio), yielding to the event loop
every 32 events; then ``input_audio_buffer.clear``. The server (``bench/_flood_server.py``, a
separate process) counts text frames and answers the clear with the count, so the clock stops
only once every frame was delivered, and the run fails unless count == frames sent.

* ``ours: send(dict)``   ``rt.send({...})`` (validated against the client-event schema);
* ``ours: typed resources`` ``rt.input_audio_buffer.append(audio=b64)``, ``rt.response.create(…)``,
  ``rt.session.update(…)``: the same events through the typed resources (then ``send()``);
* ``ours: send_audio``   ``rt.send_audio(pcm)`` (msgspec does the base64);
* ``openai-python: append`` ``await conn.input_audio_buffer.append(audio=b64)``;
* ``openai-python: send(dict)`` ``await conn.send({...})``;
* ``websockets+msgspec`` ``await ws.send(msgspec.json.encode({... "audio": pcm}), text=True)``;
* ``floor: picows, pre-encoded`` the same frames encoded up front, sent by a bare picows
  transport: the cost of masking + syscalls alone, and the server's counting capacity.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import base64
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
    render_table,
    server_process,
    versions,
)
from _workload import COUNT_PREFIX, pcm_chunks

from openai_realtime_ws import AsyncOpenAIRealtimeWS
from openai_realtime_ws.types import InputAudioBufferClearedEvent, ServerEvent

API_KEY: Final = "sk-bench-not-a-real-key"
TURN_EVERY: Final = 250
YIELD_EVERY: Final = 32
SESSION_UPDATE: Final[dict[str, Any]] = {
    "type": "session.update",
    "session": {
        "type": "realtime",
        "instructions": "Be brief.",
        "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}}},
    },
}
RESPONSE_CREATE: Final[dict[str, Any]] = {"type": "response.create"}
CLEAR: Final[dict[str, Any]] = {"type": "input_audio_buffer.clear"}
PCM: Final = pcm_chunks(50)


def frames_for(n: int) -> int:
    """Frames one run sends before the final clear."""
    return 1 + n + n // TURN_EVERY


def count_of(event_id: str | None) -> int:
    if not event_id or not event_id.startswith(COUNT_PREFIX):
        raise AssertionError(f"unexpected cleared event_id {event_id!r}")
    return int(event_id.removeprefix(COUNT_PREFIX))


class SendClient(abc.ABC):
    name: str

    def __init__(self, server: ServerProcess) -> None:
        self.server = server

    @abc.abstractmethod
    async def connect(self) -> None: ...

    @abc.abstractmethod
    async def stream(self, n: int) -> None:
        """session.update, n appends (+ a response.create every TURN_EVERY)."""

    @abc.abstractmethod
    async def finish(self) -> int:
        """Send the clear; wait for the server's answer; return its frame count."""

    @abc.abstractmethod
    async def close(self) -> None: ...


class _Ours(SendClient):
    def __init__(self, server: ServerProcess) -> None:
        super().__init__(server)
        self.rt: AsyncOpenAIRealtimeWS | None = None

    async def connect(self) -> None:
        self.rt = await AsyncOpenAIRealtimeWS.create(
            base_url=self.server.base_url, model="gpt-realtime", api_key=API_KEY,
            ssl=self.server.ssl_context(),
        )

    async def finish(self) -> int:
        assert self.rt is not None
        self.rt.send(CLEAR)
        event = await self.rt.wait_for("input_audio_buffer.cleared", timeout=30)
        return count_of(event.event_id)

    async def close(self) -> None:
        if self.rt is not None:
            await self.rt.close()


class OursDict(_Ours):
    name = "ours: send(dict)"

    async def stream(self, n: int) -> None:
        rt = self.rt
        assert rt is not None
        send, b64, pcm = rt.send, base64.b64encode, PCM
        send(SESSION_UPDATE)
        for i in range(1, n + 1):
            send({"type": "input_audio_buffer.append", "audio": b64(pcm[i % 50]).decode()})
            if i % TURN_EVERY == 0:
                send(RESPONSE_CREATE)
            if i % YIELD_EVERY == 0:
                await asyncio.sleep(0)


class OursAudio(_Ours):
    name = "ours: send_audio"

    async def stream(self, n: int) -> None:
        rt = self.rt
        assert rt is not None
        send_audio, pcm = rt.send_audio, PCM
        rt.send(SESSION_UPDATE)
        for i in range(1, n + 1):
            send_audio(pcm[i % 50])
            if i % TURN_EVERY == 0:
                rt.send(RESPONSE_CREATE)
            if i % YIELD_EVERY == 0:
                await asyncio.sleep(0)


class OursTyped(_Ours):
    name = "ours: typed resources"

    async def stream(self, n: int) -> None:
        rt = self.rt
        assert rt is not None
        append, create, b64, pcm = rt.input_audio_buffer.append, rt.response.create, base64.b64encode, PCM
        rt.session.update(session=SESSION_UPDATE["session"])
        for i in range(1, n + 1):
            append(audio=b64(pcm[i % 50]).decode())
            if i % TURN_EVERY == 0:
                create()
            if i % YIELD_EVERY == 0:
                await asyncio.sleep(0)


class _OpenAI(SendClient):
    def __init__(self, server: ServerProcess) -> None:
        super().__init__(server)
        self.conn: Any = None

    async def connect(self) -> None:
        from openai import AsyncOpenAI

        client = AsyncOpenAI(api_key=API_KEY, base_url=self.server.base_url)
        options: dict[str, Any] = {}
        ctx = self.server.ssl_context()
        if ctx is not None:
            options["ssl"] = ctx  # undeclared in WebSocketConnectionOptions, passed to websockets
        manager = client.realtime.connect(model="gpt-realtime",
                                          websocket_connection_options=cast(Any, options))
        self.conn = await manager.enter()

    async def finish(self) -> int:
        await self.conn.send(CLEAR)
        while True:
            event = await self.conn.recv()
            if event.type == "input_audio_buffer.cleared":
                return count_of(event.event_id)

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()


class OpenAIAppend(_OpenAI):
    name = "openai-python: append"

    async def stream(self, n: int) -> None:
        conn = self.conn
        append, b64, pcm = conn.input_audio_buffer.append, base64.b64encode, PCM
        await conn.session.update(session=SESSION_UPDATE["session"])
        for i in range(1, n + 1):
            await append(audio=b64(pcm[i % 50]).decode())
            if i % TURN_EVERY == 0:
                await conn.response.create()
            if i % YIELD_EVERY == 0:
                await asyncio.sleep(0)


class OpenAIDict(_OpenAI):
    name = "openai-python: send(dict)"

    async def stream(self, n: int) -> None:
        conn = self.conn
        send, b64, pcm = conn.send, base64.b64encode, PCM
        await send(SESSION_UPDATE)
        for i in range(1, n + 1):
            await send({"type": "input_audio_buffer.append", "audio": b64(pcm[i % 50]).decode()})
            if i % TURN_EVERY == 0:
                await send(RESPONSE_CREATE)
            if i % YIELD_EVERY == 0:
                await asyncio.sleep(0)


class RawWebsockets(SendClient):
    name = "websockets+msgspec"

    def __init__(self, server: ServerProcess) -> None:
        super().__init__(server)
        self.ws: Any = None
        self.encoder = msgspec.json.Encoder()
        self.decoder = msgspec.json.Decoder(ServerEvent)

    async def connect(self) -> None:
        from websockets.asyncio.client import connect

        ctx = self.server.ssl_context()
        extra: dict[str, Any] = {"ssl": ctx} if ctx is not None else {}
        self.ws = await connect(self.server.ws_url, compression=None, max_size=None,
                                additional_headers={"Authorization": f"Bearer {API_KEY}"}, **extra)

    async def stream(self, n: int) -> None:
        send, encode, pcm = self.ws.send, self.encoder.encode, PCM
        await send(encode(SESSION_UPDATE), text=True)
        for i in range(1, n + 1):
            await send(encode({"type": "input_audio_buffer.append", "audio": pcm[i % 50]}), text=True)
            if i % TURN_EVERY == 0:
                await send(encode(RESPONSE_CREATE), text=True)
            if i % YIELD_EVERY == 0:
                await asyncio.sleep(0)

    async def finish(self) -> int:
        await self.ws.send(self.encoder.encode(CLEAR), text=True)
        while True:
            event = self.decoder.decode(await self.ws.recv(decode=False))
            if isinstance(event, InputAudioBufferClearedEvent):
                return count_of(event.event_id)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


class _Replies(picows.WSListener):
    def __init__(self) -> None:
        super().__init__()
        self.cleared: asyncio.Future[str] | None = None
        self.paused = False
        self.resumed: asyncio.Event | None = None

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type is picows.WSMsgType.TEXT:
            payload = frame.get_payload_as_bytes()
            if b"input_audio_buffer.cleared" in payload and self.cleared and not self.cleared.done():
                self.cleared.set_result(str(msgspec.json.decode(payload)["event_id"]))

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.resumed is not None:
            self.resumed.set()


class PicowsFloor(SendClient):
    """Pre-encoded frames on a bare picows transport: masking + syscalls, no encoding."""

    name = "floor: picows, pre-encoded"

    def __init__(self, server: ServerProcess) -> None:
        super().__init__(server)
        self.transport: picows.WSTransport | None = None
        self.listener = _Replies()
        enc = msgspec.json.Encoder()
        self.appends = [enc.encode({"type": "input_audio_buffer.append", "audio": base64.b64encode(p).decode()})
                        for p in PCM]
        self.update, self.create = enc.encode(SESSION_UPDATE), enc.encode(RESPONSE_CREATE)

    async def connect(self) -> None:
        self.listener.resumed = asyncio.Event()
        self.transport, _ = await picows.ws_connect(
            lambda: self.listener, self.server.ws_url, ssl_context=self.server.ssl_context(),
            extra_headers={"Authorization": f"Bearer {API_KEY}"},
        )

    async def stream(self, n: int) -> None:
        tr, listener = self.transport, self.listener
        assert tr is not None and listener.resumed is not None
        send, text, appends = tr.send, picows.WSMsgType.TEXT, self.appends
        send(text, self.update)
        for i in range(1, n + 1):
            send(text, appends[i % 50])
            if i % TURN_EVERY == 0:
                send(text, self.create)
            if i % YIELD_EVERY == 0:
                await asyncio.sleep(0)
                while listener.paused:
                    listener.resumed.clear()
                    await listener.resumed.wait()

    async def finish(self) -> int:
        assert self.transport is not None
        self.listener.cleared = asyncio.get_running_loop().create_future()
        self.transport.send(picows.WSMsgType.TEXT, msgspec.json.encode(CLEAR))
        return count_of(await asyncio.wait_for(self.listener.cleared, 30))

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.send_close(picows.WSCloseCode.OK)
            try:
                await asyncio.wait_for(self.transport.wait_disconnected(), 5)
            except TimeoutError:
                self.transport.disconnect(graceful=False)


SLOW: Final = frozenset({"openai-append", "openai-dict"})
"""Clients that send at most ``--slow-events`` appends (their cost per event is flat)."""

CLIENTS: Final[dict[str, type[SendClient]]] = {
    "floor": PicowsFloor,
    "ours-dict": OursDict,
    "ours-typed": OursTyped,
    "ours-audio": OursAudio,
    "openai-append": OpenAIAppend,
    "openai-dict": OpenAIDict,
    "raw": RawWebsockets,
}


async def measure(factory: type[SendClient], server: ServerProcess, n: int, repeat: int) -> Row:
    row = Row(factory.name)
    client = factory(server)
    await client.connect()
    try:
        sent = 0
        # warm-up
        await client.stream(min(n, 500))
        sent += frames_for(min(n, 500))
        got = await client.finish()
        sent += 1
        if got != sent:
            raise AssertionError(f"{factory.name}: server counted {got} frames, sent {sent}")
        samples: list[Sample] = []
        for _ in range(repeat):
            gc.collect()
            clock = Clock(server)
            await client.stream(n)
            got = await client.finish()
            frames = frames_for(n) + 1
            samples.append(clock.sample(frames))
            sent += frames
            if got != sent:
                raise AssertionError(f"{factory.name}: server counted {got} frames, sent {sent} "
                                     "(audio dropped from a full send queue?)")
        row.sample = best(samples)
    finally:
        await client.close()
    return row


def table(rows: list[Row], baseline: str = "openai-python: append") -> str:
    base = next((r.sample for r in rows if r.name == baseline and r.sample), None)
    headers = ["client", "frames", "events/s", "CPU µs/event", "server CPU µs/event", "x openai (ev/s)", "x openai (CPU)"]
    out = []
    for r in rows:
        s = r.sample
        if s is None:
            continue
        out.append([r.name, fmt_int(s.events), fmt_int(s.rate), f"{s.cpu_us:.2f}", fmt_us(s.server_cpu_us),
                    f"{s.rate / base.rate:.1f}x" if base else "-",
                    f"{base.cpu_us / s.cpu_us:.1f}x" if base else "-"])
    return render_table(headers, out)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    n = args.events
    results: dict[str, Any] = {"events": frames_for(n) + 1, "machine": machine(),
                               "versions": versions(), "tables": {}}
    print(f"# send: 1 session.update + {n:,} input_audio_buffer.append (20 ms, 960 B PCM) + "
          f"{n // TURN_EVERY} response.create + 1 clear = {frames_for(n) + 1:,} frames; "
          f"best of {args.repeat}; openai-python: {min(n, args.slow_events):,} appends")
    print(f"# load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"# {machine()}\n# {versions()}")
    transports = ("plain", "tls") if args.transport == "both" else (args.transport,)
    for transport in transports:
        rows: list[Row] = []
        with server_process(tls=transport == "tls") as server:
            for key in args.clients:
                count = min(n, args.slow_events) if key in SLOW else n
                rows.append(await measure(CLIENTS[key], server, count, args.repeat))
        title = "plain ws://" if transport == "plain" else "TLS wss://"
        text = table(rows)
        print(f"\n## {title}  (counting server: bench/_flood_server.py, separate process)\n{text}",
              flush=True)
        results["tables"][transport] = text
    return results


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Send benchmark (see the module docstring).")
    p.add_argument("--events", type=int, default=100_000, help="appends per timed run (default 100000)")
    p.add_argument("--quick", action="store_true", help="smoke run: 2000 appends, seconds")
    p.add_argument("--transport", choices=("plain", "tls", "both"), default="both")
    p.add_argument("--clients", default=",".join(CLIENTS),
                   help=f"comma-separated subset of {','.join(CLIENTS)}")
    p.add_argument("--slow-events", type=int, default=20_000,
                   help="appends for the openai-python clients (default 20000: ~140 µs each)")
    p.add_argument("--repeat", type=int, default=1, help="timed runs per client; the best is shown")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    args.clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    unknown = [c for c in args.clients if c not in CLIENTS]
    if unknown:
        p.error(f"unknown clients: {unknown}")
    if args.quick:
        args.events = min(args.events, 2_000)
    t0 = time.perf_counter()
    results = asyncio.run(run(args))
    print(f"\n# total {time.perf_counter() - t0:.1f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
