"""The asyncio translation client: :class:`AsyncRealtimeTranslation`, the event-loop shell of one
Realtime translation session (``/v1/realtime/translations``).

What a send encodes to, what a frame decodes to and what a close means are the Sans-I/O
:class:`~openai_realtime_ws.core.translation.TranslationProtocol`'s; this module holds the
socket, the delivery to handlers and to iteration, and the one deadline of :meth:`finish`. It
uses the realtime client's parts as they are: connect plans and credentials
(:mod:`.credentials`: ``client``/``api_key``/``OPENAI_*``, token providers, redaction of every
credential in messages and logs), the socket opener (:func:`.transport.open_socket`: timeouts,
TLS, the URL policy, no redirects with credentials), the handler registry
(:class:`~openai_realtime_ws.core.dispatch.Dispatcher`: ``"event"`` first, then the type's
handlers, ``"error"`` handlers get :class:`~openai_realtime_ws.core.errors.RealtimeAPIError`),
and the options check. ``finish()`` follows openai-node's ``OpenAIRealtimeTranslationWS``.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import logging
import weakref
from collections import deque
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any, Self, cast

import picows

from ..core.dispatch import Dispatcher, Handler
from ..core.errors import (
    ConnectionClosedOK,
    HandlerError,
    OpenAIRealtimeError,
    RealtimeConfigError,
    RealtimeConnectionError,
)
from ..core.handshake import ConnectPlan
from ..core.models import DEFAULT_TRANSLATION_MODEL, unknown_model_message
from ..core.options import ConnectOptions, check_connect_options
from ..core.translation import (
    TranslationEvent,
    TranslationProtocol,
    TranslationSessionClosed,
    translation_url,
)
from ..types import AnyServerEvent
from .credentials import CredentialSource, bounded, openai_plans
from .transport import close_info, open_socket, set_reading

__all__ = ["AsyncRealtimeTranslation"]

logger = logging.getLogger("openai_realtime_ws")


class _Frames(picows.WSListener):
    """picows listener of a translation socket: text frames (fragments reassembled) to the
    client; the peer's close answered."""

    def __init__(self, owner: AsyncRealtimeTranslation, max_size: int) -> None:
        super().__init__()
        self._owner = weakref.ref(owner)
        self._max = max_size
        self._parts: bytearray | None = None
        self.transport: picows.WSTransport | None = None  # set once the upgrade succeeded (open_socket reads it)
        self.write_paused = False

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        owner = self._owner()
        if owner is None:
            return
        kind = frame.msg_type
        if kind is picows.WSMsgType.TEXT:
            if frame.fin:
                owner._frame(frame.get_payload_as_bytes())
            else:
                self._parts = bytearray(frame.get_payload_as_memoryview())
        elif kind is picows.WSMsgType.CONTINUATION and self._parts is not None:
            self._parts += frame.get_payload_as_memoryview()
            if len(self._parts) > self._max:
                self._parts = None
                transport.send_close(picows.WSCloseCode.MESSAGE_TOO_BIG, b"message too big")
                transport.disconnect()
            elif frame.fin:
                data, self._parts = bytes(self._parts), None
                owner._frame(data)
        elif kind is picows.WSMsgType.CLOSE:
            try:
                code = frame.get_close_code()
            except Exception:  # pragma: no cover - defensive
                code = picows.WSCloseCode.NO_INFO
            if not transport.is_close_frame_sent:
                transport.send_close(code, frame.get_close_message())
            transport.disconnect()

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        owner = self._owner()
        if owner is not None:
            owner._disconnected(transport)

    def pause_writing(self) -> None:
        self.write_paused = True
        owner = self._owner()
        if owner is not None:
            owner._writable.clear()

    def resume_writing(self) -> None:
        self.write_paused = False
        owner = self._owner()
        if owner is not None:
            owner._writable.set()


class _Session:
    """``tr.session.update(session=…)`` and ``tr.session.close()``."""

    def __init__(self, owner: AsyncRealtimeTranslation) -> None:
        self._owner = owner

    async def update(self, *, session: Mapping[str, Any], event_id: str | None = None) -> None:
        """Send ``session.update`` (``audio.input.transcription``, ``audio.input.noise_reduction``,
        ``audio.output.language``; the model is fixed when the session is created)."""
        event: dict[str, Any] = {"type": "session.update", "session": dict(session)}
        if event_id is not None:
            event["event_id"] = event_id
        await self._owner.send(event)

    async def close(self) -> None:
        """Send ``session.close`` (once; later calls send nothing). Use :meth:`finish` to wait
        for the remaining output."""
        await self._owner.send({"type": "session.close"})


