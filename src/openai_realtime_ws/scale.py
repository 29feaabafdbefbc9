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
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from .core.errors import RealtimeConfigError

__all__ = ["run_in_processes", "shard"]

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
