"""A 200-turn scripted voice conversation against the emulator (server VAD on) with random
interruptions: text turns (sometimes two requests at once), spoken turns, explicit interrupts
and barge-in by speech, each either as the reply starts (nothing of it received yet) or once its
first audio is queued in the sink. The one-active-response sequencer must keep the server from
ever answering ``conversation_already_has_active_response``, no error may end the session, and
every interruption must truncate exactly what it cut, at what was heard."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from openai_realtime_ws import AsyncOpenAIRealtimeWS
from openai_realtime_ws.audio import PacedSink, PlaybackStop
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

        # An interruption "at audio" happens in this handler, registered after the session's: the
        # reply's first audio delta is then queued in the sink (the sink's clock runs on this loop
        # and cannot pull in between), so the reply has audio to cut, deterministically.
        at_audio: dict[str, str | None] = {"kind": None}
        cut_at_audio: list[tuple[str, int, int]] = []  # (item, part, heard ms) of explicit ones

        def on_delta(event: Any) -> None:
            kind = at_audio["kind"]
            if kind is None or voice.turn.is_cut(event.response_id):
                return  # not armed, or late audio of an interrupted reply (never played)
            at_audio["kind"] = None
            if kind == "speech":
                rt.send_audio(speech)
                return
            part = sink.part(event.item_id, event.content_index)
            assert part is not None and 0 < part.received and part.played < part.received
            stop = voice.interrupt()
            assert stop is not None and stop.was_playing
            key: tuple[str, int] = (str(event.item_id), int(event.content_index))
            if (stop.item_id, stop.content_index) == key:
                cut_at_audio.append((*key, part.played // 48))
            else:  # the last reply's tail was still playing: this one is queued behind it, unheard
                assert key in stop.unheard_parts
                cut_at_audio.append((*key, 0))

        rt.on("response.output_audio.delta", on_delta)

        async def quiet(done_before: int) -> None:
            while not (counts["done"] > done_before and counts["created"] == counts["done"]
                       and not voice.sequencer.busy and voice.sequencer.pending == 0):
                changed.clear()
                await asyncio.wait_for(changed.wait(), 10)

        interrupts = {"explicit": 0, "speech": 0, "explicit_at_audio": 0, "speech_at_audio": 0}
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
            if r < 0.5 and rnd.random() < 0.5:
                kind_at_audio = "explicit" if r < 0.25 else "speech"
                at_audio["kind"] = kind_at_audio
                interrupts[kind_at_audio] += 1
                interrupts[f"{kind_at_audio}_at_audio"] += 1
                while at_audio["kind"] is not None:
                    changed.clear()
                    await asyncio.wait_for(changed.wait(), 10)
            elif r < 0.25:
                # explicit interrupt once the reply has started
                while counts["created"] <= done_before and counts["done"] == done_before:
                    changed.clear()
                    await asyncio.wait_for(changed.wait(), 10)
                voice.interrupt()
                interrupts["explicit"] += 1
            elif r < 0.5:
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
        assert interrupts["explicit_at_audio"] > 10 and interrupts["speech_at_audio"] > 10
        assert sum(1 for e in events if e.type == "interrupted") > 20
        # every truncate the server got is one an interruption called for: the part it stopped
        # in at what was heard (unless that part was complete and heard to its end), and parts
        # queued behind it at 0 ...
        stops = [e.stop for e in events if e.type == "interrupted" and e.stop is not None]
        assert stops == [stop for _, stop in voice.stops]
        truncates = [(e["item_id"], e["content_index"], e["audio_end_ms"])
                     for e in emu.connections[0].received if e["type"] == "conversation.item.truncate"]
        assert truncates == [cut for stop in stops for cut in _cuts(stop)]
        # ... so each explicit interruption at audio truncated its reply at what had been played
        assert len(cut_at_audio) == interrupts["explicit_at_audio"]
        assert set(cut_at_audio) <= set(truncates)
        assert "invalid_value" not in codes
        await rt.close()
        print(f"\n{TURNS} turns: {counts['done']} responses, {interrupts}, {len(truncates)} truncates, errors {sorted({str(c) for c in codes})}")


def _cuts(stop: PlaybackStop) -> list[tuple[str, int, int]]:
    """The truncates a stop calls for (the rules of core/playback.py, written out)."""
    cuts: list[tuple[str, int, int]] = []
    if stop.item_id is not None and stop.received_ms > 0 and not (
            stop.complete and stop.heard_ms >= stop.received_ms):
        cuts.append((stop.item_id, stop.content_index, min(stop.heard_ms, stop.received_ms)))
    return cuts + [(item_id, index, 0) for item_id, index in stop.unheard_parts]
