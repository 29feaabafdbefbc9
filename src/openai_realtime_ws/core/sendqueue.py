"""The outbound queue: client events waiting for a socket that can take them (no I/O here).

Used while the socket is connecting, reconnecting, or its write buffer is full. Bounded in bytes:
when full, the oldest ``input_audio_buffer.append`` events are dropped first (stale audio is
useless); control events never are, and if control events alone would overflow the bound,
:meth:`OutboundQueue.push` raises :class:`QueueFull` and queues nothing.

Every operation is O(1) (amortised): the audio events are also linked in a second queue in the
same order, so the oldest one is found without a scan; a dropped event leaves an empty cell in
the main queue (its bytes are released at once), skipped by :meth:`OutboundQueue.popleft` and
swept out when empty cells outnumber live ones.

Which events may be dropped is decided here, once (:func:`is_droppable`), for every shell: the
clients, the relay and the bridges.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final

from .errors import QueueFull  # defined with the other errors; re-exported here

__all__ = ["DROPPABLE_TYPES", "OutboundQueue", "QueueFull", "Queued", "is_droppable"]

#: Client event types that may be dropped, oldest first, when the queue is full: stale audio.
DROPPABLE_TYPES: Final = frozenset({"input_audio_buffer.append"})


def is_droppable(event_type: str) -> bool:
    """Whether a queued client event of ``event_type`` may be dropped under pressure (audio
    appends); control events never are."""
    return event_type in DROPPABLE_TYPES


@dataclass(slots=True, frozen=True)
class Queued:
    data: bytes
    droppable: bool  # an input_audio_buffer.append


class _Cell:
    """A place in the main queue; ``q`` is ``None`` once its audio event was dropped."""

    __slots__ = ("q",)

    def __init__(self, q: Queued | None) -> None:
        self.q = q


class OutboundQueue:
    __slots__ = ("_audio", "_control_bytes", "_dead", "_items", "dropped", "max_bytes", "nbytes")

    def __init__(self, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.dropped = 0  # audio events dropped since creation
        self._control_bytes = 0  # bytes of the queued events that are never dropped
        self._items: deque[_Cell] = deque()  # every event in order (and empty cells)
        self._audio: deque[_Cell] = deque()  # the live audio events, in the same order
        self._dead = 0  # empty cells in _items

    def __len__(self) -> int:
        return len(self._items) - self._dead

    def push(self, data: bytes, *, droppable: bool) -> int:
        """Queue ``data``; returns how many audio events were dropped to make room."""
        size = len(data)
        if self.nbytes + size <= self.max_bytes:
            self._append(data, droppable, size)
            return 0
        if self._control_bytes + size > self.max_bytes:
            if droppable:
                # no room even without the other audio: this (newest) chunk is the one dropped
                self.dropped += 1
                return 1
            raise QueueFull(
                f"outbound queue full: {len(self)} events, {self.nbytes} bytes queued, "
                f"limit {self.max_bytes} bytes of control events"
            )
        dropped = 0
        audio = self._audio
        while self.nbytes + size > self.max_bytes:  # the oldest audio first
            cell = audio.popleft()
            q = cell.q
            assert q is not None
            cell.q = None
            self.nbytes -= len(q.data)
            self._dead += 1
            dropped += 1
        self.dropped += dropped
        self._append(data, droppable, size)
        if self._dead > 32 and self._dead * 2 > len(self._items):
            self._items = deque(c for c in self._items if c.q is not None)
            self._dead = 0
        return dropped

    def _append(self, data: bytes, droppable: bool, size: int) -> None:
        cell = _Cell(Queued(data, droppable))
        self._items.append(cell)
        if droppable:
            self._audio.append(cell)
        else:
            self._control_bytes += size
        self.nbytes += size

    def popleft(self) -> Queued:
        """The oldest queued event (``IndexError`` when there is none)."""
        items = self._items
        while True:
            q = items.popleft().q
            if q is not None:
                break
            self._dead -= 1
        if q.droppable:
            self._audio.popleft()  # the oldest live audio event is this one
        else:
            self._control_bytes -= len(q.data)
        self.nbytes -= len(q.data)
        return q

    def drain(self) -> list[Queued]:
        items = [c.q for c in self._items if c.q is not None]
        self._items.clear()
        self._audio.clear()
        self._dead = 0
        self._control_bytes = 0
        self.nbytes = 0
        return items
