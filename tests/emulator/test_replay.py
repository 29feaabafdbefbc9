# Issue 19 item 6: a recorded session replayed as the server side of a test ("record once against
# the real API, replay in CI"). Recordings come from the CLI (`events --record`, JSONL) or from an
# emulator connection (`record_transcript=True`); the pytest marker `replay=` serves one and fails
# the test when the code under test does something else. (tests/emulator/recordings/text_turn.jsonl
# was made with `openai-realtime-ws events --record` on the embedded emulator.)
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncOpenAI

from openai_realtime_ws import AsyncOpenAIRealtimeWS
from openai_realtime_ws.emulator import Emulator, EmulatorConfig, Recording, synth_audio

from .helpers import b64, connect, types, user_text

HERE = Path(__file__).parent


async def _text_turn(base_url: str) -> str:
    """The code under test: one text turn with openai-python's client; returns the reply."""
    client = AsyncOpenAI(api_key="sk-test", base_url=base_url)
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.conversation.item.create(item={"type": "message", "role": "user",
                                                  "content": [{"type": "input_text", "text": "ping"}]})
        await conn.response.create(response={"output_modalities": ["text"]})
        text = ""
        async for event in conn:
            if event.type == "response.output_text.delta":
                text += event.delta
            elif event.type == "response.done":
                return text
    raise AssertionError("no response.done")


@pytest.mark.realtime_emulator(replay="recordings/text_turn.jsonl")
async def test_replay_fixture_serves_a_cli_recording(realtime_emulator: Emulator) -> None:
    assert realtime_emulator.replay is not None and realtime_emulator.replay.client_types() == [
        "conversation.item.create", "response.create"]
    assert await _text_turn(realtime_emulator.base_url) == "You said: ping"
    # (the fixture checks at teardown that there was no divergence)


async def test_record_a_connection_then_replay_it(tmp_path: Path) -> None:
    # record: the emulated model answers a text turn and a spoken (server VAD) turn
    async def session(base_url: str, chunk: int) -> list[str]:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=base_url, api_key="sk-x", model="gpt-realtime")
        rt.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})
        await rt.wait_for("session.updated")
        rt.send(user_text("hello"))
        rt.send({"type": "response.create"})
        first = await rt.wait_for("response.done")
        audio = synth_audio("what time is it", lead_silence_ms=200, tail_silence_ms=700)
        for i in range(0, len(audio), chunk):
            rt.send({"type": "input_audio_buffer.append", "audio": b64(audio[i:i + chunk])})
        second = await rt.wait_for("response.done")
        await rt.close()
        return [str(r.response.output[0].content[0].text) for r in (first, second)]  # type: ignore[index]

    async with Emulator(config=EmulatorConfig(speed=0, record_transcript=True)) as emu:
        recorded = await session(emu.base_url, 2400)  # 50 ms chunks
        await emu.connections[0].wait_closed()
        recording = Recording.from_connection(emu.connections[0])
    assert recorded == ["You said: hello", "You said: what time is it"]
    path = tmp_path / "session.jsonl"
    recording.save(path)
    # replay: the same code, no model behind it; the audio is cut differently this time
    loaded = Recording.load(path)
    assert loaded.client_types()[:3] == ["session.update", "conversation.item.create", "response.create"]
    async with Emulator(replay=path) as emu:
        assert await session(emu.base_url, 7200) == recorded  # 150 ms chunks
        assert emu.replay_divergences == []


async def test_a_divergence_is_an_error_event_and_reported(tmp_path: Path) -> None:
    recording = Recording.load(HERE / "recordings" / "text_turn.jsonl")
    async with Emulator(replay=recording) as emu:
        raw = await connect(emu)
        await raw.send({"type": "response.create", "event_id": "evt_wrong"})  # the recording created an item first
        err = await raw.expect_error()
        assert err["type"] == "server_error" and err["code"] == "replay_divergence"
        assert "'conversation.item.create'" in err["message"] and "'response.create'" in err["message"]
        assert err["event_id"] == "evt_wrong"
        # the replay still waits for the recorded event, and goes on from there
        await raw.send(user_text("ping"))
        await raw.send({"type": "response.create"})
        events = await raw.recv_until("response.done")
        assert "response.output_text.delta" in types(events)
        assert emu.replay_divergences == [err["message"]]
        await raw.ws.close()


def test_a_recording_made_by_the_cli_subprocess_replays(tmp_path: Path) -> None:
    path = tmp_path / "cli.jsonl"
    item = json.dumps(user_text("ping"))
    create = json.dumps({"type": "response.create", "response": {"output_modalities": ["text"]}})
    res = subprocess.run([sys.executable, "-m", "openai_realtime_ws", "events", "--emulator-speed", "0",
                          "--send", item, "--send", create, "--until", "response.done", "--record", str(path)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    import asyncio

    async def replay() -> tuple[str, list[str]]:
        async with Emulator(replay=path) as emu:
            return await _text_turn(emu.base_url), emu.replay_divergences

    text, divergences = asyncio.run(replay())
    assert text == "You said: ping" and divergences == []


def test_bad_recording_lines_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"direction": "server", "t": 0, "event": {"type": "session.created"}}\nnot json\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: not a recording line"):
        Recording.load(path)
    with pytest.raises(ValueError, match="record_transcript"):
        Recording.from_connection(_NoTranscript())  # type: ignore[arg-type]


class _NoTranscript:
    transcript: Any = None
