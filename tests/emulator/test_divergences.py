# Where the emulator used to differ from the real API for third-party clients (issue 10,
# divergences 1-6), each over loopback with openai-python's realtime client or a raw socket. Every
# event the emulator sends is validated against openai-python's models (conftest.py).
from __future__ import annotations

import base64
import re
import threading
from typing import Any

import pytest
from openai import AsyncOpenAI

from openai_realtime_ws.emulator import Emulator, EmulatorConfig, synth_audio
from openai_realtime_ws.emulator.core.audio import silence

from .helpers import connect, types, user_text

KEY = "sk-divergences-0000"


def client(emu: Emulator) -> AsyncOpenAI:
    return AsyncOpenAI(api_key=KEY, base_url=emu.base_url)


async def until(conn: Any, type_: str) -> list[Any]:
    out = []
    async for ev in conn:
        out.append(ev)
        if ev.type == type_:
            return out
    raise AssertionError(f"closed before {type_}")


# --- 1. truncating an assistant item that is still streaming -------------------------------------

@pytest.mark.realtime_emulator(config=EmulatorConfig(speed=2.0))
async def test_truncate_live_item_cuts_then_the_clients_cancel_ends_it(realtime_emulator: Emulator) -> None:
    # openai-agents' interrupt: conversation.item.truncate, then response.cancel (issue 19 item 2)
    async with client(realtime_emulator).realtime.connect(model="gpt-realtime") as conn:
        await conn.recv()
        await conn.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
        await until(conn, "session.updated")
        await conn.conversation.item.create(item={"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "tell me a long story about the sea and the ships on it"}]})
        await conn.response.create()
        events = await until(conn, "response.output_audio.delta")
        events += await until(conn, "response.output_audio.delta")
        item_id = events[-1].item_id
        played_ms = 150  # less than the two 100 ms deltas received: the item is still streaming
        # past what was generated so far: refused, and the response goes on
        await conn.send({"type": "conversation.item.truncate", "event_id": "too_far", "item_id": item_id,
                         "content_index": 0, "audio_end_ms": 10_000_000})
        err = (await until(conn, "error"))[-1]
        assert err.error.code == "invalid_value" and err.error.event_id == "too_far"
        assert re.fullmatch(r"Audio content of \d+ms is already shorter than 10000000ms", err.error.message)
        await conn.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=played_ms)
        await conn.response.cancel()
        rest = await until(conn, "response.done")
        kinds = types_of(rest)
        # the truncation is acknowledged while the response still runs; the cancel then ends it
        assert "error" not in kinds
        assert kinds.index("conversation.item.truncated") < kinds.index("response.output_audio.done")
        truncated = next(e for e in rest if e.type == "conversation.item.truncated")
        assert truncated.item_id == item_id and truncated.audio_end_ms == played_ms
        done = rest[-1].response
        assert done.status == "cancelled" and done.status_details.reason == "client_cancelled"
        assert done.output[0].status == "incomplete"
        await conn.conversation.item.retrieve(item_id=item_id)
        got = (await until(conn, "conversation.item.retrieved"))[-1].item
        assert got.content[0].transcript == ""  # the transcript cannot follow the cut: dropped
        assert len(base64.b64decode(got.content[0].audio)) == played_ms * 48


@pytest.mark.realtime_emulator(config=EmulatorConfig(speed=4.0))
async def test_truncate_live_item_does_not_cancel_the_response(realtime_emulator: Emulator) -> None:
    raw = await connect(realtime_emulator)
    await raw.send({"type": "session.update", "session": {"type": "realtime",
                                                          "audio": {"input": {"turn_detection": None}}}})
    await raw.recv_until("session.updated")
    await raw.send(user_text("say something long about rivers and the boats that sail on them"))
    await raw.send({"type": "response.create"})
    first = await raw.recv_until("response.output_audio.delta")
    item_id = first[-1]["item_id"]
    await raw.send({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0,
                    "audio_end_ms": 60})
    rest = await raw.recv_until("response.done")
    assert "conversation.item.truncated" in types(rest) and "error" not in types(rest)
    done = rest[-1]["response"]
    assert done["status"] == "completed" and done["output"][0]["status"] == "completed"
    await raw.send({"type": "conversation.item.retrieve", "item_id": item_id})
    got = (await raw.recv_until("conversation.item.retrieved"))[-1]["item"]
    assert len(base64.b64decode(got["content"][0]["audio"])) == 60 * 48  # cut at audio_end_ms
    assert got["content"][0]["transcript"] == ""
    await raw.ws.close()

async def test_truncate_finished_item_then_past_its_end(realtime_emulator: Emulator) -> None:
    raw = await connect(realtime_emulator)
    await raw.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "turn_detection": None}}}})
    await raw.recv_until("session.updated")
    await raw.send(user_text("hi"))
    await raw.recv_until("conversation.item.done")
    await raw.send({"type": "response.create"})
    done = (await raw.response())[-2]["response"]
    item = done["output"][0]
    audio_ms = len("You said: hi") * 60
    await raw.send({"type": "conversation.item.truncate", "event_id": "t", "item_id": item["id"],
                    "content_index": 0, "audio_end_ms": audio_ms + 1})
    err = await raw.expect_error()
    assert (err["code"], err["param"], err["event_id"]) == ("invalid_value", "audio_end_ms", "t")
    assert err["message"] == f"Audio content of {audio_ms}ms is already shorter than {audio_ms + 1}ms"
    await raw.send({"type": "conversation.item.truncate", "item_id": item["id"], "content_index": 0,
                    "audio_end_ms": audio_ms})
    assert (await raw.recv())["type"] == "conversation.item.truncated"
    await raw.ws.close()


