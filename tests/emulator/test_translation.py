# Issue 19 item 7, the emulator side: `/v1/realtime/translations?model=gpt-realtime-translate`
# and `/v1/realtime/translations/client_secrets`, driven by a raw socket and by openai-python
# 3.63's own translation client (`client.realtime.translations.connect`), unchanged. Every event
# is validated against openai-python's RealtimeTranslationServerEvent union (conftest.py).
from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import websockets
from openai import AsyncOpenAI, OpenAI

from openai_realtime_ws.emulator import Emulator, EmulatorConfig, EmulatorThread, synth_audio
from openai_realtime_ws.emulator.core.audio import transcribe_tones
from openai_realtime_ws.emulator.core.translation import translate

from .helpers import b64

KEY = "sk-translation-0000"
SPEECH = synth_audio("book a table", lead_silence_ms=200, tail_silence_ms=700) + synth_audio("for two")
CHUNK = 4800  # 200 ms of 24 kHz PCM16: the translation frame


def test_the_translation_is_each_words_letters_reversed() -> None:
    assert translate("book a table") == "koob a elbat"


async def _raw(emu: Emulator, query: str = "model=gpt-realtime-translate") -> Any:
    return await websockets.connect(f"ws://127.0.0.1:{emu.port}/v1/realtime/translations?{query}", max_size=None)


@pytest.mark.realtime_emulator(config=EmulatorConfig(speed=0))
async def test_translation_session_over_a_raw_socket(realtime_emulator: Emulator) -> None:
    ws = await _raw(realtime_emulator)
    created = json.loads(await ws.recv())
    assert created["type"] == "session.created"
    assert created["session"]["type"] == "translation" and created["session"]["model"] == "gpt-realtime-translate"
    await ws.send(json.dumps({"type": "session.update", "session": {"audio": {
        "input": {"transcription": {"model": "gpt-4o-transcribe"}}, "output": {"language": "fr"}}}}))
    updated = json.loads(await ws.recv())
    assert updated["type"] == "session.updated" and updated["session"]["audio"]["output"]["language"] == "fr"
    for i in range(0, len(SPEECH), CHUNK):
        await ws.send(json.dumps({"type": "session.input_audio_buffer.append", "audio": b64(SPEECH[i:i + CHUNK])}))
    await ws.send(json.dumps({"type": "session.close"}))  # flushes "for two", still being spoken
    events = []
    while True:
        ev = json.loads(await ws.recv())
        events.append(ev)
        if ev["type"] == "session.closed":
            break
    source = "".join(e["delta"] for e in events if e["type"] == "session.input_transcript.delta")
    target = "".join(e["delta"] for e in events if e["type"] == "session.output_transcript.delta")
    assert source == "book a table for two"
    assert target == "koob a elbat rof owt"
    deltas = [e for e in events if e["type"] == "session.output_audio.delta"]
    spoken = [transcribe_tones(b"".join(base64.b64decode(e["delta"]) for e in deltas if e["elapsed_ms"] == t))
              for t in sorted({e["elapsed_ms"] for e in deltas})]
    assert spoken == ["koob a elbat", "rof owt"]  # the translated speech of each utterance, in tone code
    assert all((e["format"], e["sample_rate"], e["channels"]) == ("pcm16", 24000, 1) for e in deltas)
    assert all(e["elapsed_ms"] % 200 == 0 for e in events if "elapsed_ms" in e)
    # after session.closed, input is refused... and the client closes the socket
    await ws.close()
    record = realtime_emulator.connections[0]
    assert record.translation is not None and record.session is None
    assert record.received_types()[-1] == "session.close"


