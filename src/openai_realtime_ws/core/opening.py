"""Opening a socket, without I/O: what an answer to the WebSocket upgrade means.

Rules owned here (the shell, ``aio/transport.py``, feeds the answer in and does what comes out):

* A redirect (HTTP 301, 302, 303, 307 or 308 with a ``Location``) is followed only when the
  handshake carries no credential, and at most :data:`MAX_REDIRECTS` hops; each hop is checked
  like the first URL (:func:`~.handshake.check_ws_url`: ``wss://``, or ``ws://`` to loopback),
  ``http``/``https`` locations become ``ws``/``wss``, and a hop never goes from ``wss://`` down
  to ``ws://``.
* Any other refusal is a :class:`~.errors.HandshakeError` naming the URL (redacted) and the
  status, with the API's own ``error.message`` when the body carries one (redacted, at most 300
  characters); a redirect refused because a credential is attached says so.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urljoin

import msgspec

from .errors import HandshakeError
from .handshake import ConnectPlan, check_ws_url

__all__ = ["MAX_REDIRECTS", "REDIRECT_STATUSES", "next_hop", "too_many_redirects", "upgrade_refused"]

REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS: Final = 5


def upgrade_refused(
    plan: ConnectPlan,
    status: int | None,
    location: str | None,
    body: bytes | None,
    failure: str,
) -> ConnectPlan | HandshakeError:
    """The server answered ``plan``'s upgrade with ``status`` (``None``: no HTTP answer;
    ``failure`` is the transport's text): the plan of the next hop to open, or the error to
    raise."""
    if status in REDIRECT_STATUSES and location and not plan.has_credentials:
        return plan.succeeded_by(ConnectPlan(url=next_hop(plan.url, location), headers=plan.headers))
    if status is not None and 300 <= status < 400:
        return HandshakeError(
            f"{plan.redacted_url} answered the WebSocket upgrade with HTTP {status} (redirect); "
            "redirects are not followed while credentials are attached",
            status=status,
        )
    if status is None:
        return HandshakeError(
            f"WebSocket handshake with {plan.redacted_url} failed: {plan.redact(failure)}"
        )
    detail = ""
    try:
        parsed = msgspec.json.decode(body or b"{}")
        err = parsed.get("error") if isinstance(parsed, dict) else None
        msg = err.get("message") if isinstance(err, dict) else None
        if isinstance(msg, str):
            detail = ": " + plan.redact(msg)[:300]
    except msgspec.DecodeError:
        pass
    return HandshakeError(
        f"{plan.redacted_url} refused the WebSocket upgrade with HTTP {status}{detail}",
        status=status,
    )


def too_many_redirects(plan: ConnectPlan) -> HandshakeError:
    """The error once :data:`MAX_REDIRECTS` hops did not reach a socket."""
    return HandshakeError(f"too many redirects opening {plan.redacted_url}")


def next_hop(url: str, location: str) -> str:
    """The URL a redirect points to, under the same policy as the first URL (``wss:``, or
    ``ws:`` to loopback; never from ``wss:`` down to ``ws:``)."""
    target = urljoin(url, location)
    scheme, sep, rest = target.partition(":")
    scheme = {"http": "ws", "https": "wss"}.get(scheme.lower(), scheme.lower())
    if url.startswith("wss:") and scheme != "wss":
        raise HandshakeError("refusing a redirect from wss:// to an unencrypted URL")
    return check_ws_url(scheme + sep + rest)
