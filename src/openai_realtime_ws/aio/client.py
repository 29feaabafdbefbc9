"""The asyncio client: :class:`AsyncOpenAIRealtimeWS`, the event-loop shell around the Sans-I/O
:class:`~openai_realtime_ws.core.connection.RealtimeConnection`.

It owns only what needs an event loop: the public API (factories, properties, ``send``,
``wait_for``, iteration, ``drain``, ``close``), awaiting (coroutine handlers, futures), the
rollover timer, and the sockets it adopts. Opening a socket and feeding its frames is
:mod:`.transport` (picows); the reconnect loop, the rollover and tool runs are :mod:`.recovery`;
``create()``/``azure()`` arguments become connect plans in :mod:`.credentials`. What is
delivered to whom and when, what is sent or queued, and what a close means live in the
connection (see its module comment and docs/client.md).
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
import weakref
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Self

import picows

from ..core.codec import ClientEventEncoder
from ..core.connection import RealtimeConnection, State
from ..core.conversation import Conversation
from ..core.errors import OpenAIRealtimeError
from ..core.handshake import ConnectPlan, RealtimeTarget
from ..core.options import ConnectOptions, check_connect_options
from ..core.tools import Tool, ToolCallRequest
from ..types import AnyServerEvent, ClientEventBase
from ..types._emitter import AsyncWaitForMixin, TypedEmitterMixin
from .credentials import (
    CredentialSource,
    PlanFactory,
    azure_plans,
    bounded,
    openai_plans,
    resolve_credential,
)
from .recovery import Recovery, run_tools
from .transport import PICOWS_LOG, Listener, close_info, open_socket, set_reading, writer

__all__ = ["AsyncOpenAIRealtimeWS", "CredentialSource", "resolve_credential"]

logger = logging.getLogger("openai_realtime_ws")


class _Shell:
    """What the connection asks of the event loop (see core.connection.Shell)."""

    def __init__(self, owner: AsyncOpenAIRealtimeWS) -> None:
        self._owner = owner
        self.handler_task: asyncio.Task[None] | None = None
        self.rollover_timer: asyncio.TimerHandle | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.listeners: weakref.WeakSet[Listener] = weakref.WeakSet()  # sockets feeding frames

    def pause_reading(self) -> None:
        for listener in list(self.listeners):
            if listener.active and listener.transport is not None:
                set_reading(listener.transport, False)

    def resume_reading(self) -> None:
        for listener in list(self.listeners):
            if listener.active and listener.transport is not None:
                set_reading(listener.transport, True)

    def await_handler(self, awaitable: Awaitable[object]) -> None:
        self.handler_task = asyncio.ensure_future(self._await(awaitable))

    async def _await(self, awaitable: Awaitable[object]) -> None:
        error: BaseException | None = None
        try:
            await awaitable
        except asyncio.CancelledError:  # (closing): delivery must not stay stuck on it
            self._owner.connection.handler_finished(None)
            raise
        except Exception as exc:
            error = exc
        self._owner.connection.handler_finished(error)

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def run_tools(self, calls: list[ToolCallRequest], output_modalities: list[str] | None) -> None:
        owner = self._owner
        self.spawn(run_tools(owner.connection, owner.send, calls, output_modalities))

    def arm_rollover(self, delay: float) -> None:
        self.cancel_rollover()
        loop = asyncio.get_running_loop()
        self.rollover_timer = loop.call_later(delay, self._owner.connection.rollover_timer)

    def cancel_rollover(self) -> None:
        if self.rollover_timer is not None:
            self.rollover_timer.cancel()
            self.rollover_timer = None

    def start_rollover(self) -> None:
        self.cancel_rollover()
        self._owner._recovery.rollover()

    def report(self, level: int, message: str) -> None:
        logger.log(level, "%s", message)


class AsyncOpenAIRealtimeWS(TypedEmitterMixin, AsyncWaitForMixin):
    """One Realtime session over one WebSocket, for asyncio.

    Create it with :meth:`create` (OpenAI, or any server speaking the protocol) or :meth:`azure`.
    """

    socket: picows.WSTransport | None
    """The underlying picows transport (lifecycle access); ``None`` while there is none."""
    connection: RealtimeConnection
    """The Sans-I/O connection state (read-only use: ``connection.state``, ``backlog_size``…)."""

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
        self._shell = _Shell(self)
        self.connection = RealtimeConnection(
            self._shell,
            redact=self._redact,
            max_queue=opts.max_queue,
            send_queue_bytes=opts.send_queue_bytes,
            max_size=opts.max_size,
            reconnect=opts.reconnect,
        )
        self._encoder = ClientEventEncoder()
        self._listener: Listener | None = None
        self._recovery = Recovery(self)
        self.socket = None
        PICOWS_LOG.plans.add(plan)

    def _redact(self, text: str) -> str:
        return self._plan.redact(text)

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
        return await cls._start(opts, plans)

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
        return await cls._start(opts, plans)

    @classmethod
    async def _start(cls, opts: ConnectOptions, plan_factory: PlanFactory) -> Self:
        plan = await bounded(plan_factory(), opts.open_timeout, "the credential provider")
        self = cls(plan, opts, plan_factory=plan_factory)
        try:
            transport, listener = await self._open()
        except BaseException:
            self.connection.finish()
            raise
        self._adopt(transport, listener, restore=False)
        # deliver once the caller yields: handlers registered right after ``await create()``
        # see every event, session.created included
        asyncio.get_running_loop().call_soon(self.connection.release, "start")
        return self

    # ------------------------------------------------------------------ properties

    @property
    def url(self) -> str:
        """The socket URL (after redirects), with any credential-looking part redacted."""
        return self._plan.redacted_url

    @property
    def closed(self) -> bool:
        """Whether the session is closed for good."""
        return self.connection.closed

    @property
    def reconnecting(self) -> bool:
        """Whether the client is between two sockets (reconnect or rollover)."""
        return self.connection.reconnecting

    @property
    def close_code(self) -> int | None:
        """The close code, once closed (1006: the connection dropped without a close frame)."""
        return self.connection.close_code

    @property
    def close_reason(self) -> str:
        """The close frame's reason (credentials masked)."""
        return self._redact(self.connection.close_reason)

    @property
    def session(self) -> Any:
        """The last session configuration the server confirmed (``session.created/updated``)."""
        return self.connection.session

    @property
    def conversation(self) -> Conversation:
        """The default conversation as the server reported it (see core.conversation)."""
        return self.connection.conversation

    @property
    def reconnects(self) -> int:
        """How many times this session reconnected (rollovers included)."""
        return self.connection.reconnects

    @property
    def outbound_bytes(self) -> int:
        """Bytes of client events queued because the socket could not take them yet."""
        return self.connection.outbound.nbytes

    @property
    def unsent(self) -> list[Any]:
        """Once closed: the client events that were queued and never written (also on the
        :class:`ConnectionClosed` raised by later calls)."""
        return self.connection.closed_error().unsent if self.connection.closed else []

    @property
    def auto_respond(self) -> bool:
        """Send ``response.create`` once all tool calls of a response are answered."""
        return self.connection.tools.auto_respond

    @auto_respond.setter
    def auto_respond(self, value: bool) -> None:
        self.connection.tools.auto_respond = bool(value)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.connection.state.value} url={self.url!r}>"

    # ------------------------------------------------------------------ opening sockets

    async def _open(self) -> tuple[picows.WSTransport, Listener]:
        """One socket for the current plan (see transport.open_socket); ``url`` then reports
        the URL finally reached."""

        def make_listener() -> Listener:
            return Listener(self.connection, self._on_disconnected, self._shell.listeners)

        PICOWS_LOG.plans.add(self._plan)  # (picows logs the upgrade request it is about to send)
        self._plan, transport, listener = await open_socket(self._plan, self._opts, make_listener)
        return transport, listener

    def _adopt(self, transport: picows.WSTransport, listener: Listener, *, restore: bool) -> None:
        """Make ``transport`` the connection's socket (restoring the session on it first)."""
        if self._listener is not None:
            self._listener.active = False
        self._listener = listener
        self.socket = transport
        PICOWS_LOG.plans.add(self._plan)
        self._shell.spawn(_watch_disconnect(transport))
        self.connection.connection_made(writer(transport), restore=restore)
        if transport.is_disconnected:  # it ended before we took it (a close in the first read)
            self._on_disconnected(listener, transport)

    def _on_disconnected(self, listener: Listener, transport: picows.WSTransport) -> None:
        if listener is not self._listener:
            return
        code, reason, closed_here = close_info(transport)
        self.socket = None
        conn = self.connection
        if conn.connection_lost(code, reason, closed_here=closed_here):
            self._recovery.reconnect(conn.close_code, reason)

    # ------------------------------------------------------------------ reconnect and rollover

    # ------------------------------------------------------------------ handlers and tools

    def _add_handler(self, type: str, handler: Callable[[Any], object], once: bool) -> None:
        self.connection.add_handler(type, handler, once)

    def _remove_handler(self, type: str, handler: Callable[[Any], object] | None) -> None:
        self.connection.remove_handler(type, handler)

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
            self.connection.tools.register(
                Tool(name=name or func.__name__, handler=func, description=description,
                     parameters=parameters)
            )
            if self.connection.state is State.OPEN and self.session is not None:
                self.update_tools()
            return func

        return register

    def update_tools(self, **session: Any) -> None:
        """Send ``session.update`` with the registered tools (plus any other session fields)."""
        self.send(self.connection.tools.session_update(getattr(self.session, "type", None), **session))

    # ------------------------------------------------------------------ iteration and wait_for

    def __aiter__(self) -> Self:
        self.connection.start_iterating()
        return self

    async def __anext__(self) -> AnyServerEvent:
        conn = self.connection
        try:
            while True:
                event = conn.next_event(None)
                if event is not None:
                    return event
                fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                event = conn.next_event(fut)
                if event is not None:
                    return event
                await fut
        except StopIteration:
            raise StopAsyncIteration from None

    async def _wait_for_impl(self, type: str, timeout: float | None) -> Any:
        """The next event of ``type`` (see the rules in docs/client.md)."""
        conn = self.connection
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        conn.wait_for(type, fut)
        try:
            event = fut.result() if fut.done() else await asyncio.wait_for(fut, timeout)
        except OpenAIRealtimeError as exc:
            conn.error_raised(exc)
            raise
        finally:
            conn.cancel_wait(type, fut)
        conn.consumed(event)
        return event

    # ------------------------------------------------------------------ sending

    def send(self, event: Mapping[str, Any] | ClientEventBase) -> None:
        """Validate ``event`` against the client-event schema and send it.

        A bad event raises :class:`InvalidClientEvent` naming the field and the expected type;
        nothing is sent and nothing already queued is lost. Sending never blocks: while the
        socket cannot take data the event waits in a bounded queue (:class:`QueueFull` when a
        control event does not fit). After ``close()`` or a final close it raises
        :class:`ConnectionClosed`.
        """
        data = self._encoder.encode(event)
        etype = event.type if isinstance(event, ClientEventBase) else event["type"]
        self.connection.send(data, etype == "input_audio_buffer.append")

    def send_raw(self, data: str | bytes) -> None:
        """Send one text frame as is (no validation): for events this library does not know."""
        self.connection.send(data.encode() if isinstance(data, str) else data, False)

    def send_audio(self, pcm: bytes, *, event_id: str | None = None) -> None:
        """Append raw audio bytes (in the session's input format) to the input buffer."""
        self.connection.send(self._encoder.encode_audio(pcm, event_id), True)

    async def drain(self) -> None:
        """Wait until every queued client event has been handed to the socket (flow control for
        bulk senders: ``send_audio`` never blocks, ``await rt.drain()`` does)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.connection.wait_drained(fut)
        await fut

    # ------------------------------------------------------------------ closing

    async def close(self, code: int = 1000, reason: str = "OK") -> None:
        """Close the session: flush what is queued (within ``close_timeout``), send the close
        frame ``code``/``reason`` and wait for the socket to end. Events that could not be
        written are logged and kept in :attr:`unsent`. Raises the oldest unhandled error, if
        one was never raised elsewhere."""
        conn = self.connection
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._opts.close_timeout
        if conn.begin_close():
            self._shell.cancel_rollover()
            await self._recovery.cancel()
            sock, listener = self.socket, self._listener
            if sock is not None and listener is not None and not listener.write_paused:
                conn.writer_resumed(writer(sock))  # (a cancelled rollover left it unwritable)
            if sock is None:
                conn.close_code, conn.close_reason = code, reason
                _log_unsent(conn)
                conn.finish()
            else:
                if conn.outbound:
                    fut: asyncio.Future[None] = loop.create_future()
                    conn.wait_drained(fut)
                    try:
                        await asyncio.wait_for(fut, max(0.0, deadline - loop.time()))
                    except (TimeoutError, OpenAIRealtimeError):
                        pass
                _log_unsent(conn)
                conn.transport_closing()
                try:
                    close_code: Any = picows.WSCloseCode(code)
                except ValueError:
                    close_code = code
                sock.send_close(close_code, reason.encode())
                try:
                    await asyncio.wait_for(
                        asyncio.shield(sock.wait_disconnected()), max(0.0, deadline - loop.time())
                    )
                except TimeoutError:
                    pending = sock.underlying_transport.get_write_buffer_size()
                    if pending:
                        logger.warning(
                            "close(): no closing handshake within close_timeout; %d bytes still "
                            "in the socket's buffer were discarded", pending,
                        )
                    sock.disconnect(graceful=False)
                    await sock.wait_disconnected()
                except Exception:
                    pass
        elif conn.state is State.CLOSING:  # another close() is under way: wait for it
            fut = loop.create_future()
            conn.wait_closed(fut)
            await fut
        # let a coroutine handler in progress finish (bounded by close_timeout)
        while (task := self._shell.handler_task) is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), max(0.0, deadline - loop.time()))
            except TimeoutError:
                task.cancel()
                break
        conn.take_pending_error()

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


def _log_unsent(conn: RealtimeConnection) -> None:
    if conn.outbound:
        logger.warning(
            "close(): %d queued client events (%d bytes) could not be sent within close_timeout; "
            "they are in the client's .unsent",
            len(conn.outbound),
            conn.outbound.nbytes,
        )


async def _watch_disconnect(transport: picows.WSTransport) -> None:
    """Retrieve picows' disconnect outcome (a local protocol error is reported as a close)."""
    try:
        await transport.wait_disconnected()
    except Exception as exc:
        logger.debug("connection ended after a local failure: %s", type(exc).__name__)
