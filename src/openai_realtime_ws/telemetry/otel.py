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
from typing import Any, Final, Generic, TypeVar

try:
    from opentelemetry import metrics, trace
    from opentelemetry.trace import Span, SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "openai_realtime_ws.telemetry.otel needs OpenTelemetry: pip install 'openai-realtime-ws[otel]'"
    ) from exc

from .. import __version__
from ..core.observe import (
    InterruptionRecord,
    ReconnectRecord,
    Record,
    ResponseRecord,
    SessionObserver,
    ToolRecord,
    TurnRecord,
)
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

# the names used on every response (module constants: no ATTR lookup per response)
_OPERATION_NAME: Final = ATTR["operation"]
_PROVIDER_NAME: Final = ATTR["provider"]
_REQUEST_MODEL: Final = ATTR["request_model"]
_RESPONSE_ID: Final = ATTR["response_id"]
_FINISH_REASONS: Final = ATTR["finish_reasons"]
_INPUT_TOKENS: Final = ATTR["input_tokens"]
_OUTPUT_TOKENS: Final = ATTR["output_tokens"]
_CACHE_READ: Final = ATTR["cache_read"]
_INPUT_AUDIO: Final = "openai_realtime.usage.input_audio_tokens"
_OUTPUT_AUDIO: Final = "openai_realtime.usage.output_audio_tokens"
_ERROR_TYPE: Final = ATTR["error_type"]
_ENDED_BY: Final = ATTR["ended_by"]
_UNFINISHED: Final = frozenset({"disconnected", "closed"})  # statuses of responses with no response.done

_PROVIDER: Final = "openai"
_OPERATION: Final = "chat"  # the GenAI operation a Realtime response is closest to
#: (gen_ai.token.type, modality, cached) of the token counter's series, in _observe_tokens' order.
_TOKEN_KINDS: Final = (
    ("input", "text", False), ("input", "audio", False), ("input", "image", False),
    ("input", "text", True), ("input", "audio", True), ("input", "image", True),
    ("output", "text", False), ("output", "audio", False),
)
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
        self._token_totals: dict[tuple[tuple[str, AttrValue], ...], TokenCounts] = {}
        _, unit, description = METRICS["openai_realtime.tokens"]
        self.tokens = meter.create_observable_counter(
            "openai_realtime.tokens", callbacks=[self._observe_tokens], unit=unit,
            description=description)
        self.errors = counter("openai_realtime.errors")
        self.reconnects = counter("openai_realtime.reconnects")
        self.interruptions = counter("openai_realtime.interruptions")

    def _observe_tokens(self, options: metrics.CallbackOptions) -> Iterator[metrics.Observation]:
        """At collection time: each attribute set's summed counts, split into the counter's series
        (a response only adds its counts into one TokenCounts: no per-series work per response)."""
        for base, t in list(self._token_totals.items()):
            for (token_type, modality, cached), count in zip(_TOKEN_KINDS, (
                t.input_text - t.cached_text, t.input_audio - t.cached_audio,
                t.input_image - t.cached_image, t.cached_text, t.cached_audio, t.cached_image,
                t.output_text, t.output_audio,
            ), strict=True):
                if count > 0:
                    yield metrics.Observation(count, {
                        **dict(base), ATTR["token_type"]: token_type, ATTR["modality"]: modality,
                        ATTR["cached"]: cached})

    def _count_tokens(self, base: tuple[tuple[str, AttrValue], ...], t: TokenCounts) -> None:
        totals = self._token_totals.get(base)
        if totals is None:
            totals = self._token_totals[base] = TokenCounts()
        totals.add(t)

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


