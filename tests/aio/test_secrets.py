"""Ephemeral client secrets against the emulator: mint, then open a session with the secret."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys

import pytest

from openai_realtime_ws import (
    AsyncOpenAIRealtimeWS,
    HandshakeError,
    RealtimeConfigError,
    RealtimeConnectionError,
    create_client_secret,
    create_client_secret_sync,
)
from openai_realtime_ws.aio.secrets import MAX_BODY
from openai_realtime_ws.emulator import Emulator, EmulatorThread

KEY = "sk-mint-key-00000000"


async def test_mint_then_connect_with_the_secret() -> None:
    async with Emulator(api_key=KEY) as emu:
        secret = await create_client_secret(
            api_key=KEY,
            base_url=emu.base_url,
            session={"type": "realtime", "instructions": "From the secret."},
            expires_after=60,
        )
        value = secret["value"]
        assert value.startswith("ek_") and secret["expires_at"] > 0
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=value, model="gpt-realtime")
        first = await rt.wait_for("session.created", timeout=5)
        assert first.session.instructions == "From the secret."
        await rt.close()
        assert emu.connections[-1].received_api_key == value


async def test_wrong_key_and_bad_arguments() -> None:
    async with Emulator(api_key=KEY) as emu:
        with pytest.raises(HandshakeError) as info:
            await create_client_secret(api_key="sk-wrong-0000000", base_url=emu.base_url)
        assert info.value.status == 401 and "sk-wrong-0000000" not in str(info.value)
        with pytest.raises(RealtimeConfigError, match="10 to 7200"):
            await create_client_secret(api_key=KEY, base_url=emu.base_url, expires_after=5)
    with pytest.raises(RealtimeConfigError, match="unencrypted"):
        await create_client_secret(api_key=KEY, base_url="http://api.example.com/v1")


def test_blocking_mint() -> None:
    with EmulatorThread(api_key=KEY) as emu:
        secret = create_client_secret_sync(api_key=KEY, base_url=emu.base_url, model="gpt-realtime")
    assert secret["value"].startswith("ek_")
    assert secret["session"]["model"] == "gpt-realtime"


# ---- the HTTP exchange itself (standard library, no aiohttp) ------------------------------------


class _RawHTTP:
    """A loopback HTTP server that answers every request with ``answer`` (raw bytes), or never
    answers (``answer=None``); it records the requests it got."""

    def __init__(self, answer: bytes | None) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self._server: asyncio.Server | None = None
        self.never = asyncio.Event()

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self.never.set()
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
        self.requests.append(head + await reader.readexactly(length))
        if self.answer is None:
            await self.never.wait()
        else:
            writer.write(self.answer)
            await writer.drain()
        writer.close()


def _http(status: str, body: bytes, extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"{extra}Connection: close\r\n\r\n"
    ).encode() + body


async def test_request_shape_and_answer() -> None:
    answer = b'{"value":"ek_test","expires_at":123,"session":{"type":"realtime"}}'
    server = _RawHTTP(_http("200 OK", answer))
    async with server as base:
        secret = await create_client_secret(api_key=KEY, base_url=base, model="gpt-realtime")
    assert secret["value"] == "ek_test"
    [request] = server.requests
    assert request.startswith(b"POST /v1/realtime/client_secrets HTTP/1.1\r\n")
    assert f"Authorization: Bearer {KEY}".encode() in request
    assert b'"model":"gpt-realtime"' in request


async def test_redirect_is_not_followed() -> None:
    target = _RawHTTP(_http("200 OK", b'{"value":"ek_stolen"}'))
    async with target as elsewhere:
        server = _RawHTTP(_http("307 Temporary Redirect", b"", f"Location: {elsewhere}/x\r\n"))
        async with server as base:
            with pytest.raises(HandshakeError, match="redirect") as info:
                await create_client_secret(api_key=KEY, base_url=base)
    assert info.value.status == 307
    assert target.requests == []  # the key never went anywhere else


async def test_answer_body_is_capped() -> None:
    huge = b'{"value":"ek_x","pad":"' + b"a" * (MAX_BODY + 10) + b'"}'
    async with _RawHTTP(_http("200 OK", huge)) as base:
        with pytest.raises(RealtimeConnectionError, match=f"more than {MAX_BODY} bytes"):
            await create_client_secret(api_key=KEY, base_url=base)


async def test_timeout_covers_the_whole_request() -> None:
    async with _RawHTTP(None) as base:
        with pytest.raises(RealtimeConnectionError, match=r"did not answer within 0\.3 s"):
            await create_client_secret(api_key=KEY, base_url=base, timeout=0.3)


async def test_tls_uses_the_given_context_and_verifies_by_default() -> None:
    async with Emulator(api_key=KEY, tls=True) as emu:
        assert emu.base_url.startswith("https://")
        secret = await create_client_secret(api_key=KEY, base_url=emu.base_url, ssl=emu.ssl_context)
        assert secret["value"].startswith("ek_")
        # the system trust store does not know the emulator's throw-away CA
        with pytest.raises(RealtimeConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            await create_client_secret(api_key=KEY, base_url=emu.base_url)


def test_no_http_package_is_imported() -> None:
    # the lean install: msgspec and picows only; aiohttp belongs to the emulator extra
    code = (
        "import sys, openai_realtime_ws, openai_realtime_ws.aio.secrets; "
        "bad = sorted(m for m in ('aiohttp', 'cryptography', 'trustme', 'yarl') if m in sys.modules); "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", out.stdout
