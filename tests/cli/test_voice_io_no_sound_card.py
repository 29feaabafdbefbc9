"""`chat --voice-io` on a machine without a sound card (servers, CI): `--mic-wav` replaces the
microphone, `--audio-out` / `--no-speaker` the speaker, and no sound device is opened. Real
subprocesses against the embedded emulator, with PulseAudio unreachable."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import pytest

from openai_realtime_ws.audio import write_wav_pcm16_24k
from openai_realtime_ws.emulator import synth_audio

from .helpers import EMULATOR_NOTICE, child_env


def _no_sound_env(tmp_path: Path) -> dict[str, str]:
    """No PulseAudio to talk to: a server address where nothing listens, an empty runtime dir."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    return child_env(PULSE_SERVER=f"unix:{tmp_path}/no-pulseaudio-here", XDG_RUNTIME_DIR=str(runtime))


def _speech(tmp_path: Path) -> Path:
    path = tmp_path / "speech.wav"
    write_wav_pcm16_24k(path, synth_audio("what time is it", lead_silence_ms=200, tail_silence_ms=800))
    return path


def _chat(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # -X importtime lists every module the process imported: sounddevice must not be among them
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "openai_realtime_ws", "chat", "--voice-io",
         "--mic-wav", str(_speech(tmp_path)), "--max-turns", "1", *args],
        capture_output=True, text=True, env=_no_sound_env(tmp_path), timeout=60, check=False,
    )


def _stderr_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in proc.stderr.splitlines() if not line.startswith("import time:")]


def test_audio_out_replaces_the_speaker_and_saves_what_was_played(tmp_path: Path) -> None:
    out = tmp_path / "reply.wav"
    proc = _chat(tmp_path, "--audio-out", str(out))
    assert proc.returncode == 0, proc.stdout + "\n".join(_stderr_lines(proc))
    assert "you> what time is it" in proc.stdout
    assert "ai> You said: what time is it" in proc.stdout
    assert EMULATOR_NOTICE.search(proc.stderr)
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert "openai_realtime_ws.cli._voice" in imported  # (the listing is there)
    assert "sounddevice" not in imported, "a sound device library was loaded"
    with wave.open(str(out), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 24000)
        frames = wav.readframes(wav.getnframes())
    assert len(frames) / 48000 > 0.5  # seconds of reply
    assert any(frames[i] for i in range(0, len(frames), 97))  # not silence


def test_no_speaker_needs_no_sound_card(tmp_path: Path) -> None:
    proc = _chat(tmp_path, "--no-speaker")
    assert proc.returncode == 0, proc.stdout + "\n".join(_stderr_lines(proc))
    assert "ai> You said: what time is it" in proc.stdout
    assert not any(line.split("|")[-1].strip() == "sounddevice" for line in proc.stderr.splitlines())


def test_without_those_options_the_missing_speaker_error_says_what_to_use(tmp_path: Path) -> None:
    proc = _chat(tmp_path)
    if proc.returncode == 0:
        pytest.skip("this machine has a usable sound card without PulseAudio")
    last = _stderr_lines(proc)[-1]
    assert last.startswith("openai-realtime-ws: error: cannot open the speaker"), last
    assert "--audio-out FILE.wav or --no-speaker" in last
