"""The blocking client: :class:`OpenAIRealtimeWS`, the asyncio client run on a private loop.

Nothing here knows the protocol: each instance owns one event-loop thread on which an
:class:`~openai_realtime_ws.aio.AsyncOpenAIRealtimeWS` lives, and every method is a blocking call
into it. So the blocking client has exactly the asyncio client's behaviour (validation, dispatch
order, bounded buffers, errors), written once.

Threading rules (documented in docs/client.md):

* Handlers run on the client's loop thread, in arrival order (coroutine handlers are awaited
  there too). Keep them short, or hand work to your own thread.
* Dispatch to handlers starts at the first ``send``, ``wait_for``, iteration step, ``start()`` or
  ``close``, so handlers registered right after ``create()`` see every event, ``session.created``
  included.
* ``send`` validates in the calling thread (a bad event raises there) and is queued to the loop in
  call order.
"""

from __future__ import annotations

import asyncio
import signal
import ssl as ssl_module
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from concurrent.futures import Future
from types import TracebackType
from typing import Any, Self, TypeVar

from ..aio import secrets as _secrets
from ..aio.client import AsyncOpenAIRealtimeWS, CredentialSource, logger
from ..core.errors import OpenAIRealtimeError
from ..core.handshake import RealtimeTarget
from ..types import AnyServerEvent, ClientEventBase
from ..types._emitter import SyncWaitForMixin, TypedEmitterMixin

__all__ = ["OpenAIRealtimeWS", "create_client_secret_sync"]


def create_client_secret_sync(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Blocking :func:`openai_realtime_ws.create_client_secret` (same arguments); runs its own
    event loop, so call it from code that is not already inside one."""
    return asyncio.run(_secrets.create_client_secret(*args, **kwargs))

_T = TypeVar("_T")


class _LoopThread:
    """An event loop running forever in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run, name="openai-realtime-ws", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        # Ctrl-C belongs to the caller's (main) thread: keep SIGINT off this one, so that a
        # blocking call in the main thread is interrupted promptly
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro: Coroutine[Any, Any, _T], timeout: float | None = None) -> _T:
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError(
                "a blocking OpenAIRealtimeWS method was called from one of its own handlers; "
                "handlers run on the client's loop thread: use send() (non-blocking) there"
            )
        future: Future[_T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()
            raise

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=10)
            if not self._thread.is_alive():
                self.loop.close()


def _send_quietly(inner: AsyncOpenAIRealtimeWS, data: bytes, droppable: bool) -> None:
    try:
        inner._send_bytes(data, droppable=droppable)
    except OpenAIRealtimeError as exc:
        logger.debug("send after close: %s", exc.message)


