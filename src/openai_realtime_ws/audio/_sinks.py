# Audio sinks: where assistant audio goes. Every sink is a PlaybackQueue (core/playback.py: the
# per-part heard/received bookkeeping and the interruption rule) behind a lock, pulled by
# something that plays in real time: a sound card callback (Speaker, _devices.py), a paced task
# on the event loop (PacedSink: a virtual device, for tests, benchmarks and headless servers) or
# nothing at all (WavSink: writes everything at once to a file).
from __future__ import annotations

import asyncio
import threading
import time
import wave
from collections import deque
from pathlib import Path
from typing import Any, Self

from ..core.playback import PartPlayback, PlaybackQueue, PlaybackStop

__all__ = ["AudioSink", "PacedSink", "WavSink"]


class AudioSink:
    """Base class: a playback queue with a lock. ``write()`` queues received audio for a part
    (``item_id``, ``content_index``); ``interrupt()`` stops at once and returns what was heard."""

    audio_format: str

    def __init__(self, audio_format: str = "audio/pcm") -> None:
        self.audio_format = audio_format
        self._queue = PlaybackQueue(audio_format)
        self._lock = threading.RLock()  # re-entered by a device callback that pulls in a loop
        self.interrupted_at: float | None = None
        """``time.perf_counter()`` of the last ``interrupt()``."""

    # -- what the session calls
    def write(self, item_id: str, content_index: int, data: bytes) -> None:
        """Queue received audio of a part (``response.output_audio.delta`` bytes)."""
        with self._lock:
            self._queue.push(item_id, content_index, data)

    def mark_complete(self, item_id: str, content_index: int = 0) -> None:
        """No more audio will come for this part (``response.output_audio.done``)."""
        with self._lock:
            self._queue.mark_complete(item_id, content_index)

    def interrupt(self) -> PlaybackStop:
        """Stop playback now, drop queued audio, report what was heard of the current part."""
        with self._lock:
            stop = self._queue.interrupt(self.unheard_ms)
        self.interrupted_at = time.perf_counter()
        return stop

    def part(self, item_id: str, content_index: int = 0) -> PartPlayback | None:
        """Received and played bytes of a part (None once forgotten or never seen)."""
        with self._lock:
            return self._queue.part(item_id, content_index)

    @property
    def playing(self) -> bool:
        """Audio is queued (or still sounding in the device)."""
        return self._queue.queued_bytes > 0

    @property
    def queued_ms(self) -> float:
        """Milliseconds of audio waiting to be played."""
        return self._queue.queued_ms

    @property
    def unheard_ms(self) -> float:
        """Audio already pulled that an interruption keeps from being heard (0 when what was
        handed to the device plays out, as with PortAudio and the virtual sinks)."""
        return 0.0

    @property
    def latency_ms(self) -> float:
        """Audio handed to the device but not yet sounded (0 for virtual sinks)."""
        return 0.0

    async def drain(self) -> None:
        """Wait for the queued audio to play out (its duration plus the device latency)."""
        ms = self.queued_ms + self.latency_ms
        if ms > 0:
            await asyncio.sleep(ms / 1000.0 / self._drain_speed)

    _drain_speed = 1.0

    def _pull(self, n: int) -> tuple[bytes, int]:
        """The next ``n`` bytes and how many of them are real audio (the rest is silence)."""
        with self._lock:
            real = min(n, self._queue.queued_bytes)
            return self._queue.pull(n), real

    # -- lifecycle
    async def start(self) -> None:
        """Start playing (open the device / start the clock)."""

    async def aclose(self) -> None:
        """Stop and release the device."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class PacedSink(AudioSink):
    """A virtual sound card on the event loop: pulls ``frame_ms`` of audio every ``frame_ms``
    (divided by ``speed``), on an absolute schedule so the clock does not drift. With
    ``record=True`` it keeps what it played (``played_audio``). ``frames`` holds, per frame, the
    ``perf_counter`` time it was played, the real (non-silence) bytes in it and its lateness
    against the schedule in ms (the playback jitter)."""

    def __init__(
        self,
        audio_format: str = "audio/pcm",
        *,
        frame_ms: float = 20.0,
        speed: float = 1.0,
        record: bool = False,
        history: int = 100_000,
    ) -> None:
        super().__init__(audio_format)
        if frame_ms <= 0 or speed <= 0:
            raise ValueError("frame_ms and speed must be positive")
        self.frame_ms = frame_ms
        self.speed = speed
        self._drain_speed = speed
        self.record = record
        self.played_audio = bytearray()
        self.frames: deque[tuple[float, int, float]] = deque(maxlen=history)
        self._task: asyncio.Task[None] | None = None
        n = round(frame_ms * self._queue.bytes_per_ms)
        self._frame_bytes = n - n % 2 if audio_format == "audio/pcm" else n

    async def start(self) -> None:
        """Start the clock (a task on the running loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def aclose(self) -> None:
        """Stop the clock."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        period = self.frame_ms / 1000.0 / self.speed
        start = loop.time()
        k = 0
        while True:
            k += 1
            due = start + k * period
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            late_ms = max(0.0, (loop.time() - due) * 1000.0)
            data, real = self._pull(self._frame_bytes)
            self.frames.append((time.perf_counter(), real, late_ms))
            if self.record and real:
                self.played_audio += data[:real]


class WavSink(AudioSink):
    """Writes every part to a 24 kHz mono PCM16 WAV file as it arrives (heard = received)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__("audio/pcm")
        self.path = Path(path)
        self._wav: Any = None

    async def start(self) -> None:
        """Open the WAV file."""
        if self._wav is None:
            self._wav = wave.open(str(self.path), "wb")  # closed in aclose()
            self._wav.setnchannels(1)
            self._wav.setsampwidth(2)
            self._wav.setframerate(24000)

    def write(self, item_id: str, content_index: int, data: bytes) -> None:
        """Write the part's audio to the file at once."""
        super().write(item_id, content_index, data)
        chunk, real = self._pull(self._queue.queued_bytes)
        if self._wav is not None and real:
            self._wav.writeframes(chunk[:real])

    async def aclose(self) -> None:
        """Close the WAV file."""
        wav, self._wav = self._wav, None
        if wav is not None:
            wav.close()
