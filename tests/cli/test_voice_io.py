"""``openai-realtime-ws chat --voice-io`` as a real process: the embedded emulator, the speaker
on a real sound server (PulseAudio null sink), the microphone either a real PulseAudio source fed
from a WAV or ``--mic-wav``. Transcripts print as they arrive, the latency line per turn."""

from __future__ import annotations

import signal
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from openai_realtime_ws.emulator import synth_audio

from ..audio.pulse import Pulse, pulse

__all__ = ["pulse"]


@pytest.fixture
def tones_wav(tmp_path: Path) -> Path:
    path = tmp_path / "tones.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(24000)
        w.writeframes(synth_audio("hello there", "audio/pcm", lead_silence_ms=300, tail_silence_ms=900))
    return path


def _wait_for_line(proc: subprocess.Popen[str], text: str) -> None:
    """Read stderr up to the line holding ``text`` (ALSA may print underrun notices first)."""
    assert proc.stderr is not None
    for _ in range(50):
        line = proc.stderr.readline()
        if text in line or not line:
            assert text in line, "the process ended before saying it was ready"
            return
    raise AssertionError(f"no stderr line with {text!r}")


def _voice_io(pulse: Pulse, *extra: str, feed: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in pulse.env.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    cmd = [sys.executable, "-m", "openai_realtime_ws", "chat", "--voice-io", "--emulator",
           "--max-turns", "1", *extra]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    player = None
    try:
        if feed is not None:
            # the microphone is open once the process says it is listening or connected
            _wait_for_line(proc, "emulator")
            player = pulse.play_into_mic(feed)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        if player is not None:
            player.wait(10)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def test_voice_io_with_a_wav_as_microphone(pulse: Pulse, tones_wav: Path) -> None:
    done = _voice_io(pulse, "--mic-wav", str(tones_wav))
    assert done.returncode == 0, done.stderr
    assert "you> hello there" in done.stdout
    assert "ai> You said: hello there" in done.stdout
    assert "speech end → first audio" in done.stderr
    ms = done.stderr.split("speech end → first audio ")[1].split(" ms")[0]
    assert float(ms) > 0


def test_voice_io_with_the_real_microphone(pulse: Pulse, tones_wav: Path) -> None:
    done = _voice_io(pulse, feed=tones_wav)
    assert done.returncode == 0, done.stderr
    assert "you> hello there" in done.stdout, (done.stdout, done.stderr)
    assert "ai> You said: hello there" in done.stdout


def test_voice_io_refuses_a_message(pulse: Pulse) -> None:
    env = dict(pulse.env)
    done = subprocess.run([sys.executable, "-m", "openai_realtime_ws", "chat", "--voice-io", "hi"],
                          env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "--voice-io" in done.stderr


def test_voice_io_ends_on_ctrl_c(pulse: Pulse) -> None:
    env = {k: v for k, v in pulse.env.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    proc = subprocess.Popen([sys.executable, "-m", "openai_realtime_ws", "chat", "--voice-io", "--emulator"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_line(proc, "emulator")  # connected, devices open
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
