"""The ``openai-realtime-ws`` command: argument parsing, dispatch and the exit-code policy.

Exit codes: 0 ok, 1 other errors, 2 usage, 3 connection or authentication failure, 130 a
one-shot command stopped with Ctrl-C. Errors are one line on stderr
(``openai-realtime-ws: error: …``); ``--debug`` adds the traceback and the library's log.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from .. import (
    InvalidClientEvent,
    OpenAIRealtimeError,
    RealtimeAPIError,
    RealtimeConfigError,
    RealtimeConnectionError,
    __version__,
)
from ._chat import add_chat_parser, run_chat
from ._errors import (
    EXIT_CONNECTION,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CLIError,
)
from ._events import add_events_parsers, run_events, run_replay
from ._mint import add_mint_parser, run_mint
from ._target import add_server_options, redact

__all__ = ["build_parser", "main"]

PROG = "openai-realtime-ws"
_AUTH_CODES = frozenset({"invalid_api_key", "invalid_client_secret", "expired_client_secret"})


def build_parser() -> argparse.ArgumentParser:
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show tracebacks and the library's debug log on stderr")
    ws = argparse.ArgumentParser(add_help=False)
    add_server_options(ws, websocket=True)
    http = argparse.ArgumentParser(add_help=False)
    add_server_options(http, websocket=False)

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Talk to the OpenAI Realtime API (or the local emulator) from a terminal.",
        epilog="Without OPENAI_API_KEY (and without --url/--base-url) the commands use an "
               "embedded local emulator. Exit codes: 0 ok, 1 error, 2 usage, 3 connection or "
               "authentication failure. See docs/cli.md.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", default=False,
                        help="show tracebacks and the library's debug log on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_chat_parser(sub, [ws, debug])
    add_events_parsers(sub, [ws, debug])
    add_mint_parser(sub, [http, debug])
    parser.set_defaults(_subparsers=sub.choices)
    sub.add_parser(
        "emulator", add_help=False, parents=[debug],
        help="run the local emulator server (options: `emulator --help`)",
        description="Run the local Realtime emulator; all options are the emulator's own "
                    "(python -m openai_realtime_ws.emulator). The first line of stdout is the "
                    "base URL.")
    sub.add_parser(
        "relay", add_help=False, parents=[debug],
        help="serve the browser relay and web console (options: `relay --help`)",
        description="Serve the browser relay, /realtime.js and the console; see docs/relay.md.")
    return parser


def _setup_logging(debug: bool) -> None:
    if debug:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
        return
    # the CLI reports errors itself, one line each; the library's log stays quiet, and so does
    # asyncio's (a connect cut short by Ctrl-C must not print "Task was destroyed" at exit)
    for name in ("openai_realtime_ws", "asyncio"):
        quiet = logging.getLogger(name)
        quiet.addHandler(logging.NullHandler())
        quiet.propagate = False


#: What the local emulator needs beyond the client (the `emulator` extra).
_EMULATOR_MODULES = frozenset({"aiohttp", "trustme", "cryptography"})


def _exit_code(exc: BaseException) -> tuple[int, str]:
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in _EMULATOR_MODULES:
        return EXIT_USAGE, (
            f"the local emulator needs the `emulator` extra ({exc.name} is not installed): "
            "pip install 'openai-realtime-ws[emulator]'"
        )
    if isinstance(exc, CLIError):
        return exc.exit_code, exc.message
    if isinstance(exc, RealtimeConfigError | InvalidClientEvent):
        return EXIT_USAGE, exc.message
    if isinstance(exc, RealtimeConnectionError):
        return EXIT_CONNECTION, exc.message
    if isinstance(exc, OpenAIRealtimeError):
        code = exc.code if isinstance(exc, RealtimeAPIError) else None
        return (EXIT_CONNECTION if code in _AUTH_CODES else EXIT_ERROR), exc.message
    if isinstance(exc, OSError):
        name = f"{exc.filename}: " if exc.filename else ""
        return EXIT_ERROR, f"{name}{exc.strerror or exc}"
    if isinstance(exc, ValueError):
        return EXIT_ERROR, str(exc)
    return EXIT_ERROR, f"{type(exc).__name__}: {exc}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``openai-realtime-ws`` and ``python -m openai_realtime_ws``."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, extra = parser.parse_known_args(args_list)
    debug = bool(getattr(args, "debug", False))
    if args.command == "emulator":
        try:
            from ..emulator.__main__ import main as emulator_main
        except ModuleNotFoundError as exc:
            return _report(exc, debug)

        _setup_logging(debug)
        try:
            return emulator_main(extra, prog=f"{PROG} emulator")
        except OSError as exc:
            return _report(exc, debug)
    if args.command == "relay":
        from ..relay.__main__ import main as relay_main

        _setup_logging(debug)
        return relay_main(extra)
    if extra:
        sub_parser = args._subparsers.get(args.command, parser)
        sub_parser.error(f"unrecognized arguments: {' '.join(extra)}")
    _setup_logging(debug)
    with _utf8_stdout():
        try:
            if args.command == "chat":
                return run_chat(args)
            if args.command == "events":
                return run_events(args)
            if args.command == "replay":
                return run_replay(args)
            if args.command == "mint-key":
                return run_mint(args)
        except KeyboardInterrupt:
            sys.stderr.write("\n")
            return EXIT_INTERRUPTED
        except BrokenPipeError:
            _silence_stdout()  # the reader went away (`… | head`): stop quietly
            return EXIT_ERROR
        except Exception as exc:
            return _report(exc, debug)
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover - argparse checks


def _report(exc: BaseException, debug: bool) -> int:
    code, message = _exit_code(exc)
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    sys.stderr.write(f"{PROG}: error: {redact(message)}\n")
    sys.stderr.flush()
    return code


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


class _utf8_stdout:
    """Reply text never crashes a terminal that cannot show a character."""

    def __enter__(self) -> None:
        reconfigure = getattr(sys.stdout, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")

    def __exit__(self, *exc: object) -> None:
        try:
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):
            pass

