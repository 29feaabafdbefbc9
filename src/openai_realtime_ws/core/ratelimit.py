"""Rate-limited warnings, without I/O: how many warnings of one kind are logged before the rest
are only counted. The phone shells (the Twilio bridge per call and per bridge, the SIP webhook
app) ask :class:`WarningBudget` and log what it says; the clock is passed in.

Rules: the first ``burst`` warnings of a window are logged, the next one is replaced by one
notice line saying the rest are counted, the rest are counted. With a ``window`` (seconds) the
budget starts again when a window has passed, and the first warning after that also reports how
many were counted without a line in the window before (a summary line); without one the budget
is for the life of the object (a call, an app). ``count`` is every warning ever taken.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["Verdict", "WarningBudget"]

Verdict = Literal["log", "notice", "count"]


class WarningBudget:
    """One kind of warning's budget (module rules)."""

    __slots__ = ("_shown", "_start", "burst", "count", "window")

    def __init__(self, burst: int = 3, window: float | None = None, *, now: float = 0.0) -> None:
        if burst < 1:
            raise ValueError(f"burst: expected at least 1, got {burst!r}")
        self.burst = burst
        self.window = window
        self.count = 0
        self._shown = 0  # warnings taken in this window
        self._start = now

    def take(self, now: float) -> tuple[Verdict, int]:
        """One more warning at ``now``: whether to log it, log the notice instead, or only count
        it; and how many were counted without a line in the window that just ended (log a
        summary first when it is not 0)."""
        self.count += 1
        missed = 0
        if self.window is not None and now - self._start > self.window:
            missed = max(0, self._shown - self.burst - 1)
            self._shown = 0
            self._start = now
        self._shown += 1
        if self._shown <= self.burst:
            return "log", missed
        if self._shown == self.burst + 1:
            return "notice", missed
        return "count", missed
