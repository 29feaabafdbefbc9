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

import binascii
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec

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
    """A message that is not Twilio Media Streams: the message says which field is wrong.
    ``fatal``: the stream cannot go on (its first ``start`` was refused); any other refused
    message is dropped and the call goes on."""

    fatal: bool = False


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
    max_message_chars: int = 8192
    """Longest message accepted (a ``start`` with custom parameters is the largest)."""
    max_payload_chars: int = 1068
    """Longest ``media.payload`` accepted: 1068 base64 characters are 800 bytes, 100 ms (Twilio
    sends 20 ms)."""
    burst_ms: float = 2000.0
    """Caller audio may run this far ahead of the clock (network jitter) before it is refused."""
    _in_t0: float | None = None
    _in_ms: float = 0.0

    # ---------------------------------------------------------------- Twilio -> us

    def receive(self, text: str | bytes, now: float) -> TwilioEvent | None:
        """Parse and check one message from Twilio. Returns None for events this bridge ignores
        (``connected`` repeated, our own audio on the outbound track, unknown events).

        Raises :class:`TwilioProtocolError` naming the field and what was expected; the stream's
        state is unchanged then (a refused message is as if it never came)."""
        if not isinstance(text, str):
            raise TwilioProtocolError("binary frame: Twilio Media Streams sends text (JSON) messages")
        if len(text) > self.max_message_chars:
            raise TwilioProtocolError(
                f"message of {len(text)} characters: expected at most {self.max_message_chars}")
        try:  # the hot messages (media, mark echoes) in one typed decode; anything else, or
            fast = _decode_hot(text)  # anything that does not fit, goes the field-by-field way
        except (msgspec.DecodeError, UnicodeError):
            pass
        else:
            if isinstance(fast, _HotMedia):
                return self._media_fast(fast, now)
            if fast.streamSid is None or fast.streamSid == self.stream_sid or self.stream_sid is None:
                return TwilioMark(fast.mark.name, self._mark_echoed(fast.mark.name, now))
        try:
            msg = _decode(text)
        except (msgspec.DecodeError, UnicodeError) as exc:
            raise TwilioProtocolError(f"not JSON: {exc}") from None
        if not isinstance(msg, dict):
            raise TwilioProtocolError("a message must be a JSON object")
        event = msg.get("event")
        if not isinstance(event, str):
            raise TwilioProtocolError("event: expected a string")
        if "sequenceNumber" in msg:
            _digits(msg["sequenceNumber"], "sequenceNumber")
        if event == "media":
            return self._media(msg, now)
        if event == "mark":
            self._check_sid(msg, "mark")
            name = _obj(msg, "mark").get("name")
            if not isinstance(name, str) or len(name) > 64:
                raise TwilioProtocolError("mark.name: expected a string of at most 64 characters")
            return TwilioMark(name, self._mark_echoed(name, now))
        if event == "start":
            try:
                return self._start(msg)
            except TwilioProtocolError as exc:
                exc.fatal = self.state not in ("started", "stopped")
                raise
        if event == "connected":
            if self.state != "new":
                return None
            protocol, version = msg.get("protocol", ""), msg.get("version", "")
            if not isinstance(protocol, str) or not isinstance(version, str):
                raise TwilioProtocolError("connected.protocol/version: expected strings")
            self.state = "connected"
            return TwilioConnected(protocol, version)
        if event == "dtmf":
            self._check_sid(msg, "dtmf")
            dtmf = _obj(msg, "dtmf")
            digit = dtmf.get("digit")
            if not isinstance(digit, str) or len(digit) != 1 or digit not in _DTMF_DIGITS:
                raise TwilioProtocolError("dtmf.digit: expected one of 0-9, *, #, A-D")
            return TwilioDtmf(digit)
        if event == "stop":
            stop = msg.get("stop", {})
            if not isinstance(stop, dict):
                raise TwilioProtocolError("stop: expected an object in a 'stop' message")
            call_sid = stop.get("callSid", self.call_sid or "")
            if not isinstance(call_sid, str):
                raise TwilioProtocolError("stop.callSid: expected a string")
            self.state = "stopped"
            return TwilioStop(call_sid)
        return None  # an event this bridge does not use (Twilio may add some)

    def _start(self, msg: dict[str, Any]) -> TwilioStart:
        if self.state in ("started", "stopped"):
            raise TwilioProtocolError("start: a second 'start' on one stream (one call per socket)")
        start = _obj(msg, "start")
        sid = start.get("streamSid", msg.get("streamSid"))
        if not isinstance(sid, str) or not _is_sid(sid):
            raise TwilioProtocolError("start.streamSid: expected a Twilio SID (letters and digits)")
        if msg.get("streamSid", sid) != sid:
            raise TwilioProtocolError("streamSid: differs from start.streamSid")
        fields: dict[str, str] = {}
        for name in ("callSid", "accountSid"):
            value = start.get(name, "")
            if not isinstance(value, str) or (value and not _is_sid(value)):
                raise TwilioProtocolError(f"start.{name}: expected a Twilio SID (letters and digits)")
            fields[name] = value
        tracks = start.get("tracks", ["inbound"])
        if not isinstance(tracks, list) or not all(isinstance(t, str) for t in tracks) or len(tracks) > 4:
            raise TwilioProtocolError("start.tracks: expected a list of track names")
        params = start.get("customParameters", {})
        if params is None:
            params = {}
        if not isinstance(params, dict) or len(params) > 64 or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in params.items()):
            raise TwilioProtocolError(
                "start.customParameters: expected an object of at most 64 string values")
        fmt = start.get("mediaFormat", {})
        if not isinstance(fmt, dict):
            raise TwilioProtocolError("start.mediaFormat: expected an object")
        encoding = fmt.get("encoding", "audio/x-mulaw")
        if encoding not in ("audio/x-mulaw", "audio/pcmu"):
            raise TwilioProtocolError(
                f"start.mediaFormat.encoding: expected 'audio/x-mulaw', got {_short(encoding)}")
        rate = fmt.get("sampleRate", 8000)
        if rate != 8000 or isinstance(rate, bool):
            raise TwilioProtocolError(f"start.mediaFormat.sampleRate: expected 8000, got {_short(rate)}")
        channels = fmt.get("channels", 1)
        if channels != 1 or isinstance(channels, bool):
            raise TwilioProtocolError(f"start.mediaFormat.channels: expected 1, got {_short(channels)}")
        self.stream_sid = sid
        self.call_sid = fields["callSid"]
        self.state = "started"
        return TwilioStart(
            stream_sid=sid,
            call_sid=fields["callSid"],
            account_sid=fields["accountSid"],
            tracks=tuple(tracks) or ("inbound",),
            custom_parameters=dict(params),
            encoding=str(encoding),
            sample_rate=8000,
            channels=1,
        )

    def _media_fast(self, msg: _HotMedia, now: float) -> TwilioMedia | None:
        media = msg.media
        if self.state == "started" and (msg.streamSid is None or msg.streamSid == self.stream_sid) \
                and len(media.payload) <= self.max_payload_chars:
            return self._media_checked(media.payload, int(media.timestamp), int(media.chunk),
                                       media.track, now)
        return self._media(_to_dict(msg), now)  # refused: by the rules that name the field

    def _media(self, msg: dict[str, Any], now: float) -> TwilioMedia | None:
        if self.state != "started":
            raise TwilioProtocolError("media: before 'start' (or after 'stop')")
        sid = msg.get("streamSid")
        if sid is not None and sid != self.stream_sid:
            raise TwilioProtocolError("media.streamSid: not this stream's")
        media = msg.get("media")
        if not isinstance(media, dict):
            raise TwilioProtocolError("media: expected an object in a 'media' message")
        payload = media.get("payload")
        if not isinstance(payload, str):
            raise TwilioProtocolError("media.payload: expected a base64 string")
        if len(payload) > self.max_payload_chars:
            raise TwilioProtocolError(
                f"media.payload: {len(payload)} characters, expected at most {self.max_payload_chars} "
                f"({self.max_payload_chars * 3 // 4 // MULAW_BYTES_PER_MS} ms of audio)")
        track = media.get("track", "inbound")
        if not isinstance(track, str):
            raise TwilioProtocolError("media.track: expected a string")
        timestamp = _digits(media.get("timestamp", 0), "media.timestamp")
        chunk = _digits(media.get("chunk", 0), "media.chunk")
        return self._media_checked(payload, timestamp, chunk, track, now)

    def _media_checked(self, payload: str, timestamp: int, chunk: int, track: str,
                       now: float) -> TwilioMedia | None:
        try:
            n = len(binascii.a2b_base64(payload, strict_mode=True))
        except (binascii.Error, ValueError):
            raise TwilioProtocolError("media.payload: expected base64") from None
        if track not in ("inbound", "inbound_track"):
            return None  # our own audio echoed on the outbound track
        # caller audio faster than real time (plus a burst allowance) is refused: a caller
        # cannot make the bridge send the upstream more audio than a phone line carries
        if self._in_t0 is None:
            self._in_t0 = now
        in_ms = self._in_ms + n / MULAW_BYTES_PER_MS
        if in_ms > (now - self._in_t0) * 1000.0 + self.burst_ms:
            raise TwilioProtocolError("media: caller audio arriving faster than real time (dropped)")
        self._in_ms = in_ms
        return TwilioMedia(payload, timestamp, chunk, track)

    def _check_sid(self, msg: dict[str, Any], event: str) -> None:
        sid = msg.get("streamSid")
        if sid is not None and self.stream_sid is not None and sid != self.stream_sid:
            raise TwilioProtocolError(f"{event}.streamSid: not this stream's")

    # ---------------------------------------------------------------- us -> Twilio

    def media(self, item_id: str, content_index: int, payload: str, now: float) -> list[str]:
        """The ``media`` and ``mark`` messages that play one chunk of assistant audio
        (``payload``: base64 μ-law 8 kHz, e.g. a ``response.output_audio.delta`` in
        ``audio/pcmu``, passed through as is)."""
        sid = self._sid()
        try:  # strict: the payload then holds only base64 characters, safe in the JSON as is
            n = len(binascii.a2b_base64(payload, strict_mode=True))
        except (binascii.Error, ValueError, TypeError):
            raise TwilioProtocolError("payload: expected base64 audio") from None
        duration = n / MULAW_BYTES_PER_MS
        if self._playing_ms(now) >= self._total_ms:
            # Twilio's buffer ran empty: this chunk starts playing on arrival
            self._anchor = (now, self._total_ms)
        key = (item_id, content_index)
        parts = self._parts
        start = parts.get(key, 0.0)
        parts[key] = start + duration
        if len(parts) > 64:
            parts.pop(next(iter(parts)))
        self._last_part = key
        self._seq += 1
        self._total_ms += duration
        self._timeline.append(_Sent(self._seq, item_id, content_index, start, duration, self._total_ms))
        return [
            '{"event":"media","streamSid":"' + sid + '","media":{"payload":"' + payload + '"}}',
            '{"event":"mark","streamSid":"' + sid + '","mark":{"name":"' + str(self._seq) + '"}}',
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
        for part in stop.unheard_parts:
            self._parts[part] = 0.0
        return [json.dumps({"event": "clear", "streamSid": sid})], PlaybackStop(
            stop.item_id, stop.content_index, stop.heard_ms, stop.received_ms, stop.complete,
            max(0.0, dropped), stop.was_playing, stop.unheard_parts)

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
        unheard: dict[tuple[str, int], None] = {}  # parts sent behind it: none of them heard
        for s in chunks[chunks.index(target) + 1:]:
            if (s.item_id, s.content_index) != key:
                unheard[(s.item_id, s.content_index)] = None
        return PlaybackStop(target.item_id, target.content_index, int(heard), int(received),
                            key in self._complete, 0.0, True, tuple(unheard))


_DTMF_DIGITS = frozenset("0123456789*#ABCD")
_decode = msgspec.json.Decoder().decode

# The two messages of every 20 ms, typed: msgspec checks them in one pass. A message that does
# not fit (another event, a field of the wrong type) is parsed again field by field, so that the
# error names the field.
_Digits = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,18}$")]
_Count = Annotated[int, msgspec.Meta(ge=0)] | _Digits


