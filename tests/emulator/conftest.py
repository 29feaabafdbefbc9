# Emulator test suite fixtures: every event any emulator sends during a test is validated (at
# teardown) against openai-python's pydantic union of server events, so the whole suite doubles
# as a fidelity check.
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest

from openai_realtime_ws.emulator import add_frame_observer

from .fidelity import validate_server_event

MAX_PER_TYPE = 50  # floods send 100k identical-shape deltas; validating 50 of each type is enough


@pytest.fixture(autouse=True)
def server_event_fidelity() -> Iterator[Counter[str]]:
    seen: Counter[str] = Counter()
    frames: list[dict[str, Any]] = []

    def observe(event: dict[str, Any]) -> None:
        t = str(event.get("type"))
        seen[t] += 1
        if seen[t] <= MAX_PER_TYPE:
            frames.append(event)

    remove = add_frame_observer(observe)
    try:
        yield seen
    finally:
        remove()
    bad: list[str] = []
    for frame in frames:
        try:
            validate_server_event(frame)
        except (pydantic.ValidationError, AssertionError) as exc:
            bad.append(f"{frame.get('type')}: {str(exc)[:500]}")
    if bad:
        pytest.fail("emulator sent events that openai-python's models reject:\n" + "\n".join(bad[:10]))
