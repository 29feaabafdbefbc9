# The emulator places SIP calls (issue 17): a signed `realtime.call.incoming` to an application's
# webhook, the call-control routes, the sideband session with the caller's speech. Driven here
# by openai-python 3.x unchanged (`webhooks.unwrap`, `realtime.calls.*`,
# `realtime.connect(call_id=...)`): the application in these tests is a small aiohttp webhook.
from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from aiohttp import web
from openai import AsyncOpenAI
from websockets.exceptions import InvalidStatus

from openai_realtime_ws.emulator import Emulator, ScriptedResponder, ToolCall
from openai_realtime_ws.emulator.calls import USER_AGENT

KEY = "sk-sip-emulator-test-0000"
SECRET = "whsec_" + base64.b64encode(b"emulator-call-secret-0123456789ab").decode()


class Webhook:
    """The application side: verifies each delivery with openai-python and accepts, rejects or
    ignores the call as told."""

    def __init__(self, client: AsyncOpenAI, mode: str = "accept") -> None:
        self.client = client
        self.mode = mode
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.events: list[Any] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.deliveries.append(({k.lower(): v for k, v in request.headers.items()}, body))
        try:
            event = self.client.webhooks.unwrap(body, request.headers, secret=SECRET)
        except openai.InvalidWebhookSignatureError:
            return web.Response(status=400)
        self.events.append(event)
        if event.type == "realtime.call.incoming":
            if self.mode == "accept":
                await self.client.realtime.calls.accept(
                    event.data.call_id, type="realtime", model="gpt-realtime",
                    instructions="You are the front desk.",
                    tools=[{"type": "function", "name": "opening_hours", "description": "Hours",
                            "parameters": {"type": "object", "properties": {"branch": {"type": "string"}}}}],
                )
            elif self.mode == "reject":
                await self.client.realtime.calls.reject(event.data.call_id, status_code=486)
        return web.Response(status=200)

    async def __aenter__(self) -> Webhook:
        app = web.Application()
        app.router.add_post("/webhook", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/webhook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


def responder() -> ScriptedResponder:
    return ScriptedResponder().on(
        r"hours", tools=[ToolCall("opening_hours", {"branch": "main"})],
        then="We are open {output}.")


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(api_key=KEY, responder=responder()) as e:
        yield e


def client(emu: Emulator) -> AsyncOpenAI:
    return AsyncOpenAI(api_key=KEY, base_url=emu.base_url)


async def until(conn: Any, type_: str) -> list[Any]:
    out = []
    async for ev in conn:
        out.append(ev)
        if ev.type == type_:
            return out
    raise AssertionError(f"closed before {type_}")


async def test_the_webhook_is_what_openai_sends(emu: Emulator) -> None:
    async with Webhook(client(emu), mode="ignore") as hook:
        call_id = await emu.place_call(hook.url, webhook_secret=SECRET,
                                       sip_headers=[("From", "<sip:+14155550100@example.com>"),
                                                    ("To", "<sip:+18005550199@example.com>"),
                                                    ("X-Custom", "a"), ("X-Custom", "b")])
    headers, body = hook.deliveries[0]
    assert headers["user-agent"] == USER_AGENT
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"].startswith("wh_")
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert headers["webhook-signature"].startswith("v1,")
    raw = json.loads(body)
    assert raw["object"] == "event" and raw["type"] == "realtime.call.incoming"
    assert raw["id"].startswith("evt_") and isinstance(raw["created_at"], int)
    assert raw["data"]["call_id"] == call_id and call_id.startswith("rtc_")
    assert [(h["name"], h["value"]) for h in raw["data"]["sip_headers"]] == [
        ("From", "<sip:+14155550100@example.com>"), ("To", "<sip:+18005550199@example.com>"),
        ("X-Custom", "a"), ("X-Custom", "b")]
    event = hook.events[0]  # openai-python parsed it into its own model
    assert type(event).__name__ == "RealtimeCallIncomingWebhookEvent"
    assert event.data.call_id == call_id and event.data.sip_headers[2].value == "a"
    assert emu.calls[call_id].state == "ringing" and emu.calls[call_id].webhook_status == 200


async def test_openai_python_accepts_watches_and_transfers_a_call(emu: Emulator) -> None:
    oa = client(emu)
    async with Webhook(oa) as hook:
        call_id = await emu.place_call(hook.url, webhook_secret=SECRET,
                                       caller_says=["what are your opening hours"])
    call = emu.calls[call_id]
    assert call.state == "accepted" and call.session is not None
    async with oa.realtime.connect(call_id=call_id) as conn:
        created = await conn.recv()
        assert created.type == "session.created"
        session: Any = created.session
        assert session.instructions == "You are the front desk."
        assert [t.name for t in session.tools] == ["opening_hours"]
        events = await until(conn, "response.done")
        done = events[-1]
        assert [o.type for o in done.response.output] == ["function_call"]
        fc = done.response.output[0]
        assert (fc.name, json.loads(fc.arguments)) == ("opening_hours", {"branch": "main"})
        assert "input_audio_buffer.speech_started" in [e.type for e in events]
        await conn.conversation.item.create(item={"type": "function_call_output", "call_id": fc.call_id,
                                                  "output": "9 to 5"})
        await conn.response.create()
        events = await until(conn, "response.done")
        assert events[-1].response.output[0].type == "message"
        await oa.realtime.calls.refer(call_id, target_uri="tel:+14155550123")
        with pytest.raises(AssertionError, match="closed before"):  # the sideband socket closes
            await until(conn, "never.sent")
    assert await call.wait_ended() == "transferred"
    assert call.refer_target == "tel:+14155550123"
    assert call.said == ["what are your opening hours"]
    assert call.heard == ["We are open 9 to 5."]
    assert len(call.heard_audio) > 0
    assert emu.connections[-1].close_code == 1000
    with pytest.raises(openai.BadRequestError):  # the call is over
        await oa.realtime.calls.hangup(call_id)


async def test_hangup_ends_the_call_and_closes_the_sideband(emu: Emulator) -> None:
    oa = client(emu)
    async with Webhook(oa) as hook:
        call_id = await emu.place_call(hook.url, webhook_secret=SECRET)
    async with oa.realtime.connect(call_id=call_id) as conn:
        assert (await conn.recv()).type == "session.created"
        await oa.realtime.calls.hangup(call_id)
        assert await emu.calls[call_id].wait_ended() == "ended"
        assert await emu.connections[-1].wait_closed() == 1000


async def test_reject_and_the_errors_of_a_call_in_the_wrong_state(emu: Emulator) -> None:
    oa = client(emu)
    async with Webhook(oa, mode="reject") as hook:
        call_id = await emu.place_call(hook.url, webhook_secret=SECRET)
    call = emu.calls[call_id]
    assert (call.state, call.reject_status) == ("rejected", 486)
    with pytest.raises(openai.BadRequestError, match="rejected"):
        await oa.realtime.calls.accept(call_id, type="realtime")
    with pytest.raises(openai.NotFoundError):
        await oa.realtime.calls.accept("rtc_nosuchcall", type="realtime")
    with pytest.raises(openai.AuthenticationError):
        await AsyncOpenAI(api_key="sk-wrong", base_url=emu.base_url).realtime.calls.hangup(call_id)


async def test_reject_defaults_to_603_and_refer_needs_an_accepted_call(emu: Emulator) -> None:
    oa = client(emu)
    async with Webhook(oa, mode="ignore") as hook:
        call_id = await emu.place_call(hook.url, webhook_secret=SECRET)
        with pytest.raises(openai.BadRequestError, match="ringing"):
            await oa.realtime.calls.refer(call_id, target_uri="tel:+1555")
        with pytest.raises(openai.BadRequestError, match="ringing"):
            await oa.realtime.calls.hangup(call_id)
        await oa.realtime.calls.reject(call_id)
    assert emu.calls[call_id].reject_status == 603


async def test_accept_validates_the_session(emu: Emulator) -> None:
    oa = client(emu)
    async with Webhook(oa, mode="ignore") as hook:
        call_id = await emu.place_call(hook.url, webhook_secret=SECRET)
    with pytest.raises(openai.BadRequestError) as info:
        await oa.realtime.calls.accept(call_id, type="realtime", extra_body={"instructions": 5})
    assert "instructions" in str(info.value)
    assert emu.calls[call_id].state == "ringing"


async def test_a_call_nobody_answers_is_missed_and_has_no_session(emu: Emulator) -> None:
    oa = client(emu)
    async with Webhook(oa, mode="ignore") as hook:
        call_id = await emu.place_call(hook.url, webhook_secret=SECRET, ring_timeout=0.2)
    with pytest.raises(InvalidStatus) as refused:  # a ringing call has no session to join
        async with oa.realtime.connect(call_id=call_id) as conn:
            await conn.recv()
    assert refused.value.response.status_code == 404
    assert await emu.calls[call_id].wait_ended() == "missed"
    with pytest.raises(openai.BadRequestError, match="missed"):
        await oa.realtime.calls.accept(call_id, type="realtime")


async def test_a_stale_delivery_fails_openai_pythons_check(emu: Emulator) -> None:
    async with Webhook(client(emu)) as hook:
        call_id = await emu.place_call(hook.url, webhook_secret=SECRET, timestamp=int(time.time()) - 600)
        forged = await emu.place_call(hook.url, webhook_secret="whsec_" + base64.b64encode(b"x" * 24).decode())
    assert emu.calls[call_id].webhook_status == 400 and emu.calls[call_id].state == "ringing"
    assert emu.calls[forged].webhook_status == 400 and emu.calls[forged].state == "ringing"
    assert hook.events == []


async def test_place_call_raises_when_the_webhook_is_unreachable(emu: Emulator) -> None:
    async with Webhook(client(emu)) as hook:
        url = hook.url
    with pytest.raises(ConnectionError, match="could not be reached"):
        await emu.place_call(url, webhook_secret=SECRET)
