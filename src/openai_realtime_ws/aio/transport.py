"""picows glue for the asyncio shell: opening one socket and feeding its frames to the
Sans-I/O :class:`~openai_realtime_ws.core.connection.RealtimeConnection`.

* :func:`open_socket`: TCP connect + TLS + WebSocket upgrade within ``open_timeout``; what a
  refused upgrade means (follow a redirect to which URL, or which error) is
  :func:`~openai_realtime_ws.core.opening.upgrade_refused`'s; resolving ``*.localhost`` names
  and checking they are loopback, and refusing a transport whose upgrade never completed (a
  reset or FIN instead of ``101``).
* :class:`Listener`: text frames (fragmented ones reassembled) into the connection, binary
  frames reported, the peer's close answered, write flow control passed on.
* :class:`RedactingLog`: the logger each socket's picows writes to, which masks every credential
  its plan's chain has used, at every level (picows logs the upgrade request at level 9).

What a close means (who closed first, the code) is the core's :func:`close_outcome`; what
happens next is the protocol's.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
import sys
import traceback
import weakref
from collections import deque
from collections.abc import Callable, MutableMapping
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import picows

from ..core.connection import Action, RealtimeProtocol, close_outcome
from ..core.errors import HandshakeError, RealtimeConfigError, RealtimeConnectionError
from ..core.handshake import (
    ConnectPlan,
    check_resolved_loopback,
    loopback_name_to_resolve,
)
from ..core.opening import MAX_REDIRECTS, too_many_redirects, upgrade_refused
from ..core.options import ConnectOptions

__all__ = ["Listener", "RedactingLog", "close_info", "open_socket", "set_reading", "writer"]

logger = logging.getLogger("openai_realtime_ws")

TEXT: Final = picows.WSMsgType.TEXT


class RedactingLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The logger one socket's picows writes to: every record, at every level, with every
    credential its plan's chain has used masked (one adapter per socket, bound to its plan, so
    no other client's plan or the garbage collector decides what is masked)."""

    def __init__(self, plan: ConnectPlan, base: logging.Logger | None = None) -> None:
        super().__init__(base or _PICOWS_BASE, {})
        self.plan = plan

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.logger.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        exc_info = kwargs.get("exc_info")
        if exc_info:  # the traceback goes in the (redacted) text, not as a record attribute
            if isinstance(exc_info, BaseException):
                exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
            elif not isinstance(exc_info, tuple):
                exc_info = sys.exc_info()
            if exc_info[0] is not None:
                text += "\n" + "".join(traceback.format_exception(*exc_info)).rstrip()
        self.logger.log(level, "%s", self.plan.redact(text))

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        return msg, kwargs


_PICOWS_BASE: Final = logging.getLogger("openai_realtime_ws.aio.picows")

#: Any picows listener with a ``transport`` attribute set once the upgrade succeeded (the
#: client's :class:`Listener`, or another shell's, e.g. the translation client's).
_L = TypeVar("_L", bound=picows.WSListener)


def set_reading(transport: picows.WSTransport, on: bool) -> None:
    try:
        if on:
            transport.underlying_transport.resume_reading()
        else:
            transport.underlying_transport.pause_reading()
    except (RuntimeError, AttributeError):  # pragma: no cover - transport closing
        pass


def writer(transport: picows.WSTransport) -> Callable[[bytes], bool | None]:
    """The connection's write function for ``transport``: ``False`` (nothing written) once the
    transport is closing, so that the event is queued instead of lost in a dead socket."""
    send = transport.send
    is_closing = transport.underlying_transport.is_closing

    def write(data: bytes) -> bool | None:
        if is_closing():
            return False
        send(TEXT, data)
        return None

    return write


class Listener(picows.WSListener):
    """Frame-level glue between picows and the protocol; reassembles fragmented messages.
    After feeding the protocol, it has the shell carry out the actions that came out."""

    def __init__(
        self,
        protocol: RealtimeProtocol,
        run_actions: Callable[[], None],
        on_disconnected: Callable[[Listener, picows.WSTransport], None],
        listeners: weakref.WeakSet[Listener],
    ) -> None:
        super().__init__()
        self._conn = protocol
        self._receive = protocol.receive
        self._actions: deque[Action] = protocol.actions
        self._run_actions = run_actions
        self._on_disconnected = on_disconnected
        self._listeners = listeners
        self._fragments: bytearray | None = None
        self.transport: picows.WSTransport | None = None  # set once the upgrade succeeded
        self.active = True  # False once the owner switched to another connection
        self.write_paused = False  # the socket's write buffer is above its high-water mark

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.transport = transport
        self._listeners.add(self)
        if self._conn.paused_for:  # reading is paused: this socket too
            set_reading(transport, False)

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if not self.active:  # a connection that was replaced
            return
        msg_type = frame.msg_type
        if msg_type is TEXT:
            if frame.fin:
                self._receive(frame.get_payload_as_memoryview())
                if self._actions:
                    self._run_actions()
            else:
                self._fragments = bytearray(frame.get_payload_as_memoryview())
        elif msg_type is picows.WSMsgType.CONTINUATION:
            if self._fragments is None:
                return
            self._fragments += frame.get_payload_as_memoryview()
            if self._conn.message_too_big(len(self._fragments)):
                self._fragments = None
                transport.send_close(picows.WSCloseCode.MESSAGE_TOO_BIG, b"message too big")
                transport.disconnect()
                return
            if frame.fin:
                data, self._fragments = bytes(self._fragments), None
                self._receive(data)
                self._run_actions()
        elif msg_type is picows.WSMsgType.BINARY:
            self._conn.receive_binary(frame.payload_size)
            self._run_actions()
        elif msg_type is picows.WSMsgType.CLOSE:
            # the peer is closing: nothing more is written into this socket (sends queue)
            self._conn.transport_closing()
            try:
                code = frame.get_close_code()
            except Exception:  # pragma: no cover - defensive
                code = picows.WSCloseCode.NO_INFO
            if not transport.is_close_frame_sent:  # (else: the answer to our close)
                transport.send_close(code, frame.get_close_message())
            transport.disconnect()

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        if self.active:
            self._on_disconnected(self, transport)

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.active:
            self._conn.writer_paused()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.active and self.transport is not None:
            self._conn.writer_resumed(writer(self.transport))
            self._run_actions()


