"""Dispatcher under random sequences of add/once/remove/route, checked against a small model of
the rules in core/dispatch.py and docs/client.md."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openai_realtime_ws.core.dispatch import Dispatcher
from openai_realtime_ws.core.errors import MalformedFrameError, OpenAIRealtimeError
from openai_realtime_ws.types import (
    ErrorEvent,
    ErrorEventError,
    InputAudioBufferClearedEvent,
    UnknownServerEvent,
)

from ._settings import FUZZ


@dataclass(frozen=True)
class H:
    """A handler with an identity the model can follow."""

    hid: int

    def __call__(self, arg: Any) -> None:
        return None


HANDLERS = [H(i) for i in range(4)]
# handler types: the special ones, two real server types, an unknown one
TYPES = ["event", "error", "reconnecting", "input_audio_buffer.cleared", "x.new"]
# server events the dispatcher is asked to route; server types equal to a special name
# ("event", "reconnecting") have their own tests below (a server cannot fake library events)
EVENTS: list[Any] = [
    InputAudioBufferClearedEvent(event_id="e1"),
    ErrorEvent(event_id="e2", error=ErrorEventError(type="invalid_request_error", message="m")),
    UnknownServerEvent(type="x.new", raw={"type": "x.new"}),
    UnknownServerEvent(
        type="input_audio_buffer.cleared",
        raw={"type": "input_audio_buffer.cleared"},
        decode_error="Expected `str`, got `int` at `event_id`",
    ),
    UnknownServerEvent(type="error", raw={"type": "error"}, decode_error="Object missing..."),
]

ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from(TYPES), st.sampled_from(HANDLERS), st.booleans()),
        st.tuples(st.just("remove"), st.sampled_from(TYPES), st.sampled_from([*HANDLERS, None])),
        st.tuples(st.just("route"), st.sampled_from(EVENTS)),
        st.tuples(st.just("route_error")),
        st.tuples(st.just("route_local"), st.sampled_from(["reconnecting", "reconnected"])),
        st.tuples(st.just("add_bad"), st.sampled_from(["", None, 5])),
    ),
    max_size=40,
)


class Model:
    def __init__(self) -> None:
        self.reg: dict[str, list[tuple[H, bool, int]]] = {}  # type -> (handler, once, reg id)
        self.next_id = 0
        self.fired_once: set[int] = set()

    def add(self, t: str, h: H, once: bool) -> None:
        self.reg.setdefault(t, []).append((h, once, self.next_id))
        self.next_id += 1

    def remove(self, t: str, h: H | None) -> None:
        kept = [] if h is None else [e for e in self.reg.get(t, []) if e[0] != h]
        if kept:
            self.reg[t] = kept
        else:
            self.reg.pop(t, None)

    def take(self, t: str) -> list[H]:
        entries = self.reg.get(t, [])
        for _, once, rid in entries:
            if once:
                assert rid not in self.fired_once  # a once registration fires at most once
                self.fired_once.add(rid)
        kept = [e for e in entries if not e[1]]
        if kept:
            self.reg[t] = kept
        else:
            self.reg.pop(t, None)
        return [h for h, _, _ in entries]


@FUZZ
@given(ops)
def test_dispatcher_matches_model(program: list[tuple[Any, ...]]) -> None:
    d = Dispatcher()
    m = Model()
    for op in program:
        kind = op[0]
        if kind == "add":
            d.add(op[1], op[2], once=op[3])
            m.add(op[1], op[2], op[3])
        elif kind == "add_bad":
            with pytest.raises(TypeError):
                d.add(op[1], HANDLERS[0])
        elif kind == "remove":
            d.remove(op[1], op[2])
            m.remove(op[1], op[2])
        elif kind == "route":
            event = op[1]
            routing = d.route(event)
            expected = [(h, event) for h in m.take("event")]
            if isinstance(event, ErrorEvent) or event.type == "error":
                # API error events, typed or off the spec, become OpenAIRealtimeError objects
                errs = [(h, None) for h in m.take("error")]
                got_errs = routing.calls[len(expected) :]
                assert all(isinstance(a, OpenAIRealtimeError) for _, a in got_errs)
                assert [h for h, _ in got_errs] == [h for h, _ in errs]
                assert (routing.unhandled is not None) == (not errs)
                assert routing.calls[: len(expected)] == expected
                continue
            if not (isinstance(event, UnknownServerEvent) and event.decode_error):
                expected += [(h, event) for h in m.take(event.type)]
            assert routing.calls == expected
            assert routing.unhandled is None
        elif kind == "route_error":
            error = MalformedFrameError("could not parse websocket event: not valid JSON (1 bytes)")
            routing = d.route_error(error)
            expected = [(h, error) for h in m.take("error")]
            assert routing.calls == expected
            assert (routing.unhandled is error) == (not expected)
        elif kind == "route_local":
            routing = d.route_local(op[1], "payload")
            assert routing.calls == [(h, "payload") for h in m.take(op[1])]
        for t in TYPES:
            assert d.has(t) == bool(m.reg.get(t))


@FUZZ
@given(
    st.lists(st.tuples(st.sampled_from(TYPES), st.booleans()), max_size=12), st.sampled_from(EVENTS)
)
def test_event_handlers_come_first(regs: list[tuple[str, bool]], event: Any) -> None:
    d = Dispatcher()
    marks: dict[int, str] = {}
    for i, (t, once) in enumerate(regs):
        h = H(100 + i)
        marks[h.hid] = t
        d.add(t, h, once=once)
    kinds = [marks[h.hid] for h, _ in d.route(event).calls if isinstance(h, H)]
    n = kinds.count("event")
    assert kinds[:n] == ["event"] * n
    assert all(k == event.type or k == "error" for k in kinds[n:])


# ---- known bug: a server frame whose type is one of the dispatcher's special names --------------


def test_server_event_named_event_is_delivered_once() -> None:
    d = Dispatcher()
    d.add("event", HANDLERS[0])
    routing = d.route(UnknownServerEvent(type="event", raw={"type": "event"}))
    assert len(routing.calls) == 1


@pytest.mark.parametrize("name", ["reconnecting", "reconnected"])
def test_server_cannot_spoof_library_events(name: str) -> None:
    # `{"type":"reconnecting"}` from the server reaches on("reconnecting") handlers with an
    # UnknownServerEvent instead of the library's payload
    d = Dispatcher()
    d.add(name, HANDLERS[1])
    assert d.route(UnknownServerEvent(type=name, raw={"type": name})).calls == []
