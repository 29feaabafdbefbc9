"""openai_realtime_ws.scale: sessions spread over 2 worker processes (one event loop each, pinned
to its own CPU) against the real emulator over loopback; the Pacer's one-timer send loop."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Callable

import pytest

from openai_realtime_ws import AsyncOpenAIRealtimeWS, RealtimeConfigError
from openai_realtime_ws.emulator import EmulatorThread
from openai_realtime_ws.scale import Pacer, run_in_processes, shard

CALLS = [f"call-{i}" for i in range(6)]


async def call_worker(index: int, count: int) -> list[tuple[str, int, list[int], str]]:
    """Runs in a child process: answers this worker's share of CALLS, one session each."""
    results = []
    for call in shard(CALLS, index, count):
        async with await AsyncOpenAIRealtimeWS.create(model="gpt-realtime") as rt:  # env: URL, key
            deltas: list[str] = []
            collect = deltas.append
            rt.on("response.output_text.delta", lambda e: collect(e.delta))  # noqa: B023
            rt.send({"type": "conversation.item.create", "item": {
                "type": "message", "role": "user",
                "content": [{"type": "input_text", "text": f"This is {call}."}]}})
            rt.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
            await rt.wait_for("response.done", timeout=20)
            results.append((call, os.getpid(), sorted(os.sched_getaffinity(0)), "".join(deltas)))
    return results


async def failing_worker(index: int, count: int) -> int:
    if index == 1:
        raise RuntimeError("worker 1 failed")
    return index


def test_two_worker_processes_share_the_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    with EmulatorThread() as emu:
        monkeypatch.setenv("OPENAI_BASE_URL", emu.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-scale-test-0000000000")
        per_worker = run_in_processes(call_worker, processes=2)
    assert [len(r) for r in per_worker] == [3, 3]
    rows = [row for r in per_worker for row in r]
    assert sorted(call for call, *_ in rows) == sorted(CALLS)  # each call once
    pids = {pid for r in per_worker for _, pid, _, _ in r[:1]}
    assert len(pids) == 2 and os.getpid() not in pids  # two processes, not this one
    assert all(text for *_, text in rows)  # every session got its answer
    if len(os.sched_getaffinity(0)) >= 2:  # pinned: one CPU each, not the same one
        cpus = [r[0][2] for r in per_worker]
        assert all(len(c) == 1 for c in cpus) and cpus[0] != cpus[1]


def test_a_failing_worker_raises_here() -> None:
    with pytest.raises(RuntimeError, match="worker 1 failed"):
        run_in_processes(failing_worker, processes=2, pin=False)


def test_shard_and_bad_arguments() -> None:
    items = list(range(10))
    parts = [shard(items, i, 3) for i in range(3)]
    assert sorted(x for p in parts for x in p) == items and [len(p) for p in parts] == [4, 3, 3]
    for index, count in ((3, 3), (-1, 2), (0, 0)):
        with pytest.raises(RealtimeConfigError, match="index"):
            shard(items, index, count)
    with pytest.raises(RealtimeConfigError, match="`processes`"):
        run_in_processes(failing_worker, processes=0)


async def test_pacer_calls_each_callback_once_per_period_spread_over_it() -> None:
    calls: dict[int, list[float]] = {k: [] for k in range(8)}
    enough = asyncio.Event()

    def make(k: int) -> Callable[[float], None]:
        def cb(due: float) -> None:
            calls[k].append(due)
            if all(len(v) >= 5 for v in calls.values()):
                enough.set()
        return cb

    with Pacer(period=0.02, slots=4) as pacer:
        removers = [pacer.add(make(k)) for k in range(8)]
        assert len(pacer) == 8
        await asyncio.wait_for(enough.wait(), 10)
        removers[0]()
        assert len(pacer) == 7
    for k, dues in calls.items():
        gaps = [round(b - a, 6) for a, b in itertools.pairwise(dues)]
        assert all(abs(g - 0.02) < 1e-6 for g in gaps), (k, gaps)  # one call per period
    # callbacks k and k+4 share slot k % 4, offset k * 5 ms within the period
    first = {k: dues[0] for k, dues in calls.items()}
    assert all(abs((first[k] - first[0]) - 0.005 * k) < 1e-6 for k in range(4))
    assert first[4] == first[0]


async def test_pacer_removes_a_failing_callback_and_stops_on_close(caplog: pytest.LogCaptureFixture) -> None:
    ok: list[float] = []
    three = asyncio.Event()

    def good(due: float) -> None:
        ok.append(due)
        if len(ok) == 3:
            three.set()

    def bad(due: float) -> None:
        raise RuntimeError("session closed")

    pacer = Pacer(period=0.01, slots=1)
    pacer.add(bad)
    pacer.add(good)
    await asyncio.wait_for(three.wait(), 10)
    assert len(pacer) == 1 and "a callback raised" in caplog.text
    pacer.close()
    assert len(pacer) == 0
    with pytest.raises(RealtimeConfigError, match="period > 0"):
        Pacer(period=0)
