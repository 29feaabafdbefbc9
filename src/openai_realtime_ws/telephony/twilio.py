# The Twilio Media Streams bridge as an ASGI app (Starlette; the `telephony` extra): a thin shell
# that joins one phone call (a Media Streams WebSocket) to one Realtime session in `audio/pcmu`.
# Caller audio goes through untouched (Twilio's base64 μ-law payload is the append event's audio),
# assistant audio likewise (each delta becomes a Twilio `media` + `mark`). The rules are in the
# core: Twilio's messages and the mark-driven playback position (core/twilio.py), what a barge-in
# sends (core/playback.py), one active response (core/responses.py).
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..core.playback import barge_in_events
from ..core.responses import ResponseSequencer, is_benign_error
from ..core.twilio import (
    TwilioMark,
    TwilioMedia,
    TwilioProtocolError,
    TwilioStart,
    TwilioStop,
    TwilioStream,
)

__all__ = ["TwilioBridge", "twiml_connect_stream"]

logger = logging.getLogger("openai_realtime_ws.telephony")

Connect = Callable[[TwilioStart], Awaitable[Any]]


def twiml_connect_stream(url: str, parameters: Mapping[str, str] | None = None) -> str:
    """TwiML that answers a call with a bidirectional Media Stream to ``url`` (``wss://…``)."""
    from xml.sax.saxutils import quoteattr

    params = "".join(
        f"<Parameter name={quoteattr(k)} value={quoteattr(v)}/>" for k, v in (parameters or {}).items()
    )
    return (f'<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
            f"<Stream url={quoteattr(url)}>{params}</Stream></Connect></Response>")


def _get(obj: Any, *path: str) -> Any:
    for name in path:
        if obj is None:
            return None
        obj = obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
    return obj


