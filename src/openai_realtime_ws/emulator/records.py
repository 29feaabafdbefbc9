# What the emulator remembers about connections, for assertions in tests: `ConnectionRecord`
# (one per WebSocket: what arrived, what was sent, the session behind it, and the shell's
# per-connection state), `ConnectionLog` (every live connection and a bounded history of closed
# ones) and `RedirectHit` (a request that reached the redirect target).
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, overload

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

from ._fault_io import _run_triggered
from .core.replay import ReplaySession
from .core.session import Session
from .core.translation import TranslationSession
from .faults import Fault, FaultRunner

__all__ = ["ConnectionLog", "ConnectionRecord", "RedirectHit"]


@dataclass(slots=True)
class RedirectHit:
    """A request that reached the redirect target."""

    path: str
    query: dict[str, str]
    had_credentials: bool
    """Whether an Authorization / api-key header or a key subprotocol arrived there."""


@dataclass(eq=False)
class ConnectionRecord:
    """What the server saw on one WebSocket connection (for assertions in tests)."""

    index: int
    path: str
    query: dict[str, str]
    headers: dict[str, str] = field(repr=False)
    """Request headers (lower-case names) as received, credentials included: never log them."""
    received_api_key: str | None = field(repr=False)
    subprotocol: str | None
    received: deque[dict[str, Any]] = field(default_factory=deque)
    """The client events parsed from text frames, in order (when `config.record_received`; only
    the last `config.record_limit` of them)."""
    received_frames: int = 0
    sent_count: int = 0
    close_code: int | None = None
    """The close code the server sent, or the client's when the client closed first."""
    session: Session | None = None
    translation: TranslationSession | None = None
    """The session of a translation connection (`/v1/realtime/translations`); `session` is None there."""
    replay: ReplaySession | None = None
    """The replayed recording answering this connection (`Emulator(replay=…)`); `session` is None there."""
    transcript: list[tuple[str, float, dict[str, Any]]] | None = field(default=None, repr=False)
    """With `config.record_transcript`: every client and server event as `(direction, seconds
    since connect, event)`, for `Recording.from_connection` (unbounded: for tests)."""
    _t0: float = field(default=0.0, repr=False)
    closed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _ws: web.WebSocketResponse | None = field(default=None, repr=False)
    _request: web.Request | None = field(default=None, repr=False)
    _writer: AbstractStreamWriter | None = field(default=None, repr=False)
    _out: list[bytes] = field(default_factory=list, repr=False)
    _out_size: int = field(default=0, repr=False)
    _faults: FaultRunner = field(default_factory=FaultRunner, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, repr=False)
    _timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict, repr=False)
    _dead: bool = field(default=False, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _tap: Callable[[dict[str, Any]], None] | None = field(default=None, repr=False)
    """A placed SIP call's record of what its caller hears (emulator/calls.py), else None."""

    def received_types(self) -> list[str]:
        """The `type` of each recorded client event, in order."""
        return [str(e.get("type")) for e in self.received]

    @property
    def call_id(self) -> str | None:
        """The `call_id` of a sideband connection (None for a plain session)."""
        return self.query.get("call_id")

    async def wait_closed(self, timeout: float = 5.0) -> int | None:
        """Wait until the connection ended; returns `close_code`."""
        await asyncio.wait_for(self.closed.wait(), timeout)
        return self.close_code

    def inject_fault(self, fault: Fault) -> None:
        """Add a fault to this live connection (thread-safe). Triggers count from now on."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("connection not started")

        def add() -> None:
            self._faults.add(fault)
            due = self._faults.due_now()
            if due and self._ws is not None:
                task = loop.create_task(_run_triggered(self, due))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        if _running_loop() is loop:
            add()
        else:
            loop.call_soon_threadsafe(add)


class ConnectionLog:
    """`Emulator.connections`: every connection by its index in arrival order (`[0]` the first,
    `[-1]` the latest, `len()` how many arrived), remembering all live ones but only the latest
    `keep_closed` closed ones, so a long-running emulator does not grow. Iteration yields the
    remembered ones; indexing a forgotten one raises IndexError saying so."""

    def __init__(self, keep_closed: int) -> None:
        self.keep_closed = keep_closed
        self._records: dict[int, ConnectionRecord] = {}
        self._closed: deque[int] = deque()
        self._count = 0

    def append(self, record: ConnectionRecord) -> None:
        """A new connection arrived (used by the server)."""
        self._records[record.index] = record
        self._count = max(self._count, record.index + 1)

    def closed(self, record: ConnectionRecord) -> None:
        """`record` ended: it stays among the latest closed ones, the oldest beyond are forgotten."""
        self._closed.append(record.index)
        while len(self._closed) > max(self.keep_closed, 0):
            self._records.pop(self._closed.popleft(), None)

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> ConnectionRecord: ...
    @overload
    def __getitem__(self, index: slice) -> list[ConnectionRecord]: ...
    def __getitem__(self, index: int | slice) -> ConnectionRecord | list[ConnectionRecord]:
        if isinstance(index, slice):
            return [r for i in range(*index.indices(self._count)) if (r := self._records.get(i)) is not None]
        i = index + self._count if index < 0 else index
        if not 0 <= i < self._count:
            raise IndexError(f"no connection #{index} ({self._count} so far)")
        record = self._records.get(i)
        if record is None:
            raise IndexError(f"connection #{i} closed and was forgotten (config.closed_history "
                             f"keeps the latest {self.keep_closed} closed connections)")
        return record

    def __iter__(self) -> Iterator[ConnectionRecord]:
        return iter(list(self._records.values()))

    def __bool__(self) -> bool:
        return self._count > 0

    def __repr__(self) -> str:
        return f"ConnectionLog(arrived={self._count}, remembered={len(self._records)})"


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
