"""The relay's /metrics over real HTTP while a browser session runs through it (uvicorn, a
websockets client, the real emulator): sessions open, events each way, refusals by reason,
limits hit; and its upstream session's trace with the principal."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

pytest.importorskip("prometheus_client")
pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from openai_realtime_ws.emulator import Emulator, EmulatorConfig
from openai_realtime_ws.relay import Limits, RealtimeRelay
from openai_realtime_ws.telemetry.otel import RealtimeTelemetry
from openai_realtime_ws.telemetry.prometheus import ServiceMetrics

from ..relay.helpers import TEXT_RESPONSE, USER_TEXT, next_of, send, serve, upstream_for, ws_url
from .test_prometheus import samples, value


async def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with aiohttp.ClientSession() as http, http.get(base + "/metrics") as r:
        assert r.status == 200
        return samples(await r.text())


@pytest.mark.realtime_emulator(config=EmulatorConfig(speed=0))
async def test_relay_metrics_scraped_while_a_browser_talks(realtime_emulator: Emulator) -> None:
    metrics = ServiceMetrics("relay", CollectorRegistry())
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    relay = RealtimeRelay(upstream=upstream_for(realtime_emulator), authenticate=lambda conn: "bob",
                          limits=Limits(max_sessions=1, events_per_second=3), metrics=metrics,
                          telemetry=RealtimeTelemetry(tracer_provider=provider))
    async with serve(relay) as base:
        async with connect(ws_url(base)) as ws:
            await next_of(ws, "session.created")
            await send(ws, USER_TEXT)
            await send(ws, TEXT_RESPONSE)
            await next_of(ws, "response.done")
            during = await scrape(base)
            with pytest.raises(InvalidStatus):  # a second session for bob: 429
                async with connect(ws_url(base)):
                    pass
            await send(ws, {"type": "not.an.event"})
            assert (await next_of(ws, "error"))["error"]["code"] == "relay_event_not_allowed"
            for _ in range(6):
                await send(ws, {"type": "input_audio_buffer.clear"})
            assert (await next_of(ws, "error"))["error"]["code"] == "relay_rate_limited"
        await realtime_emulator.connections[0].wait_closed()
        # the relay counts the session closed once its run() returns (after the upstream closed)
        open_now = {"service": "relay"}
        for _ in range(500):
            if metrics.registry.get_sample_value("openai_realtime_sessions_open", open_now) == 0:
                break
            await asyncio.sleep(0.01)
        after = await scrape(base)
    assert value(during, "openai_realtime_sessions_open", service="relay") == 1
    assert value(during, "openai_realtime_events_relayed_total", service="relay", direction="to_upstream") == 2
    to_client = value(during, "openai_realtime_events_relayed_total", service="relay", direction="to_client")
    assert to_client >= 5  # session.created ... response.done
    assert value(after, "openai_realtime_sessions_open", service="relay") == 0
    assert value(after, "openai_realtime_refusals_total", service="relay", reason="too_many_sessions") == 1
    assert value(after, "openai_realtime_limits_hit_total", service="relay", limit="max_sessions") == 1
    assert value(after, "openai_realtime_refusals_total", service="relay", reason="relay_event_not_allowed") == 1
    assert value(after, "openai_realtime_limits_hit_total", service="relay", limit="relay_rate_limited") >= 1
    # the upstream session's trace carries the principal, never the server's key
    (session,) = [s for s in spans.get_finished_spans() if s.name == "openai_realtime.session"]
    assert dict(session.attributes or {})["openai_realtime.relay.principal"] == "bob"
    assert any(s.name == "chat gpt-realtime" for s in spans.get_finished_spans())
    assert "sk-test" not in repr([dict(s.attributes or {}) for s in spans.get_finished_spans()])
