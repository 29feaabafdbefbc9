"""Tools in a voice session: the follow-up response after a tool's output goes through the
sequencer, so it never collides with a response that started while the tool ran."""

from __future__ import annotations

import asyncio
from typing import Any

from openai_realtime_ws import AsyncOpenAIRealtimeWS
from openai_realtime_ws.audio import PacedSink
from openai_realtime_ws.emulator import Emulator, EmulatorConfig, ScriptedResponder, ToolCall
from openai_realtime_ws.voice import VoiceEvent, VoiceSession

KEY = "sk-tools-voice-0000"


async def test_tool_follow_up_waits_for_a_response_started_meanwhile() -> None:
    responder = ScriptedResponder()
    responder.on(r"weather in (\w+)", tools=[ToolCall("get_weather", {"city": r"\1"})],
                 then="Report: {output}")
    async with Emulator(config=EmulatorConfig(speed=20.0), responder=responder) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="gpt-realtime")
        events: list[VoiceEvent] = []
        voice = VoiceSession(rt, sink=PacedSink(speed=20.0), on_event=events.append)
        release = asyncio.Event()

        @voice.tool(description="Weather for a city")
        async def get_weather(city: str) -> dict[str, Any]:
            await release.wait()  # the tool is slow: meanwhile the user asks something else
            return {"city": city, "sky": "sunny"}

        tools_on: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def on_updated(event: Any) -> None:
            if event.session.tools and not tools_on.done():
                tools_on.set_result(event)

        rt.on("session.updated", on_updated)
        await voice.start()
        rt.update_tools()
        await asyncio.wait_for(tools_on, 5)
        tool_turn_done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        rt.once("response.done", tool_turn_done.set_result)
        voice.say("what is the weather in Paris")
        await asyncio.wait_for(tool_turn_done, 5)
        voice.say("and tell me a joke")  # a response starts while the tool runs
        await rt.wait_for("response.created", timeout=5)
        release.set()  # the tool's output lands while that response is active
        done = 1
        async for ev in voice:
            if ev.type == "response_done":
                done += 1
                if done == 3:  # the joke, then the reply to the tool's output
                    break
        await voice.aclose()
        await rt.close()
    assert not [c for c, _ in voice.errors if c == "conversation_already_has_active_response"]
    sent = emu.connections[0].received
    creates = [i for i, e in enumerate(sent) if e["type"] == "response.create"]
    assert len(creates) == 3
    assert all(str(sent[i].get("event_id", "")).startswith("seq_") for i in creates)
    output = next(i for i, e in enumerate(sent) if e["type"] == "conversation.item.create"
                  and e["item"]["type"] == "function_call_output")
    assert '"sunny"' in sent[output]["item"]["output"]
    assert creates[1] < output < creates[2]  # the reply was asked for after the output arrived
