"""The relay's fast path: a standalone picows server (both sockets picows, C framing) that
forwards frames as they are. The same rules as the ASGI app, from the same
:mod:`openai_realtime_ws.core.relay_policy` and the same :class:`RealtimeRelay` configuration
(policy, limits and store, allowed hosts and origins, authentication hook, upstream): browser
frames are checked on their type and size (an audio append's duration is read from the length
of its base64, never decoded) and forwarded upstream byte for byte; upstream frames are
forwarded byte for byte unless they must be redacted (``session.*`` with
``redact_server_fields``) or are an ``error`` (told generically or scrubbed).

What it gives up, for speed (use the ASGI app where you need them): refusals that need the
client's address or an awaitable (the loopback rule, the authentication hook, the session
limit, the upstream) happen right after the upgrade, as an API-shaped ``error`` event and a
close (1008 refused, 1013 try again later, 1011 upstream failed) instead of an HTTP status;
no upstream reconnection (an upstream drop closes the browser with 1011: realtime.js with
``reconnect`` opens a new session); no ``/client_secrets`` and no relay-side tools. The
Host, path and Origin checks still run before the upgrade (403).

    relay = RealtimeRelay(policy=..., limits=..., store=RedisStore(url))
    server = await FastRelayServer(relay).start("127.0.0.1", 8000)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable
from importlib import resources
from types import SimpleNamespace
from typing import Any

import picows
from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
)
from starlette.requests import HTTPConnection

from ..aio.transport import RedactingLog
from ..core.handshake import (
    ConnectPlan,
    azure_plan,
    build_azure_url,
    build_realtime_url,
    openai_plan,
)
from ..core.relay_policy import (
    Accepted,
    InputAudioFormat,
    Refused,
    UsageMeter,
    error_event,
    host_allowed,
    scrub,
)
from ..core.sendqueue import is_droppable
from .app import (
    _STATIC,
    _UPSTREAM_FAILED,
    Principal,
    RealtimeRelay,
    RelayRefused,
)

__all__ = ["FastRelayServer"]

logger = logging.getLogger("openai_realtime_ws.relay")

_MAX_FRAME = 16 << 20  # as uvicorn's default --ws-max-size: larger frames close with 1009
_HIGH_WATER = 1 << 20  # bytes waiting for a slow browser before the upstream is paused
# what a browser's upgrade request may carry that is a credential (picows logs the request at
# level 9): the subprotocol token, Authorization / Cookie / api-key header values
_REQUEST_SECRETS = re.compile(
    r"(?i)(openai-insecure-api-key\.)[^\s,'\"\\]+"
    r"|((?:authorization|cookie|api-key)['\"]?\s*[:=,]\s*['\"]?)[^\\\r\n'\"]+")


class _ServerLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The logger the browser-side picows server writes to, with credentials masked at every
    level (as the client's RedactingLog does for the upstream socket)."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.logger.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        text = _REQUEST_SECRETS.sub(lambda m: (m.group(1) or m.group(2) or "") + "***", text)
        self.logger.log(level, "%s", scrub(text))


_SERVER_LOG = _ServerLog(logging.getLogger("openai_realtime_ws.relay.picows"), {})


def _json(status: int, message: str) -> WSUpgradeResponseWithListener:
    body = json.dumps({"error": {"message": message}}).encode()
    return WSUpgradeResponseWithListener(WSUpgradeResponse.create_error_response(
        status, body, {"Content-Type": "application/json"}), None)


class FastRelayServer:
    """Serve ``relay``'s ``WS /realtime`` (and ``/health``, the console and the browser
    modules) on picows. :meth:`start` listens; :meth:`drain` and :meth:`close` as for the ASGI
    app (browsers get 1012)."""

    def __init__(self, relay: RealtimeRelay) -> None:
        if relay.tools:
            raise ValueError("FastRelayServer: relay-side tools need the ASGI app (they run on "
                             "the upstream client); serve RealtimeRelay with uvicorn instead")
        self.relay = relay
        self.sessions: set[_FastSession] = set()
        self.releasing: set[asyncio.Future[None]] = set()  # lease releases under way
        self.draining = False
        self.server: asyncio.Server | None = None
        self._static = {path: resources.files(__package__).joinpath("static", name).read_bytes()
                        for path, (name, _) in _STATIC.items()}

    async def start(self, host: str | None = "127.0.0.1", port: int | None = 8000,
                    **server_options: Any) -> asyncio.Server:
        """Listen on ``host``:``port`` (0: any free port; ``server_options`` go to
        ``loop.create_server``, e.g. ``sock=``); returns the asyncio server."""
        self.server = await picows.ws_create_server(
            self._route, host, port, max_frame_size=_MAX_FRAME, enable_auto_ping=True,
            logger_name=_SERVER_LOG,
            auto_ping_idle_timeout=20, auto_ping_reply_timeout=20, **server_options)
        return self.server

    # ------------------------------------------------------------------ before the upgrade

    def _route(self, request: WSUpgradeRequest) -> WSUpgradeResponseWithListener | None:
        relay = self.relay
        headers = request.headers
        if not host_allowed(headers.get("host"), relay.allowed_hosts):
            return _json(403, "This relay does not answer to this Host; it serves only its "
                              "configured host names (allowed_hosts / --allowed-host).")
        raw = request.path.decode("latin-1") if isinstance(request.path, bytes) else request.path
        path, _, query = raw.partition("?")
        if path == "/health":
            body = json.dumps({"ok": not self.draining, "sessions": len(self.sessions),
                               "upstream": relay.upstream.kind}).encode()
            if self.draining:
                return WSUpgradeResponseWithListener(WSUpgradeResponse.create_error_response(
                    503, body, {"Content-Type": "application/json"}), None)
            return WSUpgradeResponseWithListener(WSUpgradeResponse.create_ok_response(
                body, {"Content-Type": "application/json"}), None)
        if path != "/realtime":
            if path in self._static:
                return WSUpgradeResponseWithListener(WSUpgradeResponse.create_ok_response(
                    self._static[path], {"Content-Type": _STATIC[path][1],
                                         "Cache-Control": "no-cache"}), None)
            return None  # 404
        if self.draining:
            return _json(503, "The relay is shutting down; connect again.")
        origin = headers.get("origin")
        if origin is not None and not relay._origin_allowed(origin, headers.get("host")):
            return _json(403, "This origin may not use the relay.")
        offered = [p.strip() for v in headers.getall("sec-websocket-protocol", [])
                   for p in v.split(",")]
        scope = {"type": "websocket", "path": path, "raw_path": path.encode(), "root_path": "",
                 "query_string": query.encode("latin-1"), "scheme": "ws", "server": None,
                 "headers": [(k.lower().encode("latin-1"), v.encode("latin-1"))
                             for k, v in headers.items()],
                 "subprotocols": offered}
        session = _FastSession(self, scope)
        response = WSUpgradeResponse.create_101_response(
            {"Sec-WebSocket-Protocol": "realtime"} if "realtime" in offered else None)
        return WSUpgradeResponseWithListener(response, session)

    # ------------------------------------------------------------------ lifecycle

    async def drain(self) -> None:
        """Refuse new sessions (503; ``/health`` 503), then close every browser with 1012 at
        once (the fast path does not follow responses: a running one is cut; the ASGI app's
        drain lets it finish)."""
        self.draining = True
        sessions = list(self.sessions)
        # free the leases first, so that the browsers may connect again at once (elsewhere)
        await asyncio.gather(*(s.release_now() for s in sessions))
        for session in sessions:
            session.end(1012, "relay restarting")
        if self.releasing:
            await asyncio.wait(list(self.releasing), timeout=5)

    async def close(self) -> None:
        """Drain (browsers get 1012), stop listening, and close the relay (its embedded
        emulator, its store)."""
        await self.drain()
        if self.server is not None:
            self.server.close()
        await self.relay.close()


class _Upstream(WSListener):
    """The upstream socket of one session: frames go to the browser as they are."""

    def __init__(self, session: _FastSession) -> None:
        self.session = session

    def on_ws_connected(self, transport: WSTransport) -> None:
        # frames may arrive with the 101, before ws_connect returns to the session
        self.session.upstream = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        session = self.session
        if frame.msg_type == WSMsgType.TEXT:
            session.from_upstream(frame.get_payload_as_bytes())
        elif frame.msg_type == WSMsgType.CLOSE:
            session.upstream_closed(frame.get_close_code().value)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.session.upstream_closed(None)


class _FastSession(WSListener):
    """One browser socket and its upstream socket."""

    def __init__(self, server: FastRelayServer, scope: dict[str, Any]) -> None:
        self.server = server
        self.relay = server.relay
        self.policy = server.relay.policy
        self.scope = scope
        self.browser: WSTransport | None = None
        self.upstream: WSTransport | None = None
        self.principal: Principal | None = None
        self.session_id = ""
        self.meter: UsageMeter | None = None
        self.input_format = InputAudioFormat()
        self.ready = False  # session.created arrived and the server-owned update went up
        self.early: list[bytes] = []  # upstream frames before the session was ready
        self.backlog: deque[bytes] = deque()  # browser frames waiting for a store round trip
        self.pumping: asyncio.Future[None] | None = None
        self.tasks: list[asyncio.Future[Any]] = []
        self.fragments: list[bytes] = []
        self.ended = False
        self.leased = False

    # ------------------------------------------------------------------ opening

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.browser = transport
        self.server.sessions.add(self)
        peer = transport.underlying_transport.get_extra_info("peername")
        self.scope["client"] = (peer[0], peer[1]) if peer else None
        self.tasks.append(asyncio.ensure_future(self._open()))

    async def _open(self) -> None:
        relay = self.relay
        try:
            principal = await self._principal()
        except RelayRefused as exc:
            self._refuse("relay_unauthorized" if exc.status == 401 else "relay_forbidden",
                         exc.message, 1008)
            return
        self.principal = principal
        limits = principal.limits or relay.limits
        self.session_id = f"fast_{id(self):x}_{time.monotonic_ns()}"
        try:
            acquired = await relay.store.acquire_session(principal.id, self.session_id,
                                                         limits.max_sessions, limits.session_ttl)
        except Exception as exc:
            logger.error("relay: limits store unavailable: %s: %s", type(exc).__name__, exc)
            self._refuse("relay_internal_error", "The relay cannot check its limits now; try "
                                                 "again.", 1013)
            return
        if not acquired:
            self._refuse("relay_too_many_sessions", f"Too many sessions: at most "
                         f"{limits.max_sessions} at a time per user.", 1008)
            return
        self.leased = True
        self.meter = UsageMeter(limits) if limits.metered else None
        if self.ended:
            self._release()
            return
        try:
            plan = await self._plan()
            self.upstream, _ = await picows.ws_connect(
                lambda: _Upstream(self), plan.url, extra_headers=plan.headers,
                max_frame_size=_MAX_FRAME, websocket_handshake_timeout=relay.open_timeout,
                logger_name=RedactingLog(plan))  # picows logs the upgrade with its headers
        except Exception as exc:
            logger.warning("relay: the upstream refused a session: %s", type(exc).__name__)
            self._refuse("relay_upstream_error", _UPSTREAM_FAILED, 1011)
            return
        if self.ended:
            self.upstream.disconnect()
            return
        sock = self.upstream.underlying_transport.get_extra_info("socket")
        if sock is not None:
            import socket

            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.tasks.append(asyncio.ensure_future(self._heartbeat(limits.session_ttl)))
        if limits.max_session_seconds is not None:
            asyncio.get_running_loop().call_later(limits.max_session_seconds, self._too_long,
                                                  limits.max_session_seconds)

    async def _principal(self) -> Principal:
        # the relay's own rule (origin, loopback without an authentication hook, the hook)
        return await self.relay._principal(HTTPConnection(self.scope))

    async def _plan(self) -> ConnectPlan:
        up = self.relay.upstream
        if up.kind == "azure":
            url = build_azure_url(str(up.azure_endpoint), deployment=up.azure_deployment)
            plan = azure_plan(url, api_key=up.api_key)
        else:
            base_url, api_key = await self.relay._endpoint()
            url = build_realtime_url(SimpleNamespace(base_url=base_url or
                                                     "https://api.openai.com/v1"), model=up.model)
            plan = openai_plan(url, api_key)
        return plan

    def _refuse(self, code: str, message: str, close: int) -> None:
        if self.relay.metrics is not None:
            self.relay.metrics.refused(code)
        error = error_event(code, message)
        if code in ("relay_upstream_error", "relay_internal_error"):
            error["error"]["type"] = "server_error"
        self._to_browser(json.dumps(error).encode())
        self.end(close, "refused")

    # ------------------------------------------------------------------ upstream → browser

    def from_upstream(self, data: bytes) -> None:
        if self.ready and self.policy.passes(data):  # most frames: as they are, unread
            if self.relay.metrics is not None:
                self.relay.metrics.to_client()
            browser = self.browser
            if browser is not None and not browser.is_disconnected:
                browser.send(WSMsgType.TEXT, data)
            return
        out, fact = self.policy.from_upstream(data)
        if fact is not None:
            self.input_format.learn(fact)
            if not self.ready:
                if fact.type == "session.created":
                    self._ready(out)
                    return
                if fact.type == "error":  # the upstream refused before session.created
                    self._to_browser(out if isinstance(out, bytes) else out.encode())
                    self.end(1011, "upstream failed")
                    return
                self.early.append(out if isinstance(out, bytes) else out.encode())
                return
        if not self.ready:
            self.early.append(out if isinstance(out, bytes) else out.encode())
            return
        if self.relay.metrics is not None:
            self.relay.metrics.to_client()
        self._to_browser(out if isinstance(out, bytes) else out.encode())

    def _ready(self, created: str | bytes) -> None:
        self.ready = True
        self._to_browser(created if isinstance(created, bytes) else created.encode())
        for data in self.early:
            self._to_browser(data)
        self.early.clear()
        update = self.policy.session_update()
        if update is not None and self.upstream is not None:
            self.input_format.requested(None, None)
            self.upstream.send(WSMsgType.TEXT, json.dumps(update).encode())
        if self.backlog:
            self._pump()

    def _to_browser(self, data: bytes) -> None:
        browser = self.browser
        if browser is None or browser.is_disconnected:
            return
        browser.send(WSMsgType.TEXT, data)

    def pause_writing(self) -> None:  # the browser is slow: stop reading the upstream
        if self.upstream is not None:
            self.upstream.underlying_transport.pause_reading()

    def resume_writing(self) -> None:
        if self.upstream is not None and not self.upstream.is_disconnected:
            self.upstream.underlying_transport.resume_reading()

    def upstream_closed(self, code: int | None) -> None:
        if self.ended:
            return
        shown = 1006 if code is None else int(code)
        self._to_browser(json.dumps(error_event(
            "relay_upstream_closed", f"The Realtime upstream closed (code {shown}).")).encode())
        self.end(1011, "upstream closed")

    # ------------------------------------------------------------------ browser → upstream

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()
            return
        if kind not in (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION):
            return
        if not frame.fin or self.fragments:
            self.fragments.append(frame.get_payload_as_bytes())
            if not frame.fin:
                return
            data = b"".join(self.fragments)
            self.fragments.clear()
        else:
            data = frame.get_payload_as_bytes()
        if self.backlog or not self.ready:
            self.backlog.append(data)
            if self.ready:
                self._pump()
            return
        upstream = self.upstream
        if self.meter is None and upstream is not None and not upstream.is_disconnected:
            if self.policy.append_ms(data, self.input_format.bytes_per_ms) >= 0:
                upstream.send(WSMsgType.TEXT, data)  # most frames: an unmetered audio append
                if self.relay.metrics is not None:
                    self.relay.metrics.to_upstream()
                return
        if not self._handle(data, sync_allowed=False):  # a store round trip first
            self.backlog.append(data)
            self._pump()

    def _handle(self, data: bytes, sync_allowed: bool) -> bool:
        """Check and forward one browser frame; ``False`` when it needs a store round trip
        first (only when ``sync_allowed`` is false: the caller then queues it)."""
        policy = self.policy
        bpm = self.input_format.bytes_per_ms
        verdict: Accepted | Refused | None = policy.check_append(data, bpm)
        if verdict is None:
            verdict = policy.check(data, bpm)
        if isinstance(verdict, Refused):
            if self.relay.metrics is not None:
                self.relay.metrics.refused(verdict.code)
            self._to_browser(json.dumps(verdict.error).encode())
            return True
        meter = self.meter
        control = not is_droppable(verdict.type)
        if meter is not None and not sync_allowed and meter.due(time.time(), control):
            return False
        if meter is not None:
            raw_id = verdict.event_id or verdict.event.get("event_id")
            refused = meter.charge(time.time(), verdict.audio_ms,
                                   raw_id if isinstance(raw_id, str) else None)
            if refused is not None:
                if refused.error:
                    if self.relay.metrics is not None:
                        self.relay.metrics.limit_hit(refused.code)
                    self._to_browser(json.dumps(refused.error).encode())
                return True
        if verdict.type == "session.update":
            raw_id = verdict.event.get("event_id")
            self.input_format.requested(raw_id if isinstance(raw_id, str) else None,
                                        verdict.input_bytes_per_ms)
            data = json.dumps(verdict.event).encode()  # it may have gained an event_id
        upstream = self.upstream
        if upstream is None or upstream.is_disconnected:
            return True
        upstream.send(WSMsgType.TEXT, data)
        if self.relay.metrics is not None:
            self.relay.metrics.to_upstream()
        if meter is not None and meter.push_after(control):
            self.tasks.append(asyncio.ensure_future(self._sync()))
        return True

    def _pump(self) -> None:
        if self.pumping is None or self.pumping.done():
            self.pumping = asyncio.ensure_future(self._drain_backlog())

    async def _drain_backlog(self) -> None:
        try:
            while self.backlog and not self.ended:
                data = self.backlog[0]
                if not self._handle(data, sync_allowed=False):
                    await self._sync()  # then decided on fresh totals
                    self._handle(data, sync_allowed=True)
                self.backlog.popleft()
        except Exception as exc:  # e.g. the limits store is unreachable: fail closed
            logger.error("relay: session failed: %s: %s", type(exc).__name__, exc)
            self._refuse("relay_internal_error", "The relay failed; connect again.", 1011)

    async def _sync(self) -> None:
        meter = self.meter
        if meter is None or self.principal is None:
            return
        now = time.time()
        pending = meter.take_pending(now)
        totals = await self.relay.store.add(self.principal.id, pending,
                                            {k: meter.ttl(k) for k in pending})
        meter.apply(totals, now)

    # ------------------------------------------------------------------ ending

    async def _heartbeat(self, ttl: float) -> None:
        while not self.ended:
            await asyncio.sleep(ttl / 3)
            if self.principal is None:
                continue
            try:
                await self.relay.store.refresh_session(self.principal.id, self.session_id, ttl)
            except Exception as exc:
                logger.warning("relay: cannot refresh a session lease: %s", type(exc).__name__)

    def _too_long(self, seconds: float) -> None:
        if not self.ended:
            self._to_browser(json.dumps(error_event(
                "relay_session_limit", f"This relay ends sessions after {seconds:g} seconds."))
                .encode())
            self.end(1008, "session length limit")

    def end(self, code: int, reason: str) -> None:
        """Close both sockets (the browser with ``code``) and free the lease."""
        if self.ended:
            return
        self.ended = True
        if self.upstream is not None:
            with contextlib.suppress(Exception):
                self.upstream.send_close(WSCloseCode.OK)
            self.upstream.disconnect()
        browser = self.browser
        if browser is not None and not browser.is_disconnected:
            browser.send_close(WSCloseCode(code), reason.encode())
            browser.disconnect()
        self._release()

    def _release(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.pumping is not None:
            self.pumping.cancel()
        if self.leased and self.principal is not None:
            self.leased = False
            principal = self.principal
            waiter: Awaitable[Any] = self.relay.store.release_session(principal.id,
                                                                      self.session_id)
            task = asyncio.ensure_future(_quietly(waiter))
            self.server.releasing.add(task)
            task.add_done_callback(self.server.releasing.discard)

    async def release_now(self) -> None:
        """Free this session's lease now (a drain does it before the 1012)."""
        if self.leased and self.principal is not None:
            self.leased = False
            await _quietly(self.relay.store.release_session(self.principal.id, self.session_id))

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.server.sessions.discard(self)
        self.end(1000, "OK")


async def _quietly(waiter: Awaitable[Any]) -> None:
    try:
        await waiter
    except Exception as exc:  # the lease then expires after session_ttl
        logger.warning("relay: cannot release a session lease: %s", type(exc).__name__)
