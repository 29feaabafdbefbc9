"""The Sans-I/O connection driven directly, with no event loop: frames in, deliveries out."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any

import pytest

from openai_realtime_ws import (
    ConnectionClosedError,
    ConnectionClosedOK,
    HandlerError,
    OpenAIRealtimeError,
    QueueFull,
    RealtimeAPIError,
)
from openai_realtime_ws.core.connection import (
    EARLY_EVENTS,
    RECENT_TYPES,
    ArmRollover,
    AwaitHandler,
    Log,
    PauseReading,
    RealtimeProtocol,
    Reconnect,
    ResumeReading,
    RunTools,
    StartRollover,
    State,
)
from openai_realtime_ws.core.reconnect import ReconnectPolicy
from openai_realtime_ws.core.tools import ToolCallRequest


class Fut:
    """A waiter without a loop."""

    def __init__(self) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self._done = False

    def done(self) -> bool:
        return self._done

    def set_result(self, result: Any, /) -> None:
        self.result, self._done = result, True

    def set_exception(self, exception: BaseException, /) -> None:
        self.error, self._done = exception, True


class FakeShell:
    """Carries out the protocol's actions (read lazily: each attribute drains them first)."""

    def __init__(self) -> None:
        self.conn: RealtimeProtocol | None = None
        self._paused = False
        self._awaiting: list[Awaitable[object]] = []
        self._tools: list[list[ToolCallRequest]] = []
        self._timers: list[float] = []
        self._rollovers = 0
        self._logs: list[tuple[int, str]] = []
        self._reconnects: list[Reconnect] = []

    def run(self) -> None:
        assert self.conn is not None
        actions = self.conn.actions
        while actions:
            action = actions.popleft()
            if isinstance(action, PauseReading):
                self._paused = True
            elif isinstance(action, ResumeReading):
                self._paused = False
            elif isinstance(action, AwaitHandler):
                self._awaiting.append(action.awaitable)
            elif isinstance(action, RunTools):
                self._tools.append(action.calls)
            elif isinstance(action, ArmRollover):
                self._timers.append(action.delay)
            elif isinstance(action, StartRollover):
                self._rollovers += 1
            elif isinstance(action, Log):
                self._logs.append((action.level, action.message))
            elif isinstance(action, Reconnect):
                self._reconnects.append(action)

    @property
    def paused(self) -> bool:
        self.run()
        return self._paused

    @property
    def awaiting(self) -> list[Awaitable[object]]:
        self.run()
        return self._awaiting

    @property
    def tools(self) -> list[list[ToolCallRequest]]:
        self.run()
        return self._tools

    @property
    def timers(self) -> list[float]:
        self.run()
        return self._timers

    @property
    def rollovers(self) -> int:
        self.run()
        return self._rollovers

    @property
    def logs(self) -> list[tuple[int, str]]:
        self.run()
        return self._logs


def make(shell: FakeShell, **kwargs: Any) -> RealtimeProtocol:
    shell.conn = RealtimeProtocol(**kwargs)
    return shell.conn


def lost(conn: RealtimeProtocol, code: int | None, reason: str, *, closed_here: bool) -> bool:
    """``connection_lost``, and whether a Reconnect action came out."""
    before = sum(isinstance(a, Reconnect) for a in conn.actions)
    conn.connection_lost(code, reason, closed_here=closed_here)
    return sum(isinstance(a, Reconnect) for a in conn.actions) > before


def frame(type: str, **fields: Any) -> bytes:
    return json.dumps({"type": type, "event_id": "event_1", **fields}).encode()


def delta(i: int) -> bytes:
    return frame(
        "response.output_text.delta", response_id="r", item_id="i", output_index=0,
        content_index=0, delta=f"d{i}",
    )


SESSION_CREATED = frame(
    "session.created", session={"type": "realtime", "id": "sess_1", "expires_at": 1000}
)


def opened(**kwargs: Any) -> tuple[RealtimeProtocol, FakeShell, list[bytes]]:
    shell = FakeShell()
    conn = make(shell, redact=lambda t: t.replace("sk-secret", "***"), **kwargs)
    written: list[bytes] = []
    assert conn.state is State.CONNECTING
    conn.connection_made(written.append)
    assert conn.state.name == "OPEN"
    conn.release()
    return conn, shell, written


