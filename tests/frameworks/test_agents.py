# openai-agents' RealtimeRunner on this library's client (`RealtimeWSModel`), against the emulator
# over loopback: text, audio with server VAD, a function tool, a handoff, an output guardrail,
# barge-in, an explicit interrupt, and reconnects (between turns and in the middle of an answer)
# that the runner survives with its conversation.
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

pytest.importorskip("agents.realtime")

from agents import GuardrailFunctionOutput, OutputGuardrail, RunContextWrapper, function_tool
from agents.realtime import RealtimeAgent, RealtimeRunner, RealtimeSession

from openai_realtime_ws.agents import RealtimeWSModel
from openai_realtime_ws.emulator import (
    Drop,
    Emulator,
    EmulatorConfig,
    ScriptedResponder,
    ToolCall,
    synth_audio,
)

KEY = "sk-agents-ws-0000"
CHUNK = 4800  # 100 ms of PCM16 24 kHz
STORY = ("Once upon a time there was a very long story about the sea and the ships that sailed on "
         "it at night under the stars, and the sailors sang songs about home")


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def responder() -> ScriptedResponder:
    return (ScriptedResponder()
            .on(r"weather in (\w+)", tools=[ToolCall("get_weather", {"city": r"\1"})], then="It is {output}.")
            .on(r"billing", tools=[ToolCall("transfer_to_billing", {})], then="Billing here, how can I help?")
            .on(r"password", text="The secret password is swordfish, never tell anyone about it please")
            .on(r"story", text=STORY))


class Events:
    """A session's events as they arrive, searchable from a mark."""

    def __init__(self, session: RealtimeSession) -> None:
        self.iter: AsyncIterator[Any] = session.__aiter__()
        self.seen: list[Any] = []

    def mark(self) -> int:
        return len(self.seen)

    async def next(self, want: Callable[[Any], bool], since: int | None = None,
                   timeout: float = 15.0) -> Any:
        if since is not None:
            for ev in self.seen[since:]:
                if want(ev):
                    return ev

        async def run() -> Any:
            async for ev in self.iter:
                self.seen.append(ev)
                if want(ev):
                    return ev
            raise AssertionError("session ended")

        return await asyncio.wait_for(run(), timeout)

    def errors(self) -> list[Any]:
        return [e for e in self.seen if e.type == "error"]


def raw(type: str) -> Callable[[Any], bool]:
    return lambda e: (e.type == "raw_model_event" and getattr(e.data, "type", None) == "raw_server_event"
                      and e.data.data.get("type") == type)


def said(text: str) -> Callable[[Any], bool]:
    def want(e: Any) -> bool:
        if e.type != "history_updated":
            return False
        for item in e.history:
            if getattr(item, "type", None) == "message" and getattr(item, "role", None) == "assistant":
                for part in item.content:
                    if text in (getattr(part, "transcript", None) or getattr(part, "text", None) or ""):
                        return True
        return False
    return want


def agent(**kwargs: Any) -> RealtimeAgent[Any]:
    return RealtimeAgent(name="Assistant", instructions="Answer briefly.", tools=[get_weather], **kwargs)


async def start(emu: Emulator, agent_: RealtimeAgent[Any], config: Any = None,
                **model_options: Any) -> tuple[RealtimeSession, RealtimeWSModel]:
    model = RealtimeWSModel(api_key=KEY, base_url=emu.base_url, **model_options)
    runner = RealtimeRunner(agent_, model=model, config=config)
    return await runner.run(), model


def ours(emu: Emulator) -> bool:
    """Every connection the emulator saw was opened by this library (not by websockets)."""
    return all(c.headers.get("user-agent", "").startswith("openai-realtime-ws/") for c in emu.connections)


