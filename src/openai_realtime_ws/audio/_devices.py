# Sound devices through `sounddevice` (PortAudio; the `audio` extra): a Microphone source that
# yields 20 ms PCM16 24 kHz frames from the capture callback into the event loop, and a Speaker
# sink whose output callback pulls from the PlaybackQueue (so an interruption silences the very
# next callback block). Only the shell lives here: frames, timing and rules are in _sources.py,
# _sinks.py and core/playback.py.
from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import AsyncIterator
from typing import Any

from ..core.playback import PlaybackStop
from ._resample import Resampler
from ._sinks import AudioSink

__all__ = ["AudioDeviceError", "Microphone", "Speaker", "sounddevice_module"]

API_RATE = 24000


class AudioDeviceError(RuntimeError):
    """No usable sound device (or the audio extra is not installed): the message says which."""


def sounddevice_module() -> Any:
    """Import ``sounddevice`` or explain how to get it."""
    try:
        sounddevice = importlib.import_module("sounddevice")  # the audio extra (no type stubs)
    except ImportError as exc:
        raise AudioDeviceError(
            "microphone/speaker need the audio extra: pip install 'openai-realtime-ws[audio]'"
        ) from exc
    except OSError as exc:  # PortAudio library missing
        raise AudioDeviceError(f"PortAudio is not available ({exc}); install libportaudio2") from exc
    return sounddevice


class Microphone:
    """The default (or named) input device as an async iterator of 20 ms PCM16 24 kHz frames.

    ``async with Microphone() as mic: async for frame in mic: ...``. ``samplerate``: the rate
    to open the device at (default: 24 kHz when the device takes it, else its own rate); any
    other rate than 24 kHz is converted by one streaming Resampler."""

    def __init__(self, device: int | str | None = None, *, samplerate: int | None = None,
                 frame_ms: int = 20, max_queue: int = 500) -> None:
        self.device = device
        self.samplerate = samplerate
        self.frame_ms = frame_ms
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(max_queue)
        self._stream: Any = None
        self._resampler: Resampler | None = None
        self._buf = bytearray()
        self.overflows = 0
        """Frames dropped because the consumer fell behind."""

    async def start(self) -> None:
        """Open the input device and start capturing (idempotent)."""
        if self._stream is not None:
            return  # already capturing
        sd = sounddevice_module()
        loop = asyncio.get_running_loop()
        frame = API_RATE * self.frame_ms // 1000 * 2

        def put(data: bytes) -> None:
            try:
                self._queue.put_nowait(data)
            except asyncio.QueueFull:
                self.overflows += 1

        def callback(indata: Any, frames: int, t: Any, status: Any) -> None:
            data = bytes(indata)
            if self._resampler is not None:
                data = self._resampler.process(data)
            self._buf.extend(data)
            while len(self._buf) >= frame:
                out = bytes(self._buf[:frame])
                del self._buf[:frame]
                loop.call_soon_threadsafe(put, out)

        try:
            rate = self.samplerate or _device_rate(sd, self.device, "input")
            self._resampler = Resampler(rate, API_RATE) if rate != API_RATE else None
            self._stream = await _open(lambda: sd.RawInputStream(
                samplerate=rate, channels=1, dtype="int16", device=self.device,
                blocksize=rate * self.frame_ms // 1000, callback=callback,
            ))
        except AudioDeviceError:
            raise
        except Exception as exc:
            raise AudioDeviceError(f"cannot open the microphone: {exc}") from exc

    async def aclose(self) -> None:
        """Stop capturing and release the device; iteration ends."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.stop()
            stream.close()
            while self._queue.full():  # make room for the end marker
                self._queue.get_nowait()
            self._queue.put_nowait(None)

    async def __aenter__(self) -> Microphone:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[bytes]:
        if self._stream is None:
            await self.start()
        while True:
            item = await self._queue.get()
            if item is None:
                return
            yield item


async def _open(make: Any, attempts: int = 3) -> Any:
    """Open and start a PortAudio stream; a sound server that is slow to answer (a busy machine,
    PulseAudio behind ALSA) can fail an open once: try again after a short pause."""
    for attempt in range(attempts):
        try:
            stream = make()
            try:
                stream.start()
            except Exception:
                stream.close()
                raise
            return stream
        except Exception:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.1 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _device_rate(sd: Any, device: int | str | None, kind: str) -> int:
    """24 kHz when the device takes it, else the device's own default rate."""
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    try:
        check(device=device, samplerate=API_RATE, channels=1, dtype="int16")
        return API_RATE
    except Exception:
        return int(sd.query_devices(device, kind)["default_samplerate"])


