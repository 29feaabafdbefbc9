# The shell's side of fault injection: `FaultPlan` (which faults the next connections get;
# thread-safe) and carrying out fired faults on a live connection (drop, close, malformed frames,
# DTMF) as `faults.FaultRunner` answers. `_apply_triggered`'s caller holds the connection's lock.
from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from aiohttp import WSMsgType

from . import _wire
from ._wire import _queue_event, _write_out
from .core.actions import Send
from .faults import (
    MALFORMED_PAYLOADS,
    CloseWith,
    Drop,
    Fault,
    SendDTMF,
    SendMalformed,
    Stall,
    Triggered,
)

if TYPE_CHECKING:
    from .records import ConnectionRecord


async def _run_triggered(conn: ConnectionRecord, faults: list[Triggered]) -> None:
    async with conn._lock:
        await _apply_triggered(conn, faults)


async def _apply_triggered(conn: ConnectionRecord, faults: list[Triggered]) -> None:
    """Carry out fired faults (caller holds conn._lock)."""
    ws, req = conn._ws, conn._request
    if ws is None or req is None or conn._dead:
        return
    _write_out(conn)
    for f in faults:
        if isinstance(f, Drop):
            conn._dead = True
            if req.transport is not None:
                req.transport.abort()
            return
        if isinstance(f, CloseWith):
            conn._dead = True
            conn.close_code = f.code
            with contextlib.suppress(Exception):
                await ws.close(code=f.code, message=f.reason.encode())
            return
        if isinstance(f, SendMalformed):
            payload = MALFORMED_PAYLOADS[f.kind]
            if f.kind == "invalid_utf8":
                if req.transport is not None:
                    req.transport.write(bytes([0x81, len(payload)]) + payload)
            elif f.kind == "binary":
                await ws.send_frame(payload, WSMsgType.BINARY)
            else:
                await ws.send_frame(payload, WSMsgType.TEXT)
        elif isinstance(f, Stall):
            pass  # FaultRunner.stalled now swallows sends
        elif isinstance(f, SendDTMF):
            session = conn.session
            if session is None or not session.sideband:
                continue
            for act in session.dtmf(f.digits, time.time()):
                if isinstance(act, Send):
                    for obs in tuple(_wire._frame_observers):
                        obs(act.event)
                    _queue_event(conn, act.event)
            _write_out(conn)


class FaultPlan:
    """Which faults the next connections get. `every_connection` faults apply to all later
    connections (and `EmulatorConfig.faults` too); `next_connection` faults to the next one only
    (queued: call it twice for the next two connections)."""

    def __init__(self, always: Iterable[Fault] = ()) -> None:
        self._always: list[Fault] = list(always)
        self._queue: list[list[Fault]] = []
        self._lock = threading.Lock()

    def next_connection(self, *faults: Fault) -> None:
        """Apply `faults` to the next connection only (queued: one call per connection)."""
        with self._lock:
            self._queue.append(list(faults))

    def every_connection(self, *faults: Fault) -> None:
        """Apply `faults` to every later connection."""
        with self._lock:
            self._always.extend(faults)

    def clear(self) -> None:
        """Forget all planned faults (those of live connections stay)."""
        with self._lock:
            self._always.clear()
            self._queue.clear()

    def take(self) -> list[Fault]:
        """The faults for a connection that just arrived (used by the server)."""
        with self._lock:
            nxt = self._queue.pop(0) if self._queue else []
            return [*self._always, *nxt]
