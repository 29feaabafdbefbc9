"""No credential in any log record at level 1 (issue 21): picows logs the upgrade request it sends
at level 9 ("Send upgrade request: b'GET … Authorization: Bearer …'"), and a custom credential
header (X-Api-Key) is in it too. Both are masked, whatever the timing.

The leak was a race: the redactor read the secrets from a process-wide WeakSet of connect plans,
and plans compare equal by value, so a second client with the same key did not add its own plan;
once the first client's plan was garbage-collected (when depended on the machine's load) the
second client's upgrade request went out unmasked. The second test makes that schedule happen
every time: the first client is dropped and collected between the TCP connect and the upgrade
request of the second."""

from __future__ import annotations

import gc
import logging
from collections.abc import Awaitable, Iterator

import pytest

from openai_realtime_ws import AsyncOpenAIRealtimeWS, OpenAIRealtimeWS
from openai_realtime_ws.emulator import Emulator, EmulatorThread

KEY = "sk-level1-9f8e7d6c5b4a39281706"
CUSTOM = "custom-credential-5a4b3c2d1e0f"


class _Everything(logging.Handler):
    """Every record of every logger, formatted as a handler would write it."""

    def __init__(self) -> None:
        super().__init__(level=1)
        self.lines: list[str] = []
        self.on_record: list[object] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.lines.append(f"{record.name}: {text}")
        for hook in list(self.on_record):
            hook(record)  # type: ignore[operator]


@pytest.fixture
def everything() -> Iterator[_Everything]:
    root = logging.getLogger()
    handler = _Everything()
    # logging.basicConfig(level=1), whatever an earlier test left on the package's loggers
    ours = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
            if name == "openai_realtime_ws" or name.startswith("openai_realtime_ws.")]
    saved = [(lg, lg.level, lg.disabled, lg.propagate) for lg in [root, *ours]]
    root.addHandler(handler)
    root.setLevel(1)
    for lg in ours:
        lg.setLevel(logging.NOTSET)
        lg.disabled = False
        lg.propagate = True
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for lg, level, disabled, propagate in saved:
            lg.setLevel(level)
            lg.disabled = disabled
            lg.propagate = propagate


def _assert_masked(handler: _Everything) -> None:
    upgrades = [line for line in handler.lines if "Send upgrade request" in line]
    assert upgrades, "picows' level-9 upgrade request was not logged (the test proves nothing)"
    assert all("Authorization: ***" in line or "Bearer ***" in line for line in upgrades), upgrades
    leaked = [line for line in handler.lines if KEY in line or CUSTOM in line]
    assert not leaked, leaked


async def test_level_1_masks_the_key_and_a_custom_credential_header(everything: _Everything) -> None:
    async with Emulator() as emu:
        async with await AsyncOpenAIRealtimeWS.create(
            base_url=emu.base_url, model="gpt-realtime", api_key=KEY, headers={"X-Api-Key": CUSTOM},
        ) as rt:
            rt.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
            await rt.wait_for("response.done", timeout=10)
    _assert_masked(everything)


async def test_an_equal_plan_of_a_collected_client_does_not_unmask_the_next(everything: _Everything) -> None:
    async with Emulator() as emu:
        def open_one() -> Awaitable[AsyncOpenAIRealtimeWS]:
            return AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, model="gpt-realtime",
                                                api_key=KEY, headers={"X-Api-Key": CUSTOM})

        first: list[AsyncOpenAIRealtimeWS] = [await open_one()]
        await first[0].close()

        def drop_the_first(record: logging.LogRecord) -> None:
            # picows logs "WS connection established" on TCP connect, then sends the upgrade
            if first and record.getMessage().startswith("WS connection established"):
                first.clear()
                gc.collect()

        everything.on_record.append(drop_the_first)
        async with await open_one() as second:
            assert not first  # the schedule of the leak happened
            assert not second.closed
    _assert_masked(everything)


def test_the_blocking_client_at_level_1(everything: _Everything) -> None:
    with EmulatorThread() as emu, OpenAIRealtimeWS.create(
        base_url=emu.base_url, model="gpt-realtime", api_key=KEY, headers={"X-Api-Key": CUSTOM},
    ) as rt:
        rt.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        rt.wait_for("response.done", timeout=10)
    _assert_masked(everything)
