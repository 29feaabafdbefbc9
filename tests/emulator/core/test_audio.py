# Audio helpers of the core: G.711, the tone-code voice and ears, the input buffer + energy VAD.
from __future__ import annotations

import base64
import random

import pytest

from openai_realtime_ws.emulator.core.audio import (
    SyntheticTranscriber,
    ToneSynthesizer,
    decode_samples,
    encode_samples,
    silence,
    synth_audio,
    transcribe_tones,
)
from openai_realtime_ws.emulator.core.vad import InputBuffer, SpeechStarted, SpeechStopped

FORMATS = ["audio/pcm", "audio/pcmu", "audio/pcma"]


@pytest.mark.parametrize("fmt", ["audio/pcmu", "audio/pcma"])
def test_g711_round_trip_is_close(fmt: str) -> None:
    samples = [-32000, -8000, -100, 0, 100, 8000, 32000]
    back = list(decode_samples(encode_samples(samples, fmt), fmt))
    for a, b in zip(samples, back, strict=True):
        assert abs(a - b) <= max(16, abs(a) // 16)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("offset_ms", [0, 7, 33])
def test_tone_code_round_trip(fmt: str, offset_ms: int) -> None:
    text = "Hello, book a table for 2 at 7:30!"
    audio = silence(offset_ms, fmt) + synth_audio(text, fmt, lead_silence_ms=100, tail_silence_ms=200)
    assert transcribe_tones(audio, fmt) == text.lower()


def test_synthesizer_segments_are_word_chunks() -> None:
    segs = ToneSynthesizer().synthesize("You said: hi", voice="alloy", audio_format="audio/pcm", chunk_ms=100)
    assert [s.text for s in segs] == ["You", " said:", " hi"]
    assert [s.duration_ms for s in segs] == [240, 360, 120]  # "you ", "said: ", "hi" at 60 ms/char
    assert [len(base64.b64decode(c)) for c in segs[0].chunks] == [4800, 4800, 1920]
    mulaw = ToneSynthesizer().synthesize("hi", voice="alloy", audio_format="audio/pcmu", chunk_ms=20)
    assert {len(base64.b64decode(c)) for c in mulaw[0].chunks} == {160}  # 20 ms at 8 kHz


def test_synthetic_transcriber_placeholders() -> None:
    t = SyntheticTranscriber()
    assert t.transcribe(silence(500), audio_format="audio/pcm") == ""
    rng = random.Random(0)
    noise = encode_samples([rng.randint(-9000, 9000) for _ in range(24000)], "audio/pcm")
    assert t.transcribe(noise, audio_format="audio/pcm") == "[audio 1.0s]"


def test_input_buffer_vad_events_and_clock() -> None:
    buf = InputBuffer("audio/pcm")
    td = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 100, "silence_duration_ms": 200}
    assert buf.append(silence(500), td) == []
    events = buf.append(synth_audio("ok") + silence(300), td)
    assert events[0] == SpeechStarted(audio_start_ms=400)  # speech at 500 ms minus 100 ms padding
    stopped = events[1]
    assert isinstance(stopped, SpeechStopped) and stopped.audio_end_ms == 500 + 120 + 200
    assert len(stopped.audio) == stopped.audio_end_ms * 48  # the committed segment starts at 0 ms
    assert buf.start_ms == 820 and buf.buffered_ms == 100
    buf.clear()
    assert buf.buffered_ms == 0 and buf.cursor_ms == 920  # the clock keeps running
    assert buf.append(silence(100), None) == []  # no turn detection: no analysis
