"""A 200-turn scripted voice conversation against the emulator (server VAD on) with random
interruptions: text turns (sometimes two requests at once), spoken turns, explicit interrupts
and barge-in by speech. The one-active-response sequencer must keep the server from ever
answering ``conversation_already_has_active_response``, and no error may end the session."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from openai_realtime_ws import AsyncOpenAIRealtimeWS
from openai_realtime_ws.audio import PacedSink
from openai_realtime_ws.emulator import Emulator, EmulatorConfig, synth_audio
from openai_realtime_ws.voice import VoiceEvent, VoiceSession

KEY = "sk-voice-0000000000"
TURNS = 200


@pytest.mark.timeout(240)
async def test_200_turns_with_random_interruptions_never_collide() -> None:
    rnd = random.Random(11)
    # record_limit=0: every client event of the 200 turns is kept, so the truncates can be counted
    config = EmulatorConfig(
        speed=100.0, audio_chunk_ms=100, response_latency_ms=200, record_limit=0
    )
    speech = synth_audio("hi there", "audio/pcm", tail_silence_ms=400)
    async with Emulator(config=config) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="gpt-realtime")
        counts = {"created": 0, "done": 0}
        changed = asyncio.Event()

        def bump(key: str) -> Any:
            def handler(_: Any) -> None:
                counts[key] += 1
                changed.set()
            return handler

        rt.on("response.created", bump("created"))
        rt.on("response.done", bump("done"))
        events: list[VoiceEvent] = []
        sink = PacedSink(speed=100.0)
        voice = VoiceSession(rt, sink=sink, on_event=events.append)
        await voice.start()
        await rt.wait_for("session.updated", timeout=5)

        async def quiet(done_before: int) -> None:
            while not (counts["done"] > done_before and counts["created"] == counts["done"]
                       and not voice.sequencer.busy and voice.sequencer.pending == 0):
                changed.clear()
                await asyncio.wait_for(changed.wait(), 10)

        interrupts = {"explicit": 0, "speech": 0}
        for i in range(TURNS):
            done_before = counts["done"]
            kind = rnd.random()
            if kind < 0.6:
                voice.say(f"turn {i} tell me something")
                if rnd.random() < 0.3:
                    voice.say(f"and also {i}")  # a second request while the first runs
            else:
                rt.send_audio(speech)  # server VAD: speech_started/stopped, then its own response
            r = rnd.random()
            if r < 0.25:
                # explicit interrupt once the reply has started
                while counts["created"] <= done_before and counts["done"] == done_before:
                    changed.clear()
                    await asyncio.wait_for(changed.wait(), 10)
                voice.interrupt()
                interrupts["explicit"] += 1
            elif r < 0.45:
                # the user talks over the reply
                while counts["created"] <= done_before and counts["done"] == done_before:
                    changed.clear()
                    await asyncio.wait_for(changed.wait(), 10)
                rt.send_audio(speech)
                interrupts["speech"] += 1
            await quiet(done_before)
            changed.set()

        await voice.aclose()
        codes = [code for code, _ in voice.errors]
        assert "conversation_already_has_active_response" not in codes
        assert not rt.closed
        assert counts["done"] >= TURNS
        assert interrupts["explicit"] > 20 and interrupts["speech"] > 20
        assert sum(1 for e in events if e.type == "interrupted") > 20
        received = emu.connections[0].received_types()
        # interrupts that land after the (100x fast) playback has finished have nothing to cut, so
        # how many truncates happen depends on timing; at least one must, and none may be refused
        # for cutting past the audio received
        assert received.count("conversation.item.truncate") >= 1
        assert "invalid_value" not in codes
        await rt.close()
        print(f"\n{TURNS} turns: {counts['done']} responses, {interrupts}, errors {sorted({str(c) for c in codes})}")
