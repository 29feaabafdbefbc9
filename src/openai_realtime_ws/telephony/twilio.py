# The Twilio Media Streams bridge: a thin shell that joins one phone call (a Media Streams
# WebSocket) to one Realtime session in `audio/pcmu`. Caller audio goes through untouched
# (Twilio's base64 μ-law payload is the append event's audio), assistant audio likewise (each
# delta becomes a Twilio `media` + `mark`). The shell owns sockets, tasks and timers, and who may
# connect: the X-Twilio-Signature check (the `twilio` package's RequestValidator) on the TwiML
# webhook and on the stream's upgrade, before any upstream session exists; an `authenticate` hook;
# loopback only when no auth token is configured. The rules are in the core: Twilio's messages,
# their checks and the mark-driven playback position (core/twilio.py); every turn rule (barge-in,
# cut/unheard audio, turn_detection flags, one active response, tool follow-up) in
# core/voice_turn.py. `TwilioCall` is transport-neutral (text in, text out): the ASGI app here and
# the standalone picows server (telephony/_server.py) both drive it.
from __future__ import annotations

import asyncio
import inspect
import ipaddress
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .._turn_shell import TurnShell
from ..core.twilio import (
    TwilioDtmf,
    TwilioMedia,
    TwilioProtocolError,
    TwilioStart,
    TwilioStop,
    TwilioStream,
)
from ..core.voice_turn import (
    Action,
    ArmTimer,
    CancelTimer,
    CompletePart,
    PlayAudio,
    Send,
    StopPlayback,
    VoiceTurn,
)
from ._refused import TwilioRefused
from ._warnings import RateLimitedWarnings

__all__ = ["TwilioBridge", "TwilioCall", "TwilioRefused", "twiml_connect_stream"]

logger = logging.getLogger("openai_realtime_ws.telephony")

Connect = Callable[[TwilioStart], Awaitable[Any]]
Authenticate = Callable[[Mapping[str, str], str | None], "bool | Awaitable[bool | None] | None"]
OnDtmf = Callable[["TwilioCall", TwilioDtmf], object]

_LOOPBACK_MESSAGE = (
    "This Twilio bridge has no auth token, so it only accepts requests from this machine "
    "(loopback). Set TWILIO_AUTH_TOKEN (or pass auth_token=…) and public_url='https://your-host' "
    "so that Twilio's X-Twilio-Signature can be checked.")
_BAD_SIGNATURE = "X-Twilio-Signature missing or invalid."


_EARLY_FRAMES = 100  # caller audio kept while the upstream session opens: 2 s of 20 ms frames


