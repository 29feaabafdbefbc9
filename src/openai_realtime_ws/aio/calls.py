"""Call control for SIP calls (asyncio): accept, reject, refer, hang up.

A thin shell: the requests, their checks and the meaning of the answers are in
:mod:`..core.calls`; the credential and the request itself are the library's one REST helper
(:func:`.secrets.api_key_for`, :func:`.secrets.post_json`: ``http.client`` in a worker thread,
the caller's TLS context, a total timeout, no redirects, the answer capped), the same as
:func:`openai_realtime_ws.create_client_secret`.
"""

from __future__ import annotations

import ssl as ssl_module
from collections.abc import Mapping
from typing import Any

from ..core.calls import (
    CallRequest,
    accept_request,
    call_result,
    hangup_request,
    refer_request,
    reject_request,
)
from .credentials import CredentialSource
from .secrets import _Base, api_key_for, post_json

__all__ = ["AsyncRealtimeCalls"]


class AsyncRealtimeCalls:
    """Call control: ``await calls.accept(call_id, session)``, ``reject``, ``refer``, ``hangup``.

    Credentials and endpoint as for :meth:`AsyncOpenAIRealtimeWS.create`: ``client`` (any object
    with ``api_key`` and ``base_url``, e.g. ``openai.AsyncOpenAI``), or ``api_key`` (a str or a
    provider called before each request) and ``base_url``, else ``OPENAI_API_KEY`` /
    ``OPENAI_BASE_URL``; ``azure_endpoint`` for Azure (a static key in ``api-key``, a provider's
    token as ``Authorization: Bearer``). ``timeout``: seconds
    for each whole request. A refused request raises
    :class:`~openai_realtime_ws.core.calls.CallControlError` (``.status``, the API's message with
    the key masked); bad arguments raise :class:`RealtimeConfigError` before anything is sent.
    """

    def __init__(
        self,
        client: object | None = None,
        *,
        api_key: CredentialSource = None,
        base_url: str | None = None,
        azure_endpoint: str | None = None,
        headers: Mapping[str, str] | None = None,
        ssl: ssl_module.SSLContext | bool | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._client = _Base(base_url) if base_url is not None else client
        self._key_client = client
        self._api_key = api_key
        self._azure_endpoint = azure_endpoint
        self._headers = dict(headers or {})
        self._ssl = ssl
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    async def accept(self, call_id: str, session: Mapping[str, Any] | None = None, **fields: Any) -> None:
        """Accept the call with a session configuration (the ``session`` of ``session.update``:
        ``model``, ``instructions``, ``audio``, ``tools``…; ``fields`` are merged over it)."""
        body = {**(session or {}), **fields}
        await self._do(accept_request(call_id, body, client=self._client,
                                      azure_endpoint=self._azure_endpoint))

    async def reject(self, call_id: str, status_code: int | None = None) -> None:
        """Reject the call with a SIP final status (default: the API's 603 Decline)."""
        await self._do(reject_request(call_id, status_code, client=self._client,
                                      azure_endpoint=self._azure_endpoint))

    async def refer(self, call_id: str, target_uri: str) -> None:
        """Transfer the call (SIP REFER) to ``tel:…`` or ``sip:…``."""
        await self._do(refer_request(call_id, target_uri, client=self._client,
                                     azure_endpoint=self._azure_endpoint))

    async def hangup(self, call_id: str) -> None:
        """End the call."""
        await self._do(hangup_request(call_id, client=self._client,
                                      azure_endpoint=self._azure_endpoint))

    async def _do(self, request: CallRequest) -> None:
        key = await api_key_for(self._key_client, self._api_key, self._azure_endpoint,
                                f"to {request.action} a call")
        # Azure: a static key goes in `api-key`, a token from a provider (Entra ID) as Bearer
        azure_key = self._azure_endpoint is not None and not callable(self._api_key)
        status, payload = await post_json(
            request.url, request.body, key=key, azure=azure_key,
            headers=self._headers, ssl=self._ssl, timeout=self._timeout,
        )
        call_result(request, status, payload, (key,))
