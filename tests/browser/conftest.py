"""Browser tests: Debian's chromium, driven by Playwright (never `playwright install`), headless,
with a fake microphone fed from a WAV made by espeak-ng and sox. One browser per module."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from openai_realtime_ws.relay import RealtimeRelay

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BASE_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run",
             "--autoplay-policy=no-user-gesture-required"]

playwright_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():  # pragma: no cover - CI installs it (.ci/run APT_PACKAGES)
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)


@contextmanager
def launch(*extra_args: str) -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*BASE_ARGS, *extra_args])
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def relay_in_a_thread(relay: RealtimeRelay) -> Iterator[tuple[str, asyncio.AbstractEventLoop]]:
    """uvicorn serving ``relay`` on its own loop in a thread (so that the test can drain it)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    started = threading.Event()

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            started.set()

    server = Server(uvicorn.Config(relay, log_level="warning", lifespan="off"))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete,
                              args=(server.serve(sockets=[sock]),), daemon=True)
    thread.start()
    try:
        assert started.wait(10), "uvicorn did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", loop
    finally:
        server.should_exit = True
        thread.join(15)
        loop.close()
        sock.close()


@contextmanager
def relay_subprocess(base_url: str, *args: str, api_key: str = "sk-test",
                     port: int = 0) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``openai-realtime-ws relay`` (as ``python -m openai_realtime_ws.relay``) in front of an
    emulator; yields the console URL and the process (a test may kill it)."""
    env = {**os.environ, "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": api_key}
    proc = subprocess.Popen([sys.executable, "-m", "openai_realtime_ws.relay", "--port", str(port),
                             *args], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), url
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(20)
        if proc.stdout is not None:
            proc.stdout.close()


@contextmanager
def relay_process(base_url: str, *args: str, api_key: str = "sk-test",
                  port: int = 0) -> Iterator[str]:
    """Like :func:`relay_subprocess`; yields the console URL."""
    with relay_subprocess(base_url, *args, api_key=api_key, port=port) as (url, _proc):
        yield url


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """'one two three four five' spoken by espeak-ng, 48 kHz mono, 0.3 s of silence before and
    2.2 s after (Chromium loops the file: the second time it plays, it interrupts the reply)."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng and sox are needed to make the speech (apt-get install espeak-ng sox)")
    folder = tmp_path_factory.mktemp("speech")
    raw, wav = folder / "raw.wav", folder / "user.wav"
    subprocess.run(["espeak-ng", "-w", str(raw), "one two three four five"], check=True)
    subprocess.run(["sox", str(raw), "-r", "48000", "-c", "1", "-b", "16", str(wav),
                    "pad", "0.3", "2.2"], check=True)
    return wav
