"""A Twilio call traced end to end: a real call (tests/telephony's Twilio caller over a real
socket, signed) through the bridge with telemetry= and metrics=; the call's session span carries
the CallSid and nothing secret, and /metrics is scraped over HTTP from the running bridge."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

import aiohttp
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from openai_realtime_ws.emulator import Emulator, EmulatorConfig
from openai_realtime_ws.telemetry.otel import RealtimeTelemetry
from openai_realtime_ws.telemetry.prometheus import ServiceMetrics
from openai_realtime_ws.telephony import TwilioBridge

from ..telephony.test_twilio_security import (
    KEY,
    PUBLIC,
    TOKEN,
    _connect,
    _signed_headers,
)
from ..telephony.twilio_caller import TwilioCaller
from ..telephony.twilio_caller import serve as _serve
from ..telephony.twilio_caller import until as _until


async def test_a_twilio_call_is_traced_with_its_call_sid_and_scraped() -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    registry = CollectorRegistry()
    async with Emulator(config=EmulatorConfig(speed=4.0, audio_chunk_ms=100)) as emu:
        bridge = TwilioBridge(_connect(emu), auth_token=TOKEN, public_url=PUBLIC,
                              metrics=ServiceMetrics("twilio", registry),
                              telemetry=RealtimeTelemetry(tracer_provider=provider))
        async for server in _serve(bridge):
            async with TwilioCaller(server.ws_url, headers=_signed_headers()) as caller:
                await _until(lambda: len(caller.played) >= 400, caller.played_changed)
                call_sid = caller.call_sid
            await (await emu.wait_for_connection(0)).wait_closed()
            async with aiohttp.ClientSession() as http, http.get(
                    server.ws_url.replace("ws://", "http://").replace("/media-stream", "/metrics")) as r:
                assert r.status == 200
                text = await r.text()
    assert 'openai_realtime_calls_ended_total{outcome="completed",service="twilio"} 1.0' in text
    assert 'openai_realtime_sessions_open{service="twilio"} 0.0' in text
    (session,) = [s for s in spans.get_finished_spans() if s.name == "openai_realtime.session"]
    attrs: dict[str, Any] = dict(session.attributes or {})
    assert attrs["openai_realtime.call.id"] == call_sid
    names = {s.name for s in spans.get_finished_spans()}
    assert "openai_realtime.close" in names
    # the greeting's response: the caller hung up while it was spoken, so it ended with the call
    (greeting,) = [s for s in spans.get_finished_spans() if s.name == "chat gpt-realtime"]
    assert dict(greeting.attributes or {}).get("openai_realtime.ended_by") in ("closed", None)
    assert greeting.parent is not None and greeting.parent.span_id == session.context.span_id
    dump = repr([dict(s.attributes or {}) for s in spans.get_finished_spans()])
    assert TOKEN not in dump and KEY not in dump and "example.test" not in dump