def test_events_reach_handlers_in_order_then_waiters_then_iteration() -> None:
    conn, _, _ = opened()
    order: list[str] = []
    conn.add_handler("event", lambda e: order.append("event:" + e.type), False)
    conn.add_handler("response.output_text.delta", lambda e: order.append("typed:" + e.delta), False)
    waiter = Fut()
    conn.wait_for("response.output_text.delta", waiter)
    conn.receive(delta(0))
    assert order == ["event:response.output_text.delta", "typed:d0"]
    assert waiter.result.delta == "d0"
    assert conn.next_event(None).delta == "d0"  # type: ignore[union-attr]


def test_held_until_release_and_frames_in_order() -> None:
    shell = FakeShell()
    conn = make(shell, redact=str)
    conn.connection_made(lambda b: None)
    conn.receive(SESSION_CREATED)
    seen: list[str] = []
    conn.add_handler("frame", lambda text: seen.append("frame"), False)
    conn.add_handler("session.created", lambda e: seen.append(e.type), False)
    assert seen == []  # held: handlers registered after the frame still get it
    conn.release("start")
    assert seen == ["frame", "session.created"]


def test_coroutine_handler_holds_later_items_of_every_kind() -> None:
    conn, shell, _ = opened()
    order: list[str] = []

    async def slow(e: Any) -> None:
        order.append("slow:" + e.delta)

    conn.add_handler("response.output_text.delta", slow, False)
    conn.add_handler("reconnecting", lambda p: order.append("reconnecting"), False)
    conn.add_handler("error", lambda e: order.append("error"), False)
    conn.receive(delta(0))
    conn.emit("reconnecting", {})
    conn.receive(b"not json")
    conn.receive(delta(1))
    assert order == [] and len(shell.awaiting) == 1 and conn.backlog_size == 3
    for _ in range(2):
        aw = shell.awaiting.pop(0)
        aw.close()  # type: ignore[attr-defined]
        order.append("awaited")
        conn.handler_finished(None)
    assert order == ["awaited", "reconnecting", "error", "awaited"]


def test_backlog_pauses_reading_at_max_queue_and_resumes_at_half() -> None:
    conn, shell, _ = opened(max_queue=4)

    async def slow(e: Any) -> None:
        pass

    conn.add_handler("response.output_text.delta", slow, False)
    for i in range(5):
        conn.receive(delta(i))
    assert shell.paused and conn.paused_for == {"dispatch"}
    while shell.awaiting:
        shell.awaiting.pop(0).close()  # type: ignore[attr-defined]
        conn.handler_finished(None)
    assert not shell.paused and conn.backlog_size == 0


def test_handler_failure_becomes_handler_error_after_the_event() -> None:
    conn, _, _ = opened()
    got: list[Any] = []

    def bad(e: Any) -> None:
        raise ValueError("sk-secret leaked")

    conn.add_handler("response.output_text.delta", bad, False)
    conn.add_handler("response.output_text.delta", lambda e: got.append(e.delta), False)
    conn.add_handler("error", got.append, False)
    conn.receive(delta(0))
    assert got[0] == "d0" and isinstance(got[1], HandlerError)
    assert "sk-secret" not in got[1].message and "***" in got[1].message


def test_unhandled_api_error_fails_waiters_and_is_raised_once() -> None:
    conn, shell, _ = opened()
    waiter = Fut()
    conn.wait_for("response.done", waiter)
    conn.receive(frame("error", error={"type": "invalid_request_error", "code": "x", "message": "m"}))
    assert isinstance(waiter.error, RealtimeAPIError)
    with pytest.raises(RealtimeAPIError):
        conn.next_event(None)
    conn.take_pending_error()  # raised already: not again
    assert shell.logs and "unhandled" in shell.logs[0][1]


def test_early_buffer_is_small_before_iteration_and_wait_for_consumes_it() -> None:
    conn, _, _ = opened()
    for i in range(EARLY_EVENTS + 10):
        conn.receive(delta(i))
    first = conn.next_event(None)
    assert first is not None and first.delta == "d10"  # type: ignore[union-attr]
    conn2, _, _ = opened()
    for i in range(3):
        conn2.receive(delta(i))
    conn2.receive(frame("session.updated", session={"type": "realtime"}))
    conn2.receive(delta(3))
    w = Fut()
    conn2.wait_for("session.updated", w)
    conn2.consumed(w.result)
    nxt = conn2.next_event(None)
    assert nxt is not None and nxt.delta == "d3"  # type: ignore[union-attr]  # after what wait_for took


