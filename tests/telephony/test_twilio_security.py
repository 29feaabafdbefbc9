"""The Twilio bridge trusts only Twilio, over real sockets: the bridge under uvicorn, a caller that
follows Twilio's Media Streams protocol, the emulator as the Realtime API (its connection log
says whether an upstream session was opened).

Signatures are computed here from Twilio's published algorithm (HMAC-SHA1 with the auth token
over the full URL followed by each POST parameter's name and value in name order, base64), not
with the library the bridge uses. Malformed messages: refused, the call goes on (or, for a bad
first ``start``, ends cleanly with one log line); no traceback reaches the log."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from openai_realtime_ws import AsyncOpenAIRealtimeWS, ReconnectPolicy
from openai_realtime_ws.core.twilio import TwilioDtmf, TwilioStart
from openai_realtime_ws.emulator import Emulator, EmulatorConfig
from openai_realtime_ws.emulator.faults import Drop
from openai_realtime_ws.telephony import TwilioBridge, TwilioCall

from .twilio_caller import TwilioCaller, serve, until

KEY = "sk-phone-security-0000"
SERVERS = ["asgi", "picows"]
TOKEN = "twilio-auth-token-for-tests-0001"
PUBLIC = "https://phone.example.test"


def twilio_signature(token: str, url: str, params: dict[str, str] | None = None) -> str:
    """Twilio's request signature: base64(HMAC-SHA1(token, url + name1 + value1 + ...))."""
    data = url + "".join(name + (params or {})[name] for name in sorted(params or {}))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(config=EmulatorConfig(speed=4.0, audio_chunk_ms=100)) as emulator:
        yield emulator


def _connect(emu: Emulator, **options: Any) -> Any:
    async def connect(start: TwilioStart) -> AsyncOpenAIRealtimeWS:
        return await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY,
                                                  model="gpt-realtime", **options)
    return connect


@pytest.fixture
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.INFO)
    yield caplog
    bad = [r for r in caplog.records if r.exc_info or "Exception in ASGI application" in r.getMessage()
           or "Traceback" in r.getMessage()]
    assert not bad, [r.getMessage() for r in bad]


