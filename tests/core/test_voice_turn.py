"""The voice-turn rules (core/voice_turn.py) with no event loop: server events and playback facts
in, actions out."""

from __future__ import annotations

from typing import Any

from openai_realtime_ws.core.playback import PlaybackStop
from openai_realtime_ws.core.voice_turn import (
    SERVER_RESPONSE_TIMER,
    ArmTimer,
    CancelTimer,
    CompletePart,
    PlayAudio,
    Send,
    StopPlayback,
    VoiceTurn,
    turn_detection_of,
)

SERVER_VAD = {"type": "server_vad", "interrupt_response": True, "create_response": True}


def _sent(actions: list[Any]) -> list[dict[str, Any]]:
    return [a.event for a in actions if isinstance(a, Send)]


def _created(rid: str) -> dict[str, Any]:
    return {"type": "response.created", "response": {"id": rid, "conversation_id": "conv_1"}}


def _done(rid: str, status: str = "completed", output: list[Any] | None = None,
          modalities: list[str] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"id": rid, "status": status, "output": output or []}
    if modalities:
        response["output_modalities"] = modalities
    return {"type": "response.done", "response": response}


def _delta(rid: str, item: str = "it_1") -> dict[str, Any]:
    return {"type": "response.output_audio.delta", "response_id": rid, "item_id": item,
            "content_index": 0, "delta": "AAAA"}


def _stop(item: str, heard: int, received: int) -> PlaybackStop:
    return PlaybackStop(item, 0, heard, received, False, 100.0, True)


def test_barge_in_with_server_cancel_truncates_at_what_was_heard_and_drops_late_audio() -> None:
    turn = VoiceTurn()
    assert _sent(turn.on_event(_created("resp_1"))) == []
    assert turn.on_event(_delta("resp_1")) == [PlayAudio("it_1", 0, "AAAA", "resp_1")]
    actions = turn.on_event({"type": "input_audio_buffer.speech_started"}, playing=True,
                            turn_detection=SERVER_VAD)
    assert actions == [StopPlayback("resp_1")]
    events = _sent(turn.playback_stopped(_stop("it_1", 640, 2000)))
    # the server cancels by itself (interrupt_response): only the truncate
    assert events == [{"type": "conversation.item.truncate", "item_id": "it_1", "content_index": 0,
                       "audio_end_ms": 640}]
    assert turn.on_event(_delta("resp_1")) == []  # late audio of the cut response
    assert turn.is_cut("resp_1")
    assert turn.playback_stopped(None) == []  # one report per stop


def test_barge_in_without_interrupt_response_cancels_by_id() -> None:
    for td in (None, {**SERVER_VAD, "interrupt_response": False}):
        turn = VoiceTurn()
        turn.on_event(_created("resp_1"))
        assert turn.on_event({"type": "input_audio_buffer.speech_started"}, turn_detection=td) == [
            StopPlayback("resp_1")]
        events = _sent(turn.playback_stopped(None))
        assert events == [{"type": "response.cancel", "response_id": "resp_1"}]


def test_nothing_playing_and_nothing_running_is_no_barge_in() -> None:
    turn = VoiceTurn()
    assert turn.on_event({"type": "input_audio_buffer.speech_started"}, turn_detection=SERVER_VAD) == []
    # but audio still sounding after its response ended is stopped (and truncated)
    assert turn.on_event({"type": "input_audio_buffer.speech_started"}, playing=True,
                         turn_detection=SERVER_VAD) == [StopPlayback(None)]
    assert _sent(turn.playback_stopped(_stop("it_0", 100, 900)))[0]["audio_end_ms"] == 100
    off = VoiceTurn(barge_in=False)
    off.on_event(_created("resp_1"))
    assert off.on_event({"type": "input_audio_buffer.speech_started"}, playing=True) == []


def test_an_assistant_message_without_audio_is_deleted_not_truncated() -> None:
    turn = VoiceTurn()
    turn.on_event(_created("resp_1"))
    turn.on_event({"type": "response.output_item.added", "response_id": "resp_1",
                   "item": {"id": "it_9", "type": "message", "role": "assistant"}})
    turn.on_event({"type": "input_audio_buffer.speech_started"}, turn_detection=None)
    assert _sent(turn.playback_stopped(None)) == [
        {"type": "response.cancel", "response_id": "resp_1"},
        {"type": "conversation.item.delete", "item_id": "it_9"}]


def test_speech_stopped_holds_requests_for_the_server_response_and_its_timer_is_cancelled() -> None:
    turn = VoiceTurn(server_response_timeout=2.5)
    assert turn.on_event({"type": "input_audio_buffer.speech_stopped"}, turn_detection=SERVER_VAD) == [
        ArmTimer(SERVER_RESPONSE_TIMER, 2.5)]
    assert turn.respond({"instructions": "x"}) == []  # queued: the server is about to answer
    actions = turn.on_event(_created("resp_s"))
    assert CancelTimer(SERVER_RESPONSE_TIMER) in actions
    sent = _sent(turn.on_event(_done("resp_s")))
    assert [e["type"] for e in sent] == ["response.create"]
    assert sent[0]["response"] == {"instructions": "x"}


