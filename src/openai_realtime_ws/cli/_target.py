"""Where a command connects: the real API, a base URL, an exact WebSocket URL, Azure OpenAI, or
the embedded emulator; and opening the session there with the library's public clients.

Rules (docs/cli.md, "Choosing the server"):

* ``--url`` / ``--base-url`` / ``--azure-endpoint`` pick the server; at most one of them.
* With none of them, no ``--api-key``, no ``OPENAI_API_KEY`` and no ``OPENAI_BASE_URL``, the
  embedded emulator is started in this process (``--emulator`` forces it). ``replay`` uses the
  emulator unless a server or ``--api-key`` is given on the command line.
* The API key is never printed: messages are passed through :func:`redact`.
"""

from __future__ import annotations

import argparse
import os
import ssl
import sys
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from ..core.errors import RealtimeConfigError
from ..core.handshake import check_http_url, check_ws_url, is_loopback_host, redact_text, redact_url
from ..core.models import REALTIME_MODELS, is_realtime_model
from ..types import ErrorEventError
from ._errors import EXIT_CONNECTION, EXIT_USAGE, CLIError

if TYPE_CHECKING:
    from ..aio.client import AsyncOpenAIRealtimeWS

__all__ = [
    "DEFAULT_MODEL",
    "EMULATOR_KEY",
    "Target",
    "add_server_options",
    "connect_kwargs",
    "describe_api_error",
    "local_emulator_notice",
    "redact",
    "resolve_target",
]

DEFAULT_MODEL = "gpt-realtime"
KNOWN_MODELS = tuple(REALTIME_MODELS)
"""The known session models: the one list in core/models.py (each with its source). Other names
are accepted when they look like a Realtime model (``gpt-…realtime…``): newer snapshots keep working."""
VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")
"""The built-in voices of the spec; a custom voice is given by its id (``voice_…``)."""
EMULATOR_KEY = "sk-local-emulator"
"""The credential sent to the embedded emulator (it accepts any; a real key never goes there)."""

_SECRETS: list[str] = []
"""Credentials seen on this command line / environment, masked in every message we print."""

Kind = Literal["emulator", "openai", "url", "azure"]


def redact(text: str) -> str:
    """``text`` with every known credential replaced by ``***``."""
    return redact_text(text, _SECRETS)


def _remember(secret: str | None) -> str | None:
    if secret:
        _SECRETS.append(secret)
    return secret


def add_server_options(parser: argparse.ArgumentParser, *, websocket: bool = True) -> None:
    """The options that choose the server and the credential (shared by the commands)."""
    g = parser.add_argument_group("server and credentials")
    g.add_argument("--model", default=DEFAULT_MODEL, metavar="MODEL",
                   help="Realtime model for the session, e.g. gpt-realtime or gpt-realtime-mini "
                        "(default: %(default)s; with --azure-endpoint: the deployment)")
    g.add_argument("--api-key", metavar="KEY",
                   help="API key or ek_ client secret (default: $OPENAI_API_KEY, for Azure "
                        "$AZURE_OPENAI_API_KEY); prefer the variable: arguments are visible to "
                        "other local users")
    g.add_argument("--base-url", metavar="URL",
                   help="HTTP base URL of the API (default: $OPENAI_BASE_URL or "
                        "https://api.openai.com/v1)")
    if websocket:
        g.add_argument("--url", metavar="WS_URL",
                       help="exact WebSocket URL to open (wss://, or ws:// to loopback); no query "
                            "is added")
    g.add_argument("--azure-endpoint", metavar="URL",
                   help="Azure OpenAI endpoint (https://RESOURCE.openai.azure.com)")
    g.add_argument("--deployment", metavar="NAME",
                   help="Azure deployment name (default: the --model value)")
    g.add_argument("--ca-file", metavar="PEM",
                   help="trust this CA for wss:// / https:// (e.g. the emulator's --tls CA)")
    g.add_argument("--timeout", type=positive_float, default=15.0, metavar="SECONDS",
                   help="connect timeout, until the session is ready (default: %(default)s)")
    e = parser.add_argument_group("local emulator")
    e.add_argument("--emulator", action="store_true",
                   help="use the embedded local emulator even when a key is set")
    if websocket:
        e.add_argument("--emulator-speed", type=non_negative_float, default=None, metavar="X",
                       help="embedded emulator pacing versus real time (default 10; 1 = real "
                            "time, 0 = no pacing)")
        e.add_argument("--emulator-voice", action="store_true",
                       help="embedded emulator with real local speech: espeak-ng speaks, "
                            "PocketSphinx recognises what you send (needs the 'voice' extra)")


