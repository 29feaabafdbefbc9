"""OpenTelemetry over a real conversation against the emulator: a tool call, a reconnect (1012),
a spoken barge-in with VoiceSession, then the user's spoken turn. Spans and metrics are read back
with the SDK's InMemorySpanExporter and InMemoryMetricReader."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from openai_realtime_ws import AsyncOpenAIRealtimeWS
from openai_realtime_ws.audio import PacedSink
from openai_realtime_ws.core.reconnect import ReconnectPolicy
from openai_realtime_ws.emulator import (
    CloseWith,
    Emulator,
    EmulatorConfig,
    ScriptedResponder,
    ToolCall,
    synth_audio,
)
from openai_realtime_ws.telemetry.otel import RealtimeTelemetry
from openai_realtime_ws.voice import VoiceEvent, VoiceSession

KEY = "sk-otel-secret-0000000000"
FRAME = 960  # 20 ms of PCM16 24 kHz


class ScriptedMic:
    """Silence, then (once ``speak`` is set) the given speech, then silence: 20 ms a frame."""

    def __init__(self, speech: bytes) -> None:
        self.speech = speech
        self.speak = asyncio.Event()
        self.done = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        start, n, pending = loop.time(), 0, b""
        while not self.done:
            n += 1
            delay = start + n * 0.02 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.speak.is_set() and self.speech:
                pending, self.speech = pending + self.speech, b""
            if pending:
                frame, pending = pending[:FRAME], pending[FRAME:]
                yield frame.ljust(FRAME, b"\0")
            else:
                yield bytes(FRAME)


class Telemetry:
    def __init__(self, sampler: Any = None) -> None:
        self.spans = InMemorySpanExporter()
        tracer_provider = TracerProvider(sampler=sampler)
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.tel = RealtimeTelemetry(
            tracer_provider=tracer_provider,
            meter_provider=MeterProvider(metric_readers=[self.reader]),
            attributes={"service.instance": "test"},
        )

    def named(self, prefix: str) -> list[ReadableSpan]:
        return [s for s in self.spans.get_finished_spans() if s.name.startswith(prefix)]

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        assert data is not None
        return [p for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
                if m.name == name for p in m.data.data_points]


def responder() -> ScriptedResponder:
    r = ScriptedResponder()
    r.on(r"weather in (\w+)", tools=[ToolCall("get_weather", {"city": r"\1"})], then="Sunny: {output}")
    return r


def A(obj: Any) -> dict[str, Any]:
    """A span's or a point's attributes, as a plain dict."""
    return dict(obj.attributes or {})


def tree(spans: Any) -> str:
    """The spans as an indented timeline (ms from the session's start), for docs/observability.md."""
    spans = sorted(spans, key=lambda s: s.start_time)
    t0 = spans[0].start_time
    keys = ("gen_ai.response.id", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
            "gen_ai.tool.name", "openai_realtime.close_code", "openai_realtime.turn.latency_ms",
            "openai_realtime.interruption.heard_ms", "openai_realtime.interruption.received_ms",
            "gen_ai.request.model", "openai_realtime.cost.usd")
    lines = []
    for s in spans:
        indent = "" if s.parent is None else "  "
        shown = ", ".join(f"{k.split('.')[-1]}={A(s)[k]:.6g}" if isinstance(A(s)[k], float)
                          else f"{k.split('.')[-1]}={A(s)[k]}" for k in keys if k in A(s))
        lines.append(f"{indent}{(s.start_time - t0) / 1e6:8.1f} ms +{(s.end_time - s.start_time) / 1e6:7.1f} ms"
                     f"  {s.name}  {shown}")
    return "\n".join(lines)


async def until(predicate: Any, timeout: float = 15) -> None:
    for _ in range(int(timeout * 100)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_a_conversation_with_tool_call_reconnect_and_barge_in_is_traced() -> None:
    t = Telemetry()
    config = EmulatorConfig(speed=4.0, audio_chunk_ms=100)
    async with Emulator(config=config, responder=responder(), api_key=KEY) as emu:
        # the first socket closes with 1012 after its 2nd response (the tool call's answer)
        emu.faults.next_connection(CloseWith(code=1012, after_type="response.done", after=2))
        session = await t.tel.connect(
            AsyncOpenAIRealtimeWS.create(
                base_url=emu.base_url, api_key=KEY, model="gpt-realtime",
                reconnect=ReconnectPolicy(initial_delay=0.02, max_delay=0.1, jitter=False),
            ),
            attributes={"openai_realtime.relay.principal": "user-42"},
        )
        rt = session.rt

        @rt.tool(description="Weather for a city",
                 parameters={"type": "object", "properties": {"city": {"type": "string"}}})
        async def get_weather(city: str) -> dict[str, Any]:
            return {"city": city, "temp_c": 21}

        done: list[Any] = []
        reconnected: list[Any] = []
        rt.on("response.done", done.append)
        rt.on("reconnected", reconnected.append)
        rt.update_tools()
        await rt.wait_for("session.updated", timeout=5)
        rt.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
                 "content": [{"type": "input_text", "text": "What is the weather in Paris?"}]}})
        rt.send({"type": "response.create", "response": {"output_modalities": ["audio"]}})
        await until(lambda: len(done) == 2 and reconnected)
        # an API error (handled by the application: telemetry only counts it)
        errors: list[Any] = []
        rt.on("error", errors.append)
        rt.send({"type": "conversation.item.delete", "item_id": "item_does_not_exist"})
        await until(lambda: bool(errors))

        # a spoken barge-in, then the user's turn
        mic = ScriptedMic(synth_audio("stop please", "audio/pcm", tail_silence_ms=600))
        sink = PacedSink(record=True)
        events: list[VoiceEvent] = []

        def on_event(ev: VoiceEvent) -> None:
            events.append(ev)
            session.voice_event(ev)

        async with VoiceSession(rt, source=mic, sink=sink, on_event=on_event) as voice:
            await rt.wait_for("session.updated", timeout=5)
            voice.say("tell me a very long story about the sea and the ships that sail on it at night")
            await until(lambda: len(sink.played_audio) >= 600 * 48)
            mic.speak.set()
            await until(lambda: any(e.type == "interrupted" for e in events))
            await until(lambda: any(e.type == "turn" for e in events)
                        and any(e.type == "response_done" for e in events[-3:]))
            mic.done = True
        await session.close()

    spans = t.spans.get_finished_spans()
    print("\n" + tree(spans))
    (root,) = t.named("openai_realtime.session")
    assert all(s.context.trace_id == root.context.trace_id for s in spans)
    assert all(s.parent is not None and s.parent.span_id == root.context.span_id for s in spans if s is not root)
    assert A(root)["gen_ai.provider.name"] == "openai"
    assert A(root)["gen_ai.request.model"] == "gpt-realtime"
    assert A(root)["openai_realtime.relay.principal"] == "user-42"
    assert A(root)["service.instance"] == "test"
    assert A(root)["gen_ai.usage.output_tokens"] == session.usage.total.output_tokens > 0
    assert A(root)["openai_realtime.cost.usd"] == pytest.approx(session.usage.estimate().usd)  # type: ignore[union-attr]
    assert len(t.named("openai_realtime.connect")) == 1 and len(t.named("openai_realtime.close")) == 1
    (rec,) = t.named("openai_realtime.reconnect")
    assert A(rec)["openai_realtime.close_code"] == 1012
    # every response: a span with its usage, matching response.done
    responses = t.named("chat gpt-realtime")
    assert {A(s)["gen_ai.response.id"] for s in responses} >= {d.response.id for d in done[:2]}
    first = next(s for s in responses if A(s)["gen_ai.response.id"] == done[0].response.id)
    assert A(first)["gen_ai.usage.input_tokens"] == done[0].response.usage.input_tokens
    assert A(first)["gen_ai.response.finish_reasons"] == ("completed",)
    # the tool call: arguments complete -> its output confirmed by the server
    (tool,) = t.named("execute_tool get_weather")
    assert A(tool)["gen_ai.tool.call.id"] and A(tool)["gen_ai.operation.name"] == "execute_tool"
    assert first.start_time is not None and tool.start_time is not None and tool.end_time is not None
    assert first.start_time <= tool.start_time <= tool.end_time
    # barge-in and turn, from the VoiceSession's events
    (stop,) = t.named("openai_realtime.interruption")
    heard = A(stop)["openai_realtime.interruption.heard_ms"]
    received = A(stop)["openai_realtime.interruption.received_ms"]
    assert 600 <= heard <= received
    truncates = [e for e in emu.connections[1].received if e["type"] == "conversation.item.truncate"]
    assert truncates[0]["audio_end_ms"] == heard
    turns = t.named("openai_realtime.turn")
    assert turns and all(A(s)["openai_realtime.turn.latency_ms"] > 0 for s in turns)
    # metrics
    assert sum(p.count for p in t.points("openai_realtime.turn.latency")) == len(turns)
    assert sum(p.count for p in t.points("gen_ai.client.operation.time_to_first_chunk")) >= 3
    assert sum(p.value for p in t.points("openai_realtime.interruptions")) == 1
    (error_point,) = t.points("openai_realtime.errors")
    assert error_point.value == 1 and A(error_point)["error.type"] == errors[0].code
    assert [e.name for e in root.events] == ["error"]
    (reconnects,) = t.points("openai_realtime.reconnects")
    assert reconnects.value == 1 and A(reconnects)["openai_realtime.reconnect.kind"] == "reconnect"
    tokens = {(A(p)["gen_ai.token.type"], A(p)["openai_realtime.modality"],
               A(p)["openai_realtime.cached"]): p.value for p in t.points("openai_realtime.tokens")}
    assert tokens[("output", "audio", False)] == session.usage.total.output_audio
    # nothing secret anywhere
    dump = repr([(s.name, dict(s.attributes or {}), [dict(e.attributes or {}) for e in s.events]) for s in spans])
    assert KEY not in dump and "sk-" not in dump and "ws://" not in dump


