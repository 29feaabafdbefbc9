"""core/observe.py without an event loop: facts in (with times), records out."""

from __future__ import annotations

from openai_realtime_ws.core.observe import (
    ErrorRecord,
    InterruptionRecord,
    ReconnectRecord,
    ResponseRecord,
    SessionObserver,
    ToolRecord,
    TurnRecord,
)
from openai_realtime_ws.core.usage import TokenCounts


def test_a_response_its_first_chunk_and_its_tool_call() -> None:
    o = SessionObserver()
    assert o.response_created("r1", 100) == []
    assert o.part_added("r1", 130) == 30
    assert o.part_added("r1", 150) is None  # only the first part counts
    assert o.part_added("unknown", 150) is None
    o.tool_call("c1", "get_weather", "r1", 160)
    tokens = TokenCounts(input_text=10, output_audio=5)
    (done,) = o.response_done("r1", "completed", tokens, None, 200)
    assert done == ResponseRecord("r1", 100, 200, 130, "completed", tokens, None)
    assert o.item_added("message", None, 210) == []
    assert o.item_added("function_call_output", "other", 210) == []
    assert o.item_added("function_call_output", "c1", 220) == [
        ToolRecord("c1", "get_weather", "r1", 160, 220, True)]
    assert o.item_added("function_call_output", "c1", 230) == []  # paired once


def test_a_failed_response_carries_its_code() -> None:
    o = SessionObserver()
    o.response_created("r1", 0)
    (rec,) = o.response_done("r1", "failed", None, "server_error", 5)
    assert isinstance(rec, ResponseRecord) and rec.error_code == "server_error"
    o.response_created("r2", 0)
    (rec,) = o.response_done("r2", "failed", None, None, 5)
    assert isinstance(rec, ResponseRecord) and rec.error_code == "failed"
    (rec,) = o.response_done("r3", "cancelled", None, "ignored", 9)  # never created: starts at done
    assert isinstance(rec, ResponseRecord) and (rec.start, rec.error_code) == (9, None)


def test_a_drop_abandons_open_responses_a_rollover_does_not() -> None:
    o = SessionObserver()
    o.response_created("r1", 0)
    (abandoned,) = o.reconnecting(None, 1006, 10)
    assert isinstance(abandoned, ResponseRecord) and abandoned.status == "disconnected"
    assert o.reconnecting(None, 1006, 20) == []  # a second attempt
    assert o.reconnected({"attempt": 2}, 30) == [ReconnectRecord("reconnect", 1006, 2, 10, 30, True)]
    o.response_created("r2", 40)
    assert o.reconnecting("rollover", None, 50) == []  # the response goes on
    assert o.reconnected({"rollover": True}, 60) == [ReconnectRecord("rollover", None, 1, 50, 60, True)]
    (rec,) = o.response_done("r2", "completed", None, None, 70)
    assert isinstance(rec, ResponseRecord) and rec.start == 40


def test_turns_interruptions_errors_and_the_end() -> None:
    o = SessionObserver()
    assert o.turn("r1", 250.0, 1_000_000_000) == [TurnRecord("r1", 750_000_000, 1_000_000_000)]
    # without a player, a truncation is the interruption; once a player reports, it is
    assert o.truncated("i1", 620, 5) == [InterruptionRecord("i1", None, 620, None, 5)]
    assert o.interrupted("i2", "r2", 300, 1200, 6) == [InterruptionRecord("i2", "r2", 300, 1200, 6)]
    assert o.truncated("i2", 300, 7) == []
    assert o.error("item_not_found", "RealtimeAPIError", 8) == [ErrorRecord("item_not_found", 8)]
    assert o.error(None, "MalformedFrameError", 9) == [ErrorRecord("MalformedFrameError", 9)]
    o.response_created("r3", 10)
    o.tool_call("c1", "t", "r3", 11)
    o.reconnecting(None, 1011, 12)  # (abandons r3)
    end = o.end(20)
    assert end == [ToolRecord("c1", "t", "r3", 11, 20, False),
                   ReconnectRecord("reconnect", 1011, 1, 12, 20, False)]
    assert o.end(30) == []