class _HotMediaBody(msgspec.Struct):
    payload: str
    track: str = "inbound"
    timestamp: _Count = 0
    chunk: _Count = 0


class _HotMedia(msgspec.Struct, tag_field="event", tag="media"):
    media: _HotMediaBody
    streamSid: str | None = None
    sequenceNumber: _Count | None = None


class _HotMarkBody(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(max_length=64)]


class _HotMark(msgspec.Struct, tag_field="event", tag="mark"):
    mark: _HotMarkBody
    streamSid: str | None = None
    sequenceNumber: _Count | None = None


_decode_hot = msgspec.json.Decoder(_HotMedia | _HotMark).decode


def _to_dict(msg: msgspec.Struct) -> dict[str, Any]:
    """A typed hot message back as the dict the field-by-field rules read."""
    out: dict[str, Any] = msgspec.to_builtins(msg)
    return out


def _is_sid(value: str) -> bool:
    return 0 < len(value) <= 64 and value.isascii() and value.isalnum()


def _digits(value: Any, name: str) -> int:
    """Twilio sends counters as strings of digits (``"123"``); integers are accepted too."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and 0 < len(value) <= 18 and value.isascii() and value.isdigit():
        return int(value)
    raise TwilioProtocolError(f"{name}: expected a number (a string of digits), got {_short(value)}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _obj(msg: dict[str, Any], name: str) -> dict[str, Any]:
    value = msg.get(name)
    if not isinstance(value, dict):
        raise TwilioProtocolError(f"{name}: expected an object in a '{msg.get('event')}' message")
    return value