def _non_loopback_address() -> str | None:
    """This machine's address on its default route (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def _signed_headers(path: str = "/media-stream") -> dict[str, str]:
    return {"X-Twilio-Signature": twilio_signature(TOKEN, "wss://phone.example.test" + path)}


async def _refused_upgrade(url: str, headers: dict[str, str]) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as info:
        async with connect(url, additional_headers=headers):
            pass
    return info.value


@pytest.mark.parametrize("kind", SERVERS)
async def test_unsigned_and_forged_upgrades_are_refused_before_any_upstream_session(
    emu: Emulator, no_tracebacks: Any, kind: str,
) -> None:
    bridge = TwilioBridge(_connect(emu), auth_token=TOKEN, public_url=PUBLIC)
    async for server in serve(bridge, kind=kind):
        forged = {"X-Twilio-Signature": twilio_signature("not-the-token", "wss://phone.example.test/media-stream")}
        wrong_url = {"X-Twilio-Signature": twilio_signature(TOKEN, "wss://evil.example/media-stream")}
        for headers in ({}, forged, wrong_url, {"X-Twilio-Signature": "garbage"}):
            refused = await _refused_upgrade(server.ws_url, headers)
            assert refused.response.status_code == 403
            assert b"X-Twilio-Signature" in (refused.response.body or b"")
            assert TOKEN.encode() not in (refused.response.body or b"")
        assert len(emu.connections) == 0  # no Realtime session was opened
        # a correctly signed upgrade is a call (loopback or not, the signature decides)
        async with TwilioCaller(server.ws_url, headers=_signed_headers()) as caller:
            await until(lambda: len(caller.played) >= 800, caller.played_changed)
        assert len(emu.connections) == 1


async def test_twiml_webhook_is_signed_and_names_the_configured_wss_url_never_the_host(
    emu: Emulator, no_tracebacks: Any,
) -> None:
    bridge = TwilioBridge(_connect(emu), auth_token=TOKEN, public_url=PUBLIC)
    params = {"CallSid": "CA00000000000000000000000000000009", "From": "+15550100", "To": "+15550199"}
    async for server in serve(bridge):
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            unsigned = await http.post("/incoming-call", data=params, headers={"Host": "evil.example"})
            assert unsigned.status_code == 403
            forged = await http.post("/incoming-call", data=params, headers={
                "X-Twilio-Signature": twilio_signature(TOKEN, "https://phone.example.test/incoming-call",
                                                       {**params, "From": "+15550666"})})
            assert forged.status_code == 403
            sig = twilio_signature(TOKEN, "https://phone.example.test/incoming-call", params)
            ok = await http.post("/incoming-call", data=params,
                                 headers={"X-Twilio-Signature": sig, "Host": "evil.example"})
            assert ok.status_code == 200, ok.text
            assert '<Stream url="wss://phone.example.test/media-stream">' in ok.text
            assert "evil" not in ok.text
            # GET webhooks: the query string is part of the signed URL
            query_sig = twilio_signature(TOKEN, "https://phone.example.test/incoming-call?CallSid=CA1")
            assert (await http.get("/incoming-call?CallSid=CA1",
                                   headers={"X-Twilio-Signature": query_sig})).status_code == 200
            assert (await http.get("/incoming-call?CallSid=CA2",
                                   headers={"X-Twilio-Signature": query_sig})).status_code == 403
    assert len(emu.connections) == 0


async def test_without_a_token_only_loopback_callers_are_served(emu: Emulator, no_tracebacks: Any) -> None:
    bridge = TwilioBridge(_connect(emu), auth_token="")
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to call from")
    async for server in serve(bridge, host=address):
        refused = await _refused_upgrade(server.ws_url, {})
        assert refused.response.status_code == 403
        assert b"TWILIO_AUTH_TOKEN" in (refused.response.body or b"")
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            twiml = await http.post("/incoming-call", data={"CallSid": "CA1"})
            assert twiml.status_code == 403 and "TWILIO_AUTH_TOKEN" in twiml.text
    async for server in serve(bridge, host=address, kind="picows"):
        # the standalone server knows the peer only after the upgrade: closed before any read
        async with connect(server.ws_url) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert "TWILIO_AUTH_TOKEN" in closed.value.rcvd.reason
    assert len(emu.connections) == 0
    with pytest.raises(ValueError, match="public_url"):
        TwilioBridge(_connect(emu), auth_token=TOKEN)


@pytest.mark.parametrize("kind", SERVERS)
async def test_the_authenticate_hook_can_refuse_a_signed_call(emu: Emulator, no_tracebacks: Any, kind: str) -> None:
    seen: list[tuple[str | None, str | None]] = []

    def authenticate(headers: Any, client_host: str | None) -> bool:
        seen.append((headers.get("x-customer"), client_host))
        return bool(headers.get("x-customer") == "ok")

    bridge = TwilioBridge(_connect(emu), auth_token=TOKEN, public_url=PUBLIC, authenticate=authenticate)
    async for server in serve(bridge, kind=kind):
        if kind == "asgi":
            refused = await _refused_upgrade(server.ws_url, _signed_headers())
            assert refused.response.status_code == 403
        else:  # the standalone server runs the hook once the peer is known: closed before any read
            async with connect(server.ws_url, additional_headers=_signed_headers()) as ws:
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert len(emu.connections) == 0
        async with TwilioCaller(server.ws_url, headers={**_signed_headers(), "X-Customer": "ok"}) as caller:
            await until(lambda: len(caller.played) >= 800, caller.played_changed)
    assert seen == [(None, "127.0.0.1"), ("ok", "127.0.0.1")]


async def _eventually(cond: Any, what: str, timeout: float = 10) -> None:
    """Poll a condition on the emulator's record (it has no event for it) until it holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        assert loop.time() < deadline, what
        await asyncio.sleep(0.01)


