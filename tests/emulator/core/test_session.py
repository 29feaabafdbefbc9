# Unit tests of the Sans-I/O session: frames in, events out, no event loop, no socket.
from __future__ import annotations

import json
import re
from typing import Any

import pytest

from openai_realtime_ws.emulator.core import EmulatorConfig
from openai_realtime_ws.emulator.core.audio import silence, synth_audio
from openai_realtime_ws.emulator.core.session import TIMER_EXPIRE, TIMER_IDLE
from openai_realtime_ws.emulator.responder import Reply, ScriptedResponder, ToolCall, TurnContext

from ..helpers import TEXT_SEQUENCE, b64, collapse, user_text
from .drive import Driver, types

EVENT_ID = re.compile(r"^event_[A-Za-z0-9]{21}$")


def text_session(**cfg: Any) -> Driver:
    d = Driver(EmulatorConfig(speed=0, **cfg))
    d.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"],
                                                  "audio": {"input": {"turn_detection": None}}}})
    return d


# --- session.created / session.update -----------------------------------------------------

def test_session_created_is_first_with_ga_defaults() -> None:
    d = Driver()
    assert types(d.created) == ["session.created"]
    s = d.created[0]["session"]
    assert EVENT_ID.match(d.created[0]["event_id"])
    assert s["type"] == "realtime" and s["object"] == "realtime.session" and s["id"].startswith("sess_")
    assert s["output_modalities"] == ["audio"] and s["max_output_tokens"] == "inf"
    assert s["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert s["audio"]["input"]["turn_detection"] == {
        "type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 200,
        "idle_timeout_ms": None, "create_response": True, "interrupt_response": True}
    assert s["expires_at"] == (1_700_000_000 + 3600)
    assert d.timers[TIMER_EXPIRE] == 3600.0


def test_conversation_created_is_optional() -> None:
    d = Driver(EmulatorConfig(send_conversation_created=True))
    assert types(d.created) == ["session.created", "conversation.created"]
    assert d.created[1]["conversation"]["id"].startswith("conv_")


def test_session_update_merges_and_returns_full_config() -> None:
    d = Driver()
    ev = d.send({"type": "session.update", "event_id": "c1", "session": {
        "type": "realtime", "instructions": "Be brief.", "output_modalities": ["text"],
        "audio": {"input": {"turn_detection": None}, "output": {"voice": "marin"}}}})
    assert types(ev) == ["session.updated"]
    s = ev[0]["session"]
    assert s["instructions"] == "Be brief." and s["output_modalities"] == ["text"]
    assert s["audio"]["input"]["turn_detection"] is None
    assert s["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}  # kept: field-wise merge
    assert s["audio"]["output"]["voice"] == "marin" and s["audio"]["output"]["speed"] == 1.0
    assert "c1" not in json.dumps(ev)  # client event_id not echoed
    ev = d.send({"type": "session.update", "session": {"type": "realtime", "instructions": ""}})
    assert ev[0]["session"]["instructions"] == ""


@pytest.mark.parametrize(("session", "code", "param", "message"), [
    ({"instructions": "x"}, "missing_required_parameter", "session.type",
     "Missing required parameter: 'session.type'."),
    ({"type": "realtime", "modalities": ["text"]}, "unknown_parameter", "session.modalities",
     "Unknown parameter: 'session.modalities'."),
    ({"type": "realtime", "audio": {"input": {"vad": 1}}}, "unknown_parameter", "session.audio.input.vad",
     "Unknown parameter: 'session.audio.input.vad'."),
    ({"type": "realtime", "output_modalities": ["video"]}, "invalid_value", "session.output_modalities[0]",
     "Invalid value: 'video'. Supported values are: 'text', and 'audio'."),
    ({"type": "realtime", "audio": {"input": {"turn_detection": {"type": "loud"}}}}, "invalid_value",
     "session.audio.input.turn_detection.type", None),
    ({"type": "realtime", "audio": {"output": {"speed": 3}}}, "decimal_above_max_value",
     "session.audio.output.speed", None),
    ({"type": "realtime", "instructions": 5}, "invalid_type", "session.instructions",
     "Invalid type for 'session.instructions': expected a string, but got an integer instead."),
    ({"type": "transcription"}, "invalid_value", "session.type",
     "Passing a transcription session update event to a realtime session is not allowed."),
])
def test_session_update_errors_reject_whole_update(session: dict[str, Any], code: str, param: str,
                                                    message: str | None) -> None:
    d = Driver()
    before = json.dumps(d.session.state, sort_keys=True)
    ev = d.send({"type": "session.update", "event_id": "evt_42", "session": {**session, "instructions": "CHANGED"}
                 if "instructions" not in session else session})
    assert types(ev) == ["error"]
    err = ev[0]["error"]
    assert (err["code"], err["param"], err["event_id"], err["type"]) == (code, param, "evt_42", "invalid_request_error")
    if message:
        assert err["message"] == message
    assert json.dumps(d.session.state, sort_keys=True) == before


def test_voice_cannot_change_after_audio() -> None:
    d = Driver()
    d.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}}})
    d.send(user_text("hello"))
    d.send({"type": "response.create"})
    ev = d.send({"type": "session.update", "event_id": "v", "session": {"type": "realtime",
                                                                        "audio": {"output": {"voice": "cedar"}}}})
    assert ev[0]["error"]["code"] == "cannot_update_voice"


