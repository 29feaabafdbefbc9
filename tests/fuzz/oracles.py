"""Checks shared by the property tests: what a decode result may look like."""

from __future__ import annotations

import re
from typing import Any

from openai_realtime_ws.core.errors import MalformedFrameError
from openai_realtime_ws.types import SERVER_EVENT_TYPES, ServerEventBase, UnknownServerEvent

from .strategies import MARKER

_KIND = r"(an array|a boolean|a number|a string|null|an object)"

#: Every message MalformedFrameError may carry: fixed text, a byte count and a JSON kind, never a
#: value from the frame.
MALFORMED_MESSAGE = re.compile(
    r"could not parse websocket event: (?:"
    r"not valid JSON \(\d+ bytes\)"
    r"|not valid UTF-8 \(\d+ bytes\)"
    r"|JSON nested too deeply"
    rf"|expected a JSON object, got {_KIND}"
    rf"|the 'type' field is (?:missing|{_KIND}, not a string)"
    r")"
)


def check_malformed(exc: MalformedFrameError) -> None:
    text, rep = str(exc), repr(exc)
    assert MALFORMED_MESSAGE.fullmatch(text), text
    assert MARKER not in text and MARKER not in rep
    # nor does any chained exception that a traceback (e.g. in a log line) would print. (A
    # suppressed __context__ may still hold msgspec's "Invalid value '<type>'"; not displayed.)
    chained = _displayed_cause(exc)
    while chained is not None:
        assert MARKER not in str(chained), type(chained)
        chained = _displayed_cause(chained)


def _displayed_cause(exc: BaseException) -> BaseException | None:
    """The next exception ``traceback.format_exception`` prints for ``exc``."""
    if exc.__cause__ is not None:
        return exc.__cause__
    return None if exc.__suppress_context__ else exc.__context__


def check_event(event: Any, raw: Any = None) -> None:
    """``event`` is a typed event or an UnknownServerEvent, consistent with its raw JSON."""
    assert isinstance(event, ServerEventBase | UnknownServerEvent), type(event)
    if isinstance(event, UnknownServerEvent):
        assert isinstance(event.type, str) and isinstance(event.raw, dict)
        assert event.raw.get("type") == event.type
        # decode_error is set exactly when the type is known but the shape is not
        assert (event.decode_error is not None) == (event.type in SERVER_EVENT_TYPES)
        if event.decode_error is not None:
            assert MARKER not in event.decode_error, event.decode_error
        if raw is not None:
            assert event.raw == raw
    else:
        assert isinstance(event, SERVER_EVENT_TYPES[event.type])
        if isinstance(raw, dict):
            assert raw["type"] == event.type
