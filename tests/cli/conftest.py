from __future__ import annotations

from collections.abc import Iterator

import pytest

from openai_realtime_ws.emulator import EmulatorConfig, EmulatorThread


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    """An emulator that requires the key ``sk-right`` (no pacing), in this process; yields its
    base URL. (The `emulator` command itself is started as a process in test_smoke.py.)"""
    with EmulatorThread(config=EmulatorConfig(api_key="sk-right", speed=0)) as emu:
        yield emu.base_url
