"""Playback bookkeeping and barge-in, without I/O: what the listener has actually heard of each
assistant audio part (``item_id`` / ``content_index``), and the client events an interruption
calls for.

:class:`PlaybackQueue` holds received audio (``response.output_audio.delta``) in arrival order;
a sink shell (a sound-card callback, a paced task, a telephone bridge) pulls bytes from it as
they are played, and the queue counts, per part, the bytes received and the bytes played.
``interrupt()`` drops everything still queued at once and says where each part stopped.

:func:`barge_in_events` turns a stop into the events for the server. The rules, with where they
come from (public issue threads of voice-agent frameworks, checked against their code):

* ``audio_end_ms`` is what was heard, and never more than the audio received for the part: the
  API rejects a longer one ("Audio content of 6100ms is already shorter than 6185ms", pipecat
  #2106; openai-agents-python #2374/#4122 clamp to the received audio).
* Nothing heard but audio received: ``conversation.item.truncate`` with ``audio_end_ms=0`` is
  valid and keeps the conversation aligned with what the user heard (openai-agents-python
  #4457).
* Nothing received for an assistant message that is already in the conversation: a truncate is
  rejected ("Only model output audio messages can be truncated", ``unsupported_content_type``,
  livekit/agents #6157); the item is deleted instead (``conversation.item.delete``, livekit/agents
  #6158 review), so the model does not believe it said what nobody heard.
* Everything received was heard and the part was complete: nothing to truncate (openai-agents-
  python skips the truncate when playback is complete).
* Every part cut: a stop that lands while the tail of one reply still plays and the next reply's
  first audio is queued behind it truncates the first at what was heard and the second at 0
  (:attr:`PlaybackStop.unheard_parts`), so neither is believed heard.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

__all__ = [
    "PartPlayback",
    "PlaybackQueue",
    "PlaybackStop",
    "barge_in_events",
    "bytes_per_ms",
    "silence_byte",
]

Part = tuple[str, int]
"""An assistant audio part: (item_id, content_index)."""


def bytes_per_ms(audio_format: str) -> float:
    """Bytes per millisecond of a wire format: ``audio/pcm`` (PCM16 24 kHz) 48; G.711 (8 kHz) 8."""
    if audio_format == "audio/pcm":
        return 48.0
    if audio_format in ("audio/pcmu", "audio/pcma"):
        return 8.0
    raise ValueError(
        f"audio_format: expected 'audio/pcm', 'audio/pcmu' or 'audio/pcma', got {audio_format!r}"
    )


def silence_byte(audio_format: str) -> int:
    """The byte that plays as silence in a wire format (PCM16 0x00, μ-law 0xFF, A-law 0xD5)."""
    return {"audio/pcm": 0x00, "audio/pcmu": 0xFF, "audio/pcma": 0xD5}[audio_format]


@dataclass(slots=True)
class PartPlayback:
    """Received and played bytes of one assistant audio part."""

    item_id: str
    content_index: int
    received: int = 0
    played: int = 0
    complete: bool = False
    """``response.output_audio.done`` was seen: no more audio will come for this part."""


@dataclass(frozen=True, slots=True)
class PlaybackStop:
    """Where playback stood when it was interrupted (``interrupt()``)."""

    item_id: str | None
    """The part that was playing (or next to play); None when nothing was received."""
    content_index: int
    heard_ms: int
    """Milliseconds of that part the listener heard (everything played, less what the shell
    discarded from its device buffer)."""
    received_ms: int
    """Milliseconds of that part received from the server so far."""
    complete: bool
    dropped_ms: float
    """Queued audio (all parts) thrown away."""
    was_playing: bool
    """Audio was queued or still sounding when the stop came."""
    unheard_parts: tuple[Part, ...] = ()
    """Other parts whose received audio was all dropped unheard (queued behind the part above,
    e.g. the next reply's first audio while the last one's tail played), oldest first."""


@dataclass(slots=True)
class _Chunk:
    part: PartPlayback
    data: bytes
    offset: int = 0


@dataclass(slots=True)
class PlaybackQueue:
    """Received audio in playing order, with per-part received/played counts (no I/O, no lock:
    a shell that pulls from another thread guards the calls with its own lock)."""

    audio_format: str = "audio/pcm"
    max_parts: int = 64
    """Parts remembered for :meth:`part` (oldest forgotten first)."""
    _chunks: deque[_Chunk] = field(default_factory=deque)
    _parts: dict[Part, PartPlayback] = field(default_factory=dict)
    _queued: int = 0
    _current: PartPlayback | None = None
    _bpm: float = 0.0
    _silence: int = 0

    def __post_init__(self) -> None:
        self._bpm = bytes_per_ms(self.audio_format)
        self._silence = silence_byte(self.audio_format)

    @property
    def queued_bytes(self) -> int:
        """Bytes waiting to be played."""
        return self._queued

    @property
    def queued_ms(self) -> float:
        """Milliseconds waiting to be played."""
        return self._queued / self._bpm

    @property
    def bytes_per_ms(self) -> float:
        """Bytes per millisecond of the queue's format."""
        return self._bpm

    def part(self, item_id: str, content_index: int = 0) -> PartPlayback | None:
        """Received and played bytes of a part."""
        return self._parts.get((item_id, content_index))

    @property
    def current(self) -> PartPlayback | None:
        """The part playing now (or the last one played)."""
        return self._current

    def push(self, item_id: str, content_index: int, data: bytes) -> None:
        """Audio received for a part (appended behind everything queued)."""
        key = (item_id, content_index)
        part = self._parts.get(key)
        if part is None:
            part = self._parts[key] = PartPlayback(item_id, content_index)
            while len(self._parts) > self.max_parts:
                oldest = next(iter(self._parts))
                if self._parts[oldest] is self._current:
                    break
                del self._parts[oldest]
        part.received += len(data)
        if data:
            self._chunks.append(_Chunk(part, data))
            self._queued += len(data)
        if self._current is None:
            self._current = part

    def mark_complete(self, item_id: str, content_index: int = 0) -> None:
        """``response.output_audio.done`` for a part."""
        part = self._parts.get((item_id, content_index))
        if part is not None:
            part.complete = True

    def pull(self, n: int) -> bytes:
        """The next ``n`` bytes to play, padded with silence when less is queued."""
        out = bytearray()
        chunks = self._chunks
        while n > 0 and chunks:
            c = chunks[0]
            take = min(n, len(c.data) - c.offset)
            out += c.data[c.offset : c.offset + take]
            c.offset += take
            c.part.played += take
            self._current = c.part
            self._queued -= take
            n -= take
            if c.offset >= len(c.data):
                chunks.popleft()
        if n > 0:
            out += bytes([self._silence]) * n
        return bytes(out)

    def interrupt(self, latency_ms: float = 0.0) -> PlaybackStop:
        """Stop now: drop every queued byte and report what was heard of the current part.

        ``latency_ms`` is audio already pulled that will not be heard (a shell that can discard
        what the device still buffers passes its length; it is subtracted from what was played)."""
        dropped = self._queued
        part = self._current
        if self._chunks:
            head = self._chunks[0].part
            if part is None or (
                head is not part and part.played - latency_ms * self._bpm >= part.received
            ):
                part = head  # the current part was fully heard: the stop is in the next one
        unheard: dict[Part, None] = {}
        for c in self._chunks:
            if c.part is not part:  # behind the stopped part: none of it is heard
                c.part.played = 0
                unheard[(c.part.item_id, c.part.content_index)] = None
        self._chunks.clear()
        self._queued = 0
        if part is None:
            return PlaybackStop(None, 0, 0, 0, False, 0.0, False)
        heard_bytes = max(0.0, part.played - latency_ms * self._bpm)
        was_playing = dropped > 0 or (latency_ms > 0 and part.played > 0 and heard_bytes < part.played)
        # what is not heard is gone: the part's played count is rolled back to it
        part.played = int(heard_bytes)
        return PlaybackStop(
            item_id=part.item_id,
            content_index=part.content_index,
            heard_ms=int(heard_bytes / self._bpm),
            received_ms=int(part.received / self._bpm),
            complete=part.complete,
            dropped_ms=dropped / self._bpm,
            was_playing=was_playing,
            unheard_parts=tuple(unheard),
        )


def barge_in_events(
    stop: PlaybackStop,
    *,
    unheard_item_id: str | None = None,
) -> list[dict[str, object]]:
    """The client events that align the conversation with what was heard (module rules).

    ``unheard_item_id``: an assistant message of the interrupted response that is in the
    conversation but for which no audio was received (it is deleted)."""
    events: list[dict[str, object]] = []
    if stop.item_id is not None and stop.received_ms > 0:
        audio_end_ms = min(stop.heard_ms, stop.received_ms)
        if not (stop.complete and audio_end_ms >= stop.received_ms):
            events.append({
                "type": "conversation.item.truncate",
                "item_id": stop.item_id,
                "content_index": stop.content_index,
                "audio_end_ms": audio_end_ms,
            })
    for item_id, content_index in stop.unheard_parts:  # received, none of it heard
        events.append({
            "type": "conversation.item.truncate",
            "item_id": item_id,
            "content_index": content_index,
            "audio_end_ms": 0,
        })
    if unheard_item_id is not None and unheard_item_id != stop.item_id and not any(
            unheard_item_id == item_id for item_id, _ in stop.unheard_parts):
        events.append({"type": "conversation.item.delete", "item_id": unheard_item_id})
    return events
