# Fault injection, as data (no I/O): what can go wrong on a connection and when. The server
# shell asks a `FaultRunner` before the handshake, before each event it sends and after each
# event it sent, and carries out what the runner answers.
#
# When a fault fires: `after=N` counts sent server events (N=0: right after the upgrade, before
# `session.created`); with `after_type="x"` it counts only events of type x (default 1: right
# after the first one). Each fault fires once per connection, except the DelayEvents/Stall modes.
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias


@dataclass(frozen=True, slots=True)
class RefuseHandshake:
    """Answer the upgrade request with plain HTTP `status` (e.g. 500, 401, 429, 503)."""

    status: int = 500
    body: str | None = None
    """Response body; default an OpenAI-style JSON error."""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Redirect:
    """Answer the upgrade request with a redirect. A relative `location` is resolved against the
    emulator's ws:// (wss://) origin; the default target records every hit in `Emulator.redirect_hits` (with whether any
    credential arrived there) and then serves a normal session."""

    location: str = "/redirect-target/v1/realtime"
    status: int = 302
    keep_query: bool = True


@dataclass(frozen=True, slots=True)
class DelayHandshake:
    """Wait `seconds` before answering the upgrade request."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Drop:
    """Abort the TCP connection (no close frame; the client sees 1006)."""

    after: int | None = None
    after_type: str | None = None


@dataclass(frozen=True, slots=True)
class CloseWith:
    """Close the WebSocket with `code` and `reason` (e.g. 1011 server error, 1012 restart, 1013)."""

    code: int = 1011
    reason: str = ""
    after: int | None = None
    after_type: str | None = None


MalformedKind: TypeAlias = Literal["not_json", "json_array", "no_type", "invalid_utf8", "unknown_type", "binary"]

MALFORMED_PAYLOADS: dict[str, bytes] = {
    "not_json": b"this is not json {",
    "json_array": b'[{"type":"session.updated"}]',
    "no_type": b'{"event_id":"event_malformed00000000000","hello":"world"}',
    "invalid_utf8": b'{"type":"error","x":"\xff\xfe"}',
    "unknown_type": b'{"type":"emulator.unknown_event","event_id":"event_unknown0000000000000"}',
    "binary": b'{"type":"session.updated"}',
}
"""What each SendMalformed kind puts on the wire (`binary` goes in a binary frame,
`invalid_utf8` in a text frame written raw to the transport)."""


@dataclass(frozen=True, slots=True)
class SendMalformed:
    """Send one bad frame, then carry on normally."""

    kind: MalformedKind = "not_json"
    after: int | None = None
    after_type: str | None = None


@dataclass(frozen=True, slots=True)
class DelayEvents:
    """Hold each server event (of `types`, or all) for `seconds` before sending it."""

    seconds: float
    types: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Stall:
    """From the trigger point on, send nothing more (the socket stays open; pings still answered)."""

    after: int | None = None
    after_type: str | None = None


@dataclass(frozen=True, slots=True)
class SendDTMF:
    """On a sideband connection (`?call_id=`): the caller presses `digits` (0-9, *, #, A-D), one
    `input_audio_buffer.dtmf_event_received` per digit (the SIP side, emulated). Ignored on a
    plain connection. `Emulator.inject_dtmf()` does the same on demand."""

    digits: str
    after: int | None = None
    after_type: str | None = None

    def __post_init__(self) -> None:
        if not self.digits or any(d not in "0123456789*#ABCD" for d in self.digits):
            raise ValueError(f"DTMF digits are 0-9, *, # and A-D; got {self.digits!r}")


Fault: TypeAlias = (RefuseHandshake | Redirect | DelayHandshake | Drop | CloseWith | SendMalformed | DelayEvents
                    | Stall | SendDTMF)
Triggered: TypeAlias = Drop | CloseWith | SendMalformed | Stall | SendDTMF


def _threshold(fault: Triggered) -> int:
    if fault.after is not None:
        return fault.after
    return 1 if fault.after_type is not None else 0


class FaultRunner:
    """Per-connection bookkeeping of which faults fire when (pure)."""

    def __init__(self, faults: Sequence[Fault] = ()) -> None:
        self.handshake: list[RefuseHandshake | Redirect | DelayHandshake] = []
        self._pending: list[Triggered] = []
        self._counts: list[int] = []
        self.delays: list[DelayEvents] = []
        self.stalled = False
        for f in faults:
            self.add(f)

    @property
    def idle(self) -> bool:
        """True when nothing can fire any more: the fast path skips the runner."""
        return not self._pending and not self.delays and not self.stalled

    def add(self, fault: Fault) -> None:
        if isinstance(fault, RefuseHandshake | Redirect | DelayHandshake):
            self.handshake.append(fault)
        elif isinstance(fault, DelayEvents):
            self.delays.append(fault)
        else:
            self._pending.append(fault)
            self._counts.append(0)

    def due_now(self) -> list[Triggered]:
        """Faults with a zero threshold (fire before any event is sent)."""
        out = [f for f in self._pending if _threshold(f) == 0 and f.after_type is None]
        keep = [(f, c) for f, c in zip(self._pending, self._counts, strict=True) if f not in out]
        self._pending = [f for f, _ in keep]
        self._counts = [c for _, c in keep]
        return self._mark(out)

    def delay_for(self, event_type: str | None) -> float:
        return sum(d.seconds for d in self.delays if d.types is None or event_type in d.types)

    def after_sent(self, event_type: str | None) -> list[Triggered]:
        fired: list[Triggered] = []
        keep_f: list[Triggered] = []
        keep_c: list[int] = []
        for f, c in zip(self._pending, self._counts, strict=True):
            if f.after_type is None or f.after_type == event_type:
                c += 1
            if c >= _threshold(f):
                fired.append(f)
            else:
                keep_f.append(f)
                keep_c.append(c)
        self._pending, self._counts = keep_f, keep_c
        return self._mark(fired)

    def _mark(self, fired: list[Triggered]) -> list[Triggered]:
        if any(isinstance(f, Stall) for f in fired):
            self.stalled = True
        return fired