class Speaker(AudioSink):
    """The default (or named) output device as a sink for 24 kHz PCM16 assistant audio.

    PortAudio calls back for every ``block_ms`` block; the callback pulls from the playback
    queue, so ``interrupt()`` takes effect at the next block; what was already handed to the
    device still plays out (``latency_ms`` later) and counts as heard. ``samplerate``: the rate
    to open the device at (default: 24 kHz when the device takes it, else its own rate); at any
    other rate the audio goes through one streaming Resampler, and what it still holds when
    playback is interrupted is dropped and not counted as heard."""

    def __init__(self, device: int | str | None = None, *, samplerate: int | None = None,
                 block_ms: int = 10, latency: str | float = "low") -> None:
        super().__init__("audio/pcm")
        self.device = device
        self.samplerate = samplerate
        self._rate = API_RATE
        self._resampler: Resampler | None = None
        self._out = bytearray()  # resampled audio waiting for the next callback (device rate)
        self._pulled = 0  # 24 kHz bytes pulled since the resampler started
        self._delivered = 0  # device-rate bytes handed to the device since then
        self.block_ms = block_ms
        self._latency_setting = latency
        self._stream: Any = None
        self.blocks: list[tuple[float, int]] = []
        """Per callback (bounded to the last 10,000): ``perf_counter`` time and real bytes."""
        self.underflows = 0

    @property
    def unheard_ms(self) -> float:
        """Audio pulled but not yet handed to the device: what the resampler and its output
        buffer hold (dropped by an interruption)."""
        if self._resampler is None:
            return 0.0
        return max(0.0, self._pulled / 48.0 - self._delivered / (self._rate * 2 / 1000.0))

    def interrupt(self) -> PlaybackStop:
        """Stop now (see :meth:`AudioSink.interrupt`); also drops what the resampler holds."""
        with self._lock:
            stop = super().interrupt()
            self._out.clear()
            if self._resampler is not None:
                self._resampler = Resampler(API_RATE, self._rate)
                self._pulled = self._delivered = 0
        return stop

    @property
    def latency_ms(self) -> float:
        """The device's output latency (audio handed over but not yet sounded)."""
        stream = self._stream
        return float(stream.latency) * 1000.0 if stream is not None else 0.0

    async def start(self) -> None:
        """Open the output device and start playing (idempotent)."""
        if self._stream is not None:
            return  # already playing (a second stream would replace a running one)
        sd = sounddevice_module()
        blocks = self.blocks

        step = API_RATE * self.block_ms // 1000 * 2  # bytes of 24 kHz audio per pull

        def callback(outdata: Any, frames: int, t: Any, status: Any) -> None:
            if status.output_underflow:
                self.underflows += 1
            need = len(outdata)
            if self._resampler is None:
                data, real = self._pull(need)
                outdata[:] = data
            else:
                real = 0
                with self._lock:  # interrupt() swaps the resampler and clears _out under it
                    resampler = self._resampler
                    assert resampler is not None
                    out = self._out
                    while len(out) < need:
                        chunk, got = self._pull(step)
                        real += got
                        self._pulled += len(chunk)
                        out += resampler.process(chunk)
                    outdata[:] = bytes(out[:need])
                    del out[:need]
                    self._delivered += need
            blocks.append((time.perf_counter(), real))
            if len(blocks) > 10_000:
                del blocks[:5_000]

        try:
            rate = self.samplerate or _device_rate(sd, self.device, "output")
            self._rate = rate
            self._resampler = Resampler(API_RATE, rate) if rate != API_RATE else None
            self._stream = await _open(lambda: sd.RawOutputStream(
                samplerate=rate, channels=1, dtype="int16", device=self.device,
                blocksize=rate * self.block_ms // 1000, callback=callback,
                latency=self._latency_setting,
            ))
        except Exception as exc:
            self._stream = None
            raise AudioDeviceError(f"cannot open the speaker: {exc}") from exc

    async def aclose(self) -> None:
        """Stop playing and release the device."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.stop()
            stream.close()