def test_wait_for_counts_events_since_the_last_send_once() -> None:
    conn, _, written = opened()
    conn.send(b'{"type":"session.update"}', False)
    conn.receive(frame("session.updated", session={"type": "realtime", "instructions": "one"}))
    w = Fut()
    conn.wait_for("session.updated", w)  # arrived before the call: still counts
    assert w.result.session.instructions == "one"
    conn.consumed(w.result)
    w2 = Fut()
    conn.wait_for("session.updated", w2)
    assert not w2.done()  # not the same reply twice
    conn.cancel_wait("session.updated", w2)
    conn.receive(frame("session.updated", session={"type": "realtime"}))
    conn.send(b"{}", False)  # a send forgets what came before it
    w3 = Fut()
    conn.wait_for("session.updated", w3)
    assert not w3.done()
    assert written[0] == b'{"type":"session.update"}'


def test_per_type_memory_is_bounded() -> None:
    conn, _, _ = opened()
    conn.add_handler("event", lambda e: None, False)
    for i in range(3000):  # a server inventing event types
        conn.receive(frame(f"future.type{i}"))
    assert len(conn._recent) <= RECENT_TYPES
    assert len(conn.dispatcher.plans) <= 512
    w = Fut()
    conn.wait_for("future.type2999", w)  # the newest are still there for wait_for
    assert w.result.type == "future.type2999"


def test_sends_queue_while_write_paused_or_reconnecting_and_flush_in_order() -> None:
    conn, _, written = opened(reconnect=ReconnectPolicy())
    conn.writer_paused()
    conn.send(b"a", False)
    conn.writer_resumed(written.append)
    assert written == [b"a"]
    assert lost(conn, None, "", closed_here=False) is True
    assert conn.state is State.RECONNECTING and conn.close_code == 1006
    conn.send(b'{"type":"x"}', False)
    conn.send(b"audio", True)
    new: list[bytes] = []
    conn.connection_made(new.append, restore=True)
    assert new == [b'{"type":"x"}', b"audio"] and conn.reconnects == 1


def test_queue_full_raises_and_nothing_is_queued() -> None:
    conn, _, _ = opened(send_queue_bytes=10)
    conn.writer_paused()
    conn.send(b"12345", False)
    with pytest.raises(QueueFull):
        conn.send(b"1234567890", False)
    assert len(conn.outbound) == 1


def test_restore_resends_confirmed_session_with_unknown_fields() -> None:
    conn, _, _ = opened(reconnect=ReconnectPolicy(restore="session"))
    conn.receive(
        frame(
            "session.updated",
            session={
                "type": "realtime", "id": "sess", "instructions": "pirate",
                "future_field": {"x": 1}, "audio": {"input": {"turn_detection": None}},
            },
        )
    )
    assert lost(conn, 1011, "", closed_here=False)
    new: list[bytes] = []
    conn.connection_made(new.append, restore=True)
    update = json.loads(new[0])
    assert update["type"] == "session.update"
    assert update["session"]["future_field"] == {"x": 1}
    assert update["session"]["instructions"] == "pirate" and "id" not in update["session"]
    assert update["session"]["audio"]["input"]["turn_detection"] is None


def test_close_classification() -> None:
    conn, _, _ = opened()
    assert lost(conn, 1000, "bye", closed_here=False) is False
    assert conn.state is State.CLOSED
    assert isinstance(conn.closed_error(), ConnectionClosedOK)
    with pytest.raises(StopIteration):
        conn.next_event(None)
    # a dead peer (our keepalive closed with 1001) is abnormal: iteration raises
    conn2, _, _ = opened()
    lost(conn2, 1001, "", closed_here=True)
    with pytest.raises(ConnectionClosedError):
        conn2.next_event(None)
    # a reason carrying a credential is redacted in the error
    conn3, _, _ = opened()
    lost(conn3, 4000, "bad key sk-secret", closed_here=False)
    err = conn3.closed_error()
    assert "sk-secret" not in str(err) and "sk-secret" not in err.reason


