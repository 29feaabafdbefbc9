"""core.sendqueue: the O(1) outbound queue behaves exactly like the simple scanning queue it
replaced (a reference model below), under any sequence of pushes and pops (hypothesis)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openai_realtime_ws.core.sendqueue import OutboundQueue, Queued, QueueFull

from ..fuzz._settings import FUZZ


@dataclass
class Reference:
    """The previous implementation's rules, written plainly (O(n) per push)."""

    max_bytes: int
    items: list[Queued] = field(default_factory=list)
    dropped: int = 0

    @property
    def nbytes(self) -> int:
        return sum(len(q.data) for q in self.items)

    def push(self, data: bytes, droppable: bool) -> int:
        if self.nbytes + len(data) <= self.max_bytes:
            self.items.append(Queued(data, droppable))
            return 0
        control = sum(len(q.data) for q in self.items if not q.droppable)
        if control + len(data) > self.max_bytes:
            if droppable:
                self.dropped += 1
                return 1
            raise QueueFull("full")
        n = 0
        while self.nbytes + len(data) > self.max_bytes:
            oldest = next(i for i, q in enumerate(self.items) if q.droppable)
            del self.items[oldest]
            n += 1
        self.items.append(Queued(data, droppable))
        self.dropped += n
        return n


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.integers(1, 40), st.booleans()),
        st.tuples(st.just("pop"), st.just(0), st.just(False)),
        st.tuples(st.just("drain"), st.just(0), st.just(False)),
    ),
    max_size=300,
)


@FUZZ
@given(st.integers(1, 200), OPS)
def test_same_as_the_reference(max_bytes: int, ops: list[tuple[str, int, bool]]) -> None:
    q, ref = OutboundQueue(max_bytes), Reference(max_bytes)
    for n, (op, size, droppable) in enumerate(ops):
        if op == "push":
            data = n.to_bytes(4, "big") * size  # distinct payloads: order is checked
            try:
                expected: int | type[QueueFull] = ref.push(data, droppable)
            except QueueFull:
                expected = QueueFull
            if expected is QueueFull:
                with pytest.raises(QueueFull):
                    q.push(data, droppable=droppable)
            else:
                assert q.push(data, droppable=droppable) == expected
        elif op == "pop":
            if ref.items:
                assert q.popleft() == ref.items.pop(0)
            else:
                with pytest.raises(IndexError):
                    q.popleft()
        else:
            assert q.drain() == ref.items
            ref.items = []
        assert len(q) == len(ref.items) and q.nbytes == ref.nbytes and q.dropped == ref.dropped
        assert bool(q) == bool(ref.items)


def test_stalled_audio_keeps_newest_and_sweeps_dropped_cells() -> None:
    q = OutboundQueue(100)
    for i in range(10_000):
        q.push(i.to_bytes(4, "big") * 5, droppable=True)  # 20 bytes: 5 fit
    assert len(q) == 5 and q.dropped == 9_995
    assert len(q._items) <= 2 * len(q) + 33  # dropped cells do not accumulate
    assert [int.from_bytes(x.data[:4], "big") for x in q.drain()] == list(range(9_995, 10_000))
