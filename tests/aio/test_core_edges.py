"""Issue 9's core-owned refusals, through the public API against the real emulator over loopback:
each bad input raises before anything reaches the server, and a live session stays usable."""

from __future__ import annotations

from typing import Any

import pytest

from openai_realtime_ws import AsyncOpenAIRealtimeWS, InvalidClientEvent, RealtimeConfigError
from openai_realtime_ws.emulator import Emulator

KEY = "sk-core-edges-0123456789abcdef"


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"headers": {"X-Trace-Id": "a\r\nX-Injected: yes"}}, "'X-Trace-Id'"),
        ({"headers": {"X-Trace-Id\r\nX-Injected": "yes"}}, "invalid header name"),
        ({"api_key": KEY + "\nX-Injected: yes"}, "'Authorization'"),
        ({"max_size": -1}, "`max_size`"),
        ({"open_timeout": "10"}, "`open_timeout`"),
        ({"ping_interval": 0}, "`ping_interval`"),
        ({"ping_timeout": -1}, "`ping_timeout`"),
        ({"close_timeout": None}, "`close_timeout`"),
        ({"ssl": "yes please"}, "`ssl`"),
        ({"ping_intervall": 5}, "`ping_intervall`"),
    ],
)
async def test_refused_before_connecting(kwargs: dict[str, Any], named: str) -> None:
    async with Emulator() as emu:
        options: dict[str, Any] = {"api_key": KEY, **kwargs}
        with pytest.raises(RealtimeConfigError) as info:
            await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, model="gpt-realtime", **options)
        assert named in str(info.value)
        assert KEY not in str(info.value) and "X-Injected: yes" not in str(info.value)
        assert len(emu.connections) == 0  # nothing reached the server


@pytest.mark.parametrize("name", ["auth", "authorization", "bearer", "ek", "X-Amz-Signature"])
async def test_credential_in_query_refused_before_connecting(name: str) -> None:
    secret = "Zq8v3NUlpT6kXw2Y-query-secret"
    async with Emulator() as emu:
        with pytest.raises(RealtimeConfigError, match="must not carry a credential") as info:
            await AsyncOpenAIRealtimeWS.create(
                model="gpt-realtime", api_key=KEY,
                url_builder=lambda client, target: (
                    emu.base_url.replace("http", "ws") + f"/realtime?model=m&{name}={secret}"
                ),
            )
        assert secret not in str(info.value)
        assert len(emu.connections) == 0


async def test_bad_sends_refused_and_the_session_goes_on() -> None:
    async with Emulator() as emu:
        async with await AsyncOpenAIRealtimeWS.create(
            base_url=emu.base_url, api_key=KEY, model="gpt-realtime"
        ) as rt:
            with pytest.raises(InvalidClientEvent, match="bytes-like") as info:
                rt.send_audio("AAAA")  # type: ignore[arg-type]
            assert info.value.field == "audio"
            bad: list[tuple[dict[str, Any], str]] = [
                ({"output_modalities": ["text", "audio"]}, "response.output_modalities"),
                ({"max_output_tokens": -5}, "response.max_output_tokens"),
            ]
            for response, field in bad:
                with pytest.raises(InvalidClientEvent) as info:
                    rt.send({"type": "response.create", "response": response})
                assert info.value.field is not None and info.value.field.startswith(field)
            rt.send_audio(bytes(960))
            rt.send({"type": "response.create", "response": {"output_modalities": ["text"],
                                                             "max_output_tokens": 4096}})
            done = await rt.wait_for("response.done", timeout=10)
            assert done.response.status == "completed"
        types = emu.connections[-1].received_types()
        assert types == ["input_audio_buffer.append", "response.create"], types
