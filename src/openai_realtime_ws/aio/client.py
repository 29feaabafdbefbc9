"""The asyncio client: :class:`AsyncOpenAIRealtimeWS`, a thin shell over the Sans-I/O core.

It owns only what needs an event loop: opening the socket (picows, chosen by measurement; see
``bench/``), reading frames, awaiting coroutine handlers, the bounded buffers and their
back-pressure, and closing. Where connections go and with which credentials
(:mod:`..core.handshake`), how frames become events (:mod:`..core.codec`) and who gets them
(:mod:`..core.dispatch`) live in the core.

Memory policy (documented in docs/client.md):

* Handlers run in arrival order. A coroutine handler is awaited before the next event is
  dispatched; events that arrive meanwhile wait in a backlog of at most ``max_queue`` events,
  after which the socket is paused (TCP back-pressure) until the backlog halves.
* Iteration (``async for``) reads a buffer of at most ``max_queue`` events. Before the first
  iteration it keeps only the newest ``max_queue`` events (a program that only uses handlers never
  accumulates); once iteration has begun, a full buffer pauses the socket instead, so no event is
  lost to a slow consumer.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import ssl as ssl_module
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Final, Self

import msgspec
import picows

from ..core.codec import ClientEventEncoder, ServerEventDecoder
from ..core.conversation import Conversation
from ..core.dispatch import Dispatcher, Handler, Routing
from ..core.errors import (
    ConnectionClosedError,
    HandlerError,
    HandshakeError,
    MalformedFrameError,
    OpenAIRealtimeError,
    RealtimeConfigError,
    RealtimeConnectionError,
)
from ..core.handshake import (
    ConnectPlan,
    RealtimeTarget,
    azure_plan,
    build_azure_url,
    build_realtime_url,
    openai_plan,
)
from ..core.reconnect import (
    ReconnectContext,
    ReconnectPolicy,
    is_recoverable,
    is_recoverable_status,
    session_restore_event,
)
from ..core.sendqueue import OutboundQueue
from ..core.tools import Tool, ToolCallRequest, ToolRouter
from ..types import (
    AnyServerEvent,
    ClientEventBase,
    ErrorEvent,
    ResponseDoneEvent,
    SessionCreatedEvent,
    SessionUpdatedEvent,
    UnknownServerEvent,
)
from ..types._emitter import AsyncWaitForMixin, TypedEmitterMixin

__all__ = ["AsyncOpenAIRealtimeWS", "resolve_credential"]

logger = logging.getLogger("openai_realtime_ws")

DEFAULT_MAX_QUEUE: Final = 1024
DEFAULT_MAX_SIZE: Final = 16 * 1024 * 1024
DEFAULT_SEND_QUEUE_BYTES: Final = 8 * 1024 * 1024
_USER_AGENT: Final = "openai-realtime-ws/0.1 (Python)"

#: Server event types whose content the client keeps (session, last error, conversation).
_TRACKED = frozenset(
    {
        "session.created",
        "session.updated",
        "error",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.created",
        "conversation.item.deleted",
        "conversation.item.truncated",
        "conversation.item.input_audio_transcription.completed",
        "response.created",
        "response.done",
    }
)

_MISSING: Any = object()
_TEXT = picows.WSMsgType.TEXT
_DECODE_ERRORS = (msgspec.ValidationError, msgspec.DecodeError, UnicodeError, RecursionError)
_NO_ROUTING = Routing()  # for the fast path: no error to report after the handlers
_SLOW_PATH = (OpenAIRealtimeError, ErrorEvent, UnknownServerEvent)  # routed by Dispatcher.route

CredentialSource = str | Callable[[], "str | Awaitable[str]"] | None


async def resolve_credential(source: object, what: str = "api_key") -> str | None:
    """A static key, or a (sync or async) token provider called now."""
    if source is None or isinstance(source, str):
        return source or None
    if callable(source):
        value = source()
        if inspect.isawaitable(value):
            value = await value
        if not isinstance(value, str) or not value:
            raise RealtimeConfigError(f"the {what} provider must return a non-empty str.")
        return value
    raise RealtimeConfigError(f"`{what}` must be a str or a callable, got {type(source).__name__}.")


class _Frame:
    """A raw server message waiting in the backlog for ``"frame"`` handlers."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class _Unhandled:
    """A marker in the iteration buffer: raise this error when iteration reaches it."""

    __slots__ = ("error",)

    def __init__(self, error: OpenAIRealtimeError) -> None:
        self.error = error


class _Listener(picows.WSListener):
    """Frame-level glue between picows and the client; reassembles fragmented messages."""

    def __init__(self, owner: AsyncOpenAIRealtimeWS) -> None:
        super().__init__()
        self._owner = owner
        self._on_message = owner._on_message
        self._fragments: bytearray | None = None
        self.active = True  # False once the owner switched to another connection

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        # frames may arrive in the handshake's read: the owner must be able to pause already
        if self._owner._listener is self:
            self._owner.socket = transport

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if not self.active:  # a connection that was replaced
            return
        msg_type = frame.msg_type
        if msg_type is _TEXT:
            if frame.fin:
                self._on_message(frame.get_payload_as_memoryview())
            else:
                self._fragments = bytearray(frame.get_payload_as_memoryview())
        elif msg_type is picows.WSMsgType.CONTINUATION:
            if self._fragments is None:
                return
            self._fragments += frame.get_payload_as_memoryview()
            if len(self._fragments) > self._owner._max_size:
                self._fragments = None
                transport.send_close(picows.WSCloseCode.MESSAGE_TOO_BIG, b"message too big")
                transport.disconnect()
                return
            if frame.fin:
                data, self._fragments = bytes(self._fragments), None
                self._owner._on_message(data)
        elif msg_type is picows.WSMsgType.BINARY:
            self._owner._on_local_error(
                MalformedFrameError(
                    f"could not parse websocket event: unexpected binary frame "
                    f"({frame.payload_size} bytes)"
                )
            )
        elif msg_type is picows.WSMsgType.CLOSE:
            try:
                code = frame.get_close_code()
            except Exception:  # pragma: no cover - defensive
                code = picows.WSCloseCode.NO_INFO
            transport.send_close(code, frame.get_close_message())
            transport.disconnect()

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        if self._owner._listener is self:
            self._owner._on_disconnected(transport)

    def pause_writing(self) -> None:
        if self._owner._listener is self:
            self._owner._write_paused = True

    def resume_writing(self) -> None:
        if self._owner._listener is self:
            self._owner._write_paused = False
            self._owner._flush_outbound()


