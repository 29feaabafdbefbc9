"""The library's one exception tree (no I/O here).

::

    OpenAIRealtimeError                      root: every error this library raises or emits
    ├── RealtimeConfigError (ValueError)     local misuse: bad option / URL / credentials
    ├── InvalidClientEvent (ValueError)      local misuse: send() refused an event (.field)
    ├── QueueFull                            the outbound queue is full; the event was not queued
    ├── HandlerError                         a user handler raised (.event_type; __cause__)
    ├── RealtimeAPIError                     an API ``error`` event (.code .param .type .client_event_id .error)
    ├── MalformedFrameError                  the server sent something that is not a Realtime event
    └── RealtimeConnectionError              the handshake or the transport failed
        ├── HandshakeError (.status)         HTTP status / redirect refused before the upgrade
        └── ConnectionClosed (.code .reason .unsent)
            ├── ConnectionClosedOK           normal close (1000, or closed by us)
            └── ConnectionClosedError        abnormal close (anything else, or no close frame)

What each attribute means (one meaning per name and class):

* ``.message`` (every class): the human-readable text, never a credential or a whole payload.
  On :class:`RealtimeAPIError` it is exactly the API's ``error.message``; ``str(exc)`` adds the
  other fields in parentheses, for logs and tracebacks.
* ``OpenAIRealtimeError.event_id`` (every class, as in openai-node): the unique id of the
  *server* event behind the error, i.e. the ``error`` event's own ``event_id`` on a
  :class:`RealtimeAPIError`, ``None`` on every other class.
* ``RealtimeAPIError.code`` / ``.param`` / ``.type`` / ``.client_event_id``: the API error
  object's fields (``str`` or ``None``), the same values as ``exc.error.code`` …
  ``exc.error.event_id``: ``client_event_id`` is the id of the *client* event that caused the
  error. ``.server_event_id`` is an older name of ``.event_id``. ``.error`` is the
  ``ErrorEventError`` and ``.event`` the whole ``ErrorEvent`` (``None`` when the frame did not
  match the spec and was reported from its raw fields). ``str(exc)`` adds the error object's
  fields, named as there (``event_id=`` is the client event's id).
* ``ConnectionClosed.code``: the WebSocket close code (``int``, ``None`` when the connection
  dropped without a close frame); ``.reason`` the close reason; ``.unsent`` the client events
  that were queued and never written.
* ``HandshakeError.status``: the HTTP status of the refused upgrade (``None`` when there was none).
  No other class has a ``.code``.

``on("error", handler)`` receives these exception objects: :class:`RealtimeAPIError` for an API
``error`` event, and the other classes for malformed frames, transport failures and handlers that
raised. ``wait_for("error")`` and iteration deliver server *events*: they give the
``ErrorEvent`` (whose ``.error`` has the same fields); :meth:`RealtimeAPIError.from_event` turns
it into the exception, with the same attribute values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..types import ErrorEvent, ErrorEventError

__all__ = [
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "HandlerError",
    "HandshakeError",
    "InvalidClientEvent",
    "MalformedFrameError",
    "OpenAIRealtimeError",
    "QueueFull",
    "RealtimeAPIError",
    "RealtimeConfigError",
    "RealtimeConnectionError",
    "format_error_event",
]

Redact = Callable[[str], str]


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


def _opt_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _details(type: str | None, code: str | None, param: str | None, event_id: str | None) -> str:
    parts = [
        f"{name}={value}"
        for name, value in (("type", type), ("code", code), ("param", param), ("event_id", event_id))
        if value is not None
    ]
    return f" ({' '.join(parts)})" if parts else ""


def format_error_event(error: ErrorEventError | None, fallback: str = "unknown error") -> str:
    """One line for an API error object: ``<message> (type=… code=… param=… event_id=…)``,
    naming only the fields that are set. This is ``str()`` of the matching
    :class:`RealtimeAPIError`."""
    if error is None:
        return fallback
    message = _text(error.message) if error.message is not None else ""
    return (message or fallback) + _details(
        _opt_text(error.type), _opt_text(error.code), _opt_text(error.param), _opt_text(error.event_id)
    )


class OpenAIRealtimeError(Exception):
    """Root of every error this library raises or hands to an ``"error"`` handler."""

    event_id: str | None = None
    """The unique id of the server event behind the error (openai-node's ``event_id``): the
    ``error`` event's own id on a :class:`RealtimeAPIError`, else ``None``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @classmethod
    def from_event(cls, event: ErrorEvent, redact: Redact | None = None) -> RealtimeAPIError:
        """Kept for compatibility: :meth:`RealtimeAPIError.from_event`."""
        return RealtimeAPIError.from_event(event, redact)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any], redact: Redact | None = None) -> RealtimeAPIError:
        """Kept for compatibility: :meth:`RealtimeAPIError.from_raw`."""
        return RealtimeAPIError.from_raw(raw, redact)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class RealtimeConfigError(OpenAIRealtimeError, ValueError):
    """Bad arguments (URL, target, credentials, options); raised before any connection is made."""


