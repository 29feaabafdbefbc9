"""The Realtime connection as a state machine, with no I/O: :class:`RealtimeConnection`.

It owns everything about one Realtime session that is protocol, not plumbing:

* the lifecycle, one :class:`State` (``CONNECTING`` → ``OPEN`` ⇄ ``RECONNECTING`` →
  ``CLOSING`` → ``CLOSED``) and how a close is classified (normal, abnormal, worth a reconnect);
* the receive path: frames in (:meth:`RealtimeConnection.receive`), decoded, tracked (session,
  last error, the conversation mirror, tool calls), then delivered;
* the one delivery path for every kind of handler (``event``, typed, ``frame``,
  ``reconnecting``, ``reconnected``, ``error``) and for ``wait_for`` and iteration: the backlog,
  the hold, the iteration buffer and read back-pressure live here (rules below);
* the send path: the outbound queue and its drop policy (:class:`~.sendqueue.OutboundQueue`),
  what may be written when, and what is returned as ``unsent``;
* restore (the events that re-apply the confirmed session and conversation on a fresh socket)
  and the rollover deadline.

The shell (``aio/client.py``) owns the socket, timers, tasks and futures. It gives the
connection a :class:`Shell` (write bytes, pause/resume reading, await a handler's awaitable, run
tool calls, arm the rollover timer) and feeds it transport facts: :meth:`connection_made`,
:meth:`receive`, :meth:`writer_paused`/:meth:`writer_resumed`, :meth:`connection_lost`.
Waiters are any object with ``done()``/``set_result()``/``set_exception()`` (an asyncio future).

Delivery rules (docs/client.md, "Ordering and memory"):

* Items (events, errors, frames, library events) are delivered one at a time, in arrival order.
  An item's handlers run in registration order; a handler that returns an awaitable is awaited
  (by the shell) before the next handler and the next item. Items that arrive meanwhile wait in
  the backlog; at ``max_queue`` items, reading is paused until it halves.
* After its handlers, an event resolves ``wait_for`` waiters, then enters the iteration buffer.
* Before the first iteration step the buffer keeps only the newest :data:`EARLY_EVENTS` events
  (so ``async for`` right after ``create()`` starts at ``session.created``, and a handler-only
  program keeps almost nothing); from the first step on it holds up to ``max_queue`` events and
  a full buffer pauses reading instead of dropping.
* ``wait_for(type)`` returns the first event of ``type`` delivered after the last ``send`` that
  no ``wait_for`` returned yet, even if it arrived before the call (at most one event per type is
  kept for this, for at most :data:`RECENT_TYPES` types, and forgotten at the next send). Before
  iteration has begun, an event returned by ``wait_for`` and everything before it are dropped
  from the buffer: iteration starts after what ``wait_for`` consumed. Once iteration has begun
  it sees every event.
* An error nobody handles is logged by the shell, fails the pending waiters, and is raised from
  the next iteration step, ``wait_for`` or ``close``.
"""

from __future__ import annotations

import enum
import inspect
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

import msgspec

from ..types import (
    AnyServerEvent,
    ErrorEvent,
    ResponseDoneEvent,
    SessionCreatedEvent,
    SessionUpdatedEvent,
    UnknownServerEvent,
)
from .codec import ServerEventDecoder
from .conversation import Conversation
from .dispatch import Dispatcher, Handler, Routing
from .errors import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    HandlerError,
    MalformedFrameError,
    OpenAIRealtimeError,
    RealtimeConnectionError,
)
from .reconnect import ReconnectPolicy, is_recoverable, session_restore_event
from .sendqueue import OutboundQueue
from .tools import ToolCallRequest, ToolRouter

__all__ = ["EARLY_EVENTS", "RECENT_TYPES", "RealtimeConnection", "Shell", "State", "Waiter"]

#: Events kept for iteration before the first iteration step (the newest ones).
EARLY_EVENTS: Final = 16
#: Event types remembered (one event each, since the last send) for ``wait_for``.
RECENT_TYPES: Final = 64

