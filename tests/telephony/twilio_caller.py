"""A phone call as Twilio Media Streams makes it (the one part of these tests that cannot be
real): it follows Twilio's published WebSocket protocol exactly. It sends ``connected``, ``start``
and then one ``media`` message (160 bytes of μ-law = 20 ms, base64) every 20 ms with Twilio's
string-typed ``sequenceNumber``/``chunk``/``timestamp``; it plays the bridge's ``media`` in real
time, echoes each ``mark`` once the audio before it has played, and on ``clear`` drops its buffer
and echoes every pending mark at once; ``stop`` ends the stream.

Also the helpers both Twilio test modules use: :func:`serve` (the bridge's ASGI app under
uvicorn, or its standalone picows server) and :func:`until`."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from openai_realtime_ws.telephony import TwilioBridge

FRAME = 160  # 20 ms of μ-law 8 kHz


@dataclass
class Server:
    bridge: TwilioBridge
    host: str
    port: int

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}{self.bridge.path}"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"


async def serve(bridge: TwilioBridge, host: str = "127.0.0.1", kind: str = "asgi") -> AsyncIterator[Server]:
    """The bridge's ASGI app under uvicorn, or its standalone picows server (``kind``)."""
    if kind == "picows":
        standalone = await bridge.serve(host, 0)
        try:
            yield Server(bridge, host, standalone.sockets[0].getsockname()[1])
        finally:
            standalone.close()
            await standalone.wait_closed()
        return
    sock = socket.socket()
    sock.bind((host, 0))
    sock.listen(64)  # listening before the server task runs: connects queue in the backlog
    # log_config=None: uvicorn's loggers propagate, so caplog sees "Exception in ASGI application"
    server = uvicorn.Server(uvicorn.Config(bridge, log_level="warning", lifespan="off", log_config=None))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield Server(bridge, host, sock.getsockname()[1])
    finally:
        server.should_exit = True
        await task
        sock.close()


async def until(cond: Any, event: asyncio.Event, timeout: float = 10) -> None:
    """Wait until ``cond()`` holds, checking each time ``event`` is set."""
    async def wait() -> None:
        while not cond():
            event.clear()
            await event.wait()
    await asyncio.wait_for(wait(), timeout)
SILENCE = b"\xff" * FRAME


