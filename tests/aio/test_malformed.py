"""Frames a server should never send: the client reports a payload-free error and carries on."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp import web

from openai_realtime_ws import (
    AsyncOpenAIRealtimeWS,
    MalformedFrameError,
    OpenAIRealtimeError,
    UnknownServerEvent,
)
from openai_realtime_ws.types import ResponseOutputTextDeltaEvent, SessionCreatedEvent

from .rawserver import RawServer, session_created, wait_closed

SECRET_PAYLOAD = "payload-secret-4242"


def text_delta(i: int) -> str:
    return (
        '{"type":"response.output_text.delta","event_id":"event_%021d","response_id":"resp_1",'
        '"item_id":"item_1","output_index":0,"content_index":0,"delta":"d%d"}' % (i, i)
    )


async def malformed_script(ws: web.WebSocketResponse, srv: RawServer) -> None:
    await ws.send_str(session_created())
    await ws.send_str("not json " + SECRET_PAYLOAD)
    await ws.send_str('["array", "' + SECRET_PAYLOAD + '"]')
    await ws.send_str('{"no_type": "' + SECRET_PAYLOAD + '"}')
    await ws.send_str('{"type": 5, "x": "' + SECRET_PAYLOAD + '"}')
    await ws.send_bytes(b'{"type":"binary"}')
    # invalid UTF-8 inside a text frame: aiohttp would refuse to encode it, so write raw bytes
    await ws._writer.send_frame(b'{"type":"\xff\xfe' + SECRET_PAYLOAD.encode() + b'"}', 0x1)  # type: ignore[union-attr]
    await ws.send_str('{"type":"brand.new.event","event_id":"event_x","extra":1}')
    await ws.send_str(text_delta(1))
    await wait_closed(ws)


async def test_malformed_frames_are_reported_without_payload(caplog: pytest.LogCaptureFixture) -> None:
    async with RawServer(malformed_script) as srv:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=srv.base_url, api_key="sk-x", model="m")
        errors: list[OpenAIRealtimeError] = []
        rt.on("error", errors.append)
        events = []
        async for event in rt.all_events():  # (plain iteration yields the known events only)
            events.append(event)
            if isinstance(event, ResponseOutputTextDeltaEvent):
                break
        await rt.close()
    assert isinstance(events[0], SessionCreatedEvent)
    unknown = [e for e in events if isinstance(e, UnknownServerEvent)]
    assert [u.type for u in unknown] == ["brand.new.event"]
    assert unknown[0].raw["extra"] == 1 and unknown[0].extra == 1
    assert isinstance(events[-1], ResponseOutputTextDeltaEvent) and events[-1].delta == "d1"
    assert len(errors) == 6, [e.message for e in errors]
    assert all(isinstance(e, MalformedFrameError) for e in errors)
    for e in errors:
        assert SECRET_PAYLOAD not in str(e)
        assert e.message.startswith("could not parse websocket event")
    kinds = " | ".join(e.message for e in errors)
    assert "not valid JSON" in kinds and "an array" in kinds and "missing" in kinds
    assert "binary" in kinds
    assert SECRET_PAYLOAD not in caplog.text


async def test_unhandled_malformed_frame_raises_from_iteration() -> None:
    async with RawServer(malformed_script) as srv:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=srv.base_url, api_key="sk-x", model="m")
        raised: list[OpenAIRealtimeError] = []
        seen = []
        every = rt.all_events()
        while True:
            try:
                event = await every.__anext__()
            except MalformedFrameError as exc:
                raised.append(exc)
                continue
            seen.append(event.type)
            if event.type == "response.output_text.delta":
                break
        await rt.close()
    assert len(raised) == 6
    assert seen == ["session.created", "brand.new.event", "response.output_text.delta"]


async def test_plain_iteration_yields_known_events_unknown_ones_have_their_own_path() -> None:
    # issue 20 part 3: `async for event in rt` is typed over the known events (narrowing needs
    # no guard); an unknown type, or a known one off the spec, reaches "event" handlers, its
    # own handlers and wait_for, and all_events(), never plain iteration
    async def script(ws: web.WebSocketResponse, srv: RawServer) -> None:
        await ws.send_str(session_created())
        await ws.send_str('{"type":"brand.new.event","event_id":"event_x","extra":1}')
        await ws.send_str(
            '{"type":"response.output_text.delta","event_id":"event_1","response_id":"r",'
            '"item_id":"i","output_index":0,"content_index":0,"delta":12345}'
        )
        await ws.send_str(text_delta(2))
        await wait_closed(ws)

    async with RawServer(script) as srv:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=srv.base_url, api_key="sk-x", model="m")
        caught: list[str] = []
        rt.on("event", lambda e: caught.append(type(e).__name__ + ":" + e.type))
        brand_new: list[UnknownServerEvent] = []
        rt.on("brand.new.event", brand_new.append)
        seen = []
        async for event in rt:
            seen.append(event)
            if event.type == "response.output_text.delta":
                break
        waited = await rt.wait_for("brand.new.event", timeout=5)
        await rt.close()
    assert [type(e) for e in seen] == [SessionCreatedEvent, ResponseOutputTextDeltaEvent]
    assert caught == [
        "SessionCreatedEvent:session.created", "UnknownServerEvent:brand.new.event",
        "UnknownServerEvent:response.output_text.delta",
        "ResponseOutputTextDeltaEvent:response.output_text.delta",
    ]
    assert brand_new[0].extra == 1 and waited is brand_new[0]


async def test_handler_exception_reaches_error_and_dispatch_continues() -> None:
    async def script(ws: web.WebSocketResponse, srv: RawServer) -> None:
        await ws.send_str(session_created())
        for i in range(3):
            await ws.send_str(text_delta(i))
        await wait_closed(ws)

    async with RawServer(script) as srv:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=srv.base_url, api_key="sk-x", model="m")
        got: list[str] = []
        errors: list[OpenAIRealtimeError] = []

        @rt.on("response.output_text.delta")
        def handler(event: ResponseOutputTextDeltaEvent) -> None:
            got.append(event.delta)
            if event.delta == "d1":
                raise ValueError("boom")

        rt.on("error", errors.append)
        done = asyncio.Event()
        rt.on("response.output_text.delta", lambda e: done.set() if e.delta == "d2" else None)
        await asyncio.wait_for(done.wait(), 5)
        await rt.close()
    assert got == ["d0", "d1", "d2"]
    assert len(errors) == 1 and "ValueError: boom" in errors[0].message
    assert isinstance(errors[0].__cause__, ValueError)


async def test_slow_coroutine_handlers_keep_order_and_bound_memory() -> None:
    n = 12000  # ~2.3 MB of frames: without back-pressure the backlog would hold them all

    async def script(ws: web.WebSocketResponse, srv: RawServer) -> None:
        await ws.send_str(session_created())
        for i in range(n):
            await ws.send_str(text_delta(i))
        await wait_closed(ws, timeout=30)

    async with RawServer(script) as srv:
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=srv.base_url, api_key="sk-x", model="m", max_queue=32
        )
        order: list[int] = []
        peak = 0
        pauses: set[str] = set()

        async def slow(event: ResponseOutputTextDeltaEvent) -> None:
            nonlocal peak
            peak = max(peak, rt.protocol.backlog_size)
            pauses.update(rt.protocol.paused_for)
            if len(order) % 2000 == 0:
                await asyncio.sleep(0.01)
            else:
                await asyncio.sleep(0)
            order.append(int(event.delta[1:]))

        rt.on("response.output_text.delta", slow)
        done = asyncio.Event()
        rt.on("response.output_text.delta", lambda e: done.set() if e.delta == f"d{n-1}" else None)
        await asyncio.wait_for(done.wait(), 30)
        await rt.close()
    assert order == list(range(n))
    # the backlog is bounded by max_queue plus the frames of the one socket read that was
    # being parsed when reading paused (picows grows its read buffer under a flood)
    # (how much that is depends on the kernel's socket buffers: the check is that the backlog
    # stayed well below the flood, and that reading was paused to get there)
    assert pauses == {"dispatch"}
    assert peak < n // 2, peak


async def test_unknown_event_type_reaches_catch_all_handler() -> None:
    async def script(ws: web.WebSocketResponse, srv: RawServer) -> None:
        await ws.send_str(session_created())
        await ws.send_str('{"type":"future.thing","event_id":"event_f","value":[1,2]}')
        await wait_closed(ws)

    async with RawServer(script) as srv:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=srv.base_url, api_key="sk-x", model="m")
        seen: list[object] = []
        rt.on("event", seen.append)
        specific: list[object] = []
        rt.on("future.thing", specific.append)
        await rt.wait_for("future.thing")
        await rt.close()
    assert [getattr(e, "type", None) for e in seen] == ["session.created", "future.thing"]
    assert isinstance(specific[0], UnknownServerEvent) and specific[0].raw["value"] == [1, 2]


async def test_schema_drift_on_known_type_is_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    async def script(ws: web.WebSocketResponse, srv: RawServer) -> None:
        await ws.send_str(session_created())
        # delta must be a string per the spec; a drifting server sends a number
        await ws.send_str(
            '{"type":"response.output_text.delta","event_id":"event_1","response_id":"r",'
            '"item_id":"i","output_index":0,"content_index":0,"delta":12345}'
        )
        await ws.send_str(text_delta(7))
        await wait_closed(ws)

    caplog.set_level(logging.DEBUG)
    async with RawServer(script) as srv:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=srv.base_url, api_key="sk-x", model="m")
        events = []
        async for e in rt.all_events():
            events.append(e)
            if len(events) == 3:
                break
        await rt.close()
    drift = events[1]
    assert isinstance(drift, UnknownServerEvent)
    assert drift.type == "response.output_text.delta"
    assert drift.decode_error is not None and "delta" in drift.decode_error
    assert isinstance(events[2], ResponseOutputTextDeltaEvent)


async def test_frame_handlers_get_exact_text_in_order_with_events() -> None:
    async with RawServer(malformed_script) as srv:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=srv.base_url, api_key="sk-x", model="m")
        order: list[str] = []
        rt.on("frame", lambda text: order.append("frame:" + text[:20]))
        rt.on("event", lambda e: order.append("event:" + e.type))
        rt.on("error", lambda e: order.append("error"))
        await rt.wait_for("response.output_text.delta", timeout=5)
        await rt.close()
    assert order[0].startswith('frame:{"type":"session.cre')
    assert order[1] == "event:session.created"
    assert order[2] == "frame:" + ("not json " + SECRET_PAYLOAD)[:20]  # malformed ones too
    assert order[3] == "error"
    assert order[-2].startswith('frame:{"type":"response.ou') and order[-1] == "event:response.output_text.delta"
