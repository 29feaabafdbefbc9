"""Barge-in end to end against the emulator with server VAD: the user speaks while the assistant
talks; playback stops within 50 ms of ``speech_started``, the truncate the emulator receives
equals what the sink played (±20 ms), and the emulator's item audio is cut there."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

from openai_realtime_ws import AsyncOpenAIRealtimeWS
from openai_realtime_ws.audio import PacedSink
from openai_realtime_ws.emulator import Emulator, EmulatorConfig, synth_audio
from openai_realtime_ws.voice import VoiceEvent, VoiceSession

KEY = "sk-voice-0000000000"
FRAME = 960  # 20 ms of PCM16 24 kHz


class ScriptedMic:
    """A real-time source: silence, then (when ``speak`` is set) the given speech, then silence.
    One 20 ms frame per 20 ms of loop time, as a microphone delivers them."""

    def __init__(self, speech: bytes) -> None:
        self.speech = speech
        self.speak = asyncio.Event()
        self.done = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        n = 0
        pending = b""
        while not self.done:
            n += 1
            delay = start + n * 0.02 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.speak.is_set() and self.speech:
                pending += self.speech
                self.speech = b""
            if pending:
                frame, pending = pending[:FRAME], pending[FRAME:]
                yield frame.ljust(FRAME, b"\0")
            else:
                yield bytes(FRAME)


def _truncates(conn: Any) -> list[dict[str, Any]]:
    return [e for e in conn.received if e.get("type") == "conversation.item.truncate"]


async def test_speech_while_the_assistant_talks_stops_playback_and_truncates_at_what_was_heard() -> None:
    config = EmulatorConfig(speed=4.0, audio_chunk_ms=100)
    async with Emulator(config=config) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="gpt-realtime")
        mic = ScriptedMic(synth_audio("stop please", "audio/pcm", tail_silence_ms=600))
        sink = PacedSink(record=True)
        events: list[VoiceEvent] = []
        heard_enough = asyncio.Event()

        def on_event(ev: VoiceEvent) -> None:
            events.append(ev)

        truncated_fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        rt.once("conversation.item.truncated", truncated_fut.set_result)
        async with VoiceSession(rt, source=mic, sink=sink, on_event=on_event) as voice:
            await rt.wait_for("session.updated")
            voice.say("tell me a very long story about the sea and the ships that sail on it at night")

            async def watch() -> None:
                # the user starts talking once 600 ms of the reply were played
                while len(sink.played_audio) < 600 * 48:
                    await asyncio.sleep(0.01)
                heard_enough.set()
                mic.speak.set()

            watcher = asyncio.create_task(watch())
            await asyncio.wait_for(heard_enough.wait(), 10)
            truncated = await asyncio.wait_for(truncated_fut, 10)
            await watcher
            # let the sink run a few more frames after the stop
            for _ in range(200):
                if sink.frames and sink.frames[-1][0] > voice.stops[-1][0] + 0.06:
                    break
                await asyncio.sleep(0.01)
            mic.done = True

        conn = emu.connections[0]
        truncates = _truncates(conn)
        assert len(truncates) == 1
        audio_end_ms = truncates[0]["audio_end_ms"]
        played_ms = len(sink.played_audio) / 48
        # what the emulator cut equals what the sink played, within 20 ms
        assert abs(audio_end_ms - played_ms) <= 20, (audio_end_ms, played_ms)
        assert truncated.audio_end_ms == audio_end_ms
        assert audio_end_ms >= 600
        # playback stopped within 50 ms of speech_started: the first silent frame after it
        t_speech = voice.speech_started_at[0]
        t_stop = next(t for t, real, _ in sink.frames if t > t_speech and real == 0)
        assert sum(real for t, real, _ in sink.frames if t > t_stop) == 0
        stop_latency_ms = (t_stop - t_speech) * 1000
        assert stop_latency_ms < 50, stop_latency_ms
        # the emulator's item audio is cut there (conversation.item.retrieve returns its audio)
        rt.send({"type": "conversation.item.retrieve", "item_id": truncates[0]["item_id"]})
        retrieved = await rt.wait_for("conversation.item.retrieved", timeout=5)
        content = retrieved.item.content or []
        audio = base64.b64decode(content[0].audio or "")
        assert len(audio) == audio_end_ms * 48
        stops = [e for e in events if e.type == "interrupted"]
        assert stops and stops[0].stop is not None and stops[0].stop.heard_ms == audio_end_ms
        await rt.close()
        print(f"\nbarge-in: stop {stop_latency_ms:.1f} ms after speech_started; "
              f"truncate {audio_end_ms} ms vs played {played_ms:.1f} ms")