class _Call:
    """One call: the Twilio socket, the Realtime client and the bookkeeping between them."""

    def __init__(self, bridge: TwilioBridge, send_text: Callable[[str], Awaitable[None]]) -> None:
        self.bridge = bridge
        self.stream = TwilioStream()
        self.sequencer = ResponseSequencer()
        self.rt: Any = None
        self._send_text = send_text
        self._out: asyncio.Queue[str | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self.cut: set[str] = set()
        self.unheard: dict[str, str] = {}  # assistant item without audio yet -> response_id
        self.stops: list[tuple[float, Any]] = []
        self.errors: list[tuple[str | None, str]] = []

    # -- Twilio side
    def start_writer(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        while True:
            text = await self._out.get()
            if text is None:
                return
            await self._send_text(text)

    def to_twilio(self, messages: list[str]) -> None:
        for m in messages:
            self._out.put_nowait(m)

    async def on_start(self, start: TwilioStart) -> None:
        if start.encoding not in ("audio/x-mulaw", "audio/pcmu"):
            raise TwilioProtocolError(f"start.mediaFormat.encoding: expected audio/x-mulaw, got {start.encoding!r}")
        if start.sample_rate != 8000 or start.channels != 1:
            raise TwilioProtocolError(
                f"start.mediaFormat: expected 8000 Hz mono, got {start.sample_rate} Hz x {start.channels}")
        self.rt = rt = await self.bridge.connect(start)
        handlers: dict[str, Callable[[Any], None]] = {
            "response.created": self._on_created,
            "response.done": self._on_done,
            "response.output_item.added": self._on_item_added,
            "response.output_audio.delta": self._on_delta,
            "response.output_audio.done": self._on_audio_done,
            "input_audio_buffer.speech_started": self._on_speech_started,
            "input_audio_buffer.speech_stopped": self._on_speech_stopped,
            "error": self._on_error,
            "reconnecting": self._on_reconnecting,
        }
        for etype, h in handlers.items():
            rt.on(etype, h)
        rt.send({"type": "session.update", "session": self.bridge.session_config()})
        if self.bridge.greeting is not None:
            params: dict[str, Any] = {}
            if self.bridge.greeting:
                params["instructions"] = self.bridge.greeting
            self._send(self.sequencer.create(params or None))

    def on_media(self, media: TwilioMedia) -> None:
        if self.rt is not None:
            # pass-through: Twilio's base64 μ-law is the audio/pcmu append as is
            self.rt.send({"type": "input_audio_buffer.append", "audio": media.payload})

    # -- Realtime side (handlers run on the loop, in order)
    def _send(self, events: list[dict[str, Any]]) -> None:
        for ev in events:
            try:
                self.rt.send(ev)
            except Exception as exc:
                logger.debug("bridge: could not send %s: %s", ev.get("type"), type(exc).__name__)
                return

    def _on_created(self, event: Any) -> None:
        self._send(self.sequencer.on_event(event))

    def _on_done(self, event: Any) -> None:
        rid = _get(event, "response", "id")
        self._send(self.sequencer.on_event(event))
        for item_id, r in list(self.unheard.items()):
            if r == rid:
                del self.unheard[item_id]

    def _on_item_added(self, event: Any) -> None:
        item = _get(event, "item")
        if _get(item, "type") == "message" and _get(item, "role") == "assistant":
            rid = _get(event, "response_id")
            if rid is not None and rid == self.sequencer.active:
                self.unheard[str(_get(item, "id"))] = rid

    def _on_delta(self, event: Any) -> None:
        rid = _get(event, "response_id")
        if rid in self.cut or self.stream.stream_sid is None:
            return
        item_id = str(_get(event, "item_id"))
        self.unheard.pop(item_id, None)
        self.to_twilio(self.stream.media(item_id, int(_get(event, "content_index") or 0),
                                         str(_get(event, "delta") or ""), time.monotonic()))

    def _on_audio_done(self, event: Any) -> None:
        self.stream.mark_complete(str(_get(event, "item_id")), int(_get(event, "content_index") or 0))

    def _on_speech_started(self, event: Any) -> None:
        rid = self.sequencer.active
        if not self.stream.playing and rid is None:
            return
        messages, stop = self.stream.clear(time.monotonic())
        self.to_twilio(messages)
        events: list[dict[str, Any]] = []
        if rid is not None:
            self.cut.add(rid)
            if len(self.cut) > 256:
                self.cut = {rid}
            td = _get(self.rt.session, "audio", "input", "turn_detection")
            if td is None or _get(td, "interrupt_response") is False:
                events.extend(self.sequencer.cancel(rid))
        self.sequencer.drop_pending()
        unheard = next((i for i, r in self.unheard.items() if r == rid), None)
        events.extend(barge_in_events(stop, unheard_item_id=unheard))
        self._send(events)
        self.stops.append((time.monotonic(), stop))

    def _on_speech_stopped(self, event: Any) -> None:
        self.sequencer.expect_server_response()
        loop = asyncio.get_running_loop()
        loop.call_later(3.0, lambda: self._send(self.sequencer.server_response_not_coming()))

    def _on_reconnecting(self, ctx: Any) -> None:
        # a new socket will not finish the old responses: stop the phone and start clean
        if self.stream.playing:
            self.to_twilio(self.stream.clear(time.monotonic())[0])
        self.sequencer.reset()
        self.unheard.clear()

    def _on_error(self, error: Any) -> None:
        code = getattr(error, "code", None)
        message = str(getattr(error, "message", error))
        self.errors.append((code, message))
        self._send(self.sequencer.on_event({"type": "error", "error": {
            "code": code, "event_id": getattr(error, "event_id", None), "message": message}}))
        if not is_benign_error(code):
            logger.warning("Realtime error during a call (not fatal): %s %s", code, message[:200])

    async def close(self) -> None:
        if self.rt is not None:
            try:
                await self.rt.close()
            except Exception as exc:
                logger.debug("bridge: close failed: %s", type(exc).__name__)
        self._out.put_nowait(None)
        if self._writer is not None:
            try:
                await asyncio.wait_for(self._writer, 2.0)
            except Exception:
                self._writer.cancel()


class TwilioBridge:
    """An ASGI app joining Twilio Media Streams calls to Realtime sessions.

    ``connect(start)`` opens the Realtime client for one call (``start`` carries ``call_sid`` and
    the TwiML ``customParameters``). The app serves the stream socket at ``path`` and, at
    ``twiml_path``, TwiML that points Twilio at it. ``greeting``: ask the model to speak first
    (``""`` with the session's instructions, a string as per-response instructions; None: wait
    for the caller).

    Run it with any ASGI server: ``uvicorn.run(TwilioBridge(connect).app, port=8080)``.
    """

    def __init__(
        self,
        connect: Connect,
        *,
        path: str = "/media-stream",
        twiml_path: str = "/incoming-call",
        instructions: str | None = None,
        voice: str | None = None,
        greeting: str | None = "",
        turn_detection: Mapping[str, Any] | None = None,
    ) -> None:
        try:
            from starlette.applications import Starlette
            from starlette.routing import Route, WebSocketRoute
        except ImportError as exc:  # pragma: no cover - the extra is installed in CI
            raise ImportError(
                "the Twilio bridge needs the telephony extra: pip install 'openai-realtime-ws[telephony]'"
            ) from exc
        self.connect = connect
        self.path = path
        self.instructions = instructions
        self.voice = voice
        self.greeting = greeting
        self.turn_detection = dict(turn_detection) if turn_detection else {
            "type": "server_vad", "interrupt_response": True, "create_response": True}
        self.calls: list[_Call] = []
        """Calls in progress and ended (bounded to the last 100), for inspection."""
        self.app = Starlette(routes=[
            WebSocketRoute(path, self._media_stream),
            Route(twiml_path, self._twiml, methods=["GET", "POST"]),
        ])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    def session_config(self) -> dict[str, Any]:
        """The ``session.update`` ``session`` for a call: G.711 μ-law both ways, server VAD."""
        session: dict[str, Any] = {
            "type": "realtime",
            "output_modalities": ["audio"],
            "audio": {
                "input": {"format": {"type": "audio/pcmu"}, "turn_detection": self.turn_detection},
                "output": {"format": {"type": "audio/pcmu"}},
            },
        }
        if self.voice:
            session["audio"]["output"]["voice"] = self.voice
        if self.instructions:
            session["instructions"] = self.instructions
        return session

    async def _twiml(self, request: Any) -> Any:
        from starlette.responses import Response

        scheme = "wss" if request.url.scheme in ("https", "wss") else "ws"
        url = f"{scheme}://{request.url.netloc}{self.path}"
        return Response(twiml_connect_stream(url), media_type="application/xml")

    async def _media_stream(self, ws: Any) -> None:
        from starlette.websockets import WebSocketDisconnect

        await ws.accept()
        call = _Call(self, ws.send_text)
        self.calls.append(call)
        if len(self.calls) > 100:
            del self.calls[:50]
        call.start_writer()
        try:
            while True:
                text = await ws.receive_text()
                try:
                    event = call.stream.receive(text, time.monotonic())
                except TwilioProtocolError as exc:
                    logger.warning("Twilio message refused: %s", exc)
                    continue
                if isinstance(event, TwilioMedia):
                    call.on_media(event)
                elif isinstance(event, TwilioStart):
                    try:
                        await call.on_start(event)
                    except TwilioProtocolError as exc:
                        logger.warning("call refused: %s", exc)
                        break
                    except Exception as exc:  # the Realtime session could not be opened
                        logger.error("call %s: no Realtime session (%s: %s)", event.call_sid,
                                     type(exc).__name__, str(exc)[:200])
                        break
                elif isinstance(event, TwilioMark):
                    pass  # the stream's playback position moved (core/twilio.py)
                elif isinstance(event, TwilioStop):
                    break
        except WebSocketDisconnect:
            pass
        finally:
            await call.close()
            try:
                await ws.close()
            except Exception:
                pass
