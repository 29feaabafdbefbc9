"""OpenTelemetry traces and metrics for Realtime sessions (the ``otel`` extra).

It owns how a session's facts become spans and metric points. It attaches to a client through
its public ``on()`` API only (either client), so a session without telemetry runs no code of
this module at all, and handlers registered here stay across reconnects and rollovers.

Spans (all children of the session span; names from OpenTelemetry's GenAI semantic conventions
where they define one, else ``openai_realtime.*``, see docs/observability.md):

* ``openai_realtime.session``: connect to close; ``openai_realtime.connect``,
  ``openai_realtime.reconnect`` / ``openai_realtime.rollover`` (``reconnecting`` →
  ``reconnected``), ``openai_realtime.close``;
* ``chat {model}``: one response, ``response.created`` → ``response.done``, with usage;
* ``execute_tool {name}``: arguments complete → the ``function_call_output`` item confirmed;
* ``openai_realtime.turn`` (end of the user's speech → first audio heard) and
  ``openai_realtime.interruption`` (heard and received ms), from :class:`VoiceSession`'s events
  (:meth:`SessionTelemetry.voice_event`) — it is the part that knows what was *heard*; without
  one, a ``conversation.item.truncated`` still makes an interruption span (heard ms only).

Nothing secret is recorded: no API key, no URL, no audio, no transcript or tool arguments; extra
attributes (the relay's principal, a call id) are the caller's choice.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

try:
    from opentelemetry import metrics, trace
    from opentelemetry.trace import Span, SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "openai_realtime_ws.telemetry.otel needs OpenTelemetry: pip install 'openai-realtime-ws[otel]'"
    ) from exc

from .. import __version__
from ..core.usage import TokenCounts, UsageTotals

__all__ = ["ATTR", "METRICS", "RealtimeTelemetry", "SessionTelemetry"]

C = TypeVar("C")
AttrValue = str | bool | int | float | tuple[str, ...]

#: Attribute names. ``gen_ai.*`` and ``error.type`` are OpenTelemetry's (GenAI semantic
#: conventions); ``openai_realtime.*`` are this library's own (no convention defines them).
ATTR: Final = {
    "operation": "gen_ai.operation.name",
    "provider": "gen_ai.provider.name",
    "request_model": "gen_ai.request.model",
    "response_model": "gen_ai.response.model",
    "response_id": "gen_ai.response.id",
    "finish_reasons": "gen_ai.response.finish_reasons",
    "conversation_id": "gen_ai.conversation.id",
    "input_tokens": "gen_ai.usage.input_tokens",
    "output_tokens": "gen_ai.usage.output_tokens",
    "cache_read": "gen_ai.usage.cache_read.input_tokens",
    "token_type": "gen_ai.token.type",
    "tool_name": "gen_ai.tool.name",
    "tool_call_id": "gen_ai.tool.call.id",
    "tool_type": "gen_ai.tool.type",
    "error_type": "error.type",
    # invented here
    "modality": "openai_realtime.modality",
    "cached": "openai_realtime.cached",
    "reconnect_kind": "openai_realtime.reconnect.kind",
    "attempt": "openai_realtime.reconnect.attempt",
    "close_code": "openai_realtime.close_code",
    "latency_ms": "openai_realtime.turn.latency_ms",
    "heard_ms": "openai_realtime.interruption.heard_ms",
    "received_ms": "openai_realtime.interruption.received_ms",
    "item_id": "openai_realtime.item.id",
    "cost_usd": "openai_realtime.cost.usd",
    "responses": "openai_realtime.responses",
    "ended_by": "openai_realtime.ended_by",
}

#: Metric instruments: name -> (kind, unit, description).
METRICS: Final = {
    "gen_ai.client.operation.time_to_first_chunk": (
        "histogram", "s", "response.created to its first content part (sent right before the first delta)"),
    "gen_ai.client.operation.duration": ("histogram", "s", "response.created to response.done"),
    "openai_realtime.turn.latency": (
        "histogram", "s", "end of the user's speech to the reply's first audio heard"),
    "openai_realtime.tokens": (
        "counter", "{token}", "tokens, by gen_ai.token.type, modality and cached"),
    "openai_realtime.errors": ("counter", "{error}", "errors, by error.type (the API's code)"),
    "openai_realtime.reconnects": (
        "counter", "{reconnect}", "reconnects and rollovers, by openai_realtime.reconnect.kind"),
    "openai_realtime.interruptions": ("counter", "{interruption}", "barge-ins (playback stopped)"),
}

_PROVIDER: Final = "openai"
_OPERATION: Final = "chat"  # the GenAI operation a Realtime response is closest to
_BUCKETS_S: Final = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


def _clean(attributes: Mapping[str, Any] | None) -> dict[str, AttrValue]:
    """Only scalar values (OpenTelemetry's attribute types); anything else is dropped."""
    if not attributes:
        return {}
    return {str(k): v for k, v in attributes.items() if isinstance(v, str | bool | int | float)}


class RealtimeTelemetry:
    """Traces and metrics for Realtime sessions: one per process (or per provider pair).

    ``tracer_provider`` / ``meter_provider`` default to OpenTelemetry's global ones;
    ``attributes`` are added to every session span (never put a secret there).
    """

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        self.tracer = trace.get_tracer("openai_realtime_ws", __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter("openai_realtime_ws", __version__, meter_provider=meter_provider)
        self.attributes = _clean(attributes)

        def histogram(name: str) -> metrics.Histogram:
            _, unit, description = METRICS[name]
            advice = _BUCKETS_S if unit == "s" else None
            return meter.create_histogram(
                name, unit=unit, description=description, explicit_bucket_boundaries_advisory=advice
            )

        def counter(name: str) -> metrics.Counter:
            _, unit, description = METRICS[name]
            return meter.create_counter(name, unit=unit, description=description)

        self.time_to_first_chunk = histogram("gen_ai.client.operation.time_to_first_chunk")
        self.operation_duration = histogram("gen_ai.client.operation.duration")
        self.turn_latency = histogram("openai_realtime.turn.latency")
        # tokens: cumulative sums read at collection time (no per-response metric call)
        self._token_totals: dict[tuple[tuple[str, AttrValue], ...], int] = {}
        _, unit, description = METRICS["openai_realtime.tokens"]
        self.tokens = meter.create_observable_counter(
            "openai_realtime.tokens", callbacks=[self._observe_tokens], unit=unit,
            description=description)
        self.errors = counter("openai_realtime.errors")
        self.reconnects = counter("openai_realtime.reconnects")
        self.interruptions = counter("openai_realtime.interruptions")

    def _observe_tokens(self, options: metrics.CallbackOptions) -> Iterator[metrics.Observation]:
        for attrs, value in list(self._token_totals.items()):
            yield metrics.Observation(value, dict(attrs))

    def _count_tokens(self, base: tuple[tuple[str, AttrValue], ...], t: TokenCounts) -> None:
        totals = self._token_totals
        for token_type, modality, cached, count in (
            ("input", "text", False, t.input_text - t.cached_text),
            ("input", "audio", False, t.input_audio - t.cached_audio),
            ("input", "image", False, t.input_image - t.cached_image),
            ("input", "text", True, t.cached_text),
            ("input", "audio", True, t.cached_audio),
            ("input", "image", True, t.cached_image),
            ("output", "text", False, t.output_text),
            ("output", "audio", False, t.output_audio),
        ):
            if count > 0:
                key = (*base, (ATTR["token_type"], token_type), (ATTR["modality"], modality),
                       (ATTR["cached"], cached))
                totals[key] = totals.get(key, 0) + count

    async def connect(
        self, opening: Awaitable[C], *, attributes: Mapping[str, Any] | None = None
    ) -> SessionTelemetry[C]:
        """Await ``opening`` (e.g. ``AsyncOpenAIRealtimeWS.create(...)``) inside a session span
        and its ``openai_realtime.connect`` child, then instrument the client::

            session = await telemetry.connect(AsyncOpenAIRealtimeWS.create(model="gpt-realtime"))
            rt = session.rt
            ...
            await session.close()   # closes rt inside openai_realtime.close, ends the session span
        """
        span = self._session_span(attributes)
        ctx = trace.set_span_in_context(span)
        with self.tracer.start_as_current_span(
            "openai_realtime.connect", context=ctx, kind=SpanKind.CLIENT
        ) as connect:
            try:
                rt = await opening
            except BaseException as exc:
                connect.record_exception(exc)
                connect.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                span.set_attribute(ATTR["error_type"], type(exc).__name__)
                span.end()
                raise
        return SessionTelemetry(self, rt, span)

    def instrument(self, rt: C, *, attributes: Mapping[str, Any] | None = None) -> SessionTelemetry[C]:
        """Instrument a connected client (either kind); end with :meth:`SessionTelemetry.end`
        (or :meth:`SessionTelemetry.closing` around its ``close()``)."""
        return SessionTelemetry(self, rt, self._session_span(attributes))

    def _session_span(self, attributes: Mapping[str, Any] | None) -> Span:
        attrs: dict[str, AttrValue] = {ATTR["provider"]: _PROVIDER, **self.attributes, **_clean(attributes)}
        return self.tracer.start_span("openai_realtime.session", kind=SpanKind.CLIENT, attributes=attrs)


@dataclass(slots=True)
class _Response:
    """A response in progress; its span is made when it ends (one SDK call, not four)."""

    id: str
    start_ns: int
    start: float  # perf_counter
    first_chunk: float | None = None
    first_chunk_ns: int = 0


class SessionTelemetry(Generic[C]):
    """One instrumented session: its span, its open child spans and its usage."""

    def __init__(self, telemetry: RealtimeTelemetry, rt: C, span: Span) -> None:
        self.telemetry = telemetry
        self.rt = rt
        """The instrumented client."""
        self.span = span
        """The session span (ended by :meth:`end`)."""
        self.usage = UsageTotals()
        """This session's token usage (what the spans report)."""
        self._ctx = trace.set_span_in_context(span)
        self._model: str | None = None
        self._responses: dict[str, _Response] = {}
        self._tools: dict[str, Span] = {}
        self._reconnect: Span | None = None
        self._voice = False
        self._ended = False
        self._set_model_attrs()
        self._handlers: list[tuple[str, Callable[[Any], object]]] = [
            ("session.created", self._on_session),
            ("session.updated", self._on_session),
            ("response.created", self._on_response_created),
            ("response.content_part.added", self._on_part_added),
            ("response.done", self._on_response_done),
            ("response.function_call_arguments.done", self._on_tool_call),
            ("conversation.item.added", self._on_item_added),
            ("conversation.item.truncated", self._on_truncated),
            ("reconnecting", self._on_reconnecting),
            ("reconnected", self._on_reconnected),
        ]
        on = rt.on  # type: ignore[attr-defined]
        for type_, handler in self._handlers:
            on(type_, handler)
        protocol = getattr(rt, "protocol", None)  # the Sans-I/O object (its error_observers)
        observers = getattr(protocol, "error_observers", None)
        self._observers: list[Any] | None = observers if isinstance(observers, list) else None
        if self._observers is not None:
            self._observers.append(self._on_error)
        session = getattr(rt, "session", None)
        if session is not None:
            self._set_session(session)

    # ------------------------------------------------------------------ facts from the client

    def _set_session(self, session: Any) -> None:
        model = getattr(session, "model", None)
        if model and model != self._model:
            self._model = model
            self.usage.observe_model(model)
            self.span.set_attribute(ATTR["request_model"], model)
            self._set_model_attrs()
        sid = getattr(session, "id", None)
        if sid:
            self.span.set_attribute(ATTR["conversation_id"], sid)

    def _on_session(self, event: Any) -> None:
        self._set_session(event.session)

    def _child(self, name: str, kind: SpanKind = SpanKind.INTERNAL, **kwargs: Any) -> Span:
        return self.telemetry.tracer.start_span(name, context=self._ctx, kind=kind, **kwargs)

    def _on_response_created(self, event: Any) -> None:
        rid = event.response.id or ""
        self._responses[rid] = _Response(rid, time.time_ns(), time.perf_counter())

    def _on_part_added(self, event: Any) -> None:
        # the first content part of a response starts its output: the server sends
        # response.content_part.added right before the part's first delta. Measuring here costs
        # one call per part; a handler on every audio delta (or once/off per response, which
        # resets the dispatcher's plans) costs ~10x more on a busy session.
        rec = self._responses.get(event.response_id)
        if rec is None or rec.first_chunk is not None:
            return
        rec.first_chunk = time.perf_counter()
        rec.first_chunk_ns = time.time_ns()
        self.telemetry.time_to_first_chunk.record(rec.first_chunk - rec.start, self._attrs)

    def _response_span(
        self, rec: _Response, extra: dict[str, AttrValue], error: str | None = None
    ) -> None:
        attrs: dict[str, AttrValue] = {**self._attrs, ATTR["response_id"]: rec.id, **extra}
        name = f"{_OPERATION} {self._model}" if self._model else _OPERATION
        span = self._child(name, SpanKind.CLIENT, attributes=attrs, start_time=rec.start_ns)
        if rec.first_chunk_ns:
            span.add_event("first_chunk", timestamp=rec.first_chunk_ns)
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end()

    def _set_model_attrs(self) -> None:
        """The metric attribute sets of this session (built once per model, not per point)."""
        attrs: dict[str, AttrValue] = {ATTR["operation"]: _OPERATION, ATTR["provider"]: _PROVIDER}
        if self._model:
            attrs[ATTR["request_model"]] = self._model
        self._attrs = attrs
        self._base_key = tuple(attrs.items())

    def _on_response_done(self, event: Any) -> None:
        response = event.response
        rid = response.id or ""
        rec = self._responses.pop(rid, None)
        if rec is None:  # (its response.created was before instrumenting)
            rec = _Response(rid, time.time_ns(), time.perf_counter())
        status = response.status or "completed"
        extra: dict[str, AttrValue] = {ATTR["finish_reasons"]: (status,)}
        record = self.usage.observe(event)
        tel = self.telemetry
        if record is not None:
            extra.update(_usage_attributes(record.tokens))
            tel._count_tokens(self._base_key, record.tokens)
        error = None
        if status == "failed":
            details = response.status_details
            error = str(getattr(getattr(details, "error", None), "code", None) or "failed")
            extra[ATTR["error_type"]] = error
        self._response_span(rec, extra, error)
        tel.operation_duration.record(time.perf_counter() - rec.start, self._attrs)

    def _on_tool_call(self, event: Any) -> None:
        old = self._tools.pop(event.call_id, None)
        if old is not None:
            old.end()
        self._tools[event.call_id] = self._child(
            f"execute_tool {event.name}",
            attributes={ATTR["operation"]: "execute_tool", ATTR["tool_name"]: event.name,
                        ATTR["tool_call_id"]: event.call_id, ATTR["tool_type"]: "function",
                        ATTR["response_id"]: event.response_id},
        )

    def _on_item_added(self, event: Any) -> None:
        item = event.item
        if getattr(item, "type", None) == "function_call_output":
            span = self._tools.pop(getattr(item, "call_id", None) or "", None)
            if span is not None:
                span.end()

    def _on_truncated(self, event: Any) -> None:
        if self._voice:  # VoiceSession reported this interruption, with received ms too
            return
        self._interruption(event.item_id, None, event.audio_end_ms, None)

    def _on_reconnecting(self, ctx: Any) -> None:
        kind = "rollover" if getattr(ctx, "close_reason", None) == "rollover" else "reconnect"
        if self._reconnect is None:
            attrs: dict[str, AttrValue] = {ATTR["reconnect_kind"]: kind}
            code = getattr(ctx, "close_code", None)
            if code is not None:
                attrs[ATTR["close_code"]] = int(code)
            self._reconnect = self._child(f"openai_realtime.{kind}", attributes=attrs)
            if kind == "reconnect":  # the old socket is gone: its responses will never finish
                for rec in list(self._responses.values()):
                    self._response_span(rec, {ATTR["ended_by"]: "disconnect"}, "disconnected")
                self._responses.clear()
        self._reconnect.set_attribute(ATTR["attempt"], int(getattr(ctx, "attempt", 1) or 1))

    def _on_reconnected(self, payload: Any) -> None:
        kind = "rollover" if isinstance(payload, Mapping) and payload.get("rollover") else "reconnect"
        self.telemetry.reconnects.add(1, {ATTR["reconnect_kind"]: kind})
        if self._reconnect is not None:
            self._reconnect.end()
            self._reconnect = None

    def _on_error(self, error: Any) -> None:
        code = getattr(error, "code", None) or type(error).__name__
        self.telemetry.errors.add(1, {ATTR["error_type"]: str(code)})
        self.span.add_event("error", {ATTR["error_type"]: str(code)})

    # ------------------------------------------------------------------ facts from a player

    def voice_event(self, event: Any) -> None:
        """Feed :class:`~openai_realtime_ws.voice.VoiceEvent` objects (pass this as, or call it
        from, ``VoiceSession(on_event=...)``): ``turn`` makes a turn span and a turn-latency
        point, ``interrupted`` an interruption span with heard and received ms."""
        kind = getattr(event, "type", None)
        if kind == "turn" and event.latency_ms is not None:
            end = time.time_ns()
            start = end - int(event.latency_ms * 1_000_000)
            attrs: dict[str, AttrValue] = {ATTR["latency_ms"]: float(event.latency_ms)}
            if event.response_id:
                attrs[ATTR["response_id"]] = event.response_id
            span = self._child("openai_realtime.turn", start_time=start, attributes=attrs)
            span.end(end_time=end)
            self.telemetry.turn_latency.record(event.latency_ms / 1000.0, self._attrs)
        elif kind == "interrupted" and event.stop is not None:
            self._voice = True
            stop = event.stop
            self._interruption(stop.item_id, event.response_id, stop.heard_ms, stop.received_ms)

    def _interruption(
        self, item_id: str | None, response_id: str | None, heard: int, received: int | None
    ) -> None:
        attrs: dict[str, AttrValue] = {ATTR["heard_ms"]: int(heard)}
        if received is not None:
            attrs[ATTR["received_ms"]] = int(received)
        if item_id:
            attrs[ATTR["item_id"]] = item_id
        if response_id:
            attrs[ATTR["response_id"]] = response_id
        self._child("openai_realtime.interruption", attributes=attrs).end()
        self.telemetry.interruptions.add(1, self._attrs)

    # ------------------------------------------------------------------ the end

    @contextmanager
    def closing(self) -> Iterator[None]:
        """Around the client's ``close()``: an ``openai_realtime.close`` span, then :meth:`end`."""
        try:
            with self.telemetry.tracer.start_as_current_span("openai_realtime.close", context=self._ctx):
                yield
        finally:
            self.end()

    async def close(self) -> None:
        """Close the (asyncio) client inside ``openai_realtime.close``, then :meth:`end`."""
        with self.closing():
            await self.rt.close()  # type: ignore[attr-defined]

    def end(self) -> None:
        """Detach from the client, end what is still open, put the session's usage (and cost,
        when the price is known) on the session span and end it. Idempotent."""
        if self._ended:
            return
        self._ended = True
        off = self.rt.off  # type: ignore[attr-defined]
        for type_, handler in self._handlers:
            off(type_, handler)
        if self._observers is not None and self._on_error in self._observers:
            self._observers.remove(self._on_error)
        for rec in self._responses.values():
            self._response_span(rec, {ATTR["ended_by"]: "close"})
        for span in self._tools.values():
            span.set_attribute(ATTR["ended_by"], "close")
            span.end()
        if self._reconnect is not None:
            self._reconnect.set_status(Status(StatusCode.ERROR, "closed while reconnecting"))
            self._reconnect.end()
        self._responses.clear()
        self._tools.clear()
        self.span.set_attributes(_usage_attributes(self.usage.total))
        self.span.set_attribute(ATTR["responses"], self.usage.response_count)
        estimate = self.usage.estimate()
        if estimate is not None:
            self.span.set_attribute(ATTR["cost_usd"], estimate.usd)
        self.span.end()

    async def __aenter__(self) -> SessionTelemetry[C]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _usage_attributes(t: TokenCounts) -> dict[str, AttrValue]:
    return {
        ATTR["input_tokens"]: t.input_tokens,
        ATTR["output_tokens"]: t.output_tokens,
        ATTR["cache_read"]: t.cached_tokens,
        "openai_realtime.usage.input_audio_tokens": t.input_audio,
        "openai_realtime.usage.output_audio_tokens": t.output_audio,
    }
