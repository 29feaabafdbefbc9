# openai-python's own realtime client (openai 3.x, websockets) against the emulator: a text
# turn, an audio turn, a tool call round trip, a cancel and a truncate. The same client drives
# remote MCP tools (test_mcp.py) and truncate-while-streaming (test_divergences.py); every event
# of every test is validated against openai-python's models (conftest.py).
from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from openai import AsyncOpenAI

from openai_realtime_ws.emulator import (
    Emulator,
    EmulatorConfig,
    ScriptedResponder,
    ToolCall,
    synth_audio,
)

KEY = "sk-openai-python-test-0000"


def client(emu: Emulator, **kw: Any) -> AsyncOpenAI:
    return AsyncOpenAI(api_key=KEY, base_url=emu.base_url, **kw)


async def until(conn: Any, type_: str) -> list[Any]:
    out = []
    async for ev in conn:
        out.append(ev)
        if ev.type == type_:
            return out
    raise AssertionError(f"closed before {type_}")


@pytest.mark.realtime_emulator(api_key=KEY)
async def test_text_turn(realtime_emulator: Emulator) -> None:
    async with client(realtime_emulator).realtime.connect(model="gpt-realtime") as conn:
        created = await conn.recv()
        assert created.type == "session.created"
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        assert (await conn.recv()).type == "session.updated"
        await conn.conversation.item.create(item={"type": "message", "role": "user",
                                                  "content": [{"type": "input_text", "text": "Hello emulator"}]})
        await conn.response.create()
        events = await until(conn, "response.done")
        text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        assert text == "You said: Hello emulator"
        assert events[-1].response.status == "completed"
        assert events[-1].response.usage.total_tokens > 0
    conn_rec = realtime_emulator.connections[0]
    assert conn_rec.received_api_key == KEY
    assert conn_rec.query == {"model": "gpt-realtime"}
    assert conn_rec.received_types() == ["session.update", "conversation.item.create", "response.create"]


async def test_audio_turn_with_server_vad(realtime_emulator: Emulator) -> None:
    async with client(realtime_emulator).realtime.connect(model="gpt-realtime") as conn:
        await conn.recv()
        await conn.session.update(session={"type": "realtime", "audio": {"input": {
            "transcription": {"model": "gpt-4o-mini-transcribe"}}}})
        await conn.recv()
        audio = synth_audio("what time is it", lead_silence_ms=200, tail_silence_ms=400)
        for i in range(0, len(audio), 4800):  # 100 ms appends
            await conn.input_audio_buffer.append(audio=base64.b64encode(audio[i:i + 4800]).decode())
        events = await until(conn, "response.done")
        kinds = [e.type for e in events]
        assert kinds[:5] == ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                             "input_audio_buffer.committed", "conversation.item.added", "conversation.item.done"]
        completed = next(e for e in events if e.type == "conversation.item.input_audio_transcription.completed")
        assert completed.transcript == "what time is it"
        pcm = b"".join(base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta")
        transcript = next(e for e in events if e.type == "response.output_audio_transcript.done").transcript
        assert transcript == "You said: what time is it"
        assert len(pcm) == len(transcript) * 60 * 48  # 60 ms per character, 48 bytes per ms


async def test_tool_call_round_trip(realtime_emulator: Emulator) -> None:
    responder = ScriptedResponder().on(r"weather in (\w+)", tools=[ToolCall("get_weather", {"city": r"\1"})],
                                       then="The weather is {output}.")
    realtime_emulator.responder = responder
    async with client(realtime_emulator).realtime.connect(model="gpt-realtime") as conn:
        await conn.recv()
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"], "tools": [
            {"type": "function", "name": "get_weather", "description": "Weather by city",
             "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]})
        await conn.recv()
        await conn.conversation.item.create(item={"type": "message", "role": "user",
                                                  "content": [{"type": "input_text", "text": "weather in Oslo?"}]})
        await conn.response.create()
        events = await until(conn, "response.done")
        call = next(e for e in events if e.type == "response.function_call_arguments.done")
        assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Oslo"}
        await conn.conversation.item.create(item={"type": "function_call_output", "call_id": call.call_id,
                                                  "output": '{"temp_c": 3}'})
        await conn.response.create()
        events = await until(conn, "response.done")
        assert events[-1].response.output[0].content[0].text == 'The weather is {"temp_c": 3}.'


@pytest.mark.realtime_emulator(config=EmulatorConfig(speed=2.0))
async def test_cancel_and_truncate(realtime_emulator: Emulator) -> None:
    async with client(realtime_emulator).realtime.connect(model="gpt-realtime") as conn:
        await conn.recv()
        await conn.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
        await conn.recv()
        await conn.conversation.item.create(item={"type": "message", "role": "user",
                                                  "content": [{"type": "input_text", "text": "tell me a story"}]})
        await conn.response.create()
        events = await until(conn, "response.output_audio.delta")
        item_id = events[-1].item_id
        await conn.response.cancel()
        events = await until(conn, "response.done")
        done = events[-1].response
        assert done.status == "cancelled" and done.status_details.reason == "client_cancelled"
        assert done.output[0].status == "incomplete"
        await conn.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=50)
        events = await until(conn, "conversation.item.truncated")
        assert events[-1].audio_end_ms == 50 and events[-1].item_id == item_id
