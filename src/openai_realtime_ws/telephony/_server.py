# The Twilio bridge's standalone server: the Media Streams socket served by picows directly (no
# ASGI stack, no writer task: each message to Twilio is written to the transport at once), for
# the lowest CPU per call (bench/bridge.py). It owns only the socket: who may connect is
# TwilioBridge's (the X-Twilio-Signature check runs on the upgrade request, before the 101; the
# loopback rule and the authenticate hook once the peer is known, before any message is read),
# and everything about the call is TwilioCall's. The TwiML webhook is not served here (it is
# plain HTTP): serve TwilioBridge.app for it, or answer it from your own web app.
from __future__ import annotations

import asyncio
import inspect
import logging
import struct
from typing import TYPE_CHECKING, Any

import picows

from ._refused import TwilioRefused

if TYPE_CHECKING:
    from .twilio import TwilioBridge, TwilioCall

__all__ = ["serve"]

logger = logging.getLogger("openai_realtime_ws.telephony")

_TEXT = picows.WSMsgType.TEXT
_BINARY = picows.WSMsgType.BINARY
_CLOSE = picows.WSMsgType.CLOSE
_tasks: set[asyncio.Task[Any]] = set()  # strong references until done


def _spawn(coro: Any) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


class _StreamListener(picows.WSListener):
    """One Twilio Media Streams socket."""

    def __init__(self, bridge: TwilioBridge, headers: dict[str, str]) -> None:
        self.bridge = bridge
        self.headers = headers
        self.transport: picows.WSTransport | None = None
        self.call: TwilioCall | None = None
        self.held: list[str | bytes] | None = None  # messages read while authenticate runs
        self.limit: asyncio.TimerHandle | None = None

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.transport = transport
        peer = transport.underlying_transport.get_extra_info("peername")
        host = str(peer[0]) if peer else None
        try:
            self.bridge.check_peer(host)
        except TwilioRefused as exc:
            self.bridge._refused(exc, "stream", host)
            self._refuse(exc.message)
            return
        self.call = call = self.bridge._new_call(self._send_text, self._close, self._send_texts)
        self.bridge._track(call)
        if self.bridge.metrics is not None:
            self.bridge.metrics.call_state("ringing")
        loop = asyncio.get_running_loop()
        self.limit = loop.call_later(self.bridge.max_call_seconds, self.bridge._too_long, call)
        if self.bridge.authenticate is not None:
            try:
                result = self.bridge.authenticate(self.headers, host)
            except TwilioRefused as exc:
                result = False
                logger.debug("authenticate refused: %s", exc.message)
            if inspect.isawaitable(result):
                self.held = []
                _spawn(self._authenticate(result, host))
            elif not result:
                self._refuse("Refused by the application.")

    async def _authenticate(self, pending: Any, host: str | None) -> None:
        try:
            ok = bool(await pending)
        except TwilioRefused:
            ok = False
        except Exception as exc:
            logger.error("authenticate raised %s", type(exc).__name__, exc_info=exc)
            ok = False
        held, self.held = self.held or [], None
        if not ok:
            self.bridge._refused(TwilioRefused(403, "Refused by the application."), "stream", host)
            self._refuse("Refused by the application.")
            return
        for data in held:
            if self.call is not None:
                self.call.receive(data)

    def _refuse(self, message: str) -> None:
        call, self.call = self.call, None
        if call is not None:
            call.ended = True
        if self.transport is not None:
            self.transport.send_close(picows.WSCloseCode.POLICY_VIOLATION, message.encode()[:120])
            self.transport.disconnect()

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        call = self.call
        msg_type = frame.msg_type
        if msg_type is _CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()
            return
        if call is None or msg_type not in (_TEXT, _BINARY):
            return  # pings are answered by picows; a refused socket reads nothing
        if not frame.fin:
            data: str | bytes = b"fragmented"  # Twilio sends whole messages: refused as binary
        elif msg_type is _TEXT:
            try:
                data = frame.get_payload_as_utf8_text()
            except UnicodeDecodeError:
                data = b"invalid utf-8"
        else:
            data = frame.get_payload_as_bytes()
        if self.held is not None:
            if len(self.held) < 64:
                self.held.append(data)
            return
        call.receive(data)

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        if self.limit is not None:
            self.limit.cancel()
        call, self.call = self.call, None
        if call is not None:
            call.ended = True
            _spawn(call.aclose())

    def _send_text(self, text: str) -> None:
        transport = self.transport
        if transport is not None and not transport.is_close_frame_sent:
            transport.send(_TEXT, text.encode())

    def _send_texts(self, texts: list[str]) -> None:
        """Several text messages in one write to the socket (a chunk's ``media`` and its
        ``mark``): server frames are unmasked, RFC 6455 §5.2, written in order with picows's."""
        transport = self.transport
        if transport is not None and not transport.is_close_frame_sent:
            transport.underlying_transport.write(b"".join(_text_frame(t.encode()) for t in texts))

    def _close(self) -> None:
        transport = self.transport
        if transport is not None and not transport.is_close_frame_sent:
            transport.send_close(picows.WSCloseCode.OK)
            transport.disconnect()


def _text_frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


async def serve(bridge: TwilioBridge, host: str, port: int, **kwargs: Any) -> asyncio.Server:
    """Serve ``bridge``'s Media Streams socket at ``ws://host:port{bridge.path}`` (put TLS in
    front for Twilio's ``wss://``, or pass ``ssl=``)."""
    def factory(request: picows.WSUpgradeRequest) -> Any:
        raw = request.path.decode("latin-1")
        path, _, query = raw.partition("?")
        if path != bridge.path:
            return picows.WSUpgradeResponseWithListener(
                picows.WSUpgradeResponse.create_error_response(404, b"Not found."), None)
        headers = {str(k).lower(): str(v) for k, v in request.headers.items()}
        try:
            bridge.check_signature(path=path, query=query, headers=headers, params=None, websocket=True)
        except TwilioRefused as exc:
            bridge._refused(exc, "stream upgrade", None)
            return picows.WSUpgradeResponseWithListener(
                picows.WSUpgradeResponse.create_error_response(exc.status, exc.message.encode()), None)
        return _StreamListener(bridge, headers)

    # frames past this end the socket (1009); smaller ones past max_message_bytes are refused
    # one by one and the call goes on, as under uvicorn (whose limit is 16 MiB)
    kwargs.setdefault("max_frame_size", 4 * 1024 * 1024)
    return await picows.ws_create_server(factory, host, port, enable_auto_pong=True, **kwargs)
