"""The typed overloads: a type checker knows which event class each handler receives.

Runs mypy on small programs: the correct one passes, each mistake is reported."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

GOOD = """
from openai_realtime_ws import AsyncOpenAIRealtimeWS, OpenAIRealtimeError, OpenAIRealtimeWS
from openai_realtime_ws.types import ResponseDoneEvent, ResponseOutputTextDeltaEvent

async def main(rt: AsyncOpenAIRealtimeWS, brt: OpenAIRealtimeWS) -> None:
    def on_delta(event: ResponseOutputTextDeltaEvent) -> None:
        print(event.delta.upper())

    rt.on("response.output_text.delta", on_delta)
    rt.on("response.output_text.delta", lambda e: print(e.delta.upper()))

    @rt.on("response.done")
    async def done(event: ResponseDoneEvent) -> None:
        print(event.response.status)

    rt.on("error", lambda err: print(err.error.code if err.error else err.message))
    rt.on("some.future.event", lambda e: print(e.raw))
    event = await rt.wait_for("response.done")
    reveal_type(event)
    reveal_type(brt.wait_for("response.output_text.delta"))
"""

BAD_HANDLER = """
from openai_realtime_ws import AsyncOpenAIRealtimeWS
from openai_realtime_ws.types import ResponseOutputTextDeltaEvent

def on_delta(event: ResponseOutputTextDeltaEvent) -> None: ...

def main(rt: AsyncOpenAIRealtimeWS) -> None:
    rt.on("response.done", on_delta)
"""

BAD_ATTRIBUTE = """
from openai_realtime_ws import AsyncOpenAIRealtimeWS

async def main(rt: AsyncOpenAIRealtimeWS) -> None:
    event = await rt.wait_for("response.output_text.delta")
    print(event.transcript)  # text deltas have no transcript
"""


def run_mypy(tmp_path: Path, source: str) -> tuple[str, int]:
    path = tmp_path / "snippet.py"
    path.write_text(textwrap.dedent(source))
    stdout, stderr, status = mypy_api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / ".cache"), str(path)]
    )
    return stdout + stderr, status


def test_correct_usage_type_checks_and_reveals_event_classes(tmp_path: Path) -> None:
    out, status = run_mypy(tmp_path, GOOD)
    assert 'Revealed type is "openai_realtime_ws.types._generated.ResponseDoneEvent"' in out
    assert "ResponseOutputTextDeltaEvent" in out.split("Revealed type")[-1]
    assert status == 0 and out.count("error:") == 0, out


def test_wrong_handler_class_is_an_error(tmp_path: Path) -> None:
    out, status = run_mypy(tmp_path, BAD_HANDLER)
    assert status == 1 and "incompatible type" in out, out
    assert "ResponseOutputTextDeltaEvent" in out


def test_wrong_attribute_is_an_error(tmp_path: Path) -> None:
    out, status = run_mypy(tmp_path, BAD_ATTRIBUTE)
    assert status == 1 and 'has no attribute "transcript"' in out, out
