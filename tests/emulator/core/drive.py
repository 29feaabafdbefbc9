# Drives a Sans-I/O Session without an event loop: frames in, events out; response streams are
# pulled to the end (or up to a point) synchronously, timers are fired by hand.
from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

from openai_realtime_ws.emulator.core import (
    Action,
    CancelTimer,
    Close,
    EmulatorConfig,
    IdFactory,
    Offload,
    Send,
    Session,
    SetTimer,
    StartStream,
    Step,
)
from openai_realtime_ws.emulator.core.actions import McpRequest
from openai_realtime_ws.emulator.core.turn import Responder
from openai_realtime_ws.emulator.responder import EchoResponder

from ..fidelity import validate_server_event

NOW = 1_700_000_000.0


class Driver:
    def __init__(self, config: EmulatorConfig | None = None, responder: Responder | None = None,
                 kind: str = "realtime", defaults: dict[str, Any] | None = None, open_: bool = True) -> None:
        self.config = config or EmulatorConfig(speed=0)
        self.session = Session(config=self.config, responder=responder or EchoResponder(), ids=IdFactory(1),
                               now=NOW, kind=kind, model="gpt-realtime", defaults=defaults)
        self.timers: dict[str, float] = {}
        self.closes: list[Close] = []
        self.streams: list[Generator[Step, Any, None]] = []
        self.mcp_requests: list[McpRequest] = []
        """MCP requests the session asked for (this driver does no I/O: tests answer them)."""
        self.created: list[dict[str, Any]] = self.run(self.session.open(NOW)) if open_ else []

    def run(self, actions: list[Action], *, drain_streams: bool = True) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for act in actions:
            if isinstance(act, Send):
                validate_server_event(act.event)
                out.append(act.event)
            elif isinstance(act, Close):
                self.closes.append(act)
            elif isinstance(act, SetTimer):
                self.timers[act.name] = act.delay
            elif isinstance(act, CancelTimer):
                self.timers.pop(act.name, None)
            elif isinstance(act, StartStream):
                if drain_streams:
                    out.extend(self.pull(act.stream))
                else:
                    self.streams.append(act.stream)
            elif isinstance(act, Offload):
                result = act.fn()
                if act.then is not None:
                    out.extend(self.run(act.then(result), drain_streams=drain_streams))
            elif isinstance(act, McpRequest):
                self.mcp_requests.append(act)
        return out

    def pull(self, stream: Generator[Step, Any, None], limit: int | None = None) -> list[dict[str, Any]]:
        """Pull steps (all, or `limit` action steps) and return their events. Offload steps are
        run in place; a stream step asking for MCP I/O stops the pull (it is kept in
        `mcp_requests`; nothing answers it here)."""
        out: list[dict[str, Any]] = []
        n = 0
        reply: Any = None
        while True:
            try:
                step = stream.send(reply)
            except StopIteration:
                break
            reply = None
            if isinstance(step, float):
                continue
            if isinstance(step, Offload):
                reply = step.fn()
                continue
            if isinstance(step, McpRequest):
                self.mcp_requests.append(step)
                break
            out.extend(self.run(step))
            n += 1
            if limit is not None and n >= limit:
                break
        return out

    def send(self, event: dict[str, Any] | str, *, drain_streams: bool = True) -> list[dict[str, Any]]:
        frame = event if isinstance(event, str) else json.dumps(event)
        return self.run(self.session.receive(frame, NOW), drain_streams=drain_streams)

    def fire(self, name: str) -> list[dict[str, Any]]:
        self.timers.pop(name, None)
        return self.run(self.session.timer_fired(name, NOW))


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]