def non_negative_float(text: str) -> float:
    """argparse type: a number >= 0 (``-1`` and ``nan`` are refused with a usage error)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def voice_value(text: str) -> str:
    """argparse type: a built-in voice name or a custom voice id (``voice_…``)."""
    if text in VOICES or (text.startswith("voice_") and len(text) > len("voice_")):
        return text
    raise argparse.ArgumentTypeError(
        f"unknown voice {text!r}: expected one of {', '.join(VOICES)} or a custom voice id "
        "(voice_...)")


def check_writable(path: str, option: str) -> None:
    """Refuse an output file that cannot be written, before anything is sent (so a reply is
    never streamed only to be lost)."""
    target = Path(path)
    if target.is_dir():
        raise CLIError(f"{option} {path}: is a directory", EXIT_USAGE)
    parent = target.parent
    if not parent.is_dir():
        raise CLIError(f"{option} {path}: the directory {str(parent)!r} does not exist",
                       EXIT_USAGE)
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise CLIError(f"{option} {path}: not writable", EXIT_USAGE)


def check_model(model: str) -> None:
    """Refuse a model name that cannot be a Realtime model (a typo would otherwise only show
    against the real API, and never against the emulator)."""
    if is_realtime_model(model):
        return
    raise CLIError(
        f"--model {model!r} is not a Realtime model: expected one of {', '.join(KNOWN_MODELS[:6])}, "
        "… (or a gpt-…realtime… snapshot name)", EXIT_USAGE)


def check_base_url(url: str, origin: str, *, websocket: bool = False) -> None:
    """A server URL the user gave, refused with a message that names what they typed."""
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname
    except ValueError:
        raise CLIError(f"{origin} {shown!r} is not a valid URL", EXIT_USAGE) from None
    plain, secure = ("ws", "wss") if websocket else ("http", "https")
    if scheme == plain and host and not is_loopback_host(host):
        raise CLIError(
            f"{origin} {shown}: plain {plain}:// is allowed only to a loopback address "
            f"(127.0.0.1, ::1, localhost), since the API key would travel unencrypted; "
            f"use {secure}://{parts.netloc}{parts.path}", EXIT_USAGE)
    if scheme not in (plain, secure):
        raise CLIError(f"{origin} {shown}: expected a {secure}:// URL", EXIT_USAGE)
    try:
        (check_ws_url if websocket else check_http_url)(url)
    except RealtimeConfigError as exc:
        raise CLIError(f"{origin} {shown}: {exc.message}", EXIT_USAGE) from None


@dataclass
class Target:
    """A resolved server: what to connect to and with which credential."""

    kind: Kind
    model: str
    api_key: str | None = field(repr=False)
    base_url: str | None = None
    url: str | None = None
    azure_endpoint: str | None = None
    deployment: str | None = None
    ssl: ssl.SSLContext | None = field(default=None, repr=False)
    timeout: float = 15.0
    emulator_speed: float | None = None
    emulator_voice: bool = False

    @property
    def is_local(self) -> bool:
        return self.kind == "emulator"


def resolve_target(args: argparse.Namespace, *, default_local: bool = False) -> Target:
    """Decide the server from the options and the environment (see the module docstring)."""
    url: str | None = getattr(args, "url", None)
    base_url: str | None = args.base_url
    azure: str | None = args.azure_endpoint
    explicit = [n for n, v in (("--url", url), ("--base-url", base_url),
                               ("--azure-endpoint", azure)) if v]
    if len(explicit) > 1:
        raise CLIError(f"{' and '.join(explicit)} cannot be combined: pick one server",
                       EXIT_USAGE)
    if args.emulator and explicit:
        raise CLIError(f"--emulator cannot be combined with {explicit[0]}", EXIT_USAGE)
    if args.deployment and not azure:
        raise CLIError("--deployment needs --azure-endpoint", EXIT_USAGE)
    if args.timeout is not None and not 0 < args.timeout < float("inf"):
        raise CLIError("--timeout must be a positive number of seconds", EXIT_USAGE)
    if url:
        check_base_url(url, "--url", websocket=True)
    if base_url:
        check_base_url(base_url, "--base-url")
    if azure:
        check_base_url(azure, "--azure-endpoint")
    if not (azure or url):
        check_model(args.model)
    context: ssl.SSLContext | None = None
    if args.ca_file:
        try:
            context = ssl.create_default_context(cafile=args.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise CLIError(f"cannot load --ca-file {args.ca_file}: {exc}") from None
    common: dict[str, Any] = {"model": args.model, "ssl": context, "timeout": args.timeout,
                              "emulator_speed": getattr(args, "emulator_speed", None),
                              "emulator_voice": bool(getattr(args, "emulator_voice", False))}
    cli_key = _remember(args.api_key)
    if azure:
        key = cli_key or _remember(os.environ.get("AZURE_OPENAI_API_KEY"))
        return Target("azure", api_key=key, azure_endpoint=azure,
                      deployment=args.deployment or args.model, **common)
    env_key = _remember(os.environ.get("OPENAI_API_KEY"))
    if url:
        return Target("url", api_key=cli_key or env_key, url=url, **common)
    if base_url:
        return Target("openai", api_key=cli_key or env_key, base_url=base_url, **common)
    if args.emulator:
        return Target("emulator", api_key=EMULATOR_KEY, **common)
    if default_local and not cli_key:
        return Target("emulator", api_key=EMULATOR_KEY, **common)
    env_base = os.environ.get("OPENAI_BASE_URL")
    if env_base:
        check_base_url(env_base, "OPENAI_BASE_URL")
    if not (cli_key or env_key or env_base):
        return Target("emulator", api_key=EMULATOR_KEY, **common)
    return Target("openai", api_key=cli_key or env_key, base_url=env_base or None, **common)


def local_emulator_notice(base_url: str) -> None:
    """The one stderr line that says the embedded emulator is in use."""
    sys.stderr.write(f"using the local emulator at {base_url} "
                     "(set OPENAI_API_KEY to talk to the real API)\n")
    sys.stderr.flush()


def connect_kwargs(target: Target, base_url: str | None = None) -> tuple[str, dict[str, Any]]:
    """(factory name, keyword arguments) for ``create``/``azure`` of either client class;
    ``base_url`` is the embedded emulator's when the target is local."""
    options: dict[str, Any] = {"open_timeout": target.timeout}
    if target.ssl is not None:
        options["ssl"] = target.ssl
    if target.kind == "azure":
        return "azure", {"endpoint": target.azure_endpoint, "deployment": target.deployment,
                         "api_key": target.api_key, **options}
    if target.kind == "url":
        exact = target.url or ""
        return "create", {"model": target.model, "url_builder": lambda _client, _target: exact,
                          "api_key": target.api_key, **options}
    if target.kind == "emulator":
        return "create", {"model": target.model, "base_url": base_url,
                          "api_key": target.api_key, **options}
    return "create", {"model": target.model, "base_url": target.base_url,
                      "api_key": target.api_key, **options}


