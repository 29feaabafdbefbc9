# The websockets-connection look-alike that the framework adapters (agents.py, pipecat.py) hand
# to the framework code they reuse.
#
# Owns: presenting an AsyncOpenAIRealtimeWS as the part of a websockets `ClientConnection` that
# openai-agents' and pipecat's OpenAI Realtime code uses: async iteration of each server message's
# exact text, `send(text)`, `close()`; a drop ends iteration with websockets'
# `ConnectionClosedError` (what both frameworks tell a drop by), a normal close with the end of
# iteration. Frames wait here with back-pressure on the client (bounded memory).
from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from websockets.exceptions import ConnectionClosedError as _WSClosedError
from websockets.frames import Close

from .aio.client import AsyncOpenAIRealtimeWS
from .core.errors import ConnectionClosed, OpenAIRealtimeError, RealtimeAPIError

__all__ = ["FRAME_LIMIT", "FrameSocket", "connection_lost_done"]

log = logging.getLogger("openai_realtime_ws.frameworks")

#: frames waiting for the framework's reader before the client stops reading the socket
FRAME_LIMIT = 1024
#: where, in the stream of frames, the client reconnected
_RECONNECTED = object()


def connection_lost_done(response_id: str | None) -> str:
    """The ``response.done`` (status ``failed``, error code ``connection_lost``) an adapter gives
    its framework for a response that a dropped connection cut off: the server never finishes it
    on the new session, and the framework would wait for it forever."""
    return json.dumps({
        "type": "response.done", "event_id": "event_connection_lost",
        "response": {"id": response_id, "object": "realtime.response", "status": "failed",
                     "status_details": {"type": "failed", "error": {
                         "type": "connection_lost", "code": "connection_lost",
                         "message": "the connection dropped during this response; the session "
                                    "continues on a new connection"}},
                     "output": []}})


class FrameSocket:
    """The part of a websockets ``ClientConnection`` that openai-agents' model and pipecat's
    service use, over an
    :class:`AsyncOpenAIRealtimeWS`: server messages as their exact text (a ``"frame"`` handler,
    so nothing is re-encoded), in order, with back-pressure: when ``limit`` frames wait, the
    handler returns an awaitable and the client stops reading the socket until half are taken."""

    def __init__(self, rt: AsyncOpenAIRealtimeWS, limit: int = FRAME_LIMIT,
                 on_reconnect: Callable[[], Sequence[str]] | None = None) -> None:
        self.rt = rt
        self._limit = limit
        self._frames: deque[str | object] = deque()
        self._space = asyncio.Event()
        self._space.set()
        self._wake: asyncio.Future[None] | None = None
        self._finished = False
        self._closing = False
        self._end: ConnectionClosed | None = None
        rt.on("frame", self._on_frame)
        self._on_reconnect = on_reconnect
        if on_reconnect is not None:
            rt.on("reconnected", self._on_reconnected)
        rt.on("error", self._on_error)
        self._watcher = asyncio.get_running_loop().create_task(self._watch())

    def _push(self, text: str | object) -> None:
        self._frames.append(text)
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def _on_frame(self, text: str) -> Any:
        self._push(text)
        if len(self._frames) >= self._limit and not self._closing:
            self._space.clear()
            return self._space.wait()  # awaited by the client: reading pauses meanwhile
        return None

    def _on_reconnected(self, info: dict[str, Any]) -> None:
        self._push(_RECONNECTED)

    def _on_error(self, err: OpenAIRealtimeError) -> None:
        # API errors reach openai-agents as `error` frames; the rest (a malformed frame, a
        # failed reconnect attempt) is logged here and never ends the session by itself
        if not isinstance(err, RealtimeAPIError):
            log.warning("%s", err)

    async def _watch(self) -> None:
        """Iterate the client (whose handlers already queued every frame) to learn how it ends."""
        try:
            async for _ in self.rt:
                pass
        except ConnectionClosed as exc:  # (errors have a handler here, so nothing else is raised)
            self._end = exc
        finally:
            self._finished = True
            if self._wake is not None and not self._wake.done():
                self._wake.set_result(None)

    def __aiter__(self) -> FrameSocket:
        return self

    async def __anext__(self) -> str:
        while True:
            if self._frames:
                item = self._frames.popleft()
                if len(self._frames) <= self._limit // 2:
                    self._space.set()
                if isinstance(item, str):
                    return item
                if self._on_reconnect is not None:
                    self._frames.extendleft(reversed(self._on_reconnect()))
                continue
            if self._finished:
                if self._end is None:
                    raise StopAsyncIteration
                raise self._closed_error(self._end)
            self._wake = asyncio.get_running_loop().create_future()
            await self._wake

    @staticmethod
    def _closed_error(exc: ConnectionClosed) -> _WSClosedError:
        # openai-agents tells a dropped connection from a clean end by websockets' exception
        err = _WSClosedError(Close(exc.code or 1006, exc.reason or ""), None)
        err.__cause__ = exc
        return err

    async def send(self, message: str | bytes) -> None:
        try:
            self.rt.send_raw(message)
        except ConnectionClosed as exc:
            raise self._closed_error(exc) from exc

    def send_audio(self, pcm: bytes, *, commit: bool = False) -> None:
        """User audio through the client's audio path (base64 by msgspec; droppable in the
        outbound queue), then ``input_audio_buffer.commit`` if asked."""
        try:
            self.rt.send_audio(pcm)
            if commit:
                self.rt.input_audio_buffer.commit()
        except ConnectionClosed as exc:
            raise self._closed_error(exc) from exc

    async def close(self, code: int = 1000, reason: str = "") -> None:
        # a handler waiting for room (the reader stopped reading) must not hold the close up
        self._closing = True
        self._space.set()
        await self.rt.close(code, reason or "OK")
        await self._watcher
