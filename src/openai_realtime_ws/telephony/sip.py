"""SIP phone agents: an ASGI app for OpenAI's ``realtime.call.incoming`` webhook.

OpenAI's phone architecture: the SIP trunk points at OpenAI; for each call OpenAI POSTs a signed
webhook to your server; you accept it with the session configuration (or reject it); then a
sideband WebSocket (``?call_id=``) watches and steers the call. The audio never reaches your
server. :class:`SipApp` is that server, safe by default::

    app = SipApp(session={"model": "gpt-realtime", "instructions": "You answer for Example Co."})

    @app.tool(description="Opening hours of a branch")
    def opening_hours(branch: str) -> str:
        return "9 to 5"

    @app.on_call
    async def handle(call: SipCall) -> None:
        await call.wait_ended()

Per webhook (one POST; nothing here ever shows the sender an upstream message, a key or a URL):

1. The body (at most ``max_body`` bytes) is verified with the webhook secret
   (:mod:`..core.webhooks`: Standard Webhooks, 5-minute window). Unsigned or forged: 401; stale
   or malformed: 400; in both cases nothing is accepted and one rate-limited warning is logged.
   Without a secret (``webhook_secret=`` or ``OPENAI_WEBHOOK_SECRET``) the app is not built.
2. A delivery already handled (same ``webhook-id``: OpenAI retries) answers 200 and does nothing.
3. Other event types answer 200 and are ignored.
4. ``session`` (a dict, or a function of the event returning one, or None to reject the call with
   ``reject_status``) is completed with the registered tools and the call accepted
   (:class:`~openai_realtime_ws.AsyncRealtimeCalls`). A refused accept answers 502.
5. The call runs in a task: a sideband client (:meth:`AsyncOpenAIRealtimeWS.create` with
   ``call_id=``) wired to :class:`~openai_realtime_ws.core.voice_turn.VoiceTurn` (the one set of
   voice-turn rules: the tool follow-up through the response sequencer, barge-in with
   ``output_audio_buffer.clear``), then the ``on_call`` handler. When the handler returns the call
   is hung up (unless it already ended or was transferred); one that raises is logged and the
   call hung up; no handler: the call runs until it ends.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import inspect
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .._turn_shell import TurnShell
from ..aio.calls import AsyncRealtimeCalls
from ..aio.client import AsyncOpenAIRealtimeWS
from ..core.errors import OpenAIRealtimeError, RealtimeConfigError
from ..core.tools import Tool
from ..core.voice_turn import (
    ArmTimer,
    CancelTimer,
    StopPlayback,
    VoiceTurn,
    server_interrupts,
    turn_detection_of,
)
from ..core.voice_turn import Send as SendEvent
from ..core.webhooks import (
    TOLERANCE,
    RealtimeCallIncoming,
    WebhookVerificationError,
    decode_webhook_event,
    verify_webhook,
    webhook_key,
)
from ._warnings import RateLimitedWarnings

__all__ = ["SipApp", "SipCall"]

logger = logging.getLogger("openai_realtime_ws.telephony.sip")

SessionSource = (
    Mapping[str, Any]
    | Callable[[RealtimeCallIncoming], "Mapping[str, Any] | Awaitable[Mapping[str, Any] | None] | None"]
)
CallHandler = Callable[["SipCall"], Awaitable[Any]]

_UNAUTHENTIC = ("missing_header", "no_signature", "bad_signature")
_FED = ("response.created", "response.done", "response.output_item.added", "conversation.item.added",
        "conversation.item.created", "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped")


class SipCall(TurnShell):
    """One accepted SIP call, as the ``on_call`` handler sees it.

    ``call_id``; ``event`` (the verified ``realtime.call.incoming``: ``event.data.sip_headers``,
    ``event.data.header("From")``); ``rt`` (the sideband :class:`AsyncOpenAIRealtimeWS`: ``on``,
    ``send``, ``wait_for``…); ``transcripts`` (``(role, text)`` in order: the caller's when input
    transcription is configured, the assistant's always); ``digits`` (DTMF keys pressed);
    ``state`` (``active``, ``transferred``, ``ended``)."""

    def __init__(self, app: SipApp, event: RealtimeCallIncoming) -> None:
        self.app = app
        self.event = event
        self.call_id = event.data.call_id
        self.rt: Any = None
        self.turn = VoiceTurn()
        self.transcripts: list[tuple[str, str]] = []
        self.digits = ""
        self.state = "active"
        self.playing = False
        self._closing_as: str | None = None
        self._ended = asyncio.Event()
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def __repr__(self) -> str:
        return f"<SipCall {self.call_id} {self.state}>"

    @property
    def ended(self) -> bool:
        """Whether the call is over (hung up, transferred, or its sideband socket closed)."""
        return self._ended.is_set()

    # ------------------------------------------------------------------ steering the call

    async def refer(self, target_uri: str) -> None:
        """Transfer the call (SIP REFER) to ``tel:…`` or ``sip:…``; the call then ends here.
        Raises CallControlError when the API refuses (the call goes on)."""
        self._closing_as = "transferred"  # the API closes the sideband socket as it answers
        try:
            await self.app.calls.refer(self.call_id, target_uri)
        except BaseException:
            self._closing_as = None
            raise
        self._end("transferred")
        await self._close_rt()

    async def hangup(self) -> None:
        """End the call (best effort: a call that already ended is not an error here)."""
        if not self.ended:
            self._end("ended")
            try:
                await self.app.calls.hangup(self.call_id)
            except OpenAIRealtimeError as exc:
                logger.info("call %s: hangup not confirmed (%s)", self.call_id, type(exc).__name__)
        await self._close_rt()

    async def wait_ended(self, timeout: float | None = None) -> str:
        """Wait until the call is over; returns ``state``."""
        await asyncio.wait_for(self._ended.wait(), timeout)
        return self.state

    # ------------------------------------------------------------------ wiring (the app's)

    def _attach(self, rt: Any) -> None:
        self.rt = rt
        if self.app.tools:
            rt.auto_respond = False  # the follow-up goes through the turn's sequencer
            for tool in self.app.tools.values():
                rt.tool(tool.name, description=tool.description, parameters=tool.parameters)(tool.handler)
                self.turn.tool_names.add(tool.name)
        for etype in _FED:
            rt.on(etype, self._feed)
        rt.on("output_audio_buffer.started", self._audio_started)
        rt.on("output_audio_buffer.stopped", self._audio_stopped)
        rt.on("output_audio_buffer.cleared", self._audio_stopped)
        rt.on("conversation.item.input_audio_transcription.completed", self._user_transcript)
        rt.on("response.output_audio_transcript.done", self._assistant_transcript)
        rt.on("input_audio_buffer.dtmf_event_received", self._dtmf)
        rt.on("error", self._on_error)
        rt.on("reconnecting", lambda _ctx: self._do(self.turn.reset()))

    async def _watch(self) -> None:
        """The sideband socket closing for good ends the call."""
        with contextlib.suppress(Exception):
            await self.rt.wait_for("sip.call.never.sent")
        self._end(self._closing_as or "ended")

    def _feed(self, event: Any) -> None:
        self._feed_turn(event, playing=self.playing, rt=self.rt)

    def _audio_started(self, event: Any) -> None:
        self.playing = True

    def _audio_stopped(self, event: Any) -> None:
        self.playing = False

    def _user_transcript(self, event: Any) -> None:
        self.transcripts.append(("user", str(getattr(event, "transcript", ""))))

    def _assistant_transcript(self, event: Any) -> None:
        self.transcripts.append(("assistant", str(getattr(event, "transcript", ""))))

    def _dtmf(self, event: Any) -> None:
        self.digits = (self.digits + str(getattr(event, "event", "")))[-64:]

    def _on_error(self, error: Any) -> None:
        code = getattr(error, "code", None)
        self._do(self.turn.on_error(code, getattr(error, "event_id", None), getattr(error, "message", None)))
        if code not in (None, "conversation_already_has_active_response", "response_cancel_not_active"):
            self.app.refused.warn("call %s: Realtime error (the call goes on): %s", self.call_id, code)

    def _do(self, actions: list[Any]) -> None:
        for action in actions:
            if isinstance(action, SendEvent):
                self._send(action.event)
            elif isinstance(action, StopPlayback):
                # the call plays the audio: unless the server cuts it itself at the caller's speech
                # (turn_detection.interrupt_response, on by default), cut it there
                if self.playing and not self._server_interrupts():
                    self._send({"type": "output_audio_buffer.clear"})
                if action.report:
                    self._do(self.turn.playback_stopped(None))
            elif isinstance(action, (ArmTimer, CancelTimer)):
                self._timer(action)
            # PlayAudio / CompletePart: the audio never reaches this server

    def _server_interrupts(self) -> bool:
        return server_interrupts(turn_detection_of(self.rt.session) if self.rt is not None else None)

    def _send(self, event: dict[str, Any]) -> None:
        if self.rt is None or self.ended:
            return
        try:
            self.rt.send(event)
            if self.app.metrics is not None:
                self.app.metrics.to_upstream()
        except Exception as exc:
            logger.debug("call %s: could not send %s: %s", self.call_id, event.get("type"), type(exc).__name__)

    def _end(self, state: str) -> None:
        if not self.ended:
            self.state = state
            self._ended.set()
            self._cancel_timers()

    async def _close_rt(self) -> None:
        rt = self.rt
        if rt is not None and not rt.closed:
            with contextlib.suppress(Exception):
                await rt.close()


class SipApp:
    """An ASGI app answering OpenAI's ``realtime.call.incoming`` webhook (see the module doc).

    ``session``: the session configuration to accept calls with (the ``session`` of
    ``session.update``), or a function of the event returning one (sync or async; None rejects
    the call with ``reject_status``). ``webhook_secret``: the endpoint's ``whsec_…`` secret (else
    ``OPENAI_WEBHOOK_SECRET``; required). ``client`` / ``api_key`` / ``base_url``: as for
    :meth:`AsyncOpenAIRealtimeWS.create`, used for call control and the sideband socket;
    ``azure_endpoint``: an Azure OpenAI resource instead (``api_key``: its key, or a token
    provider; the sideband opens with :meth:`AsyncOpenAIRealtimeWS.azure`).
    ``greeting``: when not None, the assistant speaks first (with these instructions; ``""``: the
    session's). ``path``: the webhook's route. ``connect_options``: more ``create()`` options
    (``reconnect``, ``open_timeout``…). ``max_body``: the largest webhook body read.
    ``metrics``: a :class:`~openai_realtime_ws.telemetry.prometheus.ServiceMetrics` (refusals,
    call states and outcomes, sideband sessions, events sent; its ``GET /metrics`` route is
    added); ``telemetry``: a ``RealtimeTelemetry`` that instruments each call's sideband client.
    ``max_calls``: calls in progress at most; more are rejected with 486 Busy Here.
    """

    def __init__(
        self,
        *,
        session: SessionSource,
        webhook_secret: str | bytes | None = None,
        on_call: CallHandler | None = None,
        client: object | None = None,
        api_key: Any = None,
        base_url: str | None = None,
        azure_endpoint: str | None = None,
        greeting: str | None = None,
        reject_status: int = 603,
        path: str = "/",
        tolerance: int = TOLERANCE,
        max_body: int = 64 * 1024,
        connect_options: Mapping[str, Any] | None = None,
        metrics: Any = None,
        telemetry: Any = None,
        max_calls: int | None = None,
    ) -> None:
        secret = webhook_secret if webhook_secret is not None else os.environ.get("OPENAI_WEBHOOK_SECRET")
        if not secret:
            raise RealtimeConfigError(
                "SipApp refuses every call without a webhook secret: pass webhook_secret='whsec_…' "
                "or set OPENAI_WEBHOOK_SECRET (the signing secret of the webhook endpoint in the "
                "OpenAI dashboard)."
            )
        webhook_key(secret)  # a malformed secret fails here, not at the first call
        if not (isinstance(session, Mapping) or callable(session)):
            raise RealtimeConfigError(
                f"session must be a dict or a function of the event, got {type(session).__name__}."
            )
        self._secret = secret
        self.session = session
        self.on_call_handler = on_call
        self.greeting = greeting
        self.reject_status = reject_status
        self.tolerance = tolerance
        self.max_body = max_body
        self._client = client
        self._api_key = api_key
        self._base_url = base_url
        self._azure_endpoint = azure_endpoint
        self._connect_options = dict(connect_options or {})
        self.calls = AsyncRealtimeCalls(client, api_key=api_key, base_url=base_url,
                                        azure_endpoint=azure_endpoint)
        """Call control with the app's credentials (accept, reject, refer, hangup)."""
        self.tools: dict[str, Tool] = {}
        self.live: dict[str, SipCall] = {}
        """The calls in progress, by call_id."""
        self.refused = RateLimitedWarnings(logger, "refused webhooks and call errors", burst=10,
                                           notice="further ones are counted (SipApp.refused), not logged")
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.metrics = metrics
        self.telemetry = telemetry
        if max_calls is not None and (type(max_calls) is not int or max_calls < 1):
            raise RealtimeConfigError(f"max_calls must be a positive int or None, got {max_calls!r}.")
        self.max_calls = max_calls
        self._answering = 0  # calls being accepted now (they count against max_calls)
        routes = [Route(path, self._webhook, methods=["POST"])]
        if metrics is not None:
            routes.append(metrics.route())
        self._app = Starlette(routes=routes, lifespan=self._lifespan)

    def __repr__(self) -> str:
        return f"<SipApp live={len(self.live)}>"

    # ------------------------------------------------------------------ application API

    def tool(
        self, name: str | None = None, *, description: str = "", parameters: Mapping[str, Any] | None = None
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a function every call's model may call (decorator; as
        :meth:`AsyncOpenAIRealtimeWS.tool`). It is announced in the accept's session config."""

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            tool = Tool(name=name or func.__name__, handler=func, description=description,
                        parameters=parameters)
            self.tools[tool.name] = tool
            return func

        return register

    def on_call(self, handler: CallHandler) -> CallHandler:
        """Set the coroutine run for each accepted call (decorator)."""
        self.on_call_handler = handler
        return handler

    async def join(self, timeout: float | None = None) -> None:
        """Wait until every call in progress has finished (its handler and clean-up)."""
        if self._tasks:
            await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), timeout)

    async def aclose(self) -> None:
        """Hang up every live call and stop their tasks (also done at ASGI lifespan shutdown)."""
        for call in list(self.live.values()):
            await call.hangup()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        yield
        await self.aclose()

    # ------------------------------------------------------------------ the webhook

    async def _webhook(self, request: Request) -> Response:
        try:
            return await self._handle(request)
        except Exception as exc:  # never one bad request's traceback, never its details
            logger.error("webhook failed (%s); answered 500", type(exc).__name__)
            return JSONResponse({"error": "internal_error"}, status_code=500)

    async def _handle(self, request: Request) -> Response:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.max_body:
                self.refused.warn("webhook refused: body over %d bytes", self.max_body)
                self._refused("too_large")
                return JSONResponse({"error": "too_large"}, status_code=413)
        try:
            verify_webhook(bytes(body), request.headers, self._secret, now=time.time(),
                           tolerance=self.tolerance)
            event = decode_webhook_event(bytes(body))
        except WebhookVerificationError as exc:
            self.refused.warn("webhook refused (%s): %s", exc.reason, exc.message)
            self._refused(exc.reason)
            status = 401 if exc.reason in _UNAUTHENTIC else 400
            return JSONResponse({"error": exc.reason}, status_code=status)
        webhook_id = request.headers.get("webhook-id", "")
        if webhook_id in self._seen:
            return JSONResponse({"status": "duplicate"})
        self._seen[webhook_id] = None
        while len(self._seen) > 1024:
            self._seen.popitem(last=False)
        if not isinstance(event, RealtimeCallIncoming):
            logger.debug("webhook %s ignored", event.type)
            return JSONResponse({"status": "ignored"})
        response = await self._incoming(event)
        if response.status_code >= 500:
            self._seen.pop(webhook_id, None)  # OpenAI's retry of this delivery is tried again
        return response

    def _refused(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.refused(reason)

    def _state(self, state: str, previous: str | None = None) -> None:
        if self.metrics is not None:
            self.metrics.call_state(state, previous=previous)

    def _outcome(self, outcome: str, state: str) -> None:
        if self.metrics is not None:
            self.metrics.call_ended(outcome, state=state)

    async def _incoming(self, event: RealtimeCallIncoming) -> Response:
        call_id = event.data.call_id
        self._state("ringing")
        if self.max_calls is not None and len(self.live) + self._answering >= self.max_calls:
            logger.warning("call %s: %d calls in progress (max_calls); rejected as busy", call_id, len(self.live))
            if self.metrics is not None:
                self.metrics.limit_hit("max_calls")
            try:
                await self.calls.reject(call_id, 486)
            except OpenAIRealtimeError as exc:
                logger.warning("call %s: reject failed: %s", call_id, exc)
            self._outcome("rejected", "ringing")
            return JSONResponse({"status": "rejected"})
        self._answering += 1
        try:
            return await self._answer(event)
        finally:
            self._answering -= 1

    async def _answer(self, event: RealtimeCallIncoming) -> Response:
        call_id = event.data.call_id
        try:
            session = await self._session_for(event)
        except Exception as exc:
            logger.error("call %s: the session function raised %s; rejecting the call",
                         call_id, type(exc).__name__, exc_info=exc)
            session = None
        try:
            if session is None:
                await self.calls.reject(call_id, self.reject_status)
                self._outcome("rejected", "ringing")
                return JSONResponse({"status": "rejected"})
            await self.calls.accept(call_id, session)
        except OpenAIRealtimeError as exc:
            logger.warning("call %s: not accepted: %s", call_id, exc)
            self._outcome("failed", "ringing")
            return JSONResponse({"error": "call_control_failed"}, status_code=502)
        self._state("active", previous="ringing")
        call = SipCall(self, event)
        self.live[call_id] = call
        task = asyncio.get_running_loop().create_task(self._run(call))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return JSONResponse({"status": "accepted"})

    async def _session_for(self, event: RealtimeCallIncoming) -> dict[str, Any] | None:
        source = self.session
        result: Any = source(event) if callable(source) else source
        if inspect.isawaitable(result):
            result = await result
        if result is None:
            return None
        if not isinstance(result, Mapping):
            raise RealtimeConfigError(f"the session function returned {type(result).__name__}, not a dict")
        session = copy.deepcopy(dict(result))
        if self.tools:
            named = {t.get("name") for t in session.get("tools") or () if isinstance(t, Mapping)}
            session["tools"] = [*(session.get("tools") or ()),
                                *(t.schema() for t in self.tools.values() if t.name not in named)]
        return session

    async def _open_sideband(self, call_id: str) -> AsyncOpenAIRealtimeWS:
        if self._azure_endpoint is not None:
            key, provider = (None, self._api_key) if callable(self._api_key) else (self._api_key, None)
            return await AsyncOpenAIRealtimeWS.azure(
                self._client, endpoint=self._azure_endpoint, api_key=key,
                azure_ad_token_provider=provider, call_id=call_id, **self._connect_options)
        return await AsyncOpenAIRealtimeWS.create(
            self._client, call_id=call_id, api_key=self._api_key, base_url=self._base_url,
            **self._connect_options)

    async def _run(self, call: SipCall) -> None:
        obs: Any = None
        outcome = "completed"
        try:
            try:
                rt = await self._open_sideband(call.call_id)
            except Exception as exc:
                logger.warning("call %s: no sideband socket (%s: %s); hanging up", call.call_id,
                               type(exc).__name__, str(exc)[:200])
                outcome = "failed"
                await call.hangup()
                return
            if self.metrics is not None:
                self.metrics.session_opened()
            if self.telemetry is not None:
                obs = self.telemetry.instrument(rt, attributes={"openai_realtime.call.id": call.call_id})
            call._attach(rt)
            watcher = asyncio.get_running_loop().create_task(call._watch())
            if self.greeting is not None:
                call.respond(**({"instructions": self.greeting} if self.greeting else {}))
            try:
                if self.on_call_handler is None:
                    await call.wait_ended()
                else:
                    await self.on_call_handler(call)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.error("call %s: the on_call handler raised %s; hanging up", call.call_id,
                             type(exc).__name__, exc_info=exc)
                outcome = "failed"
            if not call.ended:
                if outcome == "completed":
                    outcome = "hung_up"
                await call.hangup()
            else:
                await call._close_rt()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            if self.metrics is not None:
                self.metrics.session_closed()
        finally:
            self.live.pop(call.call_id, None)
            if obs is not None:
                with contextlib.suppress(Exception):
                    obs.end()
            if call.state == "transferred" and outcome == "completed":
                outcome = "transferred"
            self._outcome(outcome, "active")
