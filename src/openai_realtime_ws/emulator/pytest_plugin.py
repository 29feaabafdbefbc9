# pytest plugin (entry point `pytest11: openai_realtime_ws`): fixtures that start the emulator
# for a test. `realtime_emulator` / `realtime_emulator_tls` are async (pytest-asyncio, any mode);
# `realtime_emulator_thread` runs it in a thread for blocking tests. Options per test:
# `@pytest.mark.realtime_emulator(api_key="sk-test", config=EmulatorConfig(speed=0), responder=...)`.
# With `replay="recording.jsonl"` (a path relative to the test file, or a `Recording`) the
# emulator answers with a recorded session ("record once against the real API, replay in CI"),
# and the test fails at teardown if the code under test diverged from the recording.
from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .server import Emulator, EmulatorThread

try:
    import pytest_asyncio

    _async_fixture: Callable[..., Any] = pytest_asyncio.fixture
except ImportError:  # pragma: no cover - without pytest-asyncio only the thread fixture works
    _async_fixture = pytest.fixture


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "realtime_emulator(**kwargs): keyword arguments for the emulator fixtures "
        "(api_key, config, responder, synthesizer, transcriber, host, port, replay).",
    )


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("realtime_emulator"))):
        kwargs.update(marker.kwargs)
    replay = kwargs.get("replay")
    if isinstance(replay, str | Path) and not Path(replay).is_absolute():
        kwargs["replay"] = Path(request.node.path).parent / replay  # next to the test file
    return kwargs


def _check_replay(emu: Emulator | EmulatorThread) -> None:
    """Fail the test when the code under test did not do what the replayed recording did."""
    emulator = emu.emulator if isinstance(emu, EmulatorThread) else emu
    if emulator is not None and emulator.replay is not None and emulator.replay_divergences:
        pytest.fail("the code under test diverged from the recording:\n" + "\n".join(emulator.replay_divergences))


@_async_fixture
async def realtime_emulator(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    """A started Emulator (plain ws://) for this test; stopped afterwards."""
    async with Emulator(**{**_options(request), "tls": False}) as emu:
        yield emu
        _check_replay(emu)


@_async_fixture
async def realtime_emulator_tls(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    """A started Emulator with TLS (wss://); trust it with `emu.ssl_context` or `emu.ca_file`."""
    async with Emulator(**{**_options(request), "tls": True}) as emu:
        yield emu
        _check_replay(emu)


@pytest.fixture
def realtime_emulator_thread(request: pytest.FixtureRequest) -> Iterator[EmulatorThread]:
    """The emulator on its own loop in a daemon thread, for synchronous tests."""
    with EmulatorThread(**_options(request)) as emu:
        yield emu
        _check_replay(emu)
