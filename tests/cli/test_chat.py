"""`chat` one-shot against the embedded emulator: text, audio, recordings, usage errors."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from openai_realtime_ws.emulator.core.audio import CHAR_MS

from .helpers import EMULATOR_NOTICE, FIGURES, run_cli, write_tone_code_wav


def test_text_reply_is_streamed_with_figures() -> None:
    res = run_cli("chat", "--text-only", "Hello there")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "You said: Hello there\n"
    assert len(EMULATOR_NOTICE.findall(res.stderr)) == 1
    figures = FIGURES.search(res.stderr)
    assert figures is not None, res.stderr
    assert figures["status"] is None
    assert figures["first_text"].endswith(" ms")
    assert figures["first_audio"] == "n/a"
    assert figures["seconds"] == "0.00"
    assert int(figures["tokens"]) > 0
    assert "Traceback" not in res.stderr


def test_audio_reply_prints_the_transcript() -> None:
    res = run_cli("chat", "Hello there")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "You said: Hello there\n"
    figures = FIGURES.search(res.stderr)
    assert figures is not None, res.stderr
    assert figures["first_audio"].endswith(" ms")
    # the emulator speaks each character for CHAR_MS
    assert float(figures["seconds"]) == pytest.approx(len("You said: Hello there") * CHAR_MS / 1000)


def test_message_from_stdin_and_quiet() -> None:
    res = run_cli("chat", "-", "--text-only", "--quiet", "--instructions", "Be brief.",
                  stdin="from stdin\n")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "You said: from stdin\n"
    assert FIGURES.search(res.stderr) is None


def test_audio_in_and_audio_out(tmp_path: Path) -> None:
    wav_in = tmp_path / "in.wav"
    wav_out = tmp_path / "out.wav"
    # 16 kHz stereo: the CLI must downmix and resample to 24 kHz mono for the emulator to hear it
    write_tone_code_wav(wav_in, "hello world", rate=16000, channels=2)
    res = run_cli("chat", "--audio-in", str(wav_in), "--audio-out", str(wav_out),
                  "--emulator-speed", "0")
    assert res.returncode == 0, res.stderr
    reply = "You said: hello world"
    assert res.stdout == reply + "\n"
    figures = FIGURES.search(res.stderr)
    assert figures is not None, res.stderr
    with wave.open(str(wav_out), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 24000)
        assert wav.getcomptype() == "NONE"
        seconds = wav.getnframes() / 24000
    # the file holds exactly the audio the server streamed ...
    assert seconds == pytest.approx(float(figures["seconds"]), abs=0.005)
    # ... which is the emulator's synthesis of the reply it printed
    assert seconds == pytest.approx(len(reply) * CHAR_MS / 1000)


def test_audio_in_8bit_mono(tmp_path: Path) -> None:
    wav_in = tmp_path / "in8.wav"
    write_tone_code_wav(wav_in, "ok", rate=8000, channels=1, sample_width=1)
    res = run_cli("chat", "--audio-in", str(wav_in), "--text-only", "--emulator-speed", "0")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "You said: ok\n"


def test_bad_wav_is_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF-not-really")
    res = run_cli("chat", "--audio-in", str(bad))
    assert res.returncode == 1
    assert res.stderr.startswith("openai-realtime-ws: error: ")
    assert res.stderr.count("\n") == 1
    debug = run_cli("chat", "--debug", "--audio-in", str(bad))
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr


def test_connection_refused_exits_3() -> None:
    res = run_cli("chat", "--base-url", "http://127.0.0.1:1/v1", "--api-key", "sk-secret-1234",
                  "hi")
    assert res.returncode == 3
    assert res.stderr.startswith("openai-realtime-ws: error: could not connect")
    assert "sk-secret-1234" not in res.stderr + res.stdout


@pytest.mark.parametrize("argv", [
    [],
    ["nope"],
    ["chat", "--bogus"],
    ["chat", "hi", "--audio-in", "x.wav"],
    ["chat", "--url", "ws://127.0.0.1:9/v1/realtime", "--base-url", "http://127.0.0.1:9/v1", "hi"],
    ["chat", "--emulator", "--base-url", "http://127.0.0.1:9/v1", "hi"],
    ["chat", "--deployment", "d", "hi"],
    ["chat", "--url", "ws://example.com/v1/realtime", "--api-key", "sk-x", "hi"],
    ["events", "--send", "{not json"],
    ["events", "--count", "0"],
    ["mint-key", "--ttl", "abc"],
    ["mint-key", "--base-url", "http://example.com/v1", "--api-key", "sk-x"],
])
def test_usage_errors_exit_2(argv: list[str]) -> None:
    res = run_cli(*argv)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "error: " in res.stderr
    assert "Traceback" not in res.stderr
    assert "sk-x" not in res.stderr


@pytest.mark.parametrize("command", ["chat", "events", "replay", "mint-key", "emulator"])
def test_help_on_every_command(command: str) -> None:
    res = run_cli(command, "--help")
    assert res.returncode == 0, res.stderr
    assert "usage:" in res.stdout
    assert "--help" in res.stdout


def test_server_error_on_the_turn_exits_1(tmp_path: Path) -> None:
    short = tmp_path / "short.wav"
    with wave.open(str(short), "wb") as wav:  # 50 ms: the server refuses to commit it
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(24000)
        wav.writeframes(b"\x00\x00" * 1200)
    res = run_cli("chat", "--audio-in", str(short))
    assert res.returncode == 1
    assert res.stderr.splitlines()[-1].startswith("openai-realtime-ws: error: ")
    assert "input_audio_buffer_commit_empty" in res.stderr
