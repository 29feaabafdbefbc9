"""Conversion: the streaming Resampler gives the same samples chunked as at once (no glitch at
chunk borders), with soxr and with the pure fallback; G.711 is bit-exact with the reference
sample rules; WAV and raw sources give 20 ms frames."""

from __future__ import annotations

import itertools
import math
import random
import struct
import wave
from pathlib import Path

import pytest

from openai_realtime_ws.audio import (
    Resampler,
    alaw_to_pcm16,
    pcm16_to_alaw,
    pcm16_to_ulaw,
    pcm_frames,
    raw_frames,
    read_wav_pcm16_24k,
    soxr_available,
    ulaw_to_pcm16,
    wav_frames,
)
from openai_realtime_ws.core import g711

RATES = [(16000, 24000), (48000, 24000), (44100, 24000), (24000, 8000), (8000, 24000), (22050, 24000)]
BACKENDS = ["linear", pytest.param("soxr", marks=pytest.mark.skipif(
    not soxr_available(), reason="soxr (the audio extra) is not installed"))]


def _signal(n: int, seed: int = 0) -> bytes:
    rnd = random.Random(seed)
    samples = [int(9000 * math.sin(i * 0.031) + 4000 * math.sin(i * 0.47) + rnd.randint(-800, 800))
               for i in range(n)]
    return struct.pack(f"<{n}h", *samples)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("rate_in", "rate_out"), RATES)
def test_chunked_output_equals_one_shot_output(backend: str, rate_in: int, rate_out: int) -> None:
    pcm = _signal(rate_in // 2)  # half a second
    one_shot = Resampler(rate_in, rate_out, backend=backend).process(pcm, last=True)  # type: ignore[arg-type]
    assert abs(len(one_shot) // 2 - round(len(pcm) // 2 * rate_out / rate_in)) <= 1
    for seed in range(3):
        rnd = random.Random(seed)
        r = Resampler(rate_in, rate_out, backend=backend)  # type: ignore[arg-type]
        out = bytearray()
        i = 0
        while i < len(pcm):
            n = 2 * rnd.choice([1, 2, 3, 7, 160, 480, 441, 1000])
            out += r.process(pcm[i : i + n])
            i += n
        out += r.flush()
        assert bytes(out) == one_shot


def test_resampler_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="rate_in"):
        Resampler(0)
    with pytest.raises(ValueError, match="even number of bytes"):
        Resampler(16000).process(b"\x00\x01\x02")
    r = Resampler(16000)
    r.flush()
    with pytest.raises(ValueError, match="already finished"):
        r.process(b"")


def test_resampled_tone_keeps_its_pitch() -> None:
    rate_in = 16000
    n = rate_in
    pcm = struct.pack(f"<{n}h", *[int(10000 * math.sin(2 * math.pi * 440 * i / rate_in)) for i in range(n)])
    out = Resampler(rate_in, 24000).process(pcm, last=True)
    samples = struct.unpack(f"<{len(out) // 2}h", out)
    crossings = sum(1 for a, b in itertools.pairwise(samples) if (a < 0) != (b < 0))
    assert abs(crossings / 2 - 440) <= 2


def test_g711_matches_the_reference_sample_rules_everywhere() -> None:
    samples = list(range(-32768, 32768))
    pcm = struct.pack(f"<{len(samples)}h", *samples)
    assert pcm16_to_ulaw(pcm) == bytes(g711.ulaw_encode_sample(s) for s in samples)
    assert pcm16_to_alaw(pcm) == bytes(g711.alaw_encode_sample(s) for s in samples)
    codes = bytes(range(256))
    assert ulaw_to_pcm16(codes) == struct.pack("<256h", *[g711.ulaw_decode_sample(b) for b in codes])
    assert alaw_to_pcm16(codes) == struct.pack("<256h", *[g711.alaw_decode_sample(b) for b in codes])
    # round trip: decode(encode(decode(b))) == decode(b) (G.711 is idempotent on its own outputs)
    assert ulaw_to_pcm16(pcm16_to_ulaw(ulaw_to_pcm16(codes))) == ulaw_to_pcm16(codes)
    assert alaw_to_pcm16(pcm16_to_alaw(alaw_to_pcm16(codes))) == alaw_to_pcm16(codes)
    assert pcm16_to_ulaw(b"\x00\x00") == bytes([g711.ULAW_SILENCE])
    assert pcm16_to_alaw(b"\x00\x00") == bytes([g711.ALAW_SILENCE])


def test_g711_error_names_the_problem() -> None:
    with pytest.raises(ValueError, match="even number of bytes"):
        pcm16_to_ulaw(b"\x01")


async def test_wav_and_raw_sources_give_20ms_frames(tmp_path: Path) -> None:
    rate = 16000
    pcm = _signal(rate // 2)  # 500 ms at 16 kHz
    wav_path = tmp_path / "in.wav"
    with wave.open(str(wav_path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    frames = [f async for f in wav_frames(wav_path, realtime=False)]
    assert [len(f) for f in frames] == [960] * 25
    assert b"".join(frames) == read_wav_pcm16_24k(wav_path)
    raw_path = tmp_path / "in.raw"
    raw_path.write_bytes(pcm)
    raw = [f async for f in raw_frames(raw_path, rate=rate, realtime=False)]
    assert raw == frames
    # any chunking of the input gives the same frames
    chunks = [pcm[i : i + 334] for i in range(0, len(pcm), 334)]
    assert [f async for f in pcm_frames(chunks, rate=rate)] == frames


def test_g711_without_numpy_gives_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    samples = list(range(-32768, 32768, 3))
    pcm = struct.pack(f"<{len(samples)}h", *samples)
    codes = bytes(range(256))
    fast = (pcm16_to_ulaw(pcm), pcm16_to_alaw(pcm), ulaw_to_pcm16(codes), alaw_to_pcm16(codes))
    monkeypatch.setattr(g711, "_np", None)  # as on an install without the audio extra
    assert (pcm16_to_ulaw(pcm), pcm16_to_alaw(pcm), ulaw_to_pcm16(codes), alaw_to_pcm16(codes)) == fast
