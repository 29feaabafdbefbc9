# Audio over a real socket: G.711 output, barge-in with server VAD, idle timeout, transcription
# sessions.
from __future__ import annotations

import base64

import pytest

from openai_realtime_ws.emulator import Emulator, EmulatorConfig, synth_audio

from .helpers import b64, connect, types, user_text


async def test_g711_output_format(realtime_emulator: Emulator) -> None:
    raw = await connect(realtime_emulator)
    await raw.send({"type": "session.update", "session": {"type": "realtime", "audio": {
        "input": {"turn_detection": None}, "output": {"format": {"type": "audio/pcmu"}}}}})
    assert (await raw.recv())["session"]["audio"]["output"]["format"] == {"type": "audio/pcmu"}
    await raw.send(user_text("hi"))
    await raw.send({"type": "response.create"})
    events = await raw.response()
    audio = b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta")
    transcript = next(e["transcript"] for e in events if e["type"] == "response.output_audio_transcript.done")
    assert len(audio) == len(transcript) * 60 * 8  # 8 bytes per ms
    assert events[-2]["response"]["audio"]["output"]["format"] == {"type": "audio/pcmu"}


@pytest.mark.realtime_emulator(config=EmulatorConfig(speed=1.0))
async def test_barge_in_over_socket(realtime_emulator: Emulator) -> None:
    raw = await connect(realtime_emulator)
    await raw.send(user_text("tell me everything about the weather on mars"))
    await raw.send({"type": "response.create"})
    await raw.recv_until("response.output_audio.delta")
    await raw.send({"type": "input_audio_buffer.append", "audio": b64(synth_audio("wait"))})
    events = await raw.recv_until("response.done")
    assert "input_audio_buffer.speech_started" in types(events)
    assert events[-1]["response"]["status_details"] == {"type": "cancelled", "reason": "turn_detected"}


@pytest.mark.realtime_emulator(config=EmulatorConfig(speed=0, idle_timeout_scale=0.01))
async def test_idle_timeout_over_socket(realtime_emulator: Emulator) -> None:
    raw = await connect(realtime_emulator)
    await raw.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"], "audio": {
        "input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 5000}}}}})
    await raw.recv()
    events = await raw.response(timeout=3)
    assert types(events)[:2] == ["input_audio_buffer.timeout_triggered", "input_audio_buffer.committed"]


async def test_transcription_session(realtime_emulator: Emulator) -> None:
    raw = await connect(realtime_emulator, "intent=transcription")
    await raw.send({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
        "format": {"type": "audio/pcma"}, "transcription": {"model": "gpt-4o-transcribe", "language": "en"}}}}})
    assert (await raw.recv())["type"] == "session.updated"
    await raw.send({"type": "input_audio_buffer.append",
                    "audio": b64(synth_audio("see you soon", "audio/pcma", lead_silence_ms=100, tail_silence_ms=300))})
    events = await raw.recv_until("conversation.item.input_audio_transcription.completed")
    assert events[-1]["transcript"] == "see you soon"
    assert not any(t.startswith("response.") for t in types(events))
