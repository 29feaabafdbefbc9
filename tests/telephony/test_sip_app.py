# SipApp end to end over real sockets: the app under uvicorn on loopback, the emulator as OpenAI
# (it places the call: a signed webhook, then the call routes and the sideband socket). A spoken
# turn with a tool, then refer, then hang-up; forged, stale and unsigned webhooks refused with
# no call accepted; a failing accept answered without upstream details; a handler that raises.
from __future__ import annotations

import asyncio
import base64
import logging
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
import uvicorn
from aiohttp import ClientSession

from openai_realtime_ws import RealtimeConfigError
from openai_realtime_ws.core.webhooks import sign_webhook
from openai_realtime_ws.emulator import Emulator, EmulatorConfig, ScriptedResponder, ToolCall
from openai_realtime_ws.telephony.sip import SipApp, SipCall

KEY = "sk-sip-app-test-key-000000"
SECRET = "whsec_" + base64.b64encode(b"sip-app-test-secret-0123456789ab").decode()
SESSION = {"model": "gpt-realtime", "instructions": "You are the front desk of Example Co.",
           "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}}}


async def serve(app: Any) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        await task
        sock.close()


def responder() -> ScriptedResponder:
    return (ScriptedResponder()
            .on(r"hours", tools=[ToolCall("opening_hours", {"branch": "main"})], then="We are open {output}.")
            .on(r"human", text="Transferring you now."))


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(api_key=KEY, responder=responder(), config=EmulatorConfig(speed=0)) as e:
        yield e


def make_app(emu: Emulator, **kw: Any) -> SipApp:
    return SipApp(session=kw.pop("session", SESSION), webhook_secret=SECRET, api_key=KEY,
                  base_url=emu.base_url, **kw)


async def test_a_call_end_to_end_tool_then_transfer_then_the_end(emu: Emulator) -> None:
    app = make_app(emu)
    tool_calls: list[str] = []
    seen: dict[str, Any] = {}

    @app.tool(description="Opening hours of a branch")
    def opening_hours(branch: str) -> str:
        tool_calls.append(branch)
        return "9 to 5"

    @app.on_call
    async def handle(call: SipCall) -> None:
        seen["from"] = call.event.data.header("From")
        # once the caller asks for a human, transfer the call
        await call.rt.wait_for("conversation.item.input_audio_transcription.completed")
        while not any("human" in text for role, text in call.transcripts if role == "user"):
            await call.rt.wait_for("conversation.item.input_audio_transcription.completed")
        await call.rt.wait_for("response.done")
        await call.refer("tel:+14155550123")
        seen["state"] = call.state

    async for url in serve(app):
        call_id = await emu.place_call(url, webhook_secret=SECRET,
                                       caller_says=["what are your opening hours", "a human please"],
                                       from_uri="sip:+14155550100@carrier.example")
        placed = emu.calls[call_id]
        assert placed.webhook_status == 200
        assert await placed.wait_ended() == "transferred"
    assert tool_calls == ["main"]
    assert placed.refer_target == "tel:+14155550123"
    assert placed.heard == ["We are open 9 to 5.", "Transferring you now."]
    assert placed.session is not None
    assert [t["name"] for t in placed.session["tools"]] == ["opening_hours"]  # announced at accept
    assert placed.session["instructions"] == SESSION["instructions"]
    assert seen["from"].startswith("<sip:+14155550100@carrier.example>")
    assert seen["state"] == "transferred"
    sideband = next(c for c in emu.connections if c.call_id == call_id)
    sent = sideband.received_types()
    # the tool's output and exactly one follow-up response.create, from the voice-turn core
    assert sent.count("response.create") == 1
    assert "conversation.item.create" in sent
    assert app.live == {}


async def test_the_handler_returning_hangs_up(emu: Emulator) -> None:
    app = make_app(emu, greeting="Greet the caller.")

    @app.on_call
    async def handle(call: SipCall) -> None:
        await call.rt.wait_for("response.done")  # the greeting was spoken

    async for url in serve(app):
        call_id = await emu.place_call(url, webhook_secret=SECRET)
        assert await emu.calls[call_id].wait_ended() == "ended"
    assert len(emu.calls[call_id].heard) == 1


async def test_without_a_handler_the_call_runs_until_the_caller_hangs_up(emu: Emulator) -> None:
    app = make_app(emu)
    async for url in serve(app):
        call_id = await emu.place_call(url, webhook_secret=SECRET, caller_says=["hello there"],
                                       hang_up_when_done=True)
        assert await emu.calls[call_id].wait_ended() == "ended"
        await app.join(5)  # the app noticed the sideband socket closing
        assert app.live == {}
    assert emu.calls[call_id].heard == ["You said: hello there"]


async def test_a_session_function_can_reject(emu: Emulator) -> None:
    def session(event: Any) -> dict[str, Any] | None:
        return None if event.data.header("From") and "+1900" in event.data.header("From") else SESSION

    app = make_app(emu, session=session, reject_status=486)
    async for url in serve(app):
        blocked = await emu.place_call(url, webhook_secret=SECRET, from_uri="sip:+19005550000@x")
        allowed = await emu.place_call(url, webhook_secret=SECRET)
        assert (emu.calls[blocked].state, emu.calls[blocked].reject_status) == ("rejected", 486)
        assert emu.calls[allowed].state == "accepted"
        await app.aclose()
    assert emu.calls[allowed].state == "ended"


async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    async with ClientSession() as http, http.post(url, data=body, headers=headers) as resp:
        return resp.status, msgspec.json.decode(await resp.read())


def signed(body: bytes, *, secret: str = SECRET, ts: int | None = None, wid: str = "wh_test") -> dict[str, str]:
    stamp = int(time.time()) if ts is None else ts
    return {"webhook-id": wid, "webhook-timestamp": str(stamp),
            "webhook-signature": sign_webhook(secret, wid, stamp, body), "content-type": "application/json"}


def incoming(call_id: str) -> bytes:
    return msgspec.json.encode({"object": "event", "id": "evt_1", "type": "realtime.call.incoming",
                                "created_at": int(time.time()),
                                "data": {"call_id": call_id, "sip_headers": []}})


async def test_unsigned_forged_and_stale_webhooks_are_refused(emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(emu)
    other = "whsec_" + base64.b64encode(b"someone else's secret").decode()
    async for url in serve(app):
        # the emulator's own deliveries, signed wrongly or late: nothing accepted
        forged = await emu.place_call(url, webhook_secret=other)
        stale = await emu.place_call(url, webhook_secret=SECRET, timestamp=int(time.time()) - 301)
        assert (emu.calls[forged].webhook_status, emu.calls[forged].state) == (401, "ringing")
        assert (emu.calls[stale].webhook_status, emu.calls[stale].state) == (400, "ringing")
        body = incoming(forged)
        cases = [
            ({"content-type": "application/json"}, 401, "missing_header"),  # unsigned
            ({**signed(body), "webhook-signature": "v1,AAAA"}, 401, "bad_signature"),
            ({**signed(body), "webhook-timestamp": "soon"}, 400, "bad_timestamp"),
            (signed(body, ts=int(time.time()) + 400), 400, "too_new"),
        ]
        for headers, status, reason in cases:
            assert await post(url, body, headers) == (status, {"error": reason})
        # a signed body that is not an event, and one too large
        assert await post(url, b"[]", signed(b"[]", wid="wh_2")) == (400, {"error": "bad_body"})
        big = b"{" + b" " * 70_000 + b"}"
        assert await post(url, big, signed(big, wid="wh_3")) == (413, {"error": "too_large"})
        assert emu.calls[forged].state == "ringing"
        # the same body correctly signed is accepted; its retry (same webhook-id) does nothing
        assert await post(url, body, signed(body, wid="wh_ok")) == (200, {"status": "accepted"})
        assert await post(url, body, signed(body, wid="wh_ok")) == (200, {"status": "duplicate"})
        assert emu.calls[forged].state == "accepted"
        await app.aclose()
    text = caplog.text
    assert SECRET[6:] not in text and "AAAA" not in text


async def test_other_event_types_are_ignored(emu: Emulator) -> None:
    app = make_app(emu)
    async for url in serve(app):
        body = b'{"object":"event","id":"evt_9","type":"batch.completed","created_at":1,"data":{"id":"b"}}'
        assert await post(url, body, signed(body)) == (200, {"status": "ignored"})


async def test_a_refused_accept_shows_no_upstream_detail(emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    app = SipApp(session=SESSION, webhook_secret=SECRET, api_key="sk-wrong-key-never-shown-0000",
                 base_url=emu.base_url)
    async for url in serve(app):
        call_id = await emu.place_call(url, webhook_secret=SECRET)
        assert emu.calls[call_id].webhook_status == 502
        status, body = await post(url, incoming(call_id), signed(incoming(call_id), wid="wh_x"))
        # a retry of the failed delivery (same webhook-id) is tried again, not called a duplicate
        again = await post(url, incoming(call_id), signed(incoming(call_id), wid="wh_x"))
    assert (status, body) == again == (502, {"error": "call_control_failed"})
    assert emu.calls[call_id].state == "ringing"
    assert "sk-wrong-key-never-shown-0000" not in caplog.text
    assert "not accepted" in caplog.text


async def test_a_handler_that_raises_is_logged_and_the_call_hung_up(
        emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(emu)

    @app.on_call
    async def handle(call: SipCall) -> None:
        raise RuntimeError("application bug")

    with caplog.at_level(logging.ERROR, "openai_realtime_ws.telephony.sip"):
        async for url in serve(app):
            call_id = await emu.place_call(url, webhook_secret=SECRET)
            assert await emu.calls[call_id].wait_ended() == "ended"
            second = await emu.place_call(url, webhook_secret=SECRET)  # the app still serves
            assert await emu.calls[second].wait_ended() == "ended"
    assert "the on_call handler raised RuntimeError" in caplog.text


def test_no_secret_no_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_WEBHOOK_SECRET", raising=False)
    with pytest.raises(RealtimeConfigError, match="OPENAI_WEBHOOK_SECRET"):
        SipApp(session=SESSION)
    with pytest.raises(RealtimeConfigError, match="base64"):
        SipApp(session=SESSION, webhook_secret="whsec_???")
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", SECRET)
    assert isinstance(SipApp(session=SESSION), SipApp)


async def test_metrics_count_refusals_calls_and_outcomes(emu: Emulator) -> None:
    from prometheus_client import CollectorRegistry

    from openai_realtime_ws.telemetry.prometheus import ServiceMetrics

    registry = CollectorRegistry()
    app = make_app(emu, metrics=ServiceMetrics("sip", registry=registry), greeting="")

    @app.on_call
    async def handle(call: SipCall) -> None:
        await call.rt.wait_for("response.done")

    async for url in serve(app):
        await emu.place_call(url, webhook_secret="whsec_" + base64.b64encode(b"forger").decode())
        call_id = await emu.place_call(url, webhook_secret=SECRET)
        assert await emu.calls[call_id].wait_ended() == "ended"
        await app.join(5)
        async with ClientSession() as http, http.get(url + "metrics") as resp:
            assert resp.status == 200
            text = await resp.text()

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"service": "sip", **labels})

    assert value("openai_realtime_refusals_total", reason="bad_signature") == 1.0
    assert value("openai_realtime_calls_ended_total", outcome="hung_up") == 1.0
    assert value("openai_realtime_calls", state="active") == 0.0
    assert value("openai_realtime_calls", state="ringing") == 0.0
    assert value("openai_realtime_sessions_open") == 0.0
    assert (value("openai_realtime_events_relayed_total", direction="to_upstream") or 0) >= 1  # the greeting
    assert 'openai_realtime_calls_ended_total{outcome="hung_up",service="sip"} 1.0' in text


async def test_dtmf_reaches_the_call(emu: Emulator) -> None:
    app = make_app(emu)
    got = asyncio.Event()
    seen: list[str] = []

    @app.on_call
    async def handle(call: SipCall) -> None:
        await call.rt.wait_for("input_audio_buffer.dtmf_event_received")
        await call.rt.wait_for("input_audio_buffer.dtmf_event_received")
        seen.append(call.digits)
        got.set()

    async for url in serve(app):
        call_id = await emu.place_call(url, webhook_secret=SECRET)
        conn = await emu.wait_for_connection(0)
        assert conn.call_id == call_id
        await emu.inject_dtmf(conn, "4#")
        await asyncio.wait_for(got.wait(), 5)
        assert await emu.calls[call_id].wait_ended() == "ended"
    assert seen == ["4#"]


async def test_max_calls_rejects_the_next_as_busy(emu: Emulator) -> None:
    app = make_app(emu, max_calls=1)
    async for url in serve(app):
        first = await emu.place_call(url, webhook_secret=SECRET)
        busy = await emu.place_call(url, webhook_secret=SECRET)
        assert emu.calls[first].state == "accepted"
        assert (emu.calls[busy].state, emu.calls[busy].reject_status) == ("rejected", 486)
        await app.aclose()
        third = await emu.place_call(url, webhook_secret=SECRET)  # a line is free again
        assert emu.calls[third].state == "accepted"
        await app.aclose()
    with pytest.raises(RealtimeConfigError, match="max_calls"):
        make_app(emu, max_calls=0)


async def test_azure(emu: Emulator) -> None:
    app = SipApp(session=SESSION, webhook_secret=SECRET, api_key=KEY, azure_endpoint=emu.azure_endpoint,
                 greeting="")

    @app.on_call
    async def handle(call: SipCall) -> None:
        await call.rt.wait_for("response.done")

    async for url in serve(app):
        call_id = await emu.place_call(url, webhook_secret=SECRET)
        assert await emu.calls[call_id].wait_ended() == "ended"
    sideband = next(c for c in emu.connections if c.call_id == call_id)
    assert sideband.path == "/openai/v1/realtime" and sideband.headers.get("api-key") == KEY
    assert len(emu.calls[call_id].heard) == 1
