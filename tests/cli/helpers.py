"""Running the CLI as a user would: `run_cli` calls its entry point, `main(argv)`, in this process
with stdin, stdout, stderr and the environment swapped (fast: no interpreter start per test);
`run_cli_subprocess` starts a real process, for the smoke tests that need one (the installed
entry point, signals, a terminal)."""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import re
import subprocess
import sys
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from openai_realtime_ws.emulator.core.audio import ALPHABET, BASE_HZ, CHAR_MS, STEP_HZ

CLI = [sys.executable, "-m", "openai_realtime_ws"]

#: The figures line printed on stderr after each response.
FIGURES = re.compile(
    r"\[(?:(?P<status>[a-z_]+)(?: \([a-z_]+\))? · )?first text (?P<first_text>\d+ ms|n/a) · "
    r"first audio (?P<first_audio>\d+ ms|n/a) · audio (?P<seconds>\d+\.\d\d) s · "
    r"tokens (?P<tokens>\d+|n/a)\]"
)
EMULATOR_NOTICE = re.compile(
    r"^using the local emulator at http://127\.0\.0\.1:\d+/v1 "
    r"\(set OPENAI_API_KEY to talk to the real API\)$", re.M
)

_CREDENTIAL_VARS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY",
                    "AZURE_OPENAI_ENDPOINT")


def child_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any credential or endpoint, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in _CREDENTIAL_VARS}
    env.update(extra)
    return env


def run_cli_subprocess(*args: str, stdin: str | None = None, env: dict[str, str] | None = None,
                       timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """``python -m openai_realtime_ws ARGS`` in a child process."""
    return subprocess.run([*CLI, *args], input=stdin, capture_output=True, text=True,
                          env=env if env is not None else child_env(), timeout=timeout,
                          check=False)


@dataclass
class Result:
    """What a run left: exit status and the two output streams."""

    returncode: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _logging_restored() -> Iterator[None]:
    """The CLI configures the library's logger (quiet unless --debug): undo it afterwards, so the
    suite's own log handlers (the secret scan) keep seeing every record."""
    loggers = [logging.getLogger(n) for n in ("openai_realtime_ws", "asyncio")]
    loggers.append(logging.getLogger())
    saved = [(lg, lg.handlers[:], lg.propagate, lg.level) for lg in loggers]
    try:
        yield
    finally:
        for lg, handlers, propagate, level in saved:
            lg.handlers[:], lg.propagate, lg.level = handlers, propagate, level


def run_cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Result:
    """``openai-realtime-ws ARGS`` run in this process through its entry point, ``main(argv)``:
    the same parsing, exit-code policy and output as the command (argparse's ``SystemExit``
    becomes the exit status)."""
    from openai_realtime_ws.cli import _target, main

    out, err = io.StringIO(), io.StringIO()
    streams = (sys.stdin, sys.stdout, sys.stderr)
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin or ""), out, err
    try:
        with _environment(env if env is not None else child_env()), _logging_restored():
            try:
                code = main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    finally:
        sys.stdin, sys.stdout, sys.stderr = streams
        _target._SECRETS.clear()
    return Result(code, out.getvalue(), err.getvalue())


def write_tone_code_wav(path: Path, text: str, *, rate: int, channels: int,
                        sample_width: int = 2) -> None:
    """``text`` spoken in the emulator's tone code (one sine per character), at any rate and
    channel count, with 200 ms of silence around it; the emulator transcribes it back."""
    per_char = rate * CHAR_MS // 1000
    values: list[float] = [0.0] * (rate // 5)
    for ch in text:
        if ch == " ":
            values += [0.0] * per_char
            continue
        freq = BASE_HZ + STEP_HZ * ALPHABET.index(ch)
        values += [0.3 * math.sin(2 * math.pi * freq * i / rate) for i in range(per_char)]
    values += [0.0] * (rate // 5)
    frames = bytearray()
    for v in values:
        if sample_width == 1:
            sample = bytes([round(v * 127) + 128])
        else:
            sample = round(v * 32767).to_bytes(2, "little", signed=True)
        frames += sample * channels
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(sample_width)
        wav.setframerate(rate)
        wav.writeframes(bytes(frames))
