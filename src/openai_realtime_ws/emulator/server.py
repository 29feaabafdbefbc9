# The I/O shell of the emulator, on aiohttp.web: routes and handshakes (`GET /v1/realtime`, Azure
# `GET /openai/v1/realtime`, translation sessions `GET /v1/realtime/translations`, the client
# secret routes, the redirect target), the server's lifecycle, and the action executor: it feeds
# client frames to the Sans-I/O session (`core.Session`, `core.TranslationSession` or a replayed
# `core.ReplaySession`) and carries out the Actions it returns (send, close, timers, paced
# response streams, Offloads — blocking plug-ins in a worker thread, off the connection's event
# path — and MCP requests through `_mcp_client`). All protocol decisions live in `core`. One
# asyncio.Lock per connection serializes session calls and their sends, so a cancel never
# interleaves with a half-sent response step. The other roles have their own modules: `_wire`
# (frames and observers), `records` (ConnectionRecord, ConnectionLog), `faults` (what can go
# wrong, as data) and `_fault_io` (FaultPlan, carrying fired faults out), `calls` (SIP call routes).
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ipaddress
import logging
import socket
import ssl
import time
from collections import deque
from collections.abc import Coroutine, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from aiohttp import WSMsgType, web

from ..sync.client import _LoopThread
from . import _tls
from ._executor import ActionExecutor
from ._fault_io import FaultPlan, _apply_triggered
from ._wire import _flush, add_frame_observer
from .calls import CallRegistry
from .core.audio import Synthesizer, Transcriber
from .core.config import EmulatorConfig
from .core.handshake import HandshakeRequest, SecretStore, decide
from .core.ids import IdFactory
from .core.replay import ReplaySession
from .core.session import Session
from .core.translation import TranslationSession
from .core.turn import Responder
from .faults import DelayHandshake, FaultRunner, Redirect, RefuseHandshake
from .records import ConnectionLog, ConnectionRecord, RedirectHit
from .replay import Recording
from .responder import EchoResponder

__all__ = [
    "ConnectionLog",
    "ConnectionRecord",
    "Emulator",
    "EmulatorThread",
    "FaultPlan",
    "RedirectHit",
    "add_frame_observer",
]

log = logging.getLogger("openai_realtime_ws.emulator")
_encoder = msgspec.json.Encoder()
T = TypeVar("T")

