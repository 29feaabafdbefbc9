"""Prometheus metrics (telemetry/prometheus.py): counters and gauges scraped over real HTTP from
a running uvicorn, with the route's access rule (bearer token), label folding and bounds."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

pytest.importorskip("prometheus_client")

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from openai_realtime_ws.telemetry.prometheus import MAX_LABEL_VALUES, ServiceMetrics

from ..relay.helpers import serve


async def scrape(base: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(base + "/metrics", headers=headers) as r:
        return r.status, await r.text()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(parsed: dict[Any, float], name: str, **labels: str) -> float:
    return parsed[(name, tuple(sorted(labels.items())))]


async def test_counters_and_gauges_over_a_real_scrape() -> None:
    registry = CollectorRegistry()
    relay = ServiceMetrics("relay", registry)
    phone = ServiceMetrics("twilio", registry)  # two services, one registry: one set of families
    app = Starlette(routes=[relay.route()])
    with relay.session():
        relay.to_upstream()
        relay.to_upstream(2)
        relay.to_client(5)
        relay.refused("too_many_sessions")
        relay.refused("Event Not Allowed!")  # folded to a safe label
        relay.limit_hit("audio_minutes")
        phone.call_state("ringing")
        phone.call_state("active", previous="ringing")
        phone.call_state("ringing")
        async with serve(app) as base:  # type: ignore[arg-type]
            status, text = await scrape(base)
    assert status == 200
    p = samples(text)
    assert value(p, "openai_realtime_sessions_open", service="relay") == 1
    assert value(p, "openai_realtime_events_relayed_total", service="relay", direction="to_upstream") == 3
    assert value(p, "openai_realtime_events_relayed_total", service="relay", direction="to_client") == 5
    assert value(p, "openai_realtime_refusals_total", service="relay", reason="too_many_sessions") == 1
    assert value(p, "openai_realtime_refusals_total", service="relay", reason="event_not_allowed") == 1
    assert value(p, "openai_realtime_limits_hit_total", service="relay", limit="audio_minutes") == 1
    assert value(p, "openai_realtime_calls", service="twilio", state="active") == 1
    assert value(p, "openai_realtime_calls", service="twilio", state="ringing") == 1
    phone.call_ended("completed", state="active")
    assert registry.get_sample_value("openai_realtime_calls", {"service": "twilio", "state": "active"}) == 0
    assert registry.get_sample_value(
        "openai_realtime_calls_ended_total", {"service": "twilio", "outcome": "completed"}) == 1
    assert registry.get_sample_value("openai_realtime_sessions_open", {"service": "relay"}) == 0


async def test_bearer_token_guards_the_route() -> None:
    registry = CollectorRegistry()
    metrics = ServiceMetrics("relay", registry)
    app = Starlette(routes=[metrics.route(token="scrape-secret")])
    async with serve(app) as base:  # type: ignore[arg-type]
        assert (await scrape(base))[0] == 401
        status, text = await scrape(base, {"Authorization": "Bearer wrong"})
        assert status == 401 and "openai_realtime" not in text
        status, text = await scrape(base, {"Authorization": "Bearer scrape-secret"})
        assert status == 200 and "openai_realtime_sessions_open" in text


def test_label_values_are_bounded() -> None:
    metrics = ServiceMetrics("relay", CollectorRegistry())
    for n in range(MAX_LABEL_VALUES + 10):
        metrics.refused(f"reason_{n}")
    get = metrics.registry.get_sample_value
    assert get("openai_realtime_refusals_total", {"service": "relay", "reason": "other"}) == 10
    assert get("openai_realtime_refusals_total", {"service": "relay", "reason": "reason_0"}) == 1
