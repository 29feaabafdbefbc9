"""Ephemeral client secrets (``ek_…``) for browsers: one ``POST /realtime/client_secrets``.

The URL, body and credential rules come from :mod:`..core.handshake`; this module only performs
the request (aiohttp) and maps failures into the library's exceptions. Redirects are never
followed (the request carries the API key).
"""

from __future__ import annotations

import os
import ssl as ssl_module
from collections.abc import Mapping
from typing import Any

import aiohttp
import msgspec

from ..core.errors import HandshakeError, RealtimeConfigError, RealtimeConnectionError
from ..core.handshake import client_secret_body, client_secrets_url, redact_text, redact_url
from .client import CredentialSource, resolve_credential

__all__ = ["create_client_secret"]


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
    default is 600). With ``azure_endpoint`` the key goes in the ``api-key`` header.
    """
    if base_url is not None:
        client = _Base(base_url)
    url = client_secrets_url(client, azure_endpoint=azure_endpoint)
    source: object = api_key
    if source is None and client is not None:
        source = getattr(client, "_api_key_provider", None) or getattr(client, "api_key", None)
    if source is None:
        source = os.environ.get("AZURE_OPENAI_API_KEY" if azure_endpoint else "OPENAI_API_KEY")
    key = await resolve_credential(source)
    if not key:
        raise RealtimeConfigError("an API key is needed to mint a client secret (api_key=).")
    body = client_secret_body(session=session, model=model, expires_after=expires_after)
    request_headers = {"api-key": key} if azure_endpoint else {"Authorization": f"Bearer {key}"}
    request_headers.update(headers or {})
    secrets = (key,)
    try:
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout)
        ) as http, http.post(
            url,
            data=msgspec.json.encode(body),
            headers={**request_headers, "Content-Type": "application/json"},
            ssl=ssl if ssl is not None else True,
            allow_redirects=False,
        ) as resp:
            status = resp.status
            raw = await resp.read()
    except TimeoutError:
        raise RealtimeConnectionError(
            f"{redact_url(url)} did not answer within {timeout:g} s"
        ) from None
    except (aiohttp.ClientError, OSError) as exc:
        detail = redact_text(str(exc), secrets) or type(exc).__name__
        raise RealtimeConnectionError(f"could not reach {redact_url(url)}: {detail}") from None
    try:
        payload = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        payload = None
    if status >= 300 or not isinstance(payload, dict) or not isinstance(payload.get("value"), str):
        message = _error_message(payload)
        what = "redirect (not followed: the request carries the API key)" if 300 <= status < 400 else ""
        detail = redact_text(message, secrets) if message else what or "no client secret in the answer"
        raise HandshakeError(
            f"{redact_url(url)} answered HTTP {status}: {detail}", status=status
        )
    return payload


def _error_message(payload: object) -> str | None:
    err = payload.get("error") if isinstance(payload, dict) else None
    message = err.get("message") if isinstance(err, dict) else None
    if not isinstance(message, str):
        return None
    code = err.get("code") if isinstance(err, dict) else None
    return message + (f" ({code})" if isinstance(code, str) and code else "")


class _Base:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
