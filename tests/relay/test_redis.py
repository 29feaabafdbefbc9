"""Per-principal limits shared by two relay workers (separate uvicorn processes, started with the
real CLI) through a real redis-server started here on a free port."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from openai_realtime_ws.emulator import Emulator, EmulatorConfig
from openai_realtime_ws.relay import Limits, RealtimeRelay, RedisStore

from .helpers import next_of, send, serve, upstream_for, ws_url

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="redis-server is not installed (apt-get install redis-server)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RedisServer:
    url: str
    proc: subprocess.Popen[str]


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    port = _free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--loglevel", "notice"],
        stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until it says it is ready
        if "Ready to accept connections" in line:
            break
    else:
        pytest.fail("redis-server did not start")
    try:
        yield RedisServer(f"redis://127.0.0.1:{port}/0", proc)
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@asynccontextmanager
async def relay_worker(emu: Emulator, *args: str) -> AsyncIterator[str]:
    env = {**os.environ, "OPENAI_BASE_URL": emu.base_url, "OPENAI_API_KEY": "sk-test"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "openai_realtime_ws.relay", "--port", "0", *args,
        stdout=asyncio.subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
        assert line.startswith("http://"), line
        yield line.replace("http://", "ws://") + "realtime"
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)


AUDIO_20MS = base64.b64encode(bytes(960)).decode()


@pytest.mark.timeout(60)
@pytest.mark.realtime_emulator(config=EmulatorConfig(speed=0))
async def test_two_workers_share_limits_in_redis(realtime_emulator: Emulator,
                                                 redis_url: str) -> None:
    options = ("--redis", redis_url, "--max-sessions", "1", "--audio-seconds", "1")
    async with relay_worker(realtime_emulator, *options) as a, \
            relay_worker(realtime_emulator, *options) as b:
        # one session at a time per principal, whichever worker it lands on
        async with connect(a) as ws_a:
            await next_of(ws_a, "session.created")
            with pytest.raises(InvalidStatus) as refused:
                async with connect(b):
                    pass
            assert refused.value.response.status_code == 429
            # 600 ms of audio through worker A, committed (usage is in Redis before the commit
            # goes upstream, so it is there once the browser sees `committed`)
            for _ in range(30):
                await send(ws_a, {"type": "input_audio_buffer.append", "audio": AUDIO_20MS})
            await send(ws_a, {"type": "input_audio_buffer.commit"})
            await next_of(ws_a, "input_audio_buffer.committed")
        await realtime_emulator.connections[0].wait_closed()
        # worker B now accepts the principal, and knows 600 of its 1000 ms are used
        async with connect(b) as ws_b:
            await next_of(ws_b, "session.created")
            for _ in range(30):
                await send(ws_b, {"type": "input_audio_buffer.append", "audio": AUDIO_20MS})
            error = await next_of(ws_b, "error")
            assert error["error"]["code"] == "relay_audio_limit"
            await send(ws_b, {"type": "input_audio_buffer.commit"})
            committed = await next_of(ws_b, "input_audio_buffer.committed", "error")
            assert committed["type"] == "input_audio_buffer.committed"
    appended = [c.received_types().count("input_audio_buffer.append")
                for c in realtime_emulator.connections]
    assert appended == [30, 20]  # 1000 ms in all, across the two workers


@pytest.mark.realtime_emulator(config=EmulatorConfig(speed=0))
async def test_store_outage_fails_closed(realtime_emulator: Emulator,
                                         redis_server: RedisServer) -> None:
    relay = RealtimeRelay(upstream=upstream_for(realtime_emulator),
                          store=RedisStore(redis_server.url),
                          limits=Limits(max_sessions=3, events_per_second=100))
    async with serve(relay) as base:
        async with connect(ws_url(base)) as ws:
            await next_of(ws, "session.created")
            redis_server.proc.terminate()
            redis_server.proc.wait(10)
            await send(ws, {"type": "input_audio_buffer.clear"})  # syncs usage: Redis is gone
            error = await next_of(ws, "error")
            assert error["error"]["code"] == "relay_internal_error"
            with pytest.raises(ConnectionClosed):
                await next_of(ws, "never")
            assert ws.close_code == 1011
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url(base)):
                pass
        assert refused.value.response.status_code == 503


@pytest.mark.timeout(60)
@pytest.mark.realtime_emulator(config=EmulatorConfig(speed=0))
async def test_two_workers_share_the_event_rate(realtime_emulator: Emulator,
                                                redis_url: str) -> None:
    options = ("--redis", redis_url, "--events-per-second", "4")
    async with relay_worker(realtime_emulator, *options) as a, \
            relay_worker(realtime_emulator, *options) as b:
        async with connect(a) as ws_a, connect(b) as ws_b:
            await next_of(ws_a, "session.created")
            await next_of(ws_b, "session.created")
            for attempt in range(3):  # a run that straddles a second is run again ...
                if attempt:  # ... in a fresh one-second window (the limit's own clock)
                    await asyncio.sleep(1 - time.time() % 1)
                start = time.time()
                answers = []
                for ws in (ws_a, ws_b, ws_a, ws_b, ws_a):
                    await send(ws, {"type": "input_audio_buffer.clear"})
                    answer = await next_of(ws, "input_audio_buffer.cleared", "error")
                    answers.append(answer["error"]["code"] if answer["type"] == "error"
                                   else "cleared")
                if int(start) == int(time.time()):
                    break
            # 4 events per second for the principal, whichever worker carries them
            assert answers == ["cleared"] * 4 + ["relay_rate_limited"]
