# The CLI's embedded emulator and real speech (issue 10, divergence 4), as a real subprocess:
# `chat --emulator-voice` turns the `voice` extra on (PocketSphinx recognises the words). The CLI's own
# emulator (`python -m openai_realtime_ws.emulator`) takes `--record` / `--item-audio-mib`.
from __future__ import annotations

import os
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from openai_realtime_ws.emulator.__main__ import parse_args


def _speech_wav(path: Path) -> None:
    voice = pytest.importorskip("openai_realtime_ws.emulator.voice")
    if not voice.voice_available():
        pytest.skip("the voice extra (espeak-ng, pocketsphinx) is not installed")
    utt = voice.espeak_synthesize("what time is it", "en-us+robosoft3")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(utt.rate)
        w.writeframes(utt.pcm)


def _chat(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    return subprocess.run([sys.executable, "-c", "import sys; from openai_realtime_ws.cli import main; sys.exit(main())",
                           "chat", "--emulator",
                           "--emulator-speed", "0", "--text-only", "-q", *args],
                          capture_output=True, text=True, timeout=60, env=env, check=False)


def test_chat_with_the_voice_extra_recognises_speech(tmp_path: Path) -> None:
    # without --emulator-voice the same speech is the `[audio N.Ns]` placeholder (tested in-process
    # in test_divergences.py; one subprocess here keeps the suite fast)
    wav = tmp_path / "speech.wav"
    _speech_wav(wav)
    voiced = _chat("--emulator-voice", "--audio-in", str(wav))
    assert voiced.returncode == 0, voiced.stderr
    assert voiced.stdout.strip() == "You said: what time is it"


def test_emulator_cli_recording_flags() -> None:
    assert parse_args([]).record is None  # off by default: nothing in that process reads it
    args = parse_args(["--record", "50", "--item-audio-mib", "0"])
    assert (args.record, args.item_audio_mib) == (50, 0.0)
    assert parse_args([]).model_check == "openai" and parse_args(["--model-check", "all"]).model_check == "all"
