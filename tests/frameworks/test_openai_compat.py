# `openai_realtime_ws.connect(client, model=...)`: openai-python's realtime connection API on this
# library, against the emulator over loopback. openai-python's own example program
# (openai_python_realtime.py, copied with its one line changed) runs as a real subprocess; then
# every resource of the asyncio connection, its handlers, recv/recv_bytes, and the blocking twin.
from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncOpenAI, OpenAI

from openai_realtime_ws import ConnectionClosedOK, InvalidClientEvent, RealtimeConfigError, connect
from openai_realtime_ws.emulator import Emulator, EmulatorConfig, EmulatorThread, synth_audio
from openai_realtime_ws.openai_compat import AsyncRealtimeConnection, RealtimeConnection
from openai_realtime_ws.types import ResponseOutputTextDoneEvent

KEY = "sk-compat-test-0000"
EXAMPLE = Path(__file__).with_name("openai_python_realtime.py")


@pytest.mark.realtime_emulator(api_key=KEY, config=EmulatorConfig(speed=0))
async def test_openai_python_example_runs_with_one_line_changed(realtime_emulator: Emulator) -> None:
    env = {**os.environ, "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": realtime_emulator.base_url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLE), env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(b"Bonjour\nHow are you\nq\n"), 25)
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    assert "You said: Bonjour\n" in text
    assert "You said: How are you\n" in text
    assert KEY not in text + err.decode()
    received = realtime_emulator.connections[0].received_types()
    assert received == ["session.update", "conversation.item.create", "response.create",
                        "conversation.item.create", "response.create"]
    session = realtime_emulator.connections[0].session
    assert session is not None and session.state["output_modalities"] == ["text"]


async def until(conn: AsyncRealtimeConnection, type: str) -> Any:
    """The next event of `type` (recv() skips the others, e.g. rate_limits.updated)."""
    while (event := await asyncio.wait_for(conn.recv(), 10)).type != type:
        pass
    return event