async def _appended(emu: Emulator, payload: str, index: int = 0, timeout: float = 10) -> None:
    """Wait until the caller's ``payload`` reached the upstream session: the call goes on."""
    conn = await emu.wait_for_connection(index)
    await _eventually(lambda: any(e.get("type") == "input_audio_buffer.append" and e.get("audio") == payload
                                  for e in list(conn.received)),
                      "the caller's audio never reached the upstream session", timeout)


MARKER = base64.b64encode(bytes(range(160))).decode()  # a recognisable 20 ms frame


def _media(caller: TwilioCaller, media: dict[str, Any]) -> str:
    import json
    return json.dumps({"event": "media", "sequenceNumber": "99", "streamSid": caller.stream_sid,
                       "media": media})


BAD_MESSAGES: list[tuple[str, Any]] = [
    ("binary frame", b"\x00\x01binary"),
    ("not JSON", "{"),
    ("not an object", "[1, 2]"),
    ("timestamp 'soon'", lambda c: _media(c, {"track": "inbound", "chunk": "1", "timestamp": "soon",
                                              "payload": "////"})),
    ("chunk -1", lambda c: _media(c, {"track": "inbound", "chunk": -1, "timestamp": "1", "payload": "////"})),
    ("payload not base64", lambda c: _media(c, {"track": "inbound", "timestamp": "1", "payload": "@@@@"})),
    ("payload a number", lambda c: _media(c, {"track": "inbound", "timestamp": "1", "payload": 5})),
    ("payload 1 MiB", lambda c: _media(c, {"track": "inbound", "timestamp": "1",
                                           "payload": base64.b64encode(bytes(1 << 20)).decode()})),
    ("media 4 KiB payload", lambda c: _media(c, {"track": "inbound", "timestamp": "1",
                                                 "payload": base64.b64encode(bytes(3000)).decode()})),
    ("other stream's media", lambda c: _media(c, {"payload": "////"}).replace(c.stream_sid, "MZ999")),
    ("mark name a number", '{"event": "mark", "mark": {"name": 5}}'),
    ("dtmf digit 'x'", '{"event": "dtmf", "dtmf": {"digit": "x"}}'),
    ("sequenceNumber 'one'", '{"event": "mark", "sequenceNumber": "one", "mark": {"name": "1"}}'),
    ("second start", lambda c: __import__("json").dumps({"event": "start", "streamSid": c.stream_sid,
                                                          "start": c.start_message()})),
]


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.parametrize("bad", [b for _, b in BAD_MESSAGES], ids=[n for n, _ in BAD_MESSAGES])
async def test_a_bad_message_is_refused_and_the_call_goes_on(
    emu: Emulator, no_tracebacks: pytest.LogCaptureFixture, bad: Any, kind: str,
) -> None:
    bridge = TwilioBridge(_connect(emu), greeting=None)
    async for server in serve(bridge, kind=kind):
        async with TwilioCaller(server.ws_url) as caller:
            conn = await emu.wait_for_connection(0)
            await _eventually(lambda c=conn: "session.update" in c.received_types(), "no session.update")
            message = bad(caller) if callable(bad) else bad
            for _ in range(10):  # refused each time; the warnings are rate-limited
                await caller.send_raw(message)
            await caller.send_raw(_media(caller, {"track": "inbound", "chunk": "7", "timestamp": "140",
                                                  "payload": MARKER}))
            await _appended(emu, MARKER)
        await conn.wait_closed()
    assert len(emu.connections) == 1  # a second start opened no second session
    refused = [r for r in no_tracebacks.records if "refused" in r.getMessage()]
    assert 1 <= len(refused) <= 5, [r.getMessage() for r in refused]  # rate-limited, then a count


