# Issue 19 item 7, the client side: AsyncRealtimeTranslation / RealtimeTranslation against the
# emulator over loopback. finish() follows openai-node's OpenAIRealtimeTranslationWS: session.close
# is sent once, every event is delivered through session.closed, one deadline covers it all.
from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest

from openai_realtime_ws import InvalidClientEvent, RealtimeAPIError
from openai_realtime_ws.aio.translation import AsyncRealtimeTranslation
from openai_realtime_ws.core.errors import ConnectionClosedError, RealtimeConnectionError
from openai_realtime_ws.core.translation import (
    OutputAudioDelta,
    OutputTranscriptDelta,
    TranslationSessionClosed,
    TranslationSessionCreated,
    translation_url,
)
from openai_realtime_ws.emulator import Emulator, EmulatorConfig, EmulatorThread, synth_audio
from openai_realtime_ws.emulator.faults import CloseWith
from openai_realtime_ws.sync.translation import RealtimeTranslation

SPEECH = synth_audio("book a table", lead_silence_ms=200, tail_silence_ms=700) + synth_audio("for two")


def test_translation_url_follows_the_base_url_and_refuses_intent() -> None:
    class Client:
        base_url = "https://example.test/v1?api-version=1"

    assert translation_url(Client(), "gpt-realtime-translate") == (
        "wss://example.test/v1/realtime/translations?api-version=1&model=gpt-realtime-translate")

    class WithIntent:
        base_url = "https://example.test/v1?intent=transcription"

    with pytest.raises(Exception, match="intent"):
        translation_url(WithIntent(), "gpt-realtime-translate")


@pytest.mark.realtime_emulator(config=EmulatorConfig(speed=0))
async def test_finish_sends_close_once_and_delivers_everything_through_closed(realtime_emulator: Emulator) -> None:
    tr = await AsyncRealtimeTranslation.create(base_url=realtime_emulator.base_url, api_key="sk-x")
    seen: list[str] = []
    tr.on("event", lambda e: seen.append(e.type))
    text: list[str] = []
    tr.on("session.output_transcript.delta", lambda e: text.append(e.delta))
    await tr.session.update(session={"audio": {"output": {"language": "fr"}}})
    for i in range(0, len(SPEECH), 4800):
        await tr.input_audio_buffer.append(audio=SPEECH[i:i + 4800])
    await tr.session.close()  # input closes here; finish() sends no second close
    with pytest.raises(InvalidClientEvent, match="input is closed") as refused:
        await tr.input_audio_buffer.append(audio=b"\0\0")
    assert refused.value.field == "type"
    await asyncio.gather(tr.finish(5), tr.finish(5))  # repeated calls share one outcome
    assert seen[0] == "session.created" and seen[-1] == "session.closed"
    assert "".join(text) == "koob a elbat rof owt"
    # iteration gives the same events, through session.closed, then ends
    events = [e async for e in tr]
    assert isinstance(events[0], TranslationSessionCreated) and isinstance(events[-1], TranslationSessionClosed)
    assert [e.type for e in events] == seen
    audio = [e for e in events if isinstance(e, OutputAudioDelta)]
    assert audio and all(e.audio_bytes() and e.sample_rate == 24000 for e in audio)
    record = realtime_emulator.connections[0]
    await record.wait_closed()
    assert record.received_types().count("session.close") == 1
    assert record.close_code == 1000  # the client closed after session.closed


class _Never:
    """A blocking transcriber that holds recognition until the test ends: no session.closed."""

    blocking = True

    def __init__(self) -> None:
        self.release = threading.Event()

    def transcribe(self, audio: bytes, *, audio_format: str, language: str | None = None) -> str:
        self.release.wait(10)
        return "late"


async def test_one_deadline_for_finish() -> None:
    ears = _Never()
    async with Emulator(config=EmulatorConfig(speed=0), transcriber=ears) as emu:
        tr = await AsyncRealtimeTranslation.create(base_url=emu.base_url, api_key="sk-x")
        await tr.input_audio_buffer.append(audio=SPEECH)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(RealtimeConnectionError, match="Timed out finishing"):
            await tr.finish(0.3)
        assert loop.time() - t0 < 2.0
        with pytest.raises(RealtimeConnectionError, match="Timed out finishing"):
            await tr.finish(10)  # the first call's outcome
        ears.release.set()
        await tr.close()


