"""Handler registry and the dispatch order (no I/O here).

Rules owned here:

* ``on(type, h)`` / ``once`` / ``off``; the special type ``"event"`` receives every server event
  *before* its specific handlers; ``"error"`` receives :class:`OpenAIRealtimeError` objects (API
  ``error`` events, malformed frames, transport failures, handlers that raised) and never the raw
  ``ErrorEvent`` (that still reaches ``"event"`` handlers and iteration).
* Handlers of one event run in registration order; events are routed in arrival order. Whether a
  handler's result is awaited is the shell's business: :meth:`Dispatcher.route` only says *who*
  gets *what*.
* An error with no ``"error"`` handler is *unhandled*: the shell logs it and raises it from the
  next iteration step, ``wait_for`` or ``close``.
* Library events (``reconnecting``, ``reconnected``, and ``frame``: the raw text of each server
  message) go to their handlers only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ..types import AnyServerEvent, ErrorEvent, UnknownServerEvent
from .errors import OpenAIRealtimeError, RealtimeAPIError

__all__ = ["SPECIAL_TYPES", "Dispatcher", "Handler", "Routing"]

Handler = Callable[[Any], object]

#: Most event types whose handler plan is cached (the API has about 50).
_MAX_PLANS = 512

#: Types that are not server event types.
SPECIAL_TYPES = frozenset({"event", "error", "frame", "reconnecting", "reconnected"})


@dataclass(slots=True)
class Routing:
    """The calls one event causes, in order, and the error nobody listens to (if any)."""

    calls: list[tuple[Handler, Any]] = field(default_factory=list)
    unhandled: OpenAIRealtimeError | None = None
    error: OpenAIRealtimeError | None = None  # the library error this routing delivers, if any


class Dispatcher:
    """Who listens to what. Mutations during a dispatch apply to the next event."""

    __slots__ = ("_fast", "_handlers", "_redact")

    @property
    def plans(self) -> dict[str, tuple[Handler, ...] | None]:
        """The cache :meth:`fast_handlers` fills (one dict, cleared on every change): hot paths
        may read it directly and call :meth:`fast_handlers` on a miss."""
        return self._fast

    def __init__(self, redact: Callable[[str], str] | None = None) -> None:
        # type -> list of (handler, once); copied on write so routing may iterate safely
        self._handlers: dict[str, list[tuple[Handler, bool]]] = {}
        self._redact = redact
        # type -> the handlers one event of that type gets ("event" ones first), or None when
        # a once-handler is involved; rebuilt lazily after any change
        self._fast: dict[str, tuple[Handler, ...] | None] = {}

    def fast_handlers(self, type: str) -> tuple[Handler, ...] | None:
        """The handlers for a plain (non-error) event of ``type``, in order, when routing it
        needs no bookkeeping; ``None`` means: use :meth:`route`."""
        try:
            return self._fast[type]
        except KeyError:
            pass
        if len(self._fast) >= _MAX_PLANS:  # a server inventing types cannot grow it
            self._fast.clear()
        catch_all = self._handlers.get("event", ())
        specific = self._handlers.get(type, ())
        plan: tuple[Handler, ...] | None
        if type in SPECIAL_TYPES or any(o for _, o in catch_all) or any(o for _, o in specific):
            plan = None
        else:
            plan = tuple(h for h, _ in catch_all) + tuple(h for h, _ in specific)
        self._fast[type] = plan
        return plan

    def add(self, type: str, handler: Handler, *, once: bool = False) -> None:
        if not isinstance(type, str) or not type:
            raise TypeError(f"event type must be a non-empty str, got {type!r}")
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {handler.__class__.__name__}")
        self._handlers[type] = [*self._handlers.get(type, ()), (handler, once)]
        self._fast.clear()

    def remove(self, type: str, handler: Handler | None = None) -> None:
        """Remove ``handler`` (every registration of it) or, with no handler, all of ``type``."""
        self._fast.clear()
        if handler is None:
            self._handlers.pop(type, None)
            return
        kept = [(h, o) for h, o in self._handlers.get(type, ()) if h != handler]
        if kept:
            self._handlers[type] = kept
        else:
            self._handlers.pop(type, None)

    def has(self, type: str) -> bool:
        return bool(self._handlers.get(type))

    def _take(self, type: str) -> list[Handler]:
        entries = self._handlers.get(type)
        if not entries:
            return []
        if any(once for _, once in entries):
            self._fast.clear()
            kept: list[tuple[Handler, bool]] = [(h, o) for h, o in entries if not o]
            if kept:
                self._handlers[type] = kept
            else:
                del self._handlers[type]
        return [h for h, _ in entries]

    def route(self, event: AnyServerEvent) -> Routing:
        """The calls for one server event: ``"event"`` handlers, then the specific ones."""
        routing = Routing()
        calls = routing.calls
        for h in self._take("event"):
            calls.append((h, event))
        if isinstance(event, ErrorEvent) or (
            isinstance(event, UnknownServerEvent) and event.type == "error"
        ):
            error: RealtimeAPIError
            if isinstance(event, ErrorEvent):
                error = RealtimeAPIError.from_event(event, self._redact)
                if error.error is not None and error.error.message != error.message:
                    # the exception's copies of the event carry the redacted message too
                    # (the server event itself still reaches "event" handlers as sent)
                    redacted = msgspec.structs.replace(error.error, message=error.message)
                    error.error = redacted
                    error.event = msgspec.structs.replace(event, error=redacted)
            else:  # an error event off the spec (e.g. a numeric code): still an error
                error = RealtimeAPIError.from_raw(event.raw, self._redact)
            self._route_error_into(routing, error)
        elif event.type not in SPECIAL_TYPES and not (
            isinstance(event, UnknownServerEvent) and event.decode_error is not None
        ):
            # (a server frame named like a library event — "event", "reconnecting"… — reaches
            # "event" handlers only: a server cannot fake library events)
            # a known type that failed typed decoding skips its typed handlers (they would get
            # an object of the wrong class); "event" handlers and iteration still see it
            for h in self._take(event.type):
                calls.append((h, event))
        return routing

    def route_error(self, error: OpenAIRealtimeError) -> Routing:
        """The calls for a library-side error (bad frame, transport failure, handler failure)."""
        routing = Routing()
        self._route_error_into(routing, error)
        return routing

    def route_local(self, type: str, payload: Any) -> Routing:
        """The calls for a library event such as ``reconnecting``."""
        return Routing(calls=[(h, payload) for h in self._take(type)])

    def _route_error_into(self, routing: Routing, error: OpenAIRealtimeError) -> None:
        routing.error = error
        handlers = self._take("error")
        if handlers:
            routing.calls.extend((h, error) for h in handlers)
        else:
            routing.unhandled = error