class AsyncOpenAIRealtimeWS(TypedEmitterMixin, AsyncWaitForMixin):
    """One Realtime session over one WebSocket, for asyncio.

    Create it with :meth:`create` (OpenAI, or any server speaking the protocol) or :meth:`azure`.
    """

    socket: picows.WSTransport | None
    """The underlying picows transport (lifecycle access); ``None`` before connecting."""

    def __init__(
        self,
        plan: ConnectPlan,
        *,
        ssl: ssl_module.SSLContext | bool | None = None,
        max_queue: int = DEFAULT_MAX_QUEUE,
        max_size: int = DEFAULT_MAX_SIZE,
        send_queue_bytes: int = DEFAULT_SEND_QUEUE_BYTES,
        open_timeout: float | None = 10.0,
        close_timeout: float = 5.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        reconnect: ReconnectPolicy | bool | None = None,
        plan_factory: Callable[[], Awaitable[ConnectPlan]] | None = None,
    ) -> None:
        if max_queue < 1:
            raise RealtimeConfigError("max_queue must be at least 1.")
        if reconnect is True:
            reconnect = ReconnectPolicy()
        elif reconnect is False:
            reconnect = None
        if reconnect is not None and not isinstance(reconnect, ReconnectPolicy):
            raise RealtimeConfigError(
                f"reconnect must be a ReconnectPolicy or a bool, got {type(reconnect).__name__}."
            )
        self._reconnect: ReconnectPolicy | None = reconnect
        self._plan_factory = plan_factory
        self._listener: _Listener | None = None
        self._reconnect_task: asyncio.Task[None] | None = None
        self._restoring = False
        self._last_error_code: str | None = None
        self._unsent: list[Any] = []  # client events queued and never written (after final close)
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._confirmed_session: dict[str, Any] | None = None
        self._rollover_handle: asyncio.TimerHandle | None = None
        self.conversation = Conversation()
        """The default conversation as the server reported it (see core.conversation)."""
        self._tools = ToolRouter()
        self.reconnects = 0
        """How many times this session reconnected."""
        self._plan = plan
        self._ssl = ssl
        self._max_queue = max_queue
        self._max_size = max_size
        self._open_timeout = open_timeout
        self._close_timeout = close_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._decoder = ServerEventDecoder()
        self._encoder = ClientEventEncoder()
        self._dispatcher = Dispatcher(redact=plan.redact)
        self._plans = self._dispatcher.plans  # event type -> handler plan (the hot path reads it)
        self._decode_typed = self._decoder.decode_typed
        self.socket = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # inbound
        self._backlog: deque[AnyServerEvent | OpenAIRealtimeError | _Frame] = deque()
        self._want_frames = False  # a "frame" handler is registered
        self._dispatching = False  # a coroutine handler is being awaited
        self._hold = True  # dispatch held until the caller can have registered handlers
        self._release_on_yield = True  # False: the blocking client releases on its first call
        self._drain_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Future[None]] = set()
        # until the first iteration only the newest max_queue events are kept (maxlen)
        self._buffer: deque[AnyServerEvent | _Unhandled] = deque(maxlen=max_queue)
        self._iterating = False
        self._iter_waiter: asyncio.Future[None] | None = None
        self._waiters: dict[str, list[asyncio.Future[Any]]] = {}
        self._pending_errors: list[OpenAIRealtimeError] = []
        # delivery sequence and the last event of each type (bounded by the number of types),
        # for the blocking client's race-free send(); wait_for()
        self._seq = 0
        self._track_last = False  # set by the blocking client, which needs it
        self._last_by_type: dict[str, tuple[int, AnyServerEvent]] = {}
        self._consumed: dict[str, int] = {}
        self._pause_reasons: set[str] = set()
        # outbound
        self._outbound = OutboundQueue(send_queue_bytes)
        self._write_paused = False
        # lifecycle
        self._closed = False
        self._closing = False
        self._close_code: int | None = None
        self._close_reason = ""
        self._closed_future: asyncio.Future[None] | None = None
        self.session: Any = None
        """The last session configuration the server confirmed (``session.created/updated``)."""

    # ------------------------------------------------------------------ factories

    @classmethod
    async def create(
        cls,
        client: object | None = None,
        *,
        model: str | None = None,
        call_id: str | None = None,
        intent: str | None = None,
        url_builder: Callable[[Any, RealtimeTarget], str] | None = None,
        api_key: CredentialSource = None,
        base_url: str | None = None,
        headers: Mapping[str, str] | None = None,
        ssl: ssl_module.SSLContext | bool | None = None,
        organization: str | None = None,
        project: str | None = None,
        **options: Any,
    ) -> Self:
        """Open a Realtime session and return the connected instance.

        ``client`` is any object with ``api_key`` and ``base_url`` (``openai.AsyncOpenAI`` fits,
        ``openai`` need not be installed); without one, ``OPENAI_API_KEY`` and
        ``OPENAI_BASE_URL`` are read. ``api_key`` may be a (sync or async) token provider: it is
        called here, before connecting. Exactly one of ``model``, ``call_id`` or
        ``intent="transcription"``. ``options``: ``max_queue``, ``max_size``, ``open_timeout``,
        ``close_timeout``, ``ping_interval``, ``ping_timeout``, ``send_queue_bytes``.
        """
        if base_url is not None:
            target_client: object = _BaseURL(base_url, client)
        else:
            target_client = client
        url = build_realtime_url(
            target_client, model=model, call_id=call_id, intent=intent, url_builder=url_builder
        )
        source: object = api_key
        if source is None and client is not None:
            source = getattr(client, "_api_key_provider", None) or getattr(client, "api_key", None)
            organization = organization or getattr(client, "organization", None)
            project = project or getattr(client, "project", None)
        if source is None:
            source = os.environ.get("OPENAI_API_KEY")

        async def plan_factory() -> ConnectPlan:
            # called again on every reconnect: token providers are re-resolved
            key = await resolve_credential(source)
            return openai_plan(
                url,
                key,
                headers=headers,
                organization=organization,
                project=project,
                user_agent=_USER_AGENT,
            )

        self = cls(await plan_factory(), ssl=ssl, plan_factory=plan_factory, **options)
        await self._connect()
        self._release_soon()
        return self

    @classmethod
    async def azure(
        cls,
        client: object | None = None,
        *,
        endpoint: str | None = None,
        api_key: str | None = None,
        azure_ad_token_provider: Callable[[], str | Awaitable[str]] | None = None,
        deployment: str | None = None,
        call_id: str | None = None,
        intent: str | None = None,
        url_builder: Callable[[Any, RealtimeTarget], str] | None = None,
        headers: Mapping[str, str] | None = None,
        ssl: ssl_module.SSLContext | bool | None = None,
        **options: Any,
    ) -> Self:
        """Open an Azure OpenAI Realtime session (GA form ``/openai/v1/realtime?model=<deployment>``).

        Static keys go in the ``api-key`` header; token providers are called now and sent as
        ``Authorization: Bearer``. Accepts an ``openai.AzureOpenAI`` client.
        """
        if client is not None:
            endpoint = endpoint or _str_or_none(getattr(client, "_azure_endpoint", None))
            deployment = deployment or getattr(client, "_azure_deployment", None)
            azure_ad_token_provider = azure_ad_token_provider or getattr(
                client, "_azure_ad_token_provider", None
            )
            if api_key is None and azure_ad_token_provider is None:
                api_key = getattr(client, "api_key", None) or None
            if endpoint is None:
                base = _str_or_none(getattr(client, "base_url", None))
                endpoint = base
        endpoint = endpoint or os.environ.get("AZURE_OPENAI_ENDPOINT")
        if api_key is None and azure_ad_token_provider is None:
            api_key = os.environ.get("AZURE_OPENAI_API_KEY")
        if endpoint is None and url_builder is None:
            raise RealtimeConfigError(
                "Azure needs an endpoint: pass endpoint=, an AzureOpenAI client, or set "
                "AZURE_OPENAI_ENDPOINT."
            )
        if deployment is None and call_id is None and intent is None:
            raise RealtimeConfigError(
                "Azure needs a deployment name (deployment=), call_id= or intent='transcription'."
            )
        url = build_azure_url(
            endpoint or "",
            deployment=deployment if call_id is None and intent is None else None,
            call_id=call_id,
            intent=intent,
            url_builder=url_builder,
            client=client,
        )
        provider = azure_ad_token_provider

        async def plan_factory() -> ConnectPlan:
            token = await resolve_credential(provider, "azure_ad_token_provider")
            return azure_plan(
                url, api_key=api_key, token=token, headers=headers, user_agent=_USER_AGENT
            )

        self = cls(await plan_factory(), ssl=ssl, plan_factory=plan_factory, **options)
        await self._connect()
        self._release_soon()
        return self

    # ------------------------------------------------------------------ properties

    @property
    def url(self) -> str:
        """The socket URL, with any credential-looking part redacted."""
        return self._plan.redacted_url

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def reconnecting(self) -> bool:
        return self._reconnect_task is not None and not self._reconnect_task.done() and not self._closed

    @property
    def close_code(self) -> int | None:
        return self._close_code

    @property
    def close_reason(self) -> str:
        return self._close_reason

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("open" if self.socket is not None else "new")
        return f"<{type(self).__name__} {state} url={self.url!r}>"

    # ------------------------------------------------------------------ connection

    async def _connect(self) -> None:
        plan = self._plan
        self._loop = asyncio.get_running_loop()
        if self._closed_future is None:
            self._closed_future = self._loop.create_future()
        ssl_context: ssl_module.SSLContext | None = None
        if plan.url.startswith("wss:"):
            if isinstance(self._ssl, ssl_module.SSLContext):
                ssl_context = self._ssl
            elif self._ssl is False:
                raise RealtimeConfigError("ssl=False is not allowed with a wss:// URL.")
            else:
                ssl_context = ssl_module.create_default_context()
        headers = list(plan.headers)
        listener = _Listener(self)
        if self._listener is not None:
            self._listener.active = False
        self._listener = listener
        try:
            transport, _ = await picows.ws_connect(
                lambda: listener,
                plan.url,
                ssl_context=ssl_context,
                websocket_handshake_timeout=self._open_timeout,
                enable_auto_ping=self._ping_interval is not None,
                auto_ping_idle_timeout=self._ping_interval or 20.0,
                auto_ping_reply_timeout=self._ping_timeout or 20.0,
                max_frame_size=self._max_size,
                extra_headers=headers,
                # never follow a redirect while a credential is attached
                max_redirects=0 if plan.has_credentials else 5,
                logger_name=logger.getChild("picows"),
            )
        except picows.WSHandshakeError as exc:
            raise self._handshake_error(exc) from None
        except TimeoutError:
            raise RealtimeConnectionError(
                f"WebSocket handshake with {plan.redacted_url} timed out"
            ) from None
        except OSError as exc:
            raise RealtimeConnectionError(
                f"could not connect to {plan.redacted_url}: {plan.redact(str(exc))}"
            ) from None
        except picows.WSError as exc:
            raise RealtimeConnectionError(
                f"WebSocket handshake with {plan.redacted_url} failed: {plan.redact(str(exc))}"
            ) from None
        self.socket = transport
        watcher = asyncio.ensure_future(_watch_disconnect(transport))
        self._tasks.add(watcher)
        watcher.add_done_callback(self._tasks.discard)
        if not self._restoring:
            self._flush_outbound()

    def _handshake_error(self, exc: picows.WSHandshakeError) -> HandshakeError:
        plan = self._plan
        response = exc.response
        status = response.status if response is not None else None
        code = int(status) if status is not None else None
        if code is not None and 300 <= code < 400:
            return HandshakeError(
                f"{plan.redacted_url} answered the WebSocket upgrade with HTTP {code} (redirect); "
                "redirects are not followed while credentials are attached",
                status=code,
            )
        detail = ""
        body = exc.raw_body or b""
        if body:
            try:
                parsed = msgspec.json.decode(body)
                err = parsed.get("error") if isinstance(parsed, dict) else None
                msg = err.get("message") if isinstance(err, dict) else None
                if isinstance(msg, str):
                    detail = ": " + plan.redact(msg)[:300]
            except msgspec.DecodeError:
                pass
        if code is None:
            return HandshakeError(
                f"WebSocket handshake with {plan.redacted_url} failed: {plan.redact(str(exc))}"
            )
        return HandshakeError(
            f"{plan.redacted_url} refused the WebSocket upgrade with HTTP {code}{detail}",
            status=code,
        )

    # ------------------------------------------------------------------ inbound path

    def _on_message(self, data: bytes | memoryview) -> None:
        """One text message in. This is the receive hot path: the common case (a typed,
        non-error event, no backlog, handlers without once-registrations) is done inline
        here; everything else goes through :meth:`_dispatch` with the same outcome."""
        if self._want_frames or self._hold:  # (held: a "frame" handler may still be added)
            self._on_frame(data)
        try:
            event = self._decode_typed(data)
        except _DECODE_ERRORS:
            try:
                event = self._decoder.decode_slow(data)
            except MalformedFrameError as exc:
                self._on_local_error(exc)
                return
        etype = event.type
        if etype in _TRACKED:
            self._track(event, data)
        if self._dispatching or self._hold or self._backlog:
            self._backlog.append(event)
            if len(self._backlog) >= self._max_queue:
                self._pause("dispatch")
            return
        if isinstance(event, _SLOW_PATH):
            self._dispatch(event)
            return
        handlers = self._plans.get(etype, _MISSING)
        if handlers is _MISSING:
            handlers = self._dispatcher.fast_handlers(etype)
        if handlers is None:  # once-handlers involved: full routing
            self._dispatch(event)
            return
        i = 0
        for handler in handlers:
            i += 1
            try:
                result = handler(event)
            except Exception as exc:
                self._handler_failed(handler, event, exc)
                continue
            if result is not None and inspect.isawaitable(result):
                rest = [(h, event) for h in handlers[i:]]
                self._dispatching = True
                self._drain_task = asyncio.ensure_future(
                    self._finish(result, handler, event, rest, _NO_ROUTING, event)
                )
                return
        # delivered: what _deliver_event does, inline
        if self._track_last:
            self._seq = seq = self._seq + 1
            self._last_by_type[etype] = (seq, event)
        if self._waiters:
            waiters = self._waiters.pop(etype, None)
            if waiters:
                for fut in waiters:
                    if not fut.done():
                        fut.set_result(event)
        buf = self._buffer
        buf.append(event)
        if self._iterating and len(buf) >= self._max_queue:
            self._pause("iteration")
        waiter = self._iter_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _on_frame(self, data: bytes | memoryview) -> None:
        """``"frame"`` handlers get each server message's exact text (before decoding, malformed
        ones included), in order with the events."""
        item = _Frame(bytes(data).decode("utf-8", "replace"))
        if self._dispatching or self._hold or self._backlog:
            self._backlog.append(item)
        else:
            self._emit_local("frame", item.text)

    def _track(self, event: AnyServerEvent, data: bytes | memoryview) -> None:
        """State the client keeps from the stream: session, last error, conversation."""
        if isinstance(event, SessionCreatedEvent | SessionUpdatedEvent):
            self.session = event.session
            if isinstance(event, SessionCreatedEvent):
                self._schedule_rollover(event.session.expires_at)
            else:
                # keep the raw JSON: a confirmed ``null`` (VAD off) must survive for restore
                raw = msgspec.json.decode(data)
                self._confirmed_session = raw.get("session") if isinstance(raw, dict) else None
        elif isinstance(event, ErrorEvent):
            code = event.error.code
            self._last_error_code = code if isinstance(code, str) else None
        else:
            self.conversation.apply(event)
            if self._tools.tools and isinstance(event, ResponseDoneEvent):
                calls = self._tools.calls(event)
                if calls:
                    task = asyncio.ensure_future(
                        self._run_tools(calls, event.response.output_modalities)
                    )
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ tools

    def tool(
        self,
        name: str | None = None,
        *,
        description: str = "",
        parameters: Mapping[str, Any] | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a function the model may call (decorator)::

            @rt.tool(description="Weather for a city",
                     parameters={"type": "object", "properties": {"city": {"type": "string"}}})
            async def get_weather(city: str) -> dict[str, object]: ...

            rt.update_tools()  # announce the registered tools to the session

        When a response asks for it, the function is called with the JSON arguments as keyword
        arguments (coroutines on the loop, plain functions in a worker thread); its result goes
        back as a ``function_call_output`` (strings as is, anything else as JSON), and once every
        call of that response is answered a ``response.create`` follows. A tool that raises
        answers ``{"error": ...}`` to the model and reports a ``HandlerError`` to ``"error"``.
        """

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            self._tools.register(
                Tool(
                    name=name or func.__name__,
                    handler=func,
                    description=description or (func.__doc__ or "").strip().split("\n")[0],
                    parameters=parameters or {"type": "object", "properties": {}},
                )
            )
            return func

        return register

    def update_tools(self, **session: Any) -> None:
        """Send ``session.update`` with the registered tools (plus any other session fields)."""
        self.send(self._tools.session_update(getattr(self.session, "type", None), **session))

    async def _run_tools(
        self, calls: list[ToolCallRequest], output_modalities: list[str] | None
    ) -> None:
        answered = 0
        for call in calls:
            tool = self._tools.tools[call.name]
            if call.error is not None:
                event = ToolRouter.error_event(call, call.error)
            else:
                try:
                    if inspect.iscoroutinefunction(tool.handler):
                        result = await tool.handler(**call.arguments)
                    else:
                        result = await asyncio.to_thread(tool.handler, **call.arguments)
                        if inspect.isawaitable(result):
                            result = await result
                    event = ToolRouter.output_event(call, result)
                except Exception as exc:
                    self._handler_failed(tool.handler, _ToolCallArg(call), exc)
                    detail = self._plan.redact(f"{type(exc).__name__}: {exc}")
                    event = ToolRouter.error_event(call, detail[:500])
            if self._closed or self._closing:
                return  # nobody to answer any more
            self.send(event)
            answered += 1
        for follow in self._tools.follow_up(answered, output_modalities):
            if not (self._closed or self._closing):
                self.send(follow)

    def _on_local_error(self, error: OpenAIRealtimeError) -> None:
        if self._dispatching or self._hold or self._backlog:
            self._backlog.append(error)
            return
        self._dispatch(error)

    def _dispatch(self, item: AnyServerEvent | OpenAIRealtimeError | _Frame) -> None:
        """Run the handlers of one item; if one returns an awaitable, finish in a task."""
        # (the common case of a fresh event is inlined in _on_message; this is the general path,
        # used for errors, once-handlers and events drained from the backlog)
        if isinstance(item, _Frame):
            self._emit_local("frame", item.text)
            return
        if isinstance(item, OpenAIRealtimeError):
            routing = self._dispatcher.route_error(item)
            event: AnyServerEvent | None = None
        else:
            routing = self._dispatcher.route(item)
            event = item
        calls = routing.calls
        for i, (handler, arg) in enumerate(calls):
            try:
                result = handler(arg)
            except Exception as exc:
                self._handler_failed(handler, arg, exc)
                continue
            if result is not None and inspect.isawaitable(result):
                self._dispatching = True
                self._drain_task = asyncio.ensure_future(
                    self._finish(result, handler, arg, calls[i + 1 :], routing, event)
                )
                return
        self._deliver(routing, event)

    async def _finish(
        self,
        pending: Awaitable[object],
        handler: Handler,
        arg: Any,
        rest: list[tuple[Handler, Any]],
        routing: Routing,
        event: AnyServerEvent | None,
    ) -> None:
        try:
            await self._await_handler(pending, handler, arg)
            for h, a in rest:
                try:
                    result = h(a)
                    if result is not None and inspect.isawaitable(result):
                        await self._await_handler(result, h, a)
                except Exception as exc:
                    self._handler_failed(h, a, exc)
            self._deliver(routing, event)
        finally:
            self._dispatching = False
        self._drain_backlog()

    async def _await_handler(self, pending: Awaitable[object], handler: Handler, arg: Any) -> None:
        try:
            await pending
        except Exception as exc:
            self._handler_failed(handler, arg, exc)

    def _drain_backlog(self) -> None:
        backlog = self._backlog
        while backlog and not self._dispatching and not self._hold:
            self._dispatch(backlog.popleft())
        if len(backlog) <= self._max_queue // 2:
            self._resume("dispatch")

    def _handler_failed(self, handler: Handler, arg: Any, exc: Exception) -> None:
        etype = getattr(arg, "type", None) if not isinstance(arg, OpenAIRealtimeError) else "error"
        name = getattr(handler, "__qualname__", None) or type(handler).__name__
        error = HandlerError(
            f"handler {name} for {etype!r} raised {type(exc).__name__}: "
            f"{self._plan.redact(str(exc))[:300]}",
            event_type=str(etype),
        )
        error.__cause__ = exc
        if etype == "error":
            # an error handler failing must not loop back into error handlers
            logger.error("%s", error.message, exc_info=exc)
            return
        routing = self._dispatcher.route_error(error)
        for h, a in routing.calls:
            try:
                result = h(a)
                if result is not None and inspect.isawaitable(result):
                    task = asyncio.ensure_future(_log_failure(result))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            except Exception as inner:
                logger.error("error handler raised: %s", type(inner).__name__, exc_info=inner)
        if routing.unhandled is not None:
            self._unhandled(routing.unhandled)

    def _unhandled(self, error: OpenAIRealtimeError) -> None:
        logger.error(
            "unhandled Realtime error (register rt.on('error', ...) to handle it): %s",
            error,  # str(): the message and, for an API error, its type/code/param/event_id
        )
        self._pending_errors.append(error)
        self._push_buffer(_Unhandled(error))
        for futures in list(self._waiters.values()):
            for fut in futures:
                if not fut.done():
                    fut.set_exception(error)
        self._waiters.clear()

    def _deliver(self, routing: Routing, event: AnyServerEvent | None) -> None:
        if routing.unhandled is not None:
            # the _Unhandled marker stands for the error event in the iteration buffer
            self._unhandled(routing.unhandled)
            return
        if event is not None:
            self._deliver_event(event)

    def _deliver_event(self, event: AnyServerEvent) -> None:
        """After its handlers: resolve ``wait_for`` waiters, then the iteration buffer."""
        if self._track_last:
            self._seq = seq = self._seq + 1
            self._last_by_type[event.type] = (seq, event)
        if self._waiters:
            waiters = self._waiters.pop(event.type, None)
            if waiters:
                for fut in waiters:
                    if not fut.done():
                        fut.set_result(event)
        self._push_buffer(event)

    def _push_buffer(self, item: AnyServerEvent | _Unhandled) -> None:
        buf = self._buffer
        buf.append(item)  # before the first iteration buf has maxlen: the oldest drop off
        if self._iterating and len(buf) >= self._max_queue:
            self._pause("iteration")
        waiter = self._iter_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _pause(self, reason: str) -> None:
        if not self._pause_reasons and self.socket is not None:
            try:
                self.socket.underlying_transport.pause_reading()
            except (RuntimeError, AttributeError):  # pragma: no cover - transport closing
                pass
        self._pause_reasons.add(reason)

    def _resume(self, reason: str) -> None:
        if reason in self._pause_reasons:
            self._pause_reasons.discard(reason)
            if not self._pause_reasons and self.socket is not None:
                try:
                    self.socket.underlying_transport.resume_reading()
                except (RuntimeError, AttributeError):  # pragma: no cover - transport closing
                    pass

    def _on_disconnected(self, transport: picows.WSTransport) -> None:
        handshake = transport.close_handshake
        recv = handshake.recv if handshake is not None else None
        sent = handshake.sent if handshake is not None else None
        # who closed first decides the code: the peer's, or ours when we initiated
        initiated_here = sent is not None and (recv is None or not handshake.recv_then_sent)
        info = sent if initiated_here else recv
        if info is not None:
            self._close_code = _code_value(info.code)
            self._close_reason = info.reason or ""
        else:
            self._close_code = 1006
            self._close_reason = ""
        if initiated_here and not self._closing and self._close_code != 1001:
            # we closed because of the peer: a frame over max_size (1009) or a protocol error;
            # (1001 is a keepalive ping that got no answer: a plain recoverable close)
            self._on_local_error(
                RealtimeConnectionError(
                    f"connection closed by this client: code={self._close_code} "
                    f"reason={self._close_reason!r}"
                    + (f" (max_size is {self._max_size} bytes)" if self._close_code == 1009 else "")
                )
            )
        self.socket = None
        self._write_paused = False
        self._pause_reasons.clear()
        policy = self._reconnect
        if (
            policy is not None
            and not self._closing
            and self._plan_factory is not None
            and is_recoverable(self._close_code, self._last_error_code)
        ):
            assert self._loop is not None
            self._reconnect_task = self._loop.create_task(
                self._reconnect_loop(policy, self._close_code, self._close_reason)
            )
            return
        self._finalize()

    async def _reconnect_loop(self, policy: ReconnectPolicy, code: int | None, reason: str) -> None:
        """Reopen the session after a recoverable close; restore; then flush queued sends."""
        attempt = 0
        while attempt < policy.max_attempts and not self._closing:
            attempt += 1
            ctx = ReconnectContext(
                attempt=attempt, delay=policy.delay(attempt), close_code=code, close_reason=reason
            )
            self._emit_local("reconnecting", ctx)
            await asyncio.sleep(ctx.delay)
            if self._closing:
                break
            if policy.on_reconnect is not None:
                verdict = policy.on_reconnect(ctx)
                if inspect.isawaitable(verdict):
                    verdict = await verdict
                if verdict is False:
                    logger.info("reconnect aborted by on_reconnect after attempt %d", attempt)
                    break
            assert self._plan_factory is not None
            self._restoring = True
            try:
                self._plan = (await self._plan_factory()).with_overrides(ctx.headers, ctx.query)
                self._last_error_code = None
                await self._connect()
            except HandshakeError as exc:
                self._restoring = False
                logger.info("reconnect attempt %d refused: %s", attempt, exc.message)
                if not is_recoverable_status(exc.status):
                    break
                continue
            except RealtimeConnectionError as exc:
                self._restoring = False
                logger.info("reconnect attempt %d failed: %s", attempt, exc.message)
                continue
            except OpenAIRealtimeError as exc:  # a token provider or override failed
                self._restoring = False
                self._on_local_error(exc)
                break
            self._restore(policy)
            self._restoring = False
            self._flush_outbound()
            self.reconnects += 1
            self._emit_local(
                "reconnected", {"attempt": attempt, "close_code": code, "url": self.url}
            )
            return
        self._restoring = False
        self._finalize()

    def _restore(self, policy: ReconnectPolicy) -> None:
        """Re-send the confirmed session and (optionally) the conversation, before queued sends."""
        sock = self.socket
        if sock is None or policy.restore == "none":
            return
        events: list[dict[str, Any]] = []
        if self._confirmed_session is not None:
            update = session_restore_event(self._confirmed_session)
            if update is not None:
                events.append(update)
        if policy.restore == "conversation":
            events.extend(self.conversation.restore_events())
        self.conversation.clear()
        for event in events:
            try:
                data = self._encoder.encode(event)
            except OpenAIRealtimeError as exc:
                logger.warning("could not restore %s: %s", event.get("type"), exc.message)
                continue
            sock.send(picows.WSMsgType.TEXT, data)

    # ------------------------------------------------------------------ rollover

    def _schedule_rollover(self, expires_at: int | None) -> None:
        """Plan the switch to a fresh session ``policy.rollover`` seconds before expiry."""
        policy = self._reconnect
        if policy is None or policy.rollover is None or expires_at is None or self._loop is None:
            return
        if self._rollover_handle is not None:
            self._rollover_handle.cancel()
        delay = max(0.0, expires_at - policy.rollover - time.time())
        self._rollover_handle = self._loop.call_later(delay, self._start_rollover, expires_at)

    def _start_rollover(self, expires_at: int) -> None:
        self._rollover_handle = None
        if self._closing or self._closed or self.reconnecting or self._reconnect is None:
            return
        assert self._loop is not None
        self._reconnect_task = self._loop.create_task(self._rollover(self._reconnect, expires_at))

    async def _rollover(self, policy: ReconnectPolicy, expires_at: int) -> None:
        """Open the next session between responses, restore it, then retire the old one."""
        # wait for the gap between two responses (but not past one second before expiry)
        while self.conversation.active_response_id is not None and time.time() < expires_at - 1:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        if self._closing or self._closed or self.socket is None:
            return
        old_socket, old_listener = self.socket, self._listener
        ctx = ReconnectContext(attempt=1, delay=0.0, close_code=None, close_reason="rollover")
        self._emit_local("reconnecting", ctx)
        assert self._plan_factory is not None
        self._restoring = True
        try:
            self._plan = (await self._plan_factory()).with_overrides(ctx.headers, ctx.query)
            await self._connect()
        except OpenAIRealtimeError as exc:
            # keep the old session: it may still have time left; a drop later reconnects as usual
            logger.warning("session rollover failed, staying on the current session: %s", exc.message)
            if self._listener is not None:
                self._listener.active = False
            self._listener, self.socket = old_listener, old_socket
            if old_listener is not None:
                old_listener.active = True
            self._restoring = False
            self._flush_outbound()
            return
        self._restore(policy)
        self._restoring = False
        self._flush_outbound()
        self.reconnects += 1
        old_socket.send_close(picows.WSCloseCode.OK, b"rollover")
        old_socket.disconnect()
        self._emit_local("reconnected", {"attempt": 1, "close_code": None, "url": self.url, "rollover": True})

    def _emit_local(self, type: str, payload: Any) -> None:
        for handler, arg in self._dispatcher.route_local(type, payload).calls:
            try:
                result = handler(arg)
                if result is not None and inspect.isawaitable(result):
                    task = asyncio.ensure_future(_log_failure(result))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            except Exception as exc:
                self._handler_failed(handler, arg, exc)

    def _finalize(self) -> None:
        """The connection is over for good: fail waiters, end iteration."""
        self._closed = True
        self._wake_drainers(self._closed_error())
        self._pause_reasons.clear()
        if self._closed_future is not None and not self._closed_future.done():
            self._closed_future.set_result(None)
        error = self._closed_error()
        for futures in self._waiters.values():
            for fut in futures:
                if not fut.done():
                    fut.set_exception(error)
        self._waiters.clear()
        waiter = self._iter_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self._close_code not in (1000,) and not self._closing:
            logger.info(
                "Realtime connection closed: code=%s reason=%s", self._close_code, self._close_reason
            )

    def _closed_error(self) -> ConnectionClosedError:
        unsent = self._unsent
        for q in self._outbound.drain():
            try:
                unsent.append(msgspec.json.decode(q.data))
            except msgspec.DecodeError:  # pragma: no cover - we encoded it
                unsent.append(q.data)
        reason = f" reason={self._close_reason!r}" if self._close_reason else ""
        return ConnectionClosedError(
            f"the Realtime connection is closed (code={self._close_code}{reason})",
            code=self._close_code,
            reason=self._close_reason,
            unsent=unsent,
        )

    @property
    def _closed_normally(self) -> bool:
        return self._closing or self._close_code in (1000, 1001)

    # ------------------------------------------------------------------ handlers

    def _add_handler(self, type: str, handler: Callable[[Any], object], once: bool) -> None:
        self._dispatcher.add(type, handler, once=once)
        self._want_frames = self._dispatcher.has("frame")

    def _remove_handler(self, type: str, handler: Callable[[Any], object] | None) -> None:
        self._dispatcher.remove(type, handler)
        self._want_frames = self._dispatcher.has("frame")

    # ------------------------------------------------------------------ iteration / wait_for

    def __aiter__(self) -> Self:
        self._start_iterating()
        return self

    def _start_iterating(self) -> None:
        if not self._iterating:
            self._iterating = True
            # from now on a full buffer pauses the socket instead of dropping events
            self._buffer = deque(self._buffer)

    async def __anext__(self) -> AnyServerEvent:
        if not self._iterating:
            self._start_iterating()
        if self._hold:
            self._release()
        buf = self._buffer
        while True:
            while buf:
                item = buf.popleft()
                if self._pause_reasons and len(buf) <= self._max_queue // 2:
                    self._resume("iteration")
                if isinstance(item, _Unhandled):
                    if self._take_pending(item.error):
                        raise item.error
                    continue
                return item
            if self._closed and not self._backlog and not self._dispatching:
                if self._closed_normally:
                    raise StopAsyncIteration
                raise self._closed_error()
            assert self._loop is not None
            self._iter_waiter = self._loop.create_future()
            try:
                await self._iter_waiter
            finally:
                self._iter_waiter = None

    def _take_pending(self, error: OpenAIRealtimeError) -> bool:
        try:
            self._pending_errors.remove(error)
        except ValueError:
            return False
        return True

    def _raise_pending(self) -> None:
        if self._pending_errors:
            raise self._pending_errors.pop(0)

    async def _wait_for_impl(
        self, type: str, timeout: float | None, since: int | None = None
    ) -> Any:
        """Wait for the next event of ``type``. With ``since`` (a delivery sequence number, the
        blocking client's position at its last ``send``), an event of that type delivered after
        ``since`` and not yet returned by ``wait_for`` counts too: the blocking client's
        ``send(); wait_for()`` cannot miss a fast reply."""
        self._raise_pending()
        if self._closed and not self._hold and not self._backlog:
            raise self._closed_error()
        assert self._loop is not None
        fut: asyncio.Future[Any] = self._loop.create_future()
        self._waiters.setdefault(type, []).append(fut)
        # release held dispatch only now, so that a held event of this type is seen
        self._release()
        if since is not None and not fut.done():
            last = self._last_by_type.get(type)
            floor = max(since, self._consumed.get(type, 0))
            if last is not None and last[0] > floor:
                fut.set_result(last[1])
        if self._closed and not fut.done() and not self._dispatching:
            fut.set_exception(self._closed_error())
        try:
            event = await asyncio.wait_for(fut, timeout)
            last = self._last_by_type.get(type)
            if last is not None and last[1] is event:
                self._consumed[type] = last[0]
            return event
        except OpenAIRealtimeError as exc:
            self._take_pending(exc)
            raise
        finally:
            futures = self._waiters.get(type)
            if futures and fut in futures:
                futures.remove(fut)
                if not futures:
                    del self._waiters[type]

    # ------------------------------------------------------------------ outbound path

    def send(self, event: Mapping[str, Any] | ClientEventBase) -> None:
        """Validate ``event`` against the client-event schema and send it.

        A bad event raises :class:`InvalidClientEvent` naming the field and the expected type;
        nothing is sent and nothing already queued is lost. Sending never blocks: while the
        socket cannot take data the event waits in a bounded queue.
        """
        data = self._encoder.encode(event)
        etype = event.type if isinstance(event, ClientEventBase) else event["type"]
        self._send_bytes(data, droppable=etype == "input_audio_buffer.append")

    def send_raw(self, data: str | bytes) -> None:
        """Send one text frame as is (no validation): for events this library does not know."""
        if isinstance(data, str):
            data = data.encode()
        self._send_bytes(data, droppable=False)

    def send_audio(self, pcm: bytes, *, event_id: str | None = None) -> None:
        """Append raw audio bytes (in the session's input format) to the input buffer."""
        self._send_bytes(self._encoder.encode_audio(pcm, event_id), droppable=True)

    def _send_bytes(self, data: bytes, *, droppable: bool) -> None:
        if self._closed or self._closing:
            raise self._closed_error() if self._closed else ConnectionClosedError(
                "the Realtime connection is closing", code=None
            )
        self._release()
        sock = self.socket
        if sock is None or self._write_paused or self._outbound or self._restoring:
            dropped = self._outbound.push(data, droppable=droppable)
            if dropped:
                logger.debug("outbound queue full: dropped %d stale audio chunks", dropped)
            return
        sock.send(picows.WSMsgType.TEXT, data)

    def _flush_outbound(self) -> None:
        sock = self.socket
        if sock is None or self._closed or self._restoring:
            return
        while self._outbound and not self._write_paused:
            sock.send(picows.WSMsgType.TEXT, self._outbound.popleft().data)
        if not self._outbound and not self._write_paused:
            self._wake_drainers(None)

    def _wake_drainers(self, error: BaseException | None) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for fut in waiters:
            if not fut.done():
                if error is None:
                    fut.set_result(None)
                else:
                    fut.set_exception(error)

    @property
    def outbound_bytes(self) -> int:
        """Bytes of client events queued because the socket could not take them yet."""
        return self._outbound.nbytes

    async def drain(self) -> None:
        """Wait until every queued client event has been handed to the socket (flow control for
        bulk senders: ``send_audio`` never blocks, ``await rt.drain()`` does)."""
        while self._outbound or self._write_paused or self.socket is None or self._restoring:
            if self._closed:
                raise self._closed_error()
            assert self._loop is not None
            fut: asyncio.Future[None] = self._loop.create_future()
            self._drain_waiters.append(fut)
            await fut

    # ------------------------------------------------------------------ closing

    def _release_soon(self) -> None:
        """Start dispatch once the caller yields, so that handlers registered right after
        ``await create()`` see every event, ``session.created`` included."""
        assert self._loop is not None
        self._loop.call_soon(self._auto_release)

    def _auto_release(self) -> None:
        if self._release_on_yield:
            self._release()

    def _release(self) -> None:
        if self._hold:
            self._hold = False
            if not self._dispatching:
                self._drain_backlog()

    async def close(self, code: int = 1000, reason: str = "OK") -> None:
        """Close the session (close frame ``code``/``reason``) and wait for the socket to end.

        Raises the oldest unhandled error, if one was never raised elsewhere.
        """
        self._release()
        if not self._closed and not self._closing:
            self._closing = True
            if self._rollover_handle is not None:
                self._rollover_handle.cancel()
                self._rollover_handle = None
            task = self._reconnect_task
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
                self._restoring = False
                if self.socket is None:
                    self._close_code, self._close_reason = code, reason
                    self._finalize()
            sock = self.socket
            if sock is not None:
                self._flush_outbound()
                try:
                    close_code = picows.WSCloseCode(code)
                except ValueError:
                    close_code = code  # type: ignore[assignment]
                sock.send_close(close_code, reason.encode())
                try:
                    await asyncio.wait_for(
                        asyncio.shield(sock.wait_disconnected()), self._close_timeout
                    )
                except TimeoutError:
                    sock.disconnect(graceful=False)
                    await sock.wait_disconnected()
                except Exception:
                    pass
        if self._drain_task is not None and not self._drain_task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._drain_task), self._close_timeout)
            except TimeoutError:
                self._drain_task.cancel()
        self._raise_pending()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.close()
        else:
            try:
                await self.close()
            except OpenAIRealtimeError:
                pass


class _ToolCallArg:
    """What a failing tool's HandlerError names: ``tool call 'name'``."""

    def __init__(self, call: ToolCallRequest) -> None:
        self.type = f"tool call {call.name!r}"


async def _watch_disconnect(transport: picows.WSTransport) -> None:
    """Retrieve picows' disconnect outcome (a local protocol error is reported as a close)."""
    try:
        await transport.wait_disconnected()
    except Exception as exc:
        logger.debug("connection ended after a local failure: %s", type(exc).__name__)


async def _log_failure(awaitable: Awaitable[object]) -> None:
    try:
        await awaitable
    except Exception as exc:
        logger.error("error handler raised: %s", type(exc).__name__, exc_info=exc)


def _code_value(code: object) -> int:
    value = getattr(code, "value", code)
    return value if isinstance(value, int) else 1006


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


class _BaseURL:
    """A client stand-in whose base URL overrides the wrapped client's."""

    def __init__(self, base_url: str, client: object | None) -> None:
        self.base_url = base_url
        self.websocket_base_url = None
        self._client = client