def test_the_blocking_client_is_instrumented_too() -> None:
    from openai_realtime_ws import OpenAIRealtimeWS
    from openai_realtime_ws.emulator import EmulatorThread

    t = Telemetry()
    with EmulatorThread(config=EmulatorConfig(speed=0)) as emu:
        rt = OpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="gpt-realtime-1.5")
        session = t.tel.instrument(rt)
        rt.send({"type": "response.create", "response": {"output_modalities": ["audio"]}})
        done = rt.wait_for("response.done", timeout=10)
        with session.closing():
            rt.close()
    (root,) = t.named("openai_realtime.session")
    (chat,) = t.named("chat gpt-realtime-1.5")
    assert A(chat)["gen_ai.response.id"] == done.response.id
    assert done.response.usage is not None
    assert A(chat)["gen_ai.usage.output_tokens"] == done.response.usage.output_tokens
    assert A(root)["gen_ai.request.model"] == "gpt-realtime-1.5" and t.named("openai_realtime.close")
    (point,) = t.points("gen_ai.client.operation.time_to_first_chunk")
    assert point.count == 1


def test_an_unsampled_session_builds_no_spans_but_keeps_its_metrics() -> None:
    # a session span the sampler dropped: no child span is started (no attributes built), the
    # metrics and the usage are the same as for a recorded session
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    from openai_realtime_ws import OpenAIRealtimeWS
    from openai_realtime_ws.emulator import EmulatorThread

    t = Telemetry(sampler=ALWAYS_OFF)
    started: list[str] = []
    real_start = t.tel.tracer.start_span

    def start_span(name: str, *args: Any, **kwargs: Any) -> Any:
        started.append(name)
        return real_start(name, *args, **kwargs)

    t.tel.tracer.start_span = start_span  # type: ignore[method-assign]
    with EmulatorThread(config=EmulatorConfig(speed=0)) as emu:
        rt = OpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="gpt-realtime")
        session = t.tel.instrument(rt)
        assert not session.span.is_recording()
        for _ in range(2):
            rt.send({"type": "response.create", "response": {"output_modalities": ["audio"]}})
            rt.wait_for("response.done", timeout=10)
        with session.closing():
            rt.close()
    assert t.spans.get_finished_spans() == ()
    assert started == ["openai_realtime.session"]  # no response span was even started
    assert sum(p.count for p in t.points("gen_ai.client.operation.time_to_first_chunk")) == 2
    assert sum(p.count for p in t.points("gen_ai.client.operation.duration")) == 2
    tokens = {(A(p)["gen_ai.token.type"], A(p)["openai_realtime.modality"],
               A(p)["openai_realtime.cached"]): p.value for p in t.points("openai_realtime.tokens")}
    assert session.usage.response_count == 2
    assert tokens[("output", "audio", False)] == session.usage.total.output_audio > 0
    assert sum(tokens.values()) == session.usage.total.total_tokens
