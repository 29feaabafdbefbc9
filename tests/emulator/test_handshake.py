# Handshake over real loopback sockets: query forms, credentials, subprotocols, Azure route,
# rejected keys (3000), beta (4000), ephemeral client secrets.
from __future__ import annotations

import asyncio

import aiohttp
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from openai_realtime_ws.emulator import Emulator, EmulatorConfig

from .helpers import Raw, connect, user_text

KEY = "sk-test-emulator-key-1234abcd"


async def closed_with(raw: Raw) -> tuple[int, str]:
    try:
        while True:
            await asyncio.wait_for(raw.ws.recv(), 5)
    except ConnectionClosed as exc:
        assert exc.rcvd is not None
        return exc.rcvd.code, exc.rcvd.reason


@pytest.mark.parametrize("query", ["", "model=a&call_id=b", "model=a&intent=transcription", "intent=other"])
async def test_query_must_name_exactly_one_form(realtime_emulator: Emulator, query: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{realtime_emulator.ws_url}?{query}",
                            headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                     "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}) as r:
            assert r.status == 400
            body = await r.json()
    assert body["error"]["type"] == "invalid_request_error" and body["error"]["message"]
    with pytest.raises(InvalidStatus):
        await websockets.connect(f"{realtime_emulator.ws_url}?{query}")


async def test_call_id_and_transcription_forms(realtime_emulator: Emulator) -> None:
    raw = await connect(realtime_emulator, "call_id=rtc_123", created=False)
    assert (await raw.recv())["session"]["type"] == "realtime"
    await raw.ws.close()
    raw = await connect(realtime_emulator, "intent=transcription", created=False)
    assert (await raw.recv())["session"]["type"] == "transcription"
    await raw.ws.close()
    assert realtime_emulator.connections[0].query == {"call_id": "rtc_123"}


async def test_realtime_subprotocol_is_selected(realtime_emulator: Emulator) -> None:
    raw = await connect(realtime_emulator, subprotocols=["realtime", "openai-insecure-api-key.ek_abc"])
    assert raw.ws.subprotocol == "realtime"
    conn = realtime_emulator.connections[0]
    assert conn.subprotocol == "realtime" and conn.received_api_key == "ek_abc"
    await raw.ws.close()
    raw = await connect(realtime_emulator)
    assert raw.ws.subprotocol is None
    await raw.ws.close()


@pytest.mark.realtime_emulator(api_key=KEY)
async def test_key_sources_accepted(realtime_emulator: Emulator) -> None:
    for kwargs in ({"headers": {"Authorization": f"Bearer {KEY}"}},
                   {"subprotocols": ["realtime", f"openai-insecure-api-key.{KEY}"]}):
        raw = await connect(realtime_emulator, **kwargs)
        await raw.send(user_text("hi"))
        assert (await raw.recv())["type"] == "conversation.item.added"
        await raw.ws.close()
    assert [c.received_api_key for c in realtime_emulator.connections] == [KEY, KEY]


@pytest.mark.realtime_emulator(api_key=KEY)
@pytest.mark.parametrize("sent", ["sk-wrong-key-zzzz9876", None])
async def test_invalid_api_key_closes_3000(realtime_emulator: Emulator, sent: str | None) -> None:
    headers = {"Authorization": f"Bearer {sent}"} if sent else {}
    raw = await connect(realtime_emulator, headers=headers, created=False)
    err = await raw.expect_error()
    assert err["code"] == "invalid_api_key" and err["type"] == "invalid_request_error" and err["event_id"] is None
    if sent:
        assert err["message"].startswith("Incorrect API key provided: sk-…9876.")
        assert "wrong-key" not in err["message"]
    assert await closed_with(raw) == (3000, "invalid_request_error.invalid_api_key")
    assert realtime_emulator.connections[0].close_code == 3000


@pytest.mark.parametrize("how", ["header", "subprotocol"])
async def test_beta_protocol_closes_4000(realtime_emulator: Emulator, how: str) -> None:
    if how == "header":
        raw = await connect(realtime_emulator, headers={"OpenAI-Beta": "realtime=v1"}, created=False)
    else:
        raw = await connect(realtime_emulator, subprotocols=["realtime", "openai-beta.realtime-v1"], created=False)
    err = await raw.expect_error()
    assert err["code"] == "beta_api_shape_disabled"
    assert err["message"] == "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API."
    assert await closed_with(raw) == (4000, "invalid_request_error.beta_api_shape_disabled")


@pytest.mark.realtime_emulator(api_key=KEY)
async def test_azure_route(realtime_emulator: Emulator) -> None:
    raw = await connect(realtime_emulator, "model=my-deployment", path="/openai/v1/realtime",
                        headers={"api-key": KEY})
    await raw.ws.close()
    assert realtime_emulator.connections[0].received_api_key == KEY
    for headers in ({}, {"api-key": "nope"}):
        with pytest.raises(InvalidStatus) as info:
            await connect(realtime_emulator, "model=my-deployment", path="/openai/v1/realtime", headers=headers)
        assert info.value.response.status_code == 401


@pytest.mark.realtime_emulator(api_key=KEY)
async def test_client_secrets_mint_and_expire(realtime_emulator: Emulator) -> None:
    url = f"{realtime_emulator.base_url}/realtime/client_secrets"
    body = {"expires_after": {"anchor": "created_at", "seconds": 10},
            "session": {"type": "realtime", "model": "gpt-realtime", "instructions": "Secret defaults."}}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=body) as r:
            assert r.status == 401
        async with http.post(url, json=body, headers={"Authorization": f"Bearer {KEY}"}) as r:
            assert r.status == 200
            minted = await r.json()
        async with http.post(url, json={"expires_after": {"anchor": "created_at", "seconds": 5}},
                             headers={"Authorization": f"Bearer {KEY}"}) as r:
            assert r.status == 400
            assert (await r.json())["error"]["code"] == "integer_below_min_value"
    assert minted["value"].startswith("ek_") and len(minted["value"]) == 35
    assert minted["session"]["instructions"] == "Secret defaults." and minted["session"]["type"] == "realtime"
    for _ in range(2):  # one secret opens several sessions
        raw = await connect(realtime_emulator, subprotocols=["realtime", f"openai-insecure-api-key.{minted['value']}"],
                            created=False)
        created = await raw.recv()
        assert created["session"]["instructions"] == "Secret defaults."
        await raw.ws.close()
    # expired secrets are refused like a wrong key
    realtime_emulator.secrets._secrets[minted["value"]].expires_at = 0
    raw = await connect(realtime_emulator, headers={"Authorization": f"Bearer {minted['value']}"}, created=False)
    assert (await raw.expect_error())["code"] == "invalid_api_key"
    assert (await closed_with(raw))[0] == 3000


async def test_session_cap_closes_1001() -> None:
    async with Emulator(config=EmulatorConfig(session_seconds=0.2)) as emu:
        raw = await connect(emu)
        err = await raw.expect_error()
        assert err["code"] == "session_expired"
        assert err["message"] == "Your session hit the maximum duration of 0.2 seconds."
        code, reason = await closed_with(raw)
        assert code == 1001 and reason == err["message"]


async def test_health_and_unknown_path(realtime_emulator: Emulator) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{realtime_emulator.origin}/health") as r:
            assert r.status == 200
        async with http.get(f"{realtime_emulator.origin}/v1/nope") as r:
            assert r.status == 404
