"""A voice session in G.711: PCM16 24 kHz microphone audio converted to μ-law 8 kHz, or μ-law
passed through untouched; the reply played by a μ-law sink."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest

from openai_realtime_ws import AsyncOpenAIRealtimeWS
from openai_realtime_ws.audio import PacedSink
from openai_realtime_ws.emulator import Emulator, EmulatorConfig, synth_audio
from openai_realtime_ws.emulator.core.audio import transcribe_tones
from openai_realtime_ws.voice import VoiceEvent, VoiceSession

KEY = "sk-g711-00000000000"


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.mark.parametrize(("fmt", "source_format"), [
    ("audio/pcmu", "audio/pcm"), ("audio/pcma", "audio/pcm"), ("audio/pcmu", "audio/pcmu")])
async def test_g711_session_hears_and_answers(fmt: str, source_format: str) -> None:
    speech = synth_audio("hello there", source_format, lead_silence_ms=200, tail_silence_ms=800)
    async with Emulator(config=EmulatorConfig(speed=20.0)) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="gpt-realtime")
        sink = PacedSink(fmt, speed=20.0, record=True)
        events: list[VoiceEvent] = []
        session = VoiceSession(rt, sink=sink, on_event=events.append, audio_format=fmt,
                               source_format=source_format, source=_chunks(speech, 333))
        async with session as voice:
            async for ev in voice:
                if ev.type == "response_done":
                    break
            await sink.drain()
        await rt.close()
    assert [e.text for e in events if e.type == "user_transcript"] == ["hello there"]
    assert "you said: hello there" in transcribe_tones(bytes(sink.played_audio), fmt)
    sent = emu.connections[0].received
    update = next(e for e in sent if e["type"] == "session.update")
    assert update["session"]["audio"]["input"]["format"] == {"type": fmt}
    appended = b"".join(base64.b64decode(e["audio"]) for e in sent if e["type"] == "input_audio_buffer.append")
    sizes = [len(base64.b64decode(e["audio"])) for e in sent if e["type"] == "input_audio_buffer.append"]
    assert set(sizes[:-1]) == {160}  # 20 ms frames
    if source_format == fmt:
        assert appended == speech[: len(appended)]  # passed through, byte for byte


def test_formats_are_checked_before_anything_is_sent() -> None:
    with pytest.raises(ValueError, match="audio_format"):
        VoiceSession(object(), audio_format="audio/mp3")
    with pytest.raises(ValueError, match="source_format"):
        VoiceSession(object(), audio_format="audio/pcmu", source_format="audio/pcma")
    with pytest.raises(ValueError, match="sink"):
        VoiceSession(object(), audio_format="audio/pcmu", sink=PacedSink())
