"""Ephemeral client secrets against the emulator: mint, then open a session with the secret."""

from __future__ import annotations

import pytest

from openai_realtime_ws import (
    AsyncOpenAIRealtimeWS,
    HandshakeError,
    RealtimeConfigError,
    create_client_secret,
    create_client_secret_sync,
)
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
