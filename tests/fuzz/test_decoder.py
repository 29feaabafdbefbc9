"""ServerEventDecoder on anything a server could send: a typed event, an UnknownServerEvent or a
payload-free MalformedFrameError, never another exception; valid events round-trip."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openai_realtime_ws.core.codec import ServerEventDecoder
from openai_realtime_ws.core.errors import MalformedFrameError
from openai_realtime_ws.types import SERVER_EVENT_TYPES, ServerEventBase, UnknownServerEvent

from ._settings import FUZZ
from .oracles import check_event, check_malformed
from .strategies import MARKER, frames, json_values, server_event_dicts

DECODER = ServerEventDecoder()


def decode_checked(frame: str | bytes | memoryview) -> Any:
    try:
        event = DECODER.decode(frame)
    except MalformedFrameError as exc:
        check_malformed(exc)
        return None
    check_event(event)
    return event


@FUZZ
@given(frames())
def test_any_frame_decodes_or_is_malformed(frame: str | bytes | memoryview) -> None:
    decode_checked(frame)


@FUZZ
@given(json_values())
def test_any_json_value(value: Any) -> None:
    data = msgspec.json.encode(value)
    event = decode_checked(data)
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        assert event is not None  # an object with a string type is never malformed
        if isinstance(event, UnknownServerEvent):
            assert event.raw == value
    else:
        assert event is None


@FUZZ
@given(frames())
def test_str_bytes_and_memoryview_agree(frame: str | bytes | memoryview) -> None:
    data = frame.encode("utf-8", "surrogatepass") if isinstance(frame, str) else bytes(frame)
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return
    results = [decode_checked(f) for f in (text, data, memoryview(data))]
    assert results[0] == results[1] == results[2]


@FUZZ
@given(server_event_dicts(mutate=True))
def test_known_types_with_random_fields(raw: dict[str, Any]) -> None:
    event = decode_checked(msgspec.json.encode(raw))
    assert event is not None
    check_event(event, raw if isinstance(event, UnknownServerEvent) else None)
    assert event.type == raw["type"]


@FUZZ
@given(server_event_dicts(mutate=False))
def test_valid_events_round_trip(raw: dict[str, Any]) -> None:
    event = DECODER.decode(msgspec.json.encode(raw))
    # the generator only writes spec-conforming events: they take the typed fast path
    assert isinstance(event, SERVER_EVENT_TYPES[raw["type"]]), event
    again = DECODER.decode(msgspec.json.encode(event))
    assert again == event
    assert msgspec.json.encode(again) == msgspec.json.encode(event)


@FUZZ
@given(
    st.text(min_size=1, max_size=30).filter(lambda t: t not in SERVER_EVENT_TYPES),
    st.dictionaries(st.text(max_size=8), json_values(10), max_size=5),
)
def test_unknown_events_keep_raw_and_round_trip(etype: str, fields: dict[str, Any]) -> None:
    raw = {**fields, "type": etype}
    event = DECODER.decode(msgspec.json.encode(raw))
    assert isinstance(event, UnknownServerEvent) and event.decode_error is None
    assert event.raw == raw
    assert DECODER.decode(msgspec.json.encode(event.raw)) == event


def test_spec_drift_is_described_without_values(caplog: pytest.LogCaptureFixture) -> None:
    frame = msgspec.json.encode(
        {"type": "response.output_text.delta", "event_id": MARKER, "delta": [MARKER]}
    )
    event = DECODER.decode(frame)
    assert isinstance(event, UnknownServerEvent) and event.decode_error
    assert MARKER not in event.decode_error
    assert MARKER not in caplog.text


# ---- regressions for what these properties found (fixed in src/ since) ----------------------


@pytest.mark.parametrize("depth", [999, 1000, 5000, 100_000])
def test_deeply_nested_frame_is_malformed(depth: int) -> None:
    # was: msgspec's RecursionError escaped decode() (a 2 KB frame from the server)
    frame = b'{"type":"x","a":' + b"[" * depth + b"]" * depth + b"}"
    with pytest.raises(MalformedFrameError) as info:
        DECODER.decode(frame)
    check_malformed(info.value)


@pytest.mark.parametrize("frame", ['{"type":"x","a":"\ud800"}', "\udfff", '{"type":"error\udc80"}'])
def test_str_frame_with_lone_surrogate_is_malformed(frame: str) -> None:
    # was: UnicodeEncodeError escaped decode(str)
    with pytest.raises(MalformedFrameError) as info:
        DECODER.decode(frame)
    check_malformed(info.value)


def test_typed_result_is_a_server_event_base() -> None:
    event = DECODER.decode(b'{"type":"input_audio_buffer.cleared","event_id":"e"}')
    assert isinstance(event, ServerEventBase) and event.type == "input_audio_buffer.cleared"
