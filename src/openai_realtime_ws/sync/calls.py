"""Call control for SIP calls, blocking: :class:`RealtimeCalls`, the twin of
:class:`..aio.calls.AsyncRealtimeCalls` (same arguments, same rules: each call runs the asyncio
version on a private event loop, as :func:`create_client_secret_sync` does, so call it from code
that is not already inside an event loop)."""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from collections.abc import Mapping
from typing import Any

from ..aio.calls import AsyncRealtimeCalls
from ..aio.credentials import CredentialSource

__all__ = ["RealtimeCalls"]


class RealtimeCalls:
    """Blocking call control: ``calls.accept(call_id, session)``, ``reject``, ``refer``,
    ``hangup``. Arguments as for :class:`AsyncRealtimeCalls`."""

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
        self._calls = AsyncRealtimeCalls(
            client, api_key=api_key, base_url=base_url, azure_endpoint=azure_endpoint,
            headers=headers, ssl=ssl, timeout=timeout,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    def accept(self, call_id: str, session: Mapping[str, Any] | None = None, **fields: Any) -> None:
        """Same as :meth:`AsyncRealtimeCalls.accept`, blocking."""
        asyncio.run(self._calls.accept(call_id, session, **fields))

    def reject(self, call_id: str, status_code: int | None = None) -> None:
        """Same as :meth:`AsyncRealtimeCalls.reject`, blocking."""
        asyncio.run(self._calls.reject(call_id, status_code))

    def refer(self, call_id: str, target_uri: str) -> None:
        """Same as :meth:`AsyncRealtimeCalls.refer`, blocking."""
        asyncio.run(self._calls.refer(call_id, target_uri))

    def hangup(self, call_id: str) -> None:
        """Same as :meth:`AsyncRealtimeCalls.hangup`, blocking."""
        asyncio.run(self._calls.hangup(call_id))
