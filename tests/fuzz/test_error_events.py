"""API ``error`` events whose fields are not strings: formatting never raises, and the frame is
routed without error whatever the decoder makes of it."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from openai_realtime_ws.core.codec import ServerEventDecoder
from openai_realtime_ws.core.dispatch import Dispatcher
from openai_realtime_ws.core.errors import OpenAIRealtimeError, RealtimeAPIError, format_error_event
from openai_realtime_ws.types import ErrorEvent, ErrorEventError, UnknownServerEvent

from ._settings import FUZZ
from .strategies import json_values

DECODER = ServerEventDecoder()
FIELDS = ("type", "message", "code", "param", "event_id")

error_fields = st.fixed_dictionaries(
    {},
    optional={
        name: st.one_of(json_values(10), st.text(max_size=10), st.integers(), st.none())
        for name in FIELDS
    },
)


@FUZZ
@given(error_fields, json_values(4))
def test_from_event_formats_any_field_types(fields: dict[str, Any], event_id: Any) -> None:
    # Struct __init__ does not validate: this is an ErrorEvent as a lenient decoder or a user
    # could build it, with numbers, lists, objects or nulls in every field.
    error = ErrorEventError(**{"type": None, "message": None, **fields})
    event = ErrorEvent(event_id=event_id, error=error)
    exc = OpenAIRealtimeError.from_event(event)
    text = str(exc)
    assert isinstance(text, str) and isinstance(repr(exc), str)
    assert text == format_error_event(error)
    assert isinstance(exc, RealtimeAPIError) and exc.message in text
    for name in ("code", "param", "type", "event_id"):
        value = getattr(exc, name)
        assert value is None or isinstance(value, str)
    assert exc.error is error and exc.event is event
    for name in FIELDS:
        value = getattr(error, name)
        if isinstance(value, str):
            assert value in text


def test_format_error_event_without_error() -> None:
    assert format_error_event(None) == "unknown error"
    assert format_error_event(None, "fallback") == "fallback"


def test_unprintable_values_are_truncated_not_raised() -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    error = ErrorEventError(type=10**5000, message=deep, code={"a": [1.5, None]})  # type: ignore[arg-type]
    text = format_error_event(error)
    assert "code={'a': [1.5, None]}" in text


@FUZZ
@given(st.one_of(st.dictionaries(st.text(max_size=8), json_values(8), max_size=4), error_fields))
def test_from_raw_formats_any_error_object(error: Any) -> None:
    raw = {"type": "error", "event_id": "e", "error": error}
    exc = OpenAIRealtimeError.from_raw(raw)
    assert isinstance(str(exc), str) and isinstance(repr(exc), str)
    assert exc.error is not None and isinstance(exc.error.message, str)
    assert exc.code is None or isinstance(exc.code, str)
    assert exc.code == exc.error.code and exc.param == exc.error.param


@FUZZ
@given(error_fields, json_values(4), st.booleans())
def test_error_frames_route_without_error(
    fields: dict[str, Any], event_id: Any, with_error_handler: bool
) -> None:
    frame = msgspec.json.encode({"type": "error", "event_id": event_id, "error": fields})
    event = DECODER.decode(frame)
    seen: dict[str, list[Any]] = {"event": [], "error": []}
    dispatcher = Dispatcher(redact=lambda s: s.replace("secret", "***"))
    dispatcher.add("event", seen["event"].append)
    if with_error_handler:
        dispatcher.add("error", seen["error"].append)
    routing = dispatcher.route(event)
    for handler, arg in routing.calls:
        handler(arg)
    assert seen["event"] == [event]
    # typed or not (a non-string message/code/... fails typed decoding), an API error event is
    # an error: it reaches "error" handlers, or is reported as unhandled - never silent
    if with_error_handler:
        [err] = seen["error"]
        assert routing.unhandled is None
    else:
        err = routing.unhandled
    assert isinstance(err, OpenAIRealtimeError)
    assert "secret" not in err.message and err.args == (err.message,)
    assert isinstance(err, RealtimeAPIError)
    if isinstance(event, ErrorEvent):
        assert err.event is event
    else:
        assert isinstance(event, UnknownServerEvent) and event.decode_error


def test_error_event_with_numeric_code_reaches_error_handlers() -> None:
    # was: a gateway's `"code": 429` made an UnknownServerEvent that no "error" handler saw and
    # that was never reported as unhandled (docs/client.md: "never silent")
    frame = b'{"type":"error","event_id":"e1","error":{"type":"rate_limit","message":"slow down","code":429}}'
    routing = Dispatcher().route(DECODER.decode(frame))
    err = routing.unhandled
    assert isinstance(err, RealtimeAPIError)
    assert err.message == "slow down" and err.code == "429" and err.type == "rate_limit"
