# Issue 19 item 1: speech recognition runs off the connection's event path. A transcriber that
# blocks until the test lets it go stands in for PocketSphinx: the VAD's events, the committed
# user item and anything else the client asks for must reach the client while it is still
# blocked (timestamps taken at the client), and the transcription and the response follow it.
from __future__ import annotations

import asyncio
import threading
import time

from openai_realtime_ws.emulator import Emulator, EmulatorConfig
from openai_realtime_ws.emulator.core.audio import silence, synth_audio

from .helpers import b64, connect, types


class GatedTranscriber:
    """A `blocking` plug-in that does not return before `release` is set."""

    blocking = True

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def transcribe(self, audio: bytes, *, audio_format: str, language: str | None = None) -> str:
        self.entered.set()
        if not self.release.wait(10):
            raise RuntimeError("never released")
        return "book a table"


async def _wait_entered(ears: GatedTranscriber) -> None:
    await asyncio.get_running_loop().run_in_executor(None, ears.entered.wait, 5)


async def test_vad_events_are_not_held_behind_recognition() -> None:
    ears = GatedTranscriber()
    async with Emulator(transcriber=ears, config=EmulatorConfig(speed=0)) as emu:
        raw = await connect(emu)
        await raw.send({"type": "session.update", "session": {
            "type": "realtime", "output_modalities": ["text"],
            "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}}}})
        await raw.recv_until("session.updated")
        speech = silence(200) + synth_audio("hello there") + silence(800)
        t_sent = time.monotonic()
        await raw.send({"type": "input_audio_buffer.append", "audio": b64(speech)})
        got = await raw.recv_until("conversation.item.done")
        t_done = time.monotonic()
        # recognition is running and blocked, yet the turn's events already arrived
        await _wait_entered(ears)
        assert not ears.release.is_set()
        assert types(got) == ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                              "input_audio_buffer.committed", "conversation.item.added",
                              "conversation.item.done"]
        assert t_done - t_sent < 2.0
        # the connection is not blocked either: another request is answered meanwhile
        await raw.send({"type": "input_audio_buffer.clear"})
        assert (await raw.recv())["type"] == "input_audio_buffer.cleared"
        ears.release.set()
        rest = await raw.recv_until("response.done")
        names = types(rest)
        assert names[0] == "conversation.item.input_audio_transcription.delta"
        assert names.index("conversation.item.input_audio_transcription.completed") < names.index("response.created")
        reply = rest[-1]["response"]["output"][0]["content"][0]["text"]
        assert reply == "You said: book a table"
        await raw.ws.close()


async def test_response_create_waits_for_recognition_and_keeps_order() -> None:
    ears = GatedTranscriber()
    async with Emulator(transcriber=ears, config=EmulatorConfig(speed=0)) as emu:
        raw = await connect(emu)
        await raw.send({"type": "session.update", "session": {
            "type": "realtime", "output_modalities": ["text"],
            "audio": {"input": {"turn_detection": None, "transcription": {"model": "gpt-4o-transcribe"}}}}})
        await raw.recv_until("session.updated")
        await raw.send({"type": "input_audio_buffer.append", "audio": b64(synth_audio("hi"))})
        await raw.send({"type": "input_audio_buffer.commit"})
        committed = await raw.recv_until("conversation.item.done")
        assert types(committed)[0] == "input_audio_buffer.committed"
        await _wait_entered(ears)
        # the response needs what the user said: it waits, and so does what the client sent after it
        await raw.send({"type": "response.create", "event_id": "evt_wait"})
        await raw.send({"type": "response.create", "event_id": "evt_second"})
        await raw.no_event(0.2)
        ears.release.set()
        events = await raw.recv_until("response.done")
        names = types(events)
        assert names.index("conversation.item.input_audio_transcription.completed") < names.index("response.created")
        # the second create was handled after the first, as sent: refused while the first runs
        errors = [e for e in events if e["type"] == "error"]
        assert [e["error"]["code"] for e in errors] == ["conversation_already_has_active_response"]
        assert errors[0]["error"]["event_id"] == "evt_second"
        assert events[-1]["response"]["output"][0]["content"][0]["text"] == "You said: book a table"
        await raw.ws.close()
