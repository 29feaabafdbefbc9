"""Microphone and speaker against a real sound server (PulseAudio with a null sink and a virtual
microphone fed from a WAV; see pulse.py), through sounddevice/PortAudio."""

from __future__ import annotations

import asyncio
import itertools
import math
import shutil
import statistics
import struct
import subprocess
import wave
from pathlib import Path

import pytest

from openai_realtime_ws import AsyncOpenAIRealtimeWS
from openai_realtime_ws.audio import Microphone, Speaker
from openai_realtime_ws.emulator import Emulator, EmulatorConfig, synth_audio
from openai_realtime_ws.voice import VoiceEvent, VoiceSession

from .pulse import Pulse, pulse

__all__ = ["pulse"]

KEY = "sk-devices-00000000"


def _tone(ms: int, hz: float = 440.0) -> bytes:
    n = 24 * ms
    return struct.pack(f"<{n}h", *[int(9000 * math.sin(2 * math.pi * hz * i / 24000)) for i in range(n)])


def _pitch(pcm: bytes, rate: int = 24000) -> float:
    """The median pitch of the fully loud 20 ms windows: on a busy machine an underrun puts gaps
    of silence into what the sound server records, and a window with a gap is not a pitch."""
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    n = rate // 50
    pitches = []
    for i in range(0, len(samples) - n + 1, n):
        w = samples[i : i + n]
        if math.sqrt(sum(x * x for x in w) / n) < 4000:  # the tones here have an RMS of ~6400
            continue
        # interpolated zero crossings: the first to the last one span (count - 1) half periods
        xs = [j + a / (a - b) for j, (a, b) in enumerate(itertools.pairwise(w)) if (a < 0) != (b < 0)]
        if len(xs) >= 3:
            pitches.append((len(xs) - 1) / 2 / ((xs[-1] - xs[0]) / rate))
    return statistics.median(pitches) if pitches else 0.0


def _tone_ms(pcm: bytes, amplitude: int = 9000) -> float:
    """How many ms of the test tone a recording holds, from its energy (an underrun's gap of
    silence adds nothing, where it would lengthen the span from first to last sample)."""
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    return float(sum(x * x for x in samples)) / (amplitude * amplitude / 2) / 24


def _loud(pcm: bytes) -> bytes:
    """The samples above -40 dBFS (drops leading/trailing silence)."""
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    idx = [i for i, s in enumerate(samples) if abs(s) > 330]
    if not idx:
        return b""
    return pcm[2 * idx[0] : 2 * idx[-1] + 2]


def _read_wav(path: Path) -> bytes:
    with wave.open(str(path), "rb") as w:
        assert w.getframerate() == 24000 and w.getnchannels() == 1
        return w.readframes(w.getnframes())


