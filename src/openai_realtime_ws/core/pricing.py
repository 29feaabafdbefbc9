"""Published Realtime prices per model, dated and overridable (no I/O here).

It owns the one table of USD prices per million tokens, by modality (text, audio, image) and
kind (input, cached input, output), that :meth:`.usage.UsageTotals.estimate` multiplies token
counts by. Rules:

* Every entry names where its figures come from (``source``) and the table has one date
  (``as_of``): prices change, so an estimate always says which table it used.
* A price that was not published (or not verified) is ``None``, never a guess: an estimate that
  would need it is not made (``None``), so an unknown model or modality gives no figure rather
  than a wrong one.
* Model names match exactly (a dated snapshot is listed only when its own price is known: the
  snapshots of ``gpt-4o-realtime-preview`` had different prices).
* Override with :meth:`PriceTable.with_prices` (new or corrected entries, your contract's prices)
  and pass the table to ``estimate``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

__all__ = ["DEFAULT_PRICES", "ModalityPrice", "ModelPrice", "PriceTable"]


@dataclass(frozen=True, slots=True)
class ModalityPrice:
    """USD per 1M tokens of one modality; ``None`` where no price is known."""

    input: float | None = None
    cached_input: float | None = None
    output: float | None = None


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One model's prices and where they come from."""

    text: ModalityPrice
    audio: ModalityPrice = ModalityPrice()
    image: ModalityPrice = ModalityPrice()
    source: str = ""


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Prices per model name, as published on ``as_of`` (ISO date)."""

    as_of: str
    models: Mapping[str, ModelPrice] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", MappingProxyType(dict(self.models)))

    def get(self, model: str | None) -> ModelPrice | None:
        """The prices of ``model`` (exact name), or ``None`` when the table does not know it."""
        if model is None:
            return None
        return self.models.get(model)

    def with_prices(self, as_of: str | None = None, **models: ModelPrice) -> PriceTable:
        """A copy with ``models`` added or replaced (and ``as_of`` if given)::

            table = DEFAULT_PRICES.with_prices(**{"my-deployment": ModelPrice(text=...)})
        """
        return PriceTable(as_of or self.as_of, {**self.models, **models})


_OPENAI = "https://developers.openai.com/api/docs/models/"

_REALTIME_FULL = ModelPrice(
    text=ModalityPrice(4.0, 0.40, 16.0),
    audio=ModalityPrice(32.0, 0.40, 64.0),
    image=ModalityPrice(5.0, 0.50, None),
    source=_OPENAI + "gpt-realtime-1.5",
)

# text: the model comparison page (models/compare?model=gpt-realtime); audio: OpenAI's launch
# post for gpt-realtime (openai.com/index/introducing-gpt-realtime, 2025-08-28); no image price
# found for this model: image tokens give no estimate.
_REALTIME = ModelPrice(
    text=ModalityPrice(4.0, 0.40, 16.0),
    audio=ModalityPrice(32.0, 0.40, 64.0),
    source=_OPENAI + "compare?model=gpt-realtime; openai.com/index/introducing-gpt-realtime",
)

#: The built-in table (checked 2026-12-06 against OpenAI's model pages).
DEFAULT_PRICES: Final = PriceTable(
    as_of="2026-12-06",
    models={
        "gpt-realtime": _REALTIME,
        "gpt-realtime-2025-08-28": _REALTIME,
        "gpt-realtime-1.5": _REALTIME_FULL,
        "gpt-realtime-2": ModelPrice(
            text=ModalityPrice(4.0, 0.40, 24.0),
            audio=ModalityPrice(32.0, 0.40, 64.0),
            image=ModalityPrice(5.0, 0.50, None),
            source=_OPENAI + "gpt-realtime-2",
        ),
        "gpt-realtime-2.1-mini": ModelPrice(
            text=ModalityPrice(0.60, 0.06, 2.40),
            audio=ModalityPrice(10.0, 0.30, 20.0),
            image=ModalityPrice(0.80, 0.08, None),
            source=_OPENAI + "gpt-realtime-2.1-mini",
        ),
        # gpt-realtime-mini: only its text input price is on a page we checked (the 2.1-mini
        # page's comparison, $0.60) and its text output ($2.40, the model page as quoted by
        # third parties); cached and audio prices unverified: left unknown (override them).
        "gpt-realtime-mini": ModelPrice(
            text=ModalityPrice(0.60, None, 2.40),
            source=_OPENAI + "gpt-realtime-2.1-mini (comparison)",
        ),
        "gpt-4o-mini-realtime-preview": ModelPrice(
            text=ModalityPrice(0.60, 0.30, 2.40),
            audio=ModalityPrice(10.0, 0.30, 20.0),
            source=_OPENAI + "gpt-4o-mini-realtime-preview",
        ),
        "gpt-4o-mini-realtime-preview-2024-12-17": ModelPrice(
            text=ModalityPrice(0.60, 0.30, 2.40),
            audio=ModalityPrice(10.0, 0.30, 20.0),
            source=_OPENAI + "gpt-4o-mini-realtime-preview (default snapshot)",
        ),
    },
)
