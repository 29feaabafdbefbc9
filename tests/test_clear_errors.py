"""Errors that say what happened and what to do (issue 21): an empty key, a model or call id with
a control character, an event type that is a typo or a beta name, a client secret without a key.
Over the real emulator where a client is involved."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from openai_realtime_ws import AsyncOpenAIRealtimeWS, OpenAIRealtimeWS, RealtimeConfigError
from openai_realtime_ws.core.event_names import (
    BETA_NAMES,
    UnknownEventTypeWarning,
    check_event_type,
)
from openai_realtime_ws.core.handshake import RealtimeTarget
from openai_realtime_ws.emulator import Emulator, EmulatorThread
from openai_realtime_ws.types import SERVER_EVENT_TYPES

THIS_FILE = str(Path(__file__))


@pytest.fixture(autouse=True)
def _no_credentials_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)


# -- the key --------------------------------------------------------------------------------------


async def test_an_empty_api_key_says_it_is_empty_not_unset() -> None:
    with pytest.raises(RealtimeConfigError) as info:
        await AsyncOpenAIRealtimeWS.create(model="gpt-realtime", api_key="")
    assert str(info.value).startswith("the API key is empty (api_key='' or OPENAI_API_KEY set to '')")
    assert "not set" not in str(info.value)


async def test_an_empty_openai_api_key_variable_says_it_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "")
    with pytest.raises(RealtimeConfigError, match="the API key is empty"):
        await AsyncOpenAIRealtimeWS.create(model="gpt-realtime")


async def test_no_key_at_all_still_says_not_set() -> None:
    with pytest.raises(RealtimeConfigError, match=r"^OPENAI_API_KEY is not set"):
        await AsyncOpenAIRealtimeWS.create(model="gpt-realtime")


async def test_create_client_secret_without_a_key_names_the_variable() -> None:
    from openai_realtime_ws import create_client_secret

    with pytest.raises(RealtimeConfigError, match="OPENAI_API_KEY"):
        await create_client_secret(model="gpt-realtime")


# -- control characters in what selects the session -----------------------------------------------


@pytest.mark.parametrize("bad", ["gpt-realtime\n", "gpt-\rrealtime", "gpt\x00realtime", "gpt-realtime\x7f",
                                 "gpt-realtime\x85"])
def test_a_model_with_a_control_character_is_refused_naming_it(bad: str) -> None:
    with pytest.raises(RealtimeConfigError) as info:
        RealtimeTarget(model=bad)
    message = str(info.value)
    assert message.startswith("`model` contains a control character (U+00")
    assert f"at position {next(i for i, c in enumerate(bad) if not c.isprintable())}" in message


def test_a_call_id_with_a_newline_is_refused() -> None:
    with pytest.raises(RealtimeConfigError, match=r"^`call_id` contains a control character"):
        RealtimeTarget(call_id="rtc_abc\n")


async def test_create_refuses_the_model_before_connecting() -> None:
    async with Emulator() as emu:
        with pytest.raises(RealtimeConfigError, match="`model` contains a control character"):
            await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, model="gpt-realtime\nx")
        assert len(emu.connections) == 0  # nothing was opened


def test_ordinary_names_pass() -> None:
    RealtimeTarget(model="gpt-realtime-2025-08-28")
    RealtimeTarget(model="my-azure-deployment_1.0")
    RealtimeTarget(call_id="rtc_u1_9c6574da8b8a41a18da9308f4ad974ce")


# -- event type names -----------------------------------------------------------------------------


def test_every_known_name_and_unlike_names_pass_silently() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in [*SERVER_EVENT_TYPES, "event", "error", "frame", "reconnecting", "reconnected"]:
            assert check_event_type(name) is None
        for future in ("some.future.event", "relay.upstream_closed", "custom"):
            assert check_event_type(future) is None  # a newer server event passes through


@pytest.mark.parametrize(("typed", "meant"), [
    ("reponse.done", "response.done"),
    ("response.don", "response.done"),
    ("response.completed", "response.done"),
    ("input_audio_buffer.speech_start", "input_audio_buffer.speech_started"),
    ("session.update", "session.updated"),
    *BETA_NAMES.items(),
])
def test_a_near_miss_warns_naming_the_type_meant(typed: str, meant: str) -> None:
    with pytest.warns(UnknownEventTypeWarning) as record:
        assert check_event_type(typed) == meant
    message = str(record[0].message)
    assert repr(meant) in message and repr(typed) in message
    if typed in BETA_NAMES:
        assert "beta name" in message


@pytest.fixture
async def rt() -> AsyncIterator[AsyncOpenAIRealtimeWS]:
    async with Emulator() as emu:
        async with await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, model="gpt-realtime") as client:
            yield client


async def test_on_once_off_warn_at_the_callers_line(rt: AsyncOpenAIRealtimeWS) -> None:
    with pytest.warns(UnknownEventTypeWarning, match="beta name of 'response.output_text.delta'") as rec:
        rt.on("response.text.delta", print)
    assert rec[0].filename == THIS_FILE
    with pytest.warns(UnknownEventTypeWarning, match="did you mean 'response.done'") as rec:

        @rt.once("reponse.done")  # a typo (warned at run time)
        def done(event: object) -> None: ...

    assert rec[0].filename == THIS_FILE
    with pytest.warns(UnknownEventTypeWarning, match="'response.done'") as rec:
        rt.off("response.don")
    assert rec[0].filename == THIS_FILE
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rt.on("response.output_text.delta", print)
        rt.on("some.future.event", print)


async def test_wait_for_warns_before_waiting(rt: AsyncOpenAIRealtimeWS) -> None:
    rt.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    with pytest.warns(UnknownEventTypeWarning, match="did you mean 'response.done'") as rec, \
            pytest.raises(TimeoutError):
        await rt.wait_for("response.completed", timeout=0.5)
    assert rec[0].filename == THIS_FILE


def test_the_blocking_client_warns_too() -> None:
    with EmulatorThread() as emu, OpenAIRealtimeWS.create(base_url=emu.base_url, model="gpt-realtime") as rt:
        with pytest.warns(UnknownEventTypeWarning, match="beta name") as rec:
            rt.on("response.audio.delta", print)
        assert rec[0].filename == THIS_FILE
        with pytest.warns(UnknownEventTypeWarning) as rec, pytest.raises(TimeoutError):
            rt.wait_for("response.completed", timeout=0.2)
        assert rec[0].filename == THIS_FILE


# -- the other symptoms, as a user meets them (the rules: tests/core/test_protocol_rules.py,
#    tests/aio/test_shell_rules.py, by the client helper) -------------------------------------


async def test_odd_length_pcm16_is_refused_before_anything_is_sent() -> None:
    from openai_realtime_ws import InvalidClientEvent

    async with Emulator() as emu:
        async with await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, model="gpt-realtime") as rt:
            await rt.wait_for("session.created", timeout=5)
            with pytest.raises(InvalidClientEvent, match="3 bytes is not a whole number of PCM16") as info:
                rt.send_audio(b"\x00\x01\x02")
            assert isinstance(info.value, ValueError)
            rt.send_audio(b"\x00\x01")  # a whole sample goes
            rt.send({"type": "input_audio_buffer.clear"})
            await rt.wait_for("input_audio_buffer.cleared", timeout=5)
        assert emu.connections[0].received_types().count("input_audio_buffer.append") == 1


async def test_the_blocking_client_inside_a_running_loop_says_so_at_once() -> None:
    async with Emulator() as emu:
        with pytest.raises(RuntimeError, match="inside a running event loop: use AsyncOpenAIRealtimeWS"):
            OpenAIRealtimeWS.create(base_url=emu.base_url, model="gpt-realtime")


async def test_a_wait_for_timeout_names_what_was_awaited() -> None:
    async with Emulator() as emu:
        async with await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, model="gpt-realtime") as rt:
            with pytest.raises(TimeoutError, match=r"no 'response.done' event within 0.1 s"):
                await rt.wait_for("response.done", timeout=0.1)


async def test_an_unawaited_create_says_to_await_it() -> None:
    async with Emulator() as emu:
        opening = AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, model="gpt-realtime")
        with pytest.raises(TypeError, match=r"create\(\) must be awaited: rt = await AsyncOpenAIRealtimeWS\.create"):
            opening.send({"type": "response.create"})  # type: ignore[attr-defined]
        async with await opening as rt:  # still usable once awaited
            assert not rt.closed
