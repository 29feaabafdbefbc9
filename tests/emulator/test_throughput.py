# The emulator's burst paths (Emulator.inject of pre-encoded frames, and a responder reply at
# speed 0) against a picows client that only counts frames, in this process: the rate is taken
# over this process's CPU time (server + counting client), so other load on the machine does not
# make it flake. The floor is deliberately low, to catch a gross regression only; the real
# numbers come from `python -m tests.emulator.bench_emit` (server in its own process). The other
# tests pin what the fast paths must keep: canonical bytes, faults firing at the exact event
# inside a burst, observers seeing every event.
from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import msgspec
import picows
import pytest

from openai_realtime_ws.emulator import (
    CloseWith,
    Emulator,
    EmulatorConfig,
    Reply,
    Stall,
    TurnContext,
)
from openai_realtime_ws.emulator import _wire as emulator_wire

N = 100_000
FLOOR = 50_000  # events per CPU second of this process (server and client together)
AUDIO = "response.output_audio.delta"
DELTA: dict[str, Any] = {"type": AUDIO, "event_id": "event_Throughput0000000000", "response_id": "resp_x",
                         "item_id": "item_x", "output_index": 0, "content_index": 0,
                         "delta": base64.b64encode(bytes(960)).decode()}
DELTA_FRAME = msgspec.json.encode(DELTA)


class Flood:
    def __init__(self, chunks: int = N) -> None:
        self.chunks = chunks

    def respond(self, turn: TurnContext) -> Reply:
        return Reply(text="a" * (self.chunks * 20 // 60))  # 60 ms per char -> `chunks` chunks of 20 ms


class Counter(picows.WSListener):
    """Counts text frames until `target` or a frame starting with `stop`; keeps them if asked."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.target = 0
        self.stop: bytes | None = None
        self.keep: list[bytes] | None = None
        self.done: asyncio.Future[None] | None = None
        self.close_code: picows.WSCloseCode | None = None
        self.disconnected = asyncio.get_running_loop().create_future()

    def arm(self, *, target: int = 0, stop: bytes | None = None, keep: bool = False) -> asyncio.Future[None]:
        self.count, self.target, self.stop = 0, target, stop
        self.keep = [] if keep else None
        self.done = asyncio.get_running_loop().create_future()
        return self.done

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type is picows.WSMsgType.CLOSE:
            self.close_code = frame.get_close_code()
            transport.send_close(frame.get_close_code())
            transport.disconnect()
        if frame.msg_type is not picows.WSMsgType.TEXT:
            return
        self.count += 1
        stop = self.stop
        if self.keep is not None or stop is not None:
            data = frame.get_payload_as_bytes()
            if self.keep is not None:
                self.keep.append(data)
            if stop is not None and data.startswith(stop) and self.done and not self.done.done():
                self.done.set_result(None)
        if self.count == self.target and self.done and not self.done.done():
            self.done.set_result(None)

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        if not self.disconnected.done():
            self.disconnected.set_result(None)


async def connect(emu: Emulator) -> tuple[picows.WSTransport, Counter]:
    """Connected once session.created arrived."""
    listener = Counter()
    first = listener.arm(target=1)  # armed before connecting: session.created may come with the upgrade
    transport, _ = await picows.ws_connect(lambda: listener, f"{emu.ws_url}?model=gpt-realtime",
                                           max_frame_size=64 * 1024 * 1024)
    await first
    return transport, listener


def send(transport: picows.WSTransport, event: dict[str, Any]) -> None:
    transport.send(picows.WSMsgType.TEXT, msgspec.json.encode(event))


@pytest.mark.timeout(120)
async def test_flood_responder_and_inject() -> None:
    config = EmulatorConfig(speed=0, audio_chunk_ms=20, record_received=False)
    async with Emulator(responder=Flood(), config=config) as emu:
        transport, counter = await connect(emu)
        conn = emu.connections[0]

        done = counter.arm(stop=b'{"type":"rate_limits.updated"')
        t0, cpu0 = time.perf_counter(), time.process_time()
        send(transport, {"type": "response.create"})
        await done
        wall1, cpu1 = time.perf_counter() - t0, time.process_time() - cpu0
        assert counter.count == N + 11  # created, item/part added (3), done events (7)

        done = counter.arm(target=N)
        t0, cpu0 = time.perf_counter(), time.process_time()
        sent = await emu.inject(conn, [DELTA_FRAME] * N)  # honours flow control while we count
        await done
        wall2, cpu2 = time.perf_counter() - t0, time.process_time() - cpu0
        assert sent == counter.count == N
        transport.disconnect()
    print(f"\nin-process (server + counting client on one core): responder {N / wall1:,.0f} events/s "
          f"({N / cpu1:,.0f}/CPU s), inject {N / wall2:,.0f} events/s ({N / cpu2:,.0f}/CPU s)")
    assert N / cpu1 > FLOOR and N / cpu2 > FLOOR


@pytest.mark.parametrize("observed", [False, True])
async def test_reply_frames_are_canonical_json(observed: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The audio-delta template and msgspec write the same bytes (with and without observers)."""
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(emulator_wire, "_frame_observers", [])  # the fidelity observer off: fast path
    config = EmulatorConfig(speed=0, audio_chunk_ms=20, record_received=False,
                            frame_observer=seen.append if observed else None)
    async with Emulator(config=config) as emu:
        transport, counter = await connect(emu)
        send(transport, {"type": "conversation.item.create", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "canonical bytes"}]}})
        await counter.arm(stop=b'{"type":"conversation.item.done"')
        done = counter.arm(stop=b'{"type":"rate_limits.updated"', keep=True)
        send(transport, {"type": "response.create"})
        await done
        transport.disconnect()
    frames = counter.keep
    assert frames is not None
    events = [msgspec.json.decode(f) for f in frames]
    assert [msgspec.json.encode(e) for e in events] == frames
    deltas = [e for e in events if e["type"] == AUDIO]
    assert len(deltas) > 50 and len({e["event_id"] for e in deltas}) == len(deltas)
    if observed:
        assert seen[-len(events):] == events  # the observer saw exactly what was written