class TwilioCaller:
    def __init__(self, url: str, *, stream_sid: str = "MZ00000000000000000000000000000001",
                 call_sid: str = "CA00000000000000000000000000000001",
                 headers: dict[str, str] | None = None, start: dict[str, Any] | None = None) -> None:
        self.url = url
        self.headers = headers or {}
        self.start_override = start
        """Replaces the ``start`` message's ``start`` object (malformed-start tests)."""
        self.stream_sid = stream_sid
        self.call_sid = call_sid
        self.ws: ClientConnection | None = None
        self.seq = 0
        self.chunk = 0
        self.sent_payloads: list[str] = []
        self.buffer = bytearray()  # audio waiting to be played
        self.pending_marks: list[tuple[int, str]] = []  # (buffer offset, name)
        self.played = bytearray()
        self.marks_echoed: list[str] = []
        self.clears: list[tuple[float, int]] = []  # (time, bytes played when clear arrived)
        self.received: list[dict[str, Any]] = []
        self.protocol_errors: list[dict[str, Any]] = []
        """Messages from the server that Twilio would not accept (wrong shape or streamSid)."""
        self._speech = bytearray()
        self._tasks: list[asyncio.Task[None]] = []
        self.played_changed = asyncio.Event()

    def _next_seq(self) -> str:
        self.seq += 1
        return str(self.seq)

    async def _send(self, msg: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps(msg))

    async def __aenter__(self) -> TwilioCaller:
        self.ws = await connect(self.url, additional_headers=self.headers)
        await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self._send({"event": "start", "sequenceNumber": self._next_seq(),
                          "streamSid": self.stream_sid, "start": self.start_message()})
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._read()), loop.create_task(self._clock())]
        return self

    def start_message(self) -> dict[str, Any]:
        if self.start_override is not None:
            return self.start_override
        return {
            "accountSid": "AC00000000000000000000000000000001", "streamSid": self.stream_sid,
            "callSid": self.call_sid, "tracks": ["inbound"], "customParameters": {},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }

    async def send_raw(self, message: str | bytes) -> None:
        """Send a message as it is (malformed-message tests)."""
        assert self.ws is not None
        await self.ws.send(message)

    async def press(self, digit: str) -> None:
        await self._send({"event": "dtmf", "sequenceNumber": self._next_seq(),
                          "streamSid": self.stream_sid, "dtmf": {"track": "inbound_track", "digit": digit}})

    def speak(self, mulaw: bytes) -> None:
        """The caller says this (μ-law 8 kHz), after whatever is still being said."""
        self._speech += mulaw

    async def _read(self) -> None:
        assert self.ws is not None
        async for raw in self.ws:
            msg = json.loads(raw)
            self.received.append(msg)
            event = msg["event"]
            # what Twilio accepts from the server: exactly these shapes (bidirectional streams)
            ok = (
                (event == "media" and set(msg) == {"event", "streamSid", "media"}
                 and set(msg["media"]) == {"payload"})
                or (event == "mark" and set(msg) == {"event", "streamSid", "mark"}
                    and isinstance(msg["mark"].get("name"), str))
                or (event == "clear" and set(msg) == {"event", "streamSid"})
            )
            if not ok or msg.get("streamSid") != self.stream_sid:
                self.protocol_errors.append(msg)
                continue
            if event == "media":
                self.buffer += base64.b64decode(msg["media"]["payload"])
            elif event == "mark":
                self.pending_marks.append((len(self.buffer), msg["mark"]["name"]))
            elif event == "clear":
                self.clears.append((time.perf_counter(), len(self.played)))
                self.buffer.clear()
                marks, self.pending_marks = self.pending_marks, []
                for _, name in marks:  # Twilio echoes the marks of the cleared audio
                    await self._echo(name)

    async def _echo(self, name: str) -> None:
        self.marks_echoed.append(name)
        await self._send({"event": "mark", "sequenceNumber": self._next_seq(),
                          "streamSid": self.stream_sid, "mark": {"name": name}})

    async def _clock(self) -> None:
        """Every 20 ms: send 20 ms of caller audio and play 20 ms of the bridge's audio."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        n = 0
        while True:
            n += 1
            delay = start + n * 0.02 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            # inbound: the caller's microphone
            if self._speech:
                frame = bytes(self._speech[:FRAME]).ljust(FRAME, b"\xff")
                del self._speech[:FRAME]
            else:
                frame = SILENCE
            self.chunk += 1
            payload = base64.b64encode(frame).decode()
            self.sent_payloads.append(payload)
            await self._send({"event": "media", "sequenceNumber": self._next_seq(),
                              "streamSid": self.stream_sid,
                              "media": {"track": "inbound", "chunk": str(self.chunk),
                                        "timestamp": str(n * 20), "payload": payload}})
            # outbound: the phone's loudspeaker
            take = bytes(self.buffer[:FRAME])
            del self.buffer[:FRAME]
            self.played += take
            if take:
                self.played_changed.set()
            self.pending_marks = [(off - len(take), name) for off, name in self.pending_marks]
            while self.pending_marks and self.pending_marks[0][0] <= 0:
                await self._echo(self.pending_marks.pop(0)[1])

    async def hang_up(self) -> None:
        await self._send({"event": "stop", "sequenceNumber": self._next_seq(),
                          "streamSid": self.stream_sid,
                          "stop": {"accountSid": "AC00000000000000000000000000000001",
                                   "callSid": self.call_sid}})
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        assert self.ws is not None
        await self.ws.close()

    async def __aexit__(self, *exc: object) -> None:
        if self.ws is not None and self.ws.state.name == "OPEN":
            await self.hang_up()
            return
        for t in self._tasks:  # the server hung up
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
