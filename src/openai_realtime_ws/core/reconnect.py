"""Reconnect policy (no I/O here): which closes are worth retrying, how long to wait, and what
to re-send so that the new session continues the old one.

* :func:`is_recoverable` classifies a close: codes 1001, 1005, 1006, 1011, 1012, 1013, 1015 and
  network errors are recoverable (the set openai-python uses); 1000, 3000 (bad key), 4000 (beta
  shape) and any close that followed an ``invalid_api_key`` / ``insufficient_quota`` error are
  final.
* :meth:`ReconnectPolicy.delay` is exponential backoff with full jitter, capped; :func:`backoff`
  is the delays of every attempt, a plain iterator (as websockets' ``backoff()``).
* :func:`process_exception` is the verdict on a failed attempt (as websockets'
  ``process_exception``): ``None`` to try again, or the error to close with.
* :func:`session_restore_event` turns the session the server last confirmed into the
  ``session.update`` that re-applies it on a fresh session (read-only fields removed).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import (
    HandshakeError,
    OpenAIRealtimeError,
    RealtimeConfigError,
    RealtimeConnectionError,
)

__all__ = [
    "FATAL_ERROR_CODES",
    "RECOVERABLE_CLOSE_CODES",
    "ReconnectContext",
    "ReconnectPolicy",
    "backoff",
    "is_recoverable",
    "is_recoverable_status",
    "library_error",
    "process_exception",
    "session_restore_event",
]

RECOVERABLE_CLOSE_CODES = frozenset({1001, 1005, 1006, 1011, 1012, 1013, 1015})
FATAL_ERROR_CODES = frozenset(
    {"invalid_api_key", "insufficient_quota", "beta_api_shape_disabled", "model_not_found"}
)

Restore = Literal["none", "session", "conversation"]


def is_recoverable(close_code: int | None, last_error_code: str | None = None) -> bool:
    """Whether a connection that ended this way should be reopened."""
    if last_error_code in FATAL_ERROR_CODES:
        return False
    if close_code is None:  # a network error without a close frame
        return True
    return close_code in RECOVERABLE_CLOSE_CODES


def is_recoverable_status(status: int | None) -> bool:
    """Whether a reconnect attempt refused with this HTTP status is worth retrying: a refused
    credential (401, 403) is final; a server error, rate limit or redirect may pass."""
    return status not in (401, 403)


def process_exception(
    exc: Exception, redact: Callable[[str], str] = str
) -> OpenAIRealtimeError | None:
    """The verdict on a reconnect attempt that raised ``exc``: ``None`` when another attempt
    may succeed (a refused connection, a timeout, a retryable HTTP status), else the error to
    close the session with (a refused credential, a failing ``on_reconnect`` or token
    provider)."""
    if isinstance(exc, HandshakeError):
        return None if is_recoverable_status(exc.status) else exc
    if isinstance(exc, RealtimeConnectionError):
        return None
    return library_error(exc, "reconnect failed", redact)


def library_error(exc: Exception, what: str, redact: Callable[[str], str]) -> OpenAIRealtimeError:
    """``exc`` as this library's error (a foreign one wrapped, its text redacted)."""
    if isinstance(exc, OpenAIRealtimeError):
        return exc
    error = RealtimeConnectionError(f"{what}: {type(exc).__name__}: {redact(str(exc))[:300]}")
    error.__cause__ = exc
    return error


@dataclass
class ReconnectContext:
    """Handed to ``on_reconnect`` before each attempt; change ``headers``/``query`` in place."""

    attempt: int
    delay: float
    close_code: int | None
    close_reason: str
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)


OnReconnect = Callable[[ReconnectContext], "bool | Awaitable[bool | None] | None"]


@dataclass(frozen=True)
class ReconnectPolicy:
    """Opt-in reconnection (``create(..., reconnect=ReconnectPolicy(...))`` or ``reconnect=True``).

    ``restore``: ``"session"`` re-sends the last confirmed session configuration;
    ``"conversation"`` also re-creates the conversation's items; ``"none"`` restores nothing.
    ``rollover``: seconds before the session's ``expires_at`` at which the next session is opened
    and switched to between responses (``None``: off).
    ``on_reconnect(ctx)``: called (sync or async) before each attempt; return ``False`` to give up.
    """

    max_attempts: int = 8
    initial_delay: float = 0.25
    max_delay: float = 15.0
    factor: float = 2.0
    jitter: bool = True
    restore: Restore = "session"
    rollover: float | None = None
    on_reconnect: OnReconnect | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise RealtimeConfigError(
                f"ReconnectPolicy.max_attempts must be at least 1, got {self.max_attempts!r}"
            )
        if self.initial_delay < 0 or self.max_delay < 0 or self.factor < 1:
            raise RealtimeConfigError(
                "ReconnectPolicy: initial_delay and max_delay must be >= 0 and factor >= 1, got "
                f"initial_delay={self.initial_delay!r} max_delay={self.max_delay!r} "
                f"factor={self.factor!r}"
            )
        if self.restore not in ("none", "session", "conversation"):
            raise RealtimeConfigError(
                "ReconnectPolicy.restore must be 'none', 'session' or 'conversation', "
                f"got {self.restore!r}"
            )

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt ``attempt`` (1-based): ``initial_delay * factor **
        (attempt - 1)`` capped at ``max_delay``; with ``jitter``, a uniform random fraction of it
        ("full jitter"), so that many clients dropped at once do not retry in step."""
        base = min(self.max_delay, self.initial_delay * self.factor ** (attempt - 1))
        if not self.jitter:
            return base
        r = rng if rng is not None else random
        return r.random() * base  # full jitter: uniform in [0, base)


def backoff(policy: ReconnectPolicy, rng: random.Random | None = None) -> Iterator[float]:
    """The delay before each of ``policy.max_attempts`` attempts (see
    :meth:`ReconnectPolicy.delay`)."""
    for attempt in range(1, policy.max_attempts + 1):
        yield policy.delay(attempt, rng)


#: Keys of a confirmed session that a ``session.update`` may not carry.
_READ_ONLY = frozenset({"id", "object", "expires_at", "model", "client_secret"})
#: Keys whose ``null`` is meaningful in an update (it turns the feature off).
_NULL_MEANS_OFF = frozenset({"turn_detection", "transcription", "noise_reduction"})


def _clean(value: Any, key: str | None = None) -> Any:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if v is None and k not in _NULL_MEANS_OFF:
                continue
            out[k] = _clean(v, k)
        return out
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def session_restore_event(session: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``session.update`` that re-applies a confirmed session on a new connection."""
    body = {k: v for k, v in session.items() if k not in _READ_ONLY}
    if not body.get("type"):
        return None
    return {"type": "session.update", "session": _clean(body)}
