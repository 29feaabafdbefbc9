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