#: Server event types whose content the connection keeps (session, last error, conversation).
_TRACKED: Final = frozenset(
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
_DECODE_ERRORS = (msgspec.ValidationError, msgspec.DecodeError, UnicodeError, RecursionError)
_SLOW_PATH = (ErrorEvent, UnknownServerEvent)  # routed by Dispatcher.route


class State(enum.Enum):
    """Where a connection is in its life."""

    CONNECTING = "connecting"  # the first socket is being opened
    OPEN = "open"  # a socket is up; sends are written (or queued while it is write-paused)
    RECONNECTING = "reconnecting"  # between sockets (drop, or rollover): sends are queued
    CLOSING = "closing"  # close() was called: queued sends are flushed, new sends refused
    CLOSED = "closed"  # for good


class Waiter(Protocol):
    """What ``wait_for``, iteration and ``drain`` park on (an asyncio future fits)."""

    def done(self) -> bool: ...
    def set_result(self, result: Any, /) -> None: ...
    def set_exception(self, exception: BaseException, /) -> None: ...


class Shell(Protocol):
    """What the connection asks of its I/O shell; every call returns at once."""

    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def await_handler(self, awaitable: Awaitable[object]) -> None:
        """Await ``awaitable``, then call :meth:`RealtimeConnection.handler_finished`."""
    def run_tools(self, calls: list[ToolCallRequest], output_modalities: list[str] | None) -> None: ...
    def arm_rollover(self, delay: float) -> None:
        """Call :meth:`RealtimeConnection.rollover_timer` in ``delay`` seconds (replacing any
        earlier timer)."""
    def start_rollover(self) -> None:
        """Open the next session now (then :meth:`connection_made` with ``rollover=True``)."""
    def report(self, level: int, message: str) -> None:
        """Log ``message`` (already redacted) at ``level`` (a ``logging`` level number)."""


class _Frame:
    """A raw server message for ``"frame"`` handlers."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class _Local:
    """A library event (``reconnecting``, ``reconnected``) for its handlers."""

    __slots__ = ("payload", "type")

    def __init__(self, type: str, payload: Any) -> None:
        self.type = type
        self.payload = payload


class _Unhandled:
    """A marker in the iteration buffer: raise this error when iteration reaches it."""

    __slots__ = ("error",)

    def __init__(self, error: OpenAIRealtimeError) -> None:
        self.error = error


class _ToolCallArg:
    """What a failing tool's HandlerError names: ``tool call 'name'``."""

    __slots__ = ("type",)

    def __init__(self, name: str) -> None:
        self.type = f"tool call {name!r}"


_Item = AnyServerEvent | OpenAIRealtimeError | _Frame | _Local
_Pending = tuple[Handler, Any, list[tuple[Handler, Any]], int, Routing | None, AnyServerEvent | None]

_ERROR = 40
_WARNING = 30
_INFO = 20
_DEBUG = 10


class RealtimeConnection:
    """One Realtime session's protocol state; see the module comment."""

    def __init__(
        self,
        shell: Shell,
        *,
        redact: Callable[[str], str],
        max_queue: int = 1024,
        send_queue_bytes: int = 8 * 1024 * 1024,
        max_size: int = 16 * 1024 * 1024,
        reconnect: ReconnectPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = State.CONNECTING
        self.shell = shell
        self.redact = redact
        self.max_queue = max_queue
        self.max_size = max_size
        self.policy = reconnect
        self.clock = clock
        self.dispatcher = Dispatcher(redact=redact)
        self.conversation = Conversation()
        self.tools = ToolRouter()
        self.outbound = OutboundQueue(send_queue_bytes)
        self.session: Any = None
        self.reconnects = 0
        self.close_code: int | None = None
        self.close_reason = ""
        self._decoder = ServerEventDecoder()
        self._decode_typed = self._decoder.decode_typed
        self._plans = self.dispatcher.plans
        self._confirmed_session: dict[str, Any] | None = None  # raw JSON, unknown fields kept
        self._last_error_code: str | None = None
        self.close_ok: bool | None = None  # once CLOSED: whether it was a normal close
        # delivery
        self._write: Callable[[bytes], object] | None = None  # None: nothing can be written now
        # (a write function returns False when its transport is closing: nothing was written)
        self._holds: set[str] = {"start"}
        self._paused: set[str] = set()  # why reading is paused
        self._backlog: deque[_Item] = deque()
        self._pending: _Pending | None = None  # a handler's awaitable is being awaited
        self._failed: list[OpenAIRealtimeError] = []  # handler failures of the current item
        self._frame_handlers = False  # (a cache of the dispatcher: a "frame" handler exists)
        self._buffer: deque[AnyServerEvent | _Unhandled] = deque(maxlen=EARLY_EVENTS)
        self._iter_waiters: list[Waiter] = []
        self._waiters: dict[str, list[Waiter]] = {}
        self._recent: dict[str, AnyServerEvent] = {}  # type -> last event since the last send
        self._pending_errors: list[OpenAIRealtimeError] = []
        self._drain_waiters: list[Waiter] = []
        self._unsent: list[Any] = []
        self._closed_waiters: list[Waiter] = []
        # rollover: the session's expiry and the hard deadline once the timer fired mid-response
        self._expires_at: float | None = None
        self._rollover_force_at: float | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    @property
    def reconnecting(self) -> bool:
        return self.state is State.RECONNECTING

    def connection_made(self, write: Callable[[bytes], object], *, restore: bool = False) -> None:
        """A socket is up (the first one, a reconnect, or a rollover's new one). With
        ``restore``, the confirmed session (and conversation) are written first, then what
        was queued."""
        if self.state is State.CLOSED or self.state is State.CLOSING:
            return
        if restore:
            self._write_restore(write)
            self.reconnects += 1
        self.state = State.OPEN
        self._write = write
        self._flush()
        if self._rollover_force_at is not None and not restore:
            self.rollover_timer()  # it fell due while connecting

    def start_reconnecting(self) -> None:
        """Sends from now on wait in the queue (a rollover is opening the next socket)."""
        if self.state is State.OPEN:
            self.state = State.RECONNECTING
            self._write = None

    def rollover_failed(self, write: Callable[[bytes], object]) -> None:
        """The rollover's new socket could not be opened: carry on with the old one."""
        if self.state is State.RECONNECTING:
            self.state = State.OPEN
            self._write = write
            self._flush()

    def transport_closing(self) -> None:
        """The socket is going (a close frame came in, or we sent ours): write nothing more."""
        self._write = None

    def connection_lost(self, code: int | None, reason: str, *, closed_here: bool) -> bool:
        """The socket ended with close ``code`` (``None``: no close frame). ``closed_here``: this
        side sent the first close frame. Returns whether the shell should reconnect."""
        self._write = None
        self.close_code = 1006 if code is None else code
        self.close_reason = reason
        if self._paused:
            self._paused.clear()
        if closed_here and self.state is not State.CLOSING and code not in (1001, None):
            # we closed because of the peer: a frame over max_size (1009) or a protocol error;
            # (1001 is a keepalive ping that got no answer: a plain recoverable close)
            extra = f" (max_size is {self.max_size} bytes)" if code == 1009 else ""
            self.report_error(
                RealtimeConnectionError(
                    f"connection closed by this client: code={code} "
                    f"reason={self.redact(reason)!r}{extra}"
                )
            )
        if (
            self.policy is not None
            and self.state in (State.OPEN, State.RECONNECTING)
            and is_recoverable(code, self._last_error_code)
        ):
            self.state = State.RECONNECTING
            return True
        self.finish()
        return False

    def begin_close(self) -> bool:
        """``close()`` was called: refuse new sends, keep what is queued for the flush. Returns
        ``False`` when the connection is already closing or closed."""
        if self.state is State.CLOSED or self.state is State.CLOSING:
            return False
        if self.state is not State.OPEN:
            self._write = None  # reconnecting: nothing to flush into
        self.state = State.CLOSING
        self._rollover_force_at = None
        self.release()
        return True

    def fail(self, error: OpenAIRealtimeError) -> None:
        """The connection cannot go on (a reconnect loop failed for good): deliver ``error``
        to ``error`` handlers (or as unhandled), then close."""
        self.report_error(error)
        self.finish()

    def finish(self) -> None:
        """The connection is over for good: fail waiters, end iteration."""
        if self.state is State.CLOSED:
            return
        # normal: close() was called (we were CLOSING), or the peer closed with 1000
        self.close_ok = self.state is State.CLOSING or self.close_code == 1000
        self.state = State.CLOSED
        self._write = None
        self._paused.clear()
        error = self.closed_error()
        self._wake(self._drain_waiters, error)
        for futures in self._waiters.values():
            for fut in futures:
                if not fut.done():
                    fut.set_exception(error)
        self._waiters.clear()
        self._wake_iterators()
        self._wake(self._closed_waiters, None)
        if not self.close_ok and self.close_code is not None:  # (None: it never opened)
            self.shell.report(
                _INFO,
                f"Realtime connection closed: code={self.close_code} "
                f"reason={self.redact(self.close_reason)!r}",
            )

    @property
    def closed_normally(self) -> bool:
        """We closed it (``close()``), or the peer closed with 1000."""
        return self.state is State.CLOSING or bool(self.close_ok)

    def closed_error(self) -> ConnectionClosed:
        """The error that reports this (closed) connection; takes every queued event as
        ``unsent``."""
        unsent = self._unsent
        for q in self.outbound.drain():
            try:
                unsent.append(msgspec.json.decode(q.data))
            except msgspec.DecodeError:  # send_raw text that is not JSON
                unsent.append(q.data)
        reason = self.redact(self.close_reason)
        shown = f" reason={reason!r}" if reason else ""
        if self.state is State.CLOSING:
            message = "the Realtime connection is closing"
        else:
            message = f"the Realtime connection is closed (code={self.close_code}{shown})"
        cls = ConnectionClosedOK if self.closed_normally else ConnectionClosedError
        return cls(message, code=self.close_code, reason=reason, unsent=list(unsent))

    def wait_closed(self, waiter: Waiter) -> None:
        if self.state is State.CLOSED:
            waiter.set_result(None)
        else:
            self._closed_waiters.append(waiter)

    # ------------------------------------------------------------------ receive path

    def receive(self, data: bytes | memoryview) -> None:
        """One text message from the server. This is the receive hot path: the common case
        (a typed, non-error event, nothing held or backlogged, no once-handlers) is inline."""
        if self._frame_handlers or self._holds:  # (held: a "frame" handler may still be added)
            self._enqueue(_Frame(bytes(data).decode("utf-8", "replace")))
        try:
            event = self._decode_typed(data)
        except _DECODE_ERRORS:
            try:
                event = self._decoder.decode_slow(data)
            except MalformedFrameError as exc:
                self.report_error(exc)
                return
        etype = event.type
        if etype in _TRACKED:
            self._track(event, data)
        if self._pending is not None or self._holds or self._backlog:
            self._backlog.append(event)
            if len(self._backlog) >= self.max_queue:
                self._pause("dispatch")
            return
        if isinstance(event, _SLOW_PATH):
            self._dispatch(event)
            return
        handlers = self._plans.get(etype, _MISSING)
        if handlers is _MISSING:  # a type not seen since the plans changed: bound the memory
            handlers = self.dispatcher.fast_handlers(etype)
            if len(self._recent) >= RECENT_TYPES:
                del self._recent[next(iter(self._recent))]
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
                self._pending = (handler, event, [(h, event) for h in handlers[i:]], 0, None, event)
                self.shell.await_handler(result)
                return
        # delivered: what _deliver does, inline (the size of _recent is bounded on plan misses)
        self._recent[etype] = event
        if self._waiters:
            waiters = self._waiters.pop(etype, None)
            if waiters:
                for fut in waiters:
                    if not fut.done():
                        fut.set_result(event)
        buf = self._buffer
        buf.append(event)
        if buf.maxlen is None and len(buf) >= self.max_queue:  # (maxlen: not iterating yet)
            self._pause("iteration")
        if self._iter_waiters:
            self._wake_iterators()
        if self._failed:
            self._requeue_failures()

    def receive_binary(self, size: int) -> None:
        self.report_error(
            MalformedFrameError(
                f"could not parse websocket event: unexpected binary frame ({size} bytes)"
            )
        )

    def report_error(self, error: OpenAIRealtimeError) -> None:
        """A library-side error (bad frame, transport failure): through the delivery path."""
        self._enqueue(error)

    def emit(self, type: str, payload: Any) -> None:
        """A library event (``reconnecting``, ``reconnected``): through the delivery path."""
        self._enqueue(_Local(type, payload))

    def _enqueue(self, item: _Item) -> None:
        if self._pending is not None or self._holds or self._backlog:
            self._backlog.append(item)
            if len(self._backlog) >= self.max_queue:
                self._pause("dispatch")
        else:
            self._dispatch(item)
            if self._backlog and self._pending is None:
                self._drain_backlog()

    def _track(self, event: AnyServerEvent, data: bytes | memoryview) -> None:
        """State kept from the stream: session, last error, conversation, tool calls."""
        if isinstance(event, SessionCreatedEvent | SessionUpdatedEvent):
            self.session = event.session
            if isinstance(event, SessionCreatedEvent):
                self._schedule_rollover(event.session.expires_at)
            else:
                # the raw JSON: unknown fields and a confirmed ``null`` (VAD off) survive restore
                raw = msgspec.json.decode(data)
                session = raw.get("session") if isinstance(raw, dict) else None
                self._confirmed_session = session if isinstance(session, dict) else None
        elif isinstance(event, ErrorEvent):
            code = event.error.code
            self._last_error_code = code if isinstance(code, str) else None
        else:
            self.conversation.apply(event)
            if isinstance(event, ResponseDoneEvent):
                if self.tools.tools:
                    calls = self.tools.calls(event)
                    if calls:
                        self.shell.run_tools(calls, event.response.output_modalities)
                if self._rollover_force_at is not None and self.conversation.active_response_id is None:
                    self._rollover_force_at = None
                    self.shell.start_rollover()

    # ------------------------------------------------------------------ delivery

    def add_handler(self, type: str, handler: Handler, once: bool) -> None:
        self.dispatcher.add(type, handler, once=once)
        self._frame_handlers = self.dispatcher.has("frame")

    def remove_handler(self, type: str, handler: Handler | None) -> None:
        self.dispatcher.remove(type, handler)
        self._frame_handlers = self.dispatcher.has("frame")

    def hold(self, reason: str) -> None:
        """Hold delivery until :meth:`release` (items wait in the backlog)."""
        self._holds.add(reason)

    def release(self, reason: str | None = None) -> None:
        """Lift one hold (``reason``) or all of them, and deliver what waited."""
        if not self._holds:
            return
        if reason is None:
            self._holds.clear()
        else:
            self._holds.discard(reason)
        if not self._holds and self._pending is None:
            self._drain_backlog()

    def _dispatch(self, item: _Item) -> None:
        """Run the handlers of one item; stop at a handler's awaitable (the shell awaits it)."""
        event: AnyServerEvent | None = None
        if isinstance(item, _Frame):
            routing = self.dispatcher.route_local("frame", item.text)
            routing_after: Routing | None = None
        elif isinstance(item, _Local):
            routing = self.dispatcher.route_local(item.type, item.payload)
            routing_after = None
        elif isinstance(item, OpenAIRealtimeError):
            routing = routing_after = self.dispatcher.route_error(item)
        else:
            routing = routing_after = self.dispatcher.route(item)
            event = item
        self._run(routing.calls, 0, routing_after, event)

    def _run(
        self,
        calls: list[tuple[Handler, Any]],
        start: int,
        routing: Routing | None,
        event: AnyServerEvent | None,
    ) -> bool:
        for i in range(start, len(calls)):
            handler, arg = calls[i]
            try:
                result = handler(arg)
            except Exception as exc:
                self._handler_failed(handler, arg, exc)
                continue
            if result is not None and inspect.isawaitable(result):
                self._pending = (handler, arg, calls, i + 1, routing, event)
                self.shell.await_handler(result)
                return False
        self._deliver(routing, event)
        return True

    def handler_finished(self, error: BaseException | None) -> None:
        """The shell finished awaiting the pending handler (``error``: what it raised)."""
        pending = self._pending
        if pending is None:
            return
        handler, arg, calls, start, routing, event = pending
        self._pending = None
        if isinstance(error, Exception):
            self._handler_failed(handler, arg, error)
        if self._run(calls, start, routing, event):
            self._drain_backlog()

    def _drain_backlog(self) -> None:
        backlog = self._backlog
        while backlog and self._pending is None and not self._holds:
            self._dispatch(backlog.popleft())
        if "dispatch" in self._paused and len(backlog) <= self.max_queue // 2:
            self._resume("dispatch")

    def _handler_failed(self, handler: Handler, arg: Any, exc: Exception) -> None:
        etype = "error" if isinstance(arg, OpenAIRealtimeError) else getattr(arg, "type", None)
        if etype is None and isinstance(arg, str):
            etype = "frame"
        name = getattr(handler, "__qualname__", None) or type(handler).__name__
        error = HandlerError(
            f"handler {name} for {etype!r} raised {type(exc).__name__}: "
            f"{self.redact(str(exc))[:300]}",
            event_type=str(etype),
        )
        error.__cause__ = exc
        if etype == "error":
            # an error handler failing must not loop back into error handlers
            self.shell.report(_ERROR, error.message)
            return
        self._failed.append(error)

    def tool_failed(self, call: ToolCallRequest, handler: Handler, exc: Exception) -> None:
        """A tool raised: report a HandlerError to ``error`` handlers (not to waiters)."""
        self._handler_failed(handler, _ToolCallArg(call.name), exc)
        self._requeue_failures()

    def _requeue_failures(self) -> None:
        """Handler failures of the item just delivered go next, ahead of the backlog."""
        failed, self._failed = self._failed, []
        self._backlog.extendleft(reversed(failed))
        if self._pending is None and not self._holds:
            self._drain_backlog()

    def _deliver(self, routing: Routing | None, event: AnyServerEvent | None) -> None:
        if routing is not None and routing.unhandled is not None:
            self._unhandled(routing.unhandled)
        elif event is not None:
            recent = self._recent
            recent[event.type] = event
            if len(recent) > RECENT_TYPES:
                del recent[next(iter(recent))]
            if self._waiters:
                waiters = self._waiters.pop(event.type, None)
                if waiters:
                    for fut in waiters:
                        if not fut.done():
                            fut.set_result(event)
            self._push_buffer(event)
        if self._failed:
            failed, self._failed = self._failed, []
            self._backlog.extendleft(reversed(failed))

    def _unhandled(self, error: OpenAIRealtimeError) -> None:
        if isinstance(error, HandlerError) and error.event_type.startswith("tool call"):
            # a tool's failure went to the model already; it is logged, not raised at waiters
            self.shell.report(_ERROR, error.message)
            return
        self.shell.report(
            _ERROR,
            "unhandled Realtime error (register rt.on('error', ...) to handle it): " + str(error),
        )
        self._pending_errors.append(error)
        self._push_buffer(_Unhandled(error))
        for futures in self._waiters.values():
            for fut in futures:
                if not fut.done():
                    fut.set_exception(error)
        self._waiters.clear()

    def _push_buffer(self, item: AnyServerEvent | _Unhandled) -> None:
        buf = self._buffer
        buf.append(item)  # before the first iteration buf has maxlen: the oldest drop off
        if buf.maxlen is None and len(buf) >= self.max_queue:  # (maxlen: not iterating yet)
            self._pause("iteration")
        if self._iter_waiters:
            self._wake_iterators()

    def _wake_iterators(self) -> None:
        waiters, self._iter_waiters = self._iter_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def _pause(self, reason: str) -> None:
        if not self._paused and self.state is not State.CLOSED:
            self.shell.pause_reading()
        self._paused.add(reason)

    def _resume(self, reason: str) -> None:
        if reason in self._paused:
            self._paused.discard(reason)
            if not self._paused:
                self.shell.resume_reading()

    @property
    def backlog_size(self) -> int:
        """Items waiting for their handlers (bounded by ``max_queue`` plus one socket read)."""
        return len(self._backlog)

    @property
    def paused_for(self) -> frozenset[str]:
        """Why reading is paused now (``dispatch``, ``iteration``), empty when it is not."""
        return frozenset(self._paused)

    # ------------------------------------------------------------------ wait_for / iteration

    def take_pending_error(self) -> None:
        """Raise the oldest unhandled error not raised elsewhere yet, if any."""
        if self._pending_errors:
            error = self._pending_errors.pop(0)
            self._drop_marker(error)
            raise error

    def error_raised(self, error: BaseException) -> None:
        """``error`` was raised to the caller (from ``wait_for``): not again from ``close``."""
        if isinstance(error, OpenAIRealtimeError) and error in self._pending_errors:
            self._pending_errors.remove(error)
            self._drop_marker(error)

    def _drop_marker(self, error: OpenAIRealtimeError) -> None:
        for item in self._buffer:
            if isinstance(item, _Unhandled) and item.error is error:
                self._buffer.remove(item)
                return

    def wait_for(self, type: str, waiter: Waiter) -> None:
        """Park ``waiter`` for the next event of ``type`` (see the rules in the module comment);
        it may be resolved (or failed) at once."""
        self.take_pending_error()
        event = self._recent.get(type)
        if event is not None:
            waiter.set_result(event)
            return
        if self.state is State.CLOSED and not self._holds and not self._backlog:
            waiter.set_exception(self.closed_error())
            return
        self._waiters.setdefault(type, []).append(waiter)
        # release held delivery only now, so that a held event of this type is seen
        self.release()
        if self.state is State.CLOSED and not waiter.done() and self._pending is None:
            self.cancel_wait(type, waiter)
            waiter.set_exception(self.closed_error())

    def cancel_wait(self, type: str, waiter: Waiter) -> None:
        futures = self._waiters.get(type)
        if futures and waiter in futures:
            futures.remove(waiter)
            if not futures:
                del self._waiters[type]

    def consumed(self, event: AnyServerEvent) -> None:
        """``wait_for`` returned ``event``: it no longer counts for the next ``wait_for``, and
        iteration (if not begun) starts after it."""
        if self._recent.get(event.type) is event:
            del self._recent[event.type]
        if self._buffer.maxlen is not None:  # iteration has not begun
            buf = self._buffer
            if any(item is event for item in buf):
                while buf:
                    if buf.popleft() is event:
                        break

    def start_iterating(self) -> None:
        if self._buffer.maxlen is not None:
            # from now on (no maxlen) a full buffer pauses reading instead of dropping events
            self._buffer = deque(self._buffer)

    def next_event(self, waiter: Waiter | None) -> AnyServerEvent | None:
        """The next iteration item, or ``None`` with ``waiter`` (if any) parked (call again once
        it is resolved). Raises an unhandled error that iteration reaches, the closed error after an
        abnormal close, and ``StopIteration`` after a normal one."""
        buf = self._buffer
        if buf.maxlen is not None:
            self.start_iterating()
            buf = self._buffer
        if self._holds:
            self.release()
        while buf:
            item = buf.popleft()
            if self._paused and "iteration" in self._paused and len(buf) <= self.max_queue // 2:
                self._resume("iteration")
            if isinstance(item, _Unhandled):
                try:
                    self._pending_errors.remove(item.error)
                except ValueError:
                    continue  # raised elsewhere already
                raise item.error
            return item
        if self.state is State.CLOSED and not self._backlog and self._pending is None:
            if self.closed_normally:
                raise StopIteration
            raise self.closed_error()
        if waiter is not None:
            self._iter_waiters.append(waiter)
        return None

    def unread(self, event: AnyServerEvent) -> None:
        """Put an event taken by an interrupted iteration step back in front."""
        self._buffer.appendleft(event)

    # ------------------------------------------------------------------ send path

    def send(self, data: bytes, droppable: bool) -> None:
        """Write ``data`` (one encoded client event) now, or queue it. Raises the closed error
        when closed or closing, :class:`QueueFull` when the queue cannot take a control event."""
        state = self.state
        if state is State.CLOSED or state is State.CLOSING:
            raise self.closed_error()
        if self._holds:
            self.release()
        if self._recent:
            self._recent.clear()
        write = self._write
        if write is None or self.outbound or write(data) is False:
            if write is not None and not self.outbound:
                self._write = None  # the transport turned out to be closing
            dropped = self.outbound.push(data, droppable=droppable)
            if dropped:
                self.shell.report(_DEBUG, f"outbound queue full: dropped {dropped} stale audio chunks")

    def writer_paused(self) -> None:
        """The socket's write buffer is full: queue sends until :meth:`writer_resumed`."""
        self._write = None

    def writer_resumed(self, write: Callable[[bytes], object]) -> None:
        if self.state is State.OPEN or self.state is State.CLOSING:
            self._write = write
            self._flush()

    def _flush(self) -> None:
        outbound = self.outbound
        while outbound and self._write is not None:
            q = outbound.popleft()
            if self._write(q.data) is False:  # the transport is closing: keep it queued
                self._write = None
                rest = outbound.drain()
                for item in (q, *rest):
                    outbound.push(item.data, droppable=item.droppable)
            # (a write may also pause writing, and so end the loop)
        if not outbound and self._write is not None:
            self._wake(self._drain_waiters, None)

    @property
    def drained(self) -> bool:
        return not self.outbound and self._write is not None

    def wait_drained(self, waiter: Waiter) -> None:
        if self.state is State.CLOSED:
            waiter.set_exception(self.closed_error())
        elif self.drained:
            waiter.set_result(None)
        else:
            self._drain_waiters.append(waiter)

    @staticmethod
    def _wake(waiters: list[Waiter], error: BaseException | None) -> None:
        for fut in waiters[:]:
            if not fut.done():
                if error is None:
                    fut.set_result(None)
                else:
                    fut.set_exception(error)
        waiters.clear()

    # ------------------------------------------------------------------ restore and rollover

    def restore_events(self) -> list[bytes]:
        """The frames that re-apply the confirmed session (as the server confirmed it, unknown
        fields included) and, with ``restore="conversation"``, the conversation."""
        policy = self.policy
        frames: list[bytes] = []
        if policy is None or policy.restore == "none":
            self.conversation.clear()
            return frames
        if self._confirmed_session is not None:
            update = session_restore_event(self._confirmed_session)
            if update is not None:
                frames.append(msgspec.json.encode(update))
        if policy.restore == "conversation":
            frames.extend(msgspec.json.encode(e) for e in self.conversation.restore_events())
        self.conversation.clear()
        return frames

    def _write_restore(self, write: Callable[[bytes], object]) -> None:
        for frame in self.restore_events():
            write(frame)

    def _schedule_rollover(self, expires_at: int | None) -> None:
        policy = self.policy
        if policy is None or policy.rollover is None or expires_at is None:
            return
        self._expires_at = float(expires_at)
        self.shell.arm_rollover(max(0.0, expires_at - policy.rollover - self.clock()))

    def rollover_timer(self) -> None:
        """The rollover timer fired: switch now if no response is running, else at the end of
        the response (and at the latest one second before expiry)."""
        if self._expires_at is None:
            return
        now = self.clock()
        if self.state is State.CONNECTING:  # due before the socket was handed over
            self._rollover_force_at = now  # connection_made() starts it
            return
        if self.state is not State.OPEN:
            return
        force_at = self._expires_at - 1
        if self.conversation.active_response_id is None or now >= force_at:
            self._rollover_force_at = None
            self.shell.start_rollover()
        else:
            self._rollover_force_at = force_at
            self.shell.arm_rollover(force_at - now)

    def reset_error_code(self) -> None:
        """A new attempt starts: the last API error no longer decides the next close."""
        self._last_error_code = None
