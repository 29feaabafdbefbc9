# pipecat's OpenAI Realtime service on this library's client (`OpenAIRealtimeWSLLMService`), in a
# real pipecat pipeline (context aggregators, the service, a frame collector; PipelineTask and
# PipelineRunner) against the emulator over loopback: a tool call answered in a follow-up spoken
# response, an audio turn through server VAD, a text-only session, and an interruption.
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

pytest.importorskip("pipecat.services.openai.realtime.llm")

from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import (
    EndFrame,
    ErrorFrame,
    Frame,
    FunctionCallResultFrame,
    InputAudioRawFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMRunFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.llm_service import FunctionCallParams
from pipecat.services.openai.realtime import events
from pipecat.workers.runner import WorkerRunner

from openai_realtime_ws.emulator import (
    Drop,
    Emulator,
    EmulatorConfig,
    ScriptedResponder,
    ToolCall,
    synth_audio,
)
from openai_realtime_ws.pipecat import OpenAIRealtimeWSLLMService

KEY = "sk-pipecat-test-0000"
CHUNK = 4800  # 100 ms of PCM16 24 kHz
STORY = ("Once upon a time there was a very long story about the sea and the ships that sailed on "
         "it at night under the stars, and the sailors sang songs about home")

TOOLS = ToolsSchema(standard_tools=[FunctionSchema(
    name="get_weather", description="The weather in a city.",
    properties={"city": {"type": "string"}}, required=["city"])])


def responder() -> ScriptedResponder:
    return (ScriptedResponder()
            .on(r"weather in (\w+)", tools=[ToolCall("get_weather", {"city": r"\1"})], then="It is {output}.")
            .on(r"story", text=STORY))


class Collector(FrameProcessor):
    """Keeps every frame that passes, and lets the test wait for one."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[Frame] = []
        self._changed = asyncio.Condition()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        self.frames.append(frame)
        async with self._changed:
            self._changed.notify_all()
        await self.push_frame(frame, direction)

    def mark(self) -> int:
        return len(self.frames)

    def index(self, frame: Frame) -> int:
        return next(i for i, f in enumerate(self.frames) if f is frame)

    async def wait(self, want: Callable[[Frame], bool], since: int = 0, timeout: float = 15) -> Frame:
        async def run() -> Frame:
            async with self._changed:
                while True:
                    for frame in self.frames[since:]:
                        if want(frame):
                            return frame
                    await self._changed.wait()
        return await asyncio.wait_for(run(), timeout)

    def text(self, kind: type, since: int = 0, until: int | None = None) -> str:
        return "".join(getattr(f, "text", "") for f in self.frames[since:until] if type(f) is kind)


@asynccontextmanager
async def pipeline(emu: Emulator, context: LLMContext, **service: Any) -> AsyncIterator[
        tuple[PipelineWorker, Collector, OpenAIRealtimeWSLLMService]]:
    llm = OpenAIRealtimeWSLLMService(api_key=KEY, base_url=emu.ws_url, **service)
    pair = LLMContextAggregatorPair(context, realtime_service_mode=True)
    collector = Collector()
    task = PipelineWorker(Pipeline([pair.user(), llm, collector, pair.assistant()]),
                          params=PipelineParams(), cancel_on_idle_timeout=False)
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(task)
    run = asyncio.ensure_future(runner.run())
    try:
        yield task, collector, llm
        await task.queue_frame(EndFrame())
        await asyncio.wait_for(run, 15)
    finally:
        if not run.done():
            await task.cancel()
            await run


def ended(since: int) -> Callable[[Frame], bool]:
    return lambda f: isinstance(f, LLMFullResponseEndFrame)


@pytest.mark.realtime_emulator(api_key=KEY, config=EmulatorConfig(speed=0), responder=responder())
async def test_tool_call_then_audio_turn(realtime_emulator: Emulator,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    emu = realtime_emulator
    calls: list[dict[str, Any]] = []

    async def get_weather(params: FunctionCallParams) -> None:
        calls.append(dict(params.arguments))
        await params.result_callback("sunny")

    context = LLMContext([{"role": "user", "content": "What is the weather in Paris?"}], tools=TOOLS)
    async with pipeline(emu, context) as (task, out, llm):
        llm.register_function("get_weather", get_weather)
        await task.queue_frames([LLMRunFrame()])
        # the tool runs, its result goes back, the follow-up answer is spoken
        await out.wait(lambda f: isinstance(f, FunctionCallResultFrame))
        result_at = out.mark()
        await out.wait(lambda f: isinstance(f, LLMFullResponseEndFrame), result_at)
        assert calls == [{"city": "Paris"}]
        assert out.text(TTSTextFrame, result_at) == 'It is "sunny".'  # pipecat sends results as JSON
        assert any(isinstance(f, TTSAudioRawFrame) for f in out.frames[result_at:])

        # an audio turn: server VAD commits it, the answer is about what was heard; the audio
        # takes the client's typed input_audio_buffer.append
        assert llm.rt is not None
        appended: list[str] = []
        buffer = llm.rt.input_audio_buffer

        class Spy:
            def append(self, *, audio: str, event_id: str | None = None) -> None:
                appended.append(audio)
                buffer.append(audio=audio, event_id=event_id)

        monkeypatch.setattr(llm.rt, "input_audio_buffer", Spy())
        mark = out.mark()
        audio = synth_audio("what time is it", lead_silence_ms=200, tail_silence_ms=600)
        for i in range(0, len(audio), CHUNK):
            await task.queue_frame(InputAudioRawFrame(audio=audio[i:i + CHUNK], sample_rate=24000,
                                                      num_channels=1))
        await out.wait(lambda f: isinstance(f, LLMFullResponseEndFrame), mark)
        assert out.text(TTSTextFrame, mark) == "You said: what time is it"
        assert len(appended) == len(range(0, len(audio), CHUNK))
        assert llm.rt.url.startswith(emu.ws_url)

    assert not [f for f in out.frames if isinstance(f, ErrorFrame)]
    received = emu.connections[0].received_types()
    assert "input_audio_buffer.append" in received
    assert received.count("response.create") == 2  # the first turn and the tool's follow-up
    assert len(emu.connections) == 1
    assert emu.connections[0].headers["user-agent"].startswith("openai-realtime-ws/")


@pytest.mark.realtime_emulator(api_key=KEY, config=EmulatorConfig(speed=0), responder=responder())
async def test_text_only_session(realtime_emulator: Emulator) -> None:
    settings = OpenAIRealtimeWSLLMService.Settings(
        session_properties=events.SessionProperties(output_modalities=["text"]))
    context = LLMContext([{"role": "user", "content": "Hello there"}])
    async with pipeline(realtime_emulator, context, settings=settings) as (task, out, _llm):
        await task.queue_frames([LLMRunFrame()])
        await out.wait(lambda f: isinstance(f, LLMFullResponseEndFrame))
        assert out.text(LLMTextFrame) == "You said: Hello there"
        assert not any(isinstance(f, TTSAudioRawFrame) for f in out.frames)
    state = realtime_emulator.connections[0].session
    assert state is not None and state.state["output_modalities"] == ["text"]


@pytest.mark.realtime_emulator(api_key=KEY, config=EmulatorConfig(speed=2.0), responder=responder())
async def test_interruption_truncates_the_spoken_answer(realtime_emulator: Emulator) -> None:
    emu = realtime_emulator
    context = LLMContext([{"role": "user", "content": "Tell me a story"}])
    async with pipeline(emu, context) as (task, out, _llm):
        await task.queue_frames([LLMRunFrame()])
        await out.wait(lambda f: isinstance(f, TTSAudioRawFrame))
        mark = out.mark()
        await task.queue_frame(InterruptionFrame())
        await out.wait(lambda f: isinstance(f, LLMFullResponseEndFrame), mark)
        connection = emu.connections[0]
        truncates = [e for e in connection.received if e["type"] == "conversation.item.truncate"]
        assert len(truncates) == 1
        assert 0 <= truncates[0]["audio_end_ms"] < 10_000
    assert not [f for f in out.frames if isinstance(f, ErrorFrame)]
    # the story was cut: not all of it reached the pipeline as text
    assert out.text(TTSTextFrame) != STORY


@pytest.mark.realtime_emulator(api_key=KEY, config=EmulatorConfig(speed=2.0), responder=responder())
async def test_barge_in_through_server_vad(realtime_emulator: Emulator) -> None:
    emu = realtime_emulator
    context = LLMContext([{"role": "user", "content": "Tell me a story"}])
    async with pipeline(emu, context) as (task, out, _llm):
        await task.queue_frames([LLMRunFrame()])
        await out.wait(lambda f: isinstance(f, TTSAudioRawFrame))
        mark = out.mark()
        speech = synth_audio("stop please", lead_silence_ms=0, tail_silence_ms=700)
        for i in range(0, len(speech), CHUNK):
            await task.queue_frame(InputAudioRawFrame(audio=speech[i:i + CHUNK], sample_rate=24000,
                                                      num_channels=1))
        # the server hears the user and cancels the story; then answers what was said
        cut = await out.wait(lambda f: isinstance(f, InterruptionFrame), mark)
        start = await out.wait(lambda f: isinstance(f, LLMFullResponseStartFrame), out.index(cut))
        answer_at = out.index(start)
        await out.wait(lambda f: isinstance(f, LLMFullResponseEndFrame), answer_at)
        assert out.text(TTSTextFrame, answer_at) == "You said: stop please"
    assert not [f for f in out.frames if isinstance(f, ErrorFrame)]
    assert "conversation.item.truncate" in emu.connections[0].received_types()
    assert STORY not in out.text(TTSTextFrame)


async def speak(task: PipelineWorker, text: str) -> None:
    audio = synth_audio(text, lead_silence_ms=200, tail_silence_ms=600)
    for i in range(0, len(audio), CHUNK):
        await task.queue_frame(InputAudioRawFrame(audio=audio[i:i + CHUNK], sample_rate=24000,
                                                  num_channels=1))


@pytest.mark.realtime_emulator(api_key=KEY, config=EmulatorConfig(speed=0), responder=responder())
async def test_reconnect_between_turns(realtime_emulator: Emulator) -> None:
    emu = realtime_emulator
    emu.faults.next_connection(Drop(after_type="rate_limits.updated"))  # after the first answer
    context = LLMContext([{"role": "user", "content": "Hello there"}])
    async with pipeline(emu, context, reconnect=True) as (task, out, llm):
        await task.queue_frames([LLMRunFrame()])
        await out.wait(lambda f: isinstance(f, LLMFullResponseEndFrame))
        mark = out.mark()
        await speak(task, "what time is it")  # (sent while reconnecting: queued, then sent)
        await out.wait(lambda f: isinstance(f, LLMFullResponseEndFrame), mark)
        assert out.text(TTSTextFrame, mark) == "You said: what time is it"
        assert llm.rt is not None and llm.rt.reconnects == 1
    assert not [f for f in out.frames if isinstance(f, ErrorFrame)]
    assert len(emu.connections) == 2
    restored = [e for e in emu.connections[1].received if e["type"] == "conversation.item.create"]
    texts = [c.get("text") for e in restored for c in e["item"].get("content", [])]
    assert "Hello there" in texts  # the conversation came back before the next turn


@pytest.mark.realtime_emulator(api_key=KEY, config=EmulatorConfig(speed=2.0), responder=responder())
async def test_reconnect_in_the_middle_of_an_answer(realtime_emulator: Emulator) -> None:
    emu = realtime_emulator
    emu.faults.next_connection(Drop(after_type="response.output_audio.delta", after=2))
    context = LLMContext([{"role": "user", "content": "Tell me a story"}])
    async with pipeline(emu, context, reconnect=True) as (task, out, llm):
        await task.queue_frames([LLMRunFrame()])
        # the cut answer ends (a non-fatal error frame says why), the next turn works
        await out.wait(lambda f: isinstance(f, LLMFullResponseEndFrame))
        emu.config.speed = 0
        mark = out.mark()
        await speak(task, "what time is it")
        await out.wait(lambda f: isinstance(f, LLMFullResponseEndFrame), mark)
        assert out.text(TTSTextFrame, mark) == "You said: what time is it"
        assert llm.rt is not None and llm.rt.reconnects == 1
    assert len(emu.connections) == 2
