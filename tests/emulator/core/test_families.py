# Sans-I/O unit tests of issue 10's core rules (no event loop, no socket): truncating a live item,
# the MCP bookkeeping with hand-fed McpResults (listing failure, re-listing, approvals), sideband
# playback timers, the depth limit, null handling and the memory bounds.
from __future__ import annotations

import base64
import json
from typing import Any

from openai_realtime_ws.emulator.core import EmulatorConfig
from openai_realtime_ws.emulator.core.actions import McpResult
from openai_realtime_ws.emulator.core.conversation import AudioStore
from openai_realtime_ws.emulator.core.session import TIMER_PLAYBACK, Session
from openai_realtime_ws.emulator.responder import ScriptedResponder, ToolCall

from ..helpers import user_text
from .drive import Driver, types

MCP = {"type": "mcp", "server_label": "calc", "server_url": "http://127.0.0.1:1/mcp", "require_approval": "never"}


def audio_session(**cfg: Any) -> Driver:
    d = Driver(EmulatorConfig(speed=0, **cfg))
    d.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}}})
    return d


def test_truncate_live_item_acknowledges_and_the_response_goes_on() -> None:
    d = audio_session()
    d.send(user_text("a long enough sentence to stream"))
    d.send({"type": "response.create"}, drain_streams=False)
    stream = d.streams.pop()
    events = d.pull(stream, limit=6)
    deltas = [e for e in events if e["type"] == "response.output_audio.delta"]
    assert deltas, types(events)
    item_id = deltas[0]["item_id"]
    generated = sum(len(base64.b64decode(e["delta"])) for e in deltas) // 48  # PCM16 24 kHz: 48 bytes/ms
    err = d.send({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0,
                  "audio_end_ms": generated + 1})[0]["error"]
    assert err["message"] == f"Audio content of {generated}ms is already shorter than {generated + 1}ms"
    out = d.send({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0,
                  "audio_end_ms": generated})
    assert types(out) == ["conversation.item.truncated"]  # no cancel: the client's response.cancel may follow
    rest = d.pull(stream)
    done = next(e for e in rest if e["type"] == "response.done")["response"]
    assert done["status"] == "completed"
    assert sum(len(base64.b64decode(e["delta"])) for e in deltas + rest
               if e["type"] == "response.output_audio.delta") // 48 > generated
    assert d.session.audio.ms(item_id) == generated  # the stored audio is cut at audio_end_ms
    stored = d.session.conversation.get(item_id)
    assert stored is not None and stored["content"][0]["transcript"] == ""


def listed(d: Driver, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    req = d.mcp_requests.pop()
    assert req.method == "tools/list" and req.then is not None
    return d.run(req.then(McpResult(tools=tools)))


def test_mcp_listing_failure_then_relisting_on_a_new_url() -> None:
    d = Driver(EmulatorConfig(speed=0))
    out = d.send({"type": "session.update", "session": {"type": "realtime", "tools": [MCP]}})
    assert types(out) == ["session.updated", "conversation.item.added", "mcp_list_tools.in_progress"]
    req = d.mcp_requests.pop()
    assert req.then is not None
    failed = d.run(req.then(McpResult(error={"type": "http_error", "code": 502, "message": "down"})))
    assert types(failed) == ["mcp_list_tools.failed", "conversation.item.done"]
    assert d.session.mcp_listed == {}
    same = d.send({"type": "session.update", "session": {"type": "realtime", "tools": [MCP]}})
    assert types(same) == ["session.updated"] and not d.mcp_requests  # same server: not listed again
    moved = {**MCP, "server_url": "http://127.0.0.1:2/mcp"}
    d.send({"type": "session.update", "session": {"type": "realtime", "tools": [moved]}})
    ok = listed(d, [{"name": "add", "input_schema": {"type": "object"}}])
    assert types(ok) == ["mcp_list_tools.completed", "conversation.item.done"]
    assert ok[-1]["item"]["tools"][0]["name"] == "add"


def test_mcp_approval_bookkeeping() -> None:
    responder = ScriptedResponder().on("add", tools=[ToolCall("add", {"a": 1})], then="done: {output}")
    d = Driver(EmulatorConfig(speed=0), responder=responder)
    d.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"],
                                                  "tools": [{**MCP, "require_approval": "always"}]}})
    listed(d, [{"name": "add", "input_schema": {}}])
    d.send(user_text("add please"))
    out = d.send({"type": "response.create"})
    request = out[-2]["response"]["output"][0]
    assert request["type"] == "mcp_approval_request" and json.loads(request["arguments"]) == {"a": 1}
    assert list(d.session.approvals) == [request["id"]]
    d.send({"type": "conversation.item.create", "item": {"type": "mcp_approval_response",
                                                         "approval_request_id": request["id"], "approve": True}})
    assert d.session.approvals == {}
    started = d.send({"type": "response.create"})
    assert types(started)[-1] == "response.mcp_call.in_progress"  # the stream waits for the call
    call = d.mcp_requests.pop()
    assert (call.method, call.name, call.arguments) == ("tools/call", "add", {"a": 1})
    # the driver does no I/O: the stream is parked on the request, as the shell would park it
    again = d.send({"type": "conversation.item.create", "item": {
        "type": "mcp_approval_response", "approval_request_id": request["id"], "approve": True}})
    assert again[0]["error"]["param"] == "item.approval_request_id"


def test_sideband_playback_timer_and_clear() -> None:
    d = Driver(EmulatorConfig(speed=2.0))
    d.session = Session(config=d.config, responder=d.session.responder, ids=d.session.ids, now=0.0,
                        model="gpt-realtime", call_id="rtc_1")
    d.send(user_text("hi"))
    out = d.send({"type": "response.create"})
    seq = types(out)
    assert seq.index("output_audio_buffer.started") == seq.index("response.content_part.added") + 1
    audio_ms = len("You said: hi") * 60
    assert d.timers[TIMER_PLAYBACK] == audio_ms / 1000 / 2.0
    assert types(d.fire(TIMER_PLAYBACK)) == ["output_audio_buffer.stopped"]
    assert d.send({"type": "output_audio_buffer.clear"})[0]["type"] == "error"  # nothing playing now


def test_depth_limit_and_required_nulls() -> None:
    d = Driver()
    deep = {"type": "response.create", "response": {"metadata": None, "instructions": None}}
    assert types(d.send(deep))[0] == "response.created"
    nested: Any = []
    for _ in range(70):
        nested = [nested]
    err = d.send({"type": "conversation.item.create", "event_id": "e", "item": nested})[0]["error"]
    assert (err["code"], err["event_id"]) == ("invalid_event", "e")


def test_audio_store_budget_keeps_durations() -> None:
    store = AudioStore(max_bytes=100)
    store.put_input("a", b"\0" * 96, "audio/pcm")
    store.put_input("b", b"\0" * 48, "audio/pcm")
    assert store.wire_bytes("a") is None and store.ms("a") == 2.0  # bytes dropped, duration kept
    assert store.wire_bytes("b") == b"\0" * 48 and store.bytes == 48
    store.cut("b", 0.5)
    assert store.wire_bytes("b") == b"\0" * 24
    store.pop("b")
    assert store.bytes == 0 and "b" not in store
