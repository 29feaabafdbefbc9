"""Opt-in observability: OpenTelemetry traces and metrics (:mod:`.otel`, the ``otel`` extra) and
Prometheus metrics for the relay and the phone bridges (:mod:`.prometheus`, the ``metrics``
extra). See docs/observability.md.

Nothing here is imported by the clients, the relay or the bridges unless telemetry is switched
on: with it off there is no import and no per-event work (token usage, :mod:`..core.usage`, needs
no extra at all).
"""

__all__: list[str] = []
