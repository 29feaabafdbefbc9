"""The library's one exception tree (no I/O here).

::

    OpenAIRealtimeError                 every error this library raises or emits
    ├── RealtimeConfigError (ValueError)   bad arguments: URL, model/call_id/intent, credentials
    ├── InvalidClientEvent (ValueError)    send() refused an event; nothing was written
    ├── MalformedFrameError                a server frame that is not a JSON object with a string type
    ├── HandlerError                       a user handler raised; the original is ``__cause__``
    └── RealtimeConnectionError            the handshake or the transport failed
        ├── HandshakeError                 HTTP status / redirect refused before the upgrade
        └── ConnectionClosedError          the socket closed; ``code``, ``reason``, ``unsent``

``OpenAIRealtimeError`` itself is what an API ``error`` event becomes: ``.error`` holds the
event's ``error`` object (``type``, ``code``, ``message``, ``param``, ``event_id``) and
``.event_id`` the server event's id. Messages never carry a credential or a whole payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..types import ErrorEvent, ErrorEventError

__all__ = [
    "ConnectionClosedError",
    "HandlerError",
    "HandshakeError",
    "InvalidClientEvent",
    "MalformedFrameError",
    "OpenAIRealtimeError",
    "RealtimeConfigError",
    "RealtimeConnectionError",
    "format_error_event",
]


def _text(value: object) -> str:
    """Format any JSON value safely (error fields are not always strings on the wire)."""
    if value is None:
        return "None"
    if isinstance(value, str):
        return value
    try:
        return repr(value)[:200]
    except Exception:  # pragma: no cover - repr of a JSON value does not fail
        return "<unprintable>"


def format_error_event(error: ErrorEventError | None, fallback: str = "unknown error") -> str:
    """The seed's message shape: ``<message> code=<code> param=<param> type=<type> event_id=<id>``."""
    if error is None:
        return fallback
    return (
        f"{_text(error.message)} code={_text(error.code)} param={_text(error.param)} "
        f"type={_text(error.type)} event_id={_text(error.event_id)}"
    )


class OpenAIRealtimeError(Exception):
    """An error from the Realtime API (an ``error`` event) or from this library."""

    def __init__(self, message: str, event: ErrorEvent | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.event = event
        self.error: ErrorEventError | None = event.error if event is not None else None
        self.event_id: str | None = event.event_id if event is not None else None
        code = self.error.code if self.error is not None else None
        self.code: str | int | None = code if isinstance(code, str) else None
        """``error.code`` of an API error (a close code on :class:`ConnectionClosedError`)."""

    @classmethod
    def from_event(cls, event: ErrorEvent) -> OpenAIRealtimeError:
        return cls(format_error_event(event.error), event)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> OpenAIRealtimeError:
        """An ``error`` event that did not match the spec (e.g. a numeric ``code``): every field
        is turned into text so that it is reported, never dropped."""
        from ..types import ErrorEventError

        err = raw.get("error")
        fields = err if isinstance(err, Mapping) else {}

        def text(key: str) -> str | None:
            value = fields.get(key)
            return None if value is None else _text(value)

        error = ErrorEventError(
            type=text("type") or "unknown_error",
            message=text("message") or "",
            code=text("code"),
            param=text("param"),
            event_id=text("event_id"),
        )
        instance = cls(format_error_event(error))
        instance.error = error
        event_id = raw.get("event_id")
        instance.event_id = event_id if isinstance(event_id, str) else None
        instance.code = error.code
        return instance

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class RealtimeConfigError(OpenAIRealtimeError, ValueError):
    """Bad arguments (URL, target, credentials); raised before any connection is made."""


class InvalidClientEvent(OpenAIRealtimeError, ValueError):
    """``send()`` refused an event: it names the field and what was expected; nothing was sent."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class MalformedFrameError(OpenAIRealtimeError):
    """A server frame that could not be decoded; the message never contains the payload."""


class HandlerError(OpenAIRealtimeError):
    """A handler registered with ``on``/``once`` raised; the original exception is ``__cause__``."""

    def __init__(self, message: str, *, event_type: str) -> None:
        super().__init__(message)
        self.event_type = event_type


class RealtimeConnectionError(OpenAIRealtimeError):
    """The WebSocket could not be opened or was lost."""


class HandshakeError(RealtimeConnectionError):
    """The server refused the WebSocket upgrade (HTTP status, or a redirect that was not followed)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ConnectionClosedError(RealtimeConnectionError):
    """The connection closed. ``unsent`` holds client events that were queued and never written."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        reason: str = "",
        unsent: list[Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.unsent: list[Any] = unsent if unsent is not None else []