def describe_api_error(error: ErrorEventError | None) -> str:
    """One line for an API ``error`` event: ``<message> (<code>)``, credentials masked."""
    if error is None:
        return "unknown error"
    message = str(error.message) if error.message is not None else "error"
    code = error.code or error.type
    suffix = f" ({code})" if code else ""
    return redact(message.strip() + suffix)


def connection_failure(last_error: ErrorEventError | None, exc: BaseException) -> CLIError:
    """Exit 3 with the server's own explanation when it sent one before closing."""
    code = getattr(exc, "code", None)
    reason = getattr(exc, "reason", "") or ""
    closed = f"connection closed with code {code}" if isinstance(code, int) else ""
    if reason and closed:
        closed += f" ({reason})"
    if last_error is not None:
        text = describe_api_error(last_error) + (f"; {closed}" if closed else "")
    else:
        text = closed or redact(str(exc))
    return CLIError(text, EXIT_CONNECTION)


def emulator_plugins(target: Target) -> dict[str, Any]:
    """Keyword arguments for the embedded emulator: with --emulator-voice, espeak-ng speech out and
    PocketSphinx recognition in (the `voice` extra); a usage error when it is not installed."""
    if not target.emulator_voice:
        return {}
    from ..emulator.voice import EspeakSynthesizer, PocketsphinxTranscriber, VoiceUnavailableError

    try:
        return {"synthesizer": EspeakSynthesizer(), "transcriber": PocketsphinxTranscriber()}
    except VoiceUnavailableError as exc:
        raise CLIError(f"--emulator-voice: {exc}", EXIT_USAGE) from None


def emulator_kwargs(target: Target) -> dict[str, Any]:
    """Keyword arguments for the embedded emulator (``Emulator`` or ``EmulatorThread``): its config
    (``--emulator-speed``) and plug-ins (``--emulator-voice``)."""
    from ..emulator import EmulatorConfig

    config = EmulatorConfig()
    if target.emulator_speed is not None:
        config.speed = target.emulator_speed
    return {"config": config, **emulator_plugins(target)}


async def open_async(stack: AsyncExitStack, target: Target) -> AsyncOpenAIRealtimeWS:
    """The embedded emulator when the target is local (entered on ``stack``), then the asyncio
    connection; the caller registers how it closes."""
    from ..aio.client import AsyncOpenAIRealtimeWS

    base_url = None
    if target.is_local:
        from ..emulator import Emulator

        emu = await stack.enter_async_context(Emulator(**emulator_kwargs(target)))
        base_url = emu.base_url
        local_emulator_notice(base_url)
    factory, kwargs = connect_kwargs(target, base_url)
    rt = await getattr(AsyncOpenAIRealtimeWS, factory)(**kwargs)
    assert isinstance(rt, AsyncOpenAIRealtimeWS)
    return rt

