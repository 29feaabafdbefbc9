"""The Sans-I/O rules: playback bookkeeping and barge-in events (core/playback.py), and the
one-active-response sequencer (core/responses.py). No event loop needed."""

from __future__ import annotations

from typing import Any

import pytest

from openai_realtime_ws.core.playback import PlaybackQueue, PlaybackStop, barge_in_events
from openai_realtime_ws.core.responses import ResponseSequencer, is_benign_error

MS = 48  # bytes per ms of PCM16 24 kHz


def test_queue_counts_heard_per_part_and_interrupt_drops_the_rest() -> None:
    q = PlaybackQueue()
    q.push("a", 0, bytes(300 * MS))
    q.push("b", 0, bytes(200 * MS))
    assert q.pull(120 * MS) == bytes(120 * MS)
    stop = q.interrupt()
    assert (stop.item_id, stop.heard_ms, stop.received_ms, stop.was_playing) == ("a", 120, 300, True)
    assert stop.dropped_ms == 380
    assert q.queued_bytes == 0
    assert q.pull(4) == b"\x00" * 4  # silence after the stop


def test_device_latency_is_not_heard() -> None:
    q = PlaybackQueue()
    q.push("a", 0, bytes(300 * MS))
    q.pull(200 * MS)
    stop = q.interrupt(latency_ms=30)
    assert stop.heard_ms == 170


def test_stop_between_parts_names_the_next_part() -> None:
    q = PlaybackQueue()
    q.push("a", 0, bytes(100 * MS))
    q.mark_complete("a")
    q.pull(100 * MS)
    q.push("b", 0, bytes(100 * MS))
    stop = q.interrupt()
    assert (stop.item_id, stop.heard_ms, stop.received_ms) == ("b", 0, 100)


def test_silence_byte_follows_the_format() -> None:
    assert PlaybackQueue("audio/pcmu").pull(3) == b"\xff\xff\xff"
    assert PlaybackQueue("audio/pcma").pull(1) == b"\xd5"
    with pytest.raises(ValueError, match="audio_format"):
        PlaybackQueue("audio/mp3")


def _stop(item: str | None, heard: int, received: int, complete: bool = False) -> PlaybackStop:
    return PlaybackStop(item, 0, heard, received, complete, 0.0, True)


def test_truncate_is_what_was_heard_never_more_than_received() -> None:
    assert barge_in_events(_stop("a", 640, 2000)) == [
        {"type": "conversation.item.truncate", "item_id": "a", "content_index": 0, "audio_end_ms": 640}]
    ev = barge_in_events(_stop("a", 5000, 2000))
    assert ev[0]["audio_end_ms"] == 2000


def test_nothing_heard_truncates_at_zero_when_audio_was_received() -> None:
    assert barge_in_events(_stop("a", 0, 300))[0]["audio_end_ms"] == 0


def test_nothing_received_deletes_the_unheard_item_instead_of_truncating() -> None:
    assert barge_in_events(_stop(None, 0, 0), unheard_item_id="x") == [
        {"type": "conversation.item.delete", "item_id": "x"}]


def test_fully_heard_complete_part_needs_no_truncate() -> None:
    assert barge_in_events(_stop("a", 900, 900, complete=True)) == []
    # still streaming (not complete): everything received was heard, the rest is cut
    assert barge_in_events(_stop("a", 900, 900))[0]["audio_end_ms"] == 900


def test_a_stop_in_one_reply_s_tail_also_truncates_the_next_reply_queued_behind_it() -> None:
    # the last 100 ms of reply a still queued when reply b's first audio arrives: a stop then
    # cuts a at what was heard and b at 0 (b was received, none of it heard)
    q = PlaybackQueue()
    q.push("a", 0, bytes(300 * MS))
    q.mark_complete("a")
    q.pull(200 * MS)
    q.push("b", 0, bytes(100 * MS))
    q.push("b", 1, bytes(50 * MS))
    stop = q.interrupt()
    assert (stop.item_id, stop.heard_ms, stop.received_ms) == ("a", 200, 300)
    assert stop.unheard_parts == (("b", 0), ("b", 1))
    part_b = q.part("b", 0)
    assert part_b is not None and part_b.played == 0
    assert barge_in_events(stop, unheard_item_id="b") == [
        {"type": "conversation.item.truncate", "item_id": "a", "content_index": 0, "audio_end_ms": 200},
        {"type": "conversation.item.truncate", "item_id": "b", "content_index": 0, "audio_end_ms": 0},
        {"type": "conversation.item.truncate", "item_id": "b", "content_index": 1, "audio_end_ms": 0},
    ]
    # a stop inside one part reports no other part
    q.push("c", 0, bytes(100 * MS))
    q.pull(10 * MS)
    assert q.interrupt().unheard_parts == ()


def _created(rid: str, conv: str | None = "conv_1") -> dict[str, Any]:
    return {"type": "response.created", "response": {"id": rid, "conversation_id": conv}}


def _done(rid: str) -> dict[str, Any]:
    return {"type": "response.done", "response": {"id": rid}}


def test_second_create_waits_for_the_active_response() -> None:
    seq = ResponseSequencer()
    first = seq.create()
    assert [e["type"] for e in first] == ["response.create"]
    assert seq.create({"instructions": "b"}) == []
    assert seq.on_event(_created("r1")) == []
    assert seq.active == "r1"
    nxt = seq.on_event(_done("r1"))
    assert nxt[0]["response"] == {"instructions": "b"}
    assert seq.busy


def test_identical_waiting_requests_are_merged() -> None:
    seq = ResponseSequencer()
    seq.create()
    seq.create()
    seq.create()
    assert seq.pending == 1


def test_out_of_band_responses_are_never_queued() -> None:
    seq = ResponseSequencer()
    seq.create()
    seq.on_event(_created("r1"))
    oob = seq.create({"conversation": "none", "output_modalities": ["text"]})
    assert len(oob) == 1
    assert seq.on_event(_created("r2", conv=None)) == []
    assert seq.active == "r1"


def test_server_vad_response_becomes_active_and_blocks_creates() -> None:
    seq = ResponseSequencer()
    seq.on_event(_created("vad1"))
    assert seq.create() == []
    assert seq.cancel() == [{"type": "response.cancel", "response_id": "vad1"}]
    assert len(seq.on_event(_done("vad1"))) == 1


def test_already_active_error_requeues_and_is_benign() -> None:
    seq = ResponseSequencer()
    sent = seq.create()[0]
    err = {"type": "error", "error": {"code": "conversation_already_has_active_response",
           "event_id": sent["event_id"],
           "message": "Conversation already has an active response in progress: resp_X. Wait."}}
    assert seq.on_event(err) == []
    assert seq.active == "resp_X" and seq.pending == 1 and seq.requeued == 1
    again = seq.on_event(_done("resp_X"))
    assert again[0]["type"] == "response.create" and again[0]["event_id"] != sent["event_id"]
    assert is_benign_error("conversation_already_has_active_response")
    assert is_benign_error("response_cancel_not_active")
    assert not is_benign_error("invalid_value")


def test_cancel_with_nothing_active_sends_nothing() -> None:
    assert ResponseSequencer().cancel() == []
