"""Twilio Media Streams, without I/O: the messages of one bidirectional stream and the playback
bookkeeping that drives barge-in on a phone line.

The protocol (Twilio's public "Media Streams - WebSocket Messages"): Twilio sends ``connected``,
``start`` (``streamSid``, ``callSid``, ``mediaFormat`` ``audio/x-mulaw`` 8000 Hz mono,
``customParameters``), ``media`` (``media.payload``: base64 μ-law, 20 ms per message,
``media.timestamp`` in ms), ``dtmf``, ``mark`` (the echo of a mark we sent, once the audio before
it has been played) and ``stop``. We send ``media`` (``{"event": "media", "streamSid", "media":
{"payload"}}``), ``mark`` (``{"event": "mark", "streamSid", "mark": {"name"}}``) and ``clear``
(Twilio drops its buffered audio and echoes every pending mark).

:class:`TwilioStream` owns: parsing and checking Twilio's messages, building ours, and the
outbound timeline. Every audio chunk sent to Twilio is followed by a mark; a mark's echo says the
caller heard everything up to it, and between echoes the position moves with the clock (Twilio
plays in real time), never past the audio sent. ``clear()`` stops there and returns a
:class:`~openai_realtime_ws.core.playback.PlaybackStop`, so a phone call truncates by the same
rule as a speaker (:func:`~openai_realtime_ws.core.playback.barge_in_events`). Marks echoed for
cleared audio are ignored. Times are passed in (``now``, seconds on any monotonic clock).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .playback import PlaybackStop

__all__ = [
    "TwilioConnected",
    "TwilioDtmf",
    "TwilioMark",
    "TwilioMedia",
    "TwilioProtocolError",
    "TwilioStart",
    "TwilioStop",
    "TwilioStream",
]

MULAW_BYTES_PER_MS = 8


class TwilioProtocolError(ValueError):
    """A message that is not Twilio Media Streams: the message says which field is wrong."""


@dataclass(frozen=True, slots=True)
class TwilioConnected:
    protocol: str
    version: str


@dataclass(frozen=True, slots=True)
class TwilioStart:
    stream_sid: str
    call_sid: str
    account_sid: str
    tracks: tuple[str, ...]
    custom_parameters: dict[str, str]
    encoding: str
    sample_rate: int
    channels: int


@dataclass(frozen=True, slots=True)
class TwilioMedia:
    payload: str
    """base64 μ-law 8 kHz, as sent by Twilio (passed through to ``input_audio_buffer.append``)."""
    timestamp_ms: int
    chunk: int
    track: str


@dataclass(frozen=True, slots=True)
class TwilioMark:
    name: str
    played: bool
    """False when the mark is the echo of audio dropped by ``clear``."""


@dataclass(frozen=True, slots=True)
class TwilioDtmf:
    digit: str


@dataclass(frozen=True, slots=True)
class TwilioStop:
    call_sid: str


TwilioEvent = TwilioConnected | TwilioStart | TwilioMedia | TwilioMark | TwilioDtmf | TwilioStop


@dataclass(slots=True)
class _Sent:
    seq: int
    item_id: str
    content_index: int
    part_start_ms: float
    duration_ms: float
    total_end_ms: float


@dataclass(slots=True)
class TwilioStream:
    """One Media Streams WebSocket, seen from our server."""

    stream_sid: str | None = None
    call_sid: str | None = None
    state: str = "new"
    """new -> connected -> started -> stopped."""
    _seq: int = 0
    _timeline: deque[_Sent] = field(default_factory=deque)
    _total_ms: float = 0.0  # audio sent since the stream began (ms)
    _acked_ms: float = 0.0  # position at the last echoed mark
    _anchor: tuple[float, float] = (0.0, 0.0)  # (time, position): playback runs from here
    _cleared_upto: int = 0  # marks up to this seq were dropped by clear()
    _parts: dict[tuple[str, int], float] = field(default_factory=dict)  # part -> ms sent
    _complete: set[tuple[str, int]] = field(default_factory=set)
    _last_part: tuple[str, int] | None = None

    # ---------------------------------------------------------------- Twilio -> us

    def receive(self, text: str | bytes, now: float) -> TwilioEvent | None:
        """Parse one message from Twilio. Returns None for events this bridge ignores."""
        try:
            msg = json.loads(text)
        except ValueError as exc:
            raise TwilioProtocolError(f"not JSON: {exc}") from None
        if not isinstance(msg, dict):
            raise TwilioProtocolError("a message must be a JSON object")
        event = msg.get("event")
        if event == "connected":
            self.state = "connected"
            return TwilioConnected(str(msg.get("protocol", "")), str(msg.get("version", "")))
        if event == "start":
            start = _obj(msg, "start")
            sid = msg.get("streamSid") or start.get("streamSid")
            if not isinstance(sid, str) or not sid:
                raise TwilioProtocolError("start.streamSid: expected a non-empty string")
            fmt = start.get("mediaFormat") or {}
            if not isinstance(fmt, dict):
                raise TwilioProtocolError("start.mediaFormat: expected an object")
            self.stream_sid = sid
            self.call_sid = str(start.get("callSid", ""))
            self.state = "started"
            params = start.get("customParameters") or {}
            return TwilioStart(
                stream_sid=sid,
                call_sid=self.call_sid,
                account_sid=str(start.get("accountSid", "")),
                tracks=tuple(str(t) for t in start.get("tracks") or ("inbound",)),
                custom_parameters={str(k): str(v) for k, v in params.items()} if isinstance(params, dict) else {},
                encoding=str(fmt.get("encoding", "audio/x-mulaw")),
                sample_rate=int(fmt.get("sampleRate", 8000)),
                channels=int(fmt.get("channels", 1)),
            )
        if event == "media":
            media = _obj(msg, "media")
            payload = media.get("payload")
            if not isinstance(payload, str):
                raise TwilioProtocolError("media.payload: expected a base64 string")
            track = str(media.get("track", "inbound"))
            if track not in ("inbound", "inbound_track"):
                return None  # our own audio echoed on the outbound track
            return TwilioMedia(payload, int(media.get("timestamp", 0) or 0),
                               int(media.get("chunk", 0) or 0), track)
        if event == "mark":
            name = _obj(msg, "mark").get("name")
            if not isinstance(name, str):
                raise TwilioProtocolError("mark.name: expected a string")
            return TwilioMark(name, self._mark_echoed(name, now))
        if event == "dtmf":
            return TwilioDtmf(str(_obj(msg, "dtmf").get("digit", "")))
        if event == "stop":
            self.state = "stopped"
            stop = msg.get("stop") if isinstance(msg.get("stop"), dict) else {}
            return TwilioStop(str((stop or {}).get("callSid", self.call_sid or "")))
        return None

    # ---------------------------------------------------------------- us -> Twilio

    def media(self, item_id: str, content_index: int, payload: str, now: float) -> list[str]:
        """The ``media`` and ``mark`` messages that play one chunk of assistant audio
        (``payload``: base64 μ-law 8 kHz, e.g. a ``response.output_audio.delta`` in
        ``audio/pcmu``, passed through as is)."""
        sid = self._sid()
        try:
            n = len(base64.b64decode(payload, validate=False))
        except (binascii.Error, ValueError):
            raise TwilioProtocolError("payload: expected base64 audio") from None
        duration = n / MULAW_BYTES_PER_MS
        if self._playing_ms(now) >= self._total_ms:
            # Twilio's buffer ran empty: this chunk starts playing on arrival
            self._anchor = (now, self._total_ms)
        key = (item_id, content_index)
        start = self._parts.get(key, 0.0)
        self._parts[key] = start + duration
        while len(self._parts) > 64:
            self._parts.pop(next(iter(self._parts)))
        self._last_part = key
        self._seq += 1
        self._total_ms += duration
        self._timeline.append(_Sent(self._seq, item_id, content_index, start, duration, self._total_ms))
        return [
            json.dumps({"event": "media", "streamSid": sid, "media": {"payload": payload}}),
            json.dumps({"event": "mark", "streamSid": sid, "mark": {"name": str(self._seq)}}),
        ]

    def mark_complete(self, item_id: str, content_index: int = 0) -> None:
        """``response.output_audio.done`` for a part."""
        self._complete.add((item_id, content_index))
        while len(self._complete) > 64:
            self._complete.pop()

    @property
    def playing(self) -> bool:
        """Some audio sent to Twilio may still be playing (no echo for the last mark yet)."""
        return bool(self._timeline) and self._timeline[-1].seq > self._cleared_upto and \
            self._acked_ms < self._total_ms

    def clear(self, now: float) -> tuple[list[str], PlaybackStop]:
        """Barge-in: the ``clear`` message, and where playback stopped."""
        sid = self._sid()
        pos = self._playing_ms(now)
        stop = self._stop_at(pos)
        dropped = self._total_ms - pos
        # what was not played is gone: the timeline restarts at the stop position
        self._cleared_upto = self._seq
        self._timeline.clear()
        self._total_ms = pos
        self._acked_ms = pos
        self._anchor = (now, pos)
        if stop.item_id is not None:
            self._parts[(stop.item_id, stop.content_index)] = float(stop.heard_ms)
        return [json.dumps({"event": "clear", "streamSid": sid})], PlaybackStop(
            stop.item_id, stop.content_index, stop.heard_ms, stop.received_ms, stop.complete,
            max(0.0, dropped), stop.was_playing)

    def heard_ms(self, item_id: str, content_index: int, now: float) -> float:
        """How much of a part the caller has heard by ``now``."""
        pos = self._playing_ms(now)
        for s in self._timeline:
            if (s.item_id, s.content_index) == (item_id, content_index):
                start_total = s.total_end_ms - s.duration_ms
                if pos < start_total:
                    return s.part_start_ms
                if pos <= s.total_end_ms:
                    return s.part_start_ms + (pos - start_total)
        return self._parts.get((item_id, content_index), 0.0) if not self._timeline else 0.0

    # ---------------------------------------------------------------- internals

    def _sid(self) -> str:
        if self.stream_sid is None:
            raise TwilioProtocolError("no 'start' message yet: the streamSid is unknown")
        return self.stream_sid

    def _mark_echoed(self, name: str, now: float) -> bool:
        try:
            seq = int(name)
        except ValueError:
            return False  # not one of ours
        if seq <= self._cleared_upto:
            return False  # echo of cleared audio
        played_to: float | None = None
        while self._timeline and self._timeline[0].seq <= seq:
            s = self._timeline.popleft()
            played_to = s.total_end_ms
            if not self._timeline:
                self._timeline.append(s)  # keep the last chunk for heard_ms
                break
        if played_to is not None:
            self._acked_ms = played_to
            self._anchor = (now, played_to)
        return True

    def _playing_ms(self, now: float) -> float:
        t0, pos0 = self._anchor
        est = pos0 + max(0.0, now - t0) * 1000.0
        return max(self._acked_ms, min(est, self._total_ms))

    def _stop_at(self, pos: float) -> PlaybackStop:
        chunks = [s for s in self._timeline if s.seq > self._cleared_upto]
        target: _Sent | None = None
        for s in chunks:
            if pos < s.total_end_ms:
                target = s
                break
        if target is None:
            if self._last_part is None:
                return PlaybackStop(None, 0, 0, 0, False, 0.0, False)
            item_id, ci = self._last_part
            sent = self._parts.get(self._last_part, 0.0)
            return PlaybackStop(item_id, ci, int(sent), int(sent), self._last_part in self._complete,
                                0.0, False)
        key = (target.item_id, target.content_index)
        start_total = target.total_end_ms - target.duration_ms
        heard = target.part_start_ms + max(0.0, pos - start_total)
        received = self._parts.get(key, 0.0)
        return PlaybackStop(target.item_id, target.content_index, int(heard), int(received),
                            key in self._complete, 0.0, True)


def _obj(msg: dict[str, Any], name: str) -> dict[str, Any]:
    value = msg.get(name)
    if not isinstance(value, dict):
        raise TwilioProtocolError(f"{name}: expected an object in a '{msg.get('event')}' message")
    return value
