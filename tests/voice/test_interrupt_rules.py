"""The nothing-heard rules and error tolerance against the emulator: an interrupt before any audio
arrived deletes the unheard item (a truncate would be refused); audio received but not yet played
truncates at 0; a refused truncate is reported and the session goes on."""

from __future__ import annotations

import asyncio
from typing import Any

from openai_realtime_ws import AsyncOpenAIRealtimeWS
from openai_realtime_ws.audio import PacedSink
from openai_realtime_ws.emulator import Drop, Emulator, EmulatorConfig
from openai_realtime_ws.voice import VoiceEvent, VoiceSession

KEY = "sk-rules-0000000000"


async def _session(emu: Emulator, sink: PacedSink) -> tuple[AsyncOpenAIRealtimeWS, VoiceSession, list[VoiceEvent]]:
    rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="gpt-realtime")
    events: list[VoiceEvent] = []
    voice = VoiceSession(rt, sink=sink, on_event=events.append)
    await voice.start()
    await rt.wait_for("session.updated", timeout=5)
    return rt, voice, events


async def test_interrupt_before_any_audio_deletes_the_unheard_item() -> None:
    config = EmulatorConfig(speed=4.0)
    async with Emulator(config=config) as emu:
        rt, voice, _ = await _session(emu, PacedSink())
        added: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        stops: list[Any] = []

        def barge_in_now(event: Any) -> None:
            # the user interrupts the moment the item is announced, before any audio arrived
            stops.append(voice.interrupt())
            added.set_result(event)

        rt.once("response.output_item.added", barge_in_now)
        voice.say("hello")
        item = (await asyncio.wait_for(added, 5)).item
        assert stops[0] is not None and stops[0].item_id is None  # nothing received
        deleted = await rt.wait_for("conversation.item.deleted", timeout=5)
        assert deleted.item_id == item.id
        await rt.wait_for("response.done", timeout=5)
        sent = emu.connections[0].received_types()
        assert "conversation.item.truncate" not in sent
        assert sent.index("response.cancel") < sent.index("conversation.item.delete")
        assert not voice.errors
        await voice.aclose()
        await rt.close()


async def test_audio_received_but_not_played_truncates_at_zero() -> None:
    async with Emulator(config=EmulatorConfig(speed=20.0)) as emu:
        # a sink that never plays (speed so low its first frame is far away)
        rt, voice, _ = await _session(emu, PacedSink(speed=0.001))
        first_audio: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        rt.once("response.output_audio.delta", first_audio.set_result)
        voice.say("hello there")
        await asyncio.wait_for(first_audio, 5)
        stop = voice.interrupt()
        assert stop is not None and stop.heard_ms == 0 and stop.received_ms > 0
        truncated = await rt.wait_for("conversation.item.truncated", timeout=5)
        assert truncated.audio_end_ms == 0
        await voice.aclose()
        await rt.close()


async def test_a_refused_truncate_is_reported_and_the_session_goes_on() -> None:
    async with Emulator(config=EmulatorConfig(speed=20.0)) as emu:
        sink = PacedSink(speed=0.001)  # holds the audio: the interrupt finds it queued
        rt, voice, events = await _session(emu, sink)
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        rt.once("response.done", done.set_result)
        voice.say("hello there")
        response = (await asyncio.wait_for(done, 5)).response
        item_id = response.output[0].id
        # the item disappears before the barge-in: the truncate will be refused
        rt.send({"type": "conversation.item.delete", "item_id": item_id})
        await rt.wait_for("conversation.item.deleted", timeout=5)
        voice.interrupt()
        await rt.wait_for("error", timeout=5)
        assert any(e.type == "error" and e.code for e in events)
        # still alive: the next turn is answered
        answered: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        rt.once("response.done", answered.set_result)
        voice.say("are you there")
        assert (await asyncio.wait_for(answered, 5)).response.status == "completed"
        assert not rt.closed
        await voice.aclose()
        await rt.close()


async def test_out_of_band_response_runs_beside_the_in_band_one() -> None:
    async with Emulator(config=EmulatorConfig(speed=4.0)) as emu:
        rt, voice, _ = await _session(emu, PacedSink(speed=4.0))
        created: list[Any] = []
        rt.on("response.created", created.append)
        voice.say("tell me a long story about the sea")
        await rt.wait_for("response.output_audio.delta", timeout=5)
        assert voice.respond(conversation="none", output_modalities=["text"],
                             instructions="Summarise the conversation.", input=[])  # sent at once
        in_band = voice.sequencer.active
        assert voice.say("and another one") is False  # in-band: waits
        dones = 0
        async for ev in voice:
            if ev.type == "response_done":
                dones += 1
                if dones == 3:
                    break
        assert in_band is not None and created[0].response.id == in_band
        assert created[1].response.conversation_id is None  # the out-of-band one, in parallel
        assert not voice.errors
        await voice.aclose()
        await rt.close()


async def test_after_a_reconnect_the_session_answers_again() -> None:
    async with Emulator(config=EmulatorConfig(speed=4.0)) as emu:
        # the socket drops in the middle of the first reply; the client reconnects by itself
        emu.faults.next_connection(Drop(after_type="response.output_audio.delta", after=3))
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY,
                                                model="gpt-realtime", reconnect=True)
        sink = PacedSink(speed=4.0)
        voice = VoiceSession(rt, sink=sink)
        await voice.start()
        back: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        rt.once("reconnected", back.set_result)
        voice.say("tell me a long story")
        await asyncio.wait_for(back, 10)
        assert not sink.playing and not voice.sequencer.busy
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        rt.once("response.done", done.set_result)
        assert voice.say("are you back") is True  # not stuck behind the lost response
        assert (await asyncio.wait_for(done, 5)).response.status == "completed"
        await voice.aclose()
        await rt.close()