def twiml_connect_stream(url: str, parameters: Mapping[str, str] | None = None) -> str:
    """TwiML that answers a call with a bidirectional Media Stream to ``url`` (``wss://…``)."""
    from xml.sax.saxutils import quoteattr

    params = "".join(
        f"<Parameter name={quoteattr(k)} value={quoteattr(v)}/>" for k, v in (parameters or {}).items()
    )
    return (f'<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
            f"<Stream url={quoteattr(url)}>{params}</Stream></Connect></Response>")


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class TwilioCall(TurnShell):
    """One phone call: the Twilio stream, the Realtime client and the turn rules between them.

    Hooks get it: ``start`` (the Twilio ``start``), ``rt`` (the Realtime client), ``digits``
    (DTMF keys pressed so far), :meth:`say`, :meth:`respond`, :meth:`hang_up`."""

    def __init__(self, bridge: TwilioBridge, send_text: Callable[[str], None],
                 close: Callable[[], None],
                 send_texts: Callable[[list[str]], None] | None = None) -> None:
        self.bridge = bridge
        self.stream = TwilioStream(max_message_chars=bridge.max_message_bytes)
        self.turn = VoiceTurn()
        self.rt: Any = None
        self.start: TwilioStart | None = None
        self.digits = ""
        """DTMF keys pressed on this call, in order."""
        self.refused = RateLimitedWarnings(logger, "refused Twilio messages",
                                           notice="further ones on this call are counted, not logged")
        self.stops: list[tuple[float, Any]] = []
        self.errors: list[tuple[str | None, str]] = []
        self.ended = False
        self.end_reason = ""
        self.received_bytes = 0
        self._send_text = send_text
        self._send_texts = send_texts  # several messages in one write (the standalone server)
        self._close = close
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._handlers: list[tuple[str, Callable[[Any], None]]] = []
        self._send_raw: Callable[[str], None] | None = None
        self._early: list[str] = []  # caller audio received while the upstream opens
        self._telemetry: Any = None  # the call's telemetry.otel.SessionTelemetry, if any

    @property
    def call_sid(self) -> str:
        """The call's ``CallSid`` (empty before ``start``)."""
        return self.stream.call_sid or ""

    # ------------------------------------------------------------------ the application's

    def hang_up(self, reason: str = "hung up by the application") -> None:
        """End the call: the Twilio socket is closed (Twilio hangs up or runs the next TwiML verb)
        and the Realtime session closed."""
        if not self.ended:
            self.ended = True
            self.end_reason = reason
            self._close()

    # ------------------------------------------------------------------ Twilio -> us

    def receive(self, data: str | bytes) -> None:
        """One message from Twilio (text; a binary frame is refused). Never raises."""
        if self.ended:
            return
        self.received_bytes += len(data)
        if self.received_bytes > self.bridge.max_call_bytes:
            if self.bridge.metrics is not None:
                self.bridge.metrics.limit_hit("max_call_bytes")
            logger.warning("call %s: more than %d bytes from Twilio; hanging up", self.call_sid,
                           self.bridge.max_call_bytes)
            self.hang_up("max_call_bytes")
            return
        try:
            event = self.stream.receive(data, time.monotonic())
        except TwilioProtocolError as exc:
            if exc.fatal:
                logger.warning("call refused: %s", exc)  # a bad start: no session is opened
                self.hang_up("bad start")
                return
            self.refused.warn("Twilio message refused (the call goes on): %s", exc)
            return
        if type(event) is TwilioMedia:
            if self.rt is not None:
                self._append(event.payload)
            elif len(self._early) < _EARLY_FRAMES:
                self._early.append(event.payload)  # the upstream is opening: the caller's first words
        elif isinstance(event, TwilioStart):
            self._spawn(self._open(event))
        elif isinstance(event, TwilioDtmf):
            self._dtmf(event)
        elif isinstance(event, TwilioStop):
            self.hang_up("stop")

    def _append(self, payload: str) -> None:
        try:  # pass-through: Twilio's base64 μ-law is the audio/pcmu append as is
            # (checked strict base64 by the core: safe to put in the JSON as it is)
            if self._send_raw is not None:
                self._send_raw('{"type":"input_audio_buffer.append","audio":"' + payload + '"}')
            else:
                self.rt.send({"type": "input_audio_buffer.append", "audio": payload})
            if self.bridge.metrics is not None:
                self.bridge.metrics.to_upstream()
        except Exception as exc:
            self.refused.warn("caller audio not sent upstream: %s", type(exc).__name__)

    def _dtmf(self, event: TwilioDtmf) -> None:
        self.digits = (self.digits + event.digit)[-64:]
        hook = self.bridge.on_dtmf
        if hook is None:
            return
        try:
            result = hook(self, event)
        except Exception as exc:
            logger.error("on_dtmf raised %s", type(exc).__name__, exc_info=exc)
            return
        if inspect.isawaitable(result):
            self._spawn(self._await_hook(result))

    async def _await_hook(self, result: Awaitable[Any]) -> None:
        try:
            await result
        except Exception as exc:
            logger.error("on_dtmf raised %s", type(exc).__name__, exc_info=exc)

    async def _open(self, start: TwilioStart) -> None:
        self.start = start
        try:
            rt = await self.bridge.connect(start)
        except Exception as exc:  # the Realtime session could not be opened
            logger.error("call %s: no Realtime session (%s: %s); hanging up", start.call_sid,
                         type(exc).__name__, str(exc)[:200])
            self.hang_up("no Realtime session")
            return
        if self.ended:
            await self._close_rt(rt)
            return
        self.rt = rt
        self._send_raw = getattr(rt, "send_raw", None)
        if self.bridge.telemetry is not None:
            self._telemetry = self.bridge.telemetry.instrument(
                rt, attributes={"openai_realtime.call.id": start.call_sid})
        metrics = self.bridge.metrics
        if metrics is not None:
            metrics.session_opened()
            metrics.call_state("active", previous="ringing")
        for etype in ("response.created", "response.done", "response.output_item.added",
                      "conversation.item.added", "response.output_audio.delta",
                      "response.output_audio.done", "input_audio_buffer.speech_started",
                      "input_audio_buffer.speech_stopped"):
            self._handlers.append((etype, self._feed))
        self._handlers += [("error", self._on_error), ("reconnecting", self._on_reconnecting)]
        for etype, handler in self._handlers:
            rt.on(etype, handler)
        self._send({"type": "session.update", "session": self.bridge.session_config()})
        early, self._early = self._early, []
        for payload in early:
            self._append(payload)
        if self.bridge.greeting is not None:
            self.respond(**({"instructions": self.bridge.greeting} if self.bridge.greeting else {}))
        self._spawn(self._watch_upstream(rt))

    async def _watch_upstream(self, rt: Any) -> None:
        """An upstream that closes for good (after the client's reconnect policy gave up, or
        with none) ends the call with one log line."""
        try:
            while not self.ended:
                await rt.wait_for("twilio.bridge.never")
        except Exception as exc:
            if not self.ended:
                code = getattr(rt, "close_code", None)
                logger.warning("call %s: the Realtime session closed (%s, code %s); hanging up",
                               self.call_sid, type(exc).__name__, code)
                self.hang_up("upstream closed")

    # ------------------------------------------------------------------ Realtime -> us

    def _feed(self, event: Any) -> None:
        self._feed_turn(event, playing=self.stream.playing, rt=self.rt)

    def _do(self, actions: list[Action]) -> None:
        for action in actions:
            if type(action) is PlayAudio:
                if self.stream.stream_sid is not None:
                    try:
                        texts = self.stream.media(action.item_id, action.content_index,
                                                  action.delta, time.monotonic())
                        if self._send_texts is not None:
                            self._send_texts(texts)
                        else:
                            for text in texts:
                                self._send_text(text)
                        if self.bridge.metrics is not None:
                            self.bridge.metrics.to_client(2)
                    except TwilioProtocolError as exc:
                        self.refused.warn("assistant audio not played: %s", exc)
            elif isinstance(action, Send):
                self._send(action.event)
            elif isinstance(action, CompletePart):
                self.stream.mark_complete(action.item_id, action.content_index)
            elif isinstance(action, StopPlayback):
                stop = None
                if self.stream.stream_sid is not None and (self.stream.playing or action.report):
                    messages, stop = self.stream.clear(time.monotonic())
                    for text in messages:
                        self._send_text(text)
                if action.report:
                    self._do(self.turn.playback_stopped(stop))
                    self.stops.append((time.monotonic(), stop))
            elif isinstance(action, (ArmTimer, CancelTimer)):
                self._timer(action)

    def _send(self, event: dict[str, Any]) -> None:
        if self.rt is None:
            return
        try:
            self.rt.send(event)
            if self.bridge.metrics is not None:
                self.bridge.metrics.to_upstream()
        except Exception as exc:
            logger.debug("bridge: could not send %s: %s", event.get("type"), type(exc).__name__)

    def _on_reconnecting(self, ctx: Any) -> None:
        # a new socket will not finish the old responses: stop the phone and start clean
        self._do(self.turn.reset())

    def _on_error(self, error: Any) -> None:
        code = getattr(error, "code", None)
        message = str(getattr(error, "message", error))
        self.errors.append((code, message))
        del self.errors[:-100]
        self._do(self.turn.on_error(code, getattr(error, "event_id", None), message))
        if code is not None and code not in ("conversation_already_has_active_response",
                                             "response_cancel_not_active"):
            self.refused.warn("Realtime error during a call (not fatal): %s %s", code, message[:200])

    # ------------------------------------------------------------------ the end

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_rt(self, rt: Any) -> None:
        try:
            await rt.close()
        except Exception as exc:
            logger.debug("bridge: upstream close: %s", type(exc).__name__)

    async def aclose(self) -> None:
        """After the Twilio socket ended: close the Realtime session and stop every task."""
        self.ended = True
        self._cancel_timers()
        rt, self.rt = self.rt, None
        metrics = self.bridge.metrics
        if metrics is not None:
            outcome = "failed" if self.end_reason in ("bad start", "no Realtime session",
                                                      "upstream closed") else "completed"
            metrics.call_ended(outcome, state="active" if rt is not None else "ringing")
        if rt is not None:
            for etype, handler in self._handlers:
                rt.off(etype, handler)
            if self._telemetry is not None:
                with self._telemetry.closing():
                    await self._close_rt(rt)
            else:
                await self._close_rt(rt)
            if metrics is not None:
                metrics.session_closed()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            try:
                await task
            except BaseException:
                pass
        if self.refused.count:
            logger.info("call %s: %d Twilio messages refused", self.call_sid, self.refused.count)


