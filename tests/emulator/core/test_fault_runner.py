# When faults fire (pure bookkeeping, no sockets).
from __future__ import annotations

from openai_realtime_ws.emulator import (
    CloseWith,
    DelayEvents,
    Drop,
    RefuseHandshake,
    SendMalformed,
    Stall,
)
from openai_realtime_ws.emulator.faults import FaultRunner


def test_triggers() -> None:
    r = FaultRunner([Drop(after=2), CloseWith(after_type="response.done"), SendMalformed(), RefuseHandshake(),
                     DelayEvents(0.5, frozenset({"x"}))])
    assert r.handshake == [RefuseHandshake()]
    assert r.due_now() == [SendMalformed()]
    assert r.after_sent("session.created") == []
    assert r.after_sent("response.done") == [Drop(after=2), CloseWith(after_type="response.done")]
    assert r.delay_for("x") == 0.5 and r.delay_for("y") == 0
    assert not r.idle


def test_stall_and_idle() -> None:
    r = FaultRunner()
    assert r.idle
    r.add(Stall(after=1))
    assert not r.stalled
    r.after_sent("a")
    assert r.stalled and not r.idle
