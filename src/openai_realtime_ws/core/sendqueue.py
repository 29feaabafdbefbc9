"""The outbound queue: client events waiting for a socket that can take them (no I/O here).

Used while the socket is connecting, reconnecting, or its write buffer is full. Bounded in bytes:
when full, the oldest ``input_audio_buffer.append`` events are dropped first (stale audio is
useless); control events never are, and if control events alone would overflow the bound,
:meth:`OutboundQueue.push` raises :class:`QueueFull` and queues nothing.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from .errors import QueueFull  # defined with the other errors; re-exported here

__all__ = ["OutboundQueue", "QueueFull", "Queued"]


@dataclass(slots=True, frozen=True)
class Queued:
    data: bytes
    droppable: bool  # an input_audio_buffer.append


class OutboundQueue:
    __slots__ = ("_items", "dropped", "max_bytes", "nbytes")

    def __init__(self, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.dropped = 0  # audio events dropped since creation
        self._items: deque[Queued] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def push(self, data: bytes, *, droppable: bool) -> int:
        """Queue ``data``; returns how many audio events were dropped to make room."""
        size = len(data)
        if self.nbytes + size <= self.max_bytes:
            self._items.append(Queued(data, droppable))
            self.nbytes += size
            return 0
        control = sum(len(q.data) for q in self._items if not q.droppable)
        if droppable:
            if control + size > self.max_bytes:
                # no room even without the other audio: this (newest) chunk is the one dropped
                self.dropped += 1
                return 1
        elif control + size > self.max_bytes:
            raise QueueFull(
                f"outbound queue full: {len(self._items)} events, {self.nbytes} bytes queued, "
                f"limit {self.max_bytes} bytes of control events"
            )
        dropped = 0
        kept: deque[Queued] = deque()
        need = self.nbytes + size - self.max_bytes
        for q in self._items:
            if need > 0 and q.droppable:
                need -= len(q.data)
                self.nbytes -= len(q.data)
                dropped += 1
            else:
                kept.append(q)
        self._items = kept
        self._items.append(Queued(data, droppable))
        self.nbytes += size
        self.dropped += dropped
        return dropped

    def popleft(self) -> Queued:
        q = self._items.popleft()
        self.nbytes -= len(q.data)
        return q

    def drain(self) -> list[Queued]:
        items = list(self._items)
        self._items.clear()
        self.nbytes = 0
        return items