class TwilioBridge:
    """Twilio Media Streams calls joined to Realtime sessions: an ASGI app (:attr:`app`, or the
    bridge itself) and, for the lowest cost per call, a standalone server (:meth:`serve`).

    ``connect(start)`` opens the Realtime client for one call (``start`` carries ``call_sid`` and
    the TwiML ``customParameters``); it is called only after the request was authenticated and
    the stream's ``start`` checked.

    Who may connect: with ``auth_token`` (default ``TWILIO_AUTH_TOKEN``) every request must carry
    a valid ``X-Twilio-Signature`` computed over ``public_url`` (default ``TWILIO_PUBLIC_URL``,
    the ``https://host`` Twilio reaches you at: never taken from the request's ``Host``) plus the
    path; ``authenticate(headers, client_host)`` may refuse more (return False/None, or raise
    :class:`TwilioRefused`). With neither, only loopback callers are served.

    ``greeting``: ask the model to speak first (``""`` with the session's instructions, a string
    as per-response instructions; None: wait for the caller). ``on_dtmf(call, event)``: a key was
    pressed (``call.say(...)`` lets it drive the agent). Limits: ``max_message_bytes`` per Twilio
    message, ``max_call_bytes`` and ``max_call_seconds`` per call.
    """

    def __init__(
        self,
        connect: Connect,
        *,
        auth_token: str | None = None,
        public_url: str | None = None,
        authenticate: Authenticate | None = None,
        path: str = "/media-stream",
        twiml_path: str = "/incoming-call",
        instructions: str | None = None,
        voice: str | None = None,
        greeting: str | None = "",
        turn_detection: Mapping[str, Any] | None = None,
        on_dtmf: OnDtmf | None = None,
        max_message_bytes: int = 8192,
        max_call_bytes: int = 256 * 1024 * 1024,
        max_call_seconds: float = 4 * 3600.0,
        metrics: Any = None,
        telemetry: Any = None,
    ) -> None:
        self.connect = connect
        token = auth_token if auth_token is not None else os.environ.get("TWILIO_AUTH_TOKEN")
        public = public_url if public_url is not None else os.environ.get("TWILIO_PUBLIC_URL")
        self._validator: Any = None
        if token:
            try:
                from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]
            except ImportError as exc:  # pragma: no cover - the extra is installed in CI
                raise ImportError("checking Twilio signatures needs the telephony extra: "
                                  "pip install 'openai-realtime-ws[telephony]'") from exc
            if not public:
                raise ValueError("public_url: required with an auth token (the https://host Twilio "
                                 "calls; the signature covers it), or set TWILIO_PUBLIC_URL")
            self._validator = RequestValidator(token)
        if public:
            parts = urlsplit(public)
            if parts.scheme not in ("https", "http") or not parts.netloc or parts.query:
                raise ValueError("public_url: expected 'https://host[:port]' (Twilio's webhooks "
                                 f"and streams reach you there), got {public!r}")
        self.public_url = public.rstrip("/") if public else None
        self.authenticate = authenticate
        self.path = path
        self.twiml_path = twiml_path
        self.instructions = instructions
        self.voice = voice
        self.greeting = greeting
        self.turn_detection = dict(turn_detection) if turn_detection else {
            "type": "server_vad", "interrupt_response": True, "create_response": True}
        self.on_dtmf = on_dtmf
        self.max_message_bytes = max_message_bytes
        self.max_call_bytes = max_call_bytes
        self.max_call_seconds = max_call_seconds
        self.calls: list[TwilioCall] = []
        """Calls in progress and ended (bounded to the last 100), for inspection."""
        self.refusals = RateLimitedWarnings(logger, "refused requests", burst=5, window=60.0,
                                            notice="further ones are counted, not logged (for 60 s)")
        self.metrics = metrics
        """A :class:`~openai_realtime_ws.telemetry.prometheus.ServiceMetrics` (``GET /metrics``
        on the ASGI app, counters per call), or None."""
        self.telemetry = telemetry
        """A :class:`~openai_realtime_ws.telemetry.otel.RealtimeTelemetry`: each call's Realtime
        session is traced, with ``openai_realtime.call.id`` (the CallSid), or None."""
        self._app: Any = None

    @property
    def app(self) -> Any:
        """The ASGI app (Starlette): the stream socket at ``path``, TwiML at ``twiml_path``."""
        if self._app is None:
            try:
                from starlette.applications import Starlette
                from starlette.routing import Route, WebSocketRoute
            except ImportError as exc:  # pragma: no cover - the extra is installed in CI
                raise ImportError("the Twilio bridge needs the telephony extra: "
                                  "pip install 'openai-realtime-ws[telephony]'") from exc
            routes: list[Any] = [
                WebSocketRoute(self.path, self._media_stream),
                Route(self.twiml_path, self._twiml, methods=["GET", "POST"]),
            ]
            if self.metrics is not None:
                routes.append(self.metrics.route())
            self._app = Starlette(routes=routes)
        return self._app

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

    # ------------------------------------------------------------------ who may connect

    async def check(self, *, path: str, query: str, headers: Mapping[str, str],
                    client_host: str | None, params: Mapping[str, str] | None = None,
                    websocket: bool) -> None:
        """Authenticate one request (the TwiML webhook or the stream's upgrade); raises
        :class:`TwilioRefused`. ``path``: the full request path; ``params``: the POST form."""
        self.check_signature(path=path, query=query, headers=headers, params=params,
                             websocket=websocket)
        self.check_peer(client_host)
        if self.authenticate is not None:
            result = self.authenticate(headers, client_host)
            if inspect.isawaitable(result):
                result = await result
            if not result:
                raise TwilioRefused(403, "Refused by the application.")

    def check_signature(self, *, path: str, query: str, headers: Mapping[str, str],
                        params: Mapping[str, str] | None, websocket: bool) -> None:
        """With an auth token: the request's ``X-Twilio-Signature`` must be Twilio's for
        ``public_url`` + ``path`` (+ ``?query``) and the POST ``params``."""
        if self._validator is None:
            return
        signature = headers.get("x-twilio-signature")
        base = self.public_url or ""
        if websocket:
            base = "wss" + base[base.index(":"):]
        url = base + path + (f"?{query}" if query else "")
        if not signature or not self._validator.validate(url, dict(params or {}), signature):
            raise TwilioRefused(403, _BAD_SIGNATURE)

    def check_peer(self, client_host: str | None) -> None:
        """Without an auth token or an authenticate hook, only loopback callers."""
        if self._validator is None and self.authenticate is None and not _is_loopback(client_host):
            raise TwilioRefused(403, _LOOPBACK_MESSAGE)

    async def serve(self, host: str = "127.0.0.1", port: int = 8080, **kwargs: Any) -> asyncio.Server:
        """The standalone server (picows, no ASGI stack; the lowest cost per call): the stream
        socket at ``ws://host:port{path}``, with the same checks as the ASGI app. It does not
        serve the TwiML webhook (plain HTTP): serve :attr:`app` for it, or answer it from your
        own web app with :func:`twiml_connect_stream`. ``kwargs`` go to
        ``picows.ws_create_server`` (``ssl=`` for TLS)."""
        from ._server import serve

        return await serve(self, host, port, **kwargs)

    def stream_url(self, prefix: str, server: tuple[str, int] | None) -> str:
        """The ``wss://`` URL for the TwiML: from ``public_url``; without one (loopback use
        only) the listening socket's own address, never the request's ``Host``."""
        if self.public_url is not None:
            return "wss" + self.public_url[self.public_url.index(":"):] + prefix + self.path
        host, port = server or ("127.0.0.1", 80)
        return f"ws://{host}:{port}{prefix}{self.path}"

    def _new_call(self, send_text: Callable[[str], None], close: Callable[[], None],
                  send_texts: Callable[[list[str]], None] | None = None) -> TwilioCall:
        """A call on a socket held elsewhere (the standalone server, telephony/_server.py)."""
        return TwilioCall(self, send_text, close, send_texts)

    def _refused(self, exc: TwilioRefused, what: str, client_host: str | None) -> None:
        self.refusals.warn("Twilio bridge: %s from %s refused (%d): %s", what, client_host,
                           exc.status, exc.message)
        if self.metrics is not None:
            self.metrics.refused("bad_signature" if exc.message == _BAD_SIGNATURE else "auth")

    # ------------------------------------------------------------------ ASGI routes

    async def _twiml(self, request: Any) -> Any:
        from starlette.responses import PlainTextResponse, Response

        scope = request.scope
        client = scope.get("client")
        host = client[0] if client else None
        params: dict[str, str] = {}
        if request.method == "POST":
            body = await request.body()
            if len(body) > 64 * 1024:
                return PlainTextResponse("Request too large.", 413)
            try:
                params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            except UnicodeDecodeError:
                return PlainTextResponse("Expected a form body.", 400)
        path = _full_path(scope)
        try:
            await self.check(path=path, query=scope.get("query_string", b"").decode("latin-1"),
                             headers=request.headers, client_host=host, params=params, websocket=False)
        except TwilioRefused as exc:
            self._refused(exc, "TwiML request", host)
            return PlainTextResponse(exc.message, exc.status)
        prefix = path[: -len(self.twiml_path)] if path.endswith(self.twiml_path) else ""
        url = self.stream_url(prefix, scope.get("server"))
        return Response(twiml_connect_stream(url), media_type="application/xml")

    async def _media_stream(self, ws: Any) -> None:
        from starlette.responses import PlainTextResponse

        scope = ws.scope
        client = scope.get("client")
        host = client[0] if client else None
        try:
            await self.check(path=_full_path(scope), query=scope.get("query_string", b"").decode("latin-1"),
                             headers=ws.headers, client_host=host, websocket=True)
        except TwilioRefused as exc:
            self._refused(exc, "stream upgrade", host)
            try:
                await ws.send_denial_response(PlainTextResponse(exc.message, exc.status))
            except Exception:
                await ws.close(1008)
            return
        try:
            await ws.accept()
        except Exception:
            return  # the caller left during the handshake
        await self._run_asgi_call(ws)

    async def _run_asgi_call(self, ws: Any) -> None:
        out: asyncio.Queue[str | None] = asyncio.Queue()
        send = ws.send
        receive = ws.receive

        async def write() -> None:
            try:
                while (text := await out.get()) is not None:
                    await send({"type": "websocket.send", "text": text})
            except Exception:
                pass  # the caller hung up: the reader sees it
            try:
                await send({"type": "websocket.close", "code": 1000})
            except Exception:
                pass

        call = TwilioCall(self, out.put_nowait, lambda: out.put_nowait(None))
        self._track(call)
        if self.metrics is not None:
            self.metrics.call_state("ringing")
        loop = asyncio.get_running_loop()
        writer = loop.create_task(write())
        limit = loop.call_later(self.max_call_seconds, self._too_long, call)
        try:
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    text = message.get("text")
                    call.receive(text if text is not None else (message.get("bytes") or b""))
                elif kind == "websocket.disconnect":
                    break
        except Exception as exc:  # the socket failed under us: the call is over
            logger.debug("call %s: socket ended: %s", call.call_sid, type(exc).__name__)
        finally:
            limit.cancel()
            call.ended = True
            out.put_nowait(None)
            await call.aclose()
            try:
                await asyncio.wait_for(writer, 2.0)
            except BaseException:
                writer.cancel()

    def _too_long(self, call: TwilioCall) -> None:
        logger.warning("call %s: longer than max_call_seconds (%.0f s); hanging up", call.call_sid,
                       self.max_call_seconds)
        call.hang_up("max_call_seconds")

    def _track(self, call: TwilioCall) -> None:
        self.calls.append(call)
        if len(self.calls) > 100:
            del self.calls[:50]


def _full_path(scope: Mapping[str, Any]) -> str:
    path = str(scope.get("path", ""))
    root = str(scope.get("root_path", ""))
    return path if not root or path.startswith(root) else root + path