class _InputAudioBuffer:
    """``tr.input_audio_buffer.append(audio=…)``."""

    def __init__(self, owner: AsyncRealtimeTranslation) -> None:
        self._owner = owner

    async def append(self, *, audio: bytes | str, event_id: str | None = None) -> None:
        """Send ``session.input_audio_buffer.append``: 24 kHz PCM16 mono, as bytes (encoded
        here) or base64 text (200 ms chunks suit the service best)."""
        text = audio if isinstance(audio, str) else base64.b64encode(audio).decode("ascii")
        event: dict[str, Any] = {"type": "session.input_audio_buffer.append", "audio": text}
        if event_id is not None:
            event["event_id"] = event_id
        await self._owner.send(event)


class AsyncRealtimeTranslation:
    """One Realtime translation session over one WebSocket, for asyncio.

    Open it with :meth:`create`; send audio with ``input_audio_buffer.append``; receive events
    by iterating (``async for event in tr``) and/or with handlers (``on``/``once``/``off``);
    end it with :meth:`finish` (send ``session.close`` once, deliver everything through
    ``session.closed``, close the socket, all within one deadline) or :meth:`close` (at once).
    """

    def __init__(self, plan: ConnectPlan, options: ConnectOptions) -> None:
        self._plan = plan
        self._opts = options
        self.protocol = TranslationProtocol()
        """The Sans-I/O state (read-only use: ``input_closed``, ``terminal_received``, ``failure``)."""
        self._dispatcher = Dispatcher(redact=plan.redact)
        self.socket: picows.WSTransport | None = None
        self._listener: _Frames | None = None
        self._pending: deque[TranslationEvent | OpenAIRealtimeError] = deque()  # not yet delivered
        self._queue: deque[TranslationEvent] = deque()  # delivered, for iteration
        self._delivering = False
        self._started = False
        self._reading_paused = False
        self._iterating = False  # recv() was called: iteration is in use
        self.dropped_for_iteration = 0
        """Events handlers got but iteration never will: more than ``max_queue`` waited while
        nobody iterated (they are dropped oldest first instead of stalling the socket)."""
        self._wakeup: asyncio.Event = asyncio.Event()
        self._closed = asyncio.Event()
        self._writable = asyncio.Event()  # cleared while the socket's write buffer is full
        self._writable.set()
        self._closed_by_us = False  # close() was called: the end is not a failure to report
        self._terminal_delivered = False
        self._finish: asyncio.Future[None] | None = None
        self._deadline_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.session = _Session(self)
        self.input_audio_buffer = _InputAudioBuffer(self)

    # --- opening ------------------------------------------------------------------------------

    @classmethod
    async def create(
        cls,
        client: object | None = None,
        *,
        model: str = DEFAULT_TRANSLATION_MODEL,
        api_key: CredentialSource = None,
        base_url: str | None = None,
        headers: Mapping[str, str] | None = None,
        ssl: Any = None,
        organization: str | None = None,
        project: str | None = None,
        **options: Any,
    ) -> Self:
        """Open a translation session (``wss://…/v1/realtime/translations?model=…``) and return
        the connected instance. ``client``, ``api_key``, ``base_url``, ``headers``, ``ssl``,
        ``organization``, ``project`` and the options (``open_timeout``, ``max_size``,
        ``max_queue``, ``ping_interval``…) are those of
        :meth:`~openai_realtime_ws.AsyncOpenAIRealtimeWS.create`; ``reconnect`` is refused (a
        translation is never replayed). A model name that is not a known translation model is
        logged as a warning, not refused (a gateway may use its own names)."""
        if options.get("reconnect"):
            raise RealtimeConfigError("reconnect is not supported for translation sessions: "
                                      "no connection or input is replayed")
        opts = check_connect_options(ssl=ssl, **options)
        if not isinstance(model, str) or not model:
            raise RealtimeConfigError("A translation model is required: pass model='gpt-realtime-translate'.")
        plans = openai_plans(
            client, model=model, call_id=None, intent=None,
            url_builder=lambda c, _target: translation_url(c, model),
            api_key=api_key, base_url=base_url, headers=headers, organization=organization, project=project,
        )
        warning = unknown_model_message(model, translation=True)
        if warning is not None:
            logger.warning("%s", warning)
        plan = await bounded(plans(), opts.open_timeout, "the credential provider")
        self = cls(plan, opts)

        def make_listener() -> _Frames:
            listener = _Frames(self, opts.max_size)
            self._listener = listener
            return listener

        self._plan, self.socket, _ = await open_socket(plan, opts, make_listener)
        # deliver once the caller yields: handlers registered right after ``await create()``
        # see every event, session.created included
        asyncio.get_running_loop().call_soon(self._start)
        return self

    @property
    def url(self) -> str:
        """The URL connected to, credentials masked."""
        return self._plan.redacted_url

    # --- handlers -------------------------------------------------------------------------------

    def on(self, type: str, handler: Handler | None = None) -> Any:
        """Call ``handler(event)`` for every event of ``type`` (``"event"``: every event, before
        the specific handlers; ``"error"``: an :class:`OpenAIRealtimeError` for an API ``error``
        event or a malformed frame). Coroutine handlers are run as tasks. Usable as a decorator."""
        return self._register(type, handler, once=False)

    def once(self, type: str, handler: Handler | None = None) -> Any:
        """Like :meth:`on`, for the next event of ``type`` only."""
        return self._register(type, handler, once=True)

    def off(self, type: str, handler: Handler | None = None) -> None:
        """Remove ``handler`` (or every handler of ``type``)."""
        self._dispatcher.remove(type, handler)

    def _register(self, type: str, handler: Handler | None, once: bool) -> Any:
        if handler is None:
            def decorator(func: Handler) -> Handler:
                self._dispatcher.add(type, func, once=once)
                return func

            return decorator
        self._dispatcher.add(type, handler, once=once)
        return handler

    # --- sending --------------------------------------------------------------------------------

    async def send(self, event: Mapping[str, Any] | str) -> None:
        """Send one client event (a mapping or its JSON text). Refused before anything is
        written (``InvalidClientEvent`` naming the field) when it is not an event object or
        when input is closed; ``session.close`` is sent once. ``ConnectionClosed`` once the
        socket ended."""
        data = self.protocol.encode(event)
        if data is None:
            return
        transport = self.socket
        if transport is None or self._closed.is_set() or transport.underlying_transport.is_closing():
            raise ConnectionClosedOK("the translation socket is closed")
        transport.send(picows.WSMsgType.TEXT, data)
        if not self._writable.is_set():  # the socket pushes back: wait until it drained (or ended)
            await self._writable.wait()

    # --- receiving ------------------------------------------------------------------------------

    def _frame(self, data: bytes) -> None:
        result = self.protocol.receive(data)
        if result is None:
            return
        self._pending.append(result)
        if self._started:
            self._deliver()

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self._deliver()

    def _deliver(self) -> None:
        if self._delivering:
            return
        self._delivering = True
        try:
            while self._pending:
                item = self._pending.popleft()
                if isinstance(item, OpenAIRealtimeError):
                    self._call(self._dispatcher.route_error(item).calls, item)
                    continue
                routing = self._dispatcher.route(cast(AnyServerEvent, item))
                self._call(routing.calls, routing.unhandled)
                self._queue.append(item)
                if isinstance(item, TranslationSessionClosed):
                    self._terminal_delivered = True
                    self._close_transport()
                if self._iterating:
                    if len(self._queue) >= self._opts.max_queue and self._finish is None:
                        self._pause(True)  # iteration lags: the socket waits (backpressure)
                elif len(self._queue) > self._opts.max_queue:
                    # nobody iterates (handlers only): the oldest event is dropped for iteration
                    # (its handlers had it), never the socket stalled
                    self._queue.popleft()
                    self.dropped_for_iteration += 1
            self._wakeup.set()
            self._settle()
        finally:
            self._delivering = False

    def _call(self, calls: list[tuple[Handler, Any]], unhandled: OpenAIRealtimeError | None) -> None:
        for handler, arg in calls:
            try:
                result = handler(arg)
                if inspect.isawaitable(result):
                    self._spawn(self._await_handler(result, arg))
            except Exception as exc:
                self._handler_failed(exc, arg)
        if unhandled is not None:
            logger.warning("translation session: %s (no 'error' handler)", self._plan.redact(str(unhandled)))

    async def _await_handler(self, result: Any, arg: Any) -> None:
        try:
            await result
        except Exception as exc:
            self._handler_failed(exc, arg)

    def _handler_failed(self, exc: Exception, arg: Any) -> None:
        error = HandlerError(f"a handler of {getattr(arg, 'type', type(arg).__name__)!r} raised "
                             f"{type(exc).__name__}", event_type=str(getattr(arg, "type", "error")))
        error.__cause__ = exc
        calls = self._dispatcher.route_error(error).calls
        if calls and not isinstance(arg, HandlerError):
            self._call(calls, None)
        else:
            logger.error("translation session: %s", self._plan.redact(str(error)), exc_info=exc)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _pause(self, on: bool) -> None:
        if self.socket is not None and on != self._reading_paused:
            self._reading_paused = on
            set_reading(self.socket, not on)

    async def recv(self) -> TranslationEvent:
        """The next event (``StopAsyncIteration`` after ``session.closed`` was returned or once
        the socket ended; the failure, if it ended abnormally)."""
        self._iterating = True
        self._start()
        while not self._queue:
            if self._closed.is_set():
                failure = self.protocol.failure
                if failure is not None and not self._terminal_delivered and not self._closed_by_us:
                    raise failure
                raise StopAsyncIteration
            self._wakeup.clear()
            waiter = asyncio.ensure_future(self._wakeup.wait())
            closed = asyncio.ensure_future(self._closed.wait())
            try:
                await asyncio.wait({waiter, closed}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                closed.cancel()
        event = self._queue.popleft()
        if self._reading_paused and len(self._queue) < self._opts.max_queue // 2:
            self._pause(False)
        return event

    def __aiter__(self) -> AsyncIterator[TranslationEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[TranslationEvent]:
        while True:
            try:
                event = await self.recv()
            except StopAsyncIteration:
                return
            yield event
            if isinstance(event, TranslationSessionClosed):
                return

    # --- ending ---------------------------------------------------------------------------------

    async def finish(self, timeout: float) -> None:
        """Stop input, send ``session.close`` once, deliver every event through
        ``session.closed`` (to handlers, and to iteration), then close the socket; all within
        ``timeout`` seconds. Repeated calls share the first one's outcome. API ``error`` events
        are delivered and do not end it; a timeout or a transport failure raises
        (``RealtimeConnectionError`` / ``ConnectionClosedError``) and no input is replayed."""
        if self._finish is None:
            if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not 0 < timeout < float("inf"):
                raise RealtimeConfigError(f"timeout must be a positive finite number of seconds, got {timeout!r}")
            self._finish = asyncio.get_running_loop().create_future()
            self._deadline_task = asyncio.get_running_loop().create_task(self._deadline(timeout))  # first: it
            # covers the close's send too
            self._pause(False)  # finishing: the rest of the output is read whatever iteration does
            self._start()
            if not self.protocol.terminal_received and self.protocol.failure is None and not self._closed.is_set():
                try:
                    await self.send({"type": "session.close"})
                except OpenAIRealtimeError as exc:
                    self.protocol.fail(exc)
            self._settle()
        await asyncio.shield(self._finish)

    async def _deadline(self, timeout: float) -> None:
        await asyncio.sleep(timeout)
        if self._finish is not None and not self._finish.done():
            self.protocol.fail(RealtimeConnectionError(
                f"Timed out finishing the translation session and closing its socket within {timeout} s"))
            if self.socket is not None:
                self.socket.disconnect(graceful=False)
            self._settle(force=True)

    def _settle(self, *, force: bool = False) -> None:
        fut = self._finish
        if fut is None or fut.done():
            return
        if not (self._closed.is_set() or force):
            return
        failure = self.protocol.failure
        if failure is not None:
            fut.set_exception(failure)
            fut.exception()  # retrieved here: the caller awaits it, a later caller too
        elif self._terminal_delivered:
            fut.set_result(None)
        if fut.done() and self._deadline_task is not None and self._deadline_task is not asyncio.current_task():
            self._deadline_task.cancel()

    def _close_transport(self) -> None:
        if self.socket is not None and not self.socket.is_close_frame_sent:
            self.socket.send_close(picows.WSCloseCode.OK, b"OK")
            self.socket.disconnect()

    def _disconnected(self, transport: picows.WSTransport) -> None:
        code, _reason, _here = close_info(transport)
        if not self._terminal_delivered and self._pending:
            self._deliver()
        failure = self.protocol.transport_closed(code)
        premature = (failure is not None and self._finish is None and not self.protocol.terminal_received
                     and not self._closed_by_us)
        self._closed.set()
        self._wakeup.set()
        self._writable.set()
        if premature and failure is not None:
            calls = self._dispatcher.route_error(failure).calls
            if calls:
                self._call(calls, None)
        self._settle()

    async def close(self) -> None:
        """Close the socket now, without waiting for the remaining output (prefer
        :meth:`finish`)."""
        self.protocol.input_closed = True
        self._closed_by_us = True
        if self.socket is not None and not self._closed.is_set():
            self._close_transport()
            try:
                async with asyncio.timeout(self._opts.close_timeout):
                    await self._closed.wait()
            except TimeoutError:
                self.socket.disconnect(graceful=False)
        for task in [*self._tasks, *([self._deadline_task] if self._deadline_task is not None else [])]:
            task.cancel()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
