"""The Realtime protocol as a state machine, with no I/O: :class:`RealtimeProtocol`.

Rule: every decision about one Realtime session lives here; the shell (``aio/client.py``)
feeds facts in and carries out the actions that come out, and decides nothing itself.

It owns:

* the lifecycle, one :class:`State` (``CONNECTING`` → ``OPEN`` ⇄ ``RECONNECTING`` →
  ``CLOSING`` → ``CLOSED``), how a close is classified (normal, abnormal, worth a reconnect:
  :func:`close_outcome`, :meth:`RealtimeProtocol.connection_lost`), the reconnect attempts
  (:meth:`RealtimeProtocol.reconnect_attempts`, over :func:`~.reconnect.backoff`) and the
  close sequence (:meth:`RealtimeProtocol.close_step`: flush, close frame, abort);
* the receive path: frames in (:meth:`RealtimeProtocol.receive`), decoded, tracked (session,
  last error, the conversation mirror, tool calls), then delivered;
* the one delivery path for every kind of handler (``event``, typed, ``frame``,
  ``reconnecting``, ``reconnected``, ``error``) and for ``wait_for`` and iteration: the backlog,
  the hold, the iteration buffer and read back-pressure live here (rules below);
* the send path: encoding and validating a client event, whether it may be dropped under
  pressure (:func:`~.sendqueue.is_droppable`), the outbound queue
  (:class:`~.sendqueue.OutboundQueue`), what may be written when, and what is returned as
  ``unsent``;
* restore (the events that re-apply the confirmed session and conversation on a fresh socket)
  and the rollover deadline.

Facts in: :meth:`~RealtimeProtocol.connection_made` (with the socket's write function),
:meth:`~RealtimeProtocol.receive`, :meth:`~RealtimeProtocol.writer_paused` /
:meth:`~RealtimeProtocol.writer_resumed`, :meth:`~RealtimeProtocol.connection_lost`,
:meth:`~RealtimeProtocol.handler_finished`, :meth:`~RealtimeProtocol.rollover_timer`, and the
API calls (``send_event``, ``wait_for``, ``next_event``, ``close_step``...). Actions out: after
any call, :attr:`RealtimeProtocol.actions` holds what the shell must now do, in order
(:class:`PauseReading`, :class:`ResumeReading`, :class:`AwaitHandler`, :class:`RunTools`,
:class:`ArmRollover`, :class:`StartRollover`, :class:`Reconnect`, :class:`Log`); the protocol
never calls into its shell. Writing bytes is the one exception in kind: the shell hands over a
write function with :meth:`~RealtimeProtocol.connection_made`, and the protocol calls it (as
websockets' ``data_to_send`` would be drained at once). Waiters are any object with
``done()``/``set_result()``/``set_exception()`` (an asyncio future).

Delivery rules (docs/client.md, "Ordering and memory"):

* Items (events, errors, frames, library events) are delivered one at a time, in arrival order.
  An item's handlers run in registration order; a handler that returns an awaitable is awaited
  (by the shell, :class:`AwaitHandler`) before the next handler and the next item. Items that
  arrive meanwhile wait in the backlog; at ``max_queue`` items, reading is paused until it halves.
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
* An error nobody handles is logged (a :class:`Log` action), fails the pending waiters, and is
  raised from the next iteration step, ``wait_for`` or ``close``.
"""

from __future__ import annotations

import enum
import inspect
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import msgspec

from ..types import (
    AnyServerEvent,
    ClientEventBase,
    ErrorEvent,
    ResponseDoneEvent,
    SessionCreatedEvent,
    SessionUpdatedEvent,
    UnknownServerEvent,
)
from .codec import ClientEventEncoder, ServerEventDecoder
from .conversation import Conversation
from .dispatch import Dispatcher, Handler, Routing
from .errors import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    HandlerError,
    InvalidClientEvent,
    MalformedFrameError,
    OpenAIRealtimeError,
    RealtimeConnectionError,
)
from .reconnect import (
    ReconnectContext,
    ReconnectPolicy,
    backoff,
    is_recoverable,
    library_error,
    process_exception,
    session_restore_event,
)
from .sendqueue import DROPPABLE_TYPES, OutboundQueue
from .tools import ToolCallRequest, ToolRouter
from .usage import UsageTotals