# --- 2. truncating an item without audio ---------------------------------------------------------

async def test_truncate_item_without_audio_is_unsupported_content_type(realtime_emulator: Emulator) -> None:
    raw = await connect(realtime_emulator)
    await raw.send(user_text("hello"))
    user = (await raw.recv_until("conversation.item.done"))[-1]["item"]
    await raw.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    text_item = (await raw.response())[-2]["response"]["output"][0]
    for item_id in (user["id"], text_item["id"]):
        await raw.send({"type": "conversation.item.truncate", "event_id": "e1", "item_id": item_id,
                        "content_index": 0, "audio_end_ms": 0})
        err = await raw.expect_error()
        assert (err["type"], err["code"], err["message"], err["event_id"]) == (
            "invalid_request_error", "unsupported_content_type",
            "Only model output audio messages can be truncated", "e1")
    await raw.ws.close()


# --- 3. null for optional fields -----------------------------------------------------------------

async def test_null_optional_fields_are_not_given(realtime_emulator: Emulator) -> None:
    async with client(realtime_emulator).realtime.connect(model="gpt-realtime") as conn:
        created: Any = await conn.recv()
        instructions = created.session.instructions
        # livekit's generate_reply() without instructions, and nulls in a session.update
        await conn.send({"type": "session.update", "event_id": None, "session": {  # type: ignore[arg-type]
            "type": "realtime", "instructions": None, "tools": None, "tool_choice": None,
            "max_output_tokens": None, "output_modalities": ["text"],
            "audio": {"output": {"voice": None, "speed": None}}, "include": None}})
        updated = (await until(conn, "session.updated"))[-1]
        assert updated.session.instructions == instructions and updated.session.tools == []
        assert updated.session.audio.output.voice == "alloy"
        await conn.conversation.item.create(item={"type": "message", "role": "user",
                                                  "content": [{"type": "input_text", "text": "hello"}]})
        await conn.send({"type": "response.create", "response": {  # type: ignore[arg-type]
            "instructions": None, "metadata": None, "tools": None, "tool_choice": None,
            "max_output_tokens": None, "conversation": None, "input": None}})
        events = await until(conn, "response.done")
        assert not [e for e in events if e.type == "error"]
        assert events[-1].response.status == "completed"
        assert events[-1].response.output[0].content[0].text == "You said: hello"
        # a null where a value is required is still refused, naming the field
        await conn.send({"type": "conversation.item.truncate", "item_id": None, "content_index": 0,  # type: ignore[arg-type]
                         "audio_end_ms": 0})
        err = (await until(conn, "error"))[-1].error
        assert (err.code, err.param) == ("invalid_type", "item_id")


# --- 4. speech that is not tone code ------------------------------------------------------------

def test_real_speech_becomes_the_placeholder_not_letters() -> None:
    voice = pytest.importorskip("openai_realtime_ws.emulator.voice")
    if not voice.voice_available():
        pytest.skip("the voice extra (espeak-ng) is not installed; it makes the test's real speech")
    from openai_realtime_ws.emulator import SyntheticTranscriber
    from openai_realtime_ws.emulator.core.audio import transcribe_tones

    speech = _espeak_pcm(voice, "What is the weather in Lisbon")
    assert transcribe_tones(speech) == ""
    heard = SyntheticTranscriber().transcribe(speech, audio_format="audio/pcm")
    assert heard == f"[audio {len(speech) / 48 / 1000:.1f}s]"
    # tone code still decodes, G.711 included
    assert SyntheticTranscriber().transcribe(synth_audio("book a table", "audio/pcmu"),
                                             audio_format="audio/pcmu") == "book a table"


def _espeak_pcm(voice: Any, text: str) -> bytes:
    import numpy as np

    utt = voice.espeak_synthesize(text, "en-us")
    pcm = np.frombuffer(utt.pcm, dtype=np.int16)
    out: bytes = np.clip(np.rint(voice.resample(pcm, utt.rate, 24000)), -32768, 32767).astype("<i2").tobytes()
    return out