class OpenAIRealtimeWS(TypedEmitterMixin, SyncWaitForMixin):
    """One Realtime session over one WebSocket, for blocking code.

    Same methods as :class:`~openai_realtime_ws.AsyncOpenAIRealtimeWS`, without ``await``.
    """

    def __init__(self, runner: _LoopThread, inner: AsyncOpenAIRealtimeWS) -> None:
        self._runner = runner
        self._inner = inner
        self._closed_by_user = False
        self._send_mark = 0  # the inner client's delivery sequence at the last send()

    # ------------------------------------------------------------------ factories

    @classmethod
    def _open(cls, factory: Callable[[], Awaitable[AsyncOpenAIRealtimeWS]]) -> Self:
        runner = _LoopThread()

        async def opened() -> AsyncOpenAIRealtimeWS:
            inner = await factory()
            # factory scheduled the release for asyncio callers; a blocking caller's first
            # blocking call releases instead (see the module comment)
            inner._release_on_yield = False
            inner._track_last = True  # for the race-free send(); wait_for()
            return inner

        try:
            inner = runner.call(opened())
        except BaseException:
            runner.stop()
            raise
        return cls(runner, inner)

    @classmethod
    def create(
        cls,
        client: object | None = None,
        *,
        model: str | None = None,
        call_id: str | None = None,
        intent: str | None = None,
        url_builder: Callable[[Any, RealtimeTarget], str] | None = None,
        api_key: CredentialSource = None,
        base_url: str | None = None,
        headers: Mapping[str, str] | None = None,
        ssl: ssl_module.SSLContext | bool | None = None,
        organization: str | None = None,
        project: str | None = None,
        **options: Any,
    ) -> Self:
        """Open a Realtime session; see :meth:`AsyncOpenAIRealtimeWS.create`."""
        return cls._open(
            lambda: AsyncOpenAIRealtimeWS.create(
                client,
                model=model,
                call_id=call_id,
                intent=intent,
                url_builder=url_builder,
                api_key=api_key,
                base_url=base_url,
                headers=headers,
                ssl=ssl,
                organization=organization,
                project=project,
                **options,
            )
        )

    @classmethod
    def azure(
        cls,
        client: object | None = None,
        *,
        endpoint: str | None = None,
        api_key: str | None = None,
        azure_ad_token_provider: Callable[[], str | Awaitable[str]] | None = None,
        deployment: str | None = None,
        call_id: str | None = None,
        intent: str | None = None,
        url_builder: Callable[[Any, RealtimeTarget], str] | None = None,
        headers: Mapping[str, str] | None = None,
        ssl: ssl_module.SSLContext | bool | None = None,
        **options: Any,
    ) -> Self:
        """Open an Azure OpenAI Realtime session; see :meth:`AsyncOpenAIRealtimeWS.azure`."""
        return cls._open(
            lambda: AsyncOpenAIRealtimeWS.azure(
                client,
                endpoint=endpoint,
                api_key=api_key,
                azure_ad_token_provider=azure_ad_token_provider,
                deployment=deployment,
                call_id=call_id,
                intent=intent,
                url_builder=url_builder,
                headers=headers,
                ssl=ssl,
                **options,
            )
        )

    # ------------------------------------------------------------------ properties

    @property
    def url(self) -> str:
        return self._inner.url

    @property
    def socket(self) -> Any:
        """The underlying picows transport (owned by the client's loop thread)."""
        return self._inner.socket

    @property
    def closed(self) -> bool:
        return self._inner.closed

    @property
    def close_code(self) -> int | None:
        return self._inner.close_code

    @property
    def close_reason(self) -> str:
        return self._inner.close_reason

    @property
    def session(self) -> Any:
        return self._inner.session

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the handlers run on."""
        return self._runner.loop

    def __repr__(self) -> str:
        return repr(self._inner).replace(type(self._inner).__name__, type(self).__name__, 1)

    # ------------------------------------------------------------------ handlers

    def _add_handler(self, type: str, handler: Callable[[Any], object], once: bool) -> None:
        self._inner._add_handler(type, handler, once)

    def _remove_handler(self, type: str, handler: Callable[[Any], object] | None) -> None:
        self._inner._remove_handler(type, handler)

    def tool(
        self, name: str | None = None, *, description: str = "", parameters: Any = None
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a tool (see :meth:`AsyncOpenAIRealtimeWS.tool`); plain functions run in a
        worker thread, never on the loop thread."""
        return self._inner.tool(name, description=description, parameters=parameters)

    def update_tools(self, **session: Any) -> None:
        inner = self._inner
        self._submit_event(inner._tools.session_update(getattr(inner.session, "type", None), **session))

    def start(self) -> None:
        """Start dispatching to handlers now (otherwise the first blocking call does)."""
        self._runner.loop.call_soon_threadsafe(self._inner._release)

    # ------------------------------------------------------------------ I/O

    def send(self, event: Mapping[str, Any] | ClientEventBase) -> None:
        """Validate here (a bad event raises in this thread), then send in call order."""
        self._submit_event(event)

    def _submit_event(self, event: Mapping[str, Any] | ClientEventBase) -> None:
        data = self._inner._encoder.encode(event)
        etype = event.type if isinstance(event, ClientEventBase) else event["type"]
        self._submit(data, etype == "input_audio_buffer.append")

    def send_raw(self, data: str | bytes) -> None:
        self._submit(data.encode() if isinstance(data, str) else data, False)

    def send_audio(self, pcm: bytes, *, event_id: str | None = None) -> None:
        self._submit(self._inner._encoder.encode_audio(pcm, event_id), True)

    def _submit(self, data: bytes, droppable: bool) -> None:
        inner = self._inner
        if inner.closed:
            raise inner._closed_error()
        self._send_mark = inner._seq

        # queued to the loop in call order without waiting; a connection that closed meanwhile
        # is reported by the next call (its unsent events are on that ConnectionClosedError)
        self._runner.loop.call_soon_threadsafe(_send_quietly, inner, data, droppable)

    @property
    def outbound_bytes(self) -> int:
        return self._inner.outbound_bytes

    def drain(self, timeout: float | None = None) -> None:
        """Block until every queued client event has been handed to the socket."""
        self._runner.call(self._inner.drain(), timeout)

    def __iter__(self) -> Iterator[AnyServerEvent]:
        self._inner._start_iterating()
        return self

    def __next__(self) -> AnyServerEvent:
        inner = self._inner
        handoff: list[AnyServerEvent] = []

        async def step() -> AnyServerEvent:
            item = await inner.__anext__()
            handoff.append(item)  # in the same loop step as the pop: no await in between
            return item

        try:
            return self._runner.call(step())
        except StopAsyncIteration:
            raise StopIteration from None
        except BaseException:
            # interrupted (Ctrl-C, timeout) after the loop took an event: put it back in front,
            # so that the next iteration step returns it and no event is lost
            def give_back() -> None:
                while handoff:
                    inner._buffer.appendleft(handoff.pop())

            if not self._runner.loop.is_closed():
                self._runner.loop.call_soon_threadsafe(give_back)
            raise

    def _wait_for_impl(self, type: str, timeout: float | None) -> Any:
        # events delivered after the last send() count: its reply may already be in
        return self._runner.call(self._inner._wait_for_impl(type, timeout, self._send_mark))

    def close(self, code: int = 1000, reason: str = "OK") -> None:
        """Close the session and stop the loop thread; raises a pending unhandled error."""
        if self._runner.loop.is_closed():
            return
        try:
            self._runner.call(self._inner.close(code, reason))
        finally:
            self._runner.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
        else:
            try:
                self.close()
            except Exception:
                pass

    def __del__(self) -> None:
        runner = getattr(self, "_runner", None)
        if runner is not None and not runner.loop.is_closed() and not self._inner.closed:
            try:
                runner.loop.call_soon_threadsafe(
                    lambda: asyncio.ensure_future(self._inner.close())
                )
            except RuntimeError:  # pragma: no cover - loop already stopping
                pass
