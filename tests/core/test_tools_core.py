"""ToolRouter (no event loop): which calls a response asks for, and the answering events."""

from __future__ import annotations

import msgspec

from openai_realtime_ws.core.tools import Tool, ToolRouter
from openai_realtime_ws.types import ResponseDoneEvent


def done(status: str, *items: dict[str, object]) -> ResponseDoneEvent:
    return msgspec.json.decode(
        msgspec.json.encode({"type": "response.done", "event_id": "e", "response": {
            "id": "r", "object": "realtime.response", "status": status, "output": list(items),
            "output_modalities": ["text"]}}),
        type=ResponseDoneEvent,
    )


def call(name: str, args: str, call_id: str = "call_1") -> dict[str, object]:
    return {"type": "function_call", "id": "i", "name": name, "call_id": call_id, "arguments": args}


def test_calls_only_for_registered_tools_of_completed_responses() -> None:
    router = ToolRouter()
    router.register(Tool("a", handler=lambda: None))
    ev = done("completed", call("a", '{"x": 1}'), call("unknown", "{}", "c2"),
              call("a", "not json", "c3"), call("a", "[1]", "c4"))
    got = router.calls(ev)
    assert [(c.call_id, c.arguments, c.error) for c in got] == [
        ("call_1", {"x": 1}, None),
        ("c3", {}, "arguments are not JSON"),
        ("c4", {}, "arguments are not a JSON object"),
    ]
    assert router.calls(done("cancelled", call("a", "{}"))) == []


def test_output_events_and_follow_up() -> None:
    router = ToolRouter()
    c = router.calls(done("completed", call("t", "{}")))  # not registered: nothing
    assert c == []
    router.register(Tool("t", handler=lambda: None, description="d"))
    (c0,) = router.calls(done("completed", call("t", "{}")))
    assert router.output_event(c0, "plain")["item"]["output"] == "plain"
    assert router.output_event(c0, {"k": [1]})["item"]["output"] == '{"k":[1]}'
    assert router.error_event(c0, "bad")["item"]["output"] == '{"error":"bad"}'
    assert router.follow_up(0) == []
    assert router.follow_up(1, ["text"]) == [
        {"type": "response.create", "response": {"output_modalities": ["text"]}}
    ]
    router.auto_respond = False
    assert router.follow_up(2) == []
    assert router.schemas() == [{"type": "function", "name": "t", "description": "d",
                                 "parameters": {"type": "object", "properties": {}}}]
