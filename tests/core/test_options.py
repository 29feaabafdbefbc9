"""core.options: every create()/azure() option is checked before anything is opened; a bad one
raises RealtimeConfigError naming the option and what was expected (no event loop here)."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from openai_realtime_ws.core.errors import RealtimeConfigError
from openai_realtime_ws.core.options import (
    DEFAULT_MAX_QUEUE,
    OPTION_NAMES,
    ConnectOptions,
    check_connect_options,
)
from openai_realtime_ws.core.reconnect import ReconnectPolicy


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        # the six
        ("max_size", -1, "int >= 1"),
        ("open_timeout", "10", "number of seconds > 0, or None"),
        ("ping_interval", 0, "number of seconds > 0, or None"),
        ("ping_timeout", -1, "number of seconds > 0, or None"),
        ("close_timeout", None, "number of seconds >= 0"),
        ("ssl", "yes please", "ssl.SSLContext"),
        # and their neighbours
        ("max_size", 0, "int >= 1"),
        ("max_size", 1.5, "int >= 1"),
        ("max_size", True, "int >= 1"),
        ("max_queue", 0, "int >= 1"),
        ("max_queue", "16", "int >= 1"),
        ("send_queue_bytes", -5, "int >= 1"),
        ("open_timeout", 0, "> 0"),
        ("open_timeout", float("nan"), "> 0"),
        ("open_timeout", float("inf"), "> 0"),
        ("open_timeout", True, "> 0"),
        ("close_timeout", -0.1, ">= 0"),
        ("close_timeout", "5", ">= 0"),
        ("ping_interval", -3, "> 0"),
        ("ping_timeout", 0, "> 0"),
        ("ssl", 1, "ssl.SSLContext"),
        ("ssl", object(), "ssl.SSLContext"),
        ("reconnect", "yes", "ReconnectPolicy"),
        ("reconnect", 3, "ReconnectPolicy"),
    ],
)
def test_bad_option_is_named_with_what_was_expected(name: str, value: Any, expected: str) -> None:
    with pytest.raises(RealtimeConfigError) as info:
        check_connect_options(**{name: value})
    text = str(info.value)
    assert f"`{name}`" in text and expected in text, text


def test_a_str_value_is_never_echoed() -> None:
    key = "sk-" + "wrongplace-0123456789"
    for name in ("ssl", "open_timeout", "max_size", "reconnect"):
        with pytest.raises(RealtimeConfigError, match="got a str") as info:
            check_connect_options(**{name: key})
        assert key not in str(info.value)


def test_unknown_option_refused() -> None:
    with pytest.raises(RealtimeConfigError, match=r"unknown option `ping_intervall`.*ping_interval"):
        check_connect_options(ping_intervall=5)


def test_defaults() -> None:
    opts = check_connect_options()
    assert opts == ConnectOptions()
    assert opts.max_queue == DEFAULT_MAX_QUEUE and opts.reconnect is None and opts.ssl is None
    assert opts.open_timeout == 10.0 and opts.ping_interval == 20.0


def test_good_values_pass_and_are_normalised() -> None:
    ctx = ssl.create_default_context()
    policy = ReconnectPolicy(max_attempts=2)
    opts = check_connect_options(
        max_queue=16, max_size=1, send_queue_bytes=1024, open_timeout=3, close_timeout=0,
        ping_interval=None, ping_timeout=0.5, ssl=ctx, reconnect=policy,
    )
    assert opts.max_queue == 16 and opts.max_size == 1 and opts.send_queue_bytes == 1024
    assert opts.open_timeout == 3.0 and isinstance(opts.open_timeout, float)
    assert opts.close_timeout == 0.0 and opts.ping_interval is None and opts.ping_timeout == 0.5
    assert opts.ssl is ctx and opts.reconnect is policy
    assert check_connect_options(open_timeout=None).open_timeout is None
    assert check_connect_options(ping_timeout=None).ping_timeout is None
    assert check_connect_options(ssl=False).ssl is False
    assert check_connect_options(ssl=True).ssl is True
    assert check_connect_options(reconnect=True).reconnect == ReconnectPolicy()
    assert check_connect_options(reconnect=False).reconnect is None


def test_option_names_are_the_dataclass_fields() -> None:
    assert set(ConnectOptions.__dataclass_fields__) == OPTION_NAMES
