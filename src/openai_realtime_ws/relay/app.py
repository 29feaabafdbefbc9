"""The relay's ASGI shell: HTTP routes, the browser WebSocket, one upstream session per browser
over :class:`~openai_realtime_ws.AsyncOpenAIRealtimeWS`, the limits store round trips, timers
and draining. Every rule it applies (what may pass, what the server owns, when a principal is
over a limit) is decided in :mod:`openai_realtime_ws.core.relay_policy`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import ipaddress
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from .. import AsyncOpenAIRealtimeWS, ReconnectPolicy, create_client_secret
from ..core.errors import ConnectionClosed, InvalidClientEvent, OpenAIRealtimeError, QueueFull
from ..core.relay_policy import (
    DEFAULT_ALLOWED_HOSTS,
    InputAudioFormat,
    Limits,
    Refused,
    RelayPolicy,
    UsageMeter,
    error_event,
    host_allowed,
    scrub,
)
from ..core.sendqueue import is_droppable
from .store import LimitStore, MemoryStore

__all__ = ["Principal", "RealtimeRelay", "RelayRefused", "RelayTool", "Upstream", "subprotocol_key"]

logger = logging.getLogger("openai_realtime_ws.relay")

_STATIC = {
    "/realtime.js": ("realtime.js", "text/javascript; charset=utf-8"),
    "/realtime-audio.js": ("realtime-audio.js", "text/javascript; charset=utf-8"),
    "/console.js": ("console.js", "text/javascript; charset=utf-8"),
    "/console.css": ("console.css", "text/css; charset=utf-8"),
    "/": ("console.html", "text/html; charset=utf-8"),
}
_UPSTREAM_FAILED = ("The Realtime upstream is not available now; try again later. "
                    "(The relay's log says why.)")
_HIGH_WATER = 512  # frames waiting for a slow browser before the upstream socket is paused
_LOOPBACK_MESSAGE = (
    "This relay has no authentication hook, so it only accepts connections from this machine "
    "(loopback). Pass authenticate=… to RealtimeRelay (or allow_anonymous_remote=True for a "
    "trusted network) to serve other hosts.")


class RelayRefused(Exception):
    """Raise from an authentication hook to refuse a connection before the upgrade, with an
    HTTP ``status`` (401 or 403) and a ``message`` the client may see."""

    def __init__(self, status: int = 401, message: str = "Not signed in.") -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is connecting, as the authentication hook says: ``id`` keys the limits; ``limits``
    overrides the relay's limits for this principal."""

    id: str
    limits: Limits | None = None


Authenticate = Callable[[HTTPConnection], "str | Principal | Awaitable[str | Principal | None] | None"]


@dataclass(slots=True)
class Upstream:
    """Where the relay opens its sessions, with the server's credentials.

    ``kind``: ``"openai"`` (``api_key``, optional ``base_url``), ``"azure"``
    (``azure_endpoint``, ``azure_deployment``, ``api_key``) or ``"emulator"`` (the embedded local
    emulator, started on first use). :meth:`from_env` picks one from ``OPENAI_API_KEY`` /
    ``OPENAI_BASE_URL`` / ``AZURE_OPENAI_*``, else the emulator.
    """

    kind: Literal["openai", "azure", "emulator"] = "emulator"
    model: str = "gpt-realtime"
    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    azure_endpoint: str | None = None
    azure_deployment: str | None = None
    emulator_options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, model: str = "gpt-realtime") -> Upstream:
        """OpenAI from ``OPENAI_API_KEY``/``OPENAI_BASE_URL``, else Azure from
        ``AZURE_OPENAI_ENDPOINT``/``AZURE_OPENAI_API_KEY``, else the embedded emulator."""
        if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
            return cls("openai", model, os.environ.get("OPENAI_API_KEY"),
                       os.environ.get("OPENAI_BASE_URL"))
        if os.environ.get("AZURE_OPENAI_ENDPOINT") and os.environ.get("AZURE_OPENAI_API_KEY"):
            return cls("azure", model, os.environ["AZURE_OPENAI_API_KEY"],
                       azure_endpoint=os.environ["AZURE_OPENAI_ENDPOINT"],
                       azure_deployment=os.environ.get("AZURE_OPENAI_DEPLOYMENT", model))
        return cls("emulator", model)


