"""G.711 (ITU-T G.711) μ-law and A-law, without I/O: the codecs of the Realtime API's
``audio/pcmu`` and ``audio/pcma`` formats (8 kHz, one byte per sample) and of telephone lines.

This module owns the sample <-> byte rules and the 256-entry decode / 65536-entry encode tables
built from them once. The public names are re-exported by :mod:`openai_realtime_ws.audio`; the
emulator uses the same functions (no codec is written twice). numpy, when installed, only speeds
up the table look-ups; the results are the same bytes.
"""

from __future__ import annotations

import sys
from array import array
from functools import lru_cache
from typing import Any

_UNSET: Any = object()
_np: Any = _UNSET  # numpy, None without it; imported on the first whole-buffer call


def _numpy() -> Any:
    """numpy (an optional speed-up the `audio` extra installs) or None; imported lazily so that
    importing this module (the emulator does) costs nothing."""
    global _np
    if _np is _UNSET:
        try:
            import numpy
        except ImportError:  # pragma: no cover - exercised on installs without numpy
            _np = None
        else:
            _np = numpy
    return _np

__all__ = [
    "ALAW_SILENCE",
    "ULAW_SILENCE",
    "alaw_decode_sample",
    "alaw_encode_sample",
    "alaw_to_pcm16",
    "pcm16_to_alaw",
    "pcm16_to_ulaw",
    "ulaw_decode_sample",
    "ulaw_encode_sample",
    "ulaw_to_pcm16",
]

ULAW_SILENCE = 0xFF
"""The μ-law byte of a zero sample."""
ALAW_SILENCE = 0xD5
"""The A-law byte of a zero sample."""


def ulaw_encode_sample(sample: int) -> int:
    """One int16 sample to its μ-law byte (G.711 §2, bias 0x84, clip 32635)."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    if sample < 0:
        sample = -sample
    sample = min(sample, clip) + bias
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not (sample & mask):
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def ulaw_decode_sample(byte: int) -> int:
    """One μ-law byte to its int16 sample."""
    byte = ~byte & 0xFF
    sign = byte & 0x80
    exponent = (byte >> 4) & 0x07
    mantissa = byte & 0x0F
    sample = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return -sample if sign else sample


def alaw_encode_sample(sample: int) -> int:
    """One int16 sample to its A-law byte (G.711 §3, even bits inverted with 0x55)."""
    sign = 0x00 if sample < 0 else 0x80
    if sample < 0:
        sample = -sample - 1 if sample > -32768 else 32767
    sample >>= 3
    if sample < 32:
        enc = sample >> 1
    else:
        exponent = 1
        v = sample >> 5
        while v > 1 and exponent < 7:
            v >>= 1
            exponent += 1
        enc = (exponent << 4) | ((sample >> exponent) & 0x0F)
    return (enc | sign) ^ 0x55


def alaw_decode_sample(byte: int) -> int:
    """One A-law byte to its int16 sample."""
    byte ^= 0x55
    sign = byte & 0x80
    exponent = (byte >> 4) & 0x07
    mantissa = byte & 0x0F
    if exponent == 0:
        sample = (mantissa << 4) + 8
    else:
        sample = ((mantissa << 4) + 0x108) << (exponent - 1)
    return sample if sign else -sample


@lru_cache(maxsize=2)
def _encode_table(law: str) -> bytes:
    """Byte for every int16 sample, indexed by the sample as an unsigned 16-bit number."""
    enc = ulaw_encode_sample if law == "u" else alaw_encode_sample
    return bytes(enc(i - 65536 if i >= 32768 else i) for i in range(65536))


@lru_cache(maxsize=2)
def _decode_table(law: str) -> array[int]:
    dec = ulaw_decode_sample if law == "u" else alaw_decode_sample
    return array("h", [dec(b) for b in range(256)])


@lru_cache(maxsize=4)
def _np_table(law: str, kind: str) -> Any:
    np = _numpy()
    if kind == "enc":
        return np.frombuffer(_encode_table(law), dtype=np.uint8)
    table = _decode_table(law)
    if sys.byteorder == "big":  # pragma: no cover
        table = array("h", table)
        table.byteswap()
    return np.frombuffer(table.tobytes(), dtype="<i2")


def _encode(pcm: bytes, law: str) -> bytes:
    if len(pcm) % 2:
        raise ValueError(f"PCM16 audio must have an even number of bytes, got {len(pcm)}")
    np = _numpy()
    if np is not None:
        idx = np.frombuffer(pcm, dtype="<u2")
        return bytes(_np_table(law, "enc")[idx].tobytes())
    samples = array("H")
    samples.frombytes(pcm)
    if sys.byteorder == "big":
        samples.byteswap()
    return bytes(map(_encode_table(law).__getitem__, samples))


def _decode(data: bytes, law: str) -> bytes:
    np = _numpy()
    if np is not None:
        idx = np.frombuffer(data, dtype=np.uint8)
        return bytes(_np_table(law, "dec")[idx].tobytes())
    out = array("h", map(_decode_table(law).__getitem__, data))
    if sys.byteorder == "big":
        out.byteswap()
    return out.tobytes()


def pcm16_to_ulaw(pcm: bytes) -> bytes:
    """PCM16 little-endian bytes to μ-law bytes (same rate: one byte per sample)."""
    return _encode(pcm, "u")


def ulaw_to_pcm16(data: bytes) -> bytes:
    """μ-law bytes to PCM16 little-endian bytes (same rate)."""
    return _decode(data, "u")


def pcm16_to_alaw(pcm: bytes) -> bytes:
    """PCM16 little-endian bytes to A-law bytes (same rate)."""
    return _encode(pcm, "a")


def alaw_to_pcm16(data: bytes) -> bytes:
    """A-law bytes to PCM16 little-endian bytes (same rate)."""
    return _decode(data, "a")