__all__ = [
    "EARLY_EVENTS",
    "RECENT_TYPES",
    "Abort",
    "Action",
    "ArmRollover",
    "AwaitHandler",
    "CloseStep",
    "Closed",
    "Flush",
    "Log",
    "PauseReading",
    "RealtimeConnection",
    "RealtimeProtocol",
    "Reconnect",
    "ResumeReading",
    "RunTools",
    "SendClose",
    "StartRollover",
    "State",
    "Waiter",
    "close_outcome",
]

#: Events kept for iteration before the first iteration step (the newest ones).
EARLY_EVENTS: Final = 16
#: Event types remembered (one event each, since the last send) for ``wait_for``.
RECENT_TYPES: Final = 64

#: Server event types whose content the protocol keeps (session, last error, conversation).
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
#: Input formats with one byte per sample (G.711); every other one is PCM16 (two bytes).
_ONE_BYTE_FORMATS: Final = frozenset({"audio/pcmu", "audio/pcma"})


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


# ---------------------------------------------------------------------- actions (out)


class Action:
    """Something the shell must do now (see :attr:`RealtimeProtocol.actions`)."""

    __slots__ = ()


class PauseReading(Action):
    """Stop reading from the socket (the backlog or the iteration buffer is full)."""

    __slots__ = ()


class ResumeReading(Action):
    """Read from the socket again."""

    __slots__ = ()


