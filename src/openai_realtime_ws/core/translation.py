"""Realtime translation sessions, the Sans-I/O part (no I/O here): the URL, the events, and the
rules of openai-node's ``OpenAIRealtimeTranslationWS`` (``src/realtime/translations/ws.ts``).

Owns:

* :func:`translation_url`: ``wss://…/v1/realtime/translations?model=…`` from the same base URL
  rules as a realtime session (:func:`~openai_realtime_ws.core.handshake.build_realtime_url`);
  an ``intent`` is refused (as openai-node and openai-python do).
* The events, as ``msgspec`` structs decoded from the wire (shapes of openai-python 3.63's
  ``types/realtime/realtime_translation_*.py``): :class:`TranslationSessionCreated`,
  :class:`TranslationSessionUpdated`, :class:`TranslationSessionClosed`,
  :class:`InputTranscriptDelta`, :class:`OutputTranscriptDelta`, :class:`OutputAudioDelta`, the
  realtime :class:`~openai_realtime_ws.types.ErrorEvent`, and :class:`UnknownTranslationEvent`
  for a type this library does not know (a future event: delivered, never dropped).
* :class:`TranslationProtocol`, the state the shells ask: what a send encodes to (input closes
  with the first ``session.close``, which is sent once; any other event after it is refused
  before anything is written), what a received frame decodes to (nothing after the terminal
  ``session.closed``), and what a transport close means (a failure unless ``session.closed``
  came first and the close was normal: 1000, 1001 or 1005).

The finish rule (the shells carry it out): ``finish(timeout)`` stops input, sends
``session.close`` once, delivers every event through ``session.closed``, then closes the
transport; one deadline covers all of it, and repeated calls share the first one's outcome. API
``error`` events stay observable and do not end the drain; a timeout or a transport failure
fails it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec

from ..types import ErrorEvent
from .errors import (
    ConnectionClosedError,
    InvalidClientEvent,
    MalformedFrameError,
    OpenAIRealtimeError,
    RealtimeConfigError,
)
from .handshake import build_realtime_url, check_ws_url

__all__ = [
    "CLIENT_EVENT_TYPES",
    "InputTranscriptDelta",
    "OutputAudioDelta",
    "OutputTranscriptDelta",
    "TranslationEvent",
    "TranslationProtocol",
    "TranslationSession",
    "TranslationSessionClosed",
    "TranslationSessionCreated",
    "TranslationSessionUpdated",
    "UnknownTranslationEvent",
    "translation_url",
]

CLIENT_EVENT_TYPES: Final = ("session.update", "session.input_audio_buffer.append", "session.close")
NORMAL_CLOSE_CODES: Final = (1000, 1001, 1005)


def translation_url(client: object | None, model: str) -> str:
    """``wss://…/realtime/translations?model=…`` for ``client`` (an object with ``base_url``,
    e.g. ``openai.OpenAI``; ``None``: ``OPENAI_BASE_URL`` or the API)."""
    if not isinstance(model, str) or not model:
        raise RealtimeConfigError("A translation model is required: pass model='gpt-realtime-translate'.")
    realtime = build_realtime_url(client, model=model)
    parts = urlsplit(realtime)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(k == "intent" for k, _ in query):
        raise RealtimeConfigError("Realtime translation does not accept an intent query parameter.")
    path = parts.path.rstrip("/") + "/translations"
    return check_ws_url(urlunsplit((parts.scheme, parts.netloc, path, urlencode(query), "")))


class TranslationSession(msgspec.Struct, kw_only=True):
    """A translation session as the server reports it (``session.created/updated``)."""

    id: str
    type: str = "translation"
    model: str
    expires_at: int
    audio: dict[str, Any] = msgspec.field(default_factory=dict)
    """``{"input": {"transcription", "noise_reduction"}, "output": {"language"}}``."""


class TranslationSessionCreated(msgspec.Struct, kw_only=True):
    """The first event: the session's configuration."""

    type: str
    TYPE: ClassVar[str] = "session.created"
    event_id: str
    session: TranslationSession


class TranslationSessionUpdated(msgspec.Struct, kw_only=True):
    """The answer to ``session.update``: the whole configuration."""

    type: str
    TYPE: ClassVar[str] = "session.updated"
    event_id: str
    session: TranslationSession


class TranslationSessionClosed(msgspec.Struct, kw_only=True):
    """The terminal event: everything the session had to say was delivered before it."""

    type: str
    TYPE: ClassVar[str] = "session.closed"
    event_id: str


class InputTranscriptDelta(msgspec.Struct, kw_only=True):
    """Source-language transcript text (append-only; only with ``audio.input.transcription``)."""

    type: str
    TYPE: ClassVar[str] = "session.input_transcript.delta"
    event_id: str
    delta: str
    elapsed_ms: int | None = None


class OutputTranscriptDelta(msgspec.Struct, kw_only=True):
    """Translated transcript text (append-only)."""

    type: str
    TYPE: ClassVar[str] = "session.output_transcript.delta"
    event_id: str
    delta: str
    elapsed_ms: int | None = None


