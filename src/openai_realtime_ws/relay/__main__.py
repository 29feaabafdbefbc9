"""``openai-realtime-ws relay`` (also ``python -m openai_realtime_ws.relay``): serve the browser relay and its console with uvicorn.

The first line of stdout is the console's URL (``http://HOST:PORT/``), so scripts and tests can
use ``--port 0``. SIGINT/SIGTERM drain the sessions (running responses finish, browsers get 1012
and reconnect elsewhere) before the server stops.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="openai-realtime-ws relay",
        description="Serve the browser relay (WS /realtime), the browser modules and the console "
                    "(/). Credentials come from OPENAI_API_KEY/OPENAI_BASE_URL or AZURE_OPENAI_*; "
                    "without them an embedded emulator answers.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (0 = any free port)")
    p.add_argument("--model", default="gpt-realtime",
                   help="model of the upstream sessions (default %(default)s)")
    p.add_argument("--instructions", help="server-owned instructions")
    p.add_argument("--voice", help="server-owned output voice")
    p.add_argument("--session-json", help="server-owned session fields, as a JSON object")
    p.add_argument("--redact", action="store_true",
                   help="remove server-owned fields from session.created/updated")
    p.add_argument("--allow-event", action="append", metavar="TYPE",
                   help="client event types browsers may send (repeat; default: all GA types)")
    p.add_argument("--allowed-origin", action="append", metavar="ORIGIN",
                   help="origins allowed to connect (repeat; default: same origin)")
    p.add_argument("--allowed-host", action="append", metavar="NAME",
                   help="host names the relay answers to (repeat; `.example.com` for a domain; "
                        "default: localhost, 127.0.0.1, ::1 and the --host address). A request "
                        "whose Host is another name is refused (DNS rebinding)")
    p.add_argument("--allow-anonymous-remote", action="store_true",
                   help="accept non-loopback clients without authentication (trusted networks)")
    p.add_argument("--redis", metavar="URL", help="keep limits in Redis (shared by workers)")
    p.add_argument("--max-sessions", type=int, help="concurrent sessions per principal")
    p.add_argument("--events-per-second", type=int, help="browser events per second per principal")
    p.add_argument("--audio-seconds", type=float, help="input audio seconds per window")
    p.add_argument("--audio-window", type=float, default=3600.0, help="seconds (default 3600)")
    p.add_argument("--max-session-seconds", type=float, help="maximum length of a session")
    p.add_argument("--emulator-speed", type=float, default=1.0,
                   help="pacing of the embedded emulator (1 = real time)")
    p.add_argument("--emulator-voice", action="store_true",
                   help="embedded emulator speaks and listens (needs the voice extra)")
    p.add_argument("--ws", default="auto",
                   choices=["auto", "websockets-sansio", "websockets", "wsproto"],
                   help="uvicorn's WebSocket protocol implementation (default %(default)s)")
    p.add_argument("--metrics", action="store_true",
                   help="serve Prometheus metrics at /metrics (loopback scrapers only; needs the "
                        "metrics extra)")
    p.add_argument("--fast", action="store_true",
                   help="serve with the fast path (picows, frames forwarded as they are; no "
                        "/client_secrets, no upstream reconnection; see docs/relay.md)")
    p.add_argument("--log-level", default="warning",
                   help="log level of the relay's log on stderr (default %(default)s)")
    return p


def _build(args: argparse.Namespace) -> Any:
    from ..core.relay_policy import DEFAULT_ALLOWED_HOSTS
    from . import Limits, RealtimeRelay, RedisStore, RelayPolicy, Upstream
    from .store import LimitStore, MemoryStore

    session: dict[str, Any] = {}
    if args.session_json:
        loaded = json.loads(args.session_json)
        if not isinstance(loaded, dict):
            raise ValueError("--session-json: expected a JSON object")
        session.update(loaded)
    if args.instructions:
        session["instructions"] = args.instructions
    if args.voice:
        session.setdefault("audio", {}).setdefault("output", {})["voice"] = args.voice
    kwargs: dict[str, Any] = {"server_session": session, "redact_server_fields": args.redact}
    if args.allow_event:
        kwargs["allowed_events"] = frozenset(args.allow_event)
    policy = RelayPolicy(**kwargs)
    limits = Limits(max_sessions=args.max_sessions, events_per_second=args.events_per_second,
                    audio_seconds=args.audio_seconds, audio_window=args.audio_window,
                    max_session_seconds=args.max_session_seconds)
    upstream = Upstream.from_env(args.model)
    if upstream.kind == "emulator":
        from ..emulator import EmulatorConfig

        options: dict[str, Any] = {"config": EmulatorConfig(speed=args.emulator_speed)}
        if args.emulator_voice:
            from ..emulator.voice import EspeakSynthesizer, PocketsphinxTranscriber

            options.update(synthesizer=EspeakSynthesizer(), transcriber=PocketsphinxTranscriber())
        upstream.emulator_options = options
    store: LimitStore = RedisStore(args.redis) if args.redis else MemoryStore()
    hosts = set(args.allowed_host or DEFAULT_ALLOWED_HOSTS)
    if not args.allowed_host and args.host not in ("0.0.0.0", "::", ""):
        hosts.add(args.host.strip("[]"))
    metrics = None
    if args.metrics:
        try:
            from ..telemetry.prometheus import ServiceMetrics
        except ImportError as exc:
            raise ValueError(f"--metrics: {exc}") from None
        metrics = ServiceMetrics("relay")
    return RealtimeRelay(upstream=upstream, policy=policy, limits=limits, store=store,
                         metrics=metrics,
                         allowed_origins=args.allowed_origin, allowed_hosts=sorted(hosts),
                         allow_anonymous_remote=args.allow_anonymous_remote)


async def _serve_fast(relay: Any, sock: socket.socket) -> None:
    import signal

    from .fast import FastRelayServer

    server = FastRelayServer(relay)
    await server.start(None, None, sock=sock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.close()  # drain: browsers get 1012


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        import uvicorn
    except ImportError:
        sys.stderr.write("openai-realtime-ws: error: relay needs the relay extra: "
                         "pip install 'openai-realtime-ws[relay]'\n")
        return 2
    try:
        relay = _build(args)
    except ValueError as exc:
        sys.stderr.write(f"openai-realtime-ws: error: {exc}\n")
        return 2
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # accepted sockets inherit it: without it, Nagle + delayed ACKs hold small frames (audio
    # deltas, control events) for up to 40 ms once a few sessions stream audio
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        sys.stderr.write(f"openai-realtime-ws: error: cannot listen on {args.host}:{args.port}: "
                         f"{exc.strerror}\n")
        return 1
    sock.listen(2048)  # before the URL is printed: early clients wait in the backlog
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"http://{host}:{port}/", flush=True)
    if relay.authenticate is None and not args.allow_anonymous_remote and args.host not in (
            "127.0.0.1", "::1", "localhost"):
        sys.stderr.write("openai-realtime-ws relay: note: no authentication hook, so only "
                         "loopback clients are accepted (--allow-anonymous-remote to change)\n")

    if args.fast:
        asyncio.run(_serve_fast(relay, sock))
        return 0

    class _Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            await relay.drain()
            await super().shutdown(sockets)

    config = uvicorn.Config(relay, log_level=args.log_level, lifespan="on", ws=args.ws,
                            ws_ping_interval=20.0)
    server = _Server(config)
    try:
        asyncio.run(server.serve(sockets=[sock]))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
