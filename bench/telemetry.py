"""Telemetry overhead: client CPU per received event with telemetry off, with usage counting,
and with OpenTelemetry on, side by side in one run.

    .venv/bin/python bench/telemetry.py              # 40_000 events x best of 5, plain ws (~1 min)
    .venv/bin/python bench/telemetry.py --quick      # 4_000 events x 3, seconds

The workload and the server are bench/recv_flood.py's (the emulator in a separate process
replays 200-event audio responses: response.created, 141 audio deltas, transcript deltas,
response.done with usage). The clients are recv_flood's ``ours: handler`` (one counting handler
on audio deltas) and that same client with:

* ``+ usage``: ``UsageTotals().attach(rt)`` (core/usage.py; no extra needed);
* ``+ otel``: ``RealtimeTelemetry(...).instrument(rt)`` with the OpenTelemetry SDK (a tracer
  provider exporting to memory through ``SimpleSpanProcessor``, a meter provider with an
  in-memory reader): a span and two histogram points per response;
* ``+ otel, trace not sampled``: the same with the tracer's sampler off (``ALWAYS_OFF``: what
  an unsampled session costs under a ratio sampler): metrics only, spans are non-recording.

"telemetry off" is the unchanged ``ours: handler``: with telemetry off no telemetry code is
imported or registered (tests/observability/test_zero_cost.py), so its figure is today's
recv_flood figure by construction; it is measured again here, interleaved with the others
(round-robin repeats, best of each), so the comparison is made under the same load.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
from pathlib import Path

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


class WithOtel(OursHandler):
    name = "ours: handler + otel"
    sampled = True

    async def connect(self) -> float:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        from openai_realtime_ws.telemetry.otel import RealtimeTelemetry

        seconds = await super().connect()
        assert self.rt is not None
        self.spans = InMemorySpanExporter()
        from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON

        tracer_provider = TracerProvider(sampler=ALWAYS_ON if self.sampled else ALWAYS_OFF)
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        telemetry = RealtimeTelemetry(tracer_provider=tracer_provider,
                                      meter_provider=MeterProvider(metric_readers=[self.reader]))
        self.session = telemetry.instrument(self.rt)
        return seconds

    async def flood(self, responses: int) -> int:
        n = await super().flood(responses)
        self.spans.clear()  # (memory: the exporter keeps every span)
        return n


class WithOtelUnsampled(WithOtel):
    name = "ours: handler + otel, trace not sampled"
    sampled = False


async def run(events: int, repeat: int, tls: bool) -> str:
    responses = max(1, events // PERIOD)
    factories: list[type[FloodClient]] = [OursHandler, WithUsage, WithOtel, WithOtelUnsampled]
    samples: dict[str, list[Sample]] = {f.name: [] for f in factories}
    with server_process(tls=tls, backend="emulator") as server:
        clients = [f(server) for f in factories]
        for c in clients:
            await c.connect()
            await c.flood(1)  # warm-up
        for _ in range(repeat):  # round robin: each repeat measures every client once
            for c in clients:
                gc.collect()
                clock = Clock(server)
                n = await c.flood(responses)
                samples[c.name].append(clock.sample(n))
        otel = clients[2]
        assert isinstance(otel, WithOtel)
        points = otel.reader.get_metrics_data()
        assert points is not None and points.resource_metrics, "otel recorded no metrics"
        for c in clients:
            await c.close()
    base = best(samples[OursHandler.name])
    rows: list[list[str]] = []
    for name, runs in samples.items():
        s = best(runs)
        extra = (s.cpu_us / base.cpu_us - 1) * 100
        rows.append([name, f"{s.events:,}", f"{s.rate:,.0f}", f"{s.cpu_us:.2f}",
                     "-" if name == OursHandler.name else f"{extra:+.1f} %",
                     " ".join(f"{r.cpu_us:.2f}" for r in runs)])
    return render_table(["client", "events", "events/s", "CPU µs/event (best)", "vs off",
                         "CPU µs/event, each repeat"], rows)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Telemetry overhead (see the module docstring).")
    p.add_argument("--events", type=int, default=40_000, help="events per timed flood")
    p.add_argument("--repeat", type=int, default=5, help="timed floods per client (best shown)")
    p.add_argument("--tls", action="store_true", help="wss:// instead of ws://")
    p.add_argument("--quick", action="store_true", help="4000 events, 3 repeats")
    args = p.parse_args(argv)
    if args.quick:
        args.events, args.repeat = 4_000, 3
    print(f"# telemetry overhead: {args.events:,} events per flood, best of {args.repeat} "
          f"(round robin), {'TLS' if args.tls else 'plain ws'}")
    print(f"# {machine()}\n# {versions()}")
    print(f"# load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    table = asyncio.run(run(args.events, args.repeat, args.tls))
    print(table)
    print(f"# load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
