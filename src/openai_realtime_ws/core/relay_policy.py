"""The browser relay's rules (no I/O here): which client events a browser may send, which session
fields the server owns, size limits, redaction of server-owned fields in what the browser sees,
and per-principal usage accounting (sessions, events per second, audio seconds).

The relay shell (:mod:`openai_realtime_ws.relay`) holds the sockets, the clock and the store; it
asks this module what to do with each browser frame:

* :meth:`RelayPolicy.check` takes one browser frame and answers :class:`Accepted` (the parsed
  event, its audio duration) or :class:`Refused` (the ``error`` event to send back to the
  browser, shaped like the API's own errors, so every client handles it).
* :meth:`RelayPolicy.session_update` is the ``session.update`` the relay sends upstream first:
  the server-owned configuration.
* :meth:`RelayPolicy.redact` removes server-owned fields from ``session.created`` /
  ``session.updated`` frames before they reach the browser (when asked).
* :class:`UsageMeter` decides, per event, whether a principal is over its limits, from the
  totals the shared store last returned plus what this session has not synced yet. The shell
  syncs when :meth:`UsageMeter.due` says so: around every control event (so those are counted
  exactly across workers), and at most every ``sync_interval`` seconds while audio streams (so
  audio limits hold across workers to within one sync interval per session).

Error codes the browser can receive (``error.type`` is ``invalid_request_error``):
``relay_invalid_event`` (not a JSON object with a string ``type``), ``relay_event_not_allowed``
(param ``type``), ``relay_event_too_large``, ``relay_server_owned_field`` (param: the dotted
field), ``relay_item_not_allowed`` (system messages, unless allowed), ``relay_rate_limited``,
``relay_audio_limit``, ``relay_upstream_error`` (an upstream failure, told generically).

Also here, for the shell to apply: :func:`host_allowed` (the ``Host`` a request names must be
one of the relay's own names: DNS rebinding), :meth:`RelayPolicy.from_upstream` (what an
upstream frame becomes for the browser: byte for byte, redacted, or an upstream failure
replaced by a generic error) and :class:`InputAudioFormat` (audio is charged on the input
format the upstream confirmed, never on one a browser only asked for).
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import msgspec

__all__ = [
    "DEFAULT_ALLOWED_EVENTS",
    "DEFAULT_ALLOWED_HOSTS",
    "Accepted",
    "InputAudioFormat",
    "Limits",
    "Refused",
    "RelayPolicy",
    "UpstreamFact",
    "UsageMeter",
    "error_event",
    "host_allowed",
    "scrub",
]

DEFAULT_ALLOWED_EVENTS: frozenset[str] = frozenset({
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.truncate",
    "conversation.item.delete",
    "conversation.item.retrieve",
    "response.create",
    "response.cancel",
})
"""What a browser may send by default: every GA client event."""

# Session fields the browser may never set, whatever the configuration: the model is chosen by
# the relay's operator, and `type` is fixed by the session.
_ALWAYS_OWNED = ("model",)
# Paths of a session.update's `session` that also exist in response.create's `response`
# (per-response overrides), so that a response cannot override what the session may not.
_RESPONSE_PATHS = {
    "instructions": "instructions",
    "tools": "tools",
    "tool_choice": "tool_choice",
    "audio.output.voice": "audio.output.voice",
    "max_output_tokens": "max_output_tokens",
    "output_modalities": "output_modalities",
    "prompt": "prompt",
}
_BYTES_PER_MS = {"audio/pcm": 48, "audio/pcmu": 8, "audio/pcma": 8}
# Message roles a browser may put in an item (conversation.item.create's `item`, each of
# response.create's `response.input`): anything else (`system`, and roles the schema may add,
# such as `developer`) speaks for the server.
_BROWSER_ROLES = frozenset({"user", "assistant"})
# Upstream error codes that describe the relay's own account or credentials, never the browser's
# event: told to the browser as a generic upstream failure.
_ACCOUNT_WORDS = ("api_key", "auth", "quota", "billing", "organization", "permission",
                  "project", "secret", "rate_limit")
_SECRETS = re.compile(
    r"(?:sk-|ek_|rk-|sess-|org-|proj_)[^\s\"'`,;)]*|(?:https?|wss?)://[^\s\"'`)]*|\bBearer\s+\S+",
    re.IGNORECASE)
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()
_ids = count(1)

DEFAULT_ALLOWED_HOSTS: frozenset[str] = frozenset({"localhost", "127.0.0.1", "::1"})
"""The host names a relay answers to unless configured: this machine only."""


class _Head(msgspec.Struct):
    type: str = ""


class _Append(msgspec.Struct):
    type: str = ""
    audio: str = ""
    event_id: str | None = None


_head = msgspec.json.Decoder(_Head)
_append = msgspec.json.Decoder(_Append)
_APPEND_TYPE = "input_audio_buffer.append"
_NO_EVENT: dict[str, Any] = {}
# The shapes almost every frame has (realtime.js and the API write `type` first): recognised
# exactly from their bytes, so that the common frame is never parsed. Anything else is parsed.
_APPEND_PREFIX = b'{"type":"input_audio_buffer.append","audio":"'
_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_TYPE_PREFIX = b'{"type":"'
_UPSTREAM_READ = frozenset({b"error", b"session.created", b"session.updated"})


def host_allowed(host: str | None, allowed: frozenset[str]) -> bool:
    """Whether a request's ``Host`` header names the relay (DNS rebinding: a page served from
    an attacker's name that resolves to the relay's address sends that name here). ``allowed``
    holds host names without ports (``relay.example.com``), ``.example.com`` for a domain and its
    subdomains, or ``*`` for any. No ``Host`` at all is refused."""
    if "*" in allowed:
        return True
    if not host:
        return False
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8000
        name = host[1:host.find("]")] if "]" in host else ""
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.rstrip(".")
    if not name:
        return False
    if name in allowed:
        return True
    return any(a.startswith(".") and (name.endswith(a) or name == a[1:]) for a in allowed)


def scrub(text: str) -> str:
    """``text`` without anything that looks like a key, a token or a URL."""
    return _SECRETS.sub("[redacted]", text)


def _utf8_len(frame: str | bytes) -> int:
    if isinstance(frame, bytes) or frame.isascii():  # isascii is O(1) on str
        return len(frame)
    return len(frame.encode("utf-8", "surrogatepass"))


def error_event(code: str, message: str, *, param: str | None = None,
                event_id: str | None = None) -> dict[str, Any]:
    """An ``error`` server event in the API's shape (``error.event_id`` = the client event's id)."""
    return {
        "type": "error",
        "event_id": f"event_relay_{next(_ids)}",
        "error": {"type": "invalid_request_error", "code": code, "message": message,
                  "param": param, "event_id": event_id},
    }


@dataclass(frozen=True, slots=True)
class Accepted:
    """A browser event that may go upstream: the parsed ``event``, its ``type`` and, for
    ``input_audio_buffer.append``, the duration of its audio in milliseconds."""

    event: dict[str, Any]
    type: str
    audio_ms: float = 0.0
    input_bytes_per_ms: int | None = None
    """Set when a ``session.update`` changes the input audio format (PCM16: 48, G.711: 8)."""
    event_id: str | None = None
    """The client event's ``event_id`` (set by :meth:`RelayPolicy.check_append`, whose
    ``event`` is empty: the frame goes upstream as it is)."""


@dataclass(frozen=True, slots=True)
class Refused:
    """A browser event that must not go upstream; ``error`` goes back to the browser."""

    error: dict[str, Any]

    @property
    def code(self) -> str:
        return str(self.error["error"]["code"])


@dataclass(frozen=True, slots=True)
class UpstreamFact:
    """What the shell learns from an upstream frame: a ``session.created``/``session.updated``
    (with the input format the upstream now uses, in bytes per ms, if it says) or an ``error``
    (with the client event it refuses, if any)."""

    type: str
    input_bytes_per_ms: int | None = None
    refused_event_id: str | None = None


class InputAudioFormat:
    """The input audio format a session is charged on (bytes per millisecond: PCM16 24 kHz 48,
    G.711 8). A browser's ``session.update`` only asks: until the upstream answers it with
    ``session.updated`` (or refuses it with an ``error`` naming its ``event_id``), audio is
    charged on the longest duration the bytes could hold, the confirmed format or the asked one;
    the upstream answers in order, so a ``session.updated`` answers the oldest pending update."""

    __slots__ = ("_pending", "confirmed")

    def __init__(self, confirmed: int = 48) -> None:
        self.confirmed = confirmed
        self._pending: deque[tuple[str | None, int | None]] = deque()

    @property
    def bytes_per_ms(self) -> int:
        asked = [b for _, b in self._pending if b is not None]
        return min(self.confirmed, *asked) if asked else self.confirmed

    def requested(self, event_id: str | None, bytes_per_ms: int | None) -> None:
        """A ``session.update`` went upstream (``bytes_per_ms``: the format it asks, if any)."""
        self._pending.append((event_id, bytes_per_ms))

    def learn(self, fact: UpstreamFact) -> None:
        """Apply what an upstream frame says."""
        if fact.type == "error":
            self._pending = deque(p for p in self._pending if p[0] != fact.refused_event_id
                                  or fact.refused_event_id is None)
            return
        if fact.type == "session.updated" and self._pending:
            self._pending.popleft()
        if fact.input_bytes_per_ms is not None:
            self.confirmed = fact.input_bytes_per_ms


def _leaf_paths(value: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for key, sub in value.items():
        path = f"{prefix}{key}"
        if isinstance(sub, Mapping) and sub:
            yield from _leaf_paths(sub, path + ".")
        else:
            yield path


def _get(value: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    node: Any = value
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _delete(value: dict[str, Any], path: str) -> None:
    *parents, last = path.split(".")
    node: Any = value
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return
    if isinstance(node, dict):
        node.pop(last, None)


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


@dataclass(slots=True)
class RelayPolicy:
    """What browsers may send through the relay.

    ``server_session`` is the server-owned part of the session (the shape of ``session.update``'s
    ``session``: ``{"instructions": ..., "tools": [...], "audio": {"output": {"voice": "marin"}}}``);
    each of its leaves (a list counts as one leaf) is a field a browser cannot set to another
    value, in ``session.update`` or in ``response.create``'s per-response overrides.
    ``owned_fields`` adds dotted paths the server owns without configuring them (e.g. ``tools``
    when the tools are registered on the relay). ``model`` is always server-owned.
    """

    allowed_events: frozenset[str] = DEFAULT_ALLOWED_EVENTS
    server_session: Mapping[str, Any] = field(default_factory=dict)
    owned_fields: frozenset[str] = frozenset()
    max_event_bytes: int = 1 << 20
    redact_server_fields: bool = False
    allow_system_items: bool = False
    _owned: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        if not isinstance(self.server_session, Mapping):
            raise ValueError("server_session: expected a mapping (the shape of session.update's "
                             f"`session`), got {type(self.server_session).__name__}")
        if self.max_event_bytes < 1024:
            raise ValueError(f"max_event_bytes: expected at least 1024, got {self.max_event_bytes}")
        unknown = set(self.allowed_events) - DEFAULT_ALLOWED_EVENTS
        if unknown:
            raise ValueError(f"allowed_events: unknown client event types {sorted(unknown)}; "
                             f"expected some of {sorted(DEFAULT_ALLOWED_EVENTS)}")
        paths = [p for p in _leaf_paths(self.server_session) if p != "type"]
        if "instructions" in paths or "instructions" in self.owned_fields:
            paths.append("prompt")  # a stored prompt would replace the server's instructions
        self._owned = tuple(dict.fromkeys([*_ALWAYS_OWNED, *paths, *sorted(self.owned_fields)]))

    @property
    def owned(self) -> tuple[str, ...]:
        """The server-owned session fields, as dotted paths."""
        return self._owned

    # ------------------------------------------------------------------ browser → upstream

    def append_ms(self, frame: bytes, bytes_per_ms: int = 48) -> float:
        """The audio milliseconds of ``frame`` when it is an allowed append written the common
        way (``{"type":"input_audio_buffer.append","audio":"<base64>"}``, within the size
        limit), recognised from its bytes without parsing; ``-1.0`` otherwise (then
        :meth:`check_append` or :meth:`check` decides). No allocation beyond a slice: the hot
        path of a relay."""
        if (len(frame) > self.max_event_bytes or not frame.startswith(_APPEND_PREFIX)
                or not frame.endswith(b'"}') or _APPEND_TYPE not in self.allowed_events):
            return -1.0
        raw = frame[len(_APPEND_PREFIX):-2]
        if raw.translate(None, _B64):  # not base64 only: parse it
            return -1.0
        return ((len(raw) * 3) // 4 - raw[-2:].count(b"=")) / bytes_per_ms

    def passes(self, frame: bytes) -> bool:
        """Whether an upstream frame goes to the browser as it is without being read: its
        ``type`` comes first and is not one the relay reads (``error``, ``session.*``). When
        false, :meth:`from_upstream` decides."""
        if not frame.startswith(_TYPE_PREFIX):
            return False
        end = frame.find(b'"', 9, 128)
        if end < 0:
            return False
        etype = frame[9:end]
        return b"\\" not in etype and etype not in _UPSTREAM_READ

    def check_append(self, frame: str | bytes, bytes_per_ms: int = 48) -> Accepted | None:
        """The fast path for ``input_audio_buffer.append`` (most of a session's frames): only
        ``type``, ``audio`` and ``event_id`` are read (the audio's duration comes from the
        length of its base64, which is never decoded), and the frame goes upstream as it is.
        ``None`` for anything else, or anything doubtful (then :meth:`check` decides)."""
        limit = self.max_event_bytes
        if len(frame) * 4 > limit and (len(frame) > limit or _utf8_len(frame) > limit):
            return None
        if isinstance(frame, bytes):
            ms = self.append_ms(frame, bytes_per_ms)
            if ms >= 0:
                return Accepted(_NO_EVENT, _APPEND_TYPE, ms)
        try:
            head = _append.decode(frame)
        except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError):
            return None
        if head.type != _APPEND_TYPE or _APPEND_TYPE not in self.allowed_events:
            return None
        audio = head.audio
        size = (len(audio) * 3) // 4 - audio[-2:].count("=")
        return Accepted(_NO_EVENT, _APPEND_TYPE, size / bytes_per_ms, event_id=head.event_id)

    def check(self, frame: str | bytes, bytes_per_ms: int = 48) -> Accepted | Refused:
        """Decide what to do with one browser frame (the text of a WebSocket message);
        ``bytes_per_ms`` is the session's input audio format (PCM16 24 kHz: 48, G.711: 8)."""
        limit = self.max_event_bytes
        # a character is 1 to 4 UTF-8 bytes: only a frame that may be over the limit is measured
        size = len(frame) if len(frame) > limit or len(frame) * 4 <= limit else _utf8_len(frame)
        if size > limit:
            return Refused(error_event(
                "relay_event_too_large",
                f"The event is {size} bytes (UTF-8); this relay accepts at most "
                f"{limit} bytes per event.", param=None))
        try:
            event = _decoder.decode(frame)
        except (msgspec.DecodeError, UnicodeDecodeError):
            return Refused(error_event("relay_invalid_event",
                                       "The event is not valid JSON; expected a JSON object "
                                       "with a string `type`."))
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return Refused(error_event("relay_invalid_event",
                                       "Expected a JSON object with a string `type`.",
                                       param="type"))
        etype: str = event["type"]
        raw_id = event.get("event_id")
        event_id = raw_id if isinstance(raw_id, str) else None
        if etype not in self.allowed_events:
            return Refused(error_event(
                "relay_event_not_allowed",
                f"This relay does not accept `{etype[:64]}` events from the browser; allowed: "
                f"{', '.join(sorted(self.allowed_events))}.",
                param="type", event_id=event_id))
        if etype == "input_audio_buffer.append":
            audio = event.get("audio")
            size = (len(audio) * 3) // 4 - audio[-2:].count("=") if isinstance(audio, str) else 0
            return Accepted(event, etype, size / bytes_per_ms)
        if etype == "session.update":
            if event_id is None:  # so that an upstream error refusing it can be matched
                event_id = event["event_id"] = f"event_relay_su_{next(_ids)}"
            session = event.get("session")
            if isinstance(session, Mapping):
                refused = self._owned_in(session, self._owned, "session", event_id)
                if refused is not None:
                    return refused
                found, fmt = _get(session, "audio.input.format.type")
                if found and fmt in _BYTES_PER_MS:
                    return Accepted(event, etype, input_bytes_per_ms=_BYTES_PER_MS[fmt])
        elif etype == "response.create":
            response = event.get("response")
            if isinstance(response, Mapping):
                paths = tuple(_RESPONSE_PATHS[p] for p in self._owned if p in _RESPONSE_PATHS)
                refused = self._owned_in(response, paths, "response", event_id)
                if refused is not None:
                    return refused
                items = response.get("input")
                if isinstance(items, list):
                    for index, item in enumerate(items):
                        refused = self._item(item, f"response.input[{index}]", etype, event_id)
                        if refused is not None:
                            return refused
        elif etype == "conversation.item.create":
            refused = self._item(event.get("item"), "item", etype, event_id)
            if refused is not None:
                return refused
        return Accepted(event, etype)

    def _item(self, item: object, where: str, etype: str, event_id: str | None) -> Refused | None:
        """System (and any non-user, non-assistant) messages speak for the server."""
        if self.allow_system_items or not isinstance(item, Mapping) or "role" not in item:
            return None
        role = item["role"]
        if isinstance(role, str) and role in _BROWSER_ROLES:
            return None
        shown = role[:32] if isinstance(role, str) else type(role).__name__
        return Refused(error_event(
            "relay_item_not_allowed",
            f"System messages come from the server; this relay refuses `{etype}` with "
            f"`{where}.role: {shown}` from the browser (expected `user` or `assistant`).",
            param=f"{where}.role", event_id=event_id))

    def _owned_in(self, obj: Mapping[str, Any], paths: tuple[str, ...], prefix: str,
                  event_id: str | None) -> Refused | None:
        for path in paths:
            present, value = _get(obj, path)
            if not present:
                continue
            found, owned = _get(self.server_session, path)
            if found and value == owned:
                continue  # restating the server's own value changes nothing
            return Refused(error_event(
                "relay_server_owned_field",
                f"`{prefix}.{path}` is set by the server and cannot be changed from the browser.",
                param=f"{prefix}.{path}", event_id=event_id))
        return None

    # ------------------------------------------------------------------ relay → upstream

    def session_update(self) -> dict[str, Any] | None:
        """The ``session.update`` that applies the server-owned configuration (``None`` if none).
        ``model`` is not in it (the relay picks the model in the URL; it cannot change)."""
        session = {k: v for k, v in self.server_session.items() if k != "model"}
        if not session or set(session) == {"type"}:
            return None
        return {"type": "session.update", "session": {"type": "realtime", **session}}

    def secret_session(self, browser_session: Mapping[str, Any] | None,
                       model: str) -> dict[str, Any] | Refused:
        """The session of a client secret minted for a browser: its own fields (checked like a
        ``session.update``), then the server-owned ones on top."""
        extra: Mapping[str, Any] = browser_session or {}
        if not isinstance(extra, Mapping):
            return Refused(error_event("relay_invalid_event",
                                       "`session` must be a JSON object.", param="session"))
        refused = self._owned_in(extra, self._owned, "session", None)
        if refused is not None:
            return refused
        merged = _merge(dict(extra), self.server_session)
        merged["type"] = "realtime"
        merged["model"] = model
        return merged

    # ------------------------------------------------------------------ upstream → browser

    def from_upstream(self, frame: str | bytes) -> tuple[str | bytes, UpstreamFact | None]:
        """What one upstream frame becomes for the browser, and what the shell must learn from
        it. Every frame but ``session.created``/``session.updated`` and ``error`` passes byte for
        byte (only its ``type`` is read); sessions are redacted when asked and report the
        confirmed input format; an ``error`` keeps its message only when it is about the
        browser's own event (``invalid_request_error`` not about the relay's account), with
        anything like a key or a URL removed; any other error becomes ``relay_upstream_error``."""
        if isinstance(frame, bytes) and self.passes(frame):
            return frame, None  # `type` first and not one the relay reads: as it is
        try:
            etype = _head.decode(frame).type
        except msgspec.ValidationError:
            return frame, None
        except msgspec.DecodeError:
            return frame, None  # the client never hands over invalid JSON; nothing to learn
        if etype == "error":
            return self._upstream_error(frame)
        if etype not in ("session.created", "session.updated"):
            return frame, None
        event = _decoder.decode(frame)
        session = event.get("session") if isinstance(event, dict) else None
        if not isinstance(session, dict):
            return frame, None
        found, fmt = _get(session, "audio.input.format.type")
        fact = UpstreamFact(etype, input_bytes_per_ms=_BYTES_PER_MS.get(fmt) if found else None)
        if not self.redact_server_fields:
            return frame, fact
        for path in self._owned:
            if path != "model":
                _delete(session, path)
        return _encoder.encode(event).decode(), fact

    def _upstream_error(self, frame: str | bytes) -> tuple[str, UpstreamFact]:
        event = _decoder.decode(frame)
        error = event.get("error") if isinstance(event, dict) else None
        error = error if isinstance(error, dict) else {}
        raw_id = error.get("event_id")
        event_id = raw_id if isinstance(raw_id, str) else None
        code = error.get("code")
        code = code if isinstance(code, str) else None
        message = error.get("message")
        about_browser = (error.get("type") == "invalid_request_error" and isinstance(message, str)
                         and not any(word in (code or "").lower() for word in _ACCOUNT_WORDS))
        if about_browser:
            assert isinstance(message, str)
            param = error.get("param")
            out = {"type": "error", "event_id": event.get("event_id"), "error": {
                "type": "invalid_request_error", "code": code, "message": scrub(message),
                "param": scrub(param) if isinstance(param, str) else None,
                "event_id": event_id}}
        else:
            out = error_event("relay_upstream_error",
                              "The Realtime upstream failed; the relay cannot say more. Try "
                              "again, or connect again if the session ends.",
                              event_id=event_id)
            out["error"]["type"] = "server_error"
        return _encoder.encode(out).decode(), UpstreamFact("error", refused_event_id=event_id)


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-principal limits (``None`` = unlimited).

    ``max_sessions``: concurrent relay sessions; ``events_per_second``: browser events (audio
    appends included); ``audio_seconds`` of input audio per ``audio_window`` seconds;
    ``max_session_seconds``: the length of one session. ``sync_interval``: how often a session
    syncs its usage with the shared store (the bound on how far workers can overshoot together).
    """

    max_sessions: int | None = None
    events_per_second: int | None = None
    audio_seconds: float | None = None
    audio_window: float = 3600.0
    max_session_seconds: float | None = None
    sync_interval: float = 0.25
    session_ttl: float = 60.0

    def __post_init__(self) -> None:
        for name in ("max_sessions", "events_per_second", "audio_seconds", "max_session_seconds"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int | float) or value <= 0):
                raise ValueError(f"Limits.{name}: expected a positive number or None, got {value!r}")
        for name in ("audio_window", "sync_interval", "session_ttl"):
            if getattr(self, name) <= 0:
                raise ValueError(f"Limits.{name}: expected a positive number")

    @property
    def metered(self) -> bool:
        """Whether events or audio are limited (a session then needs a usage meter)."""
        return self.events_per_second is not None or self.audio_seconds is not None


class UsageMeter:
    """One session's view of its principal's usage.

    Keys name fixed windows: ``ev:<second>`` counts events, ``au:<window>`` audio milliseconds.
    :meth:`charge` decides from the store's last totals plus the unsynced ``pending`` counts;
    the shell calls :meth:`take_pending` / :meth:`apply` around a store round trip when
    :meth:`due` is true (never synced, or ``sync_interval`` passed with something pending).
    """

    __slots__ = ("_last_sync", "_refused_in", "limits", "pending", "totals")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.totals: dict[str, float] = {}
        self.pending: dict[str, float] = {}
        self._last_sync: float | None = None
        self._refused_in: set[str] = set()

    def keys(self, now: float) -> tuple[str, str]:
        return f"ev:{math.floor(now)}", f"au:{math.floor(now / self.limits.audio_window)}"

    def due(self, now: float, control: bool = False) -> bool:
        """Whether to sync before charging the next event: never synced yet, a ``control``
        event (anything but an audio append: decided on fresh totals, and pushed right after,
        see :meth:`push_after`), or something pending and ``sync_interval`` passed."""
        if self._last_sync is None or control:
            return True
        return bool(self.pending) and now - self._last_sync >= self.limits.sync_interval

    def push_after(self, control: bool) -> bool:
        """Whether to push the pending counts right after charging: for control events, so
        that other workers count them before the upstream can answer."""
        return control and bool(self.pending)

    def take_pending(self, now: float) -> dict[str, float]:
        """The counts to add to the store (the current windows are always included, at 0, so
        that their totals come back)."""
        ev, au = self.keys(now)
        out = {ev: 0.0, au: 0.0}
        out.update(self.pending)
        self.pending = {}
        return out

    def apply(self, totals: Mapping[str, float], now: float) -> None:
        """The store's totals after the add."""
        self.totals = dict(totals)
        self._last_sync = now

    def ttl(self, key: str) -> float:
        return 2.0 if key.startswith("ev:") else self.limits.audio_window + 1.0

    def charge(self, now: float, audio_ms: float, event_id: str | None = None) -> Refused | None:
        """Count one browser event (with ``audio_ms`` of input audio); a :class:`Refused` when it
        would go over a limit (one error per window is enough: later refusals in the same
        window come back with ``error`` set to an empty dict, meaning "drop quietly")."""
        limits = self.limits
        ev, au = self.keys(now)
        if limits.events_per_second is not None:
            used = self.totals.get(ev, 0.0) + self.pending.get(ev, 0.0)
            if used + 1 > limits.events_per_second:
                return self._refuse(ev, "relay_rate_limited",
                                    f"Too many events: this relay accepts "
                                    f"{limits.events_per_second} events per second per user.",
                                    event_id)
        if limits.audio_seconds is not None and audio_ms:
            used_ms = self.totals.get(au, 0.0) + self.pending.get(au, 0.0)
            if used_ms + audio_ms > limits.audio_seconds * 1000:
                return self._refuse(au, "relay_audio_limit",
                                    f"Audio limit reached: {limits.audio_seconds:g} s of input "
                                    f"audio per {limits.audio_window:g} s per user.", event_id)
        self.pending[ev] = self.pending.get(ev, 0.0) + 1
        if audio_ms:
            self.pending[au] = self.pending.get(au, 0.0) + audio_ms
        return None

    def _refuse(self, key: str, code: str, message: str, event_id: str | None) -> Refused:
        if key in self._refused_in:
            return Refused({})
        self._refused_in = {k for k in self._refused_in if k[:3] != key[:3]} | {key}
        return Refused(error_event(code, message, event_id=event_id))