class SessionTelemetry(Generic[C]):
    """One instrumented session: its span and its usage. Which events make which records is
    :class:`~openai_realtime_ws.core.observe.SessionObserver`'s; this class turns records into
    spans (children of the session span, made when complete, with their start times) and metric
    points."""

    def __init__(self, telemetry: RealtimeTelemetry, rt: C, span: Span) -> None:
        self.telemetry = telemetry
        self.rt = rt
        """The instrumented client."""
        self.span = span
        """The session span (ended by :meth:`end`)."""
        self.usage = UsageTotals()
        """This session's token usage (what the spans report)."""
        self.observer = SessionObserver()
        self._ctx = trace.set_span_in_context(span)
        # A session span the sampler dropped has no recorded children: every standard sampler
        # decides a child as its parent (parent-based) or by the trace id it shares with it
        # (TraceIdRatioBased, ALWAYS_ON/OFF), so no child span is started and no attribute built.
        self._recording = span.is_recording()
        self._model: str | None = None
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

    def _set_model_attrs(self) -> None:
        """The metric attribute set of this session and the response spans' name (built once
        per model, not per point or span)."""
        attrs: dict[str, AttrValue] = {_OPERATION_NAME: _OPERATION, _PROVIDER_NAME: _PROVIDER}
        if self._model:
            attrs[_REQUEST_MODEL] = self._model
        self._attrs = attrs
        self._base_key = tuple(attrs.items())
        self._response_name = f"{_OPERATION} {self._model}" if self._model else _OPERATION

    def _on_session(self, event: Any) -> None:
        self._set_session(event.session)

    def _on_response_created(self, event: Any) -> None:
        self.observer.response_created(event.response.id or "", time.time_ns())

    def _on_part_added(self, event: Any) -> None:
        # measured here, not on deltas: one call per part (a handler on every audio delta, or
        # once/off per response, which resets the dispatcher's plans, costs ~10x more). The
        # point is recorded with the response's other one when it ends (_emit): no SDK call on
        # the way to the first audio delta, and the two SDK calls run back to back.
        self.observer.part_added(event.response_id, time.time_ns())

    def _on_response_done(self, event: Any) -> None:
        response = event.response
        record = self.usage.observe(event)
        tokens = record.tokens if record is not None else None
        if tokens is not None:
            self.telemetry._count_tokens(self._base_key, tokens)
        details = response.status_details
        code = getattr(getattr(details, "error", None), "code", None)
        self._emit(self.observer.response_done(response.id or "", response.status, tokens,
                                               str(code) if code else None, time.time_ns()))

    def _on_tool_call(self, event: Any) -> None:
        self.observer.tool_call(event.call_id, event.name, event.response_id, time.time_ns())

    def _on_item_added(self, event: Any) -> None:
        item = event.item
        self._emit(self.observer.item_added(getattr(item, "type", None),
                                            getattr(item, "call_id", None), time.time_ns()))

    def _on_truncated(self, event: Any) -> None:
        self._emit(self.observer.truncated(event.item_id, event.audio_end_ms, time.time_ns()))

    def _on_reconnecting(self, ctx: Any) -> None:
        code = getattr(ctx, "close_code", None)
        self._emit(self.observer.reconnecting(getattr(ctx, "close_reason", None),
                                              None if code is None else int(code), time.time_ns()))

    def _on_reconnected(self, payload: Any) -> None:
        self._emit(self.observer.reconnected(
            payload if isinstance(payload, Mapping) else None, time.time_ns()))

    def _on_error(self, error: Any) -> None:
        self._emit(self.observer.error(getattr(error, "code", None), type(error).__name__,
                                       time.time_ns()))

    # ------------------------------------------------------------------ facts from a player

    def voice_event(self, event: Any) -> None:
        """Feed :class:`~openai_realtime_ws.voice.VoiceEvent` objects (pass this as, or call it
        from, ``VoiceSession(on_event=...)``): ``turn`` makes a turn span and a turn-latency
        point, ``interrupted`` an interruption span with heard and received ms."""
        kind = getattr(event, "type", None)
        now = time.time_ns()
        if kind == "turn" and event.latency_ms is not None:
            self._emit(self.observer.turn(event.response_id, float(event.latency_ms), now))
        elif kind == "interrupted" and event.stop is not None:
            stop = event.stop
            self._emit(self.observer.interrupted(stop.item_id, event.response_id,
                                                 int(stop.heard_ms), int(stop.received_ms), now))

    # ------------------------------------------------------------------ records -> spans, points

    def _child(self, name: str, start: int, attrs: Mapping[str, AttrValue],
               kind: SpanKind = SpanKind.INTERNAL) -> Span:
        return self.telemetry.tracer.start_span(name, context=self._ctx, kind=kind,
                                                attributes=attrs, start_time=start)

    def _emit(self, records: list[Record]) -> None:
        """Metric points always; spans (and their attributes) only when the session is
        recorded (see ``_recording`` in ``__init__``)."""
        tel = self.telemetry
        recording = self._recording
        for r in records:
            if isinstance(r, ResponseRecord):
                if recording:
                    self._response_span(r)
                if r.first_chunk is not None:
                    tel.time_to_first_chunk.record((r.first_chunk - r.start) / 1e9, self._attrs)
                tel.operation_duration.record((r.end - r.start) / 1e9, self._attrs)
            elif isinstance(r, ToolRecord):
                if recording:
                    attrs: dict[str, AttrValue] = {
                        _OPERATION_NAME: "execute_tool", ATTR["tool_name"]: r.name,
                        ATTR["tool_call_id"]: r.call_id, ATTR["tool_type"]: "function",
                        _RESPONSE_ID: r.response_id}
                    if not r.answered:
                        attrs[_ENDED_BY] = "closed"
                    self._child(f"execute_tool {r.name}", r.start, attrs).end(end_time=r.end)
            elif isinstance(r, ReconnectRecord):
                if r.succeeded:
                    tel.reconnects.add(1, {ATTR["reconnect_kind"]: r.kind})
                if recording:
                    attrs = {ATTR["reconnect_kind"]: r.kind, ATTR["attempt"]: r.attempts}
                    if r.close_code is not None:
                        attrs[ATTR["close_code"]] = r.close_code
                    span = self._child(f"openai_realtime.{r.kind}", r.start, attrs)
                    if not r.succeeded:
                        span.set_status(Status(StatusCode.ERROR, "closed while reconnecting"))
                    span.end(end_time=r.end)
            elif isinstance(r, TurnRecord):
                latency_ms = (r.end - r.start) / 1e6
                if recording:
                    attrs = {ATTR["latency_ms"]: latency_ms}
                    if r.response_id:
                        attrs[_RESPONSE_ID] = r.response_id
                    self._child("openai_realtime.turn", r.start, attrs).end(end_time=r.end)
                tel.turn_latency.record(latency_ms / 1000.0, self._attrs)
            elif isinstance(r, InterruptionRecord):
                if recording:
                    attrs = {ATTR["heard_ms"]: r.heard_ms}
                    if r.received_ms is not None:
                        attrs[ATTR["received_ms"]] = r.received_ms
                    if r.item_id:
                        attrs[ATTR["item_id"]] = r.item_id
                    if r.response_id:
                        attrs[_RESPONSE_ID] = r.response_id
                    self._child("openai_realtime.interruption", r.at, attrs).end(end_time=r.at)
                tel.interruptions.add(1, self._attrs)
            else:  # ErrorRecord
                tel.errors.add(1, {_ERROR_TYPE: r.code})
                if recording:
                    self.span.add_event("error", {_ERROR_TYPE: r.code}, timestamp=r.at)

    def _response_span(self, r: ResponseRecord) -> None:
        """``chat {model}``: made complete, from its start time (nothing open while it streams)."""
        status = r.status
        attrs: dict[str, AttrValue] = {**self._attrs, _RESPONSE_ID: r.response_id}
        if status in _UNFINISHED:
            attrs[_ENDED_BY] = status
        else:  # response.done's status
            attrs[_FINISH_REASONS] = (status,)
        t = r.tokens
        if t is not None:
            attrs[_INPUT_TOKENS] = t.input_text + t.input_audio + t.input_image
            attrs[_OUTPUT_TOKENS] = t.output_text + t.output_audio
            attrs[_CACHE_READ] = t.cached_tokens
            attrs[_INPUT_AUDIO] = t.input_audio
            attrs[_OUTPUT_AUDIO] = t.output_audio
        if r.error_code is not None:
            attrs[_ERROR_TYPE] = r.error_code
        span = self.telemetry.tracer.start_span(self._response_name, context=self._ctx,
                                                kind=SpanKind.CLIENT, attributes=attrs,
                                                start_time=r.start)
        if r.first_chunk is not None:
            span.add_event("first_chunk", timestamp=r.first_chunk)
        if r.error_code is not None or status == "disconnected":
            span.set_status(Status(StatusCode.ERROR, r.error_code or status))
        span.end(end_time=r.end)

    # ------------------------------------------------------------------ the end

    @contextmanager
    def closing(self) -> Iterator[None]:
        """Around the client's ``close()``: an ``openai_realtime.close`` span, then :meth:`end`."""
        try:
            if self._recording:
                with self.telemetry.tracer.start_as_current_span("openai_realtime.close",
                                                                 context=self._ctx):
                    yield
            else:
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
        self._emit(self.observer.end(time.time_ns()))
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
    """The session span's usage (the response spans set the same names in _response_span)."""
    return {
        _INPUT_TOKENS: t.input_tokens,
        _OUTPUT_TOKENS: t.output_tokens,
        _CACHE_READ: t.cached_tokens,
        _INPUT_AUDIO: t.input_audio,
        _OUTPUT_AUDIO: t.output_audio,
    }
