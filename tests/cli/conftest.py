from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Iterator

import pytest

from .helpers import CLI, child_env


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    """`openai-realtime-ws emulator --api-key sk-right` in a subprocess; yields its base URL."""
    proc = subprocess.Popen([*CLI, "emulator", "--api-key", "sk-right", "--speed", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env())
    stdout = proc.stdout
    assert stdout is not None
    first: list[str] = []

    def read_first_line() -> None:
        first.append(stdout.readline())

    reader = threading.Thread(target=read_first_line, daemon=True)
    reader.start()
    reader.join(15)
    if not first or not first[0].startswith("http://127.0.0.1:"):
        proc.kill()
        _, err = proc.communicate(timeout=5)
        pytest.fail(f"the emulator did not print its base URL: {first!r} {err!r}")
    try:
        yield first[0].strip()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        assert code == 0, "the emulator command should exit 0 on SIGINT"
