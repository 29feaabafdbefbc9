"""The asyncio shell's long-running procedures: the reconnect loop, the session rollover and
tool calls. What they decide with (retry or not, what to restore, when to roll over, which tools
a response asks for) is the core's (:mod:`..core.connection`, :mod:`..core.reconnect`,
:mod:`..core.tools`); this module only sleeps, opens sockets and awaits.

Every way out of the reconnect loop leaves the connection in a clear state: reconnected, or
``CLOSED`` with the cause delivered to ``error`` handlers (or raised as unhandled) and the
closed error raised from waiters and iteration.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import picows

from ..core.connection import RealtimeConnection, State
from ..core.errors import HandshakeError, OpenAIRealtimeError, RealtimeConnectionError
from ..core.reconnect import ReconnectContext, is_recoverable_status
from ..core.tools import ToolCallRequest, ToolRouter
from .credentials import bounded
from .transport import writer

if TYPE_CHECKING:
    from .client import AsyncOpenAIRealtimeWS

__all__ = ["Recovery", "run_tools"]

logger = logging.getLogger("openai_realtime_ws")


class Recovery:
    """The reconnect loop and the rollover of one client; at most one runs at a time."""

    def __init__(self, rt: AsyncOpenAIRealtimeWS) -> None:
        self._rt = rt
        self.task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def reconnect(self, code: int | None, reason: str) -> None:
        if not self.running:
            self.task = asyncio.ensure_future(self._reconnect_loop(code, reason))

    def rollover(self) -> None:
        if not self.running:
            self.task = asyncio.ensure_future(self._rollover())

    async def cancel(self) -> None:
        task = self.task
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass

    async def _new_plan(self, ctx: ReconnectContext) -> None:
        rt = self._rt
        assert rt._plan_factory is not None
        fresh = await bounded(rt._plan_factory(), rt._opts.open_timeout, "the credential provider")
        rt._plan = rt._plan.succeeded_by(fresh).with_overrides(ctx.headers, ctx.query)

    async def _reconnect_loop(self, code: int | None, reason: str) -> None:
        """Reopen the session after a recoverable close, restore it, flush what was queued."""
        rt = self._rt
        conn = rt.connection
        policy = conn.policy
        assert policy is not None
        try:
            for attempt in range(1, policy.max_attempts + 1):
                ctx = ReconnectContext(
                    attempt=attempt, delay=policy.delay(attempt), close_code=code,
                    close_reason=conn.redact(reason),
                )
                conn.emit("reconnecting", ctx)
                await asyncio.sleep(ctx.delay)
                if conn.state is not State.RECONNECTING:
                    return
                if policy.on_reconnect is not None:
                    verdict = policy.on_reconnect(ctx)
                    if inspect.isawaitable(verdict):
                        verdict = await bounded(verdict, rt._opts.open_timeout, "on_reconnect")
                    if verdict is False:
                        logger.info("reconnect aborted by on_reconnect after attempt %d", attempt)
                        conn.finish()
                        return
                await self._new_plan(ctx)
                conn.reset_error_code()
                try:
                    transport, listener = await rt._open()
                except HandshakeError as exc:
                    logger.info("reconnect attempt %d refused: %s", attempt, exc.message)
                    if not is_recoverable_status(exc.status):
                        conn.fail(exc)
                        return
                    continue
                except RealtimeConnectionError as exc:
                    logger.info("reconnect attempt %d failed: %s", attempt, exc.message)
                    continue
                if conn.state is not State.RECONNECTING:  # closed meanwhile
                    transport.disconnect()
                    return
                rt._adopt(transport, listener, restore=True)
                conn.emit("reconnected", {"attempt": attempt, "close_code": code, "url": rt.url})
                return
            logger.warning("giving up after %d reconnect attempts", policy.max_attempts)
            conn.finish()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # on_reconnect, the token provider or an override failed
            conn.fail(_library_error(exc, "reconnect failed", conn.redact))

    async def _rollover(self) -> None:
        """Open the next session between responses, restore it, then retire the old one."""
        rt = self._rt
        conn = rt.connection
        old_socket, old_listener = rt.socket, rt._listener
        if old_socket is None or old_listener is None or conn.state is not State.OPEN:
            return
        ctx = ReconnectContext(attempt=1, delay=0.0, close_code=None, close_reason="rollover")
        conn.emit("reconnecting", ctx)
        conn.start_reconnecting()
        try:
            await self._new_plan(ctx)
            transport, listener = await rt._open()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = _library_error(exc, "rollover failed", conn.redact)
            if rt.socket is None:  # the old session dropped meanwhile: reconnect as usual
                self.task = asyncio.ensure_future(self._reconnect_loop(1006, ""))
                return
            logger.warning("session rollover failed, staying on the current session: %s", error.message)
            conn.rollover_failed(writer(old_socket))
            return
        if not conn.reconnecting:  # closed meanwhile
            transport.disconnect()
            return
        rt._adopt(transport, listener, restore=True)
        if old_listener.transport is not None:
            old_socket.send_close(picows.WSCloseCode.OK, b"rollover")
            old_socket.disconnect()
        conn.emit("reconnected", {"attempt": 1, "close_code": None, "url": rt.url, "rollover": True})


async def run_tools(
    conn: RealtimeConnection,
    send: Callable[[dict[str, Any]], None],
    calls: list[ToolCallRequest],
    output_modalities: list[str] | None,
) -> None:
    """Run the tool calls of one response (coroutines on the loop, plain functions in a worker
    thread), answer each, then send the follow-up ``response.create`` (if any)."""
    answered = 0
    for call in calls:
        tool = conn.tools.tools[call.name]
        if call.error is not None:
            event = ToolRouter.error_event(call, call.error)
        else:
            try:
                if inspect.iscoroutinefunction(tool.handler):
                    result = await tool.handler(**call.arguments)
                else:
                    result = await asyncio.to_thread(tool.handler, **call.arguments)
                    if inspect.isawaitable(result):
                        result = await result
                event = ToolRouter.output_event(call, result)
            except Exception as exc:
                conn.tool_failed(call, tool.handler, exc)
                event = ToolRouter.error_event(call, conn.redact(f"{type(exc).__name__}: {exc}")[:500])
        if conn.state is State.CLOSING or conn.state is State.CLOSED:
            return  # nobody to answer any more
        if not _send_or_report(conn, send, event):
            return
        answered += 1
    for follow in conn.tools.follow_up(answered, output_modalities):
        if conn.state is not State.CLOSING and conn.state is not State.CLOSED:
            _send_or_report(conn, send, follow)


def _send_or_report(
    conn: RealtimeConnection, send: Callable[[dict[str, Any]], None], event: dict[str, Any]
) -> bool:
    """Send a tool answer; a refusal (``QueueFull``, closed) goes to ``error`` handlers, never
    into an unretrieved task exception."""
    try:
        send(event)
    except OpenAIRealtimeError as exc:
        conn.report_error(exc)
        return False
    return True


def _library_error(exc: Exception, what: str, redact: Callable[[str], str]) -> OpenAIRealtimeError:
    if isinstance(exc, OpenAIRealtimeError):
        return exc
    error = RealtimeConnectionError(f"{what}: {type(exc).__name__}: {redact(str(exc))[:300]}")
    error.__cause__ = exc
    return error
