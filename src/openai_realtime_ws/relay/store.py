"""Where the relay keeps per-principal usage: live sessions (leases with a time to live) and
counters in fixed windows. :class:`MemoryStore` for one process; :class:`RedisStore` for many
workers and hosts sharing one Redis. The rules that read these numbers are in
:mod:`openai_realtime_ws.core.relay_policy`; a store only counts.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["LimitStore", "MemoryStore", "RedisStore"]


class LimitStore(Protocol):
    """What the relay needs from a store (all methods are coroutines; times are wall-clock
    seconds, so that workers on several hosts agree)."""

    async def acquire_session(self, principal: str, session_id: str, limit: int | None,
                              ttl: float) -> bool:
        """Register a live session; ``False`` when ``principal`` already has ``limit`` live ones
        (sessions whose lease expired, from a crashed worker, do not count)."""
        ...

    async def refresh_session(self, principal: str, session_id: str, ttl: float) -> None:
        """Extend a live session's lease by ``ttl`` seconds from now."""
        ...

    async def release_session(self, principal: str, session_id: str) -> None:
        """Forget a session (its lease no longer counts)."""
        ...

    async def add(self, principal: str, deltas: Mapping[str, float],
                  ttls: Mapping[str, float]) -> dict[str, float]:
        """Add ``deltas`` to the principal's counters (each key expires ``ttls[key]`` seconds
        after its creation) and return the new totals of those keys."""
        ...

    async def close(self) -> None:
        """Release what the store holds (connections, memory)."""
        ...


class MemoryStore:
    """A :class:`LimitStore` in this process's memory (the default: one worker)."""

    def __init__(self) -> None:
        self._sessions: dict[str, dict[str, float]] = {}
        self._counters: dict[tuple[str, str], tuple[float, float]] = {}

    async def acquire_session(self, principal: str, session_id: str, limit: int | None,
                              ttl: float) -> bool:
        """Register a live session; ``False`` when the principal is at its limit."""
        now = time.time()
        live = {s: t for s, t in self._sessions.get(principal, {}).items() if t > now}
        if limit is not None and len(live) >= limit:
            self._sessions[principal] = live
            return False
        live[session_id] = now + ttl
        self._sessions[principal] = live
        return True

    async def refresh_session(self, principal: str, session_id: str, ttl: float) -> None:
        """Extend a live session's lease by ``ttl`` seconds from now."""
        sessions = self._sessions.get(principal)
        if sessions is not None and session_id in sessions:
            sessions[session_id] = time.time() + ttl

    async def release_session(self, principal: str, session_id: str) -> None:
        """Forget a session (its lease no longer counts)."""
        sessions = self._sessions.get(principal)
        if sessions is not None:
            sessions.pop(session_id, None)
            if not sessions:
                del self._sessions[principal]

    async def add(self, principal: str, deltas: Mapping[str, float],
                  ttls: Mapping[str, float]) -> dict[str, float]:
        """Add ``deltas`` to the principal's counters; return their new totals."""
        now = time.time()
        if len(self._counters) > 10_000:  # drop expired windows now and then
            self._counters = {k: v for k, v in self._counters.items() if v[1] > now}
        out: dict[str, float] = {}
        for key, delta in deltas.items():
            value, expires = self._counters.get((principal, key), (0.0, 0.0))
            if expires <= now:
                value, expires = 0.0, now + ttls.get(key, 60.0)
            value += delta
            self._counters[(principal, key)] = (value, expires)
            out[key] = value
        return out

    async def close(self) -> None:
        """Release what the store holds (connections, memory)."""
        self._sessions.clear()
        self._counters.clear()


# KEYS[1] = the principal's session set; ARGV = now, ttl, limit (0 = none), session id.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local limit = tonumber(ARGV[3])
if limit > 0 and redis.call('ZCARD', KEYS[1]) >= limit then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1] + ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(ARGV[2]) + 1)
return 1
"""
# KEYS = counter keys; ARGV = deltas then ttls (ms), in KEYS order. Returns the totals as strings.
_ADD = """
local out = {}
local n = #KEYS
for i = 1, n do
  local v = redis.call('INCRBYFLOAT', KEYS[i], ARGV[i])
  if redis.call('PTTL', KEYS[i]) < 0 then redis.call('PEXPIRE', KEYS[i], ARGV[n + i]) end
  out[i] = v
end
return out
"""


class RedisStore:
    """A :class:`LimitStore` in Redis, shared by every worker and host that points at it.

    Each operation is one round trip (a Lua script, atomic in Redis). Keys start with
    ``prefix`` (default ``rtrelay:``): ``<prefix>s:<principal>`` is a sorted set of live
    session ids scored by lease expiry; ``<prefix>c:<principal>:<window key>`` are counters.
    Needs the ``redis`` package (``pip install 'openai-realtime-ws[relay]'``).
    """

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *, prefix: str = "rtrelay:",
                 client: Any = None) -> None:
        if client is None:
            try:
                import redis.asyncio as aioredis
            except ImportError as exc:  # pragma: no cover - the relay extra installs it
                raise RuntimeError("RedisStore needs the `redis` package: "
                                   "pip install 'openai-realtime-ws[relay]'") from exc
            client = aioredis.Redis.from_url(url)
        self._redis = client
        self._prefix = prefix
        self._acquire = client.register_script(_ACQUIRE)
        self._add = client.register_script(_ADD)

    def _sessions_key(self, principal: str) -> str:
        return f"{self._prefix}s:{principal}"

    async def acquire_session(self, principal: str, session_id: str, limit: int | None,
                              ttl: float) -> bool:
        """Register a live session; ``False`` when the principal is at its limit."""
        result = await self._acquire(keys=[self._sessions_key(principal)],
                                     args=[time.time(), ttl, limit or 0, session_id])
        return bool(int(result))

    async def refresh_session(self, principal: str, session_id: str, ttl: float) -> None:
        """Extend a live session's lease by ``ttl`` seconds from now."""
        await self._redis.zadd(self._sessions_key(principal), {session_id: time.time() + ttl},
                               xx=True)

    async def release_session(self, principal: str, session_id: str) -> None:
        """Forget a session (its lease no longer counts)."""
        await self._redis.zrem(self._sessions_key(principal), session_id)

    async def add(self, principal: str, deltas: Mapping[str, float],
                  ttls: Mapping[str, float]) -> dict[str, float]:
        """Add ``deltas`` to the principal's counters; return their new totals."""
        names = list(deltas)
        keys = [f"{self._prefix}c:{principal}:{name}" for name in names]
        args: list[float | int] = [float(deltas[n]) for n in names]
        args += [max(1, int(ttls.get(n, 60.0) * 1000)) for n in names]
        values = await self._add(keys=keys, args=args)
        return {name: float(value) for name, value in zip(names, values, strict=True)}

    async def close(self) -> None:
        """Release what the store holds (connections, memory)."""
        await self._redis.aclose()
