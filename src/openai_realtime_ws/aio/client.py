"""The asyncio client: :class:`AsyncOpenAIRealtimeWS`, the event-loop shell around the Sans-I/O
:class:`~openai_realtime_ws.core.connection.RealtimeProtocol`.

One class, no back-references: it holds the sockets, tasks, timers and futures, feeds the
protocol facts (frames via :mod:`.transport`, socket ends, timer ticks, API calls) and carries
out the actions that come back (:meth:`AsyncOpenAIRealtimeWS._run_actions`); the reconnect loop
and the rollover sit here, beside :meth:`_open`, the socket opener they use. What is delivered to
whom and when, what is sent, queued or dropped, whether and how often to retry, and the close
sequence are the protocol's (see its module comment and docs/client.md). Opening a socket
(timeouts, TLS, redirects) is :mod:`.transport` (picows); ``create()``/``azure()`` arguments
become connect plans in :mod:`.credentials`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import ssl as ssl_module
import warnings
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar, Unpack

import picows

from ..core.ask import AskTurn, Reply
from ..core.connection import (
    Abort,
    ArmRollover,
    AwaitHandler,
    Flush,
    Log,
    PauseReading,
    RealtimeProtocol,
    Reconnect,
    ResumeReading,
    RunTools,
    SendClose,
    StartRollover,
    State,
)
from ..core.errors import OpenAIRealtimeError
from ..core.handshake import ConnectPlan, RealtimeTarget
from ..core.options import ConnectOptions, check_connect_options
from ..core.reconnect import ReconnectContext, library_error
from ..core.tools import Tool, ToolCallRequest, ToolRouter
from ..core.usage import UsageTotals
from ..types import AnyServerEvent, ClientEventBase, ServerEvent
from ..types._emitter import AsyncWaitForMixin, TypedEmitterMixin
from ..types.params import ResponseCreateParamsDict, SessionFieldsDict
from ..types.resources import (
    ConversationResource,
    InputAudioBufferResource,
    OutputAudioBufferResource,
    ResponseResource,
    SessionResource,
)
from .credentials import (
    CredentialSource,
    PlanFactory,
    azure_plans,
    bounded,
    openai_plans,
    resolve_credential,
)
from .transport import Listener, close_info, open_socket, set_reading, writer

__all__ = ["AsyncOpenAIRealtimeWS", "CredentialSource", "resolve_credential"]

logger = logging.getLogger("openai_realtime_ws")


class AsyncOpenAIRealtimeWS(TypedEmitterMixin, AsyncWaitForMixin):
    """One Realtime session over one WebSocket, for asyncio.

    Create it with :meth:`create` (OpenAI, or any server speaking the protocol) or :meth:`azure`.
    """

    socket: picows.WSTransport | None
    """The underlying picows transport (lifecycle access); ``None`` while there is none."""
    protocol: RealtimeProtocol
    """The Sans-I/O protocol state (read-only use: ``protocol.state``, ``backlog_size``…)."""
    session: SessionResource
    """The session the server last confirmed (its fields: ``rt.session.instructions``; falsy
    before the first ``session.created``; ``rt.session.confirmed`` is the object itself), and
    ``rt.session.update(session=…)``."""
    conversation: ConversationResource
    """The default conversation as the server reported it (see core.conversation: iterate it,
    ``len``, ``get(item_id)``, ``active_response_id``), and ``rt.conversation.item.create(…)``,
    ``.truncate``, ``.delete``, ``.retrieve``."""
    response: ResponseResource
    """``rt.response.create(response=…)``, ``rt.response.cancel(…)``."""
    input_audio_buffer: InputAudioBufferResource
    """``rt.input_audio_buffer.append(audio=…)``, ``.commit()``, ``.clear()``."""
    output_audio_buffer: OutputAudioBufferResource
    """``rt.output_audio_buffer.clear()``."""

    def __init__(
        self,
        plan: ConnectPlan,
        options: ConnectOptions | None = None,
        *,
        plan_factory: Callable[[], Awaitable[ConnectPlan]] | None = None,
    ) -> None:
        opts = options if options is not None else ConnectOptions()
        self._opts = opts
        self._plan = plan
        self._plan_factory = plan_factory
        self.protocol = RealtimeProtocol(
            redact=self._redact,
            max_queue=opts.max_queue,
            send_queue_bytes=opts.send_queue_bytes,
            max_size=opts.max_size,
            reconnect=opts.reconnect,
        )
        self._actions = self.protocol.actions
        self._listener: Listener | None = None
        self._listeners: weakref.WeakSet[Listener] = weakref.WeakSet()  # sockets feeding frames
        self._handler_task: asyncio.Task[None] | None = None
        self._rollover_timer: asyncio.TimerHandle | None = None
        self._recovery: asyncio.Task[None] | None = None  # the reconnect loop or a rollover
        self._tasks: set[asyncio.Task[None]] = set()
        self.socket = None
        # the typed resources (types/resources.py): each event goes through send()
        self.session = SessionResource(self.send, lambda: self.protocol.session)
        self.conversation = ConversationResource(self.send, lambda: self.protocol.conversation)
        self.response = ResponseResource(self.send)
        self.input_audio_buffer = InputAudioBufferResource(self.send)
        self.output_audio_buffer = OutputAudioBufferResource(self.send)

    @property
    def connection(self) -> RealtimeProtocol:
        """Deprecated: :attr:`protocol` (the Sans-I/O object is the protocol, as in
        websockets)."""
        warnings.warn(
            "the client's .connection is now .protocol (the Sans-I/O protocol object)",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.protocol

    def _redact(self, text: str) -> str:
        return self._plan.redact(text)

    # ------------------------------------------------------------------ factories

    @classmethod
    def create(
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
    ) -> Opening[Self]:
        """Open a Realtime session and return the connected instance (``rt = await
        AsyncOpenAIRealtimeWS.create(...)``; using the result without ``await`` raises a
        ``TypeError`` saying so).

        ``client`` is any object with ``api_key`` and ``base_url`` (``openai.AsyncOpenAI`` fits,
        ``openai`` need not be installed); without one, ``OPENAI_API_KEY`` and
        ``OPENAI_BASE_URL`` are read. ``api_key`` may be a (sync or async) token provider: it is
        called here, before connecting, and again before every reconnect. Exactly one of
        ``model``, ``call_id`` or ``intent="transcription"``. ``options`` (checked before
        anything is opened; a bad one raises :class:`RealtimeConfigError` naming it):
        ``max_queue``, ``max_size``, ``send_queue_bytes``, ``open_timeout`` (TCP connect + TLS +
        upgrade together), ``close_timeout``, ``ping_interval``, ``ping_timeout`` and
        ``reconnect`` (a :class:`ReconnectPolicy`, or ``True`` for the default one).
        """
        opts = check_connect_options(ssl=ssl, **options)
        plans = openai_plans(
            client, model=model, call_id=call_id, intent=intent, url_builder=url_builder,
            api_key=api_key, base_url=base_url, headers=headers, organization=organization,
            project=project,
        )
        return Opening(cls._start(opts, plans), f"{cls.__name__}.create")

    @classmethod
    def azure(
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
    ) -> Opening[Self]:
        """Open an Azure OpenAI Realtime session (GA form ``/openai/v1/realtime?model=<deployment>``).

        Static keys go in the ``api-key`` header; token providers are called now (and before
        every reconnect) and sent as ``Authorization: Bearer``. Accepts an
        ``openai.AzureOpenAI`` client. ``options`` as for :meth:`create`.
        """
        opts = check_connect_options(ssl=ssl, **options)
        plans = azure_plans(
            client, endpoint=endpoint, api_key=api_key,
            azure_ad_token_provider=azure_ad_token_provider, deployment=deployment,
            call_id=call_id, intent=intent, url_builder=url_builder, headers=headers,
        )
        return Opening(cls._start(opts, plans), f"{cls.__name__}.azure")

    @classmethod
    async def _start(cls, opts: ConnectOptions, plan_factory: PlanFactory) -> Self:
        plan = await bounded(plan_factory(), opts.open_timeout, "the credential provider")
        self = cls(plan, opts, plan_factory=plan_factory)
        try:
            transport, listener = await self._open()
        except BaseException:
            self.protocol.finish()
            raise
        self._adopt(transport, listener, restore=False)
        # deliver once the caller yields: handlers registered right after ``await create()``
        # see every event, session.created included
        asyncio.get_running_loop().call_soon(self._release, "start")
        return self

    # ------------------------------------------------------------------ properties

    @property
    def url(self) -> str:
        """The socket URL (after redirects), with any credential-looking part redacted."""
        return self._plan.redacted_url

    @property
    def closed(self) -> bool:
        """Whether the session is closed for good."""
        return self.protocol.closed

    @property
    def reconnecting(self) -> bool:
        """Whether the client is between two sockets (reconnect or rollover)."""
        return self.protocol.reconnecting

    @property
    def close_code(self) -> int | None:
        """The close code, once closed (1006: the connection dropped without a close frame)."""
        return self.protocol.close_code

    @property
    def close_reason(self) -> str:
        """The close frame's reason (credentials masked)."""
        return self._redact(self.protocol.close_reason)

    @property
    def usage(self) -> UsageTotals:
        """Token usage summed from ``response.done`` (this session, across reconnects and
        rollovers); ``usage.estimate()`` prices it."""
        return self.protocol.usage

    @property
    def reconnects(self) -> int:
        """How many times this session reconnected (rollovers included)."""
        return self.protocol.reconnects

    @property
    def outbound_bytes(self) -> int:
        """Bytes of client events queued because the socket could not take them yet."""
        return self.protocol.outbound.nbytes

    @property
    def unsent(self) -> list[Any]:
        """Once closed: the client events that were queued and never written (also on the
        :class:`ConnectionClosed` raised by later calls)."""
        return self.protocol.closed_error().unsent if self.protocol.closed else []

    @property
    def auto_respond(self) -> bool:
        """Send ``response.create`` once all tool calls of a response are answered."""
        return self.protocol.tools.auto_respond

    @auto_respond.setter
    def auto_respond(self, value: bool) -> None:
        self.protocol.tools.auto_respond = bool(value)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.protocol.state.value} url={self.url!r}>"

    # ------------------------------------------------------------------ carrying out actions

    def _run_actions(self) -> None:
        """Carry out what the protocol asked for, in order (see core.connection's actions)."""
        actions = self._actions
        while actions:
            action = actions.popleft()
            if isinstance(action, AwaitHandler):
                self._handler_task = asyncio.ensure_future(self._await_handler(action.awaitable))
            elif isinstance(action, Log):
                logger.log(action.level, "%s", action.message)
            elif isinstance(action, PauseReading | ResumeReading):
                on = isinstance(action, ResumeReading)
                for listener in list(self._listeners):
                    if listener.active and listener.transport is not None:
                        set_reading(listener.transport, on)
            elif isinstance(action, RunTools):
                self._spawn(self._run_tools(action.calls, action.output_modalities))
            elif isinstance(action, ArmRollover):
                self._cancel_rollover()
                loop = asyncio.get_running_loop()
                self._rollover_timer = loop.call_later(action.delay, self._rollover_due)
            elif isinstance(action, StartRollover):
                self._cancel_rollover()
                if not self._recovering():
                    self._recovery = asyncio.ensure_future(self._rollover())
            elif isinstance(action, Reconnect):
                if not self._recovering() or self._recovery is asyncio.current_task():
                    self._recovery = asyncio.ensure_future(
                        self._reconnect(action.close_code, action.reason)
                    )

    async def _await_handler(self, awaitable: Awaitable[object]) -> None:
        error: BaseException | None = None
        try:
            await awaitable
        except asyncio.CancelledError:  # (closing): delivery must not stay stuck on it
            self.protocol.handler_finished(None)
            self._run_actions()
            raise
        except Exception as exc:
            error = exc
        self.protocol.handler_finished(error)
        self._run_actions()

    def _release(self, reason: str | None = None) -> None:
        self.protocol.release(reason)
        self._run_actions()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _rollover_due(self) -> None:
        self._rollover_timer = None
        self.protocol.rollover_timer()
        self._run_actions()

    def _cancel_rollover(self) -> None:
        if self._rollover_timer is not None:
            self._rollover_timer.cancel()
            self._rollover_timer = None

    def _recovering(self) -> bool:
        return self._recovery is not None and not self._recovery.done()

    # ------------------------------------------------------------------ sockets

    async def _open(self) -> tuple[picows.WSTransport, Listener]:
        """One socket for the current plan (see transport.open_socket); ``url`` then reports
        the URL finally reached."""

        def make_listener() -> Listener:
            return Listener(self.protocol, self._run_actions, self._on_disconnected, self._listeners)

        self._plan, transport, listener = await open_socket(self._plan, self._opts, make_listener)
        return transport, listener

    def _adopt(self, transport: picows.WSTransport, listener: Listener, *, restore: bool) -> None:
        """Make ``transport`` the protocol's socket (restoring the session on it first)."""
        if self._listener is not None:
            self._listener.active = False
        self._listener = listener
        self.socket = transport
        self._spawn(_watch_disconnect(transport))
        self.protocol.connection_made(writer(transport), restore=restore)
        self._run_actions()
        if transport.is_disconnected:  # it ended before we took it (a close in the first read)
            self._on_disconnected(listener, transport)

    def _on_disconnected(self, listener: Listener, transport: picows.WSTransport) -> None:
        if listener is not self._listener:
            return
        code, reason, closed_here = close_info(transport)
        self.socket = None
        self.protocol.connection_lost(code, reason, closed_here=closed_here)
        self._run_actions()

    async def _new_plan(self, ctx: ReconnectContext) -> None:
        assert self._plan_factory is not None
        fresh = await bounded(self._plan_factory(), self._opts.open_timeout, "the credential provider")
        self._plan = self._plan.succeeded_by(fresh).with_overrides(ctx.headers, ctx.query)

    async def _reconnect(self, close_code: int | None, reason: str) -> None:
        """Reopen the session after a recoverable close (the attempts, their delays and the
        verdict on each failure are the protocol's), restore it, flush what was queued. Every
        way out leaves the protocol reconnected or ``CLOSED`` with the cause delivered."""
        proto = self.protocol
        policy = proto.policy
        assert policy is not None
        try:
            for ctx in proto.reconnect_attempts(close_code, reason):
                self._run_actions()
                await asyncio.sleep(ctx.delay)
                if proto.state is not State.RECONNECTING:
                    return
                if policy.on_reconnect is not None:
                    verdict = policy.on_reconnect(ctx)
                    if inspect.isawaitable(verdict):
                        verdict = await bounded(verdict, self._opts.open_timeout, "on_reconnect")
                    if not proto.on_reconnect_verdict(ctx.attempt, verdict):
                        return
                await self._new_plan(ctx)
                try:
                    transport, listener = await self._open()
                except OpenAIRealtimeError as exc:
                    if proto.attempt_failed(ctx.attempt, exc):
                        continue
                    return
                if proto.state is not State.RECONNECTING:  # closed meanwhile
                    transport.disconnect()
                    return
                self._adopt(transport, listener, restore=True)
                proto.reconnected(ctx.attempt, close_code, self.url, rollover=False)
                return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # on_reconnect, the token provider or an override failed
            proto.fail(library_error(exc, "reconnect failed", proto.redact))
        finally:
            self._run_actions()

    async def _rollover(self) -> None:
        """Open the next session between responses, restore it, then retire the old one."""
        proto = self.protocol
        old_socket, old_listener = self.socket, self._listener
        if old_socket is None or old_listener is None:
            return
        ctx = proto.rollover_started()
        self._run_actions()
        if ctx is None:
            return
        try:
            await self._new_plan(ctx)
            transport, listener = await self._open()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            proto.rollover_failed(exc, writer(old_socket) if self.socket is not None else None)
            self._run_actions()
            return
        if not proto.reconnecting:  # closed meanwhile
            transport.disconnect()
            return
        self._adopt(transport, listener, restore=True)
        if old_listener.transport is not None:
            old_socket.send_close(picows.WSCloseCode.OK, b"rollover")
            old_socket.disconnect()
        proto.reconnected(1, None, self.url, rollover=True)
        self._run_actions()

    async def _stop_recovery(self) -> None:
        self._cancel_rollover()
        task = self._recovery
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass

    async def _run_tools(self, calls: list[ToolCallRequest], output_modalities: list[str] | None) -> None:
        """Run the tool calls of one response (coroutines on the loop, plain functions in a
        worker thread), answer each, then send the follow-up ``response.create`` (if any)."""
        proto = self.protocol
        answered = 0
        for call in calls:
            tool = proto.tools.tools[call.name]
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
                    proto.tool_failed(call, tool.handler, exc)
                    self._run_actions()
                    event = ToolRouter.error_event(call, proto.redact(f"{type(exc).__name__}: {exc}")[:500])
            if proto.state is State.CLOSING or proto.state is State.CLOSED:
                return  # nobody to answer any more
            if not self._send_or_report(event):
                return
            answered += 1
        for follow in proto.tools.follow_up(answered, output_modalities):
            if proto.state is not State.CLOSING and proto.state is not State.CLOSED:
                self._send_or_report(follow)

    def _send_or_report(self, event: dict[str, Any]) -> bool:
        """Send a tool answer; a refusal (``QueueFull``, closed) goes to ``error`` handlers,
        never into an unretrieved task exception."""
        try:
            self.send(event)
        except OpenAIRealtimeError as exc:
            self.protocol.report_error(exc)
            self._run_actions()
            return False
        return True

    # ------------------------------------------------------------------ handlers and tools

    def _add_handler(self, type: str, handler: Callable[[Any], object], once: bool) -> None:
        self.protocol.add_handler(type, handler, once)

    def _remove_handler(self, type: str, handler: Callable[[Any], object] | None) -> None:
        self.protocol.remove_handler(type, handler)

    def tool(
        self,
        name: str | None = None,
        *,
        description: str = "",
        parameters: Mapping[str, Any] | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a function the model may call (decorator)::

            @rt.tool(description="Weather for a city")
            async def get_weather(city: str) -> dict[str, object]: ...

        The schema comes from ``parameters`` or the signature's type hints, the description from
        ``description`` or the docstring. Once connected, the registered tools are announced with
        a ``session.update`` at once. When a response asks for a tool, it is called with the
        JSON arguments (coroutines on the loop, plain functions in a worker thread); its result
        goes back as a ``function_call_output``, and once every call of that response is
        answered a ``response.create`` follows (see :attr:`auto_respond`). A tool that raises
        answers ``{"error": ...}`` to the model and reports a ``HandlerError`` to ``"error"``
        handlers (it does not fail ``wait_for``).
        """

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            self.protocol.tools.register(
                Tool(name=name or func.__name__, handler=func, description=description,
                     parameters=parameters)
            )
            if self.protocol.state is State.OPEN and self.protocol.session is not None:
                self.update_tools()
            return func

        return register

    def update_tools(self, **session: Unpack[SessionFieldsDict]) -> None:
        """Send ``session.update`` with the registered tools (plus any other session fields,
        checked by type checkers: ``update_tools(instructions="…")``)."""
        self.send(self.protocol.tools.session_update(getattr(self.protocol.session, "type", None), **session))

    def start(self) -> None:
        """Start delivering to handlers now (otherwise delivery starts once the caller yields
        after ``create()``, or, in the blocking client, at its first blocking call)."""
        self._release()

    # ------------------------------------------------------------------ iteration and wait_for

    def __aiter__(self) -> Self:
        self.protocol.start_iterating()
        return self

    def __anext__(self) -> Coroutine[Any, Any, ServerEvent]:
        """The next event of a type this library knows (typed over :data:`ServerEvent`, so
        ``if event.type == "response.done": event.response`` needs no guard under mypy or
        pyright). Events it could not type pass through elsewhere: ``"event"`` handlers,
        handlers and ``wait_for`` of their type, and :meth:`all_events`."""
        # (the step's coroutine itself, not one more coroutine awaiting it: one frame per event)
        return self._next_event(True)

    def all_events(self) -> AsyncIterator[AnyServerEvent]:
        """Iterate every server event in arrival order, :class:`UnknownServerEvent` included (an
        event of an unknown type, or of a known type off the spec): narrow with
        ``isinstance(event, UnknownServerEvent)`` first. Shares the buffer with ``async for
        event in rt``: use one of the two."""
        self.protocol.start_iterating()
        return _AllEvents(self)

    async def _next_event(self, known_only: bool) -> Any:  # (ServerEvent when known_only)
        proto = self.protocol
        try:
            while True:
                event = proto.next_event(None, known_only)
                if self._actions:
                    self._run_actions()
                if event is not None:
                    return event
                fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                event = proto.next_event(fut, known_only)
                if self._actions:
                    self._run_actions()
                if event is not None:
                    return event
                await fut
        except StopIteration:
            raise StopAsyncIteration from None

    async def _wait_for_impl(self, type: str, timeout: float | None) -> Any:
        """The next event of ``type`` (see the rules in docs/client.md)."""
        proto = self.protocol
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        try:
            proto.wait_for(type, fut)
        finally:
            self._run_actions()
        try:
            if fut.done():
                event = fut.result()
            else:
                try:
                    event = await asyncio.wait_for(fut, timeout)
                except TimeoutError:
                    raise TimeoutError(f"no {type!r} event within {timeout} s") from None
        except OpenAIRealtimeError as exc:
            proto.error_raised(exc)
            raise
        finally:
            proto.cancel_wait(type, fut)
        proto.consumed(event)
        return event

    async def ask(
        self,
        text: str,
        *,
        response: ResponseCreateParamsDict | None = None,
        timeout: float | None = 120.0,
    ) -> Reply:
        """One turn: send ``text`` as the user's message, ask for a response, let registered
        tools run in between (their follow-up responses are part of the turn), and return the
        :class:`~openai_realtime_ws.core.ask.Reply`: ``reply.text`` (the text, or the
        transcript of a spoken reply), ``reply.audio``, ``reply.tool_calls`` and
        ``reply.usage``. ``response`` configures the ``response.create`` (e.g.
        ``{"output_modalities": ["text"]}``). Raises the API error one of the turn's events
        caused, :class:`ConnectionClosed` if the session ends first, ``TimeoutError`` after
        ``timeout`` seconds. Other events keep reaching handlers and iteration as usual."""
        proto = self.protocol
        turn = AskTurn(proto.tools.follows_up)
        loop = asyncio.get_running_loop()
        finished: asyncio.Future[None] = loop.create_future()
        closed: asyncio.Future[None] = loop.create_future()

        def on_event(event: AnyServerEvent) -> None:
            if turn.on_event(event) and not finished.done():
                finished.set_result(None)

        def on_error(error: OpenAIRealtimeError) -> None:
            if turn.on_error(error) and not finished.done():
                finished.set_result(None)

        events = turn.start(text, response)
        self.on("event", on_event)
        proto.error_observers.append(on_error)
        proto.wait_closed(closed)
        try:
            for event in events:
                self.send(event)
            await asyncio.wait({finished, closed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.off("event", on_event)
            proto.error_observers.remove(on_error)
            proto.cancel_wait_closed(closed)
        if turn.error is not None:
            proto.error_raised(turn.error)  # raised here: not again from iteration or close
            raise turn.error
        if turn.done:
            return turn.reply()
        if closed.done():
            raise proto.closed_error()
        raise TimeoutError(f"ask(): no reply within {timeout} s")

    # ------------------------------------------------------------------ sending

    def send(self, event: Mapping[str, Any] | ClientEventBase) -> None:
        """Validate ``event`` against the client-event schema and send it.

        A bad event raises :class:`InvalidClientEvent` naming the field and the expected type;
        nothing is sent and nothing already queued is lost. Sending never blocks: while the
        socket cannot take data the event waits in a bounded queue (:class:`QueueFull` when a
        control event does not fit). After ``close()`` or a final close it raises
        :class:`ConnectionClosed`.
        """
        self.protocol.send_event(event)
        if self._actions:
            self._run_actions()

    def send_raw(self, data: str | bytes) -> None:
        """Send one text frame as is (no validation): for events this library does not know."""
        self.protocol.send(data.encode() if isinstance(data, str) else data, False)
        if self._actions:
            self._run_actions()

    def send_audio(self, pcm: bytes, *, event_id: str | None = None) -> None:
        """Append raw audio bytes (in the session's input format) to the input buffer."""
        self.protocol.send_audio(pcm, event_id)
        if self._actions:
            self._run_actions()

    async def drain(self) -> None:
        """Wait until every queued client event has been handed to the socket (flow control for
        bulk senders: ``send_audio`` never blocks, ``await rt.drain()`` does)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.protocol.wait_drained(fut)
        await fut

    # ------------------------------------------------------------------ closing

    async def close(self, code: int = 1000, reason: str = "OK") -> None:
        """Close the session: flush what is queued (within ``close_timeout``), send the close
        frame ``code``/``reason`` and wait for the socket to end. Events that could not be
        written are logged and kept in :attr:`unsent`. Raises the oldest unhandled error, if
        one was never raised elsewhere."""
        proto = self.protocol
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._opts.close_timeout
        if proto.begin_close(code, reason):
            self._run_actions()
            await self._stop_recovery()
            sock, listener = self.socket, self._listener
            writable = sock is not None and listener is not None and not listener.write_paused
            step = proto.close_step(
                socket_up=sock is not None, write=writer(sock) if sock is not None and writable else None
            )
            while True:  # the protocol's close sequence: flush, close frame, abort
                self._run_actions()
                if isinstance(step, Flush):
                    fut: asyncio.Future[None] = loop.create_future()
                    proto.wait_drained(fut)
                    try:
                        await asyncio.wait_for(fut, max(0.0, deadline - loop.time()))
                    except (TimeoutError, OpenAIRealtimeError):
                        pass
                    step = proto.close_step(flushed=True)
                elif isinstance(step, SendClose) and sock is not None:
                    try:
                        close_code: Any = picows.WSCloseCode(step.code)
                    except ValueError:
                        close_code = step.code
                    sock.send_close(close_code, step.reason.encode())
                    try:
                        await asyncio.wait_for(
                            asyncio.shield(sock.wait_disconnected()), max(0.0, deadline - loop.time())
                        )
                    except TimeoutError:
                        pending = sock.underlying_transport.get_write_buffer_size()
                        step = proto.close_step(timed_out=pending)
                        continue
                    except Exception:
                        pass
                    step = proto.close_step(ended=True)
                elif isinstance(step, Abort) and sock is not None:
                    sock.disconnect(graceful=False)
                    try:
                        await sock.wait_disconnected()
                    except Exception:
                        pass
                    break
                else:
                    break
        elif proto.state is State.CLOSING:  # another close() is under way: wait for it
            waiter: asyncio.Future[None] = loop.create_future()
            proto.wait_closed(waiter)
            await waiter
        # let a coroutine handler in progress finish (bounded by close_timeout)
        while (task := self._handler_task) is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), max(0.0, deadline - loop.time()))
            except TimeoutError:
                task.cancel()
                break
        self._run_actions()
        proto.take_pending_error()

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


_T = TypeVar("_T")


class _NotAwaited(TypeError, AttributeError):
    """A client's opening was used without ``await`` (an AttributeError too, so that
    ``hasattr``/``getattr(…, default)`` probes stay quiet)."""


class Opening(Generic[_T]):
    """What ``create()``/``azure()`` return: await it for the connected client. Anything else
    done with it raises a ``TypeError`` that says so (instead of an error deep inside)."""

    __slots__ = ("_coro", "_name")

    def __init__(self, coro: Coroutine[Any, Any, _T], name: str) -> None:
        self._coro = coro
        self._name = name

    def __await__(self) -> Generator[Any, None, _T]:
        return self._coro.__await__()

    if not TYPE_CHECKING:  # (type checkers report the missing await themselves)

        def __getattr__(self, name: str) -> Any:
            raise _NotAwaited(
                f"{self._name}() must be awaited: rt = await {self._name}(...) "
                f"(got the un-awaited call, then .{name})"
            )

    def __repr__(self) -> str:
        return f"<un-awaited {self._name}()>"


class _AllEvents:
    """``rt.all_events()``: every server event, unknown ones included."""

    __slots__ = ("_rt",)

    def __init__(self, rt: AsyncOpenAIRealtimeWS) -> None:
        self._rt = rt

    def __aiter__(self) -> _AllEvents:
        return self

    def __anext__(self) -> Coroutine[Any, Any, AnyServerEvent]:
        return self._rt._next_event(False)


async def _watch_disconnect(transport: picows.WSTransport) -> None:
    """Retrieve picows' disconnect outcome (a local protocol error is reported as a close)."""
    try:
        await transport.wait_disconnected()
    except Exception as exc:
        logger.debug("connection ended after a local failure: %s", type(exc).__name__)
