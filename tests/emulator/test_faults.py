# Each injected fault, as a raw client observes it.
from __future__ import annotations

import asyncio
import contextlib
import json
import time

import aiohttp
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from openai_realtime_ws.emulator import (
    CloseWith,
    DelayEvents,
    DelayHandshake,
    Drop,
    Emulator,
    EmulatorConfig,
    Redirect,
    RefuseHandshake,
    SendMalformed,
    Stall,
)

from .helpers import Raw, connect, user_text


async def close_info(raw: Raw) -> ConnectionClosed:
    with pytest.raises(ConnectionClosed) as info:
        for _ in range(1000):
            await raw.recv()
    return info.value


@pytest.mark.parametrize("status", [500, 401, 503])
async def test_refuse_handshake(realtime_emulator: Emulator, status: int) -> None:
    realtime_emulator.faults.next_connection(RefuseHandshake(status))
    with pytest.raises(InvalidStatus) as info:
        await connect(realtime_emulator)
    assert info.value.response.status_code == status
    raw = await connect(realtime_emulator)  # only the next connection was refused
    await raw.ws.close()


async def test_redirect_records_credentials(realtime_emulator: Emulator) -> None:
    realtime_emulator.faults.next_connection(Redirect())
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{realtime_emulator.ws_url}?model=gpt-realtime", allow_redirects=False) as r:
            assert r.status == 302
            location = r.headers["Location"]
    assert location == f"ws://127.0.0.1:{realtime_emulator.port}/redirect-target/v1/realtime?model=gpt-realtime"
    # websockets follows the redirect and drops nothing: the target sees the Authorization header
    realtime_emulator.faults.next_connection(Redirect())
    raw = await connect(realtime_emulator, headers={"Authorization": "Bearer sk-leak-check"})
    await raw.ws.close()
    hit = realtime_emulator.redirect_hits[-1]
    assert hit.path == "/redirect-target/v1/realtime" and hit.query == {"model": "gpt-realtime"}
    assert hit.had_credentials


async def test_delay_handshake_and_events(realtime_emulator: Emulator) -> None:
    realtime_emulator.faults.next_connection(DelayHandshake(0.2), DelayEvents(0.15, frozenset({"session.created"})))
    t0 = time.monotonic()
    raw = await connect(realtime_emulator)
    assert time.monotonic() - t0 >= 0.35
    await raw.ws.close()


@pytest.mark.parametrize("fault", [Drop(after=1), Drop(after_type="response.output_text.delta")])
async def test_drop_aborts_tcp(realtime_emulator: Emulator, fault: Drop) -> None:
    realtime_emulator.faults.next_connection(fault)
    raw = await connect(realtime_emulator)
    with contextlib.suppress(ConnectionClosed):
        await raw.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})
        await raw.send(user_text("hello"))
        await raw.send({"type": "response.create"})
    exc = await close_info(raw)
    assert exc.rcvd is None  # no close frame: abnormal closure (1006)
    if fault.after_type:
        assert raw.seen[-1]["type"] == "response.output_text.delta"
    else:
        assert [e["type"] for e in raw.seen] == ["session.created"]


@pytest.mark.parametrize("code", [1011, 1012, 1013])
async def test_close_with_code(realtime_emulator: Emulator, code: int) -> None:
    realtime_emulator.faults.next_connection(CloseWith(code, "emulated", after_type="session.created"))
    raw = await connect(realtime_emulator)
    exc = await close_info(raw)
    assert exc.rcvd is not None and (exc.rcvd.code, exc.rcvd.reason) == (code, "emulated")
    assert realtime_emulator.connections[0].close_code == code


@pytest.mark.parametrize(("kind", "check"), [
    ("not_json", lambda f: isinstance(f, str) and f.startswith("this is not json")),
    ("json_array", lambda f: isinstance(json.loads(f), list)),
    ("no_type", lambda f: "type" not in json.loads(f)),
    ("unknown_type", lambda f: json.loads(f)["type"] == "emulator.unknown_event"),
    ("binary", lambda f: isinstance(f, bytes)),
])
async def test_send_malformed(realtime_emulator: Emulator, kind: str, check: object) -> None:
    realtime_emulator.faults.next_connection(SendMalformed(kind, after=1))  # type: ignore[arg-type]
    raw = await connect(realtime_emulator)
    frame = await asyncio.wait_for(raw.ws.recv(), 5)
    assert callable(check) and check(frame)
    await raw.send(user_text("still works"))  # the session carries on after the bad frame
    assert (await raw.recv())["type"] == "conversation.item.added"
    await raw.ws.close()


async def test_invalid_utf8_text_frame(realtime_emulator: Emulator) -> None:
    realtime_emulator.faults.next_connection(SendMalformed("invalid_utf8", after=1))
    raw = await connect(realtime_emulator)
    exc = await close_info(raw)
    assert exc.sent is not None and exc.sent.code == 1007  # the client refused the bad UTF-8


async def test_stall(realtime_emulator: Emulator) -> None:
    realtime_emulator.faults.next_connection(Stall(after_type="session.created"))
    raw = await connect(realtime_emulator)
    await raw.send(user_text("anyone?"))
    await raw.no_event(0.3)
    await raw.ws.ping()
    await raw.ws.close()


async def test_live_fault_and_every_connection(realtime_emulator: Emulator) -> None:
    raw = await connect(realtime_emulator)
    realtime_emulator.connections[0].inject_fault(CloseWith(1011, "boom"))
    exc = await close_info(raw)
    assert exc.rcvd is not None and exc.rcvd.code == 1011
    realtime_emulator.faults.every_connection(CloseWith(1013, after=1))
    for _ in range(2):
        raw = await connect(realtime_emulator)
        assert (await close_info(raw)).rcvd.code == 1013  # type: ignore[union-attr]
    realtime_emulator.faults.clear()
    raw = await connect(realtime_emulator)
    await raw.ws.close()


async def test_config_faults_apply_to_every_connection() -> None:
    async with Emulator(config=EmulatorConfig(faults=[RefuseHandshake(503)])) as emu:
        for _ in range(2):
            with pytest.raises(InvalidStatus):
                await websockets.connect(f"{emu.ws_url}?model=gpt-realtime")


async def test_restart_keeps_port(realtime_emulator: Emulator) -> None:
    raw = await connect(realtime_emulator)
    port = realtime_emulator.port
    await realtime_emulator.stop()
    exc = await close_info(raw)
    assert exc.rcvd is not None and exc.rcvd.code == 1012
    with pytest.raises(OSError):
        await websockets.connect(f"{realtime_emulator.ws_url}?model=gpt-realtime", open_timeout=1)
    await realtime_emulator.start()
    assert realtime_emulator.port == port
    raw = await connect(realtime_emulator)
    await raw.ws.close()
