"""The generated event types (scripts/gen_types.py) against the spec's own examples and real frames."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

from openai_realtime_ws.types._generated import (
    CLIENT_EVENT_TYPES,
    SERVER_EVENT_TYPES,
    AudioFormat,
    ClientEvent,
    ConversationItem,
    ConversationItemAddedEvent,
    ErrorEvent,
    InputAudioBufferAppendEvent,
    ResponseCreateEvent,
    ResponseCreateParams,
    ResponseDoneEvent,
    ResponseOutputAudioDeltaEvent,
    ResponseOutputAudioTranscriptDeltaEvent,
    ServerEvent,
    Session,
    SessionAudioInputParam,
    SessionAudioParam,
    SessionCreatedEvent,
    SessionParam,
    SessionUpdateEvent,
)

REPO = Path(__file__).resolve().parents[2]
SPEC_DIR = REPO / "spec"  # vendored: the repository stands alone
SPEC_PATH = SPEC_DIR / "realtime-openapi-subset.json"
PROTOCOL_PATH = SPEC_DIR / "PROTOCOL.md"

needs_spec = pytest.mark.skipif(not SPEC_PATH.exists(), reason=f"{SPEC_PATH} not present")

SERVER_DECODER = msgspec.json.Decoder(ServerEvent)


def _spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return data


def _pascal_event(wire: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[._]", wire) if p) + "Event"


def _strip_js(text: str) -> str:
    """Drop // and /* */ comments and trailing commas outside strings (the spec's examples are
    JS-ish)."""
    out: list[str] = []
    i, n, in_str = 0, len(text), False
    while i < n:
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            in_str = c != '"'
            i += 1
            continue
        if c == '"':
            in_str = True
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        elif c == ",":
            j = i + 1
            while j < n and text[j].isspace():
                j += 1
            if j < n and text[j] in "}]":
                i += 1
                continue
        out.append(c)
        i += 1
    return "".join(out)


def _parse_examples(text: str) -> list[dict[str, Any]]:
    """Every top-level JSON object in an x-oaiMeta.example; [] when it cannot be parsed."""
    cleaned = _strip_js(text)
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    pos = 0
    try:
        while True:
            while pos < len(cleaned) and cleaned[pos].isspace():
                pos += 1
            if pos >= len(cleaned):
                return found
            value, pos = decoder.raw_decode(cleaned, pos)
            if isinstance(value, dict):
                found.append(value)
    except json.JSONDecodeError:
        return []


def _examples(kind: str) -> list[tuple[str, dict[str, Any]]]:
    spec = _spec()
    schemas = spec["components"]["schemas"]
    out: list[tuple[str, dict[str, Any]]] = []
    for wire, name in spec["event_types"][kind].items():
        example = schemas[name].get("x-oaiMeta", {}).get("example")
        if isinstance(example, str):
            out.extend((wire, obj) for obj in _parse_examples(example))
    return out


# ---- generator --------------------------------------------------------------------------------


@needs_spec
def test_generator_check_passes() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_types.py"), "--check", "--spec", str(SPEC_PATH)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@needs_spec
def test_event_tables_cover_the_spec() -> None:
    event_types = _spec()["event_types"]
    assert list(SERVER_EVENT_TYPES) == list(event_types["ga_server"])
    assert list(CLIENT_EVENT_TYPES) == list(event_types["ga_client"])
    assert len(SERVER_EVENT_TYPES) == event_types["ga_server_count"] == 46
    assert len(CLIENT_EVENT_TYPES) == event_types["ga_client_count"] == 11
    for wire, cls in [*SERVER_EVENT_TYPES.items(), *CLIENT_EVENT_TYPES.items()]:
        assert cls.__name__ == _pascal_event(wire)
        assert cls.__struct_config__.tag == wire


# ---- server events ----------------------------------------------------------------------------


@needs_spec
def test_every_server_example_decodes_to_its_class() -> None:
    examples = _examples("ga_server")
    assert len(examples) >= 40
    seen: set[str] = set()
    for wire, payload in examples:
        payload["type"] = str(payload["type"]).strip()  # the dtmf example has " input_audio…"
        event = SERVER_DECODER.decode(json.dumps(payload).encode())
        assert type(event) is SERVER_EVENT_TYPES[wire], wire
        assert type(event).__name__ == _pascal_event(wire)
        assert event.type == wire
        seen.add(wire)
    assert len(seen) >= 40


@pytest.mark.skipif(not PROTOCOL_PATH.exists(), reason="PROTOCOL.md not present")
def test_real_ga_response_done_frame_decodes() -> None:
    text = PROTOCOL_PATH.read_text(encoding="utf-8")
    match = re.search(r'`(\{"type":"response\.done",.*\})`', text)
    assert match is not None
    event = SERVER_DECODER.decode(match.group(1))
    assert isinstance(event, ResponseDoneEvent)
    response = event.response
    assert response.status == "completed"
    assert response.status_details is None
    assert response.metadata is None
    assert response.max_output_tokens == "inf"
    assert response.usage is not None and response.usage.total_tokens == 320
    assert response.output is not None
    item = response.output[0]
    assert isinstance(item, ConversationItem)
    assert item.content is not None and item.content[0].type == "output_audio"


def test_unknown_fields_and_obfuscation_are_ignored() -> None:
    frame = {
        "type": "response.output_audio_transcript.delta",
        "event_id": "event_abc",
        "response_id": "resp_1",
        "item_id": "item_1",
        "output_index": 0,
        "content_index": 0,
        "delta": "Hel",
        "obfuscation": "aLxx0jTEciOGe",
        "some_future_field": {"nested": [1, 2, 3]},
    }
    event = SERVER_DECODER.decode(json.dumps(frame))
    assert isinstance(event, ResponseOutputAudioTranscriptDeltaEvent)
    assert event.delta == "Hel"


def test_real_ga_nulls_and_new_enum_values_decode() -> None:
    created = {
        "type": "session.created",
        "event_id": "event_1",
        "session": {
            "type": "realtime",
            "object": "realtime.session",
            "id": "sess_1",
            "model": "gpt-realtime-next",  # an unknown model
            "output_modalities": ["audio"],
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "tracing": None,
            "prompt": None,
            "include": None,
            "truncation": "auto",
            "audio": {
                "input": {
                    "format": {"type": "audio/opus", "rate": 48000},  # a future format
                    "transcription": None,
                    "noise_reduction": None,
                    "turn_detection": {"type": "future_vad", "threshold": 0.5},
                },
                "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy"},
            },
        },
    }
    event = SERVER_DECODER.decode(json.dumps(created))
    assert isinstance(event, SessionCreatedEvent)
    assert isinstance(event.session, Session)
    audio = event.session.audio
    assert audio is not None and audio.input is not None and audio.output is not None
    assert audio.input.transcription is None
    assert isinstance(audio.input.format, AudioFormat) and audio.input.format.type == "audio/opus"
    assert audio.input.turn_detection is not None
    assert audio.input.turn_detection.type == "future_vad"

    transcription = {
        "type": "session.created",
        "event_id": "event_2",
        "session": {
            "type": "transcription",
            "object": "realtime.transcription_session",
            "id": "sess_2",
            "audio": {"input": {"transcription": None, "turn_detection": {"type": "server_vad"}}},
            "include": None,
        },
    }
    event = SERVER_DECODER.decode(json.dumps(transcription))
    assert isinstance(event, SessionCreatedEvent) and event.session.type == "transcription"

    added = {
        "type": "conversation.item.added",
        "event_id": "event_3",
        "previous_item_id": None,
        "item": {
            "id": "item_1",
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        },
    }
    event = SERVER_DECODER.decode(json.dumps(added))
    assert isinstance(event, ConversationItemAddedEvent)
    assert event.item.content is not None and event.item.content[0].transcript is None

    error = {
        "type": "error",
        "event_id": "event_4",
        "error": {
            "type": "invalid_request_error",
            "code": None,
            "message": "boom",
            "param": None,
            "event_id": None,
        },
    }
    event = SERVER_DECODER.decode(json.dumps(error))
    assert isinstance(event, ErrorEvent) and event.error.message == "boom"
    assert event.error.code is None


def test_output_audio_delta_audio_property() -> None:
    pcm = bytes(range(256)) * 4
    event = ResponseOutputAudioDeltaEvent(
        event_id="event_1",
        response_id="resp_1",
        item_id="item_1",
        output_index=0,
        content_index=0,
        delta=base64.b64encode(pcm).decode(),
    )
    assert event.audio == pcm
    decoded = SERVER_DECODER.decode(msgspec.json.encode(event))
    assert isinstance(decoded, ResponseOutputAudioDeltaEvent) and decoded.audio == pcm


# ---- client events ----------------------------------------------------------------------------


@needs_spec
def test_every_client_example_validates() -> None:
    examples = _examples("ga_client")
    assert len({wire for wire, _ in examples}) == 11
    for wire, payload in examples:
        event = msgspec.convert(payload, ClientEvent)
        assert type(event) is CLIENT_EVENT_TYPES[wire]
        assert event.type == wire
        # what we encode is what we were given
        assert json.loads(msgspec.json.encode(event)) == payload


def test_response_create_accepts_item_reference() -> None:
    payload = {
        "type": "response.create",
        "response": {
            "conversation": "none",
            "output_modalities": ["text"],
            "metadata": {"purpose": "summary"},
            "input": [
                {"type": "item_reference", "id": "item_123"},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]},
            ],
            "max_output_tokens": "inf",
            "tool_choice": {"type": "function", "name": "f"},
        },
    }
    event = msgspec.convert(payload, ClientEvent)
    assert isinstance(event, ResponseCreateEvent)
    assert isinstance(event.response, ResponseCreateParams)


@pytest.mark.parametrize(
    ("payload", "fragments"),
    [
        (
            {"type": "session.update", "session": {"type": "realtime", "instructions": 5}},
            ["$.session.instructions", "str"],
        ),
        (
            {"type": "session.update", "session": {"type": "realtime", "modalities": ["text"]}},
            ["modalities", "$.session"],
        ),
        ({"type": "session.update", "session": {"instructions": "hi"}}, ["type", "$.session"]),
        ({"type": "session.update", "session": {"type": "bogus"}}, ["bogus", "$.session"]),
        ({"type": "response.create", "response": {"max_output_tokens": "lots"}}, ["max_output_tokens"]),
        ({"type": "response.create", "event_id": "x" * 513}, ["$.event_id", "512"]),
        ({"type": "response.create", "bogus": 1}, ["bogus"]),
        (
            {"type": "conversation.item.create", "item": {"type": "message", "role": "robot"}},
            ["$.item.role"],
        ),
        (
            {
                "type": "session.update",
                "session": {"type": "realtime", "audio": {"output": {"speed": 9}}},
            },
            ["$.session.audio.output.speed"],
        ),
        ({"type": "conversation.item.truncate", "item_id": "i", "content_index": 0}, ["audio_end_ms"]),
    ],
)
def test_bad_client_events_name_the_path(payload: dict[str, Any], fragments: list[str]) -> None:
    with pytest.raises(msgspec.ValidationError) as info:
        msgspec.convert(payload, ClientEvent)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_client_encoding_omits_unset_and_keeps_explicit_null() -> None:
    assert msgspec.json.encode(ResponseCreateEvent()) == b'{"type":"response.create"}'
    update = SessionUpdateEvent(
        session=SessionParam(
            instructions="Be brief.",
            audio=SessionAudioParam(input=SessionAudioInputParam(turn_detection=None)),
        )
    )
    assert json.loads(msgspec.json.encode(update)) == {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "instructions": "Be brief.",
            "audio": {"input": {"turn_detection": None}},
        },
    }
    assert "event_id" not in json.loads(msgspec.json.encode(update))
    assert update.type == "session.update" and update.session.type == "realtime"


def test_input_audio_buffer_append_from_pcm() -> None:
    pcm = b"\x01\x02" * 480
    event = InputAudioBufferAppendEvent.from_pcm(pcm, event_id="c1")
    assert event.audio_bytes == pcm
    assert event.audio == base64.b64encode(pcm).decode()
    assert json.loads(msgspec.json.encode(event)) == {
        "type": "input_audio_buffer.append",
        "event_id": "c1",
        "audio": event.audio,
    }
    assert "event_id" not in json.loads(msgspec.json.encode(InputAudioBufferAppendEvent.from_pcm(pcm)))


# ---- limits the API enforces that the spec states only in prose (CLIENT_FIELD_LIMITS) -----------


@pytest.mark.parametrize(
    ("payload", "ok"),
    [
        ({"max_output_tokens": 1}, True),
        ({"max_output_tokens": 4096}, True),
        ({"max_output_tokens": "inf"}, True),
        ({"max_output_tokens": 0}, False),
        ({"max_output_tokens": 4097}, False),
        ({"output_modalities": ["text"]}, True),
        ({"output_modalities": ["audio"]}, True),
        ({"output_modalities": ["text", "audio"]}, False),
        ({"output_modalities": []}, False),
    ],
)
def test_client_field_limits(payload: dict[str, Any], ok: bool) -> None:
    from openai_realtime_ws.types import ClientEvent

    events = [
        {"type": "response.create", "response": payload},
        {"type": "session.update", "session": {"type": "realtime", **payload}},
    ]
    for event in events:
        if ok:
            msgspec.convert(event, ClientEvent)
        else:
            field = next(iter(payload))
            with pytest.raises(msgspec.ValidationError, match=field):
                msgspec.convert(event, ClientEvent)