class StartRollover(Action):
    """Open the next session now, then :meth:`RealtimeProtocol.connection_made` with
    ``restore=True`` (cancel any rollover timer)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class AwaitHandler(Action):
    """Await ``awaitable`` (a handler's result), then call
    :meth:`RealtimeProtocol.handler_finished` with what it raised (or ``None``)."""

    awaitable: Awaitable[object]


@dataclass(frozen=True, slots=True)
class RunTools(Action):
    """Run these tool calls: each answer (:meth:`~.tools.ToolRouter.output_event`) and the
    follow-up (:meth:`~.tools.ToolRouter.follow_up`) go out with
    :meth:`RealtimeProtocol.send_event`."""

    calls: list[ToolCallRequest]
    output_modalities: list[str] | None


@dataclass(frozen=True, slots=True)
class ArmRollover(Action):
    """Call :meth:`RealtimeProtocol.rollover_timer` in ``delay`` seconds (replacing any earlier
    timer)."""

    delay: float


@dataclass(frozen=True, slots=True)
class Reconnect(Action):
    """The socket ended in a way worth retrying: run the attempts of
    :meth:`RealtimeProtocol.reconnect_attempts`."""

    close_code: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class Log(Action):
    """Log ``message`` (already redacted) at ``level`` (a ``logging`` level number)."""

    level: int
    message: str


PAUSE_READING: Final = PauseReading()
RESUME_READING: Final = ResumeReading()
START_ROLLOVER: Final = StartRollover()


# ---------------------------------------------------------------------- the close sequence


class CloseStep:
    """The next step of ``close()`` (:meth:`RealtimeProtocol.close_step`)."""

    __slots__ = ()


class Flush(CloseStep):
    """Wait (until the close deadline) for the queue to be written: :meth:`wait_drained`."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class SendClose(CloseStep):
    """Send this close frame, then wait (until the deadline) for the socket to end."""

    code: int
    reason: str


class Abort(CloseStep):
    """Drop the socket now (no closing handshake within the deadline)."""

    __slots__ = ()


class Closed(CloseStep):
    """Nothing more to do (or another ``close()`` is under way: wait for it)."""

    __slots__ = ()


FLUSH: Final = Flush()
ABORT: Final = Abort()
CLOSED: Final = Closed()


def close_outcome(
    sent: tuple[int, str] | None, received: tuple[int, str] | None, received_first: bool
) -> tuple[int | None, str, bool]:
    """``(code, reason, closed_here)`` of an ended socket from the close frames it exchanged
    (RFC 6455 §7.1.5: the code is the first close frame's): ours when we sent first, the
    peer's otherwise; ``None`` when no close frame was exchanged."""
    closed_here = sent is not None and (received is None or not received_first)
    info = sent if closed_here else received
    if info is None:
        return None, "", closed_here
    return info[0], info[1], closed_here


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


#: Delivery items routed by the Dispatcher each time, never from a cached plan (typed events
#: whose plan is None, such as ``error``, are routed by :meth:`RealtimeProtocol._dispatch_event`).
_ROUTED = (OpenAIRealtimeError, _Frame, _Local, UnknownServerEvent)

_Item = AnyServerEvent | OpenAIRealtimeError | _Frame | _Local
#: (the handler being awaited, its argument, the handlers, their arguments, the event, the
#: index of the next handler, the routing)
_Pending = tuple[
    Handler, Any, Sequence[Handler], list[Any] | None, AnyServerEvent | None, int, Routing | None
]

_ERROR = 40
_WARNING = 30
_INFO = 20
_DEBUG = 10


class RealtimeProtocol:
    """One Realtime session's protocol state; see the module comment."""

    def __init__(
        self,
        *,
        redact: Callable[[str], str],
        max_queue: int = 1024,
        send_queue_bytes: int = 8 * 1024 * 1024,
        max_size: int = 16 * 1024 * 1024,
        reconnect: ReconnectPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = State.CONNECTING
        #: What the shell must do now, in order (see the module comment); the shell pops them.
        self.actions: deque[Action] = deque()
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
        #: Token usage summed from ``response.done`` (kept across reconnects and rollovers).
        self.usage = UsageTotals()
        #: Called with every library error routed (API errors, bad frames, transport and handler
        #: failures) before the handled/unhandled decision; never counted as handlers, and what
        #: they raise is ignored (telemetry).
        self.error_observers: list[Callable[[OpenAIRealtimeError], object]] = []
        self.reconnects = 0
        self.close_code: int | None = None
        self.close_reason = ""
        self._decoder = ServerEventDecoder()
        self._encoder = ClientEventEncoder()
        self._encode = self._encoder.encode
        self._close_request: tuple[int, str] = (1000, "OK")
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

    def _act(self, action: Action) -> None:
        self.actions.append(action)

    def _log(self, level: int, message: str) -> None:
        self.actions.append(Log(level, message))

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

    def connection_lost(self, code: int | None, reason: str, *, closed_here: bool) -> None:
        """The socket ended with close ``code`` (``None``: no close frame; see
        :func:`close_outcome`). ``closed_here``: this side sent the first close frame. Ends in
        a :class:`Reconnect` action or, for good, in ``CLOSED``."""
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
            self._act(Reconnect(self.close_code, reason))
            return
        self.finish()

    def reconnect_attempts(self, close_code: int | None, reason: str) -> Iterator[ReconnectContext]:
        """The attempts to reopen the session after ``close_code``: one
        :class:`ReconnectContext` per attempt (its ``delay`` from :func:`~.reconnect.backoff`,
        announced to ``reconnecting`` handlers). The shell sleeps ``ctx.delay``, stops when
        :attr:`state` is no longer ``RECONNECTING``, asks ``on_reconnect``
        (:meth:`on_reconnect_verdict`), opens a socket and returns once one is adopted; when the
        attempts run out, the protocol gives up (``CLOSED``)."""
        policy = self.policy
        assert policy is not None
        for attempt, delay in enumerate(backoff(policy), 1):
            ctx = ReconnectContext(
                attempt=attempt, delay=delay, close_code=close_code,
                close_reason=self.redact(reason),
            )
            self.emit("reconnecting", ctx)
            self._last_error_code = None  # the last API error no longer decides the next close
            yield ctx
        self._log(_WARNING, f"giving up after {policy.max_attempts} reconnect attempts")
        self.finish()

    def on_reconnect_verdict(self, attempt: int, verdict: object) -> bool:
        """What ``on_reconnect`` returned before ``attempt``: whether to go on (``False`` gives
        up: ``CLOSED``)."""
        if verdict is False:
            self._log(_INFO, f"reconnect aborted by on_reconnect after attempt {attempt}")
            self.finish()
            return False
        return True

    def attempt_failed(self, attempt: int, error: Exception) -> bool:
        """Opening the socket of ``attempt`` raised ``error``: whether to try again
        (:func:`~.reconnect.process_exception`); a fatal error closes with it as the cause."""
        fatal = process_exception(error, self.redact)
        if fatal is None:
            self._log(_INFO, f"reconnect attempt {attempt} failed: {getattr(error, 'message', error)}")
            return True
        self.fail(fatal)
        return False

    def rollover_started(self) -> ReconnectContext | None:
        """The shell is about to open the rollover's next socket: sends wait in the queue from
        now on. ``None``: no rollover now (not open)."""
        if self.state is not State.OPEN:
            return None
        ctx = ReconnectContext(attempt=1, delay=0.0, close_code=None, close_reason="rollover")
        self.emit("reconnecting", ctx)
        self.state = State.RECONNECTING
        self._write = None
        return ctx

    def rollover_failed(self, error: Exception, write: Callable[[bytes], object] | None) -> None:
        """The rollover's new socket could not be opened: carry on with the old one (``write``),
        or reconnect as usual when the old one dropped meanwhile (``None``)."""
        if self.state is not State.RECONNECTING:
            return
        if write is None:
            self._act(Reconnect(1006, ""))
            return
        message = library_error(error, "rollover failed", self.redact).message
        self._log(_WARNING, f"session rollover failed, staying on the current session: {message}")
        self.state = State.OPEN
        self._write = write
        self._flush()

    def reconnected(self, attempt: int, close_code: int | None, url: str, *, rollover: bool) -> None:
        """The new socket was adopted: tell ``reconnected`` handlers."""
        payload: dict[str, Any] = {"attempt": attempt, "close_code": close_code, "url": url}
        if rollover:
            payload["rollover"] = True
        self.emit("reconnected", payload)

    def transport_closing(self) -> None:
        """The socket is going (a close frame came in, or we sent ours): write nothing more."""
        self._write = None

    def message_too_big(self, size: int) -> bool:
        """A message being reassembled from fragments has reached ``size`` bytes: over
        ``max_size`` the shell closes the socket with 1009 (nothing more is written into it;
        :meth:`connection_lost` then reports the close with ``max_size`` in the message)."""
        if size > self.max_size:
            self._write = None
            return True
        return False

    # ------------------------------------------------------------------ the close sequence

    def begin_close(self, code: int = 1000, reason: str = "OK") -> bool:
        """``close(code, reason)`` was called: refuse new sends, keep what is queued for the
        flush. Returns ``False`` when the connection is already closing or closed (then wait
        with :meth:`wait_closed`)."""
        if self.state is State.CLOSED or self.state is State.CLOSING:
            return False
        if self.state is not State.OPEN:
            self._write = None  # reconnecting: nothing to flush into
        self.state = State.CLOSING
        self._close_request = (code, reason)
        self._rollover_force_at = None
        self.release()
        return True

    def close_step(
        self,
        *,
        socket_up: bool | None = None,
        write: Callable[[bytes], object] | None = None,
        flushed: bool = False,
        ended: bool = False,
        timed_out: int | None = None,
    ) -> CloseStep:
        """The next step of ``close()`` after :meth:`begin_close` and after the shell stopped
        its reconnect/rollover work. Facts, one per call: first ``socket_up`` (whether a socket
        is live) with ``write`` (its write function, ``None`` while it is write-paused); then
        ``flushed=True`` (the queue was written, or the deadline passed); then ``ended=True``
        (the socket ended), or ``timed_out`` (bytes still in the socket's buffer when the
        deadline passed)."""
        if self.state is State.CLOSED or ended:
            return CLOSED
        code, reason = self._close_request
        if timed_out is not None:
            if timed_out:
                self._log(
                    _WARNING,
                    "close(): no closing handshake within close_timeout; "
                    f"{timed_out} bytes still in the socket's buffer were discarded",
                )
            return ABORT
        if socket_up is not None:
            if not socket_up:
                self.close_code, self.close_reason = code, reason
                self._log_unsent()
                self.finish()
                return CLOSED
            if write is not None:
                self._write = write  # (a cancelled rollover left it unwritable)
                self._flush()
            if self.outbound:
                return FLUSH
        self._log_unsent()
        self._write = None
        return SendClose(code, reason)

    def _log_unsent(self) -> None:
        if self.outbound:
            self._log(
                _WARNING,
                f"close(): {len(self.outbound)} queued client events ({self.outbound.nbytes} "
                "bytes) could not be sent within close_timeout; they are in the client's .unsent",
            )

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
            self._log(
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

    def cancel_wait_closed(self, waiter: Waiter) -> None:
        if waiter in self._closed_waiters:
            self._closed_waiters.remove(waiter)

    # ------------------------------------------------------------------ receive path

    def receive(self, data: bytes | memoryview) -> None:
        """One text message from the server: decoded, tracked, then delivered (the one path)."""
        if self._frame_handlers or self._holds:  # (held: a "frame" handler may still be added)
            self._enqueue(_Frame(bytes(data).decode("utf-8", "replace")))
        try:
            event = self._decode_typed(data)
        except _DECODE_ERRORS:
            try:
                unknown = self._decoder.decode_slow(data)
            except MalformedFrameError as exc:
                self.report_error(exc)
                return
            if unknown.type in _TRACKED:  # (an error event off the spec: its code still counts)
                self._track(unknown, data)
            self._enqueue(unknown)
            return
        if event.type in _TRACKED:
            self._track(event, data)
        if self._pending is None and not self._holds and not self._backlog:
            self._dispatch_event(event)  # (the common case of _enqueue, without a call)
            if self._backlog and self._pending is None:
                self._drain_backlog()
        else:
            self._enqueue(event)

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
            self.usage.observe_model(event.session.model)
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
                self.usage.observe(event)
                if self.tools.tools:
                    calls = self.tools.calls(event)
                    if calls:
                        self._act(RunTools(calls, event.response.output_modalities))
                if self._rollover_force_at is not None and self.conversation.active_response_id is None:
                    self._rollover_force_at = None
                    self._act(START_ROLLOVER)

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
        if isinstance(item, _ROUTED):
            self._route(item)
        else:
            self._dispatch_event(item)

    def _dispatch_event(self, event: AnyServerEvent) -> None:
        """Run the handlers of one typed server event (not an :class:`UnknownServerEvent`): from
        its cached plan (the common case: every handler gets the event, no list of calls is
        built unless one returns an awaitable), or routed by the dispatcher (``error``,
        once-handlers: the plan is ``None``)."""
        handlers = self._plans.get(event.type, _MISSING)
        if handlers is _MISSING:
            handlers = self.dispatcher.fast_handlers(event.type)
        if handlers is None:
            self._route(event)
            return
        # _run's loop for a plan, written out: the fast path for every typed event (receive and
        # the backlog alike), kept because the benchmark shows it pays (dev-notes client.md);
        # an awaited handler's continuation is _run's, from the next handler on
        i = 0
        for handler in handlers:
            i += 1
            try:
                result = handler(event)
            except Exception as exc:
                self._handler_failed(handler, event, exc)
                continue
            if result is not None and inspect.isawaitable(result):
                self._pending = (handler, event, handlers, None, event, i, None)
                self._act(AwaitHandler(result))
                return
        self._delivered(event)

    def _route(self, item: _Item) -> None:
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
        if routing.error is not None and self.error_observers:
            for observe in self.error_observers:
                try:
                    observe(routing.error)
                except Exception:  # an observer's failure never changes delivery
                    pass
        calls = routing.calls
        self._run([h for h, _ in calls], [a for _, a in calls], event, 0, routing_after)

    def _run(
        self,
        handlers: Sequence[Handler],
        args: list[Any] | None,
        event: AnyServerEvent | None,
        start: int,
        routing: Routing | None,
    ) -> bool:
        """Call ``handlers[start:]`` in order, each with its ``args[i]`` (``None``: every one
        gets ``event``, a cached plan); stop at a handler's awaitable (an :class:`AwaitHandler`
        action: :meth:`handler_finished` carries on from the next one), then deliver."""
        i = start
        for handler in handlers[start:] if start else handlers:
            arg = event if args is None else args[i]
            i += 1
            try:
                result = handler(arg)
            except Exception as exc:
                self._handler_failed(handler, arg, exc)
                continue
            if result is not None and inspect.isawaitable(result):
                self._pending = (handler, arg, handlers, args, event, i, routing)
                self._act(AwaitHandler(result))
                return False
        if routing is None and event is not None:
            self._delivered(event)  # (a plan: what _deliver would do, one call less)
        else:
            self._deliver(routing, event)
        return True

    def handler_finished(self, error: BaseException | None) -> None:
        """The shell finished awaiting the pending handler (``error``: what it raised)."""
        pending = self._pending
        if pending is None:
            return
        handler, arg, handlers, args, event, start, routing = pending
        self._pending = None
        if isinstance(error, Exception):
            self._handler_failed(handler, arg, error)
        if self._run(handlers, args, event, start, routing):
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
            self._log(_ERROR, error.message)
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
            if self._failed:
                self._requeue_failed()
        elif event is not None:
            self._delivered(event)
        elif self._failed:
            self._requeue_failed()

    def _delivered(self, event: AnyServerEvent) -> None:
        """``event``'s handlers have run: it resolves waiters, then enters the iteration
        buffer; its handlers' failures go next, ahead of the backlog."""
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
        buf = self._buffer
        buf.append(event)  # before the first iteration buf has maxlen: the oldest drop off
        if buf.maxlen is None and len(buf) >= self.max_queue:  # (maxlen: not iterating yet)
            self._pause("iteration")
        if self._iter_waiters:
            self._wake_iterators()
        if self._failed:
            self._requeue_failed()

    def _requeue_failed(self) -> None:
        failed, self._failed = self._failed, []
        self._backlog.extendleft(reversed(failed))

    def _unhandled(self, error: OpenAIRealtimeError) -> None:
        if isinstance(error, HandlerError) and error.event_type.startswith("tool call"):
            # a tool's failure went to the model already; it is logged, not raised at waiters
            self._log(_ERROR, error.message)
            return
        self._log(
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
            self._act(PAUSE_READING)
        self._paused.add(reason)

    def _resume(self, reason: str) -> None:
        if reason in self._paused:
            self._paused.discard(reason)
            if not self._paused:
                self._act(RESUME_READING)

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

    def next_event(self, waiter: Waiter | None, known_only: bool = False) -> AnyServerEvent | None:
        """The next iteration item, or ``None`` with ``waiter`` (if any) parked (call again once
        it is resolved). Raises an unhandled error that iteration reaches, the closed error after an
        abnormal close, and ``StopIteration`` after a normal one.

        ``known_only`` (plain iteration, typed over the known events): events the library could
        not type (:class:`UnknownServerEvent`: an unknown ``type``, or a known one off the spec)
        are passed over; they had their own path already (``"event"`` handlers, handlers and
        ``wait_for`` of their type) and ``all_events()`` iteration yields them in order."""
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
            if known_only and type(item) is UnknownServerEvent:
                continue
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

    def send_event(self, event: Mapping[str, Any] | ClientEventBase) -> None:
        """Validate and encode a client event (:class:`InvalidClientEvent` names the field),
        then write or queue it (:meth:`send`); audio appends may be dropped under pressure."""
        data = self._encode(event)
        if type(event) is dict:  # (the common case first)
            etype = event["type"]
        else:
            etype = event.type if isinstance(event, ClientEventBase) else event["type"]
        self.send(data, etype in DROPPABLE_TYPES)  # (is_droppable, without a call)

    def send_audio(self, pcm: bytes | bytearray | memoryview, event_id: str | None = None) -> None:
        """``input_audio_buffer.append`` for raw audio bytes in the session's input format:
        PCM16 must be a whole number of two-byte samples (G.711 formats: one byte each)."""
        data = self._encoder.encode_audio(pcm, event_id)
        if len(pcm) % 2 and self.input_format() not in _ONE_BYTE_FORMATS:
            raise InvalidClientEvent(
                f"send_audio: {len(pcm)} bytes is not a whole number of PCM16 samples (2 bytes "
                "each); the session's input format is "
                f"{self.input_format() or 'audio/pcm (the default)'}",
                field="audio",
            )
        self.send(data, True)

    def input_format(self) -> str | None:
        """The confirmed session's input audio format type (``audio/pcm``, ``audio/pcmu``...)."""
        audio = getattr(self.session, "audio", None)
        fmt = getattr(getattr(audio, "input", None), "format", None)
        kind = getattr(fmt, "type", None)
        return kind if isinstance(kind, str) else None

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
                self._log(_DEBUG, f"outbound queue full: dropped {dropped} stale audio chunks")

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
        self._act(ArmRollover(max(0.0, expires_at - policy.rollover - self.clock())))

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
            self._act(START_ROLLOVER)
        else:
            self._rollover_force_at = force_at
            self._act(ArmRollover(force_at - now))


#: The name this class had before it was named as in websockets (the Sans-I/O object is the
#: protocol; the shell that holds the socket is the connection).
RealtimeConnection = RealtimeProtocol