# --- malformed events --------------------------------------------------------------------

def test_invalid_event_and_unknown_type() -> None:
    d = Driver()
    ev = d.send("{not json")
    assert ev[0]["error"]["code"] == "invalid_event" and ev[0]["error"]["event_id"] is None
    ev = d.send({"event_id": "e7"})
    assert ev[0]["error"] == {"type": "invalid_request_error", "code": "invalid_event",
                              "message": "The 'type' field is missing.", "param": "type", "event_id": "e7"}
    ev = d.send({"type": "scooby.dooby.doo", "event_id": "e8"})
    err = ev[0]["error"]
    assert err["code"] == "invalid_value" and err["param"] == "type" and err["event_id"] == "e8"
    assert err["message"].startswith("Invalid value: 'scooby.dooby.doo'. Supported values are: 'session.update',")
    assert "'response.cancel'" in err["message"] and "output_audio_buffer.clear" not in err["message"]
    ev = d.send("[1, 2]")
    assert ev[0]["error"]["code"] == "invalid_event"
    ev = d.run(d.session.receive(b"\x00\x01", 0, binary=True))
    assert ev[0]["error"]["code"] == "invalid_event"
    ev = d.send({"type": "response.cancel", "event_id": "e9", "bogus": 1})
    assert (ev[0]["error"]["code"], ev[0]["error"]["param"]) == ("unknown_parameter", "bogus")


# --- conversation items --------------------------------------------------------------------

def test_item_create_ordering_and_previous_item_id() -> None:
    d = text_session()
    a = d.send(user_text("a"))
    assert types(a) == ["conversation.item.added", "conversation.item.done"]
    a_id = a[0]["item"]["id"]
    assert a[0]["previous_item_id"] is None and a[0]["item"]["status"] == "completed"
    b = d.send({**user_text("b"), "previous_item_id": "root"})
    assert b[0]["previous_item_id"] is None
    c = d.send({"type": "conversation.item.create", "previous_item_id": a_id,
                "item": {"id": "item_custom", "type": "message", "role": "system",
                         "content": [{"type": "input_text", "text": "c"}]}})
    assert c[0]["previous_item_id"] == a_id and c[0]["item"]["id"] == "item_custom"
    order = [it["content"][0]["text"] for it in d.session.conversation.items]
    assert order == ["b", "a", "c"]
    err = d.send({**user_text("x"), "previous_item_id": "item_nope", "event_id": "p"})[0]["error"]
    assert (err["code"], err["param"], err["event_id"]) == ("item_create_invalid_previous_item_id", "previous_item_id", "p")
    err = d.send({"type": "conversation.item.create", "item": {"id": "item_custom", "type": "message", "role": "user",
                                                                "content": [{"type": "input_text", "text": "dup"}]}})[0]["error"]
    assert err["code"] == "item_create_duplicate_item_id"
    err = d.send({"type": "conversation.item.create", "item": {"type": "message", "role": "robot", "content": []}})[0]["error"]
    assert (err["code"], err["param"]) == ("invalid_value", "item.role")


