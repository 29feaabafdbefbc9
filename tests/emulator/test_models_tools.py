# Issue 19 items 3 and 4: a scripted model may only call tools the session (or the response)
# declared; unknown models are refused the way the real API refuses them (error invalid_model,
# close 4000); one list of known model names (core/models.py) for the CLI, create()'s warning and
# the emulator.
from __future__ import annotations

import logging

import pytest
import websockets

from openai_realtime_ws import AsyncOpenAIRealtimeWS
from openai_realtime_ws.core import models
from openai_realtime_ws.emulator import Emulator, EmulatorConfig, ScriptedResponder, ToolCall

from .helpers import connect, types, user_text

TOOL = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}


def script() -> ScriptedResponder:
    return ScriptedResponder().on(r"weather", tools=[ToolCall("get_weather", {"city": "Oslo"})])


@pytest.mark.realtime_emulator(config=EmulatorConfig(speed=0), responder=script())
async def test_scripted_call_of_an_undeclared_tool_is_refused_naming_it(realtime_emulator: Emulator) -> None:
    raw = await connect(realtime_emulator)
    await raw.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"],
                                                          "tools": []}})
    await raw.recv_until("session.updated")
    await raw.send(user_text("what is the weather"))
    await raw.recv_until("conversation.item.done")
    await raw.send({"type": "response.create", "event_id": "evt_r1"})
    err = await raw.expect_error()
    assert err["type"] == "server_error" and err["code"] == "emulator_undeclared_tool"
    assert "'get_weather'" in err["message"] and "declared function tools: none" in err["message"]
    assert err["event_id"] == "evt_r1"
    await raw.no_event()
    # declared by the response only: allowed
    await raw.send({"type": "response.create", "response": {"tools": [TOOL]}})
    events = await raw.recv_until("response.done")
    assert "response.function_call_arguments.done" in types(events)
    await raw.ws.close()


@pytest.mark.realtime_emulator(config=EmulatorConfig(speed=0), responder=script())
async def test_undeclared_tool_in_a_vad_turn_is_an_error_event_not_a_crash(realtime_emulator: Emulator) -> None:
    from openai_realtime_ws.emulator import synth_audio

    raw = await connect(realtime_emulator)
    await raw.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})
    await raw.recv_until("session.updated")
    audio = synth_audio("weather", lead_silence_ms=100, tail_silence_ms=700)
    await raw.send({"type": "input_audio_buffer.append", "audio": __import__("base64").b64encode(audio).decode()})
    events = await raw.recv_until("error")
    assert events[-1]["error"]["code"] == "emulator_undeclared_tool"
    # the connection still works
    await raw.send({"type": "session.update", "session": {"type": "realtime", "tools": [TOOL]}})
    await raw.recv_until("session.updated")
    await raw.ws.close()


@pytest.mark.parametrize("model", ["gpt-4o", "o3", "whisper-1", "gpt-realtime-translate"])
async def test_unknown_model_is_refused_like_the_api(realtime_emulator: Emulator, model: str) -> None:
    raw = await connect(realtime_emulator, f"model={model}", created=False)
    ev = await raw.recv()
    assert ev["type"] == "error"
    assert ev["error"]["code"] == "invalid_model" and ev["error"]["type"] == "invalid_request_error"
    assert ev["error"]["message"] == f'Model "{model}" is not supported in realtime mode.'
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await raw.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4000 and closed.value.rcvd.reason == "invalid_request_error.invalid_model"


@pytest.mark.parametrize("model", ["gpt-realtime-2", "gpt-realtime-2.1", "gpt-realtime-mini-2025-12-15",
                                   "gpt-realtime-2.1-2026-11-01", "gpt-audio-mini"])
async def test_known_and_snapshot_models_are_served(realtime_emulator: Emulator, model: str) -> None:
    raw = await connect(realtime_emulator, f"model={model}", created=False)
    ev = await raw.recv()
    assert ev["type"] == "session.created" and ev["session"]["model"] == model
    await raw.ws.close()


async def test_model_check_all_refuses_placeholders_and_off_accepts_anything() -> None:
    async with Emulator(config=EmulatorConfig(model_check="all")) as emu:
        raw = await connect(emu, "model=m", created=False)
        assert (await raw.recv())["error"]["code"] == "invalid_model"
    async with Emulator(config=EmulatorConfig(model_check="off")) as emu:
        raw = await connect(emu, "model=gpt-4o", created=False)
        assert (await raw.recv())["type"] == "session.created"
        await raw.ws.close()


async def test_azure_deployment_names_are_not_checked(realtime_emulator: Emulator) -> None:
    raw = await connect(realtime_emulator, "model=gpt-4o", path="/openai/v1/realtime", created=False)
    assert (await raw.recv())["type"] == "session.created"
    await raw.ws.close()


def test_one_list_with_sources() -> None:
    for name in ("gpt-realtime", "gpt-realtime-mini", "gpt-realtime-2", "gpt-realtime-2.1",
                 "gpt-realtime-2025-08-28", "gpt-realtime-mini-2025-10-06"):
        assert models.REALTIME_MODELS.get(name)
    assert "gpt-realtime-translate" in models.TRANSLATION_MODELS
    assert not models.is_realtime_model("gpt-realtime-translate")
    assert models.unknown_model_message("gpt-realtime-2.1") is None
    msg = models.unknown_model_message("gpt-4o")
    assert msg is not None and "'gpt-4o'" in msg and "gpt-realtime" in msg
    from openai_realtime_ws.cli import _target

    assert set(_target.KNOWN_MODELS) == set(models.REALTIME_MODELS)


async def test_create_warns_on_an_unknown_model_without_refusing(
        realtime_emulator: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="openai_realtime_ws")
    rt = await AsyncOpenAIRealtimeWS.create(base_url=realtime_emulator.base_url, api_key="sk-x",
                                            model="my-gateway-voice")
    await rt.close()
    warned = [r.getMessage() for r in caplog.records if "not a known Realtime model" in r.getMessage()]
    assert warned and "'my-gateway-voice'" in warned[0]
    caplog.clear()
    rt = await AsyncOpenAIRealtimeWS.create(base_url=realtime_emulator.base_url, api_key="sk-x",
                                            model="gpt-realtime-2.1")
    await rt.close()
    assert not [r for r in caplog.records if "not a known Realtime model" in r.getMessage()]
