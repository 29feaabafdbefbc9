# `python -m openai_realtime_ws.emulator`: serve the emulator until SIGINT/SIGTERM. The first line
# of stdout is the base URL (`http://127.0.0.1:PORT/v1`, `https://…` with --tls), flushed.
from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Any

from .core.config import EmulatorConfig
from .server import Emulator


def build_parser(prog: str = "python -m openai_realtime_ws.emulator") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog,
                                description="Local OpenAI Realtime (GA) protocol emulator.")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    p.add_argument("--port", type=int, default=0, help="port (default 0: pick a free one)")
    p.add_argument("--tls", action="store_true", help="serve https/wss with a generated certificate")
    p.add_argument("--api-key", default=None, help="require this key (default: accept any)")
    p.add_argument("--speed", type=float, default=EmulatorConfig().speed,
                   help="pacing factor vs real time, 0 = no pacing (default %(default)s)")
    p.add_argument("--session-seconds", type=float, default=3600.0, help="maximum session length")
    p.add_argument("--chunk-ms", type=int, default=EmulatorConfig().audio_chunk_ms,
                   help="audio delta duration in ms (default %(default)s)")
    p.add_argument("--conversation-created", action="store_true", help="send conversation.created")
    p.add_argument("--idle-timeout-scale", type=float, default=1.0,
                   help="multiply every idle_timeout_ms by this (default %(default)s)")
    p.add_argument("--seed", type=int, default=None, help="seed ids for reproducible traces")
    p.add_argument("--print-ca", action="store_true", help="with --tls: print the CA file path on line 2")
    p.add_argument("--voice", action="store_true",
                   help="real local speech: espeak-ng output audio, PocketSphinx input transcription "
                        "(needs the 'voice' extra)")
    p.add_argument("--record", type=int, default=None, metavar="N",
                   help="record the last N client events of each connection (0 = all); default: "
                        "off, as nothing in this process reads them")
    p.add_argument("--item-audio-mib", type=float, default=EmulatorConfig().max_item_audio_bytes / 2**20,
                   metavar="MIB", help="audio each session keeps for its items (retrieve/truncate); "
                                       "0 = no limit (default %(default)g)")
    p.add_argument("--model-check", choices=("openai", "all", "off"), default=EmulatorConfig().model_check,
                   help="URL models refused like the real API (invalid_model, close 4000): 'openai' other "
                        "OpenAI model families, 'all' anything not a Realtime model, 'off' none "
                        "(default %(default)s)")
    return p


def parse_args(argv: list[str] | None = None,
               prog: str = "python -m openai_realtime_ws.emulator") -> argparse.Namespace:
    return build_parser(prog).parse_args(argv)


async def serve(args: argparse.Namespace, plugins: dict[str, Any] | None = None) -> None:
    config = EmulatorConfig(api_key=args.api_key, speed=args.speed, session_seconds=args.session_seconds,
                            audio_chunk_ms=args.chunk_ms, send_conversation_created=args.conversation_created,
                            idle_timeout_scale=args.idle_timeout_scale, seed=args.seed,
                            record_received=args.record is not None, record_limit=max(args.record or 0, 0),
                            max_item_audio_bytes=int(max(args.item_audio_mib, 0) * 2**20),
                            model_check=args.model_check)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with Emulator(host=args.host, port=args.port, tls=args.tls, config=config, **(plugins or {})) as emu:
        sys.stdout.write(emu.base_url + "\n")
        if args.tls and args.print_ca:
            sys.stdout.write(f"{emu.ca_file}\n")
        sys.stdout.flush()
        await stop.wait()


def main(argv: list[str] | None = None,
         prog: str = "python -m openai_realtime_ws.emulator") -> int:
    args = parse_args(argv, prog)
    plugins: dict[str, Any] = {}
    if args.voice:  # espeak-ng speaks, PocketSphinx listens (the optional `voice` extra)
        from .voice import EspeakSynthesizer, PocketsphinxTranscriber, VoiceUnavailableError
        try:
            plugins = {"synthesizer": EspeakSynthesizer(), "transcriber": PocketsphinxTranscriber()}
        except VoiceUnavailableError as exc:
            sys.stderr.write(f"error: --voice: {exc}\n")
            return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args, plugins))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