def test_retrieve_delete_and_their_errors() -> None:
    d = text_session()
    item_id = d.send(user_text("keep me"))[0]["item"]["id"]
    got = d.send({"type": "conversation.item.retrieve", "item_id": item_id})
    assert types(got) == ["conversation.item.retrieved"] and got[0]["item"]["content"][0]["text"] == "keep me"
    assert d.send({"type": "conversation.item.delete", "item_id": item_id}) [0] == {
        "type": "conversation.item.deleted", "event_id": d.session.ids._stem + f"{d.session.ids._counter:08x}",
        "item_id": item_id}
    for kind in ("retrieve", "delete"):
        err = d.send({"type": f"conversation.item.{kind}", "item_id": item_id, "event_id": kind})[0]["error"]
        assert err == {"type": "invalid_request_error", "code": f"item_{kind}_invalid_item_id",
                       "message": f"Item with item_id not found: {item_id}", "param": "item_id", "event_id": kind}


def test_truncate_assistant_audio() -> None:
    d = Driver()
    d.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}}})
    user_id = d.send(user_text("hello world"))[0]["item"]["id"]
    resp = d.send({"type": "response.create"})
    item = resp[-2]["response"]["output"][0]
    audio_ms = sum(1 for e in resp if e["type"] == "response.output_audio.delta")
    assert audio_ms > 0
    ev = d.send({"type": "conversation.item.truncate", "event_id": "t1", "item_id": item["id"], "content_index": 0,
                 "audio_end_ms": 100})
    assert ev[0] == {"type": "conversation.item.truncated", "event_id": ev[0]["event_id"], "item_id": item["id"],
                     "content_index": 0, "audio_end_ms": 100}
    got = d.send({"type": "conversation.item.retrieve", "item_id": item["id"]})[0]["item"]
    assert got["content"][0]["transcript"] == ""
    assert len(got["content"][0]["audio"]) == 100 * 48 * 4 // 3  # 100 ms of PCM16 24 kHz, base64
    err = d.send({"type": "conversation.item.truncate", "event_id": "t2", "item_id": item["id"], "content_index": 0,
                  "audio_end_ms": 999_999})[0]["error"]
    assert (err["code"], err["param"], err["event_id"]) == ("invalid_value", "audio_end_ms", "t2")
    assert "already shorter than 999999ms" in err["message"]
    err = d.send({"type": "conversation.item.truncate", "item_id": user_id, "content_index": 0, "audio_end_ms": 0})[0]["error"]
    assert (err["code"], err["message"]) == ("unsupported_content_type", "Only model output audio messages can be truncated")
    err = d.send({"type": "conversation.item.truncate", "item_id": "item_x", "content_index": 0, "audio_end_ms": 0})[0]["error"]
    assert err["code"] == "item_truncate_invalid_item_id" and err["message"] == "Item with item_id not found: item_x"


# --- input audio buffer --------------------------------------------------------------------

