# What the Sans-I/O session asks its shell to do. The session never sends, sleeps or closes by
# itself: `Session.receive()` & co. return a list of these, the shell carries them out in order.
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeAlias


@dataclass(slots=True)
class Send:
    """Send one server event (a JSON object) as one text frame."""

    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Close:
    """Close the WebSocket with `code`/`reason` (after the sends that precede it)."""

    code: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SetTimer:
    """Call `Session.timer_fired(name, now)` after `delay` seconds (replaces a timer of that name)."""

    name: str
    delay: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    name: str


@dataclass(frozen=True, slots=True)
class StartStream:
    """Drive `stream` concurrently with everything else. The stream yields Steps:

    * a float: "do not pull the next step before `offset` seconds after the stream started"
      (the pacing; a shell sleeps here, and this is where a cancel can land);
    * a list of Actions: carry them out now, in order, without interleaving other sends.

    The stream stops by itself (StopIteration) once the session cancelled the response; the
    cancel's terminal events come from the cancelling call, not from the stream."""

    stream: Iterator[Step]
    response_id: str


Action: TypeAlias = Send | Close | SetTimer | CancelTimer | StartStream
Step: TypeAlias = float | list[Action]