async def _until(cond: object, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():  # type: ignore[operator]
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_speaker_plays_into_the_sound_server_and_stops_on_interrupt(pulse: Pulse, tmp_path: Path) -> None:
    rec_path = tmp_path / "speaker.wav"
    rec = pulse.record_speaker(rec_path)
    try:
        async with Speaker() as speaker:
            speaker.write("item_a", 0, _tone(3000))
            # interrupt once about one second has been handed to the device
            await _until(lambda: sum(r for _, r in speaker.blocks) >= 1000 * 48)
            stop = speaker.interrupt()
            t_stop = speaker.interrupted_at
            assert stop.item_id == "item_a" and stop.received_ms == 3000
            played_ms = sum(r for _, r in speaker.blocks) / 48
            assert abs(stop.heard_ms - played_ms) <= 1  # what reached the device plays out
            await _until(lambda: any(t > (t_stop or 0) + 0.2 for t, _ in speaker.blocks))
            after = [r for t, r in speaker.blocks if t > (t_stop or 0) + 0.015]
            assert after and sum(after) == 0  # nothing real after the stop
    finally:
        rec.terminate()
        rec.wait(5)
    recorded = _read_wav(rec_path)
    # the sound server played what counts as heard (about a second of the 3 s tone), no more
    # (±40 ms: an ALSA underrun recovery on a busy machine can lose a block or two)
    assert abs(_tone_ms(recorded) - stop.heard_ms) <= 40, (_tone_ms(recorded), stop.heard_ms)
    assert abs(_pitch(recorded) - 440) < 10


@pytest.fixture
def spoken_wav(tmp_path: Path) -> Path:
    """Real speech from espeak-ng (a WAV file)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt: espeak-ng)")
    wav = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "hello from the microphone"], check=True, timeout=30)
    return wav


async def test_microphone_captures_what_the_virtual_source_plays(pulse: Pulse, spoken_wav: Path) -> None:
    wav = spoken_wav
    frames: list[bytes] = []
    async with Microphone() as mic:
        player = pulse.play_into_mic(wav)
        async for frame in mic:
            frames.append(frame)
            if player.poll() is not None and len(frames) > 100:
                break
            assert len(frames) < 1000
        player.wait(5)
    assert all(len(f) == 960 for f in frames)
    speech = _loud(b"".join(frames))
    assert len(speech) / 48 > 500  # espeak-ng said it for more than half a second


async def test_voice_session_with_real_devices_hears_the_user(pulse: Pulse, tmp_path: Path) -> None:
    """Microphone -> VoiceSession -> emulator (server VAD, transcription) -> Speaker."""
    wav = tmp_path / "tones.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(24000)
        w.writeframes(synth_audio("hello there", "audio/pcm", lead_silence_ms=200, tail_silence_ms=800))
    rec = pulse.record_speaker(tmp_path / "reply.wav")
    events: list[VoiceEvent] = []
    try:
        async with Emulator(config=EmulatorConfig(speed=2.0)) as emu:
            rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="gpt-realtime")
            async with Microphone() as mic, Speaker() as speaker, \
                    VoiceSession(rt, source=mic, sink=speaker, on_event=events.append):
                await rt.wait_for("session.updated", timeout=5)
                player = pulse.play_into_mic(wav)
                await _until(lambda: any(e.type == "response_done" for e in events), 15)
                await _until(lambda: not speaker.playing, 15)
                player.wait(5)
            await rt.close()
    finally:
        rec.terminate()
        rec.wait(5)
    said = [e.text for e in events if e.type == "user_transcript"]
    assert said == ["hello there"], said
    assert any(e.type == "assistant_transcript" and "hello there" in e.text for e in events)
    turns = [e for e in events if e.type == "turn"]
    assert turns and turns[0].latency_ms is not None and turns[0].latency_ms > 0
    assert len(_loud(_read_wav(tmp_path / "reply.wav"))) / 48 > 1000  # the reply was heard


async def test_barge_in_on_real_devices(pulse: Pulse, tmp_path: Path) -> None:
    """The user (a WAV played into the virtual microphone) talks over the assistant (on the
    speaker): the speaker's callbacks go silent within 50 ms of speech_started and the truncate
    equals what the speaker played (±20 ms); the sound server's recording has nothing after it."""
    wav = tmp_path / "interrupt.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(24000)
        w.writeframes(synth_audio("stop", "audio/pcm", tail_silence_ms=600))
    rec_path = tmp_path / "speaker.wav"
    rec = pulse.record_speaker(rec_path)
    try:
        async with Emulator(config=EmulatorConfig(speed=4.0)) as emu:
            rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="gpt-realtime")
            async with Microphone() as mic, Speaker() as speaker, \
                    VoiceSession(rt, source=mic, sink=speaker) as voice:
                await rt.wait_for("session.updated", timeout=5)
                voice.say("tell me a very long story about the sea and the ships that sail on it")
                await _until(lambda: sum(r for _, r in speaker.blocks) >= 600 * 48)
                player = pulse.play_into_mic(wav)
                await _until(lambda: bool(voice.stops), 10)
                t_speech = voice.speech_started_at[0]
                await _until(lambda: any(t > t_speech + 0.2 for t, _ in speaker.blocks))
                player.wait(5)
                conn = emu.connections[0]
                await _until(lambda: "conversation.item.truncate" in conn.received_types())
            await rt.close()
    finally:
        rec.terminate()
        rec.wait(5)
    truncate = next(e for e in conn.received if e["type"] == "conversation.item.truncate")
    played_ms = sum(r for _, r in speaker.blocks) / 48
    assert abs(truncate["audio_end_ms"] - played_ms) <= 20, (truncate, played_ms)
    t_stop = next(t for t, real in speaker.blocks if t > t_speech and real == 0)
    assert sum(real for t, real in speaker.blocks if t >= t_stop) == 0
    stop_ms = (t_stop - t_speech) * 1000
    assert stop_ms < 50, stop_ms
    recorded = _tone_ms(_read_wav(rec_path), amplitude=round(0.3 * 32767))  # the emulator's voice
    assert recorded <= truncate["audio_end_ms"] + 40  # nothing sounded after the cut
    print(f"\nreal devices: callbacks silent {stop_ms:.1f} ms after speech_started (+ device "
          f"latency {speaker.latency_ms:.0f} ms); truncate {truncate['audio_end_ms']} ms vs played "
          f"{played_ms:.1f} ms; recorded {recorded:.0f} ms of voice")


async def test_speaker_at_another_device_rate_resamples_and_counts_what_it_dropped(
    pulse: Pulse, tmp_path: Path
) -> None:
    rec_path = tmp_path / "speaker48k.wav"
    rec = pulse.record_speaker(rec_path)
    try:
        async with Speaker(samplerate=48000) as speaker:
            speaker.write("item_b", 0, _tone(3000))
            await _until(lambda: sum(r for _, r in speaker.blocks) >= 800 * 48)
            stop = speaker.interrupt()
            pulled_ms = sum(r for _, r in speaker.blocks) / 48
            # heard = pulled minus what the resampler and its buffer still held
            assert pulled_ms - 60 <= stop.heard_ms <= pulled_ms
            t_stop = speaker.interrupted_at or 0.0
            await _until(lambda: any(t > t_stop + 0.2 for t, _ in speaker.blocks))
            assert sum(r for t, r in speaker.blocks if t > t_stop + 0.015) == 0
    finally:
        rec.terminate()
        rec.wait(5)
    recorded = _loud(_read_wav(rec_path))
    assert abs(_pitch(recorded) - 440) < 10
    # the sound server got exactly what counts as heard: the held audio was dropped, not played
    tone_ms = _tone_ms(_read_wav(rec_path))
    assert abs(tone_ms - stop.heard_ms) <= 40, (tone_ms, stop.heard_ms)  # as above


async def test_microphone_at_another_device_rate_gives_24k_frames(pulse: Pulse, tmp_path: Path) -> None:
    wav = tmp_path / "tone.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(24000)
        w.writeframes(bytes(24000) + _tone(1000, hz=600) + bytes(24000))
    frames: list[bytes] = []
    async with Microphone(samplerate=16000) as mic:
        player = pulse.play_into_mic(wav)
        async for frame in mic:
            frames.append(frame)
            if player.poll() is not None and len(frames) > 100:
                break
            assert len(frames) < 1000
        player.wait(5)
    assert all(len(f) == 960 for f in frames)
    tone = _loud(b"".join(frames))
    assert 900 <= len(tone) / 48 <= 1100
    assert abs(_pitch(tone) - 600) < 10
