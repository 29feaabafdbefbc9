# A third-party client nobody here wrote, against the emulator over loopback: openai-agents'
# RealtimeRunner (optional test dependency `openai-agents`) through a text turn, an audio turn
# with server VAD, a function tool call and an explicit `session.interrupt()` while the answer is
# still streaming (which truncates the live item), a barge-in, and (second test) the interrupt that
# truncates and then cancels, and a handoff. The URL names another model than the one
# openai-agents puts in every session.update: its instructions and tools must still apply.
# Every event the emulator sends is validated against openai-python's models (conftest.py).
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("agents.realtime")

from agents import function_tool
from agents.realtime import RealtimeAgent, RealtimeRunner

from openai_realtime_ws.emulator import (
    Emulator,
    EmulatorConfig,
    ScriptedResponder,
    ToolCall,
    synth_audio,
)

KEY = "sk-agents-runner-0000"
CHUNK = 4800  # 100 ms of PCM16 24 kHz


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def responder() -> ScriptedResponder:
    return (ScriptedResponder()
            .on(r"weather in (\w+)", tools=[ToolCall("get_weather", {"city": r"\1"})], then="It is {output}.")
            .on(r"story", text="Once upon a time there was a very long story about the sea and the ships "
                               "that sailed on it at night under the stars"))


async def next_event(events: Any, want: Callable[[Any], bool], seen: list[Any], since: int | None = None,
                     timeout: float = 10.0) -> Any:
    """The first event matching `want`: among those already seen from index `since` on, or read
    from the session (appended to `seen`)."""
    if since is not None:
        for ev in seen[since:]:
            if want(ev):
                return ev

    async def run() -> Any:
        async for ev in events:
            seen.append(ev)
            if want(ev):
                return ev
        raise AssertionError("session ended")

    return await asyncio.wait_for(run(), timeout)


def assistant_texts(history: list[Any]) -> list[str]:
    out = []
    for item in history:
        if getattr(item, "type", None) == "message" and getattr(item, "role", None) == "assistant":
            for part in item.content:
                text = getattr(part, "transcript", None) or getattr(part, "text", None)
                if text:
                    out.append(text)
    return out


@pytest.mark.realtime_emulator(api_key=KEY, config=EmulatorConfig(speed=0), responder=responder())
async def test_realtime_runner_text_audio_tool_and_interrupt(realtime_emulator: Emulator) -> None:
    emu = realtime_emulator
    agent: RealtimeAgent[Any] = RealtimeAgent(name="Assistant", instructions="Answer briefly.", tools=[get_weather])
    runner = RealtimeRunner(agent)
    session = await runner.run(model_config={"url": f"{emu.ws_url}?model=gpt-realtime-mini", "api_key": KEY})
    seen: list[Any] = []
    async with session:
        events = session.__aiter__()
        # the agent's settings were applied although its session.update names its own default model
        await next_event(events, lambda e: e.type == "raw_model_event"
                         and getattr(e.data, "type", None) == "raw_server_event"
                         and e.data.data.get("type") == "session.updated", seen)
        state = emu.connections[0].session
        assert state is not None
        assert state.state["model"] == "gpt-realtime-mini"
        assert state.state["instructions"] == "Answer briefly."
        assert [t["name"] for t in state.state["tools"]] == ["get_weather"]

        # 1. text in, spoken answer out
        mark = len(seen)
        await session.send_message("Hello there")
        await next_event(events, lambda e: e.type == "agent_end", seen)
        assert any(e.type == "audio" for e in seen)
        last = await next_event(events, lambda e: e.type == "history_updated"
                                and "You said: Hello there" in assistant_texts(e.history), seen, mark)
        assert last.history

        # 2. audio in (server VAD commits the turn), answer about what was heard
        mark = len(seen)
        audio = synth_audio("what time is it", lead_silence_ms=200, tail_silence_ms=600)
        for i in range(0, len(audio), CHUNK):
            await session.send_audio(audio[i:i + CHUNK])
        await next_event(events, lambda e: e.type == "history_updated"
                         and "You said: what time is it" in assistant_texts(e.history), seen, mark)

        # 3. a function tool call, run by the agent, answered in a follow-up response
        mark = len(seen)
        await session.send_message("What is the weather in Oslo?")
        tool_end = await next_event(events, lambda e: e.type == "tool_end", seen, mark)
        assert tool_end.output == "sunny in Oslo"
        await next_event(events, lambda e: e.type == "history_updated"
                         and "It is sunny in Oslo." in assistant_texts(e.history), seen, mark)

        # 4. explicit interrupt while the answer still streams: the live item is truncated
        emu.config.speed = 2.0
        mark = len(seen)
        await session.send_message("Tell me a story")
        await next_event(events, lambda e: e.type == "audio", seen, mark)
        mark = len(seen)
        await session.interrupt()
        await next_event(events, lambda e: e.type == "raw_model_event"
                         and getattr(e.data, "type", None) == "raw_server_event"
                         and e.data.data.get("type") == "conversation.item.truncated", seen, mark)
        await next_event(events, lambda e: e.type == "agent_end", seen, mark)

        # 5. barge-in with the default turn detection: the emulator's VAD cancels the answer
        # (turn_detected), the SDK truncates what was played, and the user's turn is answered
        mark = len(seen)
        await session.send_message("Tell me a story")
        await next_event(events, lambda e: e.type == "audio", seen, mark)
        audio = synth_audio("what time is it", lead_silence_ms=100, tail_silence_ms=600)
        for i in range(0, len(audio), CHUNK):
            await session.send_audio(audio[i:i + CHUNK])
        await next_event(events, lambda e: e.type == "history_updated"
                         and "You said: what time is it" in assistant_texts(e.history[-2:]), seen, mark)

    errors = [e for e in seen if e.type == "error"
              or (e.type == "raw_model_event" and getattr(e.data, "type", None) == "raw_server_event"
                  and e.data.data.get("type") == "error")]
    assert errors == [], errors
    sent = emu.connections[0].received_types()
    assert "conversation.item.truncate" in sent
    assert sent.count("response.create") >= 2  # the agent's follow-up after the tool output