def test_commit_needs_100ms() -> None:
    d = text_session()
    err = d.send({"type": "input_audio_buffer.commit", "event_id": "c0"})[0]["error"]
    assert err["code"] == "input_audio_buffer_commit_empty" and err["event_id"] == "c0"
    assert err["message"] == ("Error committing input audio buffer: buffer too small. Expected at least 100ms of "
                              "audio, but buffer only has 0.00ms of audio.")
    d.send({"type": "input_audio_buffer.append", "audio": b64(silence(50))})
    err = d.send({"type": "input_audio_buffer.commit", "event_id": "c1"})[0]["error"]
    assert "only has 50.00ms of audio" in err["message"]
    assert d.send({"type": "input_audio_buffer.append", "audio": b64(silence(50))}) == []
    ev = d.send({"type": "input_audio_buffer.commit", "event_id": "c2"})
    assert types(ev) == ["input_audio_buffer.committed", "conversation.item.added", "conversation.item.done"]
    assert ev[1]["item"]["content"] == [{"type": "input_audio", "transcript": None}]
    assert ev[0]["item_id"] == ev[1]["item"]["id"]
    # the 100 ms count restarts after a commit, and clear empties the buffer
    d.send({"type": "input_audio_buffer.append", "audio": b64(silence(200))})
    assert types(d.send({"type": "input_audio_buffer.clear"})) == ["input_audio_buffer.cleared"]
    assert d.send({"type": "input_audio_buffer.commit"})[0]["error"]["code"] == "input_audio_buffer_commit_empty"


def test_commit_g711_counts_8_bytes_per_ms() -> None:
    d = Driver()
    d.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "format": {"type": "audio/pcmu"}, "turn_detection": None}}}})
    d.send({"type": "input_audio_buffer.append", "audio": b64(b"\xff" * 800)})
    assert types(d.send({"type": "input_audio_buffer.commit"}))[0] == "input_audio_buffer.committed"


# --- responses -------------------------------------------------------------------------------

def test_text_response_sequence_and_usage() -> None:
    d = text_session()
    d.send(user_text("hi there"))
    ev = d.send({"type": "response.create", "response": {"metadata": {"k": "v"}}})
    assert collapse(types(ev)) == TEXT_SEQUENCE
    deltas = "".join(e["delta"] for e in ev if e["type"] == "response.output_text.delta")
    assert deltas == "You said: hi there"
    done = ev[-2]["response"]
    assert done["status"] == "completed" and done["status_details"] is None and done["metadata"] == {"k": "v"}
    assert done["output"][0]["content"] == [{"type": "output_text", "text": "You said: hi there"}]
    assert done["conversation_id"].startswith("conv_") and done["id"].startswith("resp_")
    u = done["usage"]
    assert u["output_tokens"] == u["output_token_details"]["text_tokens"] == 5  # 18 chars / 4
    assert u["total_tokens"] == u["input_tokens"] + u["output_tokens"]
    assert u["input_tokens"] == sum(u["input_token_details"][k] for k in ("text_tokens", "audio_tokens", "image_tokens"))
    created = ev[0]["response"]
    assert created["status"] == "in_progress" and created["output"] == [] and created["usage"] is None
    rl = ev[-1]["rate_limits"][0]
    assert rl["name"] == "tokens" and rl["remaining"] == rl["limit"] - u["total_tokens"]
    # the assistant item joined the conversation after the user item
    added = next(e for e in ev if e["type"] == "conversation.item.added")
    assert added["previous_item_id"] == d.session.conversation.items[0]["id"]


