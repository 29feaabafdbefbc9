"""Typed resources (issue 20 part 1) on both clients against the real emulator: each method
puts its event on the wire, validates like send() (the same error, nothing sent), and
``rt.session`` / ``rt.conversation`` still read as the confirmed session and the mirror."""

from __future__ import annotations

import asyncio

import pytest

from openai_realtime_ws import AsyncOpenAIRealtimeWS, InvalidClientEvent, OpenAIRealtimeWS
from openai_realtime_ws.emulator import Emulator, EmulatorThread
from openai_realtime_ws.types import ResponseDoneEvent
from openai_realtime_ws.types.params import ConversationItemParamDict
from openai_realtime_ws.types.resources import SessionResource

KEY = "sk-test-key-0123456789abcdef"
USER_HI: ConversationItemParamDict = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi there"}]}


async def test_every_resource_method_sends_its_event() -> None:
    async with Emulator(api_key=KEY) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="gpt-realtime")
        codes: list[str | None] = []
        three = asyncio.Event()

        def on_error(err: Exception) -> None:
            codes.append(getattr(err, "code", None))
            if len(codes) == 3:
                three.set()

        rt.on("error", on_error)
        await rt.wait_for("session.created", timeout=5)
        assert rt.session and rt.session.type == "realtime" and rt.session.confirmed is rt.protocol.session
        rt.session.update(session={"type": "realtime", "instructions": "Be brief.", "output_modalities": ["text"]})
        updated = await rt.wait_for("session.updated", timeout=5)
        assert rt.session.instructions == "Be brief." == updated.session.instructions
        rt.conversation.item.create(item=USER_HI, event_id="ev_create")
        added = await rt.wait_for("conversation.item.added", timeout=5)
        rt.response.create(response={"output_modalities": ["text"]})
        done = await rt.wait_for("response.done", timeout=10)
        assert isinstance(done, ResponseDoneEvent) and done.response.status == "completed"
        assert next(item.id for item in rt.conversation) == added.item.id and len(rt.conversation) >= 2
        item_id = added.item.id
        assert item_id is not None and rt.conversation.get(item_id) is not None
        rt.conversation.item.retrieve(item_id=item_id)
        await rt.wait_for("conversation.item.retrieved", timeout=5)
        rt.conversation.item.delete(item_id=item_id)
        await rt.wait_for("conversation.item.deleted", timeout=5)
        rt.input_audio_buffer.append(audio="AAAAAAAA")
        rt.input_audio_buffer.clear()
        await rt.wait_for("input_audio_buffer.cleared", timeout=5)
        rt.input_audio_buffer.append(audio="AAAAAAAA")
        rt.input_audio_buffer.commit()  # (the server answers: too little audio)
        rt.response.cancel()  # (no response in progress)
        rt.output_audio_buffer.clear()  # (WebRTC/SIP only: refused on a WebSocket)
        await asyncio.wait_for(three.wait(), 5)
        await rt.close()
        # each reached the server and was judged there
        assert codes == ["input_audio_buffer_commit_empty", "response_cancel_not_active", "invalid_value"]
    sent = emu.connections[0].received
    types = [e["type"] for e in sent]
    for wire in (
        "session.update", "conversation.item.create", "response.create", "conversation.item.retrieve",
        "conversation.item.delete", "input_audio_buffer.append", "input_audio_buffer.clear",
        "input_audio_buffer.commit", "response.cancel", "output_audio_buffer.clear",
    ):
        assert wire in types, wire
    create = next(e for e in sent if e["type"] == "conversation.item.create")
    assert create == {"type": "conversation.item.create", "item": USER_HI, "event_id": "ev_create"}
    # optional parameters left at None are not sent
    assert next(e for e in sent if e["type"] == "response.cancel") == {"type": "response.cancel"}


async def test_a_bad_field_raises_what_send_raises_and_sends_nothing() -> None:
    async with Emulator(api_key=KEY) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="gpt-realtime")
        await rt.wait_for("session.created", timeout=5)
        bad: dict[str, str] = {"type": "realtime", "instructons": "typo"}
        with pytest.raises(InvalidClientEvent) as by_send:
            rt.send({"type": "session.update", "session": bad})
        with pytest.raises(InvalidClientEvent) as by_resource:
            rt.session.update(session=bad)  # type: ignore[arg-type]
        assert str(by_resource.value) == str(by_send.value) and by_resource.value.field == "session.instructons"
        with pytest.raises(InvalidClientEvent, match="audio_end_ms"):
            rt.conversation.item.truncate(item_id="i", content_index=0, audio_end_ms="10")  # type: ignore[arg-type]
        rt.send({"type": "input_audio_buffer.clear"})
        await rt.wait_for("input_audio_buffer.cleared", timeout=5)
        await rt.close()
    assert emu.connections[0].received_types() == ["input_audio_buffer.clear"]


def test_the_blocking_client_has_the_same_resources() -> None:
    with EmulatorThread(api_key=KEY) as emu:
        with OpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="gpt-realtime") as rt:
            rt.session.update(session={"type": "realtime", "output_modalities": ["text"]})
            rt.wait_for("session.updated", timeout=5)
            rt.conversation.item.create(item=USER_HI)
            rt.response.create()
            done = rt.wait_for("response.done", timeout=10)
            assert done.response.status == "completed"
            assert rt.session.output_modalities == ["text"] and len(rt.conversation) >= 2
            with pytest.raises(InvalidClientEvent):
                rt.response.create(response={"output_modalities": ["txt"]})  # type: ignore[arg-type]
        assert rt.closed


def test_the_session_view_is_falsy_until_a_session_is_confirmed() -> None:
    confirmed: list[object] = []
    view = SessionResource(lambda event: None, lambda: confirmed[0] if confirmed else None)
    assert not view and view.confirmed is None
    with pytest.raises(AttributeError, match="no session confirmed yet"):
        print(view.instructions)
    assert getattr(view, "audio", None) is None  # (what turn_detection_of and friends do)
    confirmed.append(type("S", (), {"instructions": "hi"})())
    assert view and view.instructions == "hi"
