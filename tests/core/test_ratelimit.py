"""The warning budget of the phone shells (core/ratelimit.py), with a clock passed in."""

from __future__ import annotations

import pytest

from openai_realtime_ws.core.ratelimit import WarningBudget


def test_a_burst_is_logged_then_one_notice_then_counted() -> None:
    budget = WarningBudget(2)
    assert [budget.take(float(t)) for t in range(6)] == [
        ("log", 0), ("log", 0), ("notice", 0), ("count", 0), ("count", 0), ("count", 0)]
    assert budget.count == 6


def test_a_window_starts_the_budget_again_with_a_summary_of_what_was_only_counted() -> None:
    budget = WarningBudget(1, window=60.0, now=0.0)
    assert [budget.take(t) for t in (1.0, 2.0, 3.0, 4.0)] == [
        ("log", 0), ("notice", 0), ("count", 0), ("count", 0)]
    assert budget.take(61.0) == ("log", 2)  # two were counted without a line in the last window
    assert budget.take(62.0) == ("notice", 0)
    assert budget.take(200.0) == ("log", 0)  # the notice was the last line: nothing unsaid
    assert budget.count == 7


def test_burst_must_be_positive() -> None:
    with pytest.raises(ValueError, match="burst"):
        WarningBudget(0)
