"""Prometheus metrics for the services that accept connections: the browser relay and the phone
bridges (Twilio Media Streams, SIP). The ``metrics`` extra (``prometheus_client``).

It owns the metric families (one set per registry, shared by every service in a process and
told apart by the ``service`` label) and the ``/metrics`` route. A service holds a
:class:`ServiceMetrics` only when metrics are switched on; with them off it holds ``None`` and
pays one ``is not None`` check where it would count.

Families (``openai_realtime_`` prefix; see docs/observability.md):

* ``sessions_open`` (gauge): upstream sessions open now;
* ``events_relayed_total`` (counter, ``direction``: ``to_upstream`` / ``to_client``);
* ``refusals_total`` (counter, ``reason``): connections or events refused;
* ``limits_hit_total`` (counter, ``limit``): a per-principal limit refused something;
* ``calls`` (gauge, ``state``): phone calls in each state now;
* ``calls_total`` (counter, ``outcome``): calls ended.

Labels are short codes chosen by the services (never a principal, a caller's number, a key or
a URL); any other value is folded to a safe form, and past :data:`MAX_LABEL_VALUES` distinct
values of one label, to ``other``.

The route answers loopback clients only, unless a bearer ``token`` is set (then it checks it)
or ``allow_remote=True`` (a scrape network you trust): like everything that accepts connections
here, it refuses by default what it cannot authenticate.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

try:
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        REGISTRY,
        CollectorRegistry,
        Counter,
        Gauge,
        generate_latest,
    )
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "openai_realtime_ws.telemetry.prometheus needs prometheus_client: "
        "pip install 'openai-realtime-ws[metrics]'"
    ) from exc

__all__ = ["MAX_LABEL_VALUES", "ServiceMetrics", "metrics_route"]

#: Distinct values one label of one service may take; more are counted as ``other``.
MAX_LABEL_VALUES: Final = 64
_SAFE = re.compile(r"[^a-z0-9_]+")


class _Families:
    def __init__(self, registry: CollectorRegistry) -> None:
        ns = "openai_realtime"
        self.sessions_open = Gauge("sessions_open", "Upstream sessions open now",
                                   ["service"], namespace=ns, registry=registry)
        self.events = Counter("events_relayed", "Events relayed, by direction",
                              ["service", "direction"], namespace=ns, registry=registry)
        self.refusals = Counter("refusals", "Connections or events refused, by reason",
                                ["service", "reason"], namespace=ns, registry=registry)
        self.limits = Counter("limits_hit", "Per-principal limits that refused something",
                              ["service", "limit"], namespace=ns, registry=registry)
        self.calls = Gauge("calls", "Phone calls in each state now",
                           ["service", "state"], namespace=ns, registry=registry)
        self.calls_ended = Counter("calls_ended", "Phone calls ended, by outcome",
                                   ["service", "outcome"], namespace=ns, registry=registry)


_FAMILIES: dict[int, tuple[CollectorRegistry, _Families]] = {}


def _families(registry: CollectorRegistry) -> _Families:
    entry = _FAMILIES.get(id(registry))
    if entry is None or entry[0] is not registry:
        entry = (registry, _Families(registry))
        _FAMILIES[id(registry)] = entry
    return entry[1]


class ServiceMetrics:
    """The metrics of one service (``"relay"``, ``"twilio"``, ``"sip"``…) in ``registry``
    (default: prometheus_client's global one). Cheap to call from hot paths."""

    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self.service = _fold(service) or "service"
        self.registry = registry if registry is not None else REGISTRY
        self._f = _families(self.registry)
        self._seen: dict[str, set[str]] = {}
        self._to_upstream = self._f.events.labels(self.service, "to_upstream")
        self._to_client = self._f.events.labels(self.service, "to_client")
        self._open = self._f.sessions_open.labels(self.service)

    # sessions and events

    def session_opened(self) -> None:
        self._open.inc()

    def session_closed(self) -> None:
        self._open.dec()

    @contextmanager
    def session(self) -> Iterator[None]:
        """``sessions_open`` + 1 while the block runs."""
        self._open.inc()
        try:
            yield
        finally:
            self._open.dec()

    def to_upstream(self, n: int = 1) -> None:
        """``n`` events went from the browser (or the phone) to the Realtime session."""
        self._to_upstream.inc(n)

    def to_client(self, n: int = 1) -> None:
        """``n`` events went from the Realtime session to the browser (or the phone)."""
        self._to_client.inc(n)

    # refusals and limits

    def refused(self, reason: str) -> None:
        """A connection or an event was refused (``reason``: a short code)."""
        self._f.refusals.labels(self.service, self._label("reason", reason)).inc()

    def limit_hit(self, limit: str) -> None:
        """A per-principal limit refused something (``limit``: which one)."""
        self._f.limits.labels(self.service, self._label("limit", limit)).inc()

    # calls

    def call_state(self, state: str, previous: str | None = None) -> None:
        """A call entered ``state`` (from ``previous``, or new): moves the ``calls`` gauge."""
        if previous is not None:
            self._f.calls.labels(self.service, self._label("state", previous)).dec()
        self._f.calls.labels(self.service, self._label("state", state)).inc()

    def call_ended(self, outcome: str, state: str | None = None) -> None:
        """A call ended (``outcome``: e.g. ``completed``, ``failed``); ``state`` is the one it
        leaves (its ``calls`` gauge goes down)."""
        if state is not None:
            self._f.calls.labels(self.service, self._label("state", state)).dec()
        self._f.calls_ended.labels(self.service, self._label("outcome", outcome)).inc()

    def _label(self, name: str, value: str) -> str:
        value = _fold(value) or "unknown"
        seen = self._seen.setdefault(name, set())
        if value not in seen:
            if len(seen) >= MAX_LABEL_VALUES:
                return "other"
            seen.add(value)
        return value

    # exposition

    def route(self, path: str = "/metrics", *, token: str | None = None,
              allow_remote: bool = False) -> Any:
        """A Starlette ``Route`` serving this registry (see :func:`metrics_route`)."""
        return metrics_route(self.registry, path, token=token, allow_remote=allow_remote)


def _fold(value: str) -> str:
    return _SAFE.sub("_", str(value).lower())[:48].strip("_")


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return host == "localhost"


def metrics_route(registry: CollectorRegistry | None = None, path: str = "/metrics", *,
                  token: str | None = None, allow_remote: bool = False) -> Any:
    """A Starlette ``Route`` with the Prometheus text exposition of ``registry``: add it to an
    app's routes (``app.router.routes.append(route)``) or pass it in ``routes=``.

    Access: with ``token``, only ``Authorization: Bearer <token>``; else loopback clients only,
    unless ``allow_remote``. Refusals say nothing about the metrics."""
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    reg = registry if registry is not None else REGISTRY
    expected = f"Bearer {token}".encode() if token else None

    async def endpoint(request: Request) -> Response:
        if expected is not None:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return PlainTextResponse("Unauthorized.\n", 401,
                                         headers={"WWW-Authenticate": "Bearer"})
        elif not allow_remote and not _is_loopback(request.client.host if request.client else None):
            return PlainTextResponse("Metrics are served to this machine only.\n", 403)
        return Response(generate_latest(reg), media_type=CONTENT_TYPE_LATEST)

    return Route(path, endpoint, methods=["GET"])
