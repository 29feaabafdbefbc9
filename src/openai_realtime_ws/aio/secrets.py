"""Ephemeral client secrets (``ek_…``) for browsers: one ``POST /realtime/client_secrets``.

The URL, body and credential rules come from :mod:`..core.handshake`; this module only performs
the request and maps failures into the library's exceptions. The request is one
``http.client`` exchange in a worker thread (the standard library: the client needs no HTTP
package), with the caller's TLS context, ``timeout`` seconds in all, redirects never followed
(the request carries the API key) and the answer's body capped at :data:`MAX_BODY` bytes.

:func:`api_key_for` and :func:`post_json` are that credential and request logic, shared with
the call-control shells (:mod:`.calls`): one REST helper for the library.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import ssl as ssl_module
import urllib.parse
from collections.abc import Mapping
from typing import Any

import msgspec

from ..core.errors import HandshakeError, RealtimeConfigError, RealtimeConnectionError
from ..core.handshake import (
    client_secret_body,
    client_secrets_url,
    redact_text,
    redact_url,
    rest_error_message,
)
from .credentials import CredentialSource, resolve_credential

__all__ = ["MAX_BODY", "api_key_for", "create_client_secret", "post_json"]

MAX_BODY = 1 << 20
"""The most bytes of an answer that are read (a client secret with its session is ~2 KB)."""


async def create_client_secret(
    client: object | None = None,
    *,
    api_key: CredentialSource = None,
    base_url: str | None = None,
    azure_endpoint: str | None = None,
    session: Mapping[str, Any] | None = None,
    model: str | None = None,
    expires_after: int | None = None,
    headers: Mapping[str, str] | None = None,
    ssl: ssl_module.SSLContext | bool | None = None,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Mint an ephemeral client secret; returns ``{"value": "ek_…", "expires_at": …, "session": …}``.

    ``session`` becomes the defaults of sessions opened with the secret (``model`` is a shortcut
    for ``session["model"]``); ``expires_after`` is the lifetime in seconds (10..7200, the API's
    default is 600). With ``azure_endpoint`` the key goes in the ``api-key`` header. ``ssl``: a
    context to verify the server with (``None``/``True``: the system's trust store; ``False``:
    no verification). ``timeout``: seconds for the whole request.
    """
    if base_url is not None:
        client = _Base(base_url)
    url = client_secrets_url(client, azure_endpoint=azure_endpoint)
    key = await api_key_for(client, api_key, azure_endpoint, "to mint a client secret")
    body = client_secret_body(session=session, model=model, expires_after=expires_after)
    secrets = (key,)
    status, payload = await post_json(
        url, msgspec.json.encode(body), key=key, azure=azure_endpoint is not None,
        headers=headers, ssl=ssl, timeout=timeout,
    )
    if status >= 300 or not isinstance(payload, dict) or not isinstance(payload.get("value"), str):
        message = rest_error_message(payload)
        what = "redirect (not followed: the request carries the API key)" if 300 <= status < 400 else ""
        detail = redact_text(message, secrets) if message else what or "no client secret in the answer"
        raise HandshakeError(
            f"{redact_url(url)} answered HTTP {status}: {detail}", status=status
        )
    return payload


async def api_key_for(
    client: object | None, api_key: CredentialSource, azure_endpoint: str | None, purpose: str
) -> str:
    """The API key for one REST request: ``api_key`` (a str or a provider, called now), else
    the client's, else ``OPENAI_API_KEY`` (``AZURE_OPENAI_API_KEY`` with ``azure_endpoint``)."""
    source: object = api_key
    if source is None and client is not None:
        source = getattr(client, "_api_key_provider", None) or getattr(client, "api_key", None)
    if source is None:
        source = os.environ.get("AZURE_OPENAI_API_KEY" if azure_endpoint else "OPENAI_API_KEY")
    key = await resolve_credential(source)
    if not key:
        variable = "AZURE_OPENAI_API_KEY" if azure_endpoint else "OPENAI_API_KEY"
        raise RealtimeConfigError(f"no API key {purpose}: pass api_key=... or set {variable}")
    return key


async def post_json(
    url: str,
    body: bytes | None,
    *,
    key: str,
    azure: bool = False,
    headers: Mapping[str, str] | None = None,
    ssl: ssl_module.SSLContext | bool | None = None,
    timeout: float = 30.0,
) -> tuple[int, Any]:
    """One authenticated JSON POST: ``(status, decoded JSON answer or None)``. The key goes in
    ``Authorization: Bearer`` (``api-key`` with ``azure``); a network failure, the timeout or an
    answer over :data:`MAX_BODY` bytes raise :class:`RealtimeConnectionError` with the URL and
    the key masked."""
    request_headers = {"api-key": key} if azure else {"Authorization": f"Bearer {key}"}
    request_headers.update(headers or {})
    if body is not None:
        request_headers["Content-Type"] = "application/json"
    secrets = (key,)
    context = _ssl_context(ssl) if url.startswith("https:") else None
    try:
        status, raw = await asyncio.wait_for(
            asyncio.to_thread(_post, url, body, request_headers, context, timeout),
            timeout,
        )
    except TimeoutError:
        raise RealtimeConnectionError(
            f"{redact_url(url)} did not answer within {timeout:g} s"
        ) from None
    except (http.client.HTTPException, OSError) as exc:
        detail = redact_text(str(exc), secrets) or type(exc).__name__
        raise RealtimeConnectionError(f"could not reach {redact_url(url)}: {detail}") from None
    if raw is None:
        raise RealtimeConnectionError(
            f"{redact_url(url)} answered HTTP {status} with more than {MAX_BODY} bytes; not read"
        )
    try:
        payload = msgspec.json.decode(raw) if raw else None
    except msgspec.DecodeError:
        payload = None
    return status, payload


def _ssl_context(ssl: ssl_module.SSLContext | bool | None) -> ssl_module.SSLContext:
    if isinstance(ssl, ssl_module.SSLContext):
        return ssl
    context = ssl_module.create_default_context()
    if ssl is False:  # asked for explicitly: encrypted, not verified
        context.check_hostname = False
        context.verify_mode = ssl_module.CERT_NONE
    return context


def _post(
    url: str,
    body: bytes | None,
    headers: dict[str, str],
    context: ssl_module.SSLContext | None,
    timeout: float,
) -> tuple[int, bytes | None]:
    """One POST (blocking; run in a worker thread): the status and the body, or ``None`` for a
    body over :data:`MAX_BODY` bytes. ``http.client`` follows no redirect."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    conn: http.client.HTTPConnection
    if context is not None:
        conn = http.client.HTTPSConnection(host, parts.port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(host, parts.port, timeout=timeout)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("POST", path or "/", body=body, headers=headers)
        response = conn.getresponse()
        raw = response.read(MAX_BODY + 1)
        return response.status, (raw if len(raw) <= MAX_BODY else None)
    finally:
        conn.close()


class _Base:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
