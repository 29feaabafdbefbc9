"""The event codec: server frames in, typed events out; client events in, validated bytes out.

No I/O here. Decoding is one msgspec pass into the tagged union of every GA server event; frames
that miss that fast path are classified on a slow path:

* not JSON, not an object, no string ``type``  → :class:`MalformedFrameError` (payload-free text);
* a ``type`` this library does not know        → :class:`UnknownServerEvent` (raw dict kept);
* a known ``type`` whose shape differs from the spec → :class:`UnknownServerEvent` with
  ``decode_error`` set (the path and expected type, no values), so a server that drifts from the
  spec never breaks a client.

Encoding validates a dict or typed event against the strict client-event schema before a byte is
produced; the error names the field path and what was expected.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, cast

import msgspec

from ..types import (
    CLIENT_EVENT_TYPES,
    SERVER_EVENT_TYPES,
    AnyServerEvent,
    ClientEvent,
    ClientEventBase,
    ServerEvent,
    UnknownServerEvent,
)
from .errors import InvalidClientEvent, MalformedFrameError

__all__ = ["ClientEventEncoder", "ServerEventDecoder", "describe_validation_error"]

_PREFIX = "could not parse websocket event"
logger = logging.getLogger("openai_realtime_ws")


_NAMED_FIELD = re.compile(r"^Object (?:contains unknown|missing required) field `(?P<name>.*)`$", re.S)


def describe_validation_error(exc: msgspec.ValidationError) -> tuple[str, str | None]:
    """msgspec's ``"Expected `str`, got `int` - at `$.session.instructions`"`` → (text, field).

    ``field`` is the dotted path of the offending field: for an unknown or missing field, the
    path of that field itself (``session.modalities``), not of the object holding it."""
    text = str(exc)
    head, marker, tail = text.rpartition(" - at `$")  # the path is last; a key may hold the marker
    if not marker:
        head, path = text, ""
    else:
        path = tail[:-1].lstrip(".") if tail.endswith("`") else tail.lstrip(".")
    named = _NAMED_FIELD.match(head)
    if named is not None:
        field: str | None = f"{path}.{named['name']}" if path else named["name"]
    else:
        field = path or None
    return (f"{head} at `{path}`" if path else head), field


class ServerEventDecoder:
    """Turns one text frame (``str`` or UTF-8 ``bytes``) into a typed server event."""

    __slots__ = ("_generic", "_typed")

    def __init__(self) -> None:
        typed: msgspec.json.Decoder[Any] = msgspec.json.Decoder(ServerEvent)
        self._typed: Callable[[str | bytes | memoryview], AnyServerEvent] = typed.decode
        self._generic = msgspec.json.Decoder()

    @property
    def decode_typed(self) -> Callable[[str | bytes | memoryview], AnyServerEvent]:
        """The fast path alone (raises msgspec/Unicode/Recursion errors): for callers that
        inline :meth:`decode`; on any of those errors, call :meth:`decode_slow`."""
        return self._typed

    def decode(self, frame: str | bytes | memoryview) -> AnyServerEvent:
        try:
            return self._typed(frame)
        except (msgspec.ValidationError, msgspec.DecodeError, UnicodeError, RecursionError):
            return self.decode_slow(frame)

    def decode_slow(self, frame: str | bytes | memoryview) -> AnyServerEvent:
        """Classify a frame the typed decoder refused (see the module comment)."""
        try:
            raw = self._generic.decode(frame)
        except msgspec.DecodeError:
            raise MalformedFrameError(
                f"{_PREFIX}: not valid JSON ({len(frame)} bytes)"
            ) from None
        except UnicodeError:  # invalid UTF-8 bytes, or a str holding lone surrogates
            raise MalformedFrameError(
                f"{_PREFIX}: not valid UTF-8 ({len(frame)} bytes)"
            ) from None
        except RecursionError:
            raise MalformedFrameError(f"{_PREFIX}: JSON nested too deeply") from None
        if not isinstance(raw, dict):
            raise MalformedFrameError(
                f"{_PREFIX}: expected a JSON object, got {_json_kind(raw)}"
            )
        etype = raw.get("type")
        if not isinstance(etype, str):
            what = "missing" if etype is None else f"{_json_kind(etype)}, not a string"
            raise MalformedFrameError(f"{_PREFIX}: the 'type' field is {what}")
        error: str | None = None
        cls = SERVER_EVENT_TYPES.get(etype)
        if cls is not None:
            try:
                return cast(AnyServerEvent, msgspec.convert(raw, cls))
            except msgspec.ValidationError as exc:
                error = describe_validation_error(exc)[0]
                logger.warning(
                    "server event %r does not match the spec (%s); delivered as "
                    "UnknownServerEvent to 'event' handlers and iteration only",
                    etype,
                    error,
                )
        return UnknownServerEvent(type=etype, raw=raw, decode_error=error)


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "an object"


class ClientEventEncoder:
    """Validates a client event (dict or typed) against the GA schema and encodes it to bytes."""

    __slots__ = ("_encoder", "_validator")

    def __init__(self) -> None:
        self._encoder = msgspec.json.Encoder()
        self._validator = msgspec.json.Decoder(ClientEvent)

    def encode(self, event: Mapping[str, Any] | ClientEventBase) -> bytes:
        if isinstance(event, ClientEventBase):
            try:
                data = self._encoder.encode(event)
            except UnicodeEncodeError:
                raise InvalidClientEvent(
                    f"invalid client event {event.type!r}: a string holds a lone surrogate"
                ) from None
            try:
                self._validator.decode(data)
            except msgspec.ValidationError as exc:
                self._raise(event.type, exc)
            return data
        if not isinstance(event, Mapping):
            raise InvalidClientEvent(
                f"a client event must be a dict or a typed client event, got {type(event).__name__}"
            )
        etype = event.get("type")
        cls = CLIENT_EVENT_TYPES.get(etype) if isinstance(etype, str) else None
        if cls is None or not isinstance(etype, str):
            if etype is None:
                raise InvalidClientEvent(
                    "invalid client event: the field `type` is missing; expected one of "
                    + ", ".join(sorted(CLIENT_EVENT_TYPES)),
                    field="type",
                )
            raise InvalidClientEvent(
                f"invalid client event: unknown `type` {etype!r}; expected one of "
                + ", ".join(sorted(CLIENT_EVENT_TYPES))
                + " (use send_raw() to send an event this library does not know)",
                field="type",
            )
        try:
            msgspec.convert(event, cls)
        except msgspec.ValidationError as exc:
            self._raise(etype, exc)
        try:
            return self._encoder.encode(event)
        except UnicodeEncodeError:
            raise InvalidClientEvent(
                f"invalid client event {etype!r}: a string holds a lone surrogate (not encodable "
                "as UTF-8); clean the text, e.g. with .encode('utf-8', 'replace').decode()"
            ) from None
        except (TypeError, OverflowError) as exc:  # pragma: no cover - convert caught these
            raise InvalidClientEvent(f"invalid client event {etype!r}: {exc}") from None

    def encode_audio(self, pcm: bytes | bytearray | memoryview, event_id: str | None = None) -> bytes:
        """``input_audio_buffer.append`` for raw audio bytes (msgspec base64-encodes bytes).

        ``pcm`` must be bytes-like (``bytes``, ``bytearray``, ``memoryview``): a ``str`` would go
        out as if it were base64 already, so it is refused, as is an ``event_id`` that is not a
        str of at most 512 characters (the API's limit)."""
        if type(pcm) is not bytes and not isinstance(pcm, bytes | bytearray | memoryview):
            hint = (
                " (a str is not audio: pass the raw PCM bytes, or send() the event with a base64 "
                "`audio` string)"
                if isinstance(pcm, str)
                else ""
            )
            raise InvalidClientEvent(
                "invalid client event 'input_audio_buffer.append': `audio` must be bytes-like "
                f"(bytes, bytearray or memoryview), got {type(pcm).__name__}{hint}",
                field="audio",
            )
        if event_id is None:
            return self._encoder.encode({"type": "input_audio_buffer.append", "audio": pcm})
        if not isinstance(event_id, str) or len(event_id) > 512:
            raise InvalidClientEvent(
                "invalid client event 'input_audio_buffer.append': `event_id` must be a str of at "
                f"most 512 characters, got {type(event_id).__name__}"
                + (f" of {len(event_id)}" if isinstance(event_id, str) else ""),
                field="event_id",
            )
        return self._encoder.encode(
            {"type": "input_audio_buffer.append", "audio": pcm, "event_id": event_id}
        )

    @staticmethod
    def _raise(etype: str, exc: msgspec.ValidationError) -> Any:
        text, field = describe_validation_error(exc)
        raise InvalidClientEvent(f"invalid client event {etype!r}: {text}", field=field) from None