BAD_STARTS: list[tuple[str, dict[str, Any]]] = [
    ("sampleRate '8k'", {"mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": "8k", "channels": 1}}),
    ("16 kHz", {"mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 16000, "channels": 1}}),
    ("stereo", {"mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": "2"}}),
    ("L16", {"mediaFormat": {"encoding": "audio/l16", "sampleRate": 8000, "channels": 1}}),
    ("mediaFormat a list", {"mediaFormat": []}),
    ("customParameters not strings", {"customParameters": {"a": 1}}),
    ("callSid an object", {"callSid": {"x": 1}}),
    ("tracks a string", {"tracks": "inbound"}),
    ("streamSid not a SID", {"streamSid": "MZ../../x"}),
    ("no callSid", {"callSid": None, "streamSid": 7}),
]


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.parametrize("change", [c for _, c in BAD_STARTS], ids=[n for n, _ in BAD_STARTS])
async def test_a_bad_start_ends_the_call_cleanly_with_one_log_line_and_no_session(
    emu: Emulator, no_tracebacks: pytest.LogCaptureFixture, change: dict[str, Any], kind: str,
) -> None:
    bridge = TwilioBridge(_connect(emu))
    async for server in serve(bridge, kind=kind):
        caller = TwilioCaller(server.ws_url)
        start = {**caller.start_message(), **change}
        caller.start_override = {k: v for k, v in start.items() if v is not None}
        async with caller:
            assert caller.ws is not None
            await asyncio.wait_for(caller.ws.wait_closed(), 5)
            assert caller.ws.close_code == 1000
    assert len(emu.connections) == 0
    lines = [r.getMessage() for r in no_tracebacks.records if r.name.startswith("openai_realtime_ws")
             and r.levelno >= logging.WARNING]
    assert len(lines) == 1 and lines[0].startswith("call refused: start"), lines


@pytest.mark.parametrize("kind", SERVERS)
async def test_messages_past_the_per_call_cap_end_the_call(emu: Emulator, no_tracebacks: Any, kind: str) -> None:
    bridge = TwilioBridge(_connect(emu), greeting=None, max_call_bytes=20_000)
    async for server in serve(bridge, kind=kind):
        async with TwilioCaller(server.ws_url) as caller:
            assert caller.ws is not None
            await asyncio.wait_for(caller.ws.wait_closed(), 10)  # ~50 frames of 400 bytes
        conn = await emu.wait_for_connection(0)
        await conn.wait_closed()
    assert any("max_call_bytes" in r.getMessage() or "more than 20000 bytes" in r.getMessage()
               for r in no_tracebacks.records)


@pytest.mark.parametrize("kind", SERVERS)
async def test_an_upstream_drop_without_reconnect_hangs_up_cleanly(emu: Emulator, no_tracebacks: Any, kind: str) -> None:
    bridge = TwilioBridge(_connect(emu, reconnect=False))
    async for server in serve(bridge, kind=kind):
        async with TwilioCaller(server.ws_url) as caller:
            await until(lambda: len(caller.played) >= 400, caller.played_changed)
            conn = await emu.wait_for_connection(0)
            conn.inject_fault(Drop())
            assert caller.ws is not None
            await asyncio.wait_for(caller.ws.wait_closed(), 10)  # noticed without a caller frame
            assert caller.ws.close_code == 1000
    lines = [r.getMessage() for r in no_tracebacks.records if "Realtime session closed" in r.getMessage()]
    assert len(lines) == 1, lines


@pytest.mark.parametrize("kind", SERVERS)
async def test_an_upstream_drop_with_reconnect_keeps_the_call(emu: Emulator, no_tracebacks: Any, kind: str) -> None:
    policy = ReconnectPolicy(initial_delay=0.05, jitter=False)
    bridge = TwilioBridge(_connect(emu, reconnect=policy))
    async for server in serve(bridge, kind=kind):
        async with TwilioCaller(server.ws_url) as caller:
            await until(lambda: len(caller.played) >= 400, caller.played_changed)
            (await emu.wait_for_connection(0)).inject_fault(Drop())
            second = await emu.wait_for_connection(1, timeout=10)
            await caller.send_raw(_media(caller, {"track": "inbound", "timestamp": "1", "payload": MARKER}))
            await _appended(emu, MARKER, index=1)
            assert "session.update" in second.received_types()  # the session was restored
            assert caller.ws is not None and caller.ws.state.name == "OPEN"


