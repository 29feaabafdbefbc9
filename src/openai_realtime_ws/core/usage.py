"""Token usage of a Realtime session, summed from ``response.done``, and its cost (no I/O here).

It owns:

* :class:`TokenCounts`: input tokens by modality (text, audio, image) with the cached part of
  each, output tokens by modality, as one response's ``usage`` reports them;
* :class:`UsageTotals`: the session's totals and the newest :data:`KEPT_RESPONSES` responses.
  The shell feeds it each ``response.done`` (:meth:`UsageTotals.observe`); it belongs to the
  client object, not to a socket, so it keeps counting across reconnects and rollovers (a
  rollover opens a new server session: its responses are added to the same totals);
* the cost estimate (:meth:`UsageTotals.estimate`, :func:`estimate_cost`): uncached input,
  cached input and output of each modality times the model's price from a
  :class:`~.pricing.PriceTable`. An unknown model, or a count whose price is unknown, gives
  ``None``: never a wrong figure.

Usage is billed per response (the whole conversation is input to each response): summing the
``usage`` of every ``response.done`` is the session's bill for the model (input transcription is
billed separately, by its own model, and is not counted here).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, fields
from typing import Any, Final, Protocol

from ..types import ResponseDoneEvent, SessionCreatedEvent, SessionUpdatedEvent
from .pricing import DEFAULT_PRICES, ModalityPrice, PriceTable

__all__ = [
    "KEPT_RESPONSES",
    "CostEstimate",
    "ResponseUsage",
    "TokenCounts",
    "UsageTotals",
    "estimate_cost",
]

#: Responses whose own usage :class:`UsageTotals` keeps (the newest ones); totals count all.
KEPT_RESPONSES: Final = 256


@dataclass(slots=True)
class TokenCounts:
    """Token counts of one response, or a sum of them."""

    input_text: int = 0
    input_audio: int = 0
    input_image: int = 0
    cached_text: int = 0
    cached_audio: int = 0
    cached_image: int = 0
    cached_unattributed: int = 0  # cached_tokens reported without a per-modality split
    output_text: int = 0
    output_audio: int = 0

    @property
    def input_tokens(self) -> int:
        return self.input_text + self.input_audio + self.input_image

    @property
    def cached_tokens(self) -> int:
        return self.cached_text + self.cached_audio + self.cached_image + self.cached_unattributed

    @property
    def output_tokens(self) -> int:
        return self.output_text + self.output_audio

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add(self, other: TokenCounts) -> None:
        """Add ``other`` into these counts (spelled out: it runs on every ``response.done``,
        and ``dataclasses.fields()`` costs ~4 µs a call; test_usage checks every field)."""
        self.input_text += other.input_text
        self.input_audio += other.input_audio
        self.input_image += other.input_image
        self.cached_text += other.cached_text
        self.cached_audio += other.cached_audio
        self.cached_image += other.cached_image
        self.cached_unattributed += other.cached_unattributed
        self.output_text += other.output_text
        self.output_audio += other.output_audio

    def as_dict(self) -> dict[str, int]:
        """Every count by name, plus the sums (``input_tokens``, ``cached_tokens``…)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out.update(
            input_tokens=self.input_tokens, cached_tokens=self.cached_tokens,
            output_tokens=self.output_tokens, total_tokens=self.total_tokens,
        )
        return out

    @classmethod
    def from_event(cls, event: ResponseDoneEvent) -> TokenCounts | None:
        """The counts of one ``response.done`` (``None`` when it carries no usage)."""
        usage = event.response.usage
        if usage is None:
            return None
        counts = cls()
        inp, out = usage.input_token_details, usage.output_token_details
        if inp is not None:
            counts.input_text = inp.text_tokens or 0
            counts.input_audio = inp.audio_tokens or 0
            counts.input_image = inp.image_tokens or 0
            cached = inp.cached_tokens or 0
            details = inp.cached_tokens_details
            if details is not None:
                counts.cached_text = details.text_tokens or 0
                counts.cached_audio = details.audio_tokens or 0
                counts.cached_image = details.image_tokens or 0
            counts.cached_unattributed = max(0, cached - counts.cached_tokens)
        elif usage.input_tokens:
            counts.input_text = usage.input_tokens  # no split reported: all counted as text
        if out is not None:
            counts.output_text = out.text_tokens or 0
            counts.output_audio = out.audio_tokens or 0
        elif usage.output_tokens:
            counts.output_text = usage.output_tokens
        return counts


