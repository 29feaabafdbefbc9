"""The options of ``create()`` / ``azure()`` (asyncio and blocking): their types, ranges and
defaults, checked once, before anything is opened (no I/O here).

:func:`check_connect_options` takes the keyword options exactly as a caller passed them and returns
a frozen :class:`ConnectOptions`, or raises :class:`RealtimeConfigError` naming the option and
what was expected. Unknown names are refused too (a typo such as ``ping_intervall=5`` must not be
silently ignored). Both shells read the result; no option is checked anywhere else.

An error shows the value only when it is a number, a bool or ``None``; for anything else it
shows the type (``got a str``), so that a credential passed to the wrong option is never printed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from .errors import RealtimeConfigError
from .reconnect import ReconnectPolicy

__all__ = [
    "DEFAULT_CLOSE_TIMEOUT",
    "DEFAULT_MAX_QUEUE",
    "DEFAULT_MAX_SIZE",
    "DEFAULT_OPEN_TIMEOUT",
    "DEFAULT_PING_INTERVAL",
    "DEFAULT_PING_TIMEOUT",
    "DEFAULT_SEND_QUEUE_BYTES",
    "OPTION_NAMES",
    "ConnectOptions",
    "check_connect_options",
]

DEFAULT_MAX_QUEUE: Final = 1024
DEFAULT_MAX_SIZE: Final = 16 * 1024 * 1024
DEFAULT_SEND_QUEUE_BYTES: Final = 8 * 1024 * 1024
DEFAULT_OPEN_TIMEOUT: Final = 10.0
DEFAULT_CLOSE_TIMEOUT: Final = 5.0
DEFAULT_PING_INTERVAL: Final = 20.0
DEFAULT_PING_TIMEOUT: Final = 20.0


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    """The checked options. Times are seconds (``float``); ``None`` where allowed means "off"."""

    max_queue: int = DEFAULT_MAX_QUEUE
    """Events buffered for handlers/iteration before the socket is paused (>= 1)."""
    max_size: int = DEFAULT_MAX_SIZE
    """Largest server message accepted, in bytes (>= 1)."""
    send_queue_bytes: int = DEFAULT_SEND_QUEUE_BYTES
    """Bound of the outbound queue, in bytes (>= 1)."""
    open_timeout: float | None = DEFAULT_OPEN_TIMEOUT
    """Seconds for the whole opening (TCP connect, TLS, upgrade); ``None``: no limit."""
    close_timeout: float = DEFAULT_CLOSE_TIMEOUT
    """Seconds ``close()`` waits for the flush and the closing handshake (>= 0)."""
    ping_interval: float | None = DEFAULT_PING_INTERVAL
    """Idle seconds before a keepalive ping; ``None``: no keepalive."""
    ping_timeout: float | None = DEFAULT_PING_TIMEOUT
    """Seconds to wait for the pong before the peer is declared dead; ``None``: the default."""
    ssl: Any = None
    """``None``/``True``: verified TLS with the system CAs; ``False``: plain ``ws:`` only; or an
    ``ssl.SSLContext``."""
    reconnect: ReconnectPolicy | None = None
    """The reconnect policy (``reconnect=True`` gives the default one); ``None``: off."""


def _shown(value: object) -> str:
    if value is None or isinstance(value, bool | int | float):
        return f"got {value!r}"
    return f"got a {type(value).__name__}"


def _number(name: str, value: object, *, low: float, low_ok: bool, none: str | None) -> Any:
    """A finite int/float ``> low`` (``>= low`` when ``low_ok``), or ``None`` when ``none`` says
    what ``None`` means."""
    if value is None and none is not None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) or (
        math.isinf(value)
    ):
        ok = False
    else:
        ok = value >= low if low_ok else value > low
    if not ok:
        bound = f">= {low:g}" if low_ok else f"> {low:g}"
        also = f", or None ({none})" if none is not None else ""
        raise RealtimeConfigError(
            f"`{name}` must be a number of seconds {bound}{also}; {_shown(value)}."
        )
    return float(value)  # type: ignore[arg-type]


def _count(name: str, value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RealtimeConfigError(f"`{name}` must be an int >= 1 ({what}); {_shown(value)}.")
    return value


def _ssl(value: object) -> object:
    # ssl.SSLContext without importing ssl (the core imports no I/O module): its two wrappers
    if value is None or isinstance(value, bool):
        return value
    if callable(getattr(value, "wrap_socket", None)) and callable(getattr(value, "wrap_bio", None)):
        return value
    raise RealtimeConfigError(
        "`ssl` must be None or True (verified TLS), False (plain ws:// to loopback only) or an "
        f"ssl.SSLContext; {_shown(value)}."
    )


def _reconnect(value: object) -> ReconnectPolicy | None:
    if value is True:
        return ReconnectPolicy()
    if value is None or value is False:
        return None
    if isinstance(value, ReconnectPolicy):
        return value
    raise RealtimeConfigError(
        f"`reconnect` must be a ReconnectPolicy, True (the default policy) or False/None (off); "
        f"{_shown(value)}."
    )


_CHECKS: Final[dict[str, Callable[[object], Any]]] = {
    "max_queue": lambda v: _count("max_queue", v, "events buffered per session"),
    "max_size": lambda v: _count("max_size", v, "bytes per server message"),
    "send_queue_bytes": lambda v: _count("send_queue_bytes", v, "bytes of queued client events"),
    "open_timeout": lambda v: _number("open_timeout", v, low=0, low_ok=False, none="no limit"),
    "close_timeout": lambda v: _number("close_timeout", v, low=0, low_ok=True, none=None),
    "ping_interval": lambda v: _number(
        "ping_interval", v, low=0, low_ok=False, none="no keepalive"
    ),
    "ping_timeout": lambda v: _number(
        "ping_timeout", v, low=0, low_ok=False, none="the default, 20 s"
    ),
    "ssl": _ssl,
    "reconnect": _reconnect,
}

#: Every option name ``create()`` / ``azure()`` accept besides the target and credentials.
OPTION_NAMES: Final = frozenset(_CHECKS)


def check_connect_options(**options: object) -> ConnectOptions:
    """Check ``create()``'s options (as passed: omit the ones not given) and return them with
    defaults filled in. Raises :class:`RealtimeConfigError` naming the first bad option."""
    unknown = sorted(set(options) - OPTION_NAMES)
    if unknown:
        raise RealtimeConfigError(
            f"unknown option `{unknown[0]}`; expected one of: {', '.join(sorted(OPTION_NAMES))}."
        )
    checked = {name: _CHECKS[name](value) for name, value in options.items()}
    return ConnectOptions(**checked)