def test_audio_response_sequence() -> None:
    d = Driver()
    d.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}}})
    d.send(user_text("book a table"))
    ev = d.send({"type": "response.create"})
    assert collapse(types(ev)) == [
        "response.created", "response.output_item.added", "conversation.item.added", "response.content_part.added",
        *(["response.output_audio_transcript.delta", "response.output_audio.delta"] * 5),
        "response.output_audio.done", "response.output_audio_transcript.done", "response.content_part.done",
        "response.output_item.done", "conversation.item.done", "response.done", "rate_limits.updated"]
    assert ev[3]["part"] == {"type": "audio", "transcript": ""}
    transcript = "You said: book a table"
    assert next(e for e in ev if e["type"] == "response.output_audio_transcript.done")["transcript"] == transcript
    done = ev[-2]["response"]
    assert done["output"][0]["content"] == [{"type": "output_audio", "transcript": transcript}]
    ms = len(transcript) * 60  # tone code: 60 ms per character
    assert done["usage"]["output_token_details"] == {"text_tokens": 6, "audio_tokens": -(-ms // 50)}
    assert done["audio"]["output"] == {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy"}


def test_function_call_then_tool_output_answer() -> None:
    responder = ScriptedResponder().on(r"weather in (\w+)", tools=[ToolCall("get_weather", {"city": r"\1"})],
                                       then="It is {output} there.")
    d = Driver(EmulatorConfig(speed=0), responder=responder)
    d.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"],
                                                  "audio": {"input": {"turn_detection": None}},
                                                  "tools": [{"type": "function", "name": "get_weather",
                                                             "parameters": {"type": "object"}}]}})
    d.send(user_text("What is the weather in Paris?"))
    ev = d.send({"type": "response.create"})
    assert types(ev) == ["response.created", "response.output_item.added", "conversation.item.added",
                         "response.function_call_arguments.delta", "response.function_call_arguments.done",
                         "response.output_item.done", "conversation.item.done", "response.done",
                         "rate_limits.updated"]
    call = ev[4]
    assert call["name"] == "get_weather" and json.loads(call["arguments"]) == {"city": "Paris"}
    assert re.match(r"^call_[A-Za-z0-9]{16}$", call["call_id"])
    assert ev[5]["item"]["status"] == "completed" and ev[5]["item"]["arguments"] == call["arguments"]
    out = d.send({"type": "conversation.item.create", "item": {"type": "function_call_output",
                                                              "call_id": call["call_id"], "output": "21C and sunny"}})
    assert types(out) == ["conversation.item.added", "conversation.item.done"]
    ev = d.send({"type": "response.create"})
    assert ev[-2]["response"]["output"][0]["content"][0]["text"] == "It is 21C and sunny there."


def test_one_in_band_response_and_cancel_errors() -> None:
    d = text_session()
    d.send(user_text("hello"))
    d.send({"type": "response.create"}, drain_streams=False)
    stream = d.streams.pop()
    first = d.pull(stream, limit=2)
    assert types(first)[:2] == ["response.created", "response.output_item.added"]
    resp_id = first[0]["response"]["id"]
    err = d.send({"type": "response.create", "event_id": "r2"})[0]["error"]
    assert err["code"] == "conversation_already_has_active_response" and err["event_id"] == "r2"
    assert err["message"] == (f"Conversation already has an active response in progress: {resp_id}. "
                              "Wait until the response is finished before creating a new one.")
    ev = d.send({"type": "response.cancel", "event_id": "x"})
    assert types(ev) == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                         "conversation.item.done", "response.done", "rate_limits.updated"]
    done = ev[-2]["response"]
    assert done["status"] == "cancelled" and done["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    assert done["output"][0]["status"] == "incomplete"
    assert d.pull(stream) == []  # the stream stops after a cancel
    err = d.send({"type": "response.cancel", "event_id": "again"})[0]["error"]
    assert err == {"type": "invalid_request_error", "code": "response_cancel_not_active",
                   "message": "Cancellation failed: no active response found", "param": None, "event_id": "again"}


def test_cancel_mid_audio_closes_open_parts() -> None:
    d = Driver()
    d.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}}})
    d.send(user_text("a fairly long sentence to speak"))
    d.send({"type": "response.create"}, drain_streams=False)
    stream = d.streams.pop()
    d.pull(stream, limit=4)
    ev = d.send({"type": "response.cancel"})
    assert types(ev) == ["response.output_audio.done", "response.output_audio_transcript.done",
                         "response.content_part.done", "response.output_item.done", "conversation.item.done",
                         "response.done", "rate_limits.updated"]
    assert ev[1]["transcript"] == "You"  # only the first word was sent before the cancel
    assert ev[-2]["response"]["output"][0]["content"] == [{"type": "output_audio", "transcript": "You"}]