@pytest.mark.realtime_emulator(api_key=KEY, config=EmulatorConfig(speed=0), responder=responder())
async def test_text_audio_tool_and_explicit_interrupt(realtime_emulator: Emulator,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    emu = realtime_emulator
    session, model = await start(emu, agent(), config={"model_settings": {"voice": "coral"}})
    async with session:
        ev = Events(session)
        await ev.next(raw("session.updated"))
        state = emu.connections[0].session
        assert state is not None
        assert state.state["instructions"] == "Answer briefly."
        assert [t["name"] for t in state.state["tools"]] == ["get_weather"]
        assert state.state["audio"]["output"]["voice"] == "coral"

        # 1. text in, spoken answer out
        mark = ev.mark()
        await session.send_message("Hello there")
        await ev.next(said("You said: Hello there"), mark)
        assert any(e.type == "audio" for e in ev.seen[mark:])

        # 2. audio in (server VAD commits the turn), through the client's audio path
        assert model.rt is not None
        chunks: list[int] = []
        send_audio = model.rt.send_audio

        def spy(pcm: bytes, **kwargs: Any) -> None:
            chunks.append(len(pcm))
            send_audio(pcm, **kwargs)

        monkeypatch.setattr(model.rt, "send_audio", spy)
        mark = ev.mark()
        audio = synth_audio("what time is it", lead_silence_ms=200, tail_silence_ms=600)
        for i in range(0, len(audio), CHUNK):
            await session.send_audio(audio[i:i + CHUNK])
        await ev.next(said("You said: what time is it"), mark)
        assert sum(chunks) == len(audio)

        # 3. a function tool, run by the agent, answered in a follow-up response
        mark = ev.mark()
        await session.send_message("What is the weather in Oslo?")
        tool_end = await ev.next(lambda e: e.type == "tool_end", mark)
        assert tool_end.output == "sunny in Oslo"
        await ev.next(said("It is sunny in Oslo."), mark)

        # 4. explicit interrupt while the answer still streams
        emu.config.speed = 2.0
        mark = ev.mark()
        await session.send_message("Tell me a story")
        await ev.next(lambda e: e.type == "audio", mark)
        mark = ev.mark()
        await session.interrupt()
        await ev.next(raw("conversation.item.truncated"), mark)
        await ev.next(lambda e: e.type == "agent_end", mark)

    assert ev.errors() == []
    sent = emu.connections[0].received_types()
    assert "conversation.item.truncate" in sent
    assert sent.count("response.create") >= 4  # three turns and the tool's follow-up
    assert len(emu.connections) == 1 and ours(emu) and model.reconnects == 0


@pytest.mark.realtime_emulator(api_key=KEY, config=EmulatorConfig(speed=0), responder=responder())
async def test_handoff(realtime_emulator: Emulator) -> None:
    billing: RealtimeAgent[Any] = RealtimeAgent(name="billing", instructions="You handle billing.")
    session, model = await start(realtime_emulator, agent(handoffs=[billing]))
    async with session:
        ev = Events(session)
        await ev.next(raw("session.updated"))
        await session.send_message("I have a billing question")
        handoff = await ev.next(lambda e: e.type == "handoff")
        assert handoff.from_agent.name == "Assistant" and handoff.to_agent.name == "billing"
        await ev.next(said("Billing here, how can I help?"))
    assert ev.errors() == []
    state = realtime_emulator.connections[0].session
    assert state is not None and state.state["instructions"] == "You handle billing."
    assert ours(realtime_emulator) and model.reconnects == 0


@pytest.mark.realtime_emulator(api_key=KEY, config=EmulatorConfig(speed=2.0), responder=responder())
async def test_output_guardrail_trips_and_cuts_the_answer(realtime_emulator: Emulator) -> None:
    def no_secrets(ctx: RunContextWrapper[Any], agent: Any, output: str) -> GuardrailFunctionOutput:
        return GuardrailFunctionOutput(output_info=None, tripwire_triggered="swordfish" in output)

    guard: OutputGuardrail[Any] = OutputGuardrail(guardrail_function=no_secrets, name="no_secrets")
    session, model = await start(realtime_emulator, agent(), config={
        "output_guardrails": [guard], "guardrails_settings": {"debounce_text_length": 20}})
    async with session:
        ev = Events(session)
        await ev.next(raw("session.updated"))
        await session.send_message("What is the password?")
        tripped = await ev.next(lambda e: e.type == "guardrail_tripped")
        assert "swordfish" in tripped.message
        await ev.next(raw("response.done"))
    assert ev.errors() == []
    sent = realtime_emulator.connections[0].received_types()
    assert "response.cancel" in sent or "conversation.item.truncate" in sent
    history = [e for e in ev.seen if e.type == "history_updated"][-1].history
    spoken = " ".join(getattr(p, "transcript", None) or "" for i in history
                      if getattr(i, "role", None) == "assistant" for p in i.content)
    assert "anyone about it please" not in spoken  # the answer was cut
    assert ours(realtime_emulator) and model.reconnects == 0


@pytest.mark.realtime_emulator(api_key=KEY, config=EmulatorConfig(speed=2.0), responder=responder())
async def test_barge_in_interrupts_the_answer(realtime_emulator: Emulator) -> None:
    session, model = await start(realtime_emulator, agent())
    async with session:
        ev = Events(session)
        await ev.next(raw("session.updated"))
        await session.send_message("Tell me a story")
        await ev.next(lambda e: e.type == "audio")
        mark = ev.mark()
        speech = synth_audio("stop please", lead_silence_ms=0, tail_silence_ms=700)
        for i in range(0, len(speech), CHUNK):
            await session.send_audio(speech[i:i + CHUNK])
        await ev.next(lambda e: e.type == "audio_interrupted", mark)
        await ev.next(said("You said: stop please"), mark)
    assert ev.errors() == []
    done = [e.data.data for e in ev.seen if raw("response.done")(e)]
    assert done[0]["response"]["status"] == "cancelled"
    assert ours(realtime_emulator) and model.reconnects == 0


@pytest.mark.realtime_emulator(api_key=KEY, config=EmulatorConfig(speed=0), responder=responder())
async def test_reconnect_between_turns_keeps_the_conversation(realtime_emulator: Emulator) -> None:
    emu = realtime_emulator
    # the first connection drops (TCP abort) right after the first answer is complete
    emu.faults.next_connection(Drop(after_type="rate_limits.updated"))
    session, model = await start(emu, agent())
    async with session:
        ev = Events(session)
        await ev.next(raw("session.updated"))
        await session.send_message("Hello there")
        await ev.next(said("You said: Hello there"))
        await ev.next(lambda e: e.type == "agent_end")
        mark = ev.mark()  # (sent while reconnecting or after: queued, then sent after the restore)
        await session.send_message("What is the weather in Oslo?")
        await ev.next(said("It is sunny in Oslo."), mark)
    assert ev.errors() == []
    assert len(emu.connections) == 2 and ours(emu) and model.reconnects == 1
    second = emu.connections[1]
    assert second.session is not None
    assert second.session.state["instructions"] == "Answer briefly."  # the session was restored
    restored = [e for e in second.received if e["type"] == "conversation.item.create"]
    texts = [c.get("text") for e in restored for c in e["item"].get("content", [])]
    assert "Hello there" in texts  # ... and the conversation, before the next turn


@pytest.mark.realtime_emulator(api_key=KEY, config=EmulatorConfig(speed=2.0), responder=responder())
async def test_reconnect_in_the_middle_of_an_answer(realtime_emulator: Emulator) -> None:
    emu = realtime_emulator
    emu.faults.next_connection(Drop(after_type="response.output_audio.delta", after=2))
    session, model = await start(emu, agent())
    async with session:
        ev = Events(session)
        await ev.next(raw("session.updated"))
        await session.send_message("Tell me a story")
        # the cut answer ends (as failed), so the runner's turn ends and the next one can start
        done = await ev.next(raw("response.done"))
        assert done.data.data["response"]["status"] == "failed"
        await ev.next(lambda e: e.type == "agent_end")
        emu.config.speed = 0
        mark = ev.mark()
        await session.send_message("Hello again")
        await ev.next(said("You said: Hello again"), mark)
    assert ev.errors() == []
    assert len(emu.connections) == 2 and ours(emu) and model.reconnects == 1


@pytest.mark.realtime_emulator(config=EmulatorConfig(speed=0), responder=responder())
async def test_frames_reach_the_model_in_order_through_a_full_buffer(realtime_emulator: Emulator) -> None:
    from openai_realtime_ws import AsyncOpenAIRealtimeWS
    from openai_realtime_ws._framesocket import FrameSocket

    rt = await AsyncOpenAIRealtimeWS.create(base_url=realtime_emulator.base_url, api_key="sk-x",
                                            model="gpt-realtime")
    sock = FrameSocket(rt, limit=4)  # a long text answer is ~40 frames: the handler makes reading wait
    rt.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})
    rt.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": "tell me a story"}]}})
    rt.send({"type": "response.create"})

    types: list[str] = []
    deltas: list[str] = []
    async for text in sock:
        event = json.loads(text)
        types.append(event["type"])
        if event["type"] == "response.output_text.delta":
            deltas.append(event["delta"])
        if event["type"] == "response.done":
            break
    assert types[0] == "session.created"
    assert "".join(deltas) == STORY
    await sock.close()
    rest = [json.loads(text)["type"] async for text in sock]  # what was still queued, then the end
    assert rest == ["rate_limits.updated"]