async def test_inject_raw_frames_and_dicts_keep_order(realtime_emulator: Emulator) -> None:
    transport, counter = await connect(realtime_emulator)
    conn = realtime_emulator.connections[0]
    frames: list[Any] = [b'{"type":"x.raw","n":0}', {"type": "input_audio_buffer.cleared"}, '{"type":"x.raw","n":2}',
                         dict(DELTA), DELTA_FRAME.decode()]
    done = counter.arm(target=5, keep=True)
    sent = await realtime_emulator.inject(conn, frames)
    await done
    transport.disconnect()
    got = [msgspec.json.decode(f) for f in counter.keep or []]
    assert sent == 5 and [g["type"] for g in got] == ["x.raw", "input_audio_buffer.cleared", "x.raw", AUDIO, AUDIO]
    assert got[1]["event_id"].startswith("event_") and got[3] == got[4] == DELTA
    assert conn.sent_count == 6  # session.created + 5


@pytest.mark.parametrize("after", [1, 700, 4_999])
async def test_fault_fires_at_the_exact_frame_of_an_inject_burst(realtime_emulator: Emulator, after: int) -> None:
    _, counter = await connect(realtime_emulator)
    conn = realtime_emulator.connections[0]
    conn.inject_fault(CloseWith(1011, after=after))  # its close frame follows the frames before it
    counter.arm()
    sent = await realtime_emulator.inject(conn, [DELTA_FRAME] * 5_000)
    await asyncio.wait_for(counter.disconnected, 5)
    assert sent == counter.count == after and counter.close_code is picows.WSCloseCode.INTERNAL_ERROR


async def test_fault_fires_at_the_exact_audio_delta_of_a_speed0_reply(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emulator_wire, "_frame_observers", [])
    config = EmulatorConfig(speed=0, audio_chunk_ms=20, record_received=False)
    async with Emulator(responder=Flood(3_000), config=config) as emu:
        transport, counter = await connect(emu)
        emu.connections[0].inject_fault(Stall(after=2_345, after_type=AUDIO))
        counter.arm(keep=True)
        send(transport, {"type": "response.create"})
        await asyncio.sleep(0.5)
        transport.disconnect()
    types = [msgspec.json.decode(f)["type"] for f in counter.keep or []]
    assert types.count(AUDIO) == 2_345 and types[-1] == AUDIO


async def test_observer_arming_a_fault_counts_that_very_event(monkeypatch: pytest.MonkeyPatch) -> None:
    """An observer that arms a fault mid-burst: the fault counts the event being observed."""
    monkeypatch.setattr(emulator_wire, "_frame_observers", [])
    audio_seen = 0
    emu = Emulator(responder=Flood(3_000), config=EmulatorConfig(speed=0, audio_chunk_ms=20, record_received=False))

    def observe(event: dict[str, Any]) -> None:
        nonlocal audio_seen
        if event["type"] == AUDIO:
            audio_seen += 1
            if audio_seen == 1_000:
                emu.connections[0].inject_fault(CloseWith(1011, after=1))

    emu.config.frame_observer = observe
    async with emu:
        transport, counter = await connect(emu)
        counter.arm(keep=True)
        send(transport, {"type": "response.create"})
        await asyncio.wait_for(counter.disconnected, 5)
    types = [msgspec.json.decode(f)["type"] for f in counter.keep or []]
    assert types.count(AUDIO) == 1_000 and types[-1] == AUDIO and counter.close_code is picows.WSCloseCode.INTERNAL_ERROR
