"""Reconnection against the emulator's fault injection: drops, 1011/1012, session expiry, server
restart. The server must receive the restored session (and items), then queued sends in order."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiohttp import web

from openai_realtime_ws import (
    AsyncOpenAIRealtimeWS,
    ConnectionClosedError,
    OpenAIRealtimeError,
    OpenAIRealtimeWS,
    QueueFull,
    RealtimeAPIError,
)
from openai_realtime_ws.core.reconnect import ReconnectContext, ReconnectPolicy
from openai_realtime_ws.emulator import CloseWith, Drop, Emulator, EmulatorConfig, EmulatorThread

from .rawserver import RawServer, session_created

KEY = "sk-reconnect-key-000111"
def fast(**kwargs: Any) -> ReconnectPolicy:
    """A policy with short, deterministic delays for tests."""
    return ReconnectPolicy(initial_delay=0.02, max_delay=0.1, jitter=False, **kwargs)


def user_text(text: str, item_id: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": text}],
    }
    if item_id:
        item["id"] = item_id
    return {"type": "conversation.item.create", "item": item}


TEXT_RESPONSE = {"type": "response.create", "response": {"output_modalities": ["text"]}}
CONFIGURE = {
    "type": "session.update",
    "session": {
        "type": "realtime",
        "instructions": "Answer like a pirate.",
        "output_modalities": ["text"],
        "audio": {"input": {"turn_detection": None}},
    },
}


class Recorder:
    def __init__(self, rt: AsyncOpenAIRealtimeWS | OpenAIRealtimeWS) -> None:
        self.reconnecting: list[ReconnectContext] = []
        self.reconnected: list[dict[str, Any]] = []
        self.errors: list[OpenAIRealtimeError] = []
        rt.on("reconnecting", self.reconnecting.append)
        rt.on("reconnected", self.reconnected.append)
        rt.on("error", self.errors.append)


async def wait_until(predicate: Any, timeout: float = 10) -> None:
    for _ in range(int(timeout * 100)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_drop_mid_response_restores_session_and_conversation_then_queued_sends() -> None:
    async with Emulator() as emu:
        # the first connection is dropped (TCP abort, no close frame) inside the 2nd response
        emu.faults.next_connection(Drop(after_type="response.created", after=2))
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=emu.base_url,
            api_key=KEY,
            model="gpt-realtime",
            reconnect=fast(restore="conversation"),
        )
        rec = Recorder(rt)
        seen: list[str] = []

        async def consume() -> None:
            async for event in rt:
                seen.append(event.type)

        consumer = asyncio.ensure_future(consume())
        rt.send(CONFIGURE)
        await rt.wait_for("session.updated", timeout=5)
        rt.send(user_text("first question", "item_user_1"))
        rt.send(TEXT_RESPONSE)
        await rt.wait_for("response.done", timeout=10)
        rt.send(user_text("second question", "item_user_2"))
        rt.send(TEXT_RESPONSE)
        await wait_until(lambda: rec.reconnecting)
        # sent while the connection is down: queued, delivered after the restore, in order
        rt.send(user_text("third question", "item_user_3"))
        rt.send(TEXT_RESPONSE)
        await wait_until(lambda: rec.reconnected)
        done = await rt.wait_for("response.done", timeout=10)
        assert done.response.status == "completed"
        await rt.close()
        await asyncio.wait_for(consumer, 5)

    assert len(emu.connections) == 2
    assert rec.reconnecting[0].close_code == 1006 and rec.reconnecting[0].attempt == 1
    second = emu.connections[1].received
    types = [e["type"] for e in second]
    assert types[0] == "session.update"
    restored_session = second[0]["session"]
    assert restored_session["instructions"] == "Answer like a pirate."
    assert restored_session["output_modalities"] == ["text"]
    assert restored_session["audio"]["input"]["turn_detection"] is None  # VAD stays off
    assert "id" not in restored_session and "expires_at" not in restored_session
    items = [e["item"] for e in second if e["type"] == "conversation.item.create"]
    # restored: first question, the assistant's answer (as text), second question; then the
    # queued third question
    assert [i.get("id") for i in items][:1] == ["item_user_1"]
    assert items[1]["role"] == "assistant" and items[1]["content"][0]["type"] == "output_text"
    assert items[1]["content"][0]["text"]
    assert [i.get("id") for i in items][2:] == ["item_user_2", "item_user_3"]
    assert types[-1] == "response.create"
    assert types.index("response.create") > types.index("conversation.item.create")
    # iteration carried on across the reconnect: two session.created, no stop in between
    assert seen.count("session.created") == 2
    assert rt.reconnects == 1


@pytest.mark.parametrize("code", [1011, 1012, 1013])
async def test_recoverable_close_codes_reconnect(code: int) -> None:
    async with Emulator() as emu:
        emu.faults.next_connection(CloseWith(code=code, reason="server trouble", after_type="session.updated"))
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=emu.base_url, api_key=KEY, model="m", reconnect=fast()
        )
        rec = Recorder(rt)
        updates: list[Any] = []
        rt.on("session.updated", updates.append)
        rt.send(CONFIGURE)
        await wait_until(lambda: len(updates) == 2)  # the original, then the restored one
        assert rec.reconnected
        assert updates[1].session.instructions == "Answer like a pirate."
        await rt.close()
    assert rec.reconnecting[0].close_code == code
    assert rec.reconnecting[0].close_reason == "server trouble"
    assert emu.connections[1].received_types()[0] == "session.update"


@pytest.mark.parametrize(
    ("fault", "expected_code"), [(CloseWith(code=1000, reason="bye"), 1000), (CloseWith(code=4000, reason="beta"), 4000)]
)
async def test_final_closes_do_not_reconnect(fault: CloseWith, expected_code: int) -> None:
    async with Emulator() as emu:
        emu.faults.next_connection(fault)
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=emu.base_url, api_key=KEY, model="m", reconnect=fast()
        )
        rec = Recorder(rt)
        await wait_until(lambda: rt.closed)
        assert rt.close_code == expected_code
        await asyncio.sleep(0.2)
        assert rec.reconnecting == [] and len(emu.connections) == 1


async def test_bad_key_is_final() -> None:
    async with Emulator(api_key=KEY) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=emu.base_url, api_key="sk-wrong-000000", model="m", reconnect=True
        )
        rec = Recorder(rt)
        await wait_until(lambda: rec.errors)
        assert rt.closed
        assert rt.close_code == 3000 and rec.reconnecting == []
        assert isinstance(rec.errors[0], RealtimeAPIError)
        assert rec.errors[0].code == "invalid_api_key"
        assert len(emu.connections) == 1


async def test_session_expiry_reconnects_with_restored_session() -> None:
    config = EmulatorConfig(session_seconds=0.6)
    async with Emulator(config=config) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=emu.base_url, api_key=KEY, model="m", reconnect=fast()
        )
        rec = Recorder(rt)
        rt.send(CONFIGURE)
        await wait_until(lambda: rec.reconnected, timeout=10)
        await rt.close()
    assert rec.errors and isinstance(rec.errors[0], RealtimeAPIError)
    assert rec.errors[0].code == "session_expired"
    assert rec.reconnecting[0].close_code == 1001
    assert emu.connections[1].received_types()[0] == "session.update"


async def test_server_restart_on_same_port() -> None:
    async with Emulator() as emu:
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=emu.base_url,
            api_key=KEY,
            model="m",
            reconnect=ReconnectPolicy(initial_delay=0.05, max_delay=0.2, max_attempts=30, jitter=False),
        )
        rec = Recorder(rt)
        rt.send(CONFIGURE)
        await rt.wait_for("session.updated", timeout=5)
        await emu.stop(close_code=1012)
        await wait_until(lambda: rec.reconnecting)
        rt.send(user_text("while down", "item_down"))
        await asyncio.sleep(0.3)  # a few attempts fail: nobody listens on the port
        items: list[Any] = []
        rt.on("conversation.item.done", items.append)
        await emu.start()
        await wait_until(lambda: rec.reconnected)
        await wait_until(lambda: items)
        await rt.close()
    assert len(rec.reconnecting) >= 2  # refused attempts were retried
    last = emu.connections[-1].received
    assert [e["type"] for e in last] == ["session.update", "conversation.item.create"]
    assert last[1]["item"]["id"] == "item_down"


async def test_credentials_reresolved_and_on_reconnect_can_change_headers_or_abort() -> None:
    calls: list[int] = []

    async def provider() -> str:
        calls.append(1)
        return KEY

    seen: list[int] = []

    def on_reconnect(ctx: ReconnectContext) -> bool:
        seen.append(ctx.attempt)
        ctx.headers["X-Reconnect-Attempt"] = str(ctx.attempt)
        return len(seen) < 2  # allow one reconnect, abort the second

    async with Emulator(api_key=KEY) as emu:
        emu.faults.next_connection(Drop(after_type="session.updated"))
        emu.faults.next_connection(Drop(after_type="session.updated"))
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=emu.base_url,
            api_key=provider,
            model="m",
            reconnect=fast(on_reconnect=on_reconnect),
        )
        rt.send(CONFIGURE)
        await wait_until(lambda: rt.closed, timeout=10)
    assert len(calls) == 2  # initial connect + the one allowed reconnect
    assert emu.connections[1].headers["x-reconnect-attempt"] == "1"
    assert seen == [1, 1]
    assert len(emu.connections) == 2


async def test_gives_up_after_max_attempts_and_returns_unsent() -> None:
    async with Emulator() as emu:
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=emu.base_url,
            api_key=KEY,
            model="m",
            reconnect=fast(max_attempts=2),
        )
        rec = Recorder(rt)
        await asyncio.sleep(0.1)
        await emu.stop(close_code=1012)
        await wait_until(lambda: rec.reconnecting)
        rt.send(user_text("never delivered", "item_lost"))
        rt.send_audio(b"\x00\x00" * 480)
        with pytest.raises(ConnectionClosedError) as info:
            await rt.wait_for("session.created", timeout=10)
        assert len(rec.reconnecting) == 2
        unsent_types = [e["type"] for e in info.value.unsent]
        assert unsent_types == ["conversation.item.create", "input_audio_buffer.append"]
        with pytest.raises(ConnectionClosedError):
            rt.send(TEXT_RESPONSE)


async def test_send_queue_while_disconnected_is_bounded_audio_dropped_first() -> None:
    async with Emulator() as emu:
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=emu.base_url,
            api_key=KEY,
            model="m",
            send_queue_bytes=20_000,
            reconnect=ReconnectPolicy(initial_delay=0.3, jitter=False),
        )
        rec = Recorder(rt)
        await asyncio.sleep(0.1)
        await emu.stop(close_code=1012)
        await wait_until(lambda: rec.reconnecting)
        chunk = b"\x01\x00" * 2400  # 100 ms of audio, 6.4 kB of base64
        rt.send(user_text("keep me", "item_keep"))
        for _ in range(10):
            rt.send_audio(chunk)
        rt.send({"type": "input_audio_buffer.commit", "event_id": "evt_commit"})
        with pytest.raises(QueueFull):
            rt.send(user_text("x" * 30_000))  # control events alone would overflow
        await emu.start()
        await wait_until(lambda: rec.reconnected)
        await asyncio.sleep(0.3)
        await rt.close()
    got = emu.connections[-1].received
    types = [e["type"] for e in got]
    assert types[0] == "conversation.item.create" and types[-1] == "input_audio_buffer.commit"
    appends = types.count("input_audio_buffer.append")
    assert 0 < appends < 10  # the oldest audio was dropped, the control events were not


async def test_dead_peer_detected_by_keepalive_and_reconnected() -> None:
    async def silent(ws: web.WebSocketResponse, srv: RawServer) -> None:
        await ws.send_str(session_created())
        await asyncio.sleep(3)  # never answers pings (autoping off)

    async with RawServer(silent, autoping=False) as srv:
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=srv.base_url,
            api_key=KEY,
            model="m",
            ping_interval=0.2,
            ping_timeout=0.2,
            reconnect=fast(max_attempts=1),
        )
        rec = Recorder(rt)
        await wait_until(lambda: rec.reconnecting, timeout=5)
        assert rec.reconnecting[0].close_code == 1001  # we closed: no pong within the timeout
        await rt.close()


async def test_frame_over_max_size_closes_with_clear_error() -> None:
    async def huge(ws: web.WebSocketResponse, srv: RawServer) -> None:
        await ws.send_str(session_created())
        await ws.send_str('{"type":"x","pad":"' + "a" * 200_000 + '"}')
        await asyncio.sleep(1)

    async with RawServer(huge) as srv:
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=srv.base_url, api_key=KEY, model="m", max_size=100_000
        )
        rec = Recorder(rt)
        await wait_until(lambda: rt.closed, timeout=5)
    assert rt.close_code == 1009
    assert any("max_size is 100000" in e.message for e in rec.errors)
    assert all("aaaa" not in e.message for e in rec.errors)


def test_blocking_client_reconnects_too() -> None:
    with EmulatorThread() as emu:
        emu.faults.next_connection(CloseWith(code=1012, after_type="session.updated"))
        with OpenAIRealtimeWS.create(
            base_url=emu.base_url, api_key=KEY, model="m", reconnect=fast()
        ) as rt:
            rec = Recorder(rt)
            updates: list[Any] = []
            rt.on("session.updated", updates.append)
            rt.send(CONFIGURE)
            for _ in range(1000):
                if len(updates) == 2:  # the original and the restored configuration
                    break
                time.sleep(0.01)
            assert len(updates) == 2 and rec.reconnected
    assert emu.connections[1].received_types()[0] == "session.update"


async def test_rollover_switches_to_a_fresh_session_before_expiry() -> None:
    config = EmulatorConfig(session_seconds=3)
    async with Emulator(config=config) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=emu.base_url,
            api_key=KEY,
            model="m",
            reconnect=fast(restore="conversation", rollover=2.0),
        )
        rec = Recorder(rt)
        rt.send(CONFIGURE)
        rt.send(user_text("remember me", "item_mem"))
        rt.send(TEXT_RESPONSE)
        await rt.wait_for("response.done", timeout=10)
        await wait_until(lambda: rec.reconnected, timeout=5)
        assert rec.reconnected[0]["rollover"] is True
        first = emu.connections[0]
        assert await first.wait_closed() == 1000  # retired by the client, before expiry
        rt.send(user_text("after rollover", "item_after"))
        rt.send(TEXT_RESPONSE)
        await rt.wait_for("response.done", timeout=10)
        await rt.close()
    assert not any(isinstance(e, RealtimeAPIError) and e.code == "session_expired" for e in rec.errors)
    second = emu.connections[1].received
    types = [e["type"] for e in second]
    assert types[0] == "session.update"
    ids = [e["item"].get("id") for e in second if e["type"] == "conversation.item.create"]
    assert ids[0] == "item_mem" and ids[-1] == "item_after"