@pytest.mark.parametrize("kind", SERVERS)
async def test_dtmf_reaches_the_application_and_drives_the_agent(emu: Emulator, no_tracebacks: Any, kind: str) -> None:
    pressed: list[tuple[str, str]] = []

    def on_dtmf(call: TwilioCall, event: TwilioDtmf) -> None:
        pressed.append((event.digit, call.digits))
        if event.digit == "#":
            call.say(f"The caller entered {call.digits[:-1]} on the keypad.")

    bridge = TwilioBridge(_connect(emu), greeting=None, on_dtmf=on_dtmf)
    async for server in serve(bridge, kind=kind):
        async with TwilioCaller(server.ws_url) as caller:
            conn = await emu.wait_for_connection(0)
            for digit in "42#":
                await caller.press(digit)
            await _eventually(lambda c=conn: "response.create" in c.received_types(), "no response.create")
            item = next(e for e in conn.received if e.get("type") == "conversation.item.create")
            assert item["item"]["content"][0]["text"] == "The caller entered 42 on the keypad."
            await until(lambda: len(caller.played) >= 400, caller.played_changed)  # the agent answers
    assert pressed == [("4", "4"), ("2", "42"), ("#", "42#")]


@pytest.mark.parametrize("kind", SERVERS)
async def test_hang_ups_end_quietly(emu: Emulator, no_tracebacks: pytest.LogCaptureFixture, kind: str) -> None:
    bridge = TwilioBridge(_connect(emu))
    async for server in serve(bridge, kind=kind):
        for _ in range(5):  # the caller's socket just goes away mid-greeting, no 'stop'
            async with TwilioCaller(server.ws_url) as caller:
                await until(lambda: len(caller.played) >= 160, caller.played_changed)
                assert caller.ws is not None
                caller.ws.transport.abort()
        for _ in range(5):  # an ordinary hang-up ('stop', then close)
            async with TwilioCaller(server.ws_url) as caller:
                await until(lambda: len(caller.played) >= 160, caller.played_changed)
        for record in list(emu.connections):
            await record.wait_closed()
    noisy = [r.getMessage() for r in no_tracebacks.records if r.levelno >= logging.WARNING]
    assert noisy == []


async def test_metrics_count_calls_and_refusals_on_the_bridge(emu: Emulator, no_tracebacks: Any) -> None:
    from openai_realtime_ws.telemetry.prometheus import ServiceMetrics

    bridge = TwilioBridge(_connect(emu), auth_token=TOKEN, public_url=PUBLIC, metrics=ServiceMetrics("twilio"))
    async for server in serve(bridge):
        await _refused_upgrade(server.ws_url, {})
        async with TwilioCaller(server.ws_url, headers=_signed_headers()) as caller:
            await until(lambda: len(caller.played) >= 400, caller.played_changed)
        await (await emu.wait_for_connection(0)).wait_closed()
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            text = (await http.get("/metrics")).text
    assert 'reason="bad_signature"' in text
    assert 'outcome="completed"' in text


@pytest.mark.parametrize("kind", SERVERS)
async def test_caller_audio_sent_while_the_upstream_opens_is_kept(emu: Emulator, no_tracebacks: Any,
                                                                  kind: str) -> None:
    opened = asyncio.Event()
    connect_upstream = _connect(emu)

    async def slow_connect(start: TwilioStart) -> Any:
        await opened.wait()  # the upstream takes its time; the caller already speaks
        return await connect_upstream(start)

    bridge = TwilioBridge(slow_connect, greeting=None)
    async for server in serve(bridge, kind=kind):
        async with TwilioCaller(server.ws_url) as caller:
            await caller.send_raw(_media(caller, {"track": "inbound", "timestamp": "1", "payload": MARKER}))
            await _eventually(lambda: bool(bridge.calls) and MARKER in bridge.calls[-1]._early,
                              "the bridge never read the caller's audio")
            assert len(emu.connections) == 0  # still opening
            opened.set()
            await _appended(emu, MARKER)
