"""The run-time bodies of ``on``/``once``/``off``/``wait_for``, shared by both clients.

Owns: the decorator form of ``on``/``once`` and the delegation to the client's hooks, written
once. A client implements three hooks: ``_add_handler(type, handler, once)``,
``_remove_handler(type, handler)`` and ``_wait_for_impl(type, timeout)`` (a coroutine function
in the asyncio client). Type checkers do not read these signatures: they see the generated
overloads of :mod:`._emitter` (``scripts/gen_types.py``), which subclass these classes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["AsyncWaitForBase", "EmitterBase", "SyncWaitForBase"]

Handler = Callable[[Any], object]


class EmitterBase:
    """``on``/``once``/``off``; the client implements ``_add_handler``/``_remove_handler``."""

    def _add_handler(self, type: str, handler: Handler, once: bool) -> None:
        raise NotImplementedError

    def _remove_handler(self, type: str, handler: Handler | None) -> None:
        raise NotImplementedError

    def _register(self, type: str, handler: Handler | None, once: bool) -> Any:
        if handler is None:

            def decorator(func: Handler) -> Handler:
                self._add_handler(type, func, once)
                return func

            return decorator
        self._add_handler(type, handler, once)
        return handler

    # (``handler: Any``: the generated overloads in _emitter.py narrow it per event type)
    def on(self, type: str, handler: Any = None) -> Any:
        """Register ``handler`` for ``type``; without a handler, return a decorator.

        ``type`` is a server event type, ``"event"`` (every server event), ``"error"``
        (exceptions: API errors, malformed frames, transport failures, handlers that raised),
        ``"frame"`` (each server message's text), ``"reconnecting"`` or ``"reconnected"``."""
        return self._register(type, handler, False)

    def once(self, type: str, handler: Any = None) -> Any:
        """Like :meth:`on`, for one call."""
        return self._register(type, handler, True)

    def off(self, type: str, handler: Handler | None = None) -> None:
        """Remove ``handler`` (or every handler when ``None``) for ``type``."""
        self._remove_handler(type, handler)


class AsyncWaitForBase:
    """``await wait_for(type)``; the client implements ``async _wait_for_impl``."""

    async def _wait_for_impl(self, type: str, timeout: float | None) -> Any:
        raise NotImplementedError

    async def wait_for(self, type: str, timeout: float | None = None) -> Any:
        """Wait for the next server event of ``type`` (``timeout`` in seconds).
        ``wait_for("error")`` returns the ``ErrorEvent``, not an exception."""
        return await self._wait_for_impl(type, timeout)


class SyncWaitForBase:
    """``wait_for(type)``; the client implements ``_wait_for_impl``."""

    def _wait_for_impl(self, type: str, timeout: float | None) -> Any:
        raise NotImplementedError

    def wait_for(self, type: str, timeout: float | None = None) -> Any:
        """Wait for the next server event of ``type`` (``timeout`` in seconds).
        ``wait_for("error")`` returns the ``ErrorEvent``, not an exception."""
        return self._wait_for_impl(type, timeout)