async def test_real_speech_over_vad_gives_placeholder_transcript(realtime_emulator: Emulator) -> None:
    voice = pytest.importorskip("openai_realtime_ws.emulator.voice")
    if not voice.voice_available():
        pytest.skip("the voice extra (espeak-ng) is not installed; it makes the test's real speech")
    speech = silence(300) + _espeak_pcm(voice, "What is the weather in Lisbon") + silence(600)
    raw = await connect(realtime_emulator)
    await raw.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"],
                                                          "audio": {"input": {"transcription": {
                                                              "model": "gpt-4o-mini-transcribe"}}}}})
    await raw.recv_until("session.updated")
    for i in range(0, len(speech), 4800):
        await raw.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(speech[i:i + 4800]).decode()})
    events = await raw.recv_until("response.done")
    completed = next(e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed")
    assert re.fullmatch(r"\[audio \d+\.\ds\]", completed["transcript"]), completed["transcript"]
    reply = events[-1]["response"]["output"][0]["content"][0]["text"]
    assert reply == f"You said: {completed['transcript']}"
    await raw.ws.close()


class _ThreadRecordingTranscriber:
    """A plug-in that says it blocks: the emulator must call it off its event loop thread."""

    blocking = True

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []

    def transcribe(self, audio: bytes, *, audio_format: str, language: str | None = None) -> str:
        self.threads.append(threading.current_thread())
        return "heard in a worker thread"


async def test_blocking_transcriber_runs_off_the_event_loop() -> None:
    ears = _ThreadRecordingTranscriber()
    async with Emulator(transcriber=ears, config=EmulatorConfig(speed=0)) as emu:
        raw = await connect(emu)
        await raw.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"],
                                                              "audio": {"input": {"turn_detection": None}}}})
        await raw.recv_until("session.updated")
        await raw.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(silence(200)).decode()})
        await raw.send({"type": "input_audio_buffer.commit"})
        await raw.recv_until("conversation.item.done")
        await raw.send({"type": "response.create"})
        done = (await raw.recv_until("response.done"))[-1]
        assert done["response"]["output"][0]["content"][0]["text"] == "You said: heard in a worker thread"
        await raw.ws.close()
    assert ears.threads and all(t is not threading.main_thread() for t in ears.threads)


def test_voice_plugins_declare_blocking() -> None:
    voice = pytest.importorskip("openai_realtime_ws.emulator.voice")
    assert voice.EspeakSynthesizer.blocking is True and voice.PocketsphinxTranscriber.blocking is True


# --- 5. session.update with another model -----------------------------------------------------------

async def test_session_update_with_another_model_applies_the_rest(realtime_emulator: Emulator) -> None:
    async with client(realtime_emulator).realtime.connect(model="gpt-realtime-mini") as conn:
        created: Any = await conn.recv()
        assert created.session.model == "gpt-realtime-mini"
        # what openai-agents sends: its default model in every update
        await conn.session.update(session={
            "type": "realtime", "model": "gpt-realtime-2.1", "instructions": "Be brief.",
            "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}]})
        events = await until(conn, "session.updated")
        assert not [e for e in events if e.type == "error"]
        session = events[-1].session
        assert session.model == "gpt-realtime-mini"  # the URL's model stays
        assert session.instructions == "Be brief." and session.tools[0].name == "lookup"


# --- 6. a very deep JSON frame ---------------------------------------------------------------------

async def test_deeply_nested_frame_is_invalid_event_and_the_socket_stays(realtime_emulator: Emulator) -> None:
    raw = await connect(realtime_emulator)
    depth = 100_000  # deeper than the decoder goes
    await raw.ws.send('{"type":"session.update","session":' + "[" * depth + "]" * depth + "}")
    err = await raw.expect_error()
    assert err["code"] == "invalid_event" and "nested too deeply" in err["message"]
    # decodable, but deeper than the session's copies could follow (a tool's JSON schema)
    params = "[" * 500 + "]" * 500
    await raw.ws.send('{"type":"session.update","event_id":"deep","session":{"type":"realtime","tools":'
                      '[{"type":"function","name":"f","parameters":' + params + "}]}}")
    err = await raw.expect_error()
    assert err["code"] == "invalid_event" and "nested deeper than 64 levels" in err["message"]
    assert err["event_id"] == "deep"
    await raw.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    events = await raw.response()
    assert types(events)[-2:] == ["response.done", "rate_limits.updated"]
    await raw.ws.close()
    assert realtime_emulator.connections[0].close_code == 1000  # the client's own close


def types_of(events: list[Any]) -> list[str]:
    return [str(e.type) for e in events]
