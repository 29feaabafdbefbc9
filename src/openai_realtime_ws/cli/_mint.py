"""``openai-realtime-ws mint-key``: create an ephemeral client secret (``ek_…``) with
``POST {base_url}/realtime/client_secrets`` (PROTOCOL.md §1.6) and print it.

A thin shell over :func:`openai_realtime_ws.create_client_secret`: the key travels in a header,
plain ``http://`` is refused unless the host is loopback, redirects are not followed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import Any

import msgspec

from .. import HandshakeError, RealtimeConfigError, RealtimeConnectionError, create_client_secret
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


def _session(args: argparse.Namespace, model: str) -> dict[str, Any]:
    session: dict[str, Any] = {"type": "realtime", "model": model}
    if args.instructions is not None:
        session["instructions"] = args.instructions
    return session


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
        base_url = target.base_url
        if target.is_local:
            from ..emulator import Emulator

            emu = await stack.enter_async_context(Emulator())
            base_url = emu.base_url
            local_emulator_notice(base_url)
        model = target.deployment if target.kind == "azure" and target.deployment else target.model
        try:
            return await create_client_secret(
                api_key=target.api_key or "sk-local-emulator",
                base_url=base_url if target.kind != "azure" else None,
                azure_endpoint=target.azure_endpoint if target.kind == "azure" else None,
                session=_session(args, model),
                expires_after=args.ttl,
                ssl=target.ssl,
                timeout=target.timeout,
            )
        except RealtimeConfigError as exc:
            raise CLIError(redact(exc.message), EXIT_USAGE) from None
        except HandshakeError as exc:
            code = EXIT_CONNECTION if exc.status in (401, 403) else EXIT_ERROR
            raise CLIError(redact(exc.message), code) from None
        except RealtimeConnectionError as exc:
            raise CLIError(redact(exc.message), EXIT_CONNECTION) from None
