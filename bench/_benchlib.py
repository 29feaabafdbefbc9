"""Client-side helpers shared by the benchmarks: the server subprocess, clocks, tables."""

from __future__ import annotations

import contextlib
import os
import platform
import select
import ssl
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
SERVER_SCRIPT = BENCH_DIR / "_flood_server.py"


@dataclass(slots=True)
class ServerProcess:
    base_url: str
    ca_file: str | None
    proc: subprocess.Popen[bytes]

    @property
    def ws_url(self) -> str:
        scheme = "wss" if self.base_url.startswith("https:") else "ws"
        return scheme + ":" + self.base_url.split(":", 1)[1] + "/realtime?model=gpt-realtime"

    def ssl_context(self) -> ssl.SSLContext | None:
        return ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None

    def cpu_seconds(self) -> float:
        """The server process's CPU time so far (Linux /proc; 10 ms ticks), NaN elsewhere."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return float("nan")


@contextlib.contextmanager
def server_process(*, tls: bool, backend: str = "flood", timeout: float = 30.0) -> Iterator[ServerProcess]:
    """Run ``_flood_server.py`` in its own process (its CPU is not the client's)."""
    cmd = [sys.executable, str(SERVER_SCRIPT), "--backend", backend]
    if tls:
        cmd.append("--tls")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=BENCH_DIR.parent)
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        buf = b""
        deadline = time.monotonic() + timeout
        while len(lines) < 2:
            left = deadline - time.monotonic()
            if left <= 0 or proc.poll() is not None:
                raise RuntimeError(f"{backend} server did not start (exit code {proc.poll()})")
            ready, _, _ = select.select([proc.stdout], [], [], left)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    continue
                buf += chunk
                while b"\n" in buf and len(lines) < 2:
                    line, buf = buf.split(b"\n", 1)
                    lines.append(line.decode().strip())
        yield ServerProcess(lines[0], lines[1] or None, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass(slots=True)
class Sample:
    """What one timed run of one client measured."""

    events: int
    wall_s: float
    cpu_s: float
    server_cpu_s: float = float("nan")

    @property
    def rate(self) -> float:
        return self.events / self.wall_s if self.wall_s > 0 else float("nan")

    @property
    def cpu_us(self) -> float:
        return self.cpu_s / self.events * 1e6 if self.events else float("nan")

    @property
    def server_cpu_us(self) -> float:
        return self.server_cpu_s / self.events * 1e6 if self.events else float("nan")


class Clock:
    """Wall (perf_counter) and process CPU time (all threads of this process)."""

    __slots__ = ("cpu0", "server", "server0", "t0")

    def __init__(self, server: ServerProcess | None = None) -> None:
        self.server = server
        self.server0 = server.cpu_seconds() if server is not None else float("nan")
        self.t0 = time.perf_counter()
        self.cpu0 = time.process_time()

    def sample(self, events: int) -> Sample:
        wall = time.perf_counter() - self.t0
        cpu = time.process_time() - self.cpu0
        server = self.server.cpu_seconds() - self.server0 if self.server is not None else float("nan")
        return Sample(events, wall, cpu, server)


def best(samples: Sequence[Sample]) -> Sample:
    """Best of several repeats, per metric: the shortest wall time and the least client CPU
    (each the run least disturbed by whatever else the machine was doing)."""
    fastest = min(samples, key=lambda s: s.wall_s)
    return Sample(fastest.events, fastest.wall_s, min(s.cpu_s for s in samples),
                  fastest.server_cpu_s)


@dataclass(slots=True)
class Row:
    name: str
    sample: Sample | None = None
    connect_ms: list[float] = field(default_factory=list)
    first_delta_ms: list[float] = field(default_factory=list)
    note: str = ""


def median_ms(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else "-"


def p90_ms(values: Sequence[float]) -> str:
    if len(values) < 2:
        return median_ms(values)
    return f"{statistics.quantiles(values, n=10)[-1]:.2f}"


def fmt_int(x: float) -> str:
    return f"{x:,.0f}"


def fmt_us(x: float) -> str:
    return "-" if x != x else f"{x:.2f}"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table (readable as plain text too)."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    def line(cells: Sequence[str]) -> str:
        out = []
        for i, c in enumerate(cells):
            out.append(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]))
        return "| " + " | ".join(out) + " |"
    sep = "|" + "|".join(("-" * (w + 1) + ":") if i else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def machine() -> str:
    cpus = os.cpu_count() or 0
    return (f"Python {platform.python_version()}, {platform.machine()}, {cpus} CPUs, "
            f"{platform.system()} {platform.release()}")


def versions() -> str:
    from importlib.metadata import version

    names = ("openai-realtime-ws", "picows", "aiofastnet", "msgspec", "openai", "websockets", "pydantic")
    out = []
    for n in names:
        try:
            out.append(f"{n} {version(n)}")
        except Exception:
            pass
    return ", ".join(out)
