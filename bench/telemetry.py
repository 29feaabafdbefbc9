"""Telemetry overhead: client CPU per received event with telemetry off, with usage counting,
with OpenTelemetry on (two span processors), with the trace not sampled, and the OpenTelemetry
SDK's own calls alone (the floor), side by side in one run.

    .venv/bin/python bench/telemetry.py              # 40_000 events x 9 repeats, plain ws (~1 min)
    .venv/bin/python bench/telemetry.py --quick      # 4_000 events x 3, seconds

The workload and the server are bench/recv_flood.py's (the emulator in a separate process
replays 200-event audio responses: response.created, 141 audio deltas, transcript deltas,
response.done with usage). The clients are recv_flood's ``ours: handler`` (one counting handler
on audio deltas) and that same client with:

* ``+ usage``: ``UsageTotals().attach(rt)`` (core/usage.py; no extra needed);
* ``+ otel (batch)``: ``RealtimeTelemetry(...).instrument(rt)`` with the OpenTelemetry SDK as
  production configures it: ``TracerProvider`` (default sampler: every span recorded) with a
  ``BatchSpanProcessor`` exporting to an ``InMemorySpanExporter``, a ``MeterProvider`` with an
  ``InMemoryMetricReader``: one span (10 attributes, a ``first_chunk`` event) and two histogram
  points per response. The batch processor exports on its own thread: it is flushed at the end
  of each timed flood, inside the timing, and this process's CPU counts all its threads. The
  exporter keeps the spans (no serialization, no network: an OTLP exporter adds its own
  encoding, on that thread);
* ``+ otel (simple)``: the same with ``SimpleSpanProcessor`` (exports each span as it ends, on
  the caller's thread; what the previous figures used);
* ``+ otel, trace not sampled``: the batch setup with the sampler off (``ALWAYS_OFF``: what an
  unsampled session costs under a ratio sampler): the session span is non-recording, so no
  child span is started; the metric points are the same;
* ``SDK alone: ...``: not this library's telemetry but the least any instrumentation emitting the
  same data could do: one ``response.done`` handler making the same span (same name, kind,
  attributes, event; precomputed) and the same two histogram points, on the same providers; and
  the two points alone. The difference between a row and its floor is this library's own code.

Each OpenTelemetry client checks after the run that it recorded what it should (spans exported,
or none when not sampled; metric points), so "on" is never a setup that records nothing.

"telemetry off" is the unchanged ``ours: handler``: with telemetry off no telemetry code is
imported or registered (tests/telemetry/test_zero_cost.py), so its figure is today's
recv_flood figure by construction; it is measured again here, interleaved with the others
(round-robin repeats), so the comparison is made under the same load. Shown: the best repeat
(the least disturbed run) and the median, per client; on a shared machine a few percent either
way is noise (the "+ usage" row, a few µs per response, shows how much).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
from pathlib import Path
from statistics import median
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchlib import Clock, Sample, best, machine, render_table, server_process, versions
from _workload import PERIOD
from recv_flood import FloodClient, OursHandler

from openai_realtime_ws.core.usage import UsageTotals


class WithUsage(OursHandler):
    name = "ours: handler + usage"

    async def connect(self) -> float:
        seconds = await super().connect()
        assert self.rt is not None
        self.usage = UsageTotals().attach(self.rt)
        return seconds


class _OtelSetup(OursHandler):
    """The providers (see the module docstring); subclasses say what is attached to ``rt``."""

    processor = "batch"
    sampled = True
    expect_spans = True

    def providers(self) -> tuple[Any, Any]:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON

        self.spans = InMemorySpanExporter()
        self.exported = 0
        self.tracer_provider = TracerProvider(sampler=ALWAYS_ON if self.sampled else ALWAYS_OFF)
        processor = BatchSpanProcessor if self.processor == "batch" else SimpleSpanProcessor
        self.tracer_provider.add_span_processor(processor(self.spans))
        self.reader = InMemoryMetricReader()
        return self.tracer_provider, MeterProvider(metric_readers=[self.reader])

    async def flood(self, responses: int) -> int:
        n = await super().flood(responses)
        self.tracer_provider.force_flush()  # the batch thread's export, inside the timing
        self.exported += len(self.spans.get_finished_spans())
        self.spans.clear()  # (memory: the exporter keeps every span)
        return n

    def check(self) -> None:
        """It recorded what it should: spans exported (none when not sampled), metric points."""
        data = self.reader.get_metrics_data()
        names = {m.name for rm in data.resource_metrics for sm in rm.scope_metrics
                 for m in sm.metrics} if data is not None else set()
        assert "gen_ai.client.operation.duration" in names, f"{self.name}: no metric points"
        if self.expect_spans:
            assert self.exported > 0, f"{self.name}: no span exported"
        else:
            assert self.exported == 0, f"{self.name}: {self.exported} spans exported"


class WithOtel(_OtelSetup):
    name = "ours: handler + otel (batch)"

    async def connect(self) -> float:
        from openai_realtime_ws.telemetry.otel import RealtimeTelemetry

        seconds = await super().connect()
        assert self.rt is not None
        tracer_provider, meter_provider = self.providers()
        telemetry = RealtimeTelemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
        self.session = telemetry.instrument(self.rt)
        return seconds


class WithOtelSimple(WithOtel):
    name = "ours: handler + otel (simple)"
    processor = "simple"


class WithOtelUnsampled(WithOtel):
    name = "ours: handler + otel, trace not sampled"
    sampled = False
    expect_spans = False


class SdkAlone(_OtelSetup):
    """The floor: the same span and points made by the SDK from precomputed values."""

    name = "SDK alone: 1 span + 2 points / response (batch)"
    with_span = True

    async def connect(self) -> float:
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind

        from openai_realtime_ws.telemetry.otel import _BUCKETS_S, METRICS

        seconds = await super().connect()
        assert self.rt is not None
        tracer_provider, meter_provider = self.providers()
        tracer = tracer_provider.get_tracer("floor")
        meter = meter_provider.get_meter("floor")
        ttfc, duration = (meter.create_histogram(name, unit="s", description=METRICS[name][2],
                                                 explicit_bucket_boundaries_advisory=_BUCKETS_S)
                          for name in ("gen_ai.client.operation.time_to_first_chunk",
                                       "gen_ai.client.operation.duration"))
        session = tracer.start_span("openai_realtime.session", kind=SpanKind.CLIENT)
        ctx = trace.set_span_in_context(session)
        attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                 "gen_ai.request.model": "gpt-realtime"}
        span_attrs = {**attrs, "gen_ai.response.finish_reasons": ("completed",),
                      "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 700,
                      "gen_ai.usage.cache_read.input_tokens": 500,
                      "openai_realtime.usage.input_audio_tokens": 900,
                      "openai_realtime.usage.output_audio_tokens": 600}
        with_span = self.with_span

        def on_done(event: Any) -> None:
            if with_span:
                span = tracer.start_span("chat gpt-realtime", context=ctx, kind=SpanKind.CLIENT,
                                         attributes={**span_attrs,
                                                     "gen_ai.response.id": event.response.id},
                                         start_time=1)
                span.add_event("first_chunk", timestamp=2)
                span.end()
            ttfc.record(0.2, attrs)
            duration.record(0.9, attrs)

        self.rt.on("response.done", on_done)
        return seconds


class SdkPointsAlone(SdkAlone):
    name = "SDK alone: 2 points / response"
    with_span = False
    expect_spans = False


FACTORIES: list[type[FloodClient]] = [
    OursHandler, WithUsage, WithOtel, WithOtelSimple, WithOtelUnsampled, SdkAlone, SdkPointsAlone,
]
FLOOR = {WithOtel.name: SdkAlone.name, WithOtelSimple.name: SdkAlone.name,
         WithOtelUnsampled.name: SdkPointsAlone.name}


async def run(events: int, repeat: int, tls: bool) -> str:
    responses = max(1, events // PERIOD)
    samples: dict[str, list[Sample]] = {f.name: [] for f in FACTORIES}
    with server_process(tls=tls, backend="emulator") as server:
        clients = [f(server) for f in FACTORIES]
        for c in clients:
            await c.connect()
            await c.flood(1)  # warm-up
        for _ in range(repeat):  # round robin: each repeat measures every client once
            for c in clients:
                gc.collect()
                clock = Clock(server)
                n = await c.flood(responses)
                samples[c.name].append(clock.sample(n))
        for c in clients:
            if isinstance(c, _OtelSetup):
                c.check()
            await c.close()
    base = best(samples[OursHandler.name])
    base_median = median(r.cpu_us for r in samples[OursHandler.name])
    rows: list[list[str]] = []
    for name, runs in samples.items():
        s = best(runs)
        mid = median(r.cpu_us for r in runs)
        is_base = name == OursHandler.name
        per_response = (s.cpu_us - base.cpu_us) * PERIOD
        floor = FLOOR.get(name)
        over_floor = (f"{(s.cpu_us - best(samples[floor]).cpu_us) * PERIOD:+.0f} µs"
                      if floor else "")
        rows.append([name, f"{s.rate:,.0f}", f"{s.cpu_us:.2f}",
                     "-" if is_base else f"{(s.cpu_us / base.cpu_us - 1) * 100:+.1f} %",
                     f"{mid:.2f}", "-" if is_base else f"{(mid / base_median - 1) * 100:+.1f} %",
                     "-" if is_base else f"{per_response:+.0f} µs", over_floor,
                     " ".join(f"{r.cpu_us:.2f}" for r in runs)])
    return render_table(["client", "events/s", "CPU µs/event (best)", "vs off (best)",
                         "(median)", "vs off (median)", "CPU per response vs off (best)",
                         "vs its SDK floor (best)", "CPU µs/event, each repeat"], rows)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Telemetry overhead (see the module docstring).")
    p.add_argument("--events", type=int, default=40_000, help="events per timed flood")
    p.add_argument("--repeat", type=int, default=9,
                   help="timed floods per client (best and median shown)")
    p.add_argument("--tls", action="store_true", help="wss:// instead of ws://")
    p.add_argument("--quick", action="store_true", help="4000 events, 3 repeats")
    args = p.parse_args(argv)
    if args.quick:
        args.events, args.repeat = 4_000, 3
    print(f"# telemetry overhead: {args.events:,} events per flood ({PERIOD} events per response), "
          f"{args.repeat} repeats (round robin), {'TLS' if args.tls else 'plain ws'}")
    print("# otel: TracerProvider + BatchSpanProcessor (or SimpleSpanProcessor) -> InMemorySpanExporter; "
          "MeterProvider + InMemoryMetricReader")
    print(f"# {machine()}\n# {versions()}")
    print(f"# load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    table = asyncio.run(run(args.events, args.repeat, args.tls))
    print(table)
    print(f"# load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
