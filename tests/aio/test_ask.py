"""``reply = await rt.ask("…")`` and the blocking twin (issue 20 part 6) against the real
emulator: one turn, tools run in between, the text or transcript, the audio, the tool calls
and the usage; the turn's own API error and a close end it clearly."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from openai_realtime_ws import (
    AsyncOpenAIRealtimeWS,
    ConnectionClosed,
    InvalidClientEvent,
    OpenAIRealtimeWS,
    RealtimeAPIError,
)
from openai_realtime_ws.core.ask import AskTurn
from openai_realtime_ws.emulator import (
    Emulator,
    EmulatorConfig,
    EmulatorThread,
    ScriptedResponder,
    ToolCall,
)

KEY = "sk-ask-0000000000"


def weather() -> ScriptedResponder:
    r = ScriptedResponder()
    r.on(r"weather in (\w+)", tools=[ToolCall("get_weather", {"city": r"\1"})], then="Report: {output}")
    return r


async def test_a_text_turn_returns_the_text_and_the_usage() -> None:
    async with Emulator(api_key=KEY) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="gpt-realtime")
        deltas: list[str] = []
        rt.on("response.output_text.delta", lambda e: deltas.append(e.delta))  # handlers still run
        reply = await rt.ask("Say hello in French.", response={"output_modalities": ["text"]})
        assert reply.text and reply.text == "".join(deltas)
        assert reply.status == "completed" and reply.audio == b"" and reply.transcript == ""
        assert reply.tool_calls == [] and len(reply.response_ids) == 1
        assert reply.usage.total_tokens > 0 and reply.usage.output_text > 0
        await rt.close()
    received = emu.connections[0].received
    assert [e["type"] for e in received] == ["conversation.item.create", "response.create"]
    assert received[0]["item"]["content"] == [{"type": "input_text", "text": "Say hello in French."}]


async def test_a_spoken_turn_returns_the_transcript_and_the_audio() -> None:
    async with Emulator(api_key=KEY) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="gpt-realtime")
        reply = await rt.ask("Hello there")
        assert reply.transcript and reply.text == reply.transcript
        assert len(reply.audio) > 0 and len(reply.audio) % 2 == 0  # PCM16
        assert reply.usage.output_audio > 0
        await rt.close()


async def test_tools_run_in_between_and_the_turn_ends_with_the_answer() -> None:
    async with Emulator(api_key=KEY, responder=weather()) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")

        @rt.tool(description="Weather for a city",
                 parameters={"type": "object", "properties": {"city": {"type": "string"}}})
        async def get_weather(city: str) -> dict[str, Any]:
            return {"city": city, "temp_c": 21}

        rt.update_tools()
        await rt.wait_for("session.updated", timeout=5)
        reply = await rt.ask("What is the weather in Paris?", response={"output_modalities": ["text"]})
        await rt.close()
    assert len(reply.response_ids) == 2  # the call, then the answer that used its output
    [call] = reply.tool_calls
    assert call.name == "get_weather" and call.arguments == {"city": "Paris"}
    assert call.output == '{"city":"Paris","temp_c":21}'
    assert '"temp_c":21' in reply.text and "Paris" in reply.text
    assert reply.usage.total_tokens > 0


async def test_without_a_tool_for_the_call_the_turn_ends_at_the_call() -> None:
    async with Emulator(api_key=KEY, responder=weather()) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")
        # declared to the model, but no handler registered here: nobody answers the call
        rt.session.update(session={"type": "realtime", "tools": [
            {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]})
        await rt.wait_for("session.updated", timeout=5)
        reply = await rt.ask("What is the weather in Oslo?", response={"output_modalities": ["text"]})
        await rt.close()
    assert [c.name for c in reply.tool_calls] == ["get_weather"] and reply.tool_calls[0].output is None
    assert len(reply.response_ids) == 1 and reply.text == ""


async def test_the_turns_own_api_error_is_raised_once() -> None:
    async with Emulator(api_key=KEY, config=EmulatorConfig(speed=1.0)) as emu:  # (real-time pace)
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="gpt-realtime")
        with pytest.raises(InvalidClientEvent):  # validated before anything is sent
            await rt.ask("hi", response={"output_modalities": ["txt"]})  # type: ignore[arg-type]
        # a response of the server's own is running: the turn's response.create is refused
        rt.send({"type": "response.create", "response": {"instructions": "Count slowly to fifty."}})
        await rt.wait_for("response.created", timeout=5)
        with pytest.raises(RealtimeAPIError) as exc:
            await rt.ask("and now?", response={"output_modalities": ["text"]})
        assert exc.value.code == "conversation_already_has_active_response"
        assert exc.value.client_event_id is not None and exc.value.client_event_id.startswith("ask_")
        await rt.close()  # (not raised again here)


async def test_a_close_during_the_turn_raises_connection_closed() -> None:
    async with Emulator(api_key=KEY, config=EmulatorConfig(speed=1.0)) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="gpt-realtime")
        task = asyncio.ensure_future(rt.ask("Tell me a long story."))
        await rt.wait_for("response.created", timeout=5)
        await rt.close()
        with pytest.raises(ConnectionClosed):
            await task


def test_the_blocking_twin() -> None:
    with EmulatorThread(api_key=KEY, responder=weather()) as emu:
        with OpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m") as rt:

            @rt.tool(description="Weather for a city",
                     parameters={"type": "object", "properties": {"city": {"type": "string"}}})
            def get_weather(city: str) -> dict[str, Any]:
                return {"city": city, "temp_c": 19}

            rt.update_tools()
            rt.wait_for("session.updated", timeout=5)
            reply = rt.ask("What is the weather in Rome?", response={"output_modalities": ["text"]})
            assert "Rome" in reply.text and reply.tool_calls[0].arguments == {"city": "Rome"}
            assert len(reply.response_ids) == 2


def test_the_turn_ignores_other_responses_and_is_pure() -> None:
    turn = AskTurn(lambda event: False)
    events = turn.start("hi")
    assert [e["type"] for e in events] == ["conversation.item.create", "response.create"]
    assert {e["event_id"] for e in events} == set(turn.event_ids)
    with pytest.raises(TypeError, match="as a str"):
        AskTurn(lambda event: False).start(b"hi")  # type: ignore[arg-type]