def test_out_of_band_response_runs_in_parallel_without_item_events() -> None:
    seen: list[TurnContext] = []

    class Spy:
        def respond(self, turn: TurnContext) -> Reply:
            seen.append(turn)
            return Reply(text="summary")

    d = Driver(EmulatorConfig(speed=0), responder=Spy())
    d.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"],
                                                  "audio": {"input": {"turn_detection": None}}}})
    item_id = d.send(user_text("first"))[0]["item"]["id"]
    d.send({"type": "response.create"}, drain_streams=False)
    ev = d.send({"type": "response.create", "response": {
        "conversation": "none", "metadata": {"purpose": "summary"}, "instructions": "Summarize.",
        "input": [{"type": "item_reference", "id": item_id},
                  {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "sum up"}]}]}})
    assert "conversation.item.added" not in types(ev) and "conversation.item.done" not in types(ev)
    done = ev[-2]["response"]
    assert done["conversation_id"] is None and done["metadata"] == {"purpose": "summary"}
    assert seen[1].out_of_band and seen[1].instructions == "Summarize." and seen[1].last_user_text == "sum up"
    assert len(d.session.conversation) == 1  # the out-of-band output stayed out of the conversation
    assert d.session.active is not None  # the in-band response is still running


def test_max_output_tokens_makes_response_incomplete() -> None:
    d = text_session()
    d.send(user_text("one two three four five six seven eight nine ten"))
    ev = d.send({"type": "response.create", "response": {"max_output_tokens": 3}})
    done = ev[-2]["response"]
    assert done["status"] == "incomplete"
    assert done["status_details"] == {"type": "incomplete", "reason": "max_output_tokens"}
    assert done["output"][0]["status"] == "incomplete" and done["usage"]["output_tokens"] <= 3


def test_tool_choice_none_suppresses_calls() -> None:
    responder = ScriptedResponder().on("call", tools=[ToolCall("f")])
    d = Driver(EmulatorConfig(speed=0), responder=responder)
    d.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"],
                                                  "tool_choice": "none", "audio": {"input": {"turn_detection": None}}}})
    d.send(user_text("call it"))
    ev = d.send({"type": "response.create"})
    assert "response.function_call_arguments.done" not in types(ev)


# --- VAD ------------------------------------------------------------------------------------

def speak(d: Driver, text: str, *, lead: int = 200, tail: int = 400, chunk_ms: int = 40) -> list[dict[str, Any]]:
    audio = synth_audio(text, lead_silence_ms=lead, tail_silence_ms=tail)
    step = 48 * chunk_ms
    out: list[dict[str, Any]] = []
    for i in range(0, len(audio), step):
        out.extend(d.send({"type": "input_audio_buffer.append", "audio": b64(audio[i:i + step])}))
    return out


def test_server_vad_turn_with_transcription_and_response() -> None:
    d = Driver()
    d.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"],
                                                  "include": ["item.input_audio_transcription.logprobs"],
                                                  "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}}}})
    ev = speak(d, "book a table")
    t = types(ev)
    assert t[:5] == ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                     "input_audio_buffer.committed", "conversation.item.added", "conversation.item.done"]
    started, stopped = ev[0], ev[1]
    assert started["item_id"] == stopped["item_id"] == ev[2]["item_id"]
    assert started["audio_start_ms"] == 0  # 200 ms lead silence < 300 ms prefix padding
    assert stopped["audio_end_ms"] == 200 + 12 * 60 + 200  # speech end + silence_duration_ms
    assert ev[3]["item"]["content"][0]["transcript"] is None
    deltas = [e["delta"] for e in ev if e["type"] == "conversation.item.input_audio_transcription.delta"]
    assert "".join(deltas) == "book a table"
    completed = next(e for e in ev if e["type"] == "conversation.item.input_audio_transcription.completed")
    assert completed["transcript"] == "book a table" and completed["usage"]["type"] == "tokens"
    assert [p["token"] for p in completed["logprobs"]] == ["book", " a", " table"]
    text = "".join(e["delta"] for e in ev if e["type"] == "response.output_text.delta")
    assert text == "You said: book a table"
    assert t[-2:] == ["response.done", "rate_limits.updated"]


def test_vad_without_create_response() -> None:
    d = Driver()
    d.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": {
        "type": "server_vad", "create_response": False, "silence_duration_ms": 300}}}}})
    ev = speak(d, "hi")
    assert types(ev) == ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                         "input_audio_buffer.committed", "conversation.item.added", "conversation.item.done"]
    assert ev[1]["audio_end_ms"] == 200 + 2 * 60 + 300


