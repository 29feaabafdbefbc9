"""Call control for SIP calls, Sans-I/O: the requests and what their answers mean.

Owns the rules of ``POST /v1/realtime/calls/{call_id}/accept|reject|refer|hangup`` (the routes
and bodies of openai-python 3.63 ``resources/realtime/calls.py``): which URL (the client
secrets' base, so OpenAI, ``base_url`` and Azure resolve alike), which body, checked before
anything is sent with an error naming the field, and the classification of the answer (2xx:
done, anything else: :class:`CallControlError` with the status and the API's message, secrets
masked). The shells (:mod:`..aio.calls`, :mod:`..sync.calls`) only resolve the credential and
perform the request.

Bodies:

* ``accept``: the session configuration, the ``session`` object of ``session.update`` (validated
  against the same schema the client validates ``session.update`` with; ``type`` defaults to
  ``"realtime"``), ``model`` included;
* ``reject``: ``{"status_code": <SIP final status 400-699>}`` (the API's default is 603 Decline
  when it is left out);
* ``refer``: ``{"target_uri": "tel:…" | "sip:…" | "sips:…"}`` (the SIP ``Refer-To``);
* ``hangup``: no body.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import msgspec

from .codec import ClientEventEncoder
from .errors import HandshakeError, InvalidClientEvent, RealtimeConfigError
from .handshake import client_secrets_url, redact_text, redact_url, rest_error_message

__all__ = [
    "ACTIONS",
    "CallControlError",
    "CallRequest",
    "accept_request",
    "call_result",
    "hangup_request",
    "refer_request",
    "reject_request",
]

ACTIONS = ("accept", "reject", "refer", "hangup")

_CALL_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,256}$")
_TARGET = re.compile(r"^(tel:\+?[0-9*#().\-]{1,64}|sips?:[^\s<>\"]{1,1024})$", re.IGNORECASE)
_encoder = ClientEventEncoder()


class CallControlError(HandshakeError):
    """A call-control request was refused (``status``: the HTTP status; ``action``: accept,
    reject, refer or hangup; ``call_id``). The message carries the API's error message with
    every credential masked."""

    def __init__(self, message: str, *, status: int | None, action: str, call_id: str) -> None:
        super().__init__(message, status=status)
        self.action = action
        self.call_id = call_id


@dataclass(frozen=True, slots=True)
class CallRequest:
    """One call-control POST: where, what, and for which call."""

    action: str
    call_id: str
    url: str
    body: bytes | None
    """JSON bytes, or None for no body (``hangup``)."""


def _check_call_id(call_id: object) -> str:
    if not isinstance(call_id, str) or not _CALL_ID.match(call_id):
        shown = type(call_id).__name__ if not isinstance(call_id, str) else f"{len(call_id)} characters"
        raise RealtimeConfigError(
            "call_id must be the `data.call_id` of the realtime.call.incoming webhook (letters, "
            f"digits, '_', '-', '.', ':'; 1-256 characters), got {shown}."
        )
    return call_id


def _url(client: object | None, azure_endpoint: str | None, call_id: str, action: str) -> str:
    base = client_secrets_url(client, azure_endpoint=azure_endpoint).removesuffix("/client_secrets")
    return f"{base}/calls/{quote(call_id, safe='')}/{action}"


def accept_request(
    call_id: str,
    session: Mapping[str, Any],
    *,
    client: object | None = None,
    azure_endpoint: str | None = None,
) -> CallRequest:
    """``accept`` with ``session`` (as in ``session.update``; ``type`` defaults to realtime)."""
    call_id = _check_call_id(call_id)
    if not isinstance(session, Mapping):
        raise RealtimeConfigError(
            f"session must be a dict (the session configuration), got {type(session).__name__}."
        )
    body = {"type": "realtime", **session}
    if body["type"] != "realtime":
        raise RealtimeConfigError(
            f"session.type must be 'realtime' to accept a call, got {body['type']!r}."
        )
    try:
        _encoder.encode({"type": "session.update", "session": body})
    except InvalidClientEvent as exc:
        text = exc.message.replace("invalid client event 'session.update'", "invalid session to accept the call with", 1)
        raise RealtimeConfigError(text.replace("`session.", "`")) from None
    return CallRequest("accept", call_id, _url(client, azure_endpoint, call_id, "accept"),
                       msgspec.json.encode(body))


def reject_request(
    call_id: str,
    status_code: int | None = None,
    *,
    client: object | None = None,
    azure_endpoint: str | None = None,
) -> CallRequest:
    """``reject``, with a SIP final status (400-699; None: the API's default, 603 Decline)."""
    call_id = _check_call_id(call_id)
    body: dict[str, Any] = {}
    if status_code is not None:
        if type(status_code) is not int or not 400 <= status_code <= 699:
            raise RealtimeConfigError(
                f"status_code must be a SIP final status from 400 to 699 (486 Busy Here, 603 "
                f"Decline…), got {status_code!r}."
            )
        body["status_code"] = status_code
    return CallRequest("reject", call_id, _url(client, azure_endpoint, call_id, "reject"),
                       msgspec.json.encode(body))


def refer_request(
    call_id: str,
    target_uri: str,
    *,
    client: object | None = None,
    azure_endpoint: str | None = None,
) -> CallRequest:
    """``refer`` (transfer) to ``target_uri``: ``tel:+14155550123`` or ``sip:agent@example.com``."""
    call_id = _check_call_id(call_id)
    if not isinstance(target_uri, str) or not _TARGET.match(target_uri):
        raise RealtimeConfigError(
            "target_uri must be a 'tel:' or 'sip:'/'sips:' URI without spaces (e.g. "
            "'tel:+14155550123', 'sip:agent@example.com')"
            + (f", got a {type(target_uri).__name__}." if not isinstance(target_uri, str) else ".")
        )
    return CallRequest("refer", call_id, _url(client, azure_endpoint, call_id, "refer"),
                       msgspec.json.encode({"target_uri": target_uri}))


def hangup_request(
    call_id: str,
    *,
    client: object | None = None,
    azure_endpoint: str | None = None,
) -> CallRequest:
    """``hangup``: end the call (no body)."""
    call_id = _check_call_id(call_id)
    return CallRequest("hangup", call_id, _url(client, azure_endpoint, call_id, "hangup"), None)


def call_result(request: CallRequest, status: int, payload: object, secrets: tuple[str, ...]) -> None:
    """Nothing for a 2xx answer; otherwise raises :class:`CallControlError` with the API's error
    message (credentials in ``secrets`` masked). ``payload`` is the decoded JSON answer (None
    when it was not JSON)."""
    if 200 <= status < 300:
        return
    message = rest_error_message(payload)
    if message:
        detail = redact_text(message, secrets)
    elif 300 <= status < 400:
        detail = "redirect (not followed: the request carries the API key)"
    else:
        detail = "no error message in the answer"
    raise CallControlError(
        f"{request.action} of call {request.call_id}: {redact_url(request.url)} answered HTTP "
        f"{status}: {detail}",
        status=status, action=request.action, call_id=request.call_id,
    )
