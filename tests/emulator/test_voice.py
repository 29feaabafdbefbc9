# The optional `voice` extra: espeak-ng speech out, PocketSphinx recognition in, alone and over a
# real socket. Skipped when the wheels are not installed.
from __future__ import annotations

import base64
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("numpy")
pytest.importorskip("espeakng_loader")
pytest.importorskip("pocketsphinx")

from openai_realtime_ws.emulator import Emulator, EmulatorConfig
from openai_realtime_ws.emulator.__main__ import main as emulator_main
from openai_realtime_ws.emulator.core.audio import decode_samples, silence
from openai_realtime_ws.emulator.voice import (
    EspeakSynthesizer,
    PocketsphinxTranscriber,
    espeak_synthesize,
    resample,
    voice_available,
)

from .helpers import b64, connect, types

RMS_FLOOR = 500.0  # about -36 dBFS; espeak speaks at about 2500 RMS
DIGITS = {"one", "two", "three", "four", "five"}


def rms(data: bytes, fmt: str = "audio/pcm") -> float:
    samples = decode_samples(data, fmt)
    return math.sqrt(sum(s * s for s in samples) / max(1, len(samples)))


def speak(text: str, fmt: str = "audio/pcm", voice: str = "alloy", **kw: Any) -> bytes:
    segments = EspeakSynthesizer(**kw).synthesize(text, voice=voice, audio_format=fmt, chunk_ms=100)
    return b"".join(base64.b64decode(c) for seg in segments for c in seg.chunks)


def words(text: str) -> set[str]:
    return set("".join(c if c.isalnum() or c == "'" else " " for c in text.lower()).split())


@pytest.fixture(scope="module")
def ears() -> Iterator[PocketsphinxTranscriber]:
    transcriber = PocketsphinxTranscriber()
    yield transcriber
    transcriber.close()


def test_voice_available() -> None:
    assert voice_available()


def test_synthesis_hello_world() -> None:
    segments = EspeakSynthesizer().synthesize("hello world", voice="alloy", audio_format="audio/pcm", chunk_ms=100)
    assert [s.text for s in segments] == ["hello", " world"]
    audio = b""
    for seg in segments:
        chunks = [base64.b64decode(c) for c in seg.chunks]
        assert all(len(c) % 960 == 0 and 0 < len(c) <= 4800 for c in chunks)  # 20 ms grid, <= 100 ms
        assert all(len(c) == 4800 for c in chunks[:-1])
        assert sum(map(len, chunks)) == seg.duration_ms * 48
        audio += b"".join(chunks)
    assert 0.5 <= len(audio) / 48000 <= 3.0  # 24 kHz PCM16: 48 bytes per ms
    assert rms(audio) > RMS_FLOOR
    raw = espeak_synthesize("hello world", "en-us+robosoft3", rate_wpm=160)
    assert raw.rate == 22050 and [c for c, _ in raw.words] == [0, 6]
    assert abs(len(audio) / 48 - len(raw.pcm) / 2 / 22.05) <= 20  # resampled, padded to 20 ms


def test_synthesis_g711_and_text_split() -> None:
    pcm, ulaw = speak("hello world"), speak("hello world", "audio/pcmu")
    assert abs(len(ulaw) / 8 - len(pcm) / 48) <= 20 and len(ulaw) % 160 == 0
    assert rms(ulaw, "audio/pcmu") > RMS_FLOOR
    text = "Héllo,  wörld! It's 12 o'clock.\n"
    segments = EspeakSynthesizer().synthesize(text, voice="coral", audio_format="audio/pcma", chunk_ms=60)
    assert "".join(s.text for s in segments) == text and len(segments) > 3
    assert EspeakSynthesizer().synthesize("  ", voice="alloy", audio_format="audio/pcm", chunk_ms=100) == []
    assert speak("hello", voice="no-such-voice")  # unknown voices fall back to en-us


def test_resample_keeps_a_tone() -> None:
    np = pytest.importorskip("numpy")
    tone = 10000 * np.sin(2 * np.pi * 440 * np.arange(22050) / 22050)
    out = resample(tone, 22050, 16000)
    assert len(out) == 16000
    spectrum = np.abs(np.fft.rfft(out))
    assert int(np.argmax(spectrum)) == 440  # 1 Hz bins over one second


