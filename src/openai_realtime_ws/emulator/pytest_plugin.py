# pytest plugin (entry point `pytest11: openai_realtime_ws`): fixtures that start the emulator
# for a test. `realtime_emulator` / `realtime_emulator_tls` are async (pytest-asyncio, any mode);
# `realtime_emulator_thread` runs it in a thread for blocking tests. Options per test:
# `@pytest.mark.realtime_emulator(api_key="sk-test", config=EmulatorConfig(speed=0), responder=...)`.
from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
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
        "(api_key, config, responder, synthesizer, transcriber, host, port).",
    )


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("realtime_emulator"))):
        kwargs.update(marker.kwargs)
    return kwargs


@_async_fixture
async def realtime_emulator(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    """A started Emulator (plain ws://) for this test; stopped afterwards."""
    async with Emulator(**{**_options(request), "tls": False}) as emu:
        yield emu


@_async_fixture
async def realtime_emulator_tls(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    """A started Emulator with TLS (wss://); trust it with `emu.ssl_context` or `emu.ca_file`."""
    async with Emulator(**{**_options(request), "tls": True}) as emu:
        yield emu


@pytest.fixture
def realtime_emulator_thread(request: pytest.FixtureRequest) -> Iterator[EmulatorThread]:
    """The emulator on its own loop in a daemon thread, for synchronous tests."""
    with EmulatorThread(**_options(request)) as emu:
        yield emu
