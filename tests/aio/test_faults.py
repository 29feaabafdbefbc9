"""Issue 9: every fault either recovers or surfaces. Each test runs against a real server over
loopback: the emulator, the scripted aiohttp server, or a raw TCP server for what no WebSocket
server would do (a reset or FIN instead of the upgrade, a TLS handshake that never ends)."""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
import time
from typing import Any

import pytest
from aiohttp import web

from openai_realtime_ws import (
    AsyncOpenAIRealtimeWS,
    ConnectionClosed,
    ConnectionClosedError,
    OpenAIRealtimeError,
    OpenAIRealtimeWS,
    RealtimeConfigError,
    RealtimeConnectionError,
)
from openai_realtime_ws.core.reconnect import ReconnectContext, ReconnectPolicy
from openai_realtime_ws.emulator import CloseWith, Drop, Emulator, EmulatorThread

from .rawserver import (
    RawServer,
    RawTCPServer,
    accept_upgrade,
    read_upgrade,
    reset,
    session_created,
    text_frame,
    wait_closed,
)

KEY = "sk-faults-key-0123456789abcdef"
CONFIGURE = {"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief."}}


def fast(**kwargs: Any) -> ReconnectPolicy:
    return ReconnectPolicy(initial_delay=0.01, max_delay=0.05, jitter=False, **kwargs)


def user_text(text: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
    }


async def no_upgrade(mode: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_upgrade(reader)
    if mode == "rst":
        reset(writer)
    elif mode == "partial":
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n")
        await writer.drain()
        writer.close()
    else:  # fin
        writer.close()


# ---------------------------------------------------------------- 1. no upgrade: an error


@pytest.mark.parametrize("mode", ["rst", "fin", "partial"])
async def test_reset_or_fin_instead_of_the_upgrade_raises(mode: str) -> None:
    async def behave(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await no_upgrade(mode, reader, writer)

    async with RawTCPServer(behave) as srv:
        with pytest.raises(RealtimeConnectionError):
            await AsyncOpenAIRealtimeWS.create(base_url=srv.base_url, api_key=KEY, model="m")


@pytest.mark.parametrize("mode", ["rst", "fin", "partial"])
def test_blocking_create_raises_too(mode: str) -> None:
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def serve() -> None:
        async def behave(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
            await no_upgrade(mode, reader, writer)

        async with RawTCPServer(behave) as srv:
            holder["url"] = srv.base_url
            holder["stop"] = stop = asyncio.Event()
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),))
    thread.start()
    ready.wait(5)
    try:
        with pytest.raises(RealtimeConnectionError):
            OpenAIRealtimeWS.create(base_url=holder["url"], api_key=KEY, model="m")
    finally:
        loop.call_soon_threadsafe(holder["stop"].set)
        thread.join(5)
        loop.close()


async def test_reconnect_attempt_without_upgrade_counts_as_failed() -> None:
    async def behave(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        if n == 0:  # a real session, then the connection drops
            writer.write(accept_upgrade(await read_upgrade(reader)) + text_frame(session_created()))
            await writer.drain()
            reset(writer)
        else:  # every reconnect attempt: a FIN instead of the upgrade
            await no_upgrade("fin", reader, writer)

    async with RawTCPServer(behave) as srv:
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=srv.base_url, api_key=KEY, model="m", reconnect=fast(max_attempts=3)
        )
        attempts: list[ReconnectContext] = []
        rt.on("reconnecting", attempts.append)
        with pytest.raises(ConnectionClosedError):
            await rt.wait_for("response.done", timeout=10)
        assert rt.closed and not rt.reconnecting and len(attempts) == 3
        with pytest.raises(ConnectionClosedError):
            rt.send(CONFIGURE)
        assert srv.connections == 4


# ---------------------------------------------------------------- 2. reconnect loop failures


async def closed_with_error(rt: AsyncOpenAIRealtimeWS) -> list[OpenAIRealtimeError]:
    errors: list[OpenAIRealtimeError] = []
    done = asyncio.Event()

    def on_error(e: OpenAIRealtimeError) -> None:
        errors.append(e)
        done.set()

    rt.on("error", on_error)
    with pytest.raises(ConnectionClosedError):
        await rt.wait_for("never.arrives", timeout=10)
    await asyncio.wait_for(done.wait(), 5)
    assert rt.closed and not rt.reconnecting and rt.socket is None
    return errors


