"""``openai-realtime-ws mint-key``: create an ephemeral client secret (``ek_…``) with
``POST {base_url}/realtime/client_secrets`` (PROTOCOL.md §1.6) and print it.

The library has no client-secret helper yet, so this is one aiohttp request (aiohttp is a core
dependency). The same transport rules as the WebSocket apply: the key travels in a header, and
plain ``http://`` is refused unless the host is loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import msgspec

from ..core.handshake import DEFAULT_BASE_URL, is_loopback_host
from ._errors import EXIT_CONNECTION, EXIT_ERROR, EXIT_OK, EXIT_USAGE, CLIError
from ._target import Target, local_emulator_notice, redact, resolve_target

__all__ = ["add_mint_parser", "run_mint"]


def add_mint_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "mint-key", parents=parents, help="create an ephemeral client secret (ek_…)",
        description="POST {base_url}/realtime/client_secrets with the API key and print the "
                    "ek_… value, for a browser or a device that must not hold the real key. "
                    "Without a key or server this asks the embedded emulator, which is only "
                    "useful as a demo (the secret dies with the command).")
    p.add_argument("--ttl", type=int, metavar="SECONDS",
                   help="lifetime of the secret, 10-7200 s (server default: 600)")
    p.add_argument("--instructions", metavar="TEXT", help="instructions for sessions it opens")
    p.add_argument("--json", action="store_true",
                   help="print the whole response (value, expires_at, session) as JSON")
    return p


def request_body(args: argparse.Namespace, model: str) -> dict[str, Any]:
    session: dict[str, Any] = {"type": "realtime", "model": model}
    if args.instructions is not None:
        session["instructions"] = args.instructions
    body: dict[str, Any] = {"session": session}
    if args.ttl is not None:
        body["expires_after"] = {"anchor": "created_at", "seconds": args.ttl}
    return body


def _endpoint(target: Target, local_base: str | None) -> tuple[str, dict[str, str]]:
    key = target.api_key or ""
    if target.kind == "azure":
        base = (target.azure_endpoint or "").rstrip("/")
        for suffix in ("/openai/v1", "/openai"):
            base = base.removesuffix(suffix)
        return base + "/openai/v1/realtime/client_secrets", {"api-key": key}
    base = local_base or target.base_url or DEFAULT_BASE_URL
    return base.rstrip("/") + "/realtime/client_secrets", {"Authorization": f"Bearer {key}"}


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise CLIError(f"not an http(s) URL: {redact(url)}", EXIT_USAGE)
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise CLIError("refusing plain http:// to a non-loopback host: the API key would travel "
                       "unencrypted (use https://)", EXIT_USAGE)
    if parts.username or parts.password:
        raise CLIError("credentials must not be embedded in the URL", EXIT_USAGE)


def run_mint(args: argparse.Namespace) -> int:
    if args.ttl is not None and args.ttl <= 0:
        raise CLIError("--ttl must be positive", EXIT_USAGE)
    target = resolve_target(args)
    if not target.is_local and not target.api_key:
        raise CLIError("no API key: set OPENAI_API_KEY (AZURE_OPENAI_API_KEY for Azure) or pass "
                       "--api-key", EXIT_USAGE)
    payload = asyncio.run(_mint(args, target))
    if args.json:
        sys.stdout.write(msgspec.json.format(msgspec.json.encode(payload)).decode() + "\n")
    else:
        sys.stdout.write(f"{payload.get('value')}\n")
    sys.stdout.flush()
    return EXIT_OK


async def _mint(args: argparse.Namespace, target: Target) -> dict[str, Any]:
    async with contextlib.AsyncExitStack() as stack:
        local_base = None
        if target.is_local:
            from ..emulator import Emulator

            emu = await stack.enter_async_context(Emulator())
            local_base = emu.base_url
            local_emulator_notice(local_base)
        url, headers = _endpoint(target, local_base)
        _check_url(url)
        model = target.deployment if target.kind == "azure" and target.deployment else target.model
        timeout = aiohttp.ClientTimeout(total=target.timeout)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http, http.post(
                    url, json=request_body(args, model), headers=headers,
                    ssl=target.ssl if target.ssl is not None else True,
                    allow_redirects=False) as resp:
                body = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, OSError) as exc:
            raise CLIError(f"could not reach {redact(url)}: {redact(str(exc)) or type(exc).__name__}",
                           EXIT_CONNECTION) from None
        except TimeoutError:
            raise CLIError(f"{redact(url)} did not answer within {target.timeout:g} s",
                           EXIT_CONNECTION) from None
    try:
        payload = msgspec.json.decode(body)
    except msgspec.DecodeError:
        payload = None
    if status >= 300 or not isinstance(payload, dict):
        message = _error_message(payload) or f"HTTP {status}"
        code = EXIT_CONNECTION if status in (401, 403) else EXIT_ERROR
        raise CLIError(f"{redact(url)} answered HTTP {status}: {message}", code)
    if not isinstance(payload.get("value"), str):
        raise CLIError(f"{redact(url)} answered without a client secret value")
    return payload


def _error_message(payload: object) -> str | None:
    if not isinstance(payload, dict):
        return None
    err = payload.get("error")
    if not isinstance(err, dict):
        return None
    message = err.get("message")
    code = err.get("code")
    if not isinstance(message, str):
        return None
    return redact(message + (f" ({code})" if isinstance(code, str) and code else ""))
