"""WAV files and sample helpers: read any integer-PCM WAV as the Realtime API's default input
format (PCM16, 24 kHz, mono), downmix, and write replies as 24 kHz mono PCM16 WAV.

Stdlib ``wave`` + ``array`` (no ``audioop``: removed in 3.13); rate conversion is
:class:`Resampler` (soxr when the ``audio`` extra is installed). Used by the CLI's
``chat --audio-in/--audio-out``; ``AsyncOpenAIRealtimeWS.send_audio`` takes the bytes returned.
"""

from __future__ import annotations

import sys
import wave
from array import array
from pathlib import Path

from ._resample import Resampler

__all__ = [
    "API_RATE",
    "BYTES_PER_SECOND",
    "downmix",
    "read_wav_pcm16_24k",
    "resample_linear",
    "to_int16_samples",
    "write_wav_pcm16_24k",
]

API_RATE = 24000
"""Sample rate of the API's ``audio/pcm`` format."""
BYTES_PER_SECOND = API_RATE * 2
"""PCM16 mono bytes per second at 24 kHz (48 bytes per ms)."""


def to_int16_samples(frames: bytes, sample_width: int) -> array[int]:
    """Integer PCM frames (8-bit unsigned, 16/24/32-bit signed little-endian) to int16 samples."""
    if sample_width == 2:
        out = array("h")
        out.frombytes(frames[: len(frames) - len(frames) % 2])
        if sys.byteorder == "big":
            out.byteswap()
        return out
    if sample_width == 1:
        return array("h", [(b - 128) << 8 for b in frames])
    if sample_width in (3, 4):
        # keep the two most significant bytes of each little-endian sample
        hi = sample_width - 1
        n = len(frames) // sample_width
        data = bytearray(2 * n)
        data[0::2] = frames[hi - 1 :: sample_width][:n]
        data[1::2] = frames[hi::sample_width][:n]
        out = array("h")
        out.frombytes(bytes(data))
        if sys.byteorder == "big":
            out.byteswap()
        return out
    raise ValueError(f"unsupported sample width: {8 * sample_width} bits")


def downmix(samples: array[int], channels: int) -> array[int]:
    """Interleaved multi-channel int16 samples to mono (the mean of the channels)."""
    if channels == 1:
        return samples
    if channels == 2:
        return array("h", [(a + b) >> 1 for a, b in zip(samples[0::2], samples[1::2], strict=False)])
    columns = [samples[c::channels] for c in range(channels)]
    return array("h", [sum(frame) // channels for frame in zip(*columns, strict=False)])


def resample_linear(samples: array[int], rate_in: int, rate_out: int = API_RATE) -> array[int]:
    """Resample mono int16 samples by linear interpolation (the pure-Python backend of
    :class:`Resampler`, whole stream at once). The output has ``round(len * rate_out / rate_in)``
    samples."""
    if rate_in <= 0 or rate_out <= 0:
        raise ValueError("sample rates must be positive")
    data = samples.tobytes() if sys.byteorder == "little" else _swapped(samples)
    out = array("h")
    out.frombytes(Resampler(rate_in, rate_out, backend="linear").process(data, last=True))
    if sys.byteorder == "big":
        out.byteswap()
    return out


def _swapped(samples: array[int]) -> bytes:
    copy = array("h", samples)
    copy.byteswap()
    return copy.tobytes()


def read_wav_pcm16_24k(path: str | Path) -> bytes:
    """Read an integer-PCM WAV file (any rate, any channel count, 8/16/24/32-bit) and return its
    audio as PCM16 little-endian, 24 kHz, mono bytes (the API's ``audio/pcm`` format)."""
    try:
        with wave.open(str(path), "rb") as wav:
            channels = wav.getnchannels()
            width = wav.getsampwidth()
            rate = wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except wave.Error as exc:
        raise ValueError(f"{path}: not a PCM WAV file ({exc})") from None
    except EOFError:
        raise ValueError(f"{path}: not a WAV file, or truncated") from None
    samples = downmix(to_int16_samples(frames, width), channels)
    if sys.byteorder == "big":
        samples.byteswap()
    return Resampler(rate, API_RATE).process(samples.tobytes(), last=True)


def write_wav_pcm16_24k(path: str | Path, pcm: bytes) -> None:
    """Write PCM16 little-endian 24 kHz mono bytes as a WAV file."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(API_RATE)
        wav.writeframes(pcm[: len(pcm) - len(pcm) % 2])