async def test_on_reconnect_raising_closes_with_the_cause() -> None:
    def on_reconnect(ctx: ReconnectContext) -> bool:
        raise ValueError("on_reconnect broke")

    async with Emulator() as emu:
        emu.faults.next_connection(Drop(after_type="session.updated"))
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=emu.base_url, api_key=KEY, model="m", reconnect=fast(on_reconnect=on_reconnect)
        )
        rt.send(CONFIGURE)
        errors = await closed_with_error(rt)
    assert "on_reconnect broke" in errors[-1].message
    assert isinstance(errors[-1].__cause__, ValueError)


@pytest.mark.parametrize("failure", ["raises", "hangs"])
async def test_token_provider_failing_on_reconnect_closes_with_the_cause(failure: str) -> None:
    calls = 0
    forever = asyncio.Event()

    async def provider() -> str:
        nonlocal calls
        calls += 1
        if calls > 1:
            if failure == "raises":
                raise RuntimeError("vault unreachable")
            await forever.wait()
        return KEY

    async with Emulator() as emu:
        emu.faults.next_connection(Drop(after_type="session.updated"))
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=emu.base_url, api_key=provider, model="m", reconnect=fast(),
            open_timeout=0.5,
        )
        rt.send(CONFIGURE)
        errors = await closed_with_error(rt)
    expected = "vault unreachable" if failure == "raises" else "did not answer within 0.5 s"
    assert expected in errors[-1].message


# ---------------------------------------------------------------- 3. blocking client, threads


def test_concurrent_close_from_threads_is_safe_and_idempotent() -> None:
    with EmulatorThread() as emu:
        for _ in range(5):
            rt = OpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")
            problems: list[BaseException] = []

            def close(rt: OpenAIRealtimeWS, problems: list[BaseException]) -> None:
                try:
                    rt.close()
                except BaseException as exc:  # pragma: no cover - the failure being tested
                    problems.append(exc)

            threads = [threading.Thread(target=close, args=(rt, problems), daemon=True) for _ in range(3)]
            for t in threads:
                t.start()
            rt.close()
            for t in threads:
                t.join(10)
            assert not any(t.is_alive() for t in threads) and problems == []
            assert rt.closed


def test_close_from_another_thread_ends_iteration() -> None:
    with EmulatorThread() as emu:
        rt = OpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")
        seen: list[str] = []
        first = threading.Event()

        def iterate() -> None:
            for event in rt:
                seen.append(event.type)
                first.set()

        t = threading.Thread(target=iterate, daemon=True)
        t.start()
        assert first.wait(5)
        rt.close()
        t.join(10)
        assert not t.is_alive() and seen[0] == "session.created"


def test_threads_sending_and_waiting_while_another_closes_never_hang() -> None:
    with EmulatorThread() as emu:
        rt = OpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")
        outcomes: list[str] = []
        started = threading.Barrier(3)

        def sender() -> None:
            started.wait()
            try:
                while True:
                    rt.send(user_text("again"))
            except ConnectionClosed:
                outcomes.append("send: closed")

        def waiter() -> None:
            started.wait()
            try:
                rt.wait_for("never.arrives", timeout=30)
            except ConnectionClosed:
                outcomes.append("wait_for: closed")

        threads = [threading.Thread(target=f, daemon=True) for f in (sender, waiter)]
        for t in threads:
            t.start()
        started.wait()
        rt.close()
        for t in threads:
            t.join(10)
        assert not any(t.is_alive() for t in threads)
    assert sorted(outcomes) == ["send: closed", "wait_for: closed"]


