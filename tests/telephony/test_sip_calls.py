# Call control (core/calls.py, aio/calls.py, sync/calls.py): bodies checked before anything is
# sent, the routes and bodies openai-python sends, answers classified with the key masked, over
# real sockets against the emulator's call routes (and a small HTTP server that answers badly).
from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from aiohttp import web

from openai_realtime_ws import RealtimeConfigError, RealtimeConnectionError
from openai_realtime_ws.aio.calls import AsyncRealtimeCalls
from openai_realtime_ws.core.calls import (
    CallControlError,
    accept_request,
    hangup_request,
    refer_request,
    reject_request,
)
from openai_realtime_ws.emulator import Emulator
from openai_realtime_ws.sync.calls import RealtimeCalls

KEY = "sk-sip-calls-test-secret-0000"
SECRET = "whsec_" + base64.b64encode(b"sip-calls-test-secret-0123456789").decode()


class Base:
    base_url = "https://api.openai.com/v1"


def test_requests_have_openai_pythons_routes_and_bodies() -> None:
    req = accept_request("rtc_1", {"model": "gpt-realtime", "instructions": "hi"}, client=Base())
    assert req.url == "https://api.openai.com/v1/realtime/calls/rtc_1/accept"
    assert json.loads(req.body or b"") == {"type": "realtime", "model": "gpt-realtime", "instructions": "hi"}
    assert json.loads(reject_request("rtc_1", 486, client=Base()).body or b"") == {"status_code": 486}
    assert json.loads(reject_request("rtc_1", client=Base()).body or b"") == {}
    assert json.loads(refer_request("rtc_1", "tel:+14155550123", client=Base()).body or b"") == {
        "target_uri": "tel:+14155550123"}
    hangup = hangup_request("rtc_1", client=Base())
    assert (hangup.url.rsplit("/", 1)[-1], hangup.body) == ("hangup", None)
    azure = hangup_request("rtc_1", azure_endpoint="https://res.openai.azure.com")
    assert azure.url == "https://res.openai.azure.com/openai/v1/realtime/calls/rtc_1/hangup"


@pytest.mark.parametrize(("build", "field"), [
    (lambda: accept_request("rtc_1", {"instructions": 5}), "instructions"),
    (lambda: accept_request("rtc_1", {"modalities": ["audio"]}), "modalities"),
    (lambda: accept_request("rtc_1", {"type": "transcription"}), "session.type"),
    (lambda: accept_request("rtc_1", ["not", "a", "dict"]), "session must be a dict"),  # type: ignore[arg-type]
    (lambda: reject_request("rtc_1", 200), "status_code"),
    (lambda: reject_request("rtc_1", True), "status_code"),
    (lambda: refer_request("rtc_1", "http://example.com"), "target_uri"),
    (lambda: refer_request("rtc_1", "sip:a@b\r\nX-Injected: 1"), "target_uri"),
    (lambda: hangup_request("../../v1/files"), "call_id"),
    (lambda: hangup_request(""), "call_id"),
])
def test_bad_arguments_are_refused_naming_the_field(build: Any, field: str) -> None:
    with pytest.raises(RealtimeConfigError, match=field):
        build()


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(api_key=KEY) as e:
        yield e


