# The input audio buffer (PROTOCOL.md §4.6, §4.7): bytes appended since the last commit, the
# session audio clock (`audio_*_ms` count from the first audio appended) and an energy voice
# activity detector over 10 ms frames with `threshold`, `prefix_padding_ms` and
# `silence_duration_ms`. semantic_vad reuses it with a silence length picked by `eagerness` [INF].
# Works on wire bytes of any of the three formats. No I/O, no clock: time is audio time.
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .audio import bytes_per_ms, decode_samples, frame_rms, rms_threshold

SEMANTIC_SILENCE_MS = {"low": 1000, "medium": 500, "auto": 500, "high": 250}
FRAME_MS = 10


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    audio_start_ms: int


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    audio_end_ms: int
    audio: bytes
    """The committed segment: the buffer from its start up to audio_end_ms."""
    audio_start_ms: int


VadEvent = SpeechStarted | SpeechStopped


class InputBuffer:
    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.buffer = bytearray()
        self.start_ms = 0.0  # session audio time at buffer[0]
        self._analyzed = 0  # bytes of buffer already run through the VAD
        self.speaking = False
        self.speech_start_ms = 0.0
        self._silence_ms = 0.0

    @property
    def cursor_ms(self) -> float:
        """Session audio time at the end of the buffer."""
        return self.start_ms + len(self.buffer) / bytes_per_ms(self.fmt)

    @property
    def buffered_ms(self) -> float:
        return len(self.buffer) / bytes_per_ms(self.fmt)

    def set_format(self, fmt: str) -> None:
        if fmt != self.fmt:
            self.start_ms = self.cursor_ms
            self.buffer.clear()
            self._analyzed = 0
            self.fmt = fmt

    def take(self, upto_ms: float | None = None) -> bytes:
        """Cut the buffer (all of it, or up to session time `upto_ms`) as a committed segment."""
        bpm = bytes_per_ms(self.fmt)
        n = len(self.buffer) if upto_ms is None else max(0, min(len(self.buffer), round((upto_ms - self.start_ms) * bpm)))
        n -= n % (2 if self.fmt == "audio/pcm" else 1)
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        self.start_ms += n / bpm
        self._analyzed = max(0, self._analyzed - n)
        return data

    def clear(self) -> None:
        self.take()
        self.reset_vad()

    def reset_vad(self) -> None:
        self.speaking = False
        self._silence_ms = 0.0

    def append(self, data: bytes, turn_detection: Mapping[str, Any] | None) -> list[VadEvent]:
        self.buffer.extend(data)
        if turn_detection is None:
            self._analyzed = len(self.buffer)
            return []
        bpm = bytes_per_ms(self.fmt)
        frame_bytes = bpm * FRAME_MS
        threshold = rms_threshold(float(turn_detection.get("threshold", 0.5)))
        if turn_detection.get("type") == "semantic_vad":
            silence_ms = float(SEMANTIC_SILENCE_MS.get(str(turn_detection.get("eagerness", "auto")), 500))
            padding_ms = 300.0
        else:
            silence_ms = float(turn_detection.get("silence_duration_ms", 200))
            padding_ms = float(turn_detection.get("prefix_padding_ms", 300))
        events: list[VadEvent] = []
        while len(self.buffer) - self._analyzed >= frame_bytes:
            frame = bytes(self.buffer[self._analyzed : self._analyzed + frame_bytes])
            frame_start = self.start_ms + self._analyzed / bpm
            self._analyzed += frame_bytes
            loud = frame_rms(decode_samples(frame, self.fmt)) >= threshold
            if not self.speaking:
                if loud:
                    self.speaking = True
                    self._silence_ms = 0.0
                    self.speech_start_ms = max(self.start_ms, frame_start - padding_ms)
                    events.append(SpeechStarted(int(self.speech_start_ms)))
            elif loud:
                self._silence_ms = 0.0
            else:
                self._silence_ms += FRAME_MS
                if self._silence_ms >= silence_ms:
                    end_ms = frame_start + FRAME_MS
                    seg_start = self.start_ms
                    segment = self.take(end_ms)
                    self.speaking = False
                    self._silence_ms = 0.0
                    events.append(SpeechStopped(int(end_ms), segment, int(seg_start)))
        return events
