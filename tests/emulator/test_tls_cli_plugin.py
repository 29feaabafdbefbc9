# TLS (generated CA, wss://), the `python -m openai_realtime_ws.emulator` entry point, and the
# pytest fixtures (async, TLS, threaded) with the `realtime_emulator` marker.
from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
from typing import Any, cast

import pytest
import websockets
from openai import AsyncOpenAI
from websockets.sync.client import connect as sync_connect

from openai_realtime_ws.emulator import Emulator, EmulatorConfig, EmulatorThread

from .helpers import connect, user_text


async def test_tls_fixture_serves_wss(realtime_emulator_tls: Emulator) -> None:
    emu = realtime_emulator_tls
    assert emu.base_url.startswith("https://127.0.0.1:") and emu.ws_url.startswith("wss://")
    assert emu.ca_file is not None and await asyncio.to_thread(os.path.exists, emu.ca_file)
    raw = await connect(emu)
    await raw.ws.close()
    # an untrusting client fails
    with pytest.raises(ssl.SSLCertVerificationError):
        await websockets.connect(f"{emu.ws_url}?model=gpt-realtime", ssl=ssl.create_default_context())
    # the cert is valid for localhost too, and trusted through ca_file alone
    ctx = ssl.create_default_context(cafile=emu.ca_file)
    async with websockets.connect(f"wss://localhost:{emu.port}/v1/realtime?model=gpt-realtime", ssl=ctx) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"


async def test_openai_python_over_tls(realtime_emulator_tls: Emulator) -> None:
    emu = realtime_emulator_tls
    client = AsyncOpenAI(api_key="sk-x", base_url=emu.base_url)
    options = cast(Any, {"ssl": emu.ssl_context})
    async with client.realtime.connect(model="gpt-realtime", websocket_connection_options=options) as conn:
        assert (await conn.recv()).type == "session.created"


async def test_ca_file_removed_on_exit() -> None:
    async with Emulator(tls=True) as emu:
        ca = emu.ca_file
        assert ca is not None and await asyncio.to_thread(os.path.exists, ca)
    assert not await asyncio.to_thread(os.path.exists, ca)


@pytest.mark.realtime_emulator(api_key="sk-marker", config=EmulatorConfig(speed=0))
async def test_marker_options(realtime_emulator: Emulator) -> None:
    assert realtime_emulator.config.api_key == "sk-marker" and realtime_emulator.config.speed == 0


def test_thread_fixture_for_blocking_code(realtime_emulator_thread: EmulatorThread) -> None:
    emu = realtime_emulator_thread
    with sync_connect(f"{emu.ws_url}?model=gpt-realtime") as ws:
        assert json.loads(ws.recv())["type"] == "session.created"
        ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}}))
        ws.send(json.dumps(user_text("sync hello")))
        ws.send(json.dumps({"type": "response.create"}))
        text = ""
        while True:
            ev = json.loads(ws.recv(timeout=5))
            if ev["type"] == "response.output_text.delta":
                text += ev["delta"]
            if ev["type"] == "response.done":
                break
    assert text == "You said: sync hello"
    assert emu.connections[0].received_types() == ["session.update", "conversation.item.create", "response.create"]


def test_thread_restart_keeps_port() -> None:
    with EmulatorThread(tls=True) as emu:
        port = emu.port
        assert emu.ssl_context is not None
        emu.stop()
        emu.start()
        assert emu.port == port
        with sync_connect(f"{emu.ws_url}?model=gpt-realtime", ssl=emu.ssl_context) as ws:
            assert json.loads(ws.recv())["type"] == "session.created"


async def test_a_stopped_emulator_refuses_connections_but_holds_its_port() -> None:
    # between stop() and start() no other socket on the machine may take the port (an outgoing
    # connection's ephemeral port did, under load: start() then failed with EADDRINUSE)
    async with Emulator() as emu:
        port = emu.port
        await emu.stop()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)
        other = socket.socket()
        with pytest.raises(OSError) as info:
            other.bind(("127.0.0.1", port))  # as connect() would pick it, without SO_REUSEADDR
        other.close()
        assert info.value.errno == errno.EADDRINUSE
        await emu.start()
        assert emu.port == port
        raw = await connect(emu)
        await raw.ws.close()


async def test_cli_prints_base_url_first_and_stops_on_sigterm() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "openai_realtime_ws.emulator", "--port", "0", "--speed", "0", "--api-key", "sk-cli",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
        assert line.startswith("http://127.0.0.1:") and line.endswith("/v1")
        port = int(line.rsplit(":", 1)[1].split("/")[0])
        async with websockets.connect(f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime",
                                      additional_headers={"Authorization": "Bearer sk-cli"}) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = await asyncio.wait_for(proc.wait(), 10)
    assert rc == 0