def close_info(transport: picows.WSTransport) -> tuple[int | None, str, bool]:
    """``(code, reason, closed_here)`` of an ended socket (the rule: :func:`close_outcome`)."""
    handshake = transport.close_handshake
    if handshake is None:
        return None, "", False
    return close_outcome(_frame(handshake.sent), _frame(handshake.recv), bool(handshake.recv_then_sent))


def _frame(info: Any) -> tuple[int, str] | None:
    if info is None:
        return None
    value = getattr(info.code, "value", info.code)
    return (value if isinstance(value, int) else 1006), info.reason or ""


async def open_socket(
    plan: ConnectPlan, opts: ConnectOptions, make_listener: Callable[[], _L]
) -> tuple[ConnectPlan, picows.WSTransport, _L]:
    """Open one socket for ``plan`` (TCP + TLS + upgrade within ``opts.open_timeout``); returns
    the plan of the URL finally reached (after redirects), the transport and its listener."""
    try:
        async with asyncio.timeout(opts.open_timeout):
            for _hop in range(MAX_REDIRECTS + 1):
                try:
                    transport, listener = await _open_once(plan, opts, make_listener)
                    return plan, transport, listener
                except picows.WSHandshakeError as exc:
                    response = exc.response
                    location = response.headers.get("Location") if response is not None else None
                    outcome = upgrade_refused(
                        plan,
                        int(response.status) if response is not None else None,
                        location if isinstance(location, str) else None,
                        exc.raw_body,
                        str(exc),
                    )
                    if isinstance(outcome, HandshakeError):
                        raise outcome from None
                    plan = outcome
                    logger.info("following a redirect to %s", plan.redacted_url)
            raise too_many_redirects(plan)
    except TimeoutError:
        raise RealtimeConnectionError(
            f"opening {plan.redacted_url} timed out after {opts.open_timeout} s "
            "(TCP connect, TLS and WebSocket upgrade)"
        ) from None


async def _open_once(
    plan: ConnectPlan, opts: ConnectOptions, make_listener: Callable[[], _L]
) -> tuple[picows.WSTransport, _L]:
    host = loopback_name_to_resolve(plan.url)
    if host is not None:
        # (picows resolves the name again: the window is the resolver changing in between)
        port = urlsplit(plan.url).port or 80
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port)
        except OSError as exc:
            raise RealtimeConnectionError(f"could not resolve {host!r}: {exc}") from None
        check_resolved_loopback(host, [str(info[4][0]) for info in infos])
    ssl_context: ssl_module.SSLContext | None = None
    if plan.url.startswith("wss:"):
        if isinstance(opts.ssl, ssl_module.SSLContext):
            ssl_context = opts.ssl
        elif opts.ssl is False:
            raise RealtimeConfigError("ssl=False is not allowed with a wss:// URL.")
        else:
            ssl_context = ssl_module.create_default_context()
    listener = make_listener()
    try:
        transport, _ = await picows.ws_connect(
            lambda: listener,
            plan.url,
            ssl_context=ssl_context,
            websocket_handshake_timeout=opts.open_timeout,
            enable_auto_ping=opts.ping_interval is not None,
            auto_ping_idle_timeout=opts.ping_interval or 20.0,
            auto_ping_reply_timeout=opts.ping_timeout or 20.0,
            max_frame_size=opts.max_size,
            extra_headers=list(plan.headers),
            max_redirects=0,  # followed by open_socket, with the URL policy on every hop
            logger_name=RedactingLog(plan),
        )
    except picows.WSHandshakeError:
        raise
    except OSError as exc:
        raise RealtimeConnectionError(
            f"could not connect to {plan.redacted_url}: {plan.redact(str(exc))}"
        ) from None
    except picows.WSError as exc:
        raise RealtimeConnectionError(
            f"WebSocket handshake with {plan.redacted_url} failed: {plan.redact(str(exc))}"
        ) from None
    if getattr(listener, "transport", None) is None:
        # the server reset or closed the connection instead of completing the upgrade
        transport.disconnect(graceful=False)
        raise HandshakeError(f"{plan.redacted_url} closed the connection during the WebSocket upgrade")
    return transport, listener
