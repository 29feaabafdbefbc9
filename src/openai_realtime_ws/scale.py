"""Past one core: run many Realtime sessions in several processes, one event loop in each.

One asyncio loop runs on one core; a process that holds hundreds of live calls saturates it long
before memory runs out (see docs/benchmarks.md, "Many sessions"). :func:`run_in_processes` starts
``processes`` worker processes (``spawn``, so no loop, thread or socket is inherited), optionally
pins each to its own CPU, runs ``worker(index, count)`` under :func:`asyncio.run` in each, and
returns their results in index order. Which sessions a worker opens is the caller's choice:
:func:`shard` gives worker ``index`` its share of a list (calls, phone lines, tenants...), or a
relay's own workers can each accept their own connections.

``worker`` must be importable by the child (a module-level ``async def``), and its arguments and
result picklable; the child reads the same environment (``OPENAI_API_KEY``...).

Within one loop, :class:`Pacer` drives many periodic senders (a 20 ms audio pump per call) from
one timer instead of one task and one timer per session: the sessions are spread evenly over the
period, and each tick calls its share directly (bench/scale.py ``--pacer shared`` measures it).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from .core.errors import RealtimeConfigError

__all__ = ["Pacer", "run_in_processes", "shard"]

logger = logging.getLogger("openai_realtime_ws")

T = TypeVar("T")


def shard(items: Sequence[T], index: int, count: int) -> list[T]:
    """Worker ``index`` of ``count``'s share of ``items`` (every ``count``-th, from ``index``):
    the shares are disjoint, cover ``items`` and differ in size by one at most."""
    if count < 1 or not 0 <= index < count:
        raise RealtimeConfigError(f"shard: need 0 <= index < count, got index={index}, count={count}.")
    return list(items[index::count])


def _available_cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux: no pinning
        return []


def _child(
    worker: Callable[[int, int], Coroutine[Any, Any, T]], index: int, count: int, cpu: int | None
) -> T:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    return asyncio.run(worker(index, count))


def run_in_processes(
    worker: Callable[[int, int], Coroutine[Any, Any, T]],
    processes: int | None = None,
    *,
    pin: bool = True,
) -> list[T]:
    """Run ``await worker(index, processes)`` for ``index`` in ``range(processes)``, each in its
    own process and event loop, and return the results in index order.

    ``processes`` defaults to the CPUs this process may use. With ``pin`` (Linux), worker ``i``
    runs on the ``i``-th of those CPUs only (modulo their number). If a worker raises, the
    others are cancelled when they have not started, and that exception is raised here.
    """
    cpus = _available_cpus()
    if processes is None:
        processes = len(cpus) or os.cpu_count() or 1
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise RealtimeConfigError(f"`processes` must be an int >= 1, got {processes!r}.")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
        futures = [
            pool.submit(
                _child, worker, i, processes, cpus[i % len(cpus)] if pin and cpus else None
            )
            for i in range(processes)
        ]
        try:
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise


class Pacer:
    """Calls each added callback once per ``period`` seconds, all from one timer chain.

    The period is cut into ``slots`` ticks; callback ``k`` (in order of :meth:`add`) runs in slot
    ``k % slots``, so the calls are spread evenly over the period. A callback gets the time
    (``loop.time()``) its call was due. Ticks missed because the loop was busy are all run when
    it comes back, so no callback loses a period. A callback that raises is removed and the error
    logged (e.g. ``send_audio`` on a closed session).

    ``with Pacer(0.02) as pacer: pacer.add(lambda due: rt.send_audio(next_chunk()))`` inside a
    running loop; :meth:`close` (or leaving the ``with``) stops it.
    """

    def __init__(self, period: float = 0.02, slots: int = 20) -> None:
        if not period > 0 or isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
            raise RealtimeConfigError(
                f"Pacer needs period > 0 and slots >= 1, got period={period!r}, slots={slots!r}."
            )
        self.period = period
        self.slots = slots
        self._slots: list[dict[int, Callable[[float], object]]] = [{} for _ in range(slots)]
        self._added = 0
        self._loop = asyncio.get_running_loop()
        self._start = self._loop.time()
        self._tick = 0  # the next tick to run
        self._closed = False
        self._handle: asyncio.TimerHandle | None = self._loop.call_at(self._start, self._run)

    def __len__(self) -> int:
        return sum(len(s) for s in self._slots)

    def add(self, callback: Callable[[float], object]) -> Callable[[], None]:
        """Call ``callback(due)`` every period from the next tick of its slot; returns a
        function that removes it."""
        key = self._added
        slot = self._slots[key % self.slots]
        self._added += 1
        slot[key] = callback

        def remove() -> None:
            slot.pop(key, None)

        return remove

    def close(self) -> None:
        """Stop ticking and forget every callback (idempotent)."""
        self._closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        for slot in self._slots:
            slot.clear()

    def __enter__(self) -> Pacer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        loop = self._loop
        step = self.period / self.slots
        now = loop.time()
        while True:
            due = self._start + self._tick * step
            if due > now:
                break
            slot = self._slots[self._tick % self.slots]
            self._tick += 1
            for key, callback in list(slot.items()):
                try:
                    callback(due)
                except Exception:
                    slot.pop(key, None)
                    logger.warning("Pacer: a callback raised; it was removed", exc_info=True)
        if not self._closed:
            self._handle = loop.call_at(due, self._run)