def test_two_threads_iterating_share_the_events_out() -> None:
    with EmulatorThread() as emu:
        rt = OpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")
        all_events: list[Any] = []
        rt.on("event", all_events.append)
        got: list[list[Any]] = [[], []]

        def iterate(i: int) -> None:
            for event in rt:
                got[i].append(event)

        threads = [threading.Thread(target=iterate, args=(i,), daemon=True) for i in range(2)]
        for t in threads:
            t.start()
        rt.send(user_text("hello"))
        rt.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        rt.wait_for("response.done", timeout=10)
        rt.close()
        for t in threads:
            t.join(10)
        assert not any(t.is_alive() for t in threads)
    ids = [id(e) for e in got[0] + got[1]]
    assert len(ids) == len(set(ids))  # each event went to exactly one thread
    assert sorted(ids) == sorted(id(e) for e in all_events)  # and none was lost


def test_events_buffered_at_close_are_still_iterated_after_it() -> None:
    # what the loop thread buffered but no iteration step took before close() is handed out
    # after it (as the asyncio client does), then iteration ends: nothing is lost at the stop
    with EmulatorThread() as emu:
        rt = OpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")
        all_events: list[Any] = []
        rt.on("event", all_events.append)
        it = iter(rt)
        first = next(it)
        rt.send(user_text("hello"))
        rt.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        rt.wait_for("response.done", timeout=10)
        rt.close()
        rest = list(it)
    assert [first, *rest] == all_events and "response.done" in [e.type for e in rest]


def test_blocking_send_raises_queue_full_synchronously() -> None:
    from openai_realtime_ws import QueueFull

    with EmulatorThread() as emu:
        emu.faults.next_connection(CloseWith(code=1012, after_type="session.updated"))
        rt = OpenAIRealtimeWS.create(
            base_url=emu.base_url, api_key=KEY, model="m", send_queue_bytes=2_000,
            reconnect=ReconnectPolicy(initial_delay=5, jitter=False),
        )
        down = threading.Event()
        rt.on("reconnecting", lambda ctx: down.set())
        rt.send(CONFIGURE)
        assert down.wait(5)
        rt.send(user_text("x" * 500))  # queued while reconnecting
        with pytest.raises(QueueFull):
            rt.send(user_text("y" * 3_000))  # raised here, not lost on the loop thread
        rt.close()
    assert [e["type"] for e in rt.unsent] == ["conversation.item.create"]


# ---------------------------------------------------------------- 5. open_timeout covers TLS


async def test_open_timeout_bounds_a_tls_handshake_that_never_ends() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await reader.read()  # accept TCP, never answer the TLS ClientHello

    async with RawTCPServer(silent) as srv:
        started = time.monotonic()
        with pytest.raises(RealtimeConnectionError, match="timed out"):
            await AsyncOpenAIRealtimeWS.create(
                base_url=f"https://127.0.0.1:{srv.port}/v1", api_key=KEY, model="m",
                ssl=ssl.create_default_context(), open_timeout=0.5,
            )
        assert time.monotonic() - started < 3


# ---------------------------------------------------------------- 6. restore, unknown fields


async def test_restore_resends_the_confirmed_session_unknown_fields_included() -> None:
    confirmed = (
        '{"type":"session.updated","event_id":"event_2","session":{"type":"realtime",'
        '"id":"sess_1","instructions":"pirate","future_knob":{"level":3},'
        '"audio":{"input":{"turn_detection":{"type":"future_vad","eagerness":"max"}}}}}'
    )

    async def script(ws: web.WebSocketResponse, srv: RawServer) -> None:
        await ws.send_str(session_created())
        if len(srv.requests) == 1:
            await ws.send_str(confirmed)
            await ws.close(code=1012, message=b"restart")
        else:
            await asyncio.sleep(2)

    async with RawServer(script) as srv:
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=srv.base_url, api_key=KEY, model="m", reconnect=fast()
        )
        back = asyncio.Event()
        rt.on("reconnected", lambda info: back.set())
        await asyncio.wait_for(back.wait(), 10)
        await rt.close()
    import json

    restored = json.loads(srv.received[0])
    assert restored["type"] == "session.update"
    assert restored["session"]["future_knob"] == {"level": 3}
    assert restored["session"]["audio"]["input"]["turn_detection"]["type"] == "future_vad"
    assert restored["session"]["instructions"] == "pirate" and "id" not in restored["session"]


# ---------------------------------------------------------------- 7. secrets