class OutputAudioDelta(msgspec.Struct, kw_only=True):
    """Translated audio: base64 PCM16 (``audio_bytes()`` decodes it)."""

    type: str
    TYPE: ClassVar[str] = "session.output_audio.delta"
    event_id: str
    delta: str
    elapsed_ms: int | None = None
    format: str | None = None
    sample_rate: int | None = None
    channels: int | None = None

    def audio_bytes(self) -> bytes:
        """The decoded PCM16 bytes of ``delta``."""
        import base64

        return base64.b64decode(self.delta)


class UnknownTranslationEvent(msgspec.Struct, kw_only=True):
    """A server event this library does not know (or one that did not match its shape):
    ``type`` and the whole decoded object in ``raw``."""

    type: str
    raw: dict[str, Any]


_KNOWN = (TranslationSessionCreated, TranslationSessionUpdated, TranslationSessionClosed,
          InputTranscriptDelta, OutputTranscriptDelta, OutputAudioDelta)
_BY_TYPE: Final[dict[str, type[Any]]] = {
    **{cls.TYPE: cls for cls in _KNOWN},
    "error": ErrorEvent,
}
TranslationEvent = (TranslationSessionCreated | TranslationSessionUpdated | TranslationSessionClosed
                    | InputTranscriptDelta | OutputTranscriptDelta | OutputAudioDelta | ErrorEvent
                    | UnknownTranslationEvent)

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


class TranslationProtocol:
    """The state of one translation connection (see the module comment). Shells call
    :meth:`encode` before writing, :meth:`receive` for each text frame and
    :meth:`transport_closed` when the socket ended."""

    def __init__(self) -> None:
        self.input_closed = False
        """``session.close`` was sent (or the session ended): nothing else may be sent."""
        self.terminal_received = False
        """``session.closed`` arrived."""
        self.transport_ended = False
        self.failure: OpenAIRealtimeError | None = None
        """Why the session did not finish cleanly (None while it may still)."""

    def encode(self, event: Mapping[str, Any] | str) -> bytes | None:
        """The frame to write for ``event`` (a mapping, or its JSON text), or ``None`` when
        there is nothing to write (``session.close`` again). ``InvalidClientEvent`` names the
        field; nothing is written then."""
        if isinstance(event, str):
            try:
                decoded = _decoder.decode(event)
            except msgspec.DecodeError:
                raise InvalidClientEvent("a translation event must be a JSON object", field="event") from None
            text: bytes | None = event.encode()
        else:
            decoded, text = event, None
        if not isinstance(decoded, Mapping):
            raise InvalidClientEvent("a translation event must be a JSON object", field="event")
        type_ = decoded.get("type")
        if not isinstance(type_, str) or not type_:
            raise InvalidClientEvent("a translation event needs a string 'type' "
                                     f"(one of {', '.join(CLIENT_EVENT_TYPES)})", field="type")
        if type_ == "session.input_audio_buffer.append" and not isinstance(decoded.get("audio"), str):
            raise InvalidClientEvent("session.input_audio_buffer.append needs 'audio': base64 24 kHz PCM16 "
                                     "mono (a str)", field="audio")
        if type_ == "session.update" and not isinstance(decoded.get("session"), Mapping):
            raise InvalidClientEvent("session.update needs 'session': an object", field="session")
        if type_ == "session.close":
            if self.input_closed:
                return None
            self.input_closed = True
        elif self.input_closed:
            raise InvalidClientEvent(f"translation input is closed (session.close was sent): {type_} "
                                     "cannot be sent", field="type")
        return text if text is not None else _encoder.encode(decoded)

    def receive(self, data: bytes | str | memoryview) -> TranslationEvent | OpenAIRealtimeError | None:
        """One text frame: its event, a :class:`MalformedFrameError` (never the payload), or
        ``None`` after the terminal event (nothing more is delivered)."""
        if self.terminal_received:
            return None
        raw = bytes(data) if isinstance(data, memoryview) else data
        try:
            obj = _decoder.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError):
            return MalformedFrameError("could not parse a translation event as JSON")
        if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
            return MalformedFrameError("a translation event must be an object with a string type")
        type_ = obj["type"]
        cls = _BY_TYPE.get(type_)
        event: TranslationEvent
        if cls is None:
            event = UnknownTranslationEvent(type=type_, raw=obj)
        else:
            try:
                event = msgspec.convert(obj, cls, strict=False)
            except msgspec.ValidationError:
                event = UnknownTranslationEvent(type=type_, raw=obj)
        if isinstance(event, TranslationSessionClosed):
            self.terminal_received = True
            self.input_closed = True
        return event

    def transport_closed(self, code: int | None) -> OpenAIRealtimeError | None:
        """The socket ended with ``code`` (None: no close frame): the failure it means, if any
        (also kept in :attr:`failure`)."""
        self.transport_ended = True
        self.input_closed = True
        if self.failure is None:
            if not self.terminal_received:
                self.failure = ConnectionClosedError("the translation socket closed before session.closed",
                                                     code=code)
            elif code not in NORMAL_CLOSE_CODES:
                self.failure = ConnectionClosedError("the translation socket closed abnormally after "
                                                     "session.closed", code=code)
        return self.failure

    def fail(self, error: OpenAIRealtimeError) -> None:
        """Record the first failure (a timeout, a transport error); input closes."""
        self.input_closed = True
        if self.failure is None:
            self.failure = error
