"""The Twilio bridge end to end: a caller that speaks Twilio's Media Streams protocol, the bridge
as a real ASGI app under uvicorn on loopback, the emulator as the Realtime API. The call runs in
audio/pcmu with no conversion; the caller talking over the assistant makes the bridge send
``clear`` and truncate at what the caller heard (from mark echoes and the clock)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator

import pytest

from openai_realtime_ws import AsyncOpenAIRealtimeWS
from openai_realtime_ws.core.playback import barge_in_events
from openai_realtime_ws.core.twilio import TwilioProtocolError, TwilioStart, TwilioStream
from openai_realtime_ws.emulator import Emulator, EmulatorConfig, synth_audio
from openai_realtime_ws.telephony import TwilioBridge, twiml_connect_stream

from .twilio_caller import TwilioCaller, serve, until

KEY = "sk-phone-0000000000"


@pytest.fixture(params=["asgi", "picows"])
async def phone(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Emulator, TwilioBridge, str]]:
    """The bridge as an ASGI app under uvicorn, and as its standalone picows server."""
    async with Emulator(config=EmulatorConfig(speed=4.0, audio_chunk_ms=100)) as emu:
        async def connect(start: TwilioStart) -> AsyncOpenAIRealtimeWS:
            return await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="gpt-realtime")

        bridge = TwilioBridge(connect, greeting="")
        async for server in serve(bridge, kind=request.param):
            yield emu, bridge, server.ws_url


async def test_a_call_greets_passes_audio_through_and_barges_in_on_mark_echoes(
    phone: tuple[Emulator, TwilioBridge, str],
) -> None:
    emu, bridge, url = phone
    async with TwilioCaller(url) as caller:
        # the assistant greets; 600 ms into the greeting the caller talks over it
        await until(lambda: len(caller.played) >= 600 * 8, caller.played_changed)
        caller.speak(synth_audio("wait", "audio/pcmu", tail_silence_ms=600))
        conn = await emu.wait_for_connection(0)
        await until(lambda: caller.clears and any(
            e.get("type") == "conversation.item.truncate" for e in conn.received), caller.played_changed)
        truncate = next(e for e in conn.received if e.get("type") == "conversation.item.truncate")
        _, played_at_clear = caller.clears[0]
        heard_ms = played_at_clear / 8
        assert abs(truncate["audio_end_ms"] - heard_ms) <= 20, (truncate, heard_ms)
        print(f"\nphone barge-in: truncate {truncate['audio_end_ms']} ms, caller heard {heard_ms:.1f} ms")
        # session in audio/pcmu, caller audio appended untouched (pass-through)
        update = next(e for e in conn.received if e.get("type") == "session.update")
        assert update["session"]["audio"]["input"]["format"] == {"type": "audio/pcmu"}
        assert update["session"]["audio"]["output"]["format"] == {"type": "audio/pcmu"}
        appended = [e["audio"] for e in conn.received if e.get("type") == "input_audio_buffer.append"]
        assert appended == caller.sent_payloads[: len(appended)]
        # the assistant's audio reached the phone as Twilio media, each chunk followed by a mark
        kinds = [m["event"] for m in caller.received]
        assert kinds[:2] == ["media", "mark"] and "clear" in kinds
        # the emulator cut the item's audio at the truncate
        call = bridge.calls[0]
        call.rt.send({"type": "conversation.item.retrieve", "item_id": truncate["item_id"]})
        retrieved = await call.rt.wait_for("conversation.item.retrieved", timeout=5)
        content = retrieved.item.content or []
        assert len(base64.b64decode(content[0].audio or "")) == truncate["audio_end_ms"] * 8
        # after the barge-in the caller's turn is answered
        answered = len(caller.played)
        await until(lambda: len(caller.played) > answered + 800, caller.played_changed)
        assert not [c for c, _ in call.errors if c == "conversation_already_has_active_response"]
        assert caller.protocol_errors == []
    await asyncio.wait_for(conn.closed.wait(), 5)


def test_stream_parses_twilio_messages_and_refuses_bad_ones() -> None:
    s = TwilioStream()
    start = s.receive(json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": "MZ1", "start": {
        "streamSid": "MZ1", "callSid": "CA1", "accountSid": "AC1", "tracks": ["inbound"],
        "customParameters": {"who": "me"},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}), 0.0)
    assert isinstance(start, TwilioStart) and start.custom_parameters == {"who": "me"}
    with pytest.raises(TwilioProtocolError, match=r"media\.payload"):
        s.receive('{"event": "media", "media": {"payload": 5}}', 0.0)
    with pytest.raises(TwilioProtocolError, match="not JSON"):
        s.receive("{", 0.0)
    with pytest.raises(TwilioProtocolError, match="streamSid"):
        TwilioStream().media("i", 0, "AAAA", 0.0)


def test_marks_and_the_clock_give_the_heard_position() -> None:
    s = TwilioStream(stream_sid="MZ1")
    chunk = base64.b64encode(b"\xff" * 800).decode()  # 100 ms
    for k in range(5):
        s.media("item", 0, chunk, 0.0 + k * 0.001)
    # Twilio echoes marks 1 and 2 at 200 ms: 200 ms played
    s.receive(json.dumps({"event": "mark", "streamSid": "MZ1", "mark": {"name": "1"}}), 0.1)
    s.receive(json.dumps({"event": "mark", "streamSid": "MZ1", "mark": {"name": "2"}}), 0.2)
    assert s.heard_ms("item", 0, 0.2) == pytest.approx(200)
    # 50 ms later, clear: the caller heard 250 ms
    msgs, stop = s.clear(0.25)
    assert json.loads(msgs[0]) == {"event": "clear", "streamSid": "MZ1"}
    assert (stop.item_id, stop.heard_ms, stop.received_ms) == ("item", 250, 500)
    # the echoes of the cleared marks do not move the position
    mark = s.receive(json.dumps({"event": "mark", "streamSid": "MZ1", "mark": {"name": "5"}}), 0.3)
    assert mark is not None and not mark.played  # type: ignore[union-attr]


def test_a_clear_in_one_reply_s_tail_also_cuts_the_next_reply_sent_behind_it() -> None:
    s = TwilioStream(stream_sid="MZ1")
    chunk = base64.b64encode(b"\xff" * 800).decode()  # 100 ms
    s.media("a", 0, chunk, 0.0)
    s.media("a", 0, chunk, 0.001)
    s.mark_complete("a")
    s.media("b", 0, chunk, 0.002)  # the next reply's first audio, queued at Twilio behind a's tail
    _, stop = s.clear(0.15)
    assert (stop.item_id, stop.heard_ms, stop.received_ms, stop.unheard_parts) == ("a", 150, 200, (("b", 0),))
    assert barge_in_events(stop)[1] == {
        "type": "conversation.item.truncate", "item_id": "b", "content_index": 0, "audio_end_ms": 0}


def test_twiml_points_twilio_at_the_stream() -> None:
    xml = twiml_connect_stream("wss://example.test/media-stream", {"a": "b&c"})
    assert '<Stream url="wss://example.test/media-stream"><Parameter name="a" value="b&amp;c"/>' in xml


async def test_a_call_whose_session_cannot_open_is_hung_up() -> None:
    async def connect(start: TwilioStart) -> AsyncOpenAIRealtimeWS:
        raise ConnectionRefusedError("no Realtime API today")

    bridge = TwilioBridge(connect)
    async for server in serve(bridge):
        async with TwilioCaller(server.ws_url) as caller:
            assert caller.ws is not None
            await asyncio.wait_for(caller.ws.wait_closed(), 5)
        assert caller.received == []