@pytest.mark.realtime_emulator(api_key=KEY, config=EmulatorConfig(speed=0), responder=responder())
async def test_model_config_headers_carry_the_only_credential(realtime_emulator: Emulator,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # openai-agents' Azure form: model_config url + headers={"api-key": ...}; the OpenAI key in the
    # environment must not travel with it
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-must-not-leak-0000")
    emu = realtime_emulator
    runner = RealtimeRunner(agent(), model=RealtimeWSModel())
    session = await runner.run(model_config={
        "url": f"{emu.origin.replace('http', 'ws', 1)}/openai/v1/realtime?model=my-deployment",
        "headers": {"api-key": KEY}})
    async with session:
        ev = Events(session)
        await ev.next(raw("session.updated"))
        await session.send_message("Hello there")
        await ev.next(said("You said: Hello there"))
    record = emu.connections[0]
    assert record.path == "/openai/v1/realtime" and record.headers["api-key"] == KEY
    assert "authorization" not in record.headers
    assert ev.errors() == []


@pytest.mark.realtime_emulator(config=EmulatorConfig(speed=0), responder=responder())
async def test_close_is_not_held_up_by_a_reader_that_stopped_reading(realtime_emulator: Emulator) -> None:
    from openai_realtime_ws import AsyncOpenAIRealtimeWS
    from openai_realtime_ws._framesocket import FrameSocket

    rt = await AsyncOpenAIRealtimeWS.create(base_url=realtime_emulator.base_url, api_key="sk-x",
                                            model="gpt-realtime")
    full = asyncio.Event()
    frames: list[str] = []

    def count(text: str) -> None:  # runs just before the FrameSocket's handler, frame by frame
        frames.append(text)
        if len(frames) == 2:
            full.set()

    rt.on("frame", count)
    sock = FrameSocket(rt, limit=2)  # the 2nd frame fills it: its handler then waits for room
    rt.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": "tell me a story"}]}})
    rt.send({"type": "response.create"})
    await asyncio.wait_for(full.wait(), 10)
    await asyncio.wait_for(sock.close(), 5)  # nobody reads; the close still completes
    assert rt.closed
