"""The server of the benchmarks, run as a separate process.

    python bench/_flood_server.py [--tls] [--backend emulator|flood]

Prints its base URL (``http://127.0.0.1:PORT/v1``, ``https://`` with ``--tls``) on the first
stdout line and the CA file to trust on the second (empty without TLS), then serves until
SIGTERM/SIGINT.

``emulator`` (the receive benchmark's server): the real
:class:`openai_realtime_ws.emulator.Emulator` (speed 0, 20 ms audio chunks), thinly wrapped: a
client asks for a flood with ``input_audio_buffer.clear`` whose ``event_id`` is
``FLOOD_PREFIX + "<n>"``; the emulator answers the clear itself (``input_audio_buffer.cleared``),
then ``Emulator.inject`` writes the first ``n`` events of the cyclic script of :mod:`_workload`
(pre-encoded frames; the emulator batches them into few transport writes and honours write flow
control). Anything else is the emulator's normal behaviour (e.g. ``response.create`` makes it
speak its own generated audio response).

``flood`` (picows; the send benchmark's server, also accepted by the receive benchmark): on
connect sends ``session.created``; counts every text frame; answers ``input_audio_buffer.clear``
with ``input_audio_buffer.cleared`` whose ``event_id`` carries the frame count (``COUNT_PREFIX``)
and, when the clear's ``event_id`` is ``FLOOD_PREFIX + "<n>"``, then writes the same ``n`` events
(whole 200-event responses per transport write, honouring write flow control). Other frames are
only counted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import signal
import sys
from pathlib import Path
from typing import Any, Final

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


FLOOD_PREFIX: Final = "bench_flood_"
"""``input_audio_buffer.clear`` with ``event_id = FLOOD_PREFIX + "<n>"`` asks for a flood of n events."""

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
                n = flood_size(head.event_id)
                if n:
                    if not self.remaining:
                        self.pos = 0
                    self.remaining += n
                    self.pump()
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


def flood_size(event_id: str | None) -> int:
    """n of a ``FLOOD_PREFIX + "<n>"`` event id, else 0."""
    if event_id is None or not event_id.startswith(FLOOD_PREFIX):
        return 0
    try:
        return max(0, int(event_id.removeprefix(FLOOD_PREFIX)))
    except ValueError:
        return 0


async def serve_emulator(tls: bool) -> None:
    from openai_realtime_ws.emulator import Emulator, EmulatorConfig

    emu = Emulator(tls=tls, config=EmulatorConfig(speed=0, audio_chunk_ms=20, record_received=True))
    tasks: set[asyncio.Task[int]] = set()
    handled: dict[int, int] = {}  # connection index -> client events already looked at

    def observe(event: dict[str, Any]) -> None:
        # Called for every event the emulator's session sends (not for injected frames). The
        # clear's `cleared` is being sent from inside the read loop of the connection that just
        # recorded the clear: inject the flood right behind it (it waits for that connection's lock).
        if event.get("type") != "input_audio_buffer.cleared":
            return
        for conn in emu.connections:
            seen = handled.get(conn.index, 0)
            if len(conn.received) == seen:
                continue
            handled[conn.index] = len(conn.received)
            last = conn.received[-1]
            n = flood_size(last.get("event_id")) if last.get("type") == "input_audio_buffer.clear" else 0
            if n:
                task = asyncio.get_running_loop().create_task(
                    emu.inject(conn, itertools.islice(itertools.cycle(_PAYLOADS), n)))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

    emu.config.frame_observer = observe
    async with emu:
        _announce(emu.base_url, emu.ca_file)
        await _wait_stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--tls", action="store_true")
    p.add_argument("--backend", choices=("emulator", "flood"), default="emulator")
    args = p.parse_args()
    serve = serve_flood if args.backend == "flood" else serve_emulator
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.tls))


if __name__ == "__main__":
    main()