def test_close_refuses_new_sends_keeps_queue_and_reports_unsent() -> None:
    conn, _, _ = opened()
    conn.writer_paused()
    conn.send(b'{"type":"a"}', False)
    assert conn.begin_close() is True and conn.begin_close() is False
    with pytest.raises(ConnectionClosedOK, match="closing"):
        conn.send(b"{}", False)
    lost(conn, 1000, "OK", closed_here=True)
    assert conn.closed_error().unsent == [{"type": "a"}]


def test_fail_delivers_cause_to_error_handlers_and_closes() -> None:
    conn, _, _ = opened(reconnect=ReconnectPolicy())
    errors: list[OpenAIRealtimeError] = []
    conn.add_handler("error", errors.append, False)
    lost(conn, 1006, "", closed_here=False)
    waiter = Fut()
    conn.wait_for("session.created", waiter)
    conn.fail(OpenAIRealtimeError("provider broke"))
    assert errors[0].message == "provider broke"
    assert conn.state is State.CLOSED and isinstance(waiter.error, ConnectionClosedError)


def test_tool_calls_and_rollover_timer() -> None:
    conn, shell, _ = opened(reconnect=ReconnectPolicy(rollover=60), clock=lambda: 900.0)
    conn.receive(SESSION_CREATED)
    assert shell.timers == [40.0]  # expires 1000 - rollover 60 - now 900
    conn.receive(frame("response.created", response={"id": "r1", "conversation_id": "conv"}))
    conn.rollover_timer()
    assert shell.rollovers == 0 and shell.timers[-1] == 99.0  # mid-response: wait for its end
    conn.receive(frame("response.done", response={"id": "r1", "status": "completed", "output": []}))
    assert shell.rollovers == 1


def test_a_closing_transport_gets_no_writes_they_are_queued() -> None:
    conn, _, _ = opened(reconnect=ReconnectPolicy())
    conn.connection_made(lambda data: False)  # the transport is closing: nothing is written
    conn.send(b'{"type":"a"}', False)
    conn.send(b'{"type":"b"}', False)
    assert len(conn.outbound) == 2
    assert lost(conn, 1012, "", closed_here=False)
    new: list[bytes] = []
    conn.connection_made(new.append, restore=True)
    assert new == [b'{"type":"a"}', b'{"type":"b"}']
    # and the peer's close frame stops writes at once
    conn.transport_closing()
    conn.send(b'{"type":"c"}', False)
    assert new[-1] == b'{"type":"b"}' and len(conn.outbound) == 1


def test_rollover_due_while_connecting_starts_once_open() -> None:
    shell = FakeShell()
    conn = make(
        shell, redact=str, reconnect=ReconnectPolicy(rollover=200), clock=lambda: 900.0
    )
    conn.receive(SESSION_CREATED)  # in the handshake's read: expires 1000, due at once
    assert shell.timers == [0.0]
    conn.rollover_timer()  # fires before the socket is handed over
    assert shell.rollovers == 0
    conn.connection_made(lambda b: None)
    assert shell.rollovers == 1


def test_error_observers_see_every_routed_error_without_handling_it() -> None:
    conn, shell, _ = opened()
    seen: list[OpenAIRealtimeError] = []
    conn.error_observers.append(seen.append)
    conn.error_observers.append(lambda e: 1 / 0)  # an observer's failure changes nothing
    conn.receive(frame("error", error={"type": "invalid_request_error", "code": "x", "message": "m"}))
    conn.receive(b"not json")
    assert [type(e).__name__ for e in seen] == ["RealtimeAPIError", "MalformedFrameError"]
    assert len(conn._pending_errors) == 2  # still unhandled: observers are not handlers
    assert sum("unhandled" in m for _, m in shell.logs) == 2


def test_usage_is_summed_from_response_done() -> None:
    conn, _, _ = opened()
    usage = {"total_tokens": 7, "input_tokens": 5, "output_tokens": 2}
    for rid in ("r1", "r2"):
        conn.receive(frame("response.done", response={"id": rid, "status": "completed", "output": [], "usage": usage}))
    assert conn.usage.response_count == 2 and conn.usage.total.output_tokens == 4