@dataclass(slots=True, frozen=True)
class ResponseUsage:
    """One response's usage (``status`` as ``response.done`` reported it)."""

    response_id: str | None
    status: str | None
    tokens: TokenCounts


@dataclass(slots=True, frozen=True)
class CostEstimate:
    """An estimated cost in USD, with the parts it is made of and the table it came from."""

    model: str
    usd: float
    parts: dict[str, float]  # e.g. {"audio.input": ..., "audio.cached_input": ..., "text.output": ...}
    as_of: str
    source: str


def estimate_cost(
    tokens: TokenCounts, model: str | None, prices: PriceTable = DEFAULT_PRICES
) -> CostEstimate | None:
    """The cost of ``tokens`` on ``model``; ``None`` when the model is not in ``prices`` or a
    non-zero count has no known price. Cached tokens reported without a modality split are
    priced only when one input modality was used (they are that modality's)."""
    entry = prices.get(model)
    if entry is None or model is None:
        return None
    cached = {"text": tokens.cached_text, "audio": tokens.cached_audio, "image": tokens.cached_image}
    if tokens.cached_unattributed:
        used = [m for m, n in (("text", tokens.input_text), ("audio", tokens.input_audio),
                               ("image", tokens.input_image)) if n]
        if len(used) != 1:
            return None
        cached[used[0]] += tokens.cached_unattributed
    parts: dict[str, float] = {}
    rows: list[tuple[str, ModalityPrice, int, int]] = [
        ("text", entry.text, tokens.input_text, tokens.output_text),
        ("audio", entry.audio, tokens.input_audio, tokens.output_audio),
        ("image", entry.image, tokens.input_image, 0),
    ]
    for name, price, inp, out in rows:
        uncached = inp - cached[name]
        if uncached < 0:  # more cached than input: a report we cannot price
            return None
        for kind, count, per_million in (
            ("input", uncached, price.input),
            ("cached_input", cached[name], price.cached_input),
            ("output", out, price.output),
        ):
            if count == 0:
                continue
            if per_million is None:
                return None
            parts[f"{name}.{kind}"] = count * per_million / 1_000_000
    return CostEstimate(model, sum(parts.values()), parts, prices.as_of, entry.source)


class _Emitter(Protocol):
    def on(self, type: str, handler: Any = None) -> Any: ...


class UsageTotals:
    """A session's token usage: totals and the newest responses (see the module comment).

    Feed it every ``response.done`` with :meth:`observe`; read :attr:`total`, :attr:`responses`,
    :attr:`response_count`; price it with :meth:`estimate`.
    """

    __slots__ = ("model", "response_count", "responses", "total")

    def __init__(self, keep: int = KEPT_RESPONSES) -> None:
        self.total = TokenCounts()
        """The sum over every response seen."""
        self.responses: deque[ResponseUsage] = deque(maxlen=keep)
        """The newest responses' own usage (at most ``keep``)."""
        self.response_count = 0
        """Responses counted (with a usage block)."""
        self.model: str | None = None
        """The model of the session, when the shell reported it (:meth:`observe_model`)."""

    def observe(self, event: ResponseDoneEvent) -> ResponseUsage | None:
        """Count one ``response.done``; returns its usage (``None`` without a usage block)."""
        tokens = TokenCounts.from_event(event)
        if tokens is None:
            return None
        record = ResponseUsage(event.response.id, event.response.status, tokens)
        self.total.add(tokens)
        self.responses.append(record)
        self.response_count += 1
        return record

    def observe_model(self, model: str | None) -> None:
        """The session's model (from ``session.created``/``session.updated``), for pricing."""
        if model:
            self.model = model

    def attach(self, rt: _Emitter) -> UsageTotals:
        """Count ``rt``'s responses through its public ``on()`` (either client): handlers stay
        registered across reconnects and rollovers. Returns ``self``."""
        rt.on("response.done", self.observe)
        rt.on("session.created", self._session)
        rt.on("session.updated", self._session)
        return self

    def _session(self, event: SessionCreatedEvent | SessionUpdatedEvent) -> None:
        self.observe_model(getattr(event.session, "model", None))

    def estimate(
        self, model: str | None = None, prices: PriceTable = DEFAULT_PRICES
    ) -> CostEstimate | None:
        """The session's cost so far on ``model`` (default: the observed one), or ``None``."""
        return estimate_cost(self.total, model or self.model, prices)

    def __repr__(self) -> str:
        t = self.total
        return (
            f"<UsageTotals responses={self.response_count} input={t.input_tokens} "
            f"(cached {t.cached_tokens}) output={t.output_tokens}>"
        )