def test_barge_in_cancels_with_turn_detected() -> None:
    d = Driver()
    d.send({"type": "session.update", "session": {"type": "realtime"}})
    d.send(user_text("tell me a long story please"))
    d.send({"type": "response.create"}, drain_streams=False)
    d.pull(d.streams.pop(), limit=3)
    audio = synth_audio("stop", lead_silence_ms=0)
    ev = d.send({"type": "input_audio_buffer.append", "audio": b64(audio[: 48 * 100])})
    t = types(ev)
    assert t[0] == "input_audio_buffer.speech_started"
    assert t[1:] == ["response.output_audio.done", "response.output_audio_transcript.done", "response.content_part.done",
                     "response.output_item.done", "conversation.item.done", "response.done", "rate_limits.updated"]
    assert ev[-2]["response"]["status_details"] == {"type": "cancelled", "reason": "turn_detected"}


def test_semantic_vad_and_no_interrupt() -> None:
    d = Driver()
    d.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": {
        "type": "semantic_vad", "eagerness": "high", "interrupt_response": False, "create_response": False}}}}})
    d.send(user_text("hello"))
    d.send({"type": "response.create"}, drain_streams=False)
    ev = speak(d, "hey", tail=300)
    assert "response.done" not in types(ev) and types(ev)[0] == "input_audio_buffer.speech_started"
    assert "input_audio_buffer.speech_stopped" in types(ev)


def test_idle_timeout_triggers_commit_and_response() -> None:
    d = Driver(EmulatorConfig(speed=0, idle_timeout_scale=0.001))
    ev = d.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"], "audio": {
        "input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 6000}}}}})
    assert d.timers[TIMER_IDLE] == pytest.approx(0.006)
    d.send({"type": "input_audio_buffer.append", "audio": b64(silence(300))})
    ev = d.fire(TIMER_IDLE)
    assert types(ev)[:4] == ["input_audio_buffer.timeout_triggered", "input_audio_buffer.committed",
                             "conversation.item.added", "conversation.item.done"]
    assert (ev[0]["audio_start_ms"], ev[0]["audio_end_ms"]) == (0, 300)
    assert types(ev)[-2:] == ["response.done", "rate_limits.updated"]
    assert TIMER_IDLE in d.timers  # re-armed after the response


def test_session_expiry_is_fatal() -> None:
    d = Driver(EmulatorConfig(session_seconds=120))
    ev = d.fire(TIMER_EXPIRE)
    assert ev[0]["error"]["code"] == "session_expired"
    assert ev[0]["error"]["message"] == "Your session hit the maximum duration of 2 minutes."
    assert d.closes[0].code == 1001
    assert d.send(user_text("late")) == []


def test_transcription_session_never_responds() -> None:
    d = Driver(kind="transcription")
    s = d.created[0]["session"]
    assert s["type"] == "transcription" and s["audio"]["input"]["transcription"] is None
    ev = d.send({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
        "transcription": {"model": "whisper-1", "language": "en"}}}}})
    assert types(ev) == ["session.updated"]
    ev = speak(d, "good morning")
    assert not any(t.startswith("response.") for t in types(ev))
    completed = ev[-1]
    assert completed["transcript"] == "good morning" and completed["usage"] == {"type": "duration", "seconds": 2}
    err = d.send({"type": "response.create", "event_id": "rc"})[0]["error"]
    assert (err["code"], err["param"], err["event_id"]) == ("invalid_value", "type", "rc")
    err = d.send({"type": "session.update", "session": {"type": "realtime"}})[0]["error"]
    assert err["message"] == "Passing a realtime session update event to a transcription session is not allowed."


def test_session_defaults_from_client_secret() -> None:
    d = Driver(defaults={"type": "realtime", "instructions": "From the secret.", "output_modalities": ["text"]})
    assert d.created[0]["session"]["instructions"] == "From the secret."
    assert d.created[0]["session"]["output_modalities"] == ["text"]
