"""OpenAI webhooks, Sans-I/O: Standard Webhooks signatures and the typed events they carry.

Everything about trusting a webhook lives here: the signing key a ``whsec_…`` secret stands for,
the signature of one delivery (:func:`sign_webhook`), the verification of one delivery against
its headers (:func:`verify_webhook`: the replay window, then every ``v1,`` signature compared in
constant time), and the decoding of a verified body into a typed event
(:class:`RealtimeCallIncoming`, or :class:`UnknownWebhookEvent` for the types this library does
not model). No clock is read here: the caller passes ``now``.

The scheme (Standard Webhooks 1.0, "Verifying webhook authenticity"; openai-python 3.63
``openai/lib/_webhooks.py`` implements the same for ``client.webhooks.unwrap``):

* headers ``webhook-id``, ``webhook-timestamp`` (integer Unix seconds) and
  ``webhook-signature``: space-separated ``v1,<base64>`` signatures, any one of which may match
  (several are sent while a secret is being rotated);
* the signed content is ``f"{webhook-id}.{webhook-timestamp}.".encode() + body``, exactly the
  bytes received; the signature is base64(HMAC-SHA256(key, content));
* the key is the base64 text after ``whsec_`` (a secret without the prefix is used as its UTF-8
  bytes, as openai-python does);
* a timestamp more than :data:`TOLERANCE` seconds (5 minutes) away from now, in either
  direction, is refused (replays of old deliveries).

Unlike openai-python, a signature without the ``v1,`` version prefix never matches: the
standard versions every signature, and a bare one is not what OpenAI sends.

The event types are forward compatible: unknown fields are ignored, an unknown ``type`` decodes
to :class:`UnknownWebhookEvent` with the raw object kept. Shapes from openai-python 3.63
``openai/types/webhooks/realtime_call_incoming_webhook_event.py``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import msgspec

from .codec import describe_validation_error
from .errors import OpenAIRealtimeError, RealtimeConfigError

__all__ = [
    "TOLERANCE",
    "RealtimeCallIncoming",
    "RealtimeCallIncomingData",
    "SipHeader",
    "UnknownWebhookEvent",
    "WebhookEvent",
    "WebhookVerificationError",
    "decode_webhook_event",
    "sign_webhook",
    "unwrap_webhook",
    "verify_webhook",
    "webhook_key",
]

TOLERANCE = 300
"""Seconds a delivery's ``webhook-timestamp`` may be away from now (the standard's 5 minutes)."""

MAX_SIGNATURES = 16
"""Signatures compared at most (one per secret being rotated; more is not a real delivery)."""

_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class WebhookVerificationError(OpenAIRealtimeError, ValueError):
    """A webhook delivery is not authentic, or not current. ``reason`` is one of
    ``missing_header``, ``bad_timestamp``, ``too_old``, ``too_new``, ``no_signature``,
    ``bad_signature``, ``bad_body``. The message names what was wrong, never a signature,
    the secret or the body."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def webhook_key(secret: str | bytes) -> bytes:
    """The HMAC key a webhook secret stands for: base64-decoded after ``whsec_``, else the
    secret's UTF-8 bytes (``bytes`` are used as they are). RealtimeConfigError for an empty
    secret or a ``whsec_`` one that is not base64 (the message never shows the secret)."""
    if isinstance(secret, bytes | bytearray):
        key = bytes(secret)
    elif isinstance(secret, str):
        if secret.startswith("whsec_"):
            try:
                key = base64.b64decode(secret[6:], validate=True)
            except (binascii.Error, ValueError):
                raise RealtimeConfigError(
                    "webhook_secret: the part after 'whsec_' is not valid base64 (copy the "
                    "secret exactly as the OpenAI dashboard shows it)."
                ) from None
        else:
            key = secret.encode()
    else:
        raise RealtimeConfigError(
            f"webhook_secret must be a str ('whsec_…') or bytes, got {type(secret).__name__}."
        )
    if not key:
        raise RealtimeConfigError("webhook_secret is empty.")
    return key