async def test_a_socket_closed_before_session_closed_fails_finish(realtime_emulator: Emulator) -> None:
    tr = await AsyncRealtimeTranslation.create(base_url=realtime_emulator.base_url, api_key="sk-x")
    errors: list[Any] = []
    reported = asyncio.Event()

    def on_error(error: Any) -> None:
        errors.append(error)
        reported.set()

    tr.on("error", on_error)
    record = await realtime_emulator.wait_for_connection()
    record.inject_fault(CloseWith(1011, "gone"))
    await realtime_emulator.inject(record, [{"type": "session.output_transcript.delta", "delta": "x"}])
    await asyncio.wait_for(reported.wait(), 5)  # no finish() under way: handlers hear of it
    assert isinstance(errors[0], ConnectionClosedError) and errors[0].code == 1011
    with pytest.raises(ConnectionClosedError, match=r"before session\.closed") as failed:
        await tr.finish(5)
    assert failed.value.code == 1011
    assert len(errors) == 1  # finish() raises it; not reported a second time


@pytest.mark.realtime_emulator(config=EmulatorConfig(speed=0))
async def test_handlers_only_never_stall_on_the_iteration_queue(realtime_emulator: Emulator) -> None:
    tr = await AsyncRealtimeTranslation.create(base_url=realtime_emulator.base_url, api_key="sk-x", max_queue=4)
    seen: list[str] = []
    tr.on("event", lambda e: seen.append(e.type))
    await tr.input_audio_buffer.append(audio=SPEECH)
    await tr.finish(5)  # more than 4 events arrive and nobody iterates: nothing waits for iteration
    assert seen[-1] == "session.closed" and len(seen) > 4
    assert tr.dropped_for_iteration == len(seen) - 4
    assert [e.type async for e in tr] == seen[-4:]


async def test_close_ends_iteration_quietly(realtime_emulator: Emulator) -> None:
    tr = await AsyncRealtimeTranslation.create(base_url=realtime_emulator.base_url, api_key="sk-x")
    errors: list[Any] = []
    tr.on("error", errors.append)
    first = await tr.recv()
    assert isinstance(first, TranslationSessionCreated)
    await tr.close()  # no session.close, no waiting: not a failure of ours to report
    assert [e async for e in tr] == [] and errors == []
    with pytest.raises(InvalidClientEvent, match="input is closed"):
        await tr.input_audio_buffer.append(audio=b"\0\0")


async def test_api_errors_are_delivered_and_do_not_end_the_drain(realtime_emulator: Emulator) -> None:
    tr = await AsyncRealtimeTranslation.create(base_url=realtime_emulator.base_url, api_key="sk-x")
    errors: list[Any] = []
    tr.on("error", errors.append)
    await tr.send({"type": "session.update", "session": {"audio": {"output": {"voice": "x"}}}, "event_id": "e1"})
    await tr.finish(5)
    assert len(errors) == 1 and isinstance(errors[0], RealtimeAPIError)
    assert errors[0].code == "unknown_parameter" and errors[0].client_event_id == "e1"


async def test_bad_events_are_refused_before_sending(realtime_emulator: Emulator) -> None:
    tr = await AsyncRealtimeTranslation.create(base_url=realtime_emulator.base_url, api_key="sk-x")
    with pytest.raises(InvalidClientEvent) as bad:
        await tr.send({"audio": "AAAA"})
    assert bad.value.field == "type"
    with pytest.raises(InvalidClientEvent) as bad:
        await tr.send({"type": "session.input_audio_buffer.append", "audio": 5})
    assert bad.value.field == "audio"
    await tr.finish(5)
    record = realtime_emulator.connections[0]
    assert record.received_types() == ["session.close"]


async def test_unknown_translation_model_is_logged_not_refused(
        caplog: pytest.LogCaptureFixture) -> None:
    async with Emulator(config=EmulatorConfig(speed=0, model_check="off")) as emu:
        caplog.set_level(logging.WARNING, logger="openai_realtime_ws")
        tr = await AsyncRealtimeTranslation.create(base_url=emu.base_url, api_key="sk-x", model="my-translator")
        await tr.finish(5)
    msgs = [r.getMessage() for r in caplog.records]
    assert any("'my-translator' is not a known Realtime translation model" in m for m in msgs)
    assert not any("not a known Realtime model (" in m for m in msgs)


def test_blocking_client_iterates_through_session_closed() -> None:
    with EmulatorThread(config=EmulatorConfig(speed=0)) as emu:
        with RealtimeTranslation.create(base_url=emu.base_url, api_key="sk-x") as tr:
            got: list[str] = []
            tr.on("session.output_transcript.delta", lambda e: got.append(e.delta))
            tr.input_audio_buffer.append(audio=SPEECH)
            tr.finish(5)
            events = list(tr)
    assert "".join(got) == "koob a elbat rof owt"
    assert "".join(e.delta for e in events if isinstance(e, OutputTranscriptDelta)) == "koob a elbat rof owt"
    assert isinstance(events[-1], TranslationSessionClosed)