async def test_close_reason_and_rotated_tokens_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(1, logger="openai_realtime_ws")
    tokens = iter(["sk-rotated-first-AAAA1111", "sk-rotated-second-BBBB2222"])

    async def provider() -> str:
        return next(tokens)

    async def script(ws: web.WebSocketResponse, srv: RawServer) -> None:
        await ws.send_str(session_created())
        if len(srv.requests) == 1:
            await ws.close(code=1012, message=b"restart")
        else:
            await ws.close(code=4001, message=b"revoked sk-rotated-first-AAAA1111 sk-rotated-second-BBBB2222")

    async with RawServer(script) as srv:
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=srv.base_url, api_key=provider, model="m", reconnect=fast()
        )
        with pytest.raises(ConnectionClosedError) as info:
            async for _ in rt:
                pass
    assert info.value.code == 4001 and "revoked" in info.value.reason
    texts = [str(info.value), info.value.reason, rt.close_reason, caplog.text]
    for secret in ("sk-rotated-first-AAAA1111", "sk-rotated-second-BBBB2222"):
        assert all(secret not in t for t in texts)
    assert "Authorization" in caplog.text or "authorization" in caplog.text  # picows did log it


# ---------------------------------------------------------------- 10. close flushes the queue


@pytest.mark.parametrize("close_timeout", [5.0, 0.0])
async def test_close_flushes_queued_sends_or_reports_them(
    close_timeout: float, caplog: pytest.LogCaptureFixture
) -> None:
    n = 6000  # 12 MB: more than the kernel's socket buffers take at once

    async def script(ws: web.WebSocketResponse, srv: RawServer) -> None:
        await ws.send_str(session_created())
        await wait_closed(ws, timeout=30)

    async with RawServer(script) as srv:
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=srv.base_url, api_key=KEY, model="m", close_timeout=close_timeout,
            send_queue_bytes=64 * 1024 * 1024,
        )
        for i in range(n):
            rt.send(user_text(f"item {i} " + "x" * 2000))
        queued = rt.outbound_bytes
        await rt.close()
        for _ in range(3000):  # the server's reader finishes after the close frame
            if srv.close_codes:
                break
            await asyncio.sleep(0.01)
    assert queued > 0  # the socket was write-paused: events were waiting
    received = len(srv.received)
    if close_timeout:
        assert received == n and rt.unsent == []
    else:  # no time to flush: the rest is reported, never dropped silently
        assert rt.unsent and "could not be sent within close_timeout" in caplog.text
        lost = n - received - len(rt.unsent)  # written to the socket, discarded by the abort
        if lost:
            assert "still in the socket's buffer were discarded" in caplog.text
            assert lost * 2000 <= 256 * 1024  # at most the transport's write buffer


# ---------------------------------------------------------------- low: redirects, dead peer


async def test_redirect_hops_follow_the_url_policy_and_url_reports_the_final_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    async def script(ws: web.WebSocketResponse, srv: RawServer) -> None:
        await ws.send_str(session_created())
        await asyncio.sleep(1)

    async with RawServer(script, status=302, location="/target/v1/realtime?model=m") as srv:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=srv.base_url, api_key=None, model="m")
        assert rt.url.endswith("/target/v1/realtime?model=m")
        await rt.close()
    async with RawServer(script, status=302, location="ws://203.0.113.9/v1/realtime") as srv:
        with pytest.raises(RealtimeConfigError, match="plain ws://"):
            await AsyncOpenAIRealtimeWS.create(base_url=srv.base_url, api_key=None, model="m")


async def test_dead_peer_ends_iteration_with_an_error() -> None:
    async def silent(ws: web.WebSocketResponse, srv: RawServer) -> None:
        await ws.send_str(session_created())
        await asyncio.sleep(3)  # never answers pings (autoping off)

    async with RawServer(silent, autoping=False) as srv:
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=srv.base_url, api_key=KEY, model="m", ping_interval=0.2, ping_timeout=0.2
        )
        with pytest.raises(ConnectionClosed) as info:
            async for _ in rt:
                pass
    assert isinstance(info.value, ConnectionClosedError) and info.value.code == 1001



