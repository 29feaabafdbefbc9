"""A bench-only Realtime-ish server, run as a separate process by the benchmarks.

    python bench/_flood_server.py [--tls] [--backend flood|emulator]

Prints its base URL (``http://127.0.0.1:PORT/v1``, ``https://`` with ``--tls``) on the first
stdout line and the CA file to trust on the second (empty without TLS), then serves until
SIGTERM/SIGINT.

``flood`` (default, picows): on connect sends ``session.created``; counts every text frame;
answers ``response.create`` whose ``response.metadata.bench_events`` is ``"n"`` with the first
``n`` events of the cyclic script of :mod:`_workload` (pre-encoded wire frames written straight
to the transport, a whole 200-event response per write, honouring write flow control), and
``input_audio_buffer.clear`` with ``input_audio_buffer.cleared`` whose ``event_id`` carries the
frame count. Other frames are only counted. The emulator cannot be driven like this from
another process, hence this server.

``emulator``: the real :class:`openai_realtime_ws.emulator.Emulator` (speed 0, 20 ms audio
chunks), plus a watcher: ``input_audio_buffer.clear`` with ``event_id="bench_flood_<n>"`` makes
it ``Emulator.inject`` the same ``n`` pre-encoded events (after the emulator's own
``input_audio_buffer.cleared``), to measure the emulator's emit rate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

import msgspec
import picows

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _workload import (
    BENCH_EVENTS_KEY,
    COUNT_PREFIX,
    PERIOD,
    encode_all,
    response_period,
    server_frame,
    session_created,
)


class _Resp(msgspec.Struct):
    metadata: dict[str, str] | None = None


class _Head(msgspec.Struct):
    type: str = ""
    event_id: str | None = None
    response: _Resp | None = None


_HEAD = msgspec.json.Decoder(_Head)
_PAYLOADS = encode_all(response_period())
_FRAMES = [server_frame(p) for p in _PAYLOADS]
_BLOB = b"".join(_FRAMES)
_SESSION_CREATED = msgspec.json.encode(session_created())


class FloodListener(picows.WSListener):
    def __init__(self) -> None:
        super().__init__()
        self.transport: picows.WSTransport | None = None
        self.frames = 0
        self.remaining = 0
        self.pos = 0
        self.paused = False

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.transport = transport
        transport.send(picows.WSMsgType.TEXT, _SESSION_CREATED)

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        mt = frame.msg_type
        if mt is picows.WSMsgType.TEXT:
            self.frames += 1
            # the bulk are audio appends (> 1 KiB): count them without decoding. Every control
            # event the benchmarks send is small.
            if frame.payload_size > 1024:
                return
            payload = frame.get_payload_as_memoryview()
            try:
                head = _HEAD.decode(payload)
            except msgspec.DecodeError:
                return
            if head.type == "response.create":
                meta = head.response.metadata if head.response is not None else None
                n = int(meta.get(BENCH_EVENTS_KEY, "0")) if meta else 0
                if n > 0:
                    if not self.remaining:
                        self.pos = 0  # every request starts a fresh response
                    self.remaining += n
                    self.pump()
            elif head.type == "input_audio_buffer.clear":
                reply = {"type": "input_audio_buffer.cleared", "event_id": f"{COUNT_PREFIX}{self.frames}"}
                transport.send(picows.WSMsgType.TEXT, msgspec.json.encode(reply))
        elif mt is picows.WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()

    def pump(self) -> None:
        tr = self.transport
        if tr is None or tr.is_disconnected:
            return
        raw = tr.underlying_transport
        while self.remaining and not self.paused:
            if self.pos == 0 and self.remaining >= PERIOD:
                raw.write(_BLOB)
                self.remaining -= PERIOD
            else:
                k = min(PERIOD - self.pos, self.remaining)
                raw.write(b"".join(_FRAMES[self.pos : self.pos + k]))
                self.pos = (self.pos + k) % PERIOD
                self.remaining -= k

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self.pump()


async def _wait_stop() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _announce(base_url: str, ca_file: str | None) -> None:
    sys.stdout.write(f"{base_url}\n{ca_file or ''}\n")
    sys.stdout.flush()


async def serve_flood(tls: bool) -> None:
    material = None
    ssl_ctx = None
    if tls:
        from openai_realtime_ws.emulator import _tls

        material = _tls.generate()
        ssl_ctx = material.server_context()
    try:
        server = await picows.ws_create_server(
            lambda request: FloodListener(), "127.0.0.1", 0, ssl=ssl_ctx,
            max_frame_size=64 * 1024 * 1024,
        )
        port = server.sockets[0].getsockname()[1]
        _announce(f"{'https' if tls else 'http'}://127.0.0.1:{port}/v1",
                  material.ca_file if material else None)
        async with server:
            await _wait_stop()
    finally:
        if material is not None:
            material.remove()


async def serve_emulator(tls: bool) -> None:
    from openai_realtime_ws.emulator import ConnectionRecord, Emulator, EmulatorConfig

    config = EmulatorConfig(speed=0, audio_chunk_ms=20, record_received=True)
    tasks: set[asyncio.Task[None]] = set()

    async def watch(emu: Emulator, conn: ConnectionRecord) -> None:
        seen = 0
        while not conn.closed.is_set():
            while seen < len(conn.received):
                ev = conn.received[seen]
                seen += 1
                eid = ev.get("event_id")
                if ev.get("type") == "input_audio_buffer.clear" and isinstance(eid, str) \
                        and eid.startswith("bench_flood_"):
                    n = int(eid.removeprefix("bench_flood_"))
                    await emu.inject(conn, (_PAYLOADS[i % PERIOD] for i in range(n)))
            await asyncio.sleep(0.001)

    async with Emulator(tls=tls, config=config) as emu:
        _announce(emu.base_url, emu.ca_file)

        async def accept() -> None:
            index = 0
            while True:
                try:
                    conn = await emu.wait_for_connection(index, timeout=3600)
                except TimeoutError:
                    continue
                index += 1
                task = asyncio.create_task(watch(emu, conn))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

        acceptor = asyncio.create_task(accept())
        try:
            await _wait_stop()
        finally:
            acceptor.cancel()
            for t in list(tasks):
                t.cancel()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--tls", action="store_true")
    p.add_argument("--backend", choices=("flood", "emulator"), default="flood")
    args = p.parse_args()
    serve = serve_flood if args.backend == "flood" else serve_emulator
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.tls))


if __name__ == "__main__":
    main()
