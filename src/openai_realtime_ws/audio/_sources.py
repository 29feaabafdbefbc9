# Audio sources: where the user's audio comes from, as async iterators of PCM16 24 kHz mono
# frames (the Realtime API's `audio/pcm`). Files (WAV, raw PCM) and any iterable of PCM chunks at
# any rate are cut into fixed frames (20 ms by default) through one streaming Resampler, and
# optionally paced in real time on the loop clock (an absolute schedule: no drift). The
# microphone is in _devices.py.
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from pathlib import Path

from ._resample import Resampler
from ._wav import API_RATE, read_wav_pcm16_24k

__all__ = ["pcm_frames", "raw_frames", "wav_frames"]


async def _aiter(chunks: AsyncIterable[bytes] | Iterable[bytes]) -> AsyncIterator[bytes]:
    if isinstance(chunks, AsyncIterable):
        async for c in chunks:
            yield c
    else:
        for c in chunks:
            yield c


async def pcm_frames(
    chunks: AsyncIterable[bytes] | Iterable[bytes] | bytes,
    *,
    rate: int = API_RATE,
    frame_ms: int = 20,
    realtime: bool = False,
    pad_last: bool = True,
) -> AsyncIterator[bytes]:
    """PCM16 mono chunks of any size (even odd) at ``rate`` as ``frame_ms`` frames at 24 kHz.

    ``realtime=True`` yields one frame per ``frame_ms`` of wall time (as a microphone would);
    the last partial frame is padded with silence unless ``pad_last`` is False."""
    if frame_ms <= 0:
        raise ValueError(f"frame_ms: expected a positive number of milliseconds, got {frame_ms!r}")
    frame = API_RATE * frame_ms // 1000 * 2
    resampler = Resampler(rate, API_RATE)
    buf = bytearray()
    loop = asyncio.get_running_loop()
    start = loop.time()
    n = 0

    async def pace() -> None:
        nonlocal n
        n += 1
        if realtime:
            delay = start + n * frame_ms / 1000.0 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)

    source = [chunks] if isinstance(chunks, bytes | bytearray) else chunks
    odd = b""  # a chunk may end in the middle of a sample: its byte waits for the next chunk
    async for chunk in _aiter(source):
        data = odd + bytes(chunk)
        cut = len(data) - len(data) % 2
        data, odd = data[:cut], data[cut:]
        buf += resampler.process(data)
        while len(buf) >= frame:
            out = bytes(buf[:frame])
            del buf[:frame]
            await pace()
            yield out
    buf += resampler.flush()
    while len(buf) >= frame:
        out = bytes(buf[:frame])
        del buf[:frame]
        await pace()
        yield out
    if buf and pad_last:
        await pace()
        yield bytes(buf) + bytes(frame - len(buf))


def wav_frames(
    path: str | Path, *, frame_ms: int = 20, realtime: bool = True
) -> AsyncIterator[bytes]:
    """A WAV file (any integer PCM, rate, channels) as 24 kHz mono PCM16 frames."""
    return pcm_frames(read_wav_pcm16_24k(path), frame_ms=frame_ms, realtime=realtime)


def raw_frames(
    path: str | Path, *, rate: int = API_RATE, frame_ms: int = 20, realtime: bool = True
) -> AsyncIterator[bytes]:
    """A raw PCM16 little-endian mono file at ``rate`` as 24 kHz frames."""
    data = Path(path).read_bytes()
    if len(data) % 2:
        raise ValueError(f"{path}: raw PCM16 needs an even number of bytes, got {len(data)}")
    return pcm_frames(data, rate=rate, frame_ms=frame_ms, realtime=realtime)