class Emulator(ActionExecutor):
    """A local Realtime API server (asyncio). Use as `async with Emulator() as emu:`.

    Attributes once started: `host`, `port`, `base_url` (`http://127.0.0.1:PORT/v1`),
    `ws_url` (`ws://127.0.0.1:PORT/v1/realtime`), with TLS `ssl_context` (a client context
    trusting the generated CA) and `ca_file`; `connections` (one ConnectionRecord per socket),
    `faults` (a FaultPlan), `redirect_hits`.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        tls: bool = False,
        responder: Responder | None = None,
        config: EmulatorConfig | None = None,
        synthesizer: Synthesizer | None = None,
        transcriber: Transcriber | None = None,
        replay: Recording | str | Path | None = None,
    ) -> None:
        self.config = config if config is not None else EmulatorConfig()
        self.replay: Recording | None = Recording.load(replay) if isinstance(replay, str | Path) else replay
        """A recording that answers every connection instead of the emulated model (see
        `openai_realtime_ws.emulator.replay`); a file path is loaded with `Recording.load`."""
        if api_key is not None:
            self.config.api_key = api_key
        self.host = host
        self.port = port
        self.tls = tls
        self.responder: Responder = responder if responder is not None else EchoResponder()
        self.synthesizer = synthesizer
        self.transcriber = transcriber
        self.faults = FaultPlan(self.config.faults)
        self.connections = ConnectionLog(self.config.closed_history)
        self.redirect_hits: list[RedirectHit] = []
        self.ids = IdFactory(self.config.seed)
        self.secrets = SecretStore(self.ids)
        self.calls = CallRegistry(self)
        """Placed SIP calls by call_id (see `place_call`, emulator/calls.py)."""
        self._tls: _tls.TLSMaterial | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.BaseSite | None = None
        self._reserved: socket.socket | None = None  # the port, held between stop() and start()
        self.app = self._make_app()

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        """`https` with TLS, else `http`."""
        return "https" if self.tls else "http"

    @property
    def _host_in_url(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def origin(self) -> str:
        """`http://127.0.0.1:PORT` (`https://…` with TLS)."""
        return f"{self.scheme}://{self._host_in_url}:{self.port}"

    @property
    def base_url(self) -> str:
        """HTTP base URL (`http://127.0.0.1:PORT/v1`), as `AsyncOpenAI(base_url=…)` takes it."""
        return f"{self.origin}/v1"

    @property
    def ws_url(self) -> str:
        """`ws://127.0.0.1:PORT/v1/realtime` (`wss://` with TLS); add `?model=…`."""
        return f"{'wss' if self.tls else 'ws'}://{self._host_in_url}:{self.port}/v1/realtime"

    @property
    def azure_endpoint(self) -> str:
        """Origin to give an Azure client (it appends `/openai/v1/realtime`)."""
        return self.origin

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """Client SSL context trusting this emulator's CA (None without TLS)."""
        return self._tls.client_context() if self._tls is not None else None

    @property
    def ca_file(self) -> str | None:
        """With TLS: the generated CA as a PEM file (removed on exit); else None."""
        return self._tls.ca_file if self._tls is not None else None

    async def start(self) -> Emulator:
        """Start serving (again on the same port after `stop()`); returns self."""
        if self._runner is not None:
            return self
        server_ssl = None
        if self.tls:
            if self._tls is None:
                self._tls = await asyncio.get_running_loop().run_in_executor(None, _tls.generate)
            server_ssl = self._tls.server_context()
        runner = web.AppRunner(self.app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            sock = self._listening_socket()
        except BaseException:
            await runner.cleanup()
            raise
        site: web.BaseSite
        if sock is not None:
            site = web.SockSite(runner, sock, ssl_context=server_ssl)
        else:  # a host name (may resolve to several addresses): aiohttp binds them all
            site = web.TCPSite(runner, self.host, self.port, ssl_context=server_ssl, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            if sock is not None:
                sock.close()
            await runner.cleanup()
            raise
        self._runner, self._site = runner, site
        if self.port == 0:
            self.port = int(runner.addresses[0][1])
        return self

    def _listening_socket(self) -> socket.socket | None:
        """The socket to serve on: the one `stop()` kept the port with, else a new one bound
        to `host` (an IP address; `None` for a host name). SO_REUSEPORT is set after the bind,
        so a port 0 still gets a port no other socket holds, and `stop()` can hold it."""
        sock, self._reserved = self._reserved, None
        if sock is not None:
            return sock
        try:
            ip = ipaddress.ip_address(self.host)
        except ValueError:
            return None
        sock = socket.socket(socket.AF_INET6 if ip.version == 6 else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            if hasattr(socket, "SO_REUSEPORT"):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        except BaseException:
            sock.close()
            raise
        return sock

    def _reserve_port(self) -> socket.socket | None:
        """Bind (without listening) a second socket to the serving address while the listener
        still holds it. Once the listener closes, connections are refused as by a stopped
        server, but no other socket on the machine (an outgoing connection's ephemeral port)
        can take the port before `start()` listens on this one. `None` where that cannot be
        done (no SO_REUSEPORT, a host name): `start()` then binds the port anew."""
        if not isinstance(self._site, web.SockSite) or not hasattr(socket, "SO_REUSEPORT"):
            return None
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            return None
        return sock

    async def stop(self, *, close_code: int = 1012, abort: bool = False, remove_tls: bool = False,
                   release_port: bool = False) -> None:
        """Stop serving (the port is kept for a later `start()`, unless `release_port`). Live
        sockets are closed with `close_code` (1012 "service restart"), or dropped without a
        close frame when `abort`. Leaving `async with` releases the port."""
        for conn in list(self.connections):
            if conn._ws is not None and not conn.closed.is_set():
                if abort and conn._request is not None and conn._request.transport is not None:
                    conn._dead = True
                    conn._request.transport.abort()
                else:
                    await self._close_conn(conn, close_code, "server stopping")
        if self._runner is not None:
            if not release_port and self._reserved is None:
                self._reserved = self._reserve_port()  # before the listener lets the port go
            await self._runner.cleanup()
        self._runner = self._site = None
        if release_port and self._reserved is not None:
            self._reserved.close()
            self._reserved = None
        if remove_tls and self._tls is not None:
            self._tls.remove()
            self._tls = None

    async def __aenter__(self) -> Emulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.calls.close()
        await self.stop(close_code=1001, remove_tls=True, release_port=True)

    async def place_call(self, webhook_url: str, *, webhook_secret: str | bytes, **options: Any) -> str:
        """Ring `webhook_url` as OpenAI does for an incoming SIP call (a signed
        `realtime.call.incoming`) and return the `call_id`; `calls[call_id]` then follows the
        call (state, what the caller heard). Options: `caller_says` (utterances played into the
        call once it is accepted and a sideband socket joined it, each after the previous one was
        answered), `sip_headers`, `from_uri`, `to_uri`, `hang_up_when_done`, `ring_timeout`,
        `turn_timeout`, `timestamp` (to sign a stale delivery), `timeout`. See emulator/calls.py."""
        return await self.calls.place(webhook_url, webhook_secret=webhook_secret, **options)

    # --- test helpers ----------------------------------------------------------------------

    @property
    def replay_divergences(self) -> list[str]:
        """With `replay`: every divergence of the code under test from the recording, over the
        remembered connections (empty: it did what was recorded)."""
        return [d for conn in self.connections if conn.replay is not None for d in conn.replay.divergences]

    async def wait_for_connection(self, index: int = 0, timeout: float = 5.0) -> ConnectionRecord:
        """The `index`-th connection, waiting for it to arrive."""
        deadline = time.monotonic() + timeout
        while len(self.connections) <= index:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no connection #{index} within {timeout}s")
            await asyncio.sleep(0.005)
        return self.connections[index]

    # --- aiohttp app -----------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=self.config.max_message_bytes)
        app.router.add_get("/v1/realtime", self._handle_ws)
        app.router.add_get("/openai/v1/realtime", self._handle_azure)
        app.router.add_post("/v1/realtime/client_secrets", self._handle_client_secret)
        app.router.add_post("/openai/v1/realtime/client_secrets", self._handle_client_secret)
        app.router.add_get("/v1/realtime/translations", self._handle_ws)
        app.router.add_post("/v1/realtime/translations/client_secrets", self._handle_client_secret)
        app.router.add_get("/redirect-target/v1/realtime", self._handle_redirect_target)
        app.router.add_get("/redirect-target", self._handle_redirect_target)
        app.router.add_get("/health", self._handle_health)
        self.calls.add_routes(app)
        return app

    async def _handle_health(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"status": "ok"})

    def _auth_ok(self, request: web.Request) -> bool:
        if self.config.api_key is None:
            return True
        auth = request.headers.get("Authorization", "")
        key = auth[7:].strip() if auth[:7].lower() == "bearer " else request.headers.get("api-key")
        return key == self.config.api_key

    async def _handle_client_secret(self, request: web.Request) -> web.StreamResponse:
        if not self._auth_ok(request):
            return web.json_response({"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
                                                "param": None, "code": "invalid_api_key"}}, status=401)
        try:
            body = await request.json() if request.can_read_body else {}
        except ValueError:
            return web.json_response({"error": {"message": "We could not parse the JSON body of your request.",
                                                "type": "invalid_request_error", "param": None, "code": None}},
                                     status=400)
        if request.path.endswith("/translations/client_secrets"):
            status, payload = self.secrets.mint_translation(body, time.time())
        else:
            status, payload = self.secrets.mint(body, self.config, time.time())
        return web.json_response(payload, status=status)

    async def _handle_azure(self, request: web.Request) -> web.StreamResponse:
        return await self._handle_ws(request, azure=True)

    async def _handle_redirect_target(self, request: web.Request) -> web.StreamResponse:
        protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        had = ("Authorization" in request.headers or "api-key" in request.headers
               or any(p.startswith("openai-insecure-api-key.") for p in protocols))
        self.redirect_hits.append(RedirectHit(request.path, dict(request.query), had))
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.json_response({"redirect_target": True, "had_credentials": had})
        return await self._handle_ws(request)

    async def _handle_ws(self, request: web.Request, azure: bool = False) -> web.StreamResponse:
        runner = FaultRunner(self.faults.take())
        for hf in runner.handshake:
            if isinstance(hf, DelayHandshake):
                await asyncio.sleep(hf.seconds)
        for hf in runner.handshake:
            if isinstance(hf, RefuseHandshake):
                body = hf.body if hf.body is not None else msgspec.json.encode(
                    {"error": {"message": f"Emulated handshake failure ({hf.status}).", "type": "server_error",
                               "param": None, "code": None}}).decode()
                return web.Response(status=hf.status, text=body, content_type="application/json",
                                    headers=dict(hf.headers))
            if isinstance(hf, Redirect):
                location = hf.location
                if location.startswith("/"):
                    location = self.ws_url.split("/v1/realtime")[0] + location
                if hf.keep_query and request.query_string:
                    location += ("&" if "?" in location else "?") + request.query_string
                return web.Response(status=hf.status, headers={"Location": location})

        protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        headers = {k.lower(): v for k, v in request.headers.items()}
        decision = decide(HandshakeRequest(request.path, list(request.query.items()), headers, protocols, azure),
                          self.config, self.secrets, time.time())
        call = self.calls.on_handshake(decision) if decision.call_id else None
        if decision.http_status is not None:
            return web.json_response(decision.http_body, status=decision.http_status)

        ws = web.WebSocketResponse(protocols=("realtime",) if decision.subprotocol else (), compress=False,
                                   max_msg_size=self.config.max_message_bytes, timeout=2.0,
                                   decode_text=False, autoping=True)
        writer = await ws.prepare(request)
        if ws.compress:  # never: compress=False above; `_write_out` writes uncompressed frames
            raise RuntimeError("permessage-deflate negotiated on an emulator socket")
        loop = asyncio.get_running_loop()
        limit = self.config.record_limit
        conn = ConnectionRecord(
            index=len(self.connections), path=request.path, query=decision.query, headers=headers,
            received_api_key=decision.received_api_key, subprotocol=ws.ws_protocol,
            received=deque(maxlen=limit if limit > 0 else None),
        )
        conn._ws, conn._request, conn._faults, conn._loop = ws, request, runner, loop
        conn._writer = writer
        self.connections.append(conn)
        log.debug("connection #%d %s %s subprotocol=%s", conn.index, request.path, decision.kind, ws.ws_protocol)
        if self.config.record_transcript:
            conn.transcript, conn._t0 = [], time.monotonic()
        session: Session | TranslationSession | ReplaySession
        if self.replay is not None and decision.fatal is None:
            session = conn.replay = self.replay.session()
        elif decision.kind == "translation":
            session = conn.translation = TranslationSession(
                config=self.config, ids=self.ids, now=time.time(), model=decision.model or "",
                defaults=decision.defaults, synthesizer=self.synthesizer, transcriber=self.transcriber)
        else:
            session = conn.session = Session(
                config=self.config, responder=self.responder, ids=self.ids, now=time.time(),
                kind=decision.kind, model=decision.model, defaults=decision.defaults,
                synthesizer=self.synthesizer, transcriber=self.transcriber, call_id=decision.call_id)
        try:
            async with conn._lock:
                due = runner.due_now()
                if due:
                    await _apply_triggered(conn, due)
                if decision.fatal is not None:
                    await self._apply(conn, session.fatal(decision.fatal))
                else:
                    await self._apply(conn, session.open(time.time()))
                await _flush(conn)
            if call is not None and decision.fatal is None:
                self.calls.attach(call, conn)
            await self._read_loop(conn, ws, session)
        finally:
            await self._teardown(conn, ws)
        return ws

    async def _read_loop(self, conn: ConnectionRecord, ws: web.WebSocketResponse,
                         session: Session | TranslationSession | ReplaySession) -> None:
        record = self.config.record_received
        while not conn._dead:
            msg = await ws.receive()
            if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                conn.received_frames += 1
                binary = msg.type == WSMsgType.BINARY
                async with conn._lock:
                    acts = session.receive(msg.data, time.time(), binary=binary)
                    if record and not binary and session.last_event is not None:
                        conn.received.append(session.last_event)
                    if conn.transcript is not None and session.last_event is not None:
                        conn.transcript.append(("client", round(time.monotonic() - conn._t0, 4), session.last_event))
                    await self._apply(conn, acts)
                    await _flush(conn)
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                if conn.close_code is None and ws.close_code is not None:
                    conn.close_code = ws.close_code
                break

    async def _teardown(self, conn: ConnectionRecord, ws: web.WebSocketResponse) -> None:
        conn._dead = True
        session = conn.session or conn.translation or conn.replay  # at most one is set
        if session is not None:
            session.closed = True
        for h in conn._timers.values():
            h.cancel()
        conn._timers.clear()
        current = asyncio.current_task()
        for t in list(conn._tasks):
            if t is not current:
                t.cancel()
        if not ws.closed:
            with contextlib.suppress(Exception):
                await ws.close()
        if conn.close_code is None:
            conn.close_code = ws.close_code
        if session is not None:
            session.release()
        conn._ws = conn._request = conn._writer = None
        conn._out.clear()
        conn.closed.set()
        self.connections.closed(conn)

class EmulatorThread:
    """The same server on a private event loop in a daemon thread, for blocking code:
    `with EmulatorThread(api_key=…) as emu: …`. Same attributes as Emulator. The thread is the
    blocking client's loop-thread helper (`sync.client._LoopThread`): one implementation."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._runner: _LoopThread | None = None  # the blocking client's loop-thread helper
        self._closed = False
        self.emulator: Emulator | None = None

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
        if self._runner is None:
            coro.close()
            raise RuntimeError("EmulatorThread not started")
        return self._runner.call(coro, timeout)

    def start(self) -> EmulatorThread:
        """Start the thread and the server (again on the same port after `stop()`)."""
        if self._closed:
            raise RuntimeError("EmulatorThread was closed; make a new one")
        if self._runner is None:
            self._runner = _LoopThread()

        async def make() -> Emulator:
            if self.emulator is None:
                self.emulator = Emulator(**self._kwargs)
            return await self.emulator.start()

        self._call(make())
        return self

    def stop(self, *, close_code: int = 1012, abort: bool = False) -> None:
        """Stop serving but keep the thread and the port (for restart tests)."""
        if self.emulator is not None:
            self._call(self.emulator.stop(close_code=close_code, abort=abort))

    def close(self) -> None:
        """Stop the server and the thread (idempotent)."""
        runner, self._closed = self._runner, True
        if runner is None:
            return
        if self.emulator is not None:
            with contextlib.suppress(concurrent.futures.CancelledError):
                self._call(self.emulator.__aexit__(None, None, None))
        runner.stop()

    def __enter__(self) -> EmulatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def inject(self, connection: ConnectionRecord, events: Iterable[Mapping[str, Any] | bytes | str]) -> int:
        """Same as `Emulator.inject`, blocking."""
        return self._call(self._emu.inject(connection, events), timeout=None)

    def wait_for_connection(self, index: int = 0, timeout: float = 5.0) -> ConnectionRecord:
        """Same as `Emulator.wait_for_connection`, blocking."""
        return self._call(self._emu.wait_for_connection(index, timeout))

    def inject_dtmf(self, connection: ConnectionRecord, digits: str) -> None:
        """Same as `Emulator.inject_dtmf`, blocking."""
        self._call(self._emu.inject_dtmf(connection, digits))

    def place_call(self, webhook_url: str, *, webhook_secret: str | bytes, **options: Any) -> str:
        """Same as `Emulator.place_call`, blocking."""
        return self._call(self._emu.place_call(webhook_url, webhook_secret=webhook_secret, **options))

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
        """Run a coroutine on the emulator's loop and wait for its result."""
        return self._call(coro, timeout)

    @property
    def _emu(self) -> Emulator:
        """Same as `Emulator._emu`."""
        if self.emulator is None:
            raise RuntimeError("EmulatorThread not started")
        return self.emulator

    @property
    def base_url(self) -> str:
        """Same as `Emulator.base_url`."""
        return self._emu.base_url

    @property
    def ws_url(self) -> str:
        """Same as `Emulator.ws_url`."""
        return self._emu.ws_url

    @property
    def origin(self) -> str:
        """Same as `Emulator.origin`."""
        return self._emu.origin

    @property
    def host(self) -> str:
        """Same as `Emulator.host`."""
        return self._emu.host

    @property
    def port(self) -> int:
        """Same as `Emulator.port`."""
        return self._emu.port

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """Same as `Emulator.ssl_context`."""
        return self._emu.ssl_context

    @property
    def ca_file(self) -> str | None:
        """Same as `Emulator.ca_file`."""
        return self._emu.ca_file

    @property
    def connections(self) -> ConnectionLog:
        """Same as `Emulator.connections`."""
        return self._emu.connections

    @property
    def faults(self) -> FaultPlan:
        """Same as `Emulator.faults`."""
        return self._emu.faults

    @property
    def redirect_hits(self) -> list[RedirectHit]:
        """Same as `Emulator.redirect_hits`."""
        return self._emu.redirect_hits

    @property
    def config(self) -> EmulatorConfig:
        """Same as `Emulator.config`."""
        return self._emu.config

