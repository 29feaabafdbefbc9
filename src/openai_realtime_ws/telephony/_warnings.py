# Rate-limited warning lines for the phone shells (the Twilio bridge, the SIP webhook app): the
# budget is core/ratelimit.py's; this shell reads the clock and writes to the caller's logger.
from __future__ import annotations

import logging
import time
from typing import Any

from ..core.ratelimit import WarningBudget

__all__ = ["RateLimitedWarnings"]


class RateLimitedWarnings:
    """``warn(text, *args)`` logs on ``logger`` within a :class:`WarningBudget` (``burst`` per
    ``window`` seconds, or for the object's life); ``notice`` is the line that replaces the first
    warning over budget; ``count`` is every warning."""

    __slots__ = ("budget", "logger", "notice", "what")

    def __init__(self, logger: logging.Logger, what: str, *, burst: int = 3,
                 window: float | None = None,
                 notice: str = "further ones are counted, not logged") -> None:
        self.logger = logger
        self.what = what
        self.notice = notice
        self.budget = WarningBudget(burst, window, now=time.monotonic())

    @property
    def count(self) -> int:
        """Every warning taken (logged or counted)."""
        return self.budget.count

    def warn(self, text: str, *args: Any) -> None:
        """One warning of this kind."""
        verdict, missed = self.budget.take(time.monotonic())
        if missed:
            self.logger.warning("%s: %d more in the last %.0f s", self.what, missed,
                                self.budget.window or 0.0)
        if verdict == "log":
            self.logger.warning(text, *args)
        elif verdict == "notice":
            self.logger.warning("%s: %s", self.what, self.notice)
