# Event families of sideband calls and diarizing transcription (issue 10): over a `?call_id=`
# connection `output_audio_buffer.started/stopped/cleared`, the `output_audio_buffer.clear` client
# event and DTMF injected by the test hook; `conversation.item.input_audio_transcription.segment`
# for a diarizing model. Raw sockets; every event validated against openai-python's models.
from __future__ import annotations

import pytest

from openai_realtime_ws.emulator import Emulator, EmulatorConfig, SendDTMF, synth_audio

from .helpers import b64, connect, types, user_text


async def test_output_audio_buffer_started_then_stopped_after_the_response(realtime_emulator: Emulator) -> None:
    raw = await connect(realtime_emulator, "call_id=rtc_abc123")
    await raw.send(user_text("hi"))
    await raw.recv_until("conversation.item.done")
    await raw.send({"type": "response.create"})
    events = await raw.recv_until("output_audio_buffer.stopped")
    seq = types(events)
    rid = events[0]["response"]["id"]
    assert seq.index("response.content_part.added") + 1 == seq.index("output_audio_buffer.started")
    assert seq.index("response.done") < seq.index("output_audio_buffer.stopped")
    assert {e["response_id"] for e in events if e["type"].startswith("output_audio_buffer.")} == {rid}
    # nothing playing any more: clearing is refused
    await raw.send({"type": "output_audio_buffer.clear", "event_id": "c1"})
    err = await raw.expect_error()
    assert (err["code"], err["event_id"]) == ("invalid_value", "c1")
    await raw.ws.close()


@pytest.mark.realtime_emulator(config=EmulatorConfig(speed=1.0, audio_chunk_ms=500))
async def test_output_audio_buffer_clear_while_playing(realtime_emulator: Emulator) -> None:
    raw = await connect(realtime_emulator, "call_id=rtc_clear")
    await raw.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "turn_detection": None}}}})
    await raw.recv_until("session.updated")
    await raw.send(user_text("hi"))
    await raw.recv_until("conversation.item.done")
    await raw.send({"type": "response.create"})
    events = await raw.recv_until("output_audio_buffer.started")
    rid = events[-1]["response_id"]
    # the documented manual cut: response.cancel, then output_audio_buffer.clear (the first 500 ms
    # delta went out with `started`: the buffer plays for at least 0.5 s after the cancel)
    await raw.send({"type": "response.cancel"})
    await raw.send({"type": "output_audio_buffer.clear"})
    rest = await raw.recv_until("output_audio_buffer.cleared")
    assert "response.done" in types(rest) and rest[-1]["response_id"] == rid
    await raw.no_event(0.1)  # cleared: no `stopped` follows
    await raw.ws.close()


async def test_output_audio_buffer_clear_is_unknown_on_a_plain_socket(realtime_emulator: Emulator) -> None:
    raw = await connect(realtime_emulator)
    await raw.send({"type": "output_audio_buffer.clear"})
    err = await raw.expect_error()
    assert (err["code"], err["param"]) == ("invalid_value", "type")
    await raw.ws.close()


async def test_vad_barge_in_clears_the_playing_buffer(realtime_emulator: Emulator) -> None:
    raw = await connect(realtime_emulator, "call_id=rtc_barge")
    await raw.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "turn_detection": {"type": "server_vad", "create_response": False}}}}})
    await raw.recv_until("session.updated")
    realtime_emulator.config.speed = 1.0
    await raw.send(user_text("tell me a long story please"))
    await raw.recv_until("conversation.item.done")
    await raw.send({"type": "response.create"})
    await raw.recv_until("output_audio_buffer.started")
    await raw.send({"type": "input_audio_buffer.append",
                    "audio": b64(synth_audio("stop", lead_silence_ms=100, tail_silence_ms=400))})
    events = await raw.recv_until("output_audio_buffer.cleared")
    seq = types(events)
    assert seq.index("input_audio_buffer.speech_started") < seq.index("response.done")
    assert events[seq.index("response.done")]["response"]["status_details"]["reason"] == "turn_detected"
    await raw.ws.close()


async def test_dtmf_injected_on_a_sideband_call(realtime_emulator: Emulator) -> None:
    raw = await connect(realtime_emulator, "call_id=rtc_dtmf")
    conn = realtime_emulator.connections[0]
    assert conn.call_id == "rtc_dtmf"
    await realtime_emulator.inject_dtmf(conn, "4#")
    first, second = await raw.recv(), await raw.recv()
    assert [(e["type"], e["event"]) for e in (first, second)] == [
        ("input_audio_buffer.dtmf_event_received", "4"), ("input_audio_buffer.dtmf_event_received", "#")]
    assert isinstance(first["received_at"], int) and first["received_at"] > 1_700_000_000
    with pytest.raises(ValueError, match="DTMF digits"):
        await realtime_emulator.inject_dtmf(conn, "x")
    plain = await connect(realtime_emulator)
    with pytest.raises(ValueError, match="sideband"):
        await realtime_emulator.inject_dtmf(realtime_emulator.connections[1], "1")
    await raw.ws.close()
    await plain.ws.close()


@pytest.mark.parametrize("kind", ["realtime", "transcription"])
async def test_diarizing_model_sends_segments(realtime_emulator: Emulator, kind: str) -> None:
    query = "model=gpt-realtime" if kind == "realtime" else "intent=transcription"
    raw = await connect(realtime_emulator, query)
    await raw.send({"type": "session.update", "session": {"type": kind, "audio": {"input": {
        "turn_detection": None, "transcription": {"model": "gpt-4o-transcribe-diarize"}}}}})
    await raw.recv_until("session.updated")
    audio = synth_audio("good morning", tail_silence_ms=100)
    await raw.send({"type": "input_audio_buffer.append", "audio": b64(audio)})
    await raw.send({"type": "input_audio_buffer.commit"})
    events = await raw.recv_until("conversation.item.input_audio_transcription.completed")
    segment = next(e for e in events if e["type"] == "conversation.item.input_audio_transcription.segment")
    item_id = events[-1]["item_id"]
    assert (segment["item_id"], segment["speaker"], segment["text"], segment["start"]) == (
        item_id, "A", "good morning", 0.0)
    assert segment["end"] == pytest.approx(len(audio) / 48 / 1000, abs=0.001)
    assert "conversation.item.input_audio_transcription.delta" not in types(events)
    assert events[-1]["transcript"] == "good morning"
    await raw.ws.close()


async def test_dtmf_as_a_fault_after_an_event(realtime_emulator: Emulator) -> None:
    realtime_emulator.faults.next_connection(SendDTMF("9*", after_type="session.created"))
    raw = await connect(realtime_emulator, "call_id=rtc_fault")
    events = [await raw.recv(), await raw.recv()]
    assert [(e["type"], e["event"]) for e in events] == [
        ("input_audio_buffer.dtmf_event_received", "9"), ("input_audio_buffer.dtmf_event_received", "*")]
    realtime_emulator.faults.next_connection(SendDTMF("1", after_type="session.created"))
    plain = await connect(realtime_emulator)  # not a sideband call: the fault does nothing
    await plain.no_event(0.1)
    with pytest.raises(ValueError, match="DTMF digits"):
        SendDTMF("12x")
    await raw.ws.close()
    await plain.ws.close()
