"""Handshake refusals: HTTP statuses and redirects (never followed with credentials)."""

from __future__ import annotations

import pytest
from aiohttp import web

from openai_realtime_ws import AsyncOpenAIRealtimeWS, HandshakeError, OpenAIRealtimeWS

from .rawserver import RawServer, session_created, wait_closed


async def ok_script(ws: web.WebSocketResponse, srv: RawServer) -> None:
    await ws.send_str(session_created())
    await wait_closed(ws)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_redirect_is_refused_and_target_never_sees_the_key(status: int) -> None:
    async with RawServer(ok_script) as target, RawServer(ok_script, status=status) as origin:
        origin.location = f"http://127.0.0.1:{target.port}/target/v1/realtime?model=m"
        with pytest.raises(HandshakeError) as info:
            await AsyncOpenAIRealtimeWS.create(
                base_url=origin.base_url,
                api_key="sk-redirect-secret-1",
                headers={"Cookie": "session=cookie-secret"},
                model="m",
            )
        assert info.value.status == status
        assert "redirect" in str(info.value)
        assert "sk-redirect" not in str(info.value)
        assert len(origin.requests) == 1
        assert origin.requests[0]["headers"]["Authorization"] == "Bearer sk-redirect-secret-1"
        assert target.requests == []  # the redirect was not followed


async def test_redirect_refused_for_azure_api_key_header() -> None:
    async with RawServer(ok_script) as target, RawServer(ok_script, status=302) as origin:
        origin.location = f"http://127.0.0.1:{target.port}/target/v1/realtime?model=m"
        with pytest.raises(HandshakeError):
            await AsyncOpenAIRealtimeWS.azure(
                endpoint=f"http://127.0.0.1:{origin.port}",
                api_key="azure-secret-key",
                deployment="dep",
            )
        assert origin.requests[0]["headers"]["api-key"] == "azure-secret-key"
        assert origin.requests[0]["path"] == "/openai/v1/realtime"
        assert origin.requests[0]["query"] == {"model": "dep"}
        assert target.requests == []


@pytest.mark.parametrize("status", [401, 403, 500])
async def test_http_status_refusal(status: int) -> None:
    async with RawServer(ok_script, status=status) as srv:
        with pytest.raises(HandshakeError) as info:
            await AsyncOpenAIRealtimeWS.create(
                base_url=srv.base_url, api_key="sk-status-secret", model="m"
            )
    assert info.value.status == status
    assert f"HTTP {status}" in str(info.value) and "nope" in str(info.value)
    assert "sk-status-secret" not in str(info.value)


def test_blocking_client_refuses_redirect_too() -> None:
    import asyncio
    import threading

    ready = threading.Event()
    holder: dict[str, object] = {}
    stop = threading.Event()

    def serve() -> None:
        async def main() -> None:
            async with RawServer(ok_script, status=302, location="http://127.0.0.1:9/x") as srv:
                holder["srv"] = srv
                ready.set()
                while not stop.is_set():
                    await asyncio.sleep(0.01)

        asyncio.run(main())

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    assert ready.wait(10)
    srv = holder["srv"]
    assert isinstance(srv, RawServer)
    try:
        with pytest.raises(HandshakeError):
            OpenAIRealtimeWS.create(base_url=srv.base_url, api_key="sk-b", model="m")
    finally:
        stop.set()
        t.join(10)


# ---- ported from openai-node's WebSocket redirect credential tests -----------------------------

SENSITIVE_TOKEN_HEADERS = [
    "X-Auth-Token",
    "x-aUtH-tOkEn",
    "X-Authentication-Token",
    "x-aUtHeNtIcAtIoN-tOkEn",
    "X_AUTHENTICATION_TOKEN",
    "X-AuthenticationToken",
    "Authentication-Token",
    "X-Authentication-Token-Primary",
    "X-Access-Token",
    "x_aCcEsS_tOkEn",
    "X-Session-Token",
    "X_SESSION_TOKEN",
    "X-Amz-Security-Token",
    "x-aMz-SeCuRiTy-ToKeN",
    "X_Amz_Security_Token",
    "Security-Token",
    "Authorization",
    "Proxy-Authorization",
    "Cookie",
    "X-API-Key",
    "x_api_key",
    "api-key",
]
BENIGN_HEADERS = [
    "X-Trace-Id",
    "X-Token-Budget",
    "X-Auth-Metadata",
    "X-Authentication-Metadata",
    "X-Access-Level",
    "X-Security-Policy",
    "X-Auth-Tokenization",
    "X-Authentication-Tokenization",
]


async def _redirect_with_header(
    monkeypatch: pytest.MonkeyPatch, header: str, *, same_origin: bool, status: int = 302
) -> tuple[RawServer, RawServer, BaseException | None]:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    value = f"SYNTHETIC_PRIVATE_{header}"
    async with RawServer(ok_script) as target, RawServer(ok_script, status=status) as origin:
        port = origin.port if same_origin else target.port
        origin.location = f"ws://127.0.0.1:{port}/target/v1/realtime?model=m"
        error: BaseException | None = None
        try:
            rt = await AsyncOpenAIRealtimeWS.create(
                base_url=origin.base_url, model="m", headers={header: value, "X-Trace-Id": "t"}
            )
            await rt.close()
        except HandshakeError as exc:
            error = exc
        return origin, target, error


@pytest.mark.parametrize("header", SENSITIVE_TOKEN_HEADERS)
async def test_custom_credential_header_never_crosses_a_redirect(
    monkeypatch: pytest.MonkeyPatch, header: str
) -> None:
    origin, target, error = await _redirect_with_header(monkeypatch, header, same_origin=False)
    assert isinstance(error, HandshakeError) and error.status == 302
    value = f"SYNTHETIC_PRIVATE_{header}"
    assert value not in str(error)
    sent = {k.lower(): v for k, v in origin.requests[0]["headers"].items()}
    assert sent[header.lower()] == value
    assert target.requests == []


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_security_token_blocked_across_every_redirect_status(
    monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    _origin, target, error = await _redirect_with_header(
        monkeypatch, "X-Amz-Security-Token", same_origin=False, status=status
    )
    assert isinstance(error, HandshakeError) and error.status == status
    assert target.requests == []


async def test_credential_redirect_refused_even_to_the_same_origin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    origin, _, error = await _redirect_with_header(monkeypatch, "X-Session-Token", same_origin=True)
    assert isinstance(error, HandshakeError)
    assert [r["path"] for r in origin.requests] == ["/v1/realtime"]  # the target path never hit


@pytest.mark.parametrize("same_origin", [False, True])
async def test_benign_headers_still_follow_redirects(
    monkeypatch: pytest.MonkeyPatch, same_origin: bool
) -> None:
    origin, target, error = await _redirect_with_header(
        monkeypatch, "X-Token-Budget", same_origin=same_origin
    )
    assert error is None  # followed, and the session opened at the target
    destination = origin if same_origin else target
    hit = [r for r in destination.requests if r["path"] == "/target/v1/realtime"]
    assert hit and hit[0]["headers"]["X-Token-Budget"] == "SYNTHETIC_PRIVATE_X-Token-Budget"
