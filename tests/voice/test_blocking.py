"""The voice session on the blocking client: started on the client's loop thread, events through
``on_event``, a spoken reply played by a sink, an explicit interrupt truncating it."""

from __future__ import annotations

import threading

from openai_realtime_ws import OpenAIRealtimeWS
from openai_realtime_ws.audio import PacedSink
from openai_realtime_ws.emulator import EmulatorConfig, EmulatorThread
from openai_realtime_ws.voice import VoiceEvent, VoiceSession


def test_voice_session_on_the_blocking_client() -> None:
    with EmulatorThread(config=EmulatorConfig(speed=4.0)) as emu:
        rt = OpenAIRealtimeWS.create(base_url=emu.base_url, api_key="sk-sync-000000", model="gpt-realtime")
        events: list[VoiceEvent] = []
        audio_started = threading.Event()
        done = threading.Event()

        def on_event(ev: VoiceEvent) -> None:
            events.append(ev)
            if ev.type == "assistant_transcript_delta":
                audio_started.set()
            if ev.type == "response_done":
                done.set()

        sink = PacedSink(record=True)
        voice = VoiceSession(rt, sink=sink, on_event=on_event)
        voice.start_blocking()
        rt.wait_for("session.updated", timeout=5)
        voice.say("a long answer about the weather in spring please")
        assert audio_started.wait(5)
        rt.loop.call_soon_threadsafe(voice.interrupt)  # handlers and the session live there
        assert done.wait(5)
        truncated = rt.wait_for("conversation.item.truncated", timeout=5)
        assert truncated.audio_end_ms <= len(sink.played_audio) / 48 + 20
        voice.close_blocking()
        assert any(e.type == "interrupted" for e in events)
        rt.close()
