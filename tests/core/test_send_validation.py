"""Client events are validated as the API does, before a byte is produced (core.codec; no event
loop): the error names the field and what was expected."""

from __future__ import annotations

import base64
from typing import Any

import msgspec
import pytest

from openai_realtime_ws.core.codec import ClientEventEncoder
from openai_realtime_ws.core.errors import InvalidClientEvent

ENC = ClientEventEncoder()


@pytest.mark.parametrize("bad", ["AAAA", 123, None, [1, 2], {"a": 1}, 1.5])
def test_send_audio_needs_bytes_like(bad: Any) -> None:
    with pytest.raises(InvalidClientEvent, match="`audio` must be bytes-like") as info:
        ENC.encode_audio(bad)
    assert info.value.field == "audio"
    assert type(bad).__name__ in str(info.value)


def test_send_audio_str_says_what_to_do() -> None:
    with pytest.raises(InvalidClientEvent, match="a str is not audio"):
        ENC.encode_audio("c2VjcmV0")  # type: ignore[arg-type]


@pytest.mark.parametrize("pcm", [b"\x00\x01" * 480, bytearray(b"\x02" * 10), memoryview(b"\x03" * 7)])
def test_send_audio_bytes_like_is_base64(pcm: bytes | bytearray | memoryview) -> None:
    data = msgspec.json.decode(ENC.encode_audio(pcm, "evt_1"))
    assert data["type"] == "input_audio_buffer.append" and data["event_id"] == "evt_1"
    assert base64.b64decode(data["audio"]) == bytes(pcm)


@pytest.mark.parametrize("event_id", [5, "x" * 513])
def test_send_audio_event_id_checked(event_id: Any) -> None:
    with pytest.raises(InvalidClientEvent, match="`event_id` must be a str of at most 512") as info:
        ENC.encode_audio(b"\x00\x00", event_id)
    assert info.value.field == "event_id"


def test_audio_as_base64_str_goes_through_send() -> None:
    # send() with a dict keeps the API's own form: `audio` is a base64 string there
    data = ENC.encode({"type": "input_audio_buffer.append", "audio": "AAAA"})
    assert b'"audio":"AAAA"' in data
    with pytest.raises(InvalidClientEvent) as info:
        ENC.encode({"type": "input_audio_buffer.append", "audio": 5})
    assert info.value.field == "audio"


# the API's rules for responses and sessions (PROTOCOL.md §7; the generated strict types carry
# them since types-errors' "CLIENT_FIELD_LIMITS"; checked here through the encoder send() uses)


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"type": "response.create", "response": {"output_modalities": ["text", "audio"]}},
         "response.output_modalities"),
        ({"type": "response.create", "response": {"output_modalities": []}},
         "response.output_modalities"),
        ({"type": "response.create", "response": {"output_modalities": ["video"]}},
         "response.output_modalities"),
        ({"type": "response.create", "response": {"max_output_tokens": -5}},
         "response.max_output_tokens"),
        ({"type": "response.create", "response": {"max_output_tokens": 0}},
         "response.max_output_tokens"),
        ({"type": "response.create", "response": {"max_output_tokens": 4097}},
         "response.max_output_tokens"),
        ({"type": "response.create", "response": {"max_output_tokens": "infinite"}},
         "response.max_output_tokens"),
        ({"type": "session.update", "session": {"type": "realtime",
                                                "output_modalities": ["audio", "text"]}},
         "session.output_modalities"),
        ({"type": "session.update", "session": {"type": "realtime", "max_output_tokens": -1}},
         "session.max_output_tokens"),
    ],
)
def test_api_rules_refused_with_the_field(event: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidClientEvent) as info:
        ENC.encode(event)
    assert info.value.field is not None and info.value.field.startswith(field), info.value.field


@pytest.mark.parametrize(
    "response",
    [{"output_modalities": ["text"]}, {"output_modalities": ["audio"]}, {"max_output_tokens": 1},
     {"max_output_tokens": 4096}, {"max_output_tokens": "inf"}],
)
def test_api_rules_accept_valid_values(response: dict[str, Any]) -> None:
    assert ENC.encode({"type": "response.create", "response": response})
