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