@pytest.mark.realtime_emulator(api_key=KEY, config=EmulatorConfig(speed=0))
async def test_every_resource_of_the_async_connection(realtime_emulator: Emulator) -> None:
    from openai.types.realtime import ResponseCreateEvent

    client = AsyncOpenAI(api_key=KEY, base_url=realtime_emulator.base_url)
    async with connect(client, model="gpt-realtime") as conn:
        assert isinstance(conn, AsyncRealtimeConnection)
        assert (await conn.recv()).type == "session.created"
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"],
                                           "audio": {"input": {"turn_detection": None}}})
        assert (await conn.recv()).type == "session.updated"

        await conn.conversation.item.create(item={
            "id": "item_user_1", "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "one"}]})
        # openai-python's typed (pydantic) events are accepted by send()
        await conn.send(ResponseCreateEvent(type="response.create"))
        texts = []
        async for event in conn:
            if isinstance(event, ResponseOutputTextDoneEvent):
                texts.append(event.text)
            if event.type == "response.done":
                break
        assert texts == ["You said: one"]

        assert (await conn.recv()).type == "rate_limits.updated"
        await conn.conversation.item.retrieve(item_id="item_user_1")
        raw = json.loads(await conn.recv_bytes())
        assert raw["type"] == "conversation.item.retrieved"
        assert raw["item"]["id"] == "item_user_1"

        # errors arrive as events, as in openai-python
        await conn.conversation.item.truncate(item_id="item_user_1", content_index=0, audio_end_ms=10)
        error = await until(conn, "error")
        assert error.error.code == "unsupported_content_type"
        await conn.response.cancel()
        error = await until(conn, "error")
        assert error.error.code == "response_cancel_not_active"

        await conn.conversation.item.delete(item_id="item_user_1")
        assert (await conn.recv()).type == "conversation.item.deleted"

        pcm = synth_audio("hello", lead_silence_ms=0, tail_silence_ms=0)
        await conn.input_audio_buffer.append(audio=base64.b64encode(pcm).decode())
        await conn.input_audio_buffer.clear()
        assert (await conn.recv()).type == "input_audio_buffer.cleared"
        await conn.input_audio_buffer.append(audio=base64.b64encode(pcm).decode())
        await conn.input_audio_buffer.commit(event_id="evt_commit")
        assert (await conn.recv()).type == "input_audio_buffer.committed"

        # output_audio_buffer.clear exists on plain sockets too; the server refuses it there
        await conn.output_audio_buffer.clear(event_id="evt_oab")
        error = await until(conn, "error")
        assert error.error.param == "type" and error.error.event_id == "evt_oab"

        # a bad event is refused before anything is sent, naming the field
        with pytest.raises(InvalidClientEvent) as info:
            # (mypy flags it too: the parameters are the client's TypedDicts; strict mypy would
            # report this ignore as unused if they were not)
            await conn.session.update(session={"type": "realtime", "instructons": "typo"})  # type: ignore[arg-type]
        assert "instructons" in str(info.value)

    sent = realtime_emulator.connections[0].received
    assert [e["type"] for e in sent][-2:] == ["input_audio_buffer.commit", "output_audio_buffer.clear"]
    assert sent[-2]["event_id"] == "evt_commit"
    with pytest.raises(ConnectionClosedOK):
        await conn.recv()


@pytest.mark.realtime_emulator(config=EmulatorConfig(speed=0))
async def test_handlers_run_by_dispatch_events(realtime_emulator: Emulator) -> None:
    client = AsyncOpenAI(api_key="sk-x", base_url=realtime_emulator.base_url)
    async with connect(client, model="gpt-realtime") as conn:
        deltas: list[str] = []
        seen: list[str] = []
        once: list[str] = []

        @conn.on("response.output_text.delta")
        async def on_delta(event: Any) -> None:
            deltas.append(event.delta)

        conn.on("event", lambda e: seen.append(e.type))
        conn.once("session.created", lambda e: once.append(e.type))

        done: list[str] = []

        async def ask(text: str) -> None:
            await conn.conversation.item.create(item={
                "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
            await conn.response.create(response={"metadata": {"n": text}})

        async def on_done(event: Any) -> None:
            # specific handlers run before "event" ones (openai-python's order)
            assert seen.count("response.done") == len(done)
            done.append(event.type)
            if len(done) == 1:
                await ask("second")
            else:
                await conn.close()

        conn.on("response.done", on_done)
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await ask("first")
        await asyncio.wait_for(conn.dispatch_events(), 10)
        assert "".join(deltas) == "You said: firstYou said: second"
        assert once == ["session.created"]
        assert "error" not in seen
        conn.off("response.output_text.delta", on_delta)


@pytest.mark.realtime_emulator(config=EmulatorConfig(speed=0))
async def test_an_unhandled_error_event_raises_from_dispatch_events(realtime_emulator: Emulator) -> None:
    async with connect(AsyncOpenAI(api_key="sk-x", base_url=realtime_emulator.base_url),
                       model="gpt-realtime") as conn:
        await conn.response.cancel()
        from openai_realtime_ws import RealtimeAPIError

        with pytest.raises(RealtimeAPIError) as info:
            await asyncio.wait_for(conn.dispatch_events(), 10)
        assert info.value.code == "response_cancel_not_active"


def test_blocking_twin(realtime_emulator_thread: EmulatorThread) -> None:
    client = OpenAI(api_key="sk-x", base_url=realtime_emulator_thread.base_url)
    with connect(client, model="gpt-realtime") as conn:
        assert isinstance(conn, RealtimeConnection)
        conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        conn.conversation.item.create(item={
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "sync"}]})
        conn.response.create()
        text = ""
        for event in conn:
            if isinstance(event, ResponseOutputTextDoneEvent):
                text = event.text
            elif event.type == "response.done":
                break
        assert text == "You said: sync"
        assert json.loads(conn.recv_bytes())["type"] == "rate_limits.updated"
        from openai import omit

        conn.response.cancel(response_id=omit)  # type: ignore[arg-type]  # openai-python's sentinel: left out
        assert conn.recv().type == "error"
    with pytest.raises(ConnectionClosedOK):
        conn.recv()


def test_arguments_without_a_counterpart_are_refused_by_name() -> None:
    with pytest.raises(RealtimeConfigError, match="max_retries"):
        connect(None, model="gpt-realtime", max_retries=3)
    with pytest.raises(RealtimeConfigError, match="'compression'"):
        connect(None, model="gpt-realtime", websocket_connection_options={"compression": None})
    connect(None, model="gpt-realtime", extra_query={})  # openai-python's default: fine


@pytest.mark.realtime_emulator(api_key=KEY, config=EmulatorConfig(speed=0))
async def test_an_azure_client_goes_through_azure(realtime_emulator: Emulator) -> None:
    from openai import AsyncAzureOpenAI

    client = AsyncAzureOpenAI(api_key=KEY, azure_endpoint=realtime_emulator.origin,
                              api_version="2025-04-01-preview")
    async with connect(client, model="my-deployment") as conn:
        assert (await conn.recv()).type == "session.created"
    record = realtime_emulator.connections[0]
    assert record.path == "/openai/v1/realtime" and record.query["model"] == "my-deployment"
    assert record.headers["api-key"] == KEY and "authorization" not in record.headers


@pytest.mark.realtime_emulator(config=EmulatorConfig(speed=0))
async def test_reconnect_is_this_librarys_option(realtime_emulator: Emulator) -> None:
    from openai_realtime_ws.emulator import CloseWith

    realtime_emulator.faults.next_connection(CloseWith(code=1012, after_type="session.updated"))
    client = AsyncOpenAI(api_key="sk-x", base_url=realtime_emulator.base_url)
    async with connect(client, model="gpt-realtime", reconnect=True) as conn:
        await conn.session.update(session={"type": "realtime", "instructions": "Be brief."})
        await until(conn, "session.updated")
        # the server restarts (1012); iteration goes on with the new session, restored
        await until(conn, "session.created")
        restored = await until(conn, "session.updated")
        assert restored.session.instructions == "Be brief."
        assert conn.client.reconnects == 1
    assert len(realtime_emulator.connections) == 2


@pytest.mark.realtime_emulator(config=EmulatorConfig(speed=0))
async def test_enter_without_with(realtime_emulator: Emulator) -> None:
    conn = await connect(AsyncOpenAI(api_key="sk-x", base_url=realtime_emulator.base_url),
                         model="gpt-realtime").enter()
    assert (await conn.recv()).type == "session.created"
    await conn.close()
    await conn.close()  # idempotent
    assert conn.client.closed


def test_enter_sync_without_with(realtime_emulator_thread: EmulatorThread) -> None:
    conn = connect(OpenAI(api_key="sk-x", base_url=realtime_emulator_thread.base_url),
                   model="gpt-realtime").enter_sync()
    assert conn.recv().type == "session.created"
    conn.close()
    assert conn.client.closed