async def test_api_error_copies_on_the_exception_are_redacted() -> None:
    async def script(ws: web.WebSocketResponse, srv: RawServer) -> None:
        await ws.send_str(session_created())
        await ws.send_str(
            '{"type":"error","event_id":"event_9","error":{"type":"invalid_request_error",'
            f'"code":"invalid_api_key","message":"Incorrect API key provided: {KEY}"}}}}'
        )
        await wait_closed(ws)

    async with RawServer(script) as srv:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=srv.base_url, api_key=KEY, model="m")
        errors: list[Any] = []
        rt.on("error", errors.append)
        await rt.wait_for("error", timeout=5)
        await rt.close()
    err = errors[0]
    assert KEY not in err.message and KEY not in str(err)
    assert KEY not in err.error.message and KEY not in err.event.error.message


# ---------------------------------------------------------------- 4. no writes into a dying socket


async def test_sends_after_the_peers_close_frame_are_queued_and_restored_not_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="openai_realtime_ws")
    n = 2000  # 4 MB: the socket is still busy writing when the server's close frame comes

    async def script(ws: web.WebSocketResponse, srv: RawServer) -> None:
        await ws.send_str(session_created())
        if len(srv.requests) == 1:
            while len(srv.received) < 50:
                await asyncio.sleep(0.001)
            await ws.close(code=1012, message=b"restart")
        else:
            await wait_closed(ws, timeout=30)

    async with RawServer(script) as srv:
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=srv.base_url, api_key=KEY, model="m", reconnect=fast(),
            send_queue_bytes=64 * 1024 * 1024,
        )
        back = asyncio.Event()
        rt.on("reconnected", lambda info: back.set())
        for i in range(n):
            rt.send(user_text(f"burst {i} " + "x" * 2000))
            if i % 20 == 0:
                await asyncio.sleep(0)
        await asyncio.wait_for(back.wait(), 10)
        await rt.drain()
        for _ in range(1000):  # the new connection reads what was flushed to it, in order
            if srv.received and f"burst {n - 1} " in srv.received[-1]:
                break
            await asyncio.sleep(0.01)
        await rt.close()
    # nothing was handed to the socket after the close frame came in ...
    assert "after WSMsgType.CLOSE has already been sent" not in caplog.text
    # ... so only what was already in the socket's buffers when the server closed can be missing
    got = {int(t.split("burst ")[1].split()[0]) for t in srv.received if "burst" in t}
    missing = sorted(set(range(n)) - got)
    assert got and max(got) == n - 1
    assert len(missing) * 2000 < 8 * 1024 * 1024, len(missing)


async def test_close_during_a_rollover_flushes_into_the_current_session() -> None:
    from openai_realtime_ws.emulator import EmulatorConfig

    calls = 0
    gate = asyncio.Event()

    async def provider() -> str:
        nonlocal calls
        calls += 1
        if calls > 1:
            await gate.wait()  # the rollover's new session is still being opened
        return KEY

    async with Emulator(config=EmulatorConfig(session_seconds=8)) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=emu.base_url, api_key=provider, model="m", reconnect=fast(rollover=7.5)
        )
        rolling = asyncio.Event()
        rt.on("reconnecting", lambda ctx: rolling.set())
        await asyncio.wait_for(rolling.wait(), 5)
        assert rt.reconnecting
        rt.send(user_text("said during the rollover"))  # queued: between two sockets
        await rt.close()
        record = emu.connections[0]
        await record.wait_closed()
    assert rt.unsent == [] and "conversation.item.create" in record.received_types()
    assert len(emu.connections) == 1


def test_picows_log_records_and_their_tracebacks_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    from openai_realtime_ws.aio.transport import RedactingLog
    from openai_realtime_ws.core.handshake import openai_plan

    caplog.set_level(1, logger="openai_realtime_ws")
    plan = openai_plan("wss://api.example/v1/realtime?model=m", KEY)
    PICOWS_LOG = RedactingLog(plan)  # one per socket, bound to its plan
    try:
        raise ValueError(f"bad frame near {KEY}")
    except ValueError:
        PICOWS_LOG.exception("listener failed")  # as picows reports a listener exception
    PICOWS_LOG.log(9, "Send upgrade request: %s", f"Authorization: Bearer {KEY}".encode())
    assert "listener failed" in caplog.text and "ValueError: bad frame near ***" in caplog.text
    assert KEY not in caplog.text