@dataclass(slots=True)
class RelayTool:
    func: Callable[..., Any]
    name: str | None = None
    description: str = ""
    parameters: Mapping[str, Any] | None = None


_KEY_PROTOCOL = "openai-insecure-api-key."


def subprotocol_key(conn: HTTPConnection) -> str | None:
    """The token a browser sent as ``openai-insecure-api-key.<token>`` (what realtime.js does with
    ``key:``): browsers cannot set headers on a WebSocket, so an authentication hook can read a
    short-lived session token here. ``None`` when there is none."""
    for value in conn.headers.getlist("sec-websocket-protocol"):
        for item in value.split(","):
            item = item.strip()
            if item.startswith(_KEY_PROTOCOL) and len(item) > len(_KEY_PROTOCOL):
                return item[len(_KEY_PROTOCOL):]
    return None


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host in ("localhost", "testclient"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RealtimeRelay:
    """The browser relay as an ASGI application.

    ::

        relay = RealtimeRelay(authenticate=my_hook, policy=RelayPolicy(server_session={...}))
        app.mount("/rt", relay)            # FastAPI / Starlette; or: uvicorn module:relay

    Routes (relative to where it is mounted): ``GET /`` the console, ``/realtime.js`` and
    ``/realtime-audio.js`` the browser modules, ``WS /realtime`` the relay, ``POST
    /client_secrets`` ephemeral keys for signed-in principals, ``GET /health``, and ``GET
    /metrics`` when ``metrics`` is given.

    ``allowed_hosts``: the host names the relay answers to (default: this machine's loopback
    names); any request naming another ``Host`` is refused with 403 before any route runs (DNS
    rebinding). ``metrics``: a :class:`~openai_realtime_ws.telemetry.prometheus.ServiceMetrics`
    (sessions, relayed events, refusals and limits hit, by short codes; ``None``: off).
    ``telemetry``: a :class:`~openai_realtime_ws.telemetry.otel.RealtimeTelemetry` that
    instruments each upstream session (attributes: the principal's id and the relay session id).
    """

    def __init__(
        self,
        *,
        upstream: Upstream | None = None,
        authenticate: Authenticate | None = None,
        allow_anonymous_remote: bool = False,
        allowed_origins: Sequence[str] | None = None,
        allowed_hosts: Sequence[str] | None = None,
        policy: RelayPolicy | None = None,
        limits: Limits | None = None,
        store: LimitStore | None = None,
        tools: Sequence[Callable[..., Any] | RelayTool] = (),
        reconnect: ReconnectPolicy | bool = True,
        console: bool = True,
        client_secrets: bool = True,
        secret_ttl: int = 600,
        drain_timeout: float = 10.0,
        open_timeout: float = 10.0,
        metrics: Any = None,
        telemetry: Any = None,
    ) -> None:
        self.upstream = upstream if upstream is not None else Upstream.from_env()
        self.authenticate = authenticate
        self.allow_anonymous_remote = allow_anonymous_remote
        self.allowed_origins = None if allowed_origins is None else frozenset(allowed_origins)
        self.allowed_hosts = (DEFAULT_ALLOWED_HOSTS if allowed_hosts is None
                              else frozenset(h.lower().rstrip(".") for h in allowed_hosts))
        self.tools = [t if isinstance(t, RelayTool) else RelayTool(t) for t in tools]
        base = policy if policy is not None else RelayPolicy()
        if self.tools and "tools" not in base.owned:
            base = RelayPolicy(base.allowed_events, base.server_session,
                               base.owned_fields | {"tools", "tool_choice"}, base.max_event_bytes,
                               base.redact_server_fields, base.allow_system_items)
        self.policy = base
        self.limits = limits if limits is not None else Limits()
        self.store: LimitStore = store if store is not None else MemoryStore()
        self.reconnect = (ReconnectPolicy(restore="conversation") if reconnect is True
                          else reconnect or None)
        self.secret_ttl = secret_ttl
        self.drain_timeout = drain_timeout
        self.open_timeout = open_timeout
        self.metrics = metrics  # a telemetry.prometheus.ServiceMetrics, or None (off)
        self.telemetry = telemetry  # a telemetry.otel.RealtimeTelemetry, or None (off)
        self.sessions: set[_RelaySession] = set()
        self.draining = False
        self._emulator: Any = None
        self._emulator_lock: asyncio.Lock | None = None
        routes: list[Any] = [
            WebSocketRoute("/realtime", self._websocket),
            Route("/health", self._health),
        ]
        if client_secrets:
            routes.append(Route("/client_secrets", self._client_secret, methods=["POST"]))
        if console:
            routes += [Route(path, self._static) for path in _STATIC]
            routes.append(Route("/favicon.ico", lambda request: Response(status_code=204)))
        if metrics is not None:
            routes.append(metrics.route())
        self.app = Starlette(routes=routes, lifespan=self._lifespan)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            host = next((v.decode("latin-1") for k, v in scope.get("headers", ())
                         if k == b"host"), None)
            if not host_allowed(host, self.allowed_hosts):
                # DNS rebinding: a name the relay does not own, resolving to it; refused before
                # any route (console, client secrets, the relay) runs
                response = JSONResponse({"error": {"message": (
                    "This relay does not answer to this Host; it serves only its configured host "
                    "names (allowed_hosts / --allowed-host).")}}, 403)
                if scope["type"] == "http":
                    await response(scope, receive, send)
                else:
                    await WebSocket(scope, receive, send).send_denial_response(response)
                return
        await self.app(scope, receive, send)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        yield
        await self.close()

    # ------------------------------------------------------------------ who may connect

    async def _principal(self, conn: HTTPConnection) -> Principal:
        origin = conn.headers.get("origin")
        if origin is not None and not self._origin_allowed(origin, conn.headers.get("host")):
            raise RelayRefused(403, "This origin may not use the relay.")
        host = conn.client.host if conn.client else None
        if self.authenticate is None:
            if not self.allow_anonymous_remote and not _is_loopback(host):
                raise RelayRefused(403, _LOOPBACK_MESSAGE)
            return Principal(f"anonymous:{host}")
        result = self.authenticate(conn)
        if inspect.isawaitable(result):
            result = await result
        if result is None:
            raise RelayRefused(401, "Not signed in.")
        return result if isinstance(result, Principal) else Principal(str(result))

    def _origin_allowed(self, origin: str, host: str | None) -> bool:
        if self.allowed_origins is not None:
            return "*" in self.allowed_origins or origin in self.allowed_origins
        return urlsplit(origin).netloc == host  # same origin only

    # ------------------------------------------------------------------ upstream

    async def _open_upstream(self) -> AsyncOpenAIRealtimeWS:
        up = self.upstream
        if up.kind == "azure":
            return await AsyncOpenAIRealtimeWS.azure(
                endpoint=up.azure_endpoint, deployment=up.azure_deployment, api_key=up.api_key,
                reconnect=self.reconnect)
        base_url, api_key = await self._endpoint()
        return await AsyncOpenAIRealtimeWS.create(
            model=up.model, base_url=base_url, api_key=api_key, reconnect=self.reconnect)

    async def _endpoint(self) -> tuple[str | None, str | None]:
        up = self.upstream
        if up.kind != "emulator":
            return up.base_url, up.api_key
        if self._emulator_lock is None:
            self._emulator_lock = asyncio.Lock()
        async with self._emulator_lock:
            if self._emulator is None:
                from ..emulator import Emulator

                self._emulator = await Emulator(**dict(up.emulator_options)).start()
                logger.info("relay: embedded emulator at %s", self._emulator.base_url)
        return str(self._emulator.base_url), "sk-emulator"

    # ------------------------------------------------------------------ routes

    async def _health(self, request: Request) -> Response:
        # 503 while draining, so that a load balancer's health check takes the worker out
        return JSONResponse({"ok": not self.draining, "sessions": len(self.sessions),
                             "upstream": self.upstream.kind}, 503 if self.draining else 200)

    async def _static(self, request: Request) -> Response:
        path = request.url.path[len(request.scope.get("root_path", "")):] or "/"
        if path not in _STATIC:
            path = "/" + path.rsplit("/", 1)[-1]
        name, media = _STATIC.get(path, _STATIC["/"])
        body = resources.files(__package__).joinpath("static", name).read_bytes()
        return Response(body, media_type=media, headers={"cache-control": "no-cache"})

    async def _client_secret(self, request: Request) -> Response:
        try:
            principal = await self._principal(request)
        except RelayRefused as exc:
            return JSONResponse({"error": {"message": exc.message}}, exc.status)
        try:
            body = await request.json() if await request.body() else {}
        except ValueError:
            return JSONResponse({"error": {"message": "Expected a JSON body."}}, 400)
        session = self.policy.secret_session(
            body.get("session") if isinstance(body, dict) else None, self.upstream.model)
        if isinstance(session, Refused):
            return JSONResponse(session.error, 400)
        if self.upstream.kind == "azure":
            return JSONResponse({"error": {"message": "Client secrets are minted by the OpenAI "
                                           "upstream only in this relay."}}, 501)
        base_url, api_key = await self._endpoint()
        try:
            secret = await create_client_secret(session=session, expires_after=self.secret_ttl,
                                                api_key=api_key, base_url=base_url)
        except OpenAIRealtimeError as exc:
            logger.warning("relay: the upstream refused a client secret: %s (status %s)",
                           type(exc).__name__, getattr(exc, "status", None))
            return JSONResponse({"error": {"message": _UPSTREAM_FAILED}}, 502)
        logger.info("relay: client secret minted for %s", principal.id)
        return JSONResponse({"value": secret["value"], "expires_at": secret["expires_at"]})

    def _refused(self, reason: str, limit: str | None = None) -> None:
        if self.metrics is not None:
            self.metrics.refused(reason)
            if limit is not None:
                self.metrics.limit_hit(limit)

    async def _websocket(self, ws: WebSocket) -> None:
        if self.draining:
            self._refused("draining")
            await ws.send_denial_response(JSONResponse(
                {"error": {"message": "The relay is shutting down; connect again."}}, 503))
            return
        try:
            principal = await self._principal(ws)
        except RelayRefused as exc:
            self._refused("unauthorized" if exc.status == 401 else "forbidden")
            await ws.send_denial_response(JSONResponse({"error": {"message": exc.message}},
                                                       exc.status))
            return
        limits = principal.limits or self.limits
        session_id = uuid.uuid4().hex
        try:
            acquired = await self.store.acquire_session(principal.id, session_id,
                                                        limits.max_sessions, limits.session_ttl)
        except Exception as exc:
            logger.error("relay: limits store unavailable: %s: %s", type(exc).__name__, exc)
            self._refused("limits_store_unavailable")
            await ws.send_denial_response(JSONResponse(
                {"error": {"message": "The relay cannot check its limits now; try again."}}, 503))
            return
        if not acquired:
            self._refused("too_many_sessions", "max_sessions")
            await ws.send_denial_response(JSONResponse({"error": {
                "message": f"Too many sessions: at most {limits.max_sessions} at a time per user."}},
                429))
            return
        try:
            session = await self._open_session(ws, principal, limits, session_id)
            if session is None:
                self._refused("upstream_failed")
                await ws.send_denial_response(JSONResponse(
                    {"error": {"message": _UPSTREAM_FAILED}}, 502))
                return
            offered = ws.scope.get("subprotocols") or []
            await ws.accept(subprotocol="realtime" if "realtime" in offered else None)
            self.sessions.add(session)
            if self.metrics is not None:
                self.metrics.session_opened()
            try:
                await session.run()
            finally:
                self.sessions.discard(session)
                if self.metrics is not None:
                    self.metrics.session_closed()
                if session.observed is not None:
                    session.observed.end()
        finally:
            try:
                await self.store.release_session(principal.id, session_id)
            except Exception as exc:  # the lease then expires after session_ttl
                logger.warning("relay: cannot release a session lease of %s: %s: %s",
                               principal.id, type(exc).__name__, exc)

    async def _open_session(self, ws: WebSocket, principal: Principal, limits: Limits,
                            session_id: str) -> _RelaySession | None:
        """The upstream session, opened before the browser's upgrade and answered with
        ``session.created`` (its frames wait for the browser); ``None`` when the upstream fails
        (the details go to the log only: they may hold key fragments or internal URLs)."""
        try:
            rt = await self._open_upstream()
        except (OpenAIRealtimeError, OSError) as exc:
            logger.warning("relay: the upstream refused a session: %s (status %s)",
                           type(exc).__name__, getattr(exc, "status", None))
            return None
        session = _RelaySession(self, ws, rt, principal, limits, session_id)
        if self.telemetry is not None:  # nothing secret in the attributes: no token, no URL
            session.observed = self.telemetry.instrument(rt, attributes={
                "openai_realtime.relay.principal": principal.id,
                "openai_realtime.relay.session": session_id})
        session.listen()
        try:
            await rt.wait_for("session.created", timeout=self.open_timeout)
        except (TimeoutError, OpenAIRealtimeError) as exc:
            code = getattr(getattr(exc, "error", None), "code", None)
            logger.warning("relay: the upstream failed before session.created: %s (code %s, "
                           "close code %s)", type(exc).__name__, code, rt.close_code)
            with contextlib.suppress(OpenAIRealtimeError, OSError):
                await rt.close()
            if session.observed is not None:
                session.observed.end()
            return None
        return session

    # ------------------------------------------------------------------ lifecycle

    async def drain(self, timeout: float | None = None) -> None:
        """Stop taking sessions, let running responses finish (at most ``timeout`` seconds,
        default ``drain_timeout``), then close every browser with 1012 (service restart: a
        browser should connect again, through the load balancer to a live worker; the console
        does) and every upstream with 1000."""
        self.draining = True
        sessions = list(self.sessions)
        if sessions:
            await asyncio.wait([asyncio.ensure_future(s.drain()) for s in sessions],
                               timeout=self.drain_timeout if timeout is None else timeout)
        for session in sessions:
            await session.stop(1012, "relay restarting")

    async def close(self) -> None:
        """Drain, then stop the embedded emulator and close the store."""
        await self.drain()
        if self._emulator is not None:
            await self._emulator.stop(release_port=True)
            self._emulator = None
        await self.store.close()


class _RelaySession:
    """One browser WebSocket and its upstream session."""

    def __init__(self, relay: RealtimeRelay, ws: WebSocket, rt: AsyncOpenAIRealtimeWS,
                 principal: Principal, limits: Limits, session_id: str) -> None:
        self.relay = relay
        self.ws = ws
        self.rt = rt
        self.principal = principal
        self.limits = limits
        self.session_id = session_id
        self.meter = UsageMeter(limits) if limits.metered else None
        self.input_format = InputAudioFormat()
        self.out: asyncio.Queue[str | None] = asyncio.Queue()
        self.writable = asyncio.Event()
        self.writable.set()
        self.closing = False
        self.writer: asyncio.Future[None] | None = None
        self.stopped: asyncio.Future[None] | None = None
        self.observed: Any = None  # the telemetry of this session, when on
        self.metrics = relay.metrics

    # upstream → browser

    def _on_frame(self, text: str) -> None:
        if self.metrics is not None:
            self.metrics.to_client()
        out, fact = self.relay.policy.from_upstream(text)
        if fact is not None:
            self.input_format.learn(fact)
        self.out.put_nowait(out if isinstance(out, str) else out.decode())
        if self.out.qsize() > _HIGH_WATER:
            self.writable.clear()

    def _on_event(self, event: object) -> Awaitable[object] | None:
        # back-pressure for a slow browser: an awaitable from an event handler makes the client
        # hold the next events and, past max_queue, stop reading the upstream socket
        return None if self.writable.is_set() else self.writable.wait()

    def _control(self, event: dict[str, Any]) -> None:
        self.out.put_nowait(json.dumps(event))

    async def _writer(self) -> None:
        while True:
            text = await self.out.get()
            if text is None:
                return
            await self.ws.send_text(text)
            if not self.writable.is_set() and self.out.qsize() < _HIGH_WATER // 2:
                self.writable.set()

    def _on_reconnecting(self, ctx: Any) -> None:
        self._control({"type": "relay.reconnecting", "attempt": ctx.attempt,
                       "delay": ctx.delay, "close_code": ctx.close_code})

    def _on_reconnected(self, info: Mapping[str, Any]) -> None:
        self._control({"type": "relay.reconnected", "attempt": info.get("attempt"),
                       "rollover": bool(info.get("rollover"))})

    def _on_error(self, error: OpenAIRealtimeError) -> None:
        # API error events already reached the browser as frames; the rest stays server-side
        logger.debug("relay: upstream error for %s: %s", self.principal.id, scrub(error.message))

    # browser → upstream

    async def _reader(self) -> None:
        policy = self.relay.policy
        meter = self.meter
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            frame = message.get("text")
            if frame is None:
                frame = message.get("bytes") or b""
            verdict = policy.check(frame, self.input_format.bytes_per_ms)
            if isinstance(verdict, Refused):
                if self.metrics is not None:
                    self.metrics.refused(verdict.code)
                self._control(verdict.error)
                continue
            event_id = verdict.event.get("event_id")
            if meter is not None:
                now = time.time()
                control = not is_droppable(verdict.type)
                if meter.due(now, control):
                    await self._sync(meter, now)
                refused = meter.charge(now, verdict.audio_ms,
                                       event_id if isinstance(event_id, str) else None)
                if refused is not None:
                    if refused.error:
                        if self.metrics is not None:
                            self.metrics.limit_hit(refused.code)
                        self._control(refused.error)
                    continue
                if meter.push_after(control):
                    await self._sync(meter, now)
            try:
                self.rt.send(verdict.event)
                if self.metrics is not None:
                    self.metrics.to_upstream()
                if verdict.type == "session.update":  # charged on it once the upstream agrees
                    self.input_format.requested(event_id if isinstance(event_id, str) else None,
                                                verdict.input_bytes_per_ms)
            except InvalidClientEvent as exc:
                self._control(error_event("invalid_value", exc.message, param=exc.field,
                                          event_id=event_id if isinstance(event_id, str) else None))
            except QueueFull:  # a long upstream outage filled the queue: say so, drop this one
                self._control(error_event(
                    "relay_queue_full", "The upstream is reconnecting and the relay's queue is "
                    "full; this event was not sent.",
                    event_id=event_id if isinstance(event_id, str) else None))
            except ConnectionClosed:
                return  # the watcher reports it

    async def _sync(self, meter: UsageMeter, now: float) -> None:
        pending = meter.take_pending(now)
        totals = await self.relay.store.add(self.principal.id, pending,
                                            {k: meter.ttl(k) for k in pending})
        meter.apply(totals, now)

    async def _watch_upstream(self) -> None:
        try:
            await self.rt.wait_for("relay.upstream_closed")
        except ConnectionClosed as exc:
            if self.closing:
                return
            lost = len(exc.unsent)
            message = f"The Realtime upstream closed (code {exc.code})."
            if lost:
                message += f" {lost} event(s) sent by the browser were not delivered."
            self._control(error_event("relay_upstream_closed", message))
        except OpenAIRealtimeError as exc:
            logger.warning("relay: upstream error for %s: %s", self.principal.id,
                           type(exc).__name__)
            error = error_event("relay_upstream_error", _UPSTREAM_FAILED)
            error["error"]["type"] = "server_error"
            self._control(error)

    async def _heartbeat(self) -> None:
        interval = self.limits.session_ttl / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self.relay.store.refresh_session(self.principal.id, self.session_id,
                                                       self.limits.session_ttl)
            except Exception as exc:  # the lease expires unless a later refresh succeeds
                logger.warning("relay: cannot refresh the session lease of %s: %s: %s",
                               self.principal.id, type(exc).__name__, exc)

    def listen(self) -> None:
        """Take the upstream's frames (they wait in the queue until the browser is accepted)."""
        rt = self.rt
        rt.on("frame", self._on_frame)
        rt.on("event", self._on_event)
        rt.on("reconnecting", self._on_reconnecting)
        rt.on("reconnected", self._on_reconnected)
        rt.on("error", self._on_error)

    async def run(self) -> None:
        rt = self.rt
        for tool in self.relay.tools:
            rt.tool(tool.name, description=tool.description,
                    parameters=tool.parameters)(tool.func)
        update = self.relay.policy.session_update()
        if self.relay.tools:
            rt.update_tools(**(update["session"] if update else {"type": "realtime"}))
            self.input_format.requested(None, None)
        elif update is not None:
            rt.send(update)
            self.input_format.requested(None, None)
        self.writer = asyncio.ensure_future(self._writer())
        tasks = {asyncio.ensure_future(self._reader()), asyncio.ensure_future(self._watch_upstream())}
        helpers = [asyncio.ensure_future(self._heartbeat())]
        limit = self.limits.max_session_seconds
        code, reason = 1000, "OK"
        try:
            done, _ = await asyncio.wait(tasks, timeout=limit,
                                         return_when=asyncio.FIRST_COMPLETED)
            if not done:
                self._control(error_event(
                    "relay_session_limit",
                    f"This relay ends sessions after {limit:g} seconds."))
                code, reason = 1008, "session length limit"
            elif rt.closed and not self.closing:
                code, reason = 1011, "upstream closed"
            for task in done:
                exc = None if task.cancelled() else task.exception()
                if exc is not None and not isinstance(exc, WebSocketDisconnect):
                    # e.g. the limits store is unreachable: fail closed, and say so
                    logger.error("relay: session of %s failed: %s: %s", self.principal.id,
                                 type(exc).__name__, exc)
                    self._control(error_event("relay_internal_error",
                                              "The relay failed; connect again."))
                    code, reason = 1011, "relay error"
        finally:
            for task in [*tasks, *helpers]:
                task.cancel()
            await self.stop(code, reason)

    async def drain(self) -> None:
        while self.rt.conversation.active_response_id is not None and not self.rt.closed:
            with contextlib.suppress(OpenAIRealtimeError, asyncio.TimeoutError):
                await self.rt.wait_for("response.done", timeout=1.0)

    async def stop(self, code: int, reason: str) -> None:
        if self.stopped is not None:
            await self.stopped  # a stop is under way (drain): the socket ends when it is done
            return
        self.stopped = asyncio.get_running_loop().create_future()
        try:
            await self._stop(code, reason)
        finally:
            self.stopped.set_result(None)

    async def _stop(self, code: int, reason: str) -> None:
        self.closing = True
        # free the lease first, so that the browser may connect again at once
        with contextlib.suppress(Exception):
            await self.relay.store.release_session(self.principal.id, self.session_id)
        with contextlib.suppress(OpenAIRealtimeError, OSError):
            await self.rt.close()
        self.out.put_nowait(None)
        self.writable.set()
        writer = self.writer
        if writer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, 5.0)
        with contextlib.suppress(RuntimeError, WebSocketDisconnect, OSError):
            await self.ws.close(code, reason)