def sign_webhook(secret: str | bytes, webhook_id: str, timestamp: int, body: bytes | str) -> str:
    """The ``webhook-signature`` value (``v1,<base64>``) of one delivery."""
    payload = body.encode() if isinstance(body, str) else bytes(body)
    mac = hmac.new(webhook_key(secret), f"{webhook_id}.{timestamp}.".encode() + payload, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        for key, val in headers.items():
            if key.lower() == name:
                return val
    return value


def verify_webhook(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str | bytes,
    *,
    now: float,
    tolerance: int = TOLERANCE,
) -> None:
    """Check that ``body`` with ``headers`` was signed with ``secret`` within ``tolerance``
    seconds of ``now``; raises :class:`WebhookVerificationError` otherwise. ``body`` must be
    the bytes exactly as received (a re-encoded JSON object does not verify)."""
    key = webhook_key(secret)
    values = {name: _header(headers, name) for name in _HEADERS}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise WebhookVerificationError(
            f"webhook header {missing[0]!r} is missing: not a signed webhook delivery",
            reason="missing_header",
        )
    webhook_id = values["webhook-id"] or ""
    stamp = (values["webhook-timestamp"] or "").strip()
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        raise WebhookVerificationError(
            "webhook-timestamp must be an integer number of Unix seconds", reason="bad_timestamp"
        )
    timestamp = int(stamp)
    if now - timestamp > tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp is more than {tolerance} s old (a replayed delivery?)",
            reason="too_old",
        )
    if timestamp - now > tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp is more than {tolerance} s in the future (check the clock)",
            reason="too_new",
        )
    candidates = [
        part[3:].encode("utf-8", "surrogatepass")
        for part in (values["webhook-signature"] or "").split()[:MAX_SIGNATURES]
        if part.startswith("v1,")
    ]
    if not candidates:
        raise WebhookVerificationError(
            "webhook-signature holds no 'v1,' signature", reason="no_signature"
        )
    payload = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)
    signed = f"{webhook_id}.{stamp}.".encode("utf-8", "surrogatepass")  # never raises: such a one never matches
    mac = hmac.new(key, signed + payload, hashlib.sha256)
    expected = base64.b64encode(mac.digest())
    matched = False
    for candidate in candidates:  # every one compared: the time taken does not say which matched
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise WebhookVerificationError(
            "webhook-signature does not match the body (wrong webhook secret, or a forged or "
            "altered delivery)",
            reason="bad_signature",
        )


# --- events ----------------------------------------------------------------------------------


class SipHeader(msgspec.Struct, frozen=True):
    """A header of the SIP INVITE (untrusted call metadata)."""

    name: str
    value: str


class RealtimeCallIncomingData(msgspec.Struct, frozen=True):
    """``data`` of ``realtime.call.incoming``."""

    call_id: str
    """Pass it unchanged to accept/reject/refer/hangup and to the sideband socket (``call_id=``)."""
    sip_headers: list[SipHeader] = msgspec.field(default_factory=list)
    """The INVITE's headers, SIP authorization headers excluded, in order, repeats kept."""
    sip_media_security: str | None = None
    """``"srtp"``, ``"rtp"``, another value to treat as unknown, or None when unknown."""

    def header(self, name: str) -> str | None:
        """The first SIP header called ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        return next((h.value for h in self.sip_headers if h.name.lower() == wanted), None)


class RealtimeCallIncoming(msgspec.Struct, frozen=True, tag_field="type", tag="realtime.call.incoming"):
    """A SIP call reached the project's number and waits to be accepted or rejected."""

    id: str
    created_at: int
    data: RealtimeCallIncomingData
    object: str = "event"

    @property
    def type(self) -> str:
        """Always ``realtime.call.incoming``."""
        return "realtime.call.incoming"

    @property
    def call_id(self) -> str:
        """Same as ``data.call_id``."""
        return self.data.call_id


class UnknownWebhookEvent(msgspec.Struct, frozen=True):
    """A verified webhook of a type this library does not model (``raw``: the whole object)."""

    type: str
    id: str | None
    raw: dict[str, Any]


WebhookEvent = RealtimeCallIncoming | UnknownWebhookEvent

_KNOWN: dict[str, type[msgspec.Struct]] = {"realtime.call.incoming": RealtimeCallIncoming}


def decode_webhook_event(body: bytes | str) -> WebhookEvent:
    """A (verified) webhook body as a typed event. WebhookVerificationError(reason="bad_body")
    when it is not a JSON object with a string ``type``, or a known type's fields do not fit
    (the message names the field, never its value)."""
    try:
        raw = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise WebhookVerificationError("webhook body is not JSON", reason="bad_body") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise WebhookVerificationError(
            "webhook body is not an event object with a string `type`", reason="bad_body"
        )
    cls = _KNOWN.get(raw["type"])
    if cls is None:
        event_id = raw.get("id")
        return UnknownWebhookEvent(raw["type"], event_id if isinstance(event_id, str) else None, raw)
    try:
        event: RealtimeCallIncoming = msgspec.convert(raw, cls)  # type: ignore[assignment]
    except msgspec.ValidationError as exc:
        text, where = describe_validation_error(exc)
        raise WebhookVerificationError(
            f"webhook {raw['type']!r} does not fit its schema"
            + (f" at `{where}`: {text}" if where else f": {text}"),
            reason="bad_body",
        ) from None
    return event


def unwrap_webhook(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str | bytes,
    *,
    now: float,
    tolerance: int = TOLERANCE,
) -> WebhookEvent:
    """:func:`verify_webhook`, then :func:`decode_webhook_event` (as openai-python's
    ``client.webhooks.unwrap``)."""
    verify_webhook(body, headers, secret, now=now, tolerance=tolerance)
    return decode_webhook_event(body)
