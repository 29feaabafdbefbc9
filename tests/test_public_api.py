"""The package's public surface: ``__all__`` pinned, the exception tree as drawn in
core/errors.py, and the old names still importable."""

from __future__ import annotations

import os
import subprocess
import sys

import openai_realtime_ws
from openai_realtime_ws import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    HandlerError,
    HandshakeError,
    InvalidClientEvent,
    MalformedFrameError,
    OpenAIRealtimeError,
    QueueFull,
    RealtimeAPIError,
    RealtimeConfigError,
    RealtimeConnectionError,
)
from openai_realtime_ws.core import errors, sendqueue
from openai_realtime_ws.types import ErrorEvent, ErrorEventError

PUBLIC = [
    "AsyncOpenAIRealtimeWS",
    "AsyncRealtimeCalls",
    "AsyncRealtimeTranslation",
    "CallControlError",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "Conversation",
    "HandlerError",
    "HandshakeError",
    "InvalidClientEvent",
    "MalformedFrameError",
    "OpenAIRealtimeError",
    "OpenAIRealtimeWS",
    "QueueFull",
    "RealtimeAPIError",
    "RealtimeCalls",
    "RealtimeConfigError",
    "RealtimeConnectionError",
    "RealtimeTarget",
    "RealtimeTranslation",
    "ReconnectContext",
    "ReconnectPolicy",
    "UnknownEventTypeWarning",
    "UnknownServerEvent",
    "__version__",
    "build_azure_url",
    "build_realtime_url",
    "connect",
    "create_client_secret",
    "create_client_secret_sync",
]


def test_all_is_pinned_and_every_name_resolves() -> None:
    # adding or removing a public name is a deliberate change: update PUBLIC with it
    assert sorted(openai_realtime_ws.__all__) == sorted(PUBLIC)
    assert len(set(openai_realtime_ws.__all__)) == len(openai_realtime_ws.__all__)
    for name in PUBLIC:
        assert getattr(openai_realtime_ws, name) is not None, name


def test_exception_tree_is_the_one_drawn_in_errors_docstring() -> None:
    tree: dict[type[BaseException], tuple[type[BaseException], ...]] = {
        RealtimeConfigError: (OpenAIRealtimeError, ValueError),
        InvalidClientEvent: (OpenAIRealtimeError, ValueError),
        QueueFull: (OpenAIRealtimeError,),
        HandlerError: (OpenAIRealtimeError,),
        RealtimeAPIError: (OpenAIRealtimeError,),
        MalformedFrameError: (OpenAIRealtimeError,),
        RealtimeConnectionError: (OpenAIRealtimeError,),
        HandshakeError: (RealtimeConnectionError,),
        ConnectionClosed: (RealtimeConnectionError,),
        ConnectionClosedOK: (ConnectionClosed,),
        ConnectionClosedError: (ConnectionClosed,),
    }
    for cls, bases in tree.items():
        assert cls.__bases__ == bases, cls
        assert cls.__name__ in (errors.__doc__ or ""), cls
    # the local-misuse errors are not API errors, and a normal close is not an error
    assert not issubclass(RealtimeConfigError, RealtimeAPIError)
    assert not issubclass(ConnectionClosedOK, ConnectionClosedError)
    # QueueFull lives in errors.py; the old import path gives the same class
    assert sendqueue.QueueFull is QueueFull is errors.QueueFull


def test_code_has_one_meaning_per_class() -> None:
    api = RealtimeAPIError.from_event(
        ErrorEvent(
            event_id="event_1",
            error=ErrorEventError(
                type="invalid_request_error",
                message="Invalid value",
                code="invalid_value",
                param="session.voice",
                event_id="evt_client",
            ),
        )
    )
    assert (api.code, api.param, api.type, api.client_event_id) == (
        "invalid_value",
        "session.voice",
        "invalid_request_error",
        "evt_client",
    )
    # event_id is the server event's id, as in openai-node; server_event_id its older name
    assert api.event_id == api.server_event_id == "event_1" and api.message == "Invalid value"
    assert str(api) == (
        "Invalid value (type=invalid_request_error code=invalid_value param=session.voice "
        "event_id=evt_client)"
    )
    closed = ConnectionClosedOK("closed", code=1000, reason="bye")
    assert closed.code == 1000 and closed.unsent == []
    assert HandshakeError("refused", status=401).status == 401
    assert not hasattr(OpenAIRealtimeError("x"), "code")
    # compatibility: the root's from_event still works and gives the API error
    assert type(OpenAIRealtimeError.from_raw({"error": {"code": 429}})) is RealtimeAPIError


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_import_needs_only_msgspec_and_picows() -> None:
    # the lean install: importing the client pulls in no HTTP package and no crypto library
    # (multidict is picows's own dependency)
    out = _run(
        "import sys, openai_realtime_ws, openai_realtime_ws.types\n"
        "print(sorted(m for m in ('aiohttp', 'cryptography', 'trustme', 'yarl')"
        " if m in sys.modules))"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"



def test_emulator_command_without_the_extra_says_what_to_install() -> None:
    # (chat/events/mint: tests/cli/test_usage.py) `None` in sys.modules makes `import aiohttp`
    # fail as if it were not installed
    command = ["emulator", "--port", "0"]
    code = (
        "import sys; sys.modules['aiohttp'] = None\n"
        "from openai_realtime_ws.cli import main\n"
        "sys.exit(main(sys.argv[1:]))"
    )
    out = _run(code, *command)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    assert "needs the `emulator` extra (aiohttp is not installed)" in out.stderr
    assert "pip install 'openai-realtime-ws[emulator]'" in out.stderr