def test_the_server_response_timer_releases_queued_requests() -> None:
    turn = VoiceTurn()
    turn.on_event({"type": "input_audio_buffer.speech_stopped"}, turn_detection=SERVER_VAD)
    assert turn.respond() == []
    assert [e["type"] for e in _sent(turn.timer_fired(SERVER_RESPONSE_TIMER))] == ["response.create"]
    assert turn.timer_fired(SERVER_RESPONSE_TIMER) == []


def test_create_response_off_means_no_wait() -> None:
    for td in (None, {**SERVER_VAD, "create_response": False}):
        turn = VoiceTurn()
        assert turn.on_event({"type": "input_audio_buffer.speech_stopped"}, turn_detection=td) == []
        assert [e["type"] for e in _sent(turn.respond())] == ["response.create"]


def test_barge_in_drops_requests_queued_behind_the_cut_response() -> None:
    turn = VoiceTurn()
    turn.on_event(_created("resp_1"))
    assert turn.respond({"instructions": "later"}) == []
    assert turn.sequencer.pending == 1
    turn.on_event({"type": "input_audio_buffer.speech_started"}, playing=True, turn_detection=SERVER_VAD)
    turn.playback_stopped(None)
    assert turn.sequencer.pending == 0


def test_tool_follow_up_once_every_call_has_its_output_in_the_response_modalities() -> None:
    turn = VoiceTurn()
    turn.tool_names.add("lookup")
    calls = [{"type": "function_call", "name": "lookup", "call_id": "c1", "arguments": "{}"},
             {"type": "function_call", "name": "lookup", "call_id": "c2", "arguments": "{}"},
             {"type": "function_call", "name": "other", "call_id": "c3", "arguments": "{}"}]
    turn.on_event(_created("resp_1"))
    assert _sent(turn.on_event(_done("resp_1", output=calls, modalities=["audio"]))) == []
    out = {"type": "conversation.item.added", "item": {"type": "function_call_output", "call_id": "c1"}}
    assert turn.on_event(out) == []
    # meanwhile the user spoke: the server's response runs, the follow-up waits for it
    turn.on_event(_created("resp_2"))
    out2 = {"type": "conversation.item.added", "item": {"type": "function_call_output", "call_id": "c2"}}
    assert turn.on_event(out2) == []
    sent = _sent(turn.on_event(_done("resp_2")))
    assert [(e["type"], e.get("response")) for e in sent] == [
        ("response.create", {"output_modalities": ["audio"]})]


def test_a_cancelled_response_s_calls_are_not_followed_up() -> None:
    turn = VoiceTurn()
    turn.tool_names.add("lookup")
    turn.on_event(_created("resp_1"))
    turn.on_event(_done("resp_1", "cancelled", [
        {"type": "function_call", "name": "lookup", "call_id": "c1", "arguments": "{}"}]))
    assert turn.on_event({"type": "conversation.item.added",
                          "item": {"type": "function_call_output", "call_id": "c1"}}) == []


def test_conflict_error_requeues_and_reset_forgets_everything() -> None:
    turn = VoiceTurn()
    (req,) = _sent(turn.respond())
    assert turn.on_error("conversation_already_has_active_response", req["event_id"],
                         "Conversation already has an active response in progress: resp_x.") == []
    assert turn.active == "resp_x"
    assert [e["type"] for e in _sent(turn.on_event(_done("resp_x")))] == ["response.create"]
    assert turn.reset() == [StopPlayback(None, report=False), CancelTimer(SERVER_RESPONSE_TIMER)]
    assert turn.active is None


def test_audio_done_completes_the_part_and_the_cut_set_is_bounded() -> None:
    turn = VoiceTurn()
    assert turn.on_event({"type": "response.output_audio.done", "item_id": "it", "content_index": 1}) == [
        CompletePart("it", 1)]
    for k in range(300):
        turn.on_event(_created(f"r{k}"))
        turn.on_event({"type": "input_audio_buffer.speech_started"}, turn_detection=SERVER_VAD)
        turn.playback_stopped(None)
        turn.on_event(_done(f"r{k}"))
    assert turn.is_cut("r299") and not turn.is_cut("r0")


def test_turn_detection_of_reads_typed_or_dict_sessions() -> None:
    assert turn_detection_of({"audio": {"input": {"turn_detection": SERVER_VAD}}}) == SERVER_VAD
    assert turn_detection_of(None) is None


def test_say_adds_the_user_message_then_asks_through_the_sequencer() -> None:
    turn = VoiceTurn()
    sent = _sent(turn.say("pressed 5", {"instructions": "confirm"}))
    assert [e["type"] for e in sent] == ["conversation.item.create", "response.create"]
    assert sent[0]["item"]["content"] == [{"type": "input_text", "text": "pressed 5"}]
    assert sent[1]["response"] == {"instructions": "confirm"}
    # while that response runs, another say() adds its message and the request waits
    assert [e["type"] for e in _sent(turn.say("pressed 6"))] == ["conversation.item.create"]


def test_the_turn_detection_flags() -> None:
    from openai_realtime_ws.core.voice_turn import server_creates, server_interrupts

    assert server_interrupts(SERVER_VAD) and server_creates(SERVER_VAD)
    assert server_interrupts({"type": "semantic_vad"}) and server_creates({"type": "semantic_vad"})
    assert not server_interrupts(None) and not server_creates(None)
    assert not server_interrupts({**SERVER_VAD, "interrupt_response": False})