async def test_input_after_close_and_bad_events_are_errors(realtime_emulator: Emulator) -> None:
    ws = await _raw(realtime_emulator)
    await ws.recv()
    await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": "", "event_id": "e1"}))
    err = json.loads(await ws.recv())["error"]
    assert err["code"] == "invalid_value" and err["param"] == "type" and err["event_id"] == "e1"
    await ws.send(json.dumps({"type": "session.update", "session": {"audio": {"output": {"voice": "x"}}}}))
    err = json.loads(await ws.recv())["error"]
    assert err["code"] == "unknown_parameter" and "voice" in err["message"]
    await ws.send(json.dumps({"type": "session.close"}))
    assert json.loads(await ws.recv())["type"] == "session.closed"
    await ws.close()


@pytest.mark.parametrize("model", ["gpt-realtime", "gpt-4o"])
async def test_a_model_that_does_not_translate_is_refused(realtime_emulator: Emulator, model: str) -> None:
    ws = await _raw(realtime_emulator, f"model={model}")
    err = json.loads(await ws.recv())["error"]
    assert err["code"] == "invalid_model"
    assert err["message"] == f'Model "{model}" is not supported in translation mode.'
    with pytest.raises(websockets.ConnectionClosed):
        await ws.recv()
    assert ws.close_code == 4000


@pytest.mark.realtime_emulator(api_key=KEY, config=EmulatorConfig(speed=0))
async def test_openai_python_translations_connect_unchanged(realtime_emulator: Emulator) -> None:
    client = AsyncOpenAI(api_key=KEY, base_url=realtime_emulator.base_url)
    async with client.realtime.translations.connect(model="gpt-realtime-translate") as conn:
        first = await conn.recv()
        assert first.type == "session.created"
        await conn.session.update(session={"audio": {"output": {"language": "de"}}})
        for i in range(0, len(SPEECH), CHUNK):
            await conn.session.input_audio_buffer.append(audio=b64(SPEECH[i:i + CHUNK]))
        await conn.session.close()
        text = ""
        async for event in conn:
            if event.type == "session.output_transcript.delta":
                text += event.delta
            elif event.type == "session.updated":
                assert event.session.audio.output is not None and event.session.audio.output.language == "de"
            elif event.type == "session.closed":
                break
    assert text == "koob a elbat rof owt"


@pytest.mark.realtime_emulator(api_key=KEY, config=EmulatorConfig(speed=0))
async def test_openai_python_translation_client_secret_opens_a_session(realtime_emulator: Emulator) -> None:
    client = AsyncOpenAI(api_key=KEY, base_url=realtime_emulator.base_url)
    secret = await client.realtime.translations.client_secrets.create(
        session={"model": "gpt-realtime-translate", "audio": {"output": {"language": "it"}}})
    assert secret.value.startswith("ek_") and secret.session.type == "translation"
    assert secret.session.audio.output is not None and secret.session.audio.output.language == "it"
    browser = AsyncOpenAI(api_key=secret.value, base_url=realtime_emulator.base_url)
    async with browser.realtime.translations.connect(model="gpt-realtime-translate") as conn:
        created = await conn.recv()
        assert created.type == "session.created"
        assert created.session.audio.output is not None and created.session.audio.output.language == "it"
    # a translation secret does not open a realtime session
    ws = await websockets.connect(f"{realtime_emulator.ws_url}?model=gpt-realtime",
                                  additional_headers={"Authorization": f"Bearer {secret.value}"})
    assert json.loads(await ws.recv())["error"]["code"] == "invalid_api_key"
    await ws.close()


def test_openai_python_blocking_translations_connect() -> None:
    with EmulatorThread(config=EmulatorConfig(speed=0)) as emu:
        client = OpenAI(api_key="sk-x", base_url=emu.base_url)
        with client.realtime.translations.connect(model="gpt-realtime-translate") as conn:
            assert conn.recv().type == "session.created"
            conn.session.input_audio_buffer.append(audio=b64(SPEECH))
            conn.session.close()
            kinds = []
            for event in conn:
                kinds.append(event.type)
                if event.type == "session.closed":
                    break
    assert "session.output_audio.delta" in kinds and kinds[-1] == "session.closed"
