"""The server of bench/scale.py: many live voice calls at once, in its own process (picows).

    python bench/_scale_server.py [--tls] [--cpu N]

Prints its base URL (``http://127.0.0.1:PORT/v1``, ``https://`` with ``--tls``) on the first
stdout line and the CA file to trust on the second (empty without TLS), then serves until
SIGTERM/SIGINT.

Each connection gets ``session.created``, then, from the first client frame it sends (the call
starts when its audio starts; a client that opens 1,000 sessions first does not build a backlog
meanwhile) for as long as it is open, one
``response.output_audio.delta`` of 20 ms of 24 kHz PCM16 audio (960 bytes, 1,280 base64
characters) every 20 ms: 50 deltas/s. The ``event_id`` of each delta is ``"t"`` + the server's
``time.monotonic_ns()`` just before the frame is written, so the client can measure the latency
to its handler (CLOCK_MONOTONIC is one clock for every process of the machine). Connections are
spread evenly over the 20 ms period (connection ``k`` is served in millisecond slot ``k % 20``),
as independent calls would be, instead of all at once. Client frames are only counted.

Why not the emulator: a live call needs a continuous paced stream per session; the emulator paces
per response, through aiohttp, and its Python session machine costs more per event than the
client under test. This server's CPU is printed by the benchmark (``server CPU``) so that one can
see it is not the limit.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
import sys
import time
from typing import Final

import picows

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

PERIOD_MS: Final = 20
_AUDIO_B64: Final = base64.b64encode(bytes(range(256)) * 3 + bytes(192)).decode()  # 960 bytes
_HEAD: Final = b'{"type":"response.output_audio.delta","event_id":"t'
_TAIL: Final = (
    b'","response_id":"resp_scale","item_id":"item_scale","output_index":0,"content_index":0,'
    b'"delta":"' + _AUDIO_B64.encode() + b'"}'
)
_SESSION_CREATED: Final = (
    b'{"type":"session.created","event_id":"event_0","session":{"type":"realtime",'
    b'"object":"realtime.session","id":"sess_scale","model":"gpt-realtime",'
    b'"output_modalities":["audio"],"instructions":"","tools":[],"tool_choice":"auto",'
    b'"max_output_tokens":"inf","tracing":null,"prompt":null,"expires_at":0,'
    b'"audio":{"input":{"format":{"type":"audio/pcm","rate":24000},"transcription":null,'
    b'"noise_reduction":null,"turn_detection":null},"output":{"format":{"type":"audio/pcm",'
    b'"rate":24000},"voice":"alloy","speed":1.0}},"include":null}}'
)

_slots: list[set[Listener]] = [set() for _ in range(PERIOD_MS)]
_next_slot = 0
received = 0
sent = 0


class Listener(picows.WSListener):
    def __init__(self) -> None:
        super().__init__()
        self.transport: picows.WSTransport | None = None
        self.slot = -1
        self.paused = False
        self.live = False  # set by the first client frame

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.transport = transport
        transport.send(picows.WSMsgType.TEXT, _SESSION_CREATED)

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        if self.live:
            _slots[self.slot].discard(self)

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        global received, _next_slot
        mt = frame.msg_type
        if mt is picows.WSMsgType.TEXT:
            received += 1
            if not self.live:
                self.live = True
                self.slot = _next_slot
                _next_slot = (_next_slot + 1) % PERIOD_MS
                _slots[self.slot].add(self)
        elif mt is picows.WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()

    def pause_writing(self) -> None:
        self.paused = True  # a client that cannot keep up: skip its deltas, do not buffer them

    def resume_writing(self) -> None:
        self.paused = False


async def pace() -> None:
    """Every millisecond, one delta to each connection of that millisecond's slot; a slot that
    was missed (the loop was late) is still served, so each connection gets 50 deltas/s."""
    global sent
    start = time.monotonic()
    done_ms = 0
    while True:
        now_ms = int((time.monotonic() - start) * 1000)
        while done_ms <= now_ms:
            for conn in list(_slots[done_ms % PERIOD_MS]):
                tr = conn.transport
                if tr is None or conn.paused:
                    continue
                tr.send(picows.WSMsgType.TEXT, _HEAD + str(time.monotonic_ns()).encode() + _TAIL)
                sent += 1
            done_ms += 1
        await asyncio.sleep(max(0.0, start + (done_ms / 1000) - time.monotonic()))


async def serve(tls: bool) -> None:
    material = None
    ssl_ctx = None
    if tls:
        from openai_realtime_ws.emulator import _tls

        material = _tls.generate()
        ssl_ctx = material.server_context()
    try:
        server = await picows.ws_create_server(
            lambda request: Listener(), "127.0.0.1", 0, ssl=ssl_ctx, backlog=4096
        )
        port = server.sockets[0].getsockname()[1]
        sys.stdout.write(f"{'https' if tls else 'http'}://127.0.0.1:{port}/v1\n")
        sys.stdout.write(f"{material.ca_file if material else ''}\n")
        sys.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        pacer = asyncio.create_task(pace())
        async with server:
            await stop.wait()
        pacer.cancel()
    finally:
        if material is not None:
            material.remove()


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--tls", action="store_true")
    p.add_argument("--cpu", type=int, default=None, help="pin the server to this CPU")
    args = p.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.tls))


if __name__ == "__main__":
    main()