async def ringing(emu: Emulator) -> str:
    """A call placed to a webhook that answers 200 and does nothing."""
    async def ok(request: web.Request) -> web.Response:
        return web.Response()
    app = web.Application()
    app.router.add_post("/", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        return await emu.place_call(f"http://127.0.0.1:{runner.addresses[0][1]}/", webhook_secret=SECRET)
    finally:
        await runner.cleanup()


async def test_async_accept_refer_against_the_emulator(emu: Emulator) -> None:
    calls = AsyncRealtimeCalls(api_key=KEY, base_url=emu.base_url)
    call_id = await ringing(emu)
    await calls.accept(call_id, {"model": "gpt-realtime"}, instructions="Be brief.")
    call = emu.calls[call_id]
    assert call.state == "accepted"
    assert call.session == {"type": "realtime", "model": "gpt-realtime", "instructions": "Be brief."}
    await calls.refer(call_id, "sip:desk@example.com")
    assert (call.state, call.refer_target) == ("transferred", "sip:desk@example.com")
    with pytest.raises(CallControlError) as info:
        await calls.hangup(call_id)
    assert (info.value.status, info.value.action, info.value.call_id) == (400, "hangup", call_id)
    assert "transferred" in str(info.value)


async def test_reject_and_hangup(emu: Emulator) -> None:
    calls = AsyncRealtimeCalls(api_key=KEY, base_url=emu.base_url)
    first, second = await ringing(emu), await ringing(emu)
    await calls.reject(first, 486)
    assert (emu.calls[first].state, emu.calls[first].reject_status) == ("rejected", 486)
    await calls.accept(second)
    await calls.hangup(second)
    assert emu.calls[second].state == "ended"
    with pytest.raises(CallControlError) as info:
        await calls.accept("rtc_unknown")
    assert info.value.status == 404


def test_blocking_twin(emu_thread: Any) -> None:
    calls = RealtimeCalls(api_key=KEY, base_url=emu_thread.base_url)
    call_id = emu_thread.run(ringing(emu_thread.emulator))
    calls.accept(call_id, {"instructions": "Hello"})
    calls.hangup(call_id)
    assert emu_thread.emulator.calls[call_id].state == "ended"
    with pytest.raises(CallControlError):
        calls.refer(call_id, "tel:+1555")


@pytest.fixture
def emu_thread() -> Iterator[Any]:
    from openai_realtime_ws.emulator import EmulatorThread

    with EmulatorThread(api_key=KEY) as e:
        yield e


async def test_a_wrong_key_is_masked_in_the_error(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "sk-this-key-must-never-show-0001"
    calls = AsyncRealtimeCalls(api_key=wrong, base_url=emu.base_url)
    call_id = await ringing(emu)
    with pytest.raises(CallControlError) as info:
        await calls.accept(call_id)
    assert info.value.status == 401 and wrong not in str(info.value) and wrong not in repr(info.value)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(RealtimeConfigError, match=r"no API key to hangup a call: .* OPENAI_API_KEY"):
        await AsyncRealtimeCalls(base_url=emu.base_url).hangup(call_id)


class _Echo(BaseHTTPRequestHandler):
    """Answers every POST with an error message that quotes the request's Authorization header
    (as a careless proxy might), or a redirect, or an endless body."""

    mode = "echo"

    def do_POST(self) -> None:
        if self.mode == "redirect":
            self.send_response(307)
            self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.mode == "huge":
            self.send_response(500)
            self.send_header("Content-Length", str(3 << 20))
            self.end_headers()
            self.wfile.write(b"x" * (3 << 20))
            return
        body = json.dumps({"error": {"message": f"bad auth {self.headers['Authorization']}",
                                     "code": "nope"}}).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_server() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.mark.parametrize("mode", ["echo", "redirect", "huge"])
async def test_upstream_errors_are_redacted(echo_server: HTTPServer, mode: str) -> None:
    _Echo.mode = mode
    port = echo_server.server_address[1]
    calls = AsyncRealtimeCalls(api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises((CallControlError, RealtimeConnectionError)) as info:
        await calls.hangup("rtc_1")
    text = str(info.value)
    assert KEY not in text and KEY[:12] not in text
    if mode == "echo":
        assert isinstance(info.value, CallControlError) and info.value.status == 403
        assert "bad auth Bearer ***" in text and "(nope)" in text
    elif mode == "redirect":
        assert "redirect (not followed" in text
    else:
        assert "more than" in text


async def test_timeout_and_unreachable(echo_server: HTTPServer) -> None:
    port = echo_server.server_address[1]
    echo_server.shutdown()  # the socket still listens: nobody answers
    calls = AsyncRealtimeCalls(api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1", timeout=0.3)
    with pytest.raises(RealtimeConnectionError, match="did not answer within"):
        await calls.hangup("rtc_1")
    await asyncio.sleep(0)
