"""Where a session connects and with which credentials, for the asyncio shell: the plan
factories behind ``create()`` and ``azure()``.

A plan factory reads the arguments, a client object (``openai.AsyncOpenAI``/``AzureOpenAI`` or
any object with ``api_key``/``base_url``) and the environment once, and returns a coroutine
function that builds a fresh :class:`~openai_realtime_ws.core.handshake.ConnectPlan` each time it
is called (on connect and on every reconnect, so token providers are called again). The URL and
header rules themselves live in :mod:`openai_realtime_ws.core.handshake`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from ..core.errors import RealtimeConfigError, RealtimeConnectionError
from ..core.handshake import (
    ConnectPlan,
    RealtimeTarget,
    azure_plan,
    build_azure_url,
    build_realtime_url,
    openai_plan,
)
from ..core.models import unknown_model_message

__all__ = ["CredentialSource", "PlanFactory", "azure_plans", "bounded", "openai_plans", "resolve_credential"]

USER_AGENT: Final = "openai-realtime-ws/0.1 (Python)"

CredentialSource = str | Callable[[], "str | Awaitable[str]"] | None
PlanFactory = Callable[[], Awaitable[ConnectPlan]]


async def resolve_credential(source: object, what: str = "api_key") -> str | None:
    """A static key, or a token provider called now (an async one awaited, a plain one run in a
    worker thread, so that one doing network I/O does not stall the loop)."""
    if source is None or isinstance(source, str):
        return source  # ("" stays "": the plan says the key is empty, not that it is unset)
    if callable(source):
        if inspect.iscoroutinefunction(source):
            value = await source()
        else:
            value = await asyncio.to_thread(source)
            if inspect.isawaitable(value):
                value = await value
        if not isinstance(value, str) or not value:
            raise RealtimeConfigError(f"the {what} provider must return a non-empty str.")
        return value
    raise RealtimeConfigError(f"`{what}` must be a str or a callable, got {type(source).__name__}.")


async def bounded(awaitable: Awaitable[Any], timeout: float | None, what: str) -> Any:
    """``awaitable``'s result, or :class:`RealtimeConnectionError` after ``timeout`` seconds."""
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except TimeoutError:
        raise RealtimeConnectionError(f"{what} did not answer within {timeout} s") from None


class _BaseURL:
    """A client stand-in that only carries a base URL."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.websocket_base_url = None


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def openai_plans(
    client: object | None,
    *,
    model: str | None,
    call_id: str | None,
    intent: str | None,
    url_builder: Callable[[Any, RealtimeTarget], str] | None,
    api_key: CredentialSource,
    base_url: str | None,
    headers: Mapping[str, str] | None,
    organization: str | None,
    project: str | None,
) -> PlanFactory:
    """The plan factory of ``create()`` (arguments as documented there)."""
    target_client: object = _BaseURL(base_url) if base_url is not None else client
    url = build_realtime_url(
        target_client, model=model, call_id=call_id, intent=intent, url_builder=url_builder
    )
    if model is not None and url_builder is None and (warning := unknown_model_message(model)) is not None:
        logging.getLogger("openai_realtime_ws").warning("%s", warning)  # not refused: gateways name their own
    source: object = api_key
    if source is None and client is not None:
        source = getattr(client, "_api_key_provider", None) or getattr(client, "api_key", None)
        organization = organization or getattr(client, "organization", None)
        project = project or getattr(client, "project", None)
    if source is None:
        source = os.environ.get("OPENAI_API_KEY")

    async def plan_factory() -> ConnectPlan:
        key = await resolve_credential(source)
        return openai_plan(
            url, key, headers=headers, organization=organization, project=project,
            user_agent=USER_AGENT,
        )

    return plan_factory


def azure_plans(
    client: object | None,
    *,
    endpoint: str | None,
    api_key: str | None,
    azure_ad_token_provider: Callable[[], str | Awaitable[str]] | None,
    deployment: str | None,
    call_id: str | None,
    intent: str | None,
    url_builder: Callable[[Any, RealtimeTarget], str] | None,
    headers: Mapping[str, str] | None,
) -> PlanFactory:
    """The plan factory of ``azure()`` (arguments as documented there)."""
    if client is not None:
        endpoint = endpoint or _str_or_none(getattr(client, "_azure_endpoint", None))
        deployment = deployment or getattr(client, "_azure_deployment", None)
        azure_ad_token_provider = azure_ad_token_provider or getattr(
            client, "_azure_ad_token_provider", None
        )
        if api_key is None and azure_ad_token_provider is None:
            api_key = getattr(client, "api_key", None) or None
        endpoint = endpoint or _str_or_none(getattr(client, "base_url", None))
    endpoint = endpoint or os.environ.get("AZURE_OPENAI_ENDPOINT")
    if api_key is None and azure_ad_token_provider is None:
        api_key = os.environ.get("AZURE_OPENAI_API_KEY")
    if endpoint is None and url_builder is None:
        raise RealtimeConfigError(
            "Azure needs an endpoint: pass endpoint=, an AzureOpenAI client, or set "
            "AZURE_OPENAI_ENDPOINT."
        )
    if deployment is None and call_id is None and intent is None:
        raise RealtimeConfigError(
            "Azure needs a deployment name (deployment=), call_id= or intent='transcription'."
        )
    url = build_azure_url(
        endpoint or "",
        deployment=deployment if call_id is None and intent is None else None,
        call_id=call_id,
        intent=intent,
        url_builder=url_builder,
        client=client,
    )
    provider = azure_ad_token_provider

    async def plan_factory() -> ConnectPlan:
        token = await resolve_credential(provider, "azure_ad_token_provider")
        return azure_plan(url, api_key=api_key, token=token, headers=headers, user_agent=USER_AGENT)

    return plan_factory
