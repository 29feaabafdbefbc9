"""Reconnect policy, conversation state and the outbound queue (no event loop, no socket)."""

from __future__ import annotations

import random

import msgspec
import pytest

from openai_realtime_ws.core.conversation import Conversation
from openai_realtime_ws.core.errors import RealtimeConfigError
from openai_realtime_ws.core.reconnect import ReconnectPolicy, is_recoverable, session_restore_event
from openai_realtime_ws.core.sendqueue import OutboundQueue, QueueFull
from openai_realtime_ws.types import ServerEvent

decode = msgspec.json.Decoder(ServerEvent).decode


@pytest.mark.parametrize("code", [1001, 1005, 1006, 1011, 1012, 1013, 1015, None])
def test_recoverable_codes(code: int | None) -> None:
    assert is_recoverable(code)


@pytest.mark.parametrize("code", [1000, 1002, 1008, 3000, 4000, 4321])
def test_final_codes(code: int) -> None:
    assert not is_recoverable(code)


@pytest.mark.parametrize("err", ["invalid_api_key", "insufficient_quota"])
def test_fatal_error_beats_recoverable_close(err: str) -> None:
    assert not is_recoverable(1006, err)
    assert is_recoverable(1006, "rate_limit_exceeded")


def test_backoff_grows_caps_and_jitters() -> None:
    p = ReconnectPolicy(initial_delay=1, max_delay=8, factor=2, jitter=False)
    assert [p.delay(i) for i in range(1, 6)] == [1, 2, 4, 8, 8]
    j = ReconnectPolicy(initial_delay=1, max_delay=8, factor=2, jitter=True)
    rng = random.Random(7)
    for attempt in range(1, 6):
        d = j.delay(attempt, rng)
        base = min(8, 2 ** (attempt - 1))
        assert 0 <= d <= base
    # full jitter (what reconnect.py says): uniform over [0, base), not [base/2, base)
    samples = [j.delay(4, rng) for _ in range(2000)]
    assert min(samples) < 0.5 and max(samples) > 7.5
    assert sum(d < 4 for d in samples) > 800
    with pytest.raises(RealtimeConfigError):
        ReconnectPolicy(initial_delay=-1)
    with pytest.raises(ValueError):
        ReconnectPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        ReconnectPolicy(restore="everything")  # type: ignore[arg-type]


def test_session_restore_event_strips_read_only_and_keeps_meaningful_nulls() -> None:
    confirmed = {
        "type": "realtime",
        "object": "realtime.session",
        "id": "sess_1",
        "model": "gpt-realtime",
        "expires_at": 123,
        "instructions": "Be brief.",
        "prompt": None,
        "tracing": None,
        "audio": {"input": {"turn_detection": None, "transcription": None, "format": {"type": "audio/pcm", "rate": 24000}}},
    }
    event = session_restore_event(confirmed)
    assert event == {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "instructions": "Be brief.",
            "audio": {"input": {"turn_detection": None, "transcription": None, "format": {"type": "audio/pcm", "rate": 24000}}},
        },
    }
    assert session_restore_event({"id": "x"}) is None


def _ev(obj: dict[str, object]) -> object:
    return decode(msgspec.json.encode({"event_id": "event_1", **obj}))


def test_conversation_tracks_order_transcripts_deletes_and_restores() -> None:
    conv = Conversation()
    user = {"id": "u1", "type": "message", "role": "user", "status": "completed", "content": [{"type": "input_text", "text": "hi"}]}
    audio = {"id": "u2", "type": "message", "role": "user", "status": "completed", "content": [{"type": "input_audio", "transcript": None}]}
    asst = {"id": "a1", "type": "message", "role": "assistant", "status": "completed", "content": [{"type": "output_audio", "transcript": "hello!"}]}
    call = {"id": "f1", "type": "function_call", "status": "completed", "call_id": "call_1", "name": "get_weather", "arguments": "{}"}
    out = {"id": "o1", "type": "function_call_output", "call_id": "call_1", "output": "{\"t\":21}"}
    gone = {"id": "g1", "type": "message", "role": "user", "status": "completed", "content": [{"type": "input_text", "text": "delete me"}]}
    cut = {"id": "a2", "type": "message", "role": "assistant", "status": "completed", "content": [{"type": "output_audio", "transcript": "long"}]}
    first = {"id": "s0", "type": "message", "role": "system", "content": [{"type": "input_text", "text": "be nice"}]}
    prev = None
    for item in (user, audio, asst, call, out, gone, cut):
        conv.apply(_ev({"type": "conversation.item.added", "previous_item_id": prev, "item": item}))  # type: ignore[arg-type]
        conv.apply(_ev({"type": "conversation.item.done", "previous_item_id": prev, "item": item}))  # type: ignore[arg-type]
        prev = item["id"]
    conv.apply(_ev({"type": "conversation.item.added", "previous_item_id": "root", "item": first}))  # type: ignore[arg-type]
    conv.apply(_ev({"type": "conversation.item.input_audio_transcription.completed", "item_id": "u2", "content_index": 0, "transcript": "spoken words", "usage": {"type": "duration", "seconds": 1}}))  # type: ignore[arg-type]
    conv.apply(_ev({"type": "conversation.item.deleted", "item_id": "g1"}))  # type: ignore[arg-type]
    conv.apply(_ev({"type": "conversation.item.truncated", "item_id": "a2", "content_index": 0, "audio_end_ms": 100}))  # type: ignore[arg-type]
    assert [t.id for t in conv] == ["s0", "u1", "u2", "a1", "f1", "o1", "a2"]
    events = conv.restore_events()
    items = [e["item"] for e in events]
    assert [i["id"] for i in items] == ["s0", "u1", "u2", "a1", "f1", "o1"]  # a2 truncated: skipped
    assert items[2]["content"] == [{"type": "input_text", "text": "spoken words"}]
    assert items[3]["content"] == [{"type": "output_text", "text": "hello!"}]
    assert items[4]["name"] == "get_weather" and items[5]["output"] == "{\"t\":21}"
    assert "previous_item_id" not in events[0] and events[1]["previous_item_id"] == "s0"


def test_conversation_active_response() -> None:
    conv = Conversation()
    conv.apply(_ev({"type": "response.created", "response": {"id": "resp_1", "object": "realtime.response", "status": "in_progress", "conversation_id": "conv_1", "output": []}}))  # type: ignore[arg-type]
    assert conv.active_response_id == "resp_1"
    conv.apply(_ev({"type": "response.done", "response": {"id": "resp_1", "object": "realtime.response", "status": "completed", "conversation_id": "conv_1", "output": []}}))  # type: ignore[arg-type]
    assert conv.active_response_id is None


def test_outbound_queue_drops_oldest_audio_never_control() -> None:
    q = OutboundQueue(100)
    assert q.push(b"c" * 30, droppable=False) == 0
    assert q.push(b"a" * 30, droppable=True) == 0
    assert q.push(b"b" * 30, droppable=True) == 0
    assert q.push(b"d" * 30, droppable=False) == 1  # the oldest audio made room
    assert [x.data[:1] for x in q.drain()] == [b"c", b"b", b"d"]
    q = OutboundQueue(50)
    q.push(b"c" * 40, droppable=False)
    with pytest.raises(QueueFull):
        q.push(b"d" * 20, droppable=False)
    assert len(q) == 1 and q.nbytes == 40  # nothing queued by the refused push
    assert q.push(b"a" * 20, droppable=True) == 1  # no room for audio: the new chunk is dropped
    assert len(q) == 1
