"""What happened in a session, as records for telemetry (no I/O, no clock: the shell feeds times).

It owns the rules that turn a session's events into measured things, whatever backend shows
them (telemetry/otel.py makes spans and metric points of them):

* a **response** runs from ``response.created`` to ``response.done``; its first output is its
  first ``response.content_part.added`` (the server sends it right before the part's first
  delta); one that never finishes ends with the socket (a reconnect) or the session;
* a **tool call** runs from ``response.function_call_arguments.done`` to the server's
  ``conversation.item.added`` of the ``function_call_output`` with its ``call_id``;
* a **reconnect** (or a **rollover**: its ``close_reason`` is ``"rollover"``) runs from the first
  ``reconnecting`` to ``reconnected``; attempts in between are counted;
* a **turn** and an **interruption** are reported by the part that plays audio (``VoiceSession``'s
  ``turn`` and ``interrupted`` events: it knows what was heard); without one, a
  ``conversation.item.truncated`` is an interruption with its ``audio_end_ms`` as heard;
* an **error** is its code (the API's, else the error's class name).

Each fact method takes ``now`` (nanoseconds, any clock, the same for all calls) and returns the
records that became complete, in order. What is still open is bounded by what the server has
open (responses, tool calls) and ends at :meth:`SessionObserver.end`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .usage import TokenCounts

__all__ = [
    "ErrorRecord",
    "InterruptionRecord",
    "ReconnectRecord",
    "Record",
    "ResponseRecord",
    "SessionObserver",
    "ToolRecord",
    "TurnRecord",
]


# Records are plain slotted dataclasses, not frozen ones: a frozen one's __init__ sets each field
# through object.__setattr__ (~0.9 µs more for a ResponseRecord, and one is made per response).
@dataclass(slots=True)
class ResponseRecord:
    """A response: its times (ns), how it ended, its usage (``None`` without ``response.done``)."""

    response_id: str
    start: int
    end: int
    first_chunk: int | None
    status: str  # response.done's status, or "disconnected" / "closed" when it never finished
    tokens: TokenCounts | None
    error_code: str | None = None


@dataclass(slots=True)
class ToolRecord:
    call_id: str
    name: str
    response_id: str
    start: int
    end: int
    answered: bool  # False: the session ended first


@dataclass(slots=True)
class ReconnectRecord:
    kind: str  # "reconnect" or "rollover"
    close_code: int | None
    attempts: int
    start: int
    end: int
    succeeded: bool


@dataclass(slots=True)
class TurnRecord:
    """End of the user's speech to the reply's first audio (``end - start``)."""

    response_id: str | None
    start: int
    end: int


@dataclass(slots=True)
class InterruptionRecord:
    item_id: str | None
    response_id: str | None
    heard_ms: int
    received_ms: int | None
    at: int


@dataclass(slots=True)
class ErrorRecord:
    code: str
    at: int


Record = ResponseRecord | ToolRecord | ReconnectRecord | TurnRecord | InterruptionRecord | ErrorRecord


@dataclass(slots=True)
class _Open:
    start: int
    first_chunk: int | None = None


class SessionObserver:
    """The open responses, tool calls and reconnect of one session (see the module comment)."""

    __slots__ = ("_reconnect", "_responses", "_tools", "_voice")

    def __init__(self) -> None:
        self._responses: dict[str, _Open] = {}
        self._tools: dict[str, tuple[str, str, int]] = {}  # call_id -> (name, response_id, start)
        self._reconnect: tuple[str, int | None, int, int] | None = None  # kind, code, attempts, start
        self._voice = False

    # responses

    def response_created(self, response_id: str, now: int) -> list[Record]:
        self._responses[response_id] = _Open(now)
        return []

    def part_added(self, response_id: str, now: int) -> int | None:
        """The response's first output, if this is it: returns its delay (ns) since created."""
        open_ = self._responses.get(response_id)
        if open_ is None or open_.first_chunk is not None:
            return None
        open_.first_chunk = now
        return now - open_.start

    def response_done(self, response_id: str, status: str | None, tokens: TokenCounts | None,
                      error_code: str | None, now: int) -> list[Record]:
        open_ = self._responses.pop(response_id, None) or _Open(now)
        status = status or "completed"
        if status == "failed" and error_code is None:
            error_code = "failed"
        return [ResponseRecord(response_id, open_.start, now, open_.first_chunk, status, tokens,
                               error_code if status == "failed" else None)]

    def _abandon(self, status: str, now: int) -> list[Record]:
        out: list[Record] = [ResponseRecord(rid, o.start, now, o.first_chunk, status, None)
                             for rid, o in self._responses.items()]
        self._responses.clear()
        return out

    # tools

    def tool_call(self, call_id: str, name: str, response_id: str, now: int) -> list[Record]:
        self._tools[call_id] = (name, response_id, now)
        return []

    def item_added(self, item_type: str | None, call_id: str | None, now: int) -> list[Record]:
        if item_type != "function_call_output" or call_id is None:
            return []
        started = self._tools.pop(call_id, None)
        if started is None:
            return []
        name, response_id, start = started
        return [ToolRecord(call_id, name, response_id, start, now, True)]

    # reconnects

    def reconnecting(self, close_reason: str | None, close_code: int | None, now: int) -> list[Record]:
        if self._reconnect is not None:  # another attempt of the same reconnect
            kind, code, attempts, start = self._reconnect
            self._reconnect = (kind, code, attempts + 1, start)
            return []
        kind = "rollover" if close_reason == "rollover" else "reconnect"
        self._reconnect = (kind, close_code, 1, now)
        # a dropped socket's responses never finish (a rollover waits for them)
        return self._abandon("disconnected", now) if kind == "reconnect" else []

    def reconnected(self, payload: Mapping[str, Any] | None, now: int) -> list[Record]:
        if self._reconnect is None:
            rollover = bool(payload and payload.get("rollover"))
            self._reconnect = ("rollover" if rollover else "reconnect", None, 1, now)
        kind, code, attempts, start = self._reconnect
        self._reconnect = None
        return [ReconnectRecord(kind, code, attempts, start, now, True)]

    # what a player reports, and truncations

    def turn(self, response_id: str | None, latency_ms: float, now: int) -> list[Record]:
        return [TurnRecord(response_id, now - int(latency_ms * 1_000_000), now)]

    def interrupted(self, item_id: str | None, response_id: str | None, heard_ms: int,
                    received_ms: int | None, now: int) -> list[Record]:
        self._voice = True  # the player reports interruptions: truncations are its own
        return [InterruptionRecord(item_id, response_id, heard_ms, received_ms, now)]

    def truncated(self, item_id: str, audio_end_ms: int, now: int) -> list[Record]:
        if self._voice:
            return []
        return [InterruptionRecord(item_id, None, audio_end_ms, None, now)]

    # errors and the end

    def error(self, code: str | None, kind: str, now: int) -> list[Record]:
        return [ErrorRecord(code or kind, now)]

    def end(self, now: int) -> list[Record]:
        """The session ended: what was still open, ended now."""
        out = self._abandon("closed", now)
        out += [ToolRecord(call_id, name, rid, start, now, False)
                for call_id, (name, rid, start) in self._tools.items()]
        self._tools.clear()
        if self._reconnect is not None:
            kind, code, attempts, start = self._reconnect
            out.append(ReconnectRecord(kind, code, attempts, start, now, False))
            self._reconnect = None
        return out
