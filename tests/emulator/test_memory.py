# Bounded memory of a long-running emulator (issue 10): recorded client events capped, closed
# connections forgotten beyond a bounded history (indexes stay stable), item audio within a byte
# budget, the conversation capped, a closed session's audio released. bench/soak.py measures RSS.
from __future__ import annotations

import base64

import pytest

from openai_realtime_ws.emulator import Emulator, EmulatorConfig
from openai_realtime_ws.emulator.core.audio import silence

from .helpers import connect, user_text


async def test_closed_connections_beyond_the_history_are_forgotten() -> None:
    async with Emulator(config=EmulatorConfig(closed_history=2)) as emu:
        for _ in range(5):
            raw = await connect(emu)
            await raw.ws.close()
            await emu.connections[-1].wait_closed()
        live = await connect(emu)
        assert len(emu.connections) == 6
        assert [c.index for c in emu.connections] == [3, 4, 5]  # two closed ones + the live one
        assert emu.connections[-1].index == 5 and emu.connections[4].index == 4
        with pytest.raises(IndexError, match="forgotten"):
            emu.connections[0]
        with pytest.raises(IndexError, match="no connection #6"):
            emu.connections[6]
        assert [c.index for c in emu.connections[1:]] == [3, 4, 5]
        closed = emu.connections[3]
        assert closed.session is not None and closed.session.audio.bytes == 0  # released
        await live.ws.close()


@pytest.mark.realtime_emulator(config=EmulatorConfig(record_limit=3))
async def test_recorded_events_are_capped(realtime_emulator: Emulator) -> None:
    raw = await connect(realtime_emulator)
    for i in range(5):
        await raw.send(user_text(f"message {i}"))
        await raw.recv_until("conversation.item.done")
    texts = [e["item"]["content"][0]["text"] for e in realtime_emulator.connections[0].received]
    assert texts == ["message 2", "message 3", "message 4"]
    await raw.ws.close()


@pytest.mark.realtime_emulator(config=EmulatorConfig(record_received=False))
async def test_recording_off(realtime_emulator: Emulator) -> None:
    raw = await connect(realtime_emulator)
    await raw.send(user_text("not kept"))
    await raw.recv_until("conversation.item.done")
    assert list(realtime_emulator.connections[0].received) == []
    assert realtime_emulator.connections[0].received_frames == 1
    await raw.ws.close()


@pytest.mark.realtime_emulator(config=EmulatorConfig(max_item_audio_bytes=10_000, speed=0))
async def test_item_audio_within_the_budget(realtime_emulator: Emulator) -> None:
    raw = await connect(realtime_emulator)
    await raw.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "turn_detection": None}}}})
    await raw.recv_until("session.updated")
    ids = []
    for _ in range(3):  # 100 ms = 4800 bytes each: the third pushes the first out
        await raw.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(silence(100)).decode()})
        await raw.send({"type": "input_audio_buffer.commit"})
        ids.append((await raw.recv_until("conversation.item.done"))[-1]["item"]["id"])
    session = realtime_emulator.connections[0].session
    assert session is not None and session.audio.bytes <= 10_000
    await raw.send({"type": "conversation.item.retrieve", "item_id": ids[0]})
    oldest = (await raw.recv_until("conversation.item.retrieved"))[-1]["item"]
    assert "audio" not in oldest["content"][0]  # dropped; the item itself stays
    await raw.send({"type": "conversation.item.retrieve", "item_id": ids[2]})
    newest = (await raw.recv_until("conversation.item.retrieved"))[-1]["item"]
    assert len(base64.b64decode(newest["content"][0]["audio"])) == 4800
    await raw.ws.close()


@pytest.mark.realtime_emulator(config=EmulatorConfig(max_conversation_items=3))
async def test_conversation_keeps_the_latest_items(realtime_emulator: Emulator) -> None:
    raw = await connect(realtime_emulator)
    ids = []
    for i in range(5):
        await raw.send(user_text(f"m{i}"))
        ids.append((await raw.recv_until("conversation.item.done"))[-1]["item"]["id"])
    await raw.send({"type": "conversation.item.retrieve", "item_id": ids[1], "event_id": "r1"})
    err = await raw.expect_error()
    assert (err["code"], err["event_id"]) == ("item_retrieve_invalid_item_id", "r1")
    await raw.send({"type": "conversation.item.retrieve", "item_id": ids[2]})
    assert (await raw.recv())["item"]["id"] == ids[2]
    await raw.ws.close()