class InvalidClientEvent(OpenAIRealtimeError, ValueError):
    """``send()`` refused an event: it names the field and what was expected; nothing was sent."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class QueueFull(OpenAIRealtimeError):
    """The outbound queue cannot hold this control event; nothing was queued."""


class HandlerError(OpenAIRealtimeError):
    """A handler registered with ``on``/``once`` raised; the original exception is ``__cause__``."""

    def __init__(self, message: str, *, event_type: str) -> None:
        super().__init__(message)
        self.event_type = event_type


class RealtimeAPIError(OpenAIRealtimeError):
    """The API sent an ``error`` event. ``.message`` is the API's message; ``.code``, ``.param``,
    ``.type`` and ``.client_event_id`` are the error object's other fields (``str`` or ``None``;
    ``client_event_id`` is ``error.event_id``); ``.event_id`` is the id of the ``error`` event
    itself (as openai-node's ``OpenAIRealtimeError.event_id``); ``.error``/``.event`` the decoded
    objects (``None`` for an off-spec frame)."""

    def __init__(
        self,
        message: str,
        *,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        event_id: str | None = None,
        client_event_id: str | None = None,
        error: ErrorEventError | None = None,
        event: ErrorEvent | None = None,
    ) -> None:
        super().__init__(message)
        self.type = type
        self.code = code
        self.param = param
        self.event_id = event_id
        """The unique id of the server's ``error`` event (openai-node's ``event_id``)."""
        self.client_event_id = client_event_id
        """The id of the client event that caused the error (``error.event_id``), or ``None``."""
        self.error = error
        self.event = event

    @property
    def server_event_id(self) -> str | None:
        """The older name of :attr:`event_id` (the server ``error`` event's id)."""
        return self.event_id

    def __str__(self) -> str:
        return (self.message or "unknown error") + _details(
            self.type, self.code, self.param, self.client_event_id
        )

    @classmethod
    def from_event(cls, event: ErrorEvent, redact: Redact | None = None) -> RealtimeAPIError:
        """The exception for a decoded ``error`` event (every field turned into text, so a
        leniently built event never makes this raise); ``redact`` masks credentials in text."""
        error = event.error
        fields = (
            (error.message, error.type, error.code, error.param, error.event_id)
            if error is not None
            else (None, None, None, None, None)
        )
        server_id = event.event_id
        exc = cls._build(fields, server_id, redact)
        exc.error = error
        exc.event = event
        return exc

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any], redact: Redact | None = None) -> RealtimeAPIError:
        """An ``error`` event that did not match the spec (e.g. a numeric ``code``): every field
        is turned into text so that it is reported, never dropped."""
        from ..types import ErrorEventError

        err = raw.get("error")
        f = err if isinstance(err, Mapping) else {}
        fields = (f.get("message"), f.get("type"), f.get("code"), f.get("param"), f.get("event_id"))
        exc = cls._build(fields, raw.get("event_id"), redact)
        exc.error = ErrorEventError(
            type=exc.type or "unknown_error",
            message=exc.message,
            code=exc.code,
            param=exc.param,
            event_id=exc.client_event_id,
        )
        return exc

    @classmethod
    def _build(
        cls, fields: tuple[object, object, object, object, object], server_id: object, redact: Redact | None
    ) -> RealtimeAPIError:
        def text(value: object) -> str | None:
            if value is None:
                return None
            s = _text(value)
            return redact(s) if redact is not None else s

        message, type, code, param, client_event_id = (text(v) for v in fields)
        return cls(
            message or "",
            type=type,
            code=code,
            param=param,
            event_id=server_id if isinstance(server_id, str) else None,
            client_event_id=client_event_id,
        )


class MalformedFrameError(OpenAIRealtimeError):
    """A server frame that could not be decoded; the message never contains the payload."""


class RealtimeConnectionError(OpenAIRealtimeError):
    """The WebSocket could not be opened or was lost."""


class HandshakeError(RealtimeConnectionError):
    """The server refused the WebSocket upgrade (HTTP status, or a redirect that was not followed)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ConnectionClosed(RealtimeConnectionError):
    """The connection is closed. ``code`` is the WebSocket close code (``None``: no close frame),
    ``reason`` its reason, ``unsent`` the client events that were queued and never written.
    Catch this to handle both kinds; the raised object is always one of the two subclasses."""

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


class ConnectionClosedOK(ConnectionClosed):
    """A normal close: code 1000, or the close this side asked for. Not an error condition:
    iteration simply ends; ``send()`` after it raises this."""


class ConnectionClosedError(ConnectionClosed):
    """An abnormal close: any other close code, or the connection dropped without a close frame."""
