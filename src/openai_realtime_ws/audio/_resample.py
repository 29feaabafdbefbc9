# Streaming sample-rate conversion of mono PCM16: one Resampler per stream keeps its filter state
# across chunks, so a stream cut into chunks of any size gives the same samples as the whole
# stream converted at once (no glitch at chunk borders). soxr (the `audio` extra) does the work
# when installed; without it a pure-Python linear interpolator (with a causal moving-average
# low-pass when the rate goes down) keeps the same guarantee.
from __future__ import annotations

import importlib
import sys
from array import array
from typing import Any, Literal

__all__ = ["Resampler", "soxr_available"]

_soxr: Any
_np: Any
try:
    _soxr = importlib.import_module("soxr")  # the audio extra (no type stubs)
except ImportError:  # pragma: no cover - exercised on installs without the extra
    _soxr = None
try:
    import numpy as _np
except ImportError:  # pragma: no cover
    _np = None


def soxr_available() -> bool:
    """Whether the soxr backend (``pip install 'openai-realtime-ws[audio]'``) is installed."""
    return _soxr is not None and _np is not None


def _samples(pcm: bytes) -> array[int]:
    if len(pcm) % 2:
        raise ValueError(f"PCM16 audio must have an even number of bytes, got {len(pcm)}")
    out = array("h")
    out.frombytes(pcm)
    if sys.byteorder == "big":
        out.byteswap()
    return out


def _to_bytes(samples: array[int]) -> bytes:
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


class Resampler:
    """Convert a stream of mono PCM16 little-endian audio from ``rate_in`` to ``rate_out``.

    ``process(chunk)`` returns the converted audio available so far; ``process(b"", last=True)``
    (or :meth:`flush`) returns the rest at the end of the stream. ``backend``: ``"auto"`` (soxr
    when installed), ``"soxr"`` or ``"linear"`` (pure Python).
    """

    def __init__(
        self,
        rate_in: int,
        rate_out: int = 24000,
        *,
        backend: Literal["auto", "soxr", "linear"] = "auto",
        quality: str = "HQ",
    ) -> None:
        if not isinstance(rate_in, int) or rate_in <= 0:
            raise ValueError(f"rate_in: expected a positive integer sample rate, got {rate_in!r}")
        if not isinstance(rate_out, int) or rate_out <= 0:
            raise ValueError(f"rate_out: expected a positive integer sample rate, got {rate_out!r}")
        if backend not in ("auto", "soxr", "linear"):
            raise ValueError(f"backend: expected 'auto', 'soxr' or 'linear', got {backend!r}")
        if backend == "soxr" and not soxr_available():
            raise ValueError("backend='soxr' needs the audio extra: pip install 'openai-realtime-ws[audio]'")
        self.rate_in = rate_in
        self.rate_out = rate_out
        self.backend: str = (
            "none" if rate_in == rate_out
            else "soxr" if backend in ("auto", "soxr") and soxr_available()
            else "linear"
        )
        self._stream: Any = None
        if self.backend == "soxr":
            assert _soxr is not None
            # float32 in, our own rounding out: soxr's int16 output is dithered (random), which
            # would make a chunked stream differ from the same stream converted at once
            self._stream = _soxr.ResampleStream(rate_in, rate_out, 1, dtype="float32", quality=quality)
        # linear state: input samples not yet consumed (after the low-pass), how many input
        # samples were dropped before them, how many outputs were produced, low-pass history
        self._buf: array[int] = array("h")
        self._dropped = 0
        self._n_out = 0
        self._width = max(1, round(rate_in / rate_out)) if rate_in > rate_out else 1
        self._hist: list[int] = [0] * (self._width - 1)
        self._done = False

    def process(self, pcm: bytes, *, last: bool = False) -> bytes:
        """Convert the next chunk; with ``last=True`` also return everything still held."""
        if self._done:
            raise ValueError("this Resampler already finished its stream (last=True); make a new one")
        self._done = last
        if self.backend == "none":
            _samples(pcm)  # validates the length
            return bytes(pcm)
        if self.backend == "soxr":
            assert _np is not None
            _samples(pcm)  # validates the length
            x = _np.frombuffer(pcm, dtype="<i2").astype(_np.float32)
            y = self._stream.resample_chunk(x, last=last)
            return bytes(_np.clip(_np.rint(y), -32768, 32767).astype("<i2").tobytes())
        return _to_bytes(self._linear(_samples(pcm), last))

    def flush(self) -> bytes:
        """The rest of the stream (same as ``process(b"", last=True)``)."""
        return self.process(b"", last=True)

    def _lowpass(self, samples: array[int]) -> array[int]:
        w = self._width
        if w <= 1:
            return samples
        hist = self._hist
        seq = [*hist, *samples]
        out = array("h", bytes(2 * len(samples)))
        acc = sum(seq[: w - 1])
        for i in range(len(samples)):
            acc += seq[i + w - 1]
            out[i] = acc // w
            acc -= seq[i]
        self._hist = seq[len(seq) - (w - 1):] if w > 1 else []
        return out

    def _linear(self, samples: array[int], last: bool) -> array[int]:
        buf = self._buf
        buf.extend(self._lowpass(samples))
        rin, rout = self.rate_in, self.rate_out
        total = self._dropped + len(buf)  # input samples seen so far
        out = array("h")
        i = self._n_out
        while True:
            num = i * rin
            j, rem = divmod(num, rout)
            if j + 1 < total:
                a = buf[j - self._dropped]
                b = buf[j + 1 - self._dropped]
                out.append(a + (b - a) * rem // rout)
            elif last and j < total:
                # the tail: as many outputs as the whole stream calls for
                if i >= (total * rout + rin // 2) // rin:
                    break
                out.append(buf[j - self._dropped])
            else:
                break
            i += 1
        if last:
            # outputs beyond the last input sample (rounding up the length) repeat it
            want = (total * rout + rin // 2) // rin
            tail = buf[-1] if buf else 0
            while i < want:
                out.append(tail)
                i += 1
        self._n_out = i
        # keep only what the next output still needs
        keep_from = (i * rin) // rout
        drop = max(0, min(keep_from - self._dropped, len(buf) - 1))
        if drop:
            del buf[:drop]
            self._dropped += drop
        return out