@pytest.mark.parametrize(("text", "fmt"), [
    ("one two three four five", "audio/pcm"),
    ("one two three four five", "audio/pcmu"),
    ("what time is it", "audio/pcm"),
    ("thank you very much", "audio/pcma"),
])
def test_round_trip(ears: PocketsphinxTranscriber, text: str, fmt: str) -> None:
    heard = ears.transcribe(speak(text, fmt), audio_format=fmt)
    assert words(heard) & words(text) - {"is", "it"}, heard


def test_silence_transcribes_to_nothing(ears: PocketsphinxTranscriber) -> None:
    assert ears.transcribe(silence(500), audio_format="audio/pcm") == ""
    assert ears.transcribe(b"", audio_format="audio/pcmu") == ""


def test_cli_voice_without_extra(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib

    real = importlib.import_module

    def no_pocketsphinx(name: str, package: str | None = None) -> Any:
        if name == "pocketsphinx":
            raise ImportError("No module named 'pocketsphinx'")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", no_pocketsphinx)
    assert not voice_available()
    assert emulator_main(["--voice"]) == 2
    err = capsys.readouterr().err
    assert "--voice" in err and "pocketsphinx" in err and "openai-realtime-ws[voice]" in err


def test_emulator_imports_without_extra() -> None:
    code = ("import sys\n"
            "for m in ('numpy', 'pocketsphinx', 'espeakng_loader'): sys.modules[m] = None\n"
            "import openai_realtime_ws.emulator, openai_realtime_ws.emulator.voice as v\n"
            "assert not v.voice_available()\n"
            "from openai_realtime_ws.emulator.__main__ import main\n"
            "sys.exit(main(['--voice']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20)
    assert proc.returncode == 2, proc.stderr
    assert "error: --voice:" in proc.stderr and "pip install" in proc.stderr


async def test_end_to_end_over_socket(ears: PocketsphinxTranscriber) -> None:
    emu = Emulator(config=EmulatorConfig(speed=0), synthesizer=EspeakSynthesizer(), transcriber=ears)
    async with emu:
        raw = await connect(emu)
        await raw.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
            "transcription": {"model": "whisper-1"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}}}})
        assert (await raw.recv())["type"] == "session.updated"
        said = "one two three four five"
        audio = silence(300) + speak(said) + silence(1000)
        for i in range(0, len(audio), 4800):  # 100 ms appends
            await raw.send({"type": "input_audio_buffer.append", "audio": b64(audio[i : i + 4800])})
        events = await raw.recv_until("conversation.item.input_audio_transcription.completed", timeout=10)
        assert types(events)[:2] == ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped"]
        transcript = events[-1]["transcript"]
        assert words(transcript) & DIGITS, transcript
        events = await raw.recv_until("response.done", timeout=10)
        assert events[-1]["response"]["status"] == "completed"
        reply = b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta")
        spoken = next(e["transcript"] for e in events if e["type"] == "response.output_audio_transcript.done")
        assert spoken == f"You said: {transcript}"
        assert len(reply) / 48000 >= 0.5 and rms(reply) > RMS_FLOOR  # espeak speech, not silence
        assert words(ears.transcribe(reply, audio_format="audio/pcm")) & words(transcript)
        await raw.ws.close()


def test_recognition_runs_in_a_helper_process_that_restarts(ears: PocketsphinxTranscriber) -> None:
    """PocketSphinx holds the GIL while it searches: by default it decodes in a process of its own
    (bench/emulator_voice_stall.py: the loop's longest gap 16 ms instead of about 2 s)."""
    audio = speak("one two three")
    assert words(ears.transcribe(audio, audio_format="audio/pcm")) & DIGITS
    helper = ears._helper
    assert helper is not None and helper._proc is not None and helper._proc.pid != os.getpid()
    dead = helper._proc
    dead.kill()  # the helper died between utterances: the next one starts a fresh helper
    dead.wait()
    assert words(ears.transcribe(audio, audio_format="audio/pcm")) & DIGITS
    assert helper._proc is not None and helper._proc.pid != dead.pid
    in_process = PocketsphinxTranscriber(process=False)
    assert in_process._helper is None and words(in_process.transcribe(audio, audio_format="audio/pcm")) & DIGITS
    with pytest.raises(ValueError, match="JSON"):
        PocketsphinxTranscriber(lm=object())
