# The emulator's action executor: how the Actions a Sans-I/O session returns are carried out on
# one connection (sends through faults and observers onto the wire, timers, closes, paced
# response streams, Offloads in worker threads, MCP requests), plus the test hooks that write
# straight onto a connection (`inject`, `inject_dtmf`). A mixin of `Emulator`: it needs the
# server's `config` and nothing else of it. The caller of `_apply` holds the connection's lock.
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable, Mapping
from functools import partial
from typing import Any

from . import _wire
from ._fault_io import _apply_triggered
from ._wire import (
    _HEADERS,
    _MAX_STEPS,
    FLUSH_BYTES,
    YIELD_BYTES,
    _flush,
    _queue_event,
    _text_frame_header,
    _write_out,
)
from .core.actions import (
    Action,
    CancelTimer,
    Close,
    McpRequest,
    McpResult,
    Offload,
    Send,
    SetTimer,
    StartStream,
    Step,
)
from .core.config import EmulatorConfig
from .core.ids import IdFactory
from .records import ConnectionRecord

__all__ = ["ActionExecutor"]


class ActionExecutor:
    """Carries out session Actions on connections (see the module comment)."""

    config: EmulatorConfig
    ids: IdFactory

    async def inject(self, connection: ConnectionRecord, events: Iterable[Mapping[str, Any] | bytes | str], *,
                     fill_event_ids: bool = True) -> int:
        """Send raw events on a connection, as fast as the socket takes them (bypassing the
        session). Dicts are JSON-encoded (an `event_id` added when missing); bytes/str are sent
        as they are in text frames. Returns the number of frames sent."""
        if connection._ws is None:
            raise RuntimeError("connection has no socket")
        conn = connection
        n = sent = 0
        async with conn._lock:
            out, faults, headers = conn._out, conn._faults, _HEADERS
            idle = faults.idle
            observers = self._observers()
            size = conn._out_size  # conn._out_size and conn.sent_count are synced before any await
            burst = 0
            for ev in events:
                if conn._dead:
                    break
                payload = ev if type(ev) is bytes else ev.encode() if type(ev) is str else None
                if payload is not None and idle:
                    # the fast path: a pre-encoded frame, nothing to observe, no fault armed
                    ln = len(payload)
                    out.append(headers.get(ln) or _text_frame_header(ln))
                    out.append(payload)
                    size += ln
                    sent += 1
                else:
                    conn._out_size, conn.sent_count, sent = size, conn.sent_count + sent, 0
                    if isinstance(ev, bytes | str):
                        await self._send_raw(conn, ev.encode() if isinstance(ev, str) else bytes(ev))
                    else:
                        event = dict(ev)
                        if fill_event_ids and "event_id" not in event:
                            event["event_id"] = self.ids.event()
                        for obs in observers:
                            obs(event)  # may arm a fault, which must count this event
                        if faults.idle:
                            _queue_event(conn, event)
                        else:
                            await self._send(conn, event, observed=True)
                            observers = self._observers()
                    size = conn._out_size
                    idle = faults.idle
                n += 1
                if size > FLUSH_BYTES:
                    conn._out_size, conn.sent_count, sent = size, conn.sent_count + sent, 0
                    burst += size
                    await _flush(conn)  # writes, and waits while the transport is over its limit
                    if burst > YIELD_BYTES:
                        burst = 0
                        await asyncio.sleep(0)
                    size = conn._out_size
                    idle = faults.idle
                    observers = self._observers()
            conn._out_size, conn.sent_count = size, conn.sent_count + sent
            await _flush(conn)
        return n

    async def _close_conn(self, conn: ConnectionRecord, code: int, reason: str) -> None:
        ws = conn._ws
        if ws is None or ws.closed:
            return
        _write_out(conn)
        conn.close_code = code
        conn._dead = True
        with contextlib.suppress(Exception):
            await ws.close(code=code, message=reason.encode())

    # --- carrying out actions (caller holds conn._lock) ------------------------------------

    def _observers(self) -> tuple[Callable[[dict[str, Any]], None], ...]:
        """The frame observers to call for each event sent (usually none)."""
        cfg = self.config.frame_observer
        if cfg is None:
            observers = _wire._frame_observers  # read at each call: a test may swap the list
            return tuple(observers) if observers else ()
        return (*_wire._frame_observers, cfg)

    async def _send(self, conn: ConnectionRecord, event: dict[str, Any], *, observed: bool = False) -> None:
        """Observe (unless `observed`: the caller did), apply faults, queue the frame."""
        if conn._dead:
            return
        if not observed:
            for obs in self._observers():
                obs(event)
        faults = conn._faults
        if faults.idle:
            _queue_event(conn, event)
            if conn._out_size > FLUSH_BYTES:
                await _flush(conn)
            return
        if faults.stalled:
            return
        delay = faults.delay_for(event.get("type"))
        if delay > 0:
            await _flush(conn)
            await asyncio.sleep(delay)
        _queue_event(conn, event)
        if conn._out_size > FLUSH_BYTES:
            await _flush(conn)
        fired = faults.after_sent(event.get("type"))
        if fired:
            await _flush(conn)
            await _apply_triggered(conn, fired)

    async def _send_raw(self, conn: ConnectionRecord, payload: bytes) -> None:
        """Queue an already encoded text frame (inject); faults apply, observers don't."""
        if conn._dead:
            return
        faults = conn._faults
        if not faults.idle:
            if faults.stalled:
                return
            delay = faults.delay_for(None)
            if delay > 0:
                await _flush(conn)
                await asyncio.sleep(delay)
        conn._out.append(_text_frame_header(len(payload)))
        conn._out.append(payload)
        conn._out_size += len(payload)
        conn.sent_count += 1
        if conn._out_size > FLUSH_BYTES:
            await _flush(conn)
        if not faults.idle:
            fired = faults.after_sent(None)
            if fired:
                await _flush(conn)
                await _apply_triggered(conn, fired)

    async def _apply(self, conn: ConnectionRecord, actions: list[Action]) -> None:
        for act in actions:
            if conn._dead:
                return
            if isinstance(act, Send):
                await self._send(conn, act.event)
            elif isinstance(act, StartStream):
                task = asyncio.get_running_loop().create_task(self._drive(conn, act.stream))
                conn._tasks.add(task)
                task.add_done_callback(conn._tasks.discard)
            elif isinstance(act, SetTimer):
                old = conn._timers.pop(act.name, None)
                if old is not None:
                    old.cancel()
                conn._timers[act.name] = asyncio.get_running_loop().call_later(
                    act.delay, self._fire_timer, conn, act.name)
            elif isinstance(act, CancelTimer):
                old = conn._timers.pop(act.name, None)
                if old is not None:
                    old.cancel()
            elif isinstance(act, Close):
                await self._close_conn(conn, act.code, act.reason)
            elif isinstance(act, Offload):
                if act.blocking and act.then is not None:  # off the event path
                    self._spawn(conn, self._then(conn, partial(_offload, act), act.then))
                else:
                    result = await _offload(act)
                    if act.then is not None and not conn._dead:
                        await self._apply(conn, act.then(result))
            elif isinstance(act, McpRequest):
                self._spawn(conn, self._then(conn, partial(self.mcp_request, act), act.then))

    def _spawn(self, conn: ConnectionRecord, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        conn._tasks.add(task)
        task.add_done_callback(conn._tasks.discard)

    async def _then(self, conn: ConnectionRecord, work: Callable[[], Awaitable[Any]],
                    then: Callable[[Any], list[Action]] | None) -> None:
        """Session-level work off the event path (a blocking Offload: speech recognition; an MCP
        request): run it without the connection lock, then hand its result to the session
        under the lock."""
        result = await work()
        if then is None or conn._dead:
            return
        async with conn._lock:
            if not conn._dead:
                await self._apply(conn, then(result))
                await _flush(conn)

    async def mcp_request(self, req: McpRequest) -> McpResult:
        """Carry out one MCP request (the official `mcp` SDK's streamable-HTTP client)."""
        from ._mcp_client import request

        return await request(req, timeout=self.config.mcp_timeout_seconds)

    async def inject_dtmf(self, connection: ConnectionRecord, digits: str) -> None:
        """Test hook standing in for the SIP side of a sideband call: the caller pressed
        `digits` (0-9, *, #, A-D); the session sends one `input_audio_buffer.dtmf_event_received`
        per digit. ValueError on a plain (non-sideband) connection."""
        session = connection.session
        if session is None:
            raise RuntimeError("connection has no session")
        acts = session.dtmf(digits, time.time())
        async with connection._lock:
            await self._apply(connection, acts)
            await _flush(connection)

    def _fire_timer(self, conn: ConnectionRecord, name: str) -> None:
        conn._timers.pop(name, None)

        async def run() -> None:
            async with conn._lock:
                timed = conn.session or conn.translation
                if timed is not None:
                    await self._apply(conn, timed.timer_fired(name, time.time()))
                    await _flush(conn)

        task = asyncio.get_running_loop().create_task(run())
        conn._tasks.add(task)
        task.add_done_callback(conn._tasks.discard)

    async def _drive(self, conn: ConnectionRecord, stream: Generator[Step, Any, None]) -> None:
        """Pull a response stream: sleep at pacing points, pull+send steps under the lock.

        Between pacing points (all of a response at speed 0) the steps are pulled and queued
        without awaiting, written every FLUSH_BYTES; the lock is released (a cancel can land)
        after YIELD_BYTES or MAX_STEPS steps."""
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        lock = conn._lock
        faults = conn._faults
        reply: Any = _NOTHING  # a result to send into the stream (Offload / McpRequest)
        while not conn._dead:
            request: McpRequest | None = None
            async with lock:
                # pull and send a run of steps without releasing the lock, up to a pacing point.
                # `idle` and `observers` are re-read after anything that can change them: an
                # await, or an observer (it may arm a fault, which must count this very event).
                wait = None
                observers = self._observers()
                idle = faults.idle
                burst = 0
                try:
                    for _ in range(_MAX_STEPS):
                        try:
                            step = next(stream) if reply is _NOTHING else stream.send(reply)
                        except StopIteration:
                            return
                        reply = _NOTHING
                        if isinstance(step, float):
                            wait = step
                            break
                        if isinstance(step, Offload):
                            reply = await _offload(step)  # the lock stays held: CPU work, in order
                            continue
                        if isinstance(step, McpRequest):
                            request = step  # network I/O: done below, without the lock
                            break
                        if idle and len(step) == 1 and type(act := step[0]) is Send:
                            event = act.event
                            if observers:
                                for obs in observers:
                                    obs(event)
                                idle = faults.idle
                            if idle:
                                _queue_event(conn, event)
                            else:
                                await self._send(conn, event, observed=True)
                                if conn._dead:
                                    return
                        else:
                            await self._apply(conn, step)
                            if conn._dead:
                                return
                            observers = self._observers()
                            idle = faults.idle
                        if conn._out_size > FLUSH_BYTES:
                            burst += conn._out_size
                            await _flush(conn)
                            if conn._dead or burst > YIELD_BYTES:
                                break
                            observers = self._observers()
                            idle = faults.idle
                finally:
                    await _flush(conn)
            if request is not None:
                reply = await self.mcp_request(request)
                continue
            if wait is not None:
                delay = t0 + wait - loop.time()
                await asyncio.sleep(delay if delay > 0 else 0)
            else:
                await asyncio.sleep(0)


_NOTHING: Any = object()


async def _offload(act: Offload) -> Any:
    """Run an Offload's function: in a worker thread when it is blocking, else in place."""
    if act.blocking:
        return await asyncio.get_running_loop().run_in_executor(None, act.fn)
    return act.fn()