def raw_type(e: Any) -> str | None:
    if e.type == "raw_model_event" and getattr(e.data, "type", None) == "raw_server_event":
        return str(e.data.data.get("type"))
    return None


LONG = ("Once upon a time there was a very long story about the sea and the ships that sailed on it at "
        "night under the stars, and every sailor knew the song of the lighthouse keeper by heart")


@pytest.mark.realtime_emulator(api_key=KEY, config=EmulatorConfig(speed=0))
async def test_realtime_runner_interrupt_cancel_barge_in_and_handoff(realtime_emulator: Emulator) -> None:
    # issue 19 item 2: openai-agents interrupts with conversation.item.truncate and then
    # response.cancel (when the server does not cancel by itself: interrupt_response false);
    # a truncate of the live item must not end the response, or the SDK's cancel is refused
    emu = realtime_emulator
    emu.responder = (ScriptedResponder()
                     .on(r"billing", tools=[ToolCall("transfer_to_billing", {})], then="Billing here.")
                     .on(r"story", text=LONG))
    billing: RealtimeAgent[Any] = RealtimeAgent(name="Billing", instructions="You handle invoices.")
    agent: RealtimeAgent[Any] = RealtimeAgent(name="Assistant", instructions="Answer briefly.", handoffs=[billing])
    runner = RealtimeRunner(agent)
    settings: Any = {"turn_detection": {"type": "server_vad", "interrupt_response": False}}
    session = await runner.run(model_config={"url": f"{emu.ws_url}?model=gpt-realtime", "api_key": KEY,
                                             "initial_model_settings": settings})
    seen: list[Any] = []
    async with session:
        events = session.__aiter__()
        await next_event(events, lambda e: raw_type(e) == "session.updated", seen)

        # 1. interrupt while the story streams: truncate, then the SDK's own cancel, both accepted
        emu.config.speed = 2.0
        await session.send_message("Tell me a story")
        await next_event(events, lambda e: e.type == "audio", seen)
        mark = len(seen)
        await session.interrupt()
        await next_event(events, lambda e: raw_type(e) == "conversation.item.truncated", seen, mark)
        done = await next_event(events, lambda e: raw_type(e) == "response.done", seen, mark)
        assert done.data.data["response"]["status"] == "cancelled"
        sent = emu.connections[0].received_types()
        assert sent.index("conversation.item.truncate") < len(sent) - 1 - sent[::-1].index("response.cancel")

        # 2. barge-in: the user speaks while the story streams (the SDK truncates and cancels)
        mark = len(seen)
        await session.send_message("Another story please")
        await next_event(events, lambda e: e.type == "audio", seen, mark)
        audio = synth_audio("what time is it", lead_silence_ms=100, tail_silence_ms=600)
        for i in range(0, len(audio), CHUNK):
            await session.send_audio(audio[i:i + CHUNK])
        await next_event(events, lambda e: raw_type(e) == "input_audio_buffer.speech_started", seen, mark)
        done = await next_event(events, lambda e: raw_type(e) == "response.done", seen, mark)
        assert done.data.data["response"]["status"] == "cancelled"
        sent = emu.connections[0].received_types()
        assert sent.count("conversation.item.truncate") == 2 and sent.count("response.cancel") == 2
        emu.config.speed = 0

        # 3. a handoff: the scripted model calls the handoff tool the agent declared
        mark = len(seen)
        await session.send_message("I have a billing question")
        handoff = await next_event(events, lambda e: e.type == "handoff", seen, mark)
        assert handoff.to_agent.name == "Billing"
        await next_event(events, lambda e: e.type == "history_updated"
                         and "Billing here." in assistant_texts(e.history), seen, mark)
        state = emu.connections[0].session
        assert state is not None and state.state["instructions"] == "You handle invoices."

    errors = [e for e in seen if e.type == "error" or raw_type(e) == "error"]
    assert errors == [], errors
