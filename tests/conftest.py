# Session-wide secret scan: proves that no key or token appears in any log record or any library
# exception produced by the whole test suite (the scanner and its patterns: tests/fuzz/secret_scan.py).
#
#  (a) a handler on the root logger scans every formatted record (exc_info included) as it is
#      emitted; the openai_realtime_ws, picows and aiohttp loggers are set to _SCAN_LEVEL for the
#      session (level 1: picows' level-9 frame and upgrade-request logs are scanned too);
#  (b) OpenAIRealtimeError.__init__ is wrapped (session-scoped autouse fixture) so that every
#      library exception is recorded; its str()/repr() is read when the test that made it ends;
#      ConnectPlan.__post_init__ is wrapped too: every key and token a plan ever holds (tokens a
#      provider rotates on reconnect included) is then searched for literally, whatever its shape;
#  (c) pytest_sessionfinish scans it all and fails the session on a finding; the terminal summary
#      prints the counts and each finding (masked) with where it came from.
#
# The emulator's fixtures come from its pytest11 plugin; nothing here duplicates them.
from __future__ import annotations

import functools
import logging
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from openai_realtime_ws.core.errors import OpenAIRealtimeError
from openai_realtime_ws.core.handshake import ConnectPlan

from .fuzz.secret_scan import Finding, SecretRecorder

_RECORDER = SecretRecorder()
_LOGGERS = ("openai_realtime_ws", "picows", "aiohttp")
# Level 1: every record, picows' level-9 frame and upgrade-request logs included (issue 9 item 7).
# SECRET_SCAN_LEVEL=10 scans DEBUG and above only (quicker on frame floods).
_SCAN_LEVEL = int(os.environ.get("SECRET_SCAN_LEVEL", 1))
_saved_levels: dict[str, int] = {}
_handler: logging.Handler | None = None
_findings: list[Finding] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    global _handler
    # A shell starts a background job (`.ci/run &`, nohup) with SIGINT ignored, and an ignored
    # signal stays ignored in every subprocess: the CLI's Ctrl-C tests would then wait forever.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    _handler = _RECORDER.handler()
    logging.getLogger().addHandler(_handler)
    for name in _LOGGERS:
        _saved_levels[name] = logging.getLogger(name).level
        logging.getLogger(name).setLevel(_SCAN_LEVEL)


@pytest.fixture(scope="session", autouse=True)
def _record_library_exceptions() -> Iterator[SecretRecorder]:
    original = OpenAIRealtimeError.__init__

    @functools.wraps(original)
    def init(self: OpenAIRealtimeError, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        _RECORDER.exception_created(self)

    OpenAIRealtimeError.__init__ = init  # type: ignore[method-assign]
    plan_init = ConnectPlan.__post_init__

    def post_init(self: ConnectPlan) -> None:
        plan_init(self)
        for secret in self.known_secrets:
            _RECORDER.register_secret(secret)

    ConnectPlan.__post_init__ = post_init  # type: ignore[method-assign]
    try:
        yield _RECORDER
    finally:
        OpenAIRealtimeError.__init__ = original  # type: ignore[method-assign]
        ConnectPlan.__post_init__ = plan_init  # type: ignore[method-assign]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    _RECORDER.current_test = item.nodeid  # findings name the test that produced them
    try:
        return (yield)
    finally:
        _RECORDER.flush()
        _RECORDER.current_test = "<session>"


@pytest.hookimpl(trylast=True)  # after the runner's own sessionfinish tears fixtures down
def pytest_sessionfinish(session: pytest.Session) -> None:
    if _handler is not None:
        logging.getLogger().removeHandler(_handler)
    for name, level in _saved_levels.items():
        logging.getLogger(name).setLevel(level)
    _findings[:] = _RECORDER.scan()
    if _findings:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    r = _RECORDER
    terminalreporter.write_sep(
        "-" if not _findings else "!",
        f"secret scan: {r.log_records} log records, {r.exceptions} library exceptions, "
        f"{len(_findings)} secrets found",
        red=bool(_findings),
    )
    for f in _findings[:50]:
        terminalreporter.write_line(f"SECRET {f.kind} {f.masked} in {f.source}", red=True)
