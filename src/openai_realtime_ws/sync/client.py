"""The blocking client: :class:`OpenAIRealtimeWS`, an asyncio client on a private loop thread.

Nothing here knows the protocol: each instance owns one event-loop thread on which an
:class:`~openai_realtime_ws.aio.AsyncOpenAIRealtimeWS` lives, and every method is a blocking call
into it through its public API (tests/sync/test_parity.py checks that no private member is
used). Of its public ``protocol`` (the Sans-I/O object) only calls that ask for no action are
made: a delivery hold, putting an event back, and reading the closed error once the loop has
ended. So the blocking client has exactly the asyncio client's behaviour (validation, delivery
order, bounded buffers, errors), written once.

Threading contract (docs/reliability.md, "Threads"):

* Every method may be called from any thread. Calls are carried out on the loop thread, one at
  a time, in the order they reach it; ``send`` returns once the event is written or queued, and
  raises there what the asyncio ``send`` raises (``InvalidClientEvent``, ``QueueFull``,
  ``ConnectionClosed``).
* Handlers run on the loop thread, in arrival order. From a handler, ``send`` works as usual,
  ``close`` schedules the close and returns, and the other blocking calls raise ``RuntimeError``.
* ``close()`` is idempotent and safe from any thread, concurrently too: the first call closes,
  the others wait for it and return. Threads blocked in ``wait_for`` or iteration are released
  (iteration ends, ``wait_for`` raises ``ConnectionClosed``).
* Iterating from several threads shares the events out: each event goes to exactly one of them.
* Delivery starts at the first ``send``, ``wait_for``, iteration step, ``start()`` or ``close``,
  so handlers registered right after ``create()`` see every event, ``session.created`` included.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import signal
import ssl as ssl_module
import threading
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar, Unpack, cast

from ..aio import secrets as _secrets
from ..aio.client import AsyncOpenAIRealtimeWS, CredentialSource
from ..core.ask import Reply
from ..core.connection import RealtimeProtocol
from ..core.handshake import RealtimeTarget
from ..core.usage import UsageTotals
from ..types import AnyServerEvent, ClientEventBase, ServerEvent
from ..types._emitter import SyncWaitForMixin, TypedEmitterMixin
from ..types.params import ResponseCreateParamsDict, SessionFieldsDict
from ..types.resources import (
    ConversationResource,
    InputAudioBufferResource,
    OutputAudioBufferResource,
    ResponseResource,
    SessionResource,
)

__all__ = ["OpenAIRealtimeWS", "create_client_secret_sync"]

_T = TypeVar("_T")


def create_client_secret_sync(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Blocking :func:`openai_realtime_ws.create_client_secret` (same arguments); runs its own
    event loop, so call it from code that is not already inside one."""
    return asyncio.run(_secrets.create_client_secret(*args, **kwargs))


class _LoopThread:
    """An event loop running forever in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="openai-realtime-ws", daemon=True)
        # re-entrant: a signal handler runs in the main thread between bytecodes, possibly while
        # that thread holds the lock (in _submit/_wait); a blocking call from it must not deadlock
        self._lock = threading.RLock()
        self._futures: set[concurrent.futures.Future[Any]] = set()  # callers waiting on the loop
        self._stopping = False  # stop() began: no new calls reach the loop (see stop())
        self._stopped = False
        self._thread.start()

    def _run(self) -> None:
        # Ctrl-C belongs to the caller's (main) thread: keep SIGINT off this one, so that a
        # blocking call in the main thread is interrupted promptly
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @property
    def here(self) -> bool:
        """Whether the calling thread is the loop thread."""
        return threading.current_thread() is self._thread

    def _refuse_here(self) -> None:
        if self.here:
            raise RuntimeError(
                "a blocking OpenAIRealtimeWS method was called from one of its own handlers; "
                "handlers run on the client's loop thread: use send() (non-blocking) there"
            )

    def call(self, coro: Coroutine[Any, Any, _T], timeout: float | None = None) -> _T:
        """Run ``coro`` on the loop and wait for its result (``CancelledError`` when the loop
        stopped before it could run)."""
        if self.here:
            coro.close()
            self._refuse_here()
        return self._wait(self._submit(coro), timeout)

    def _submit(self, coro: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        # under the lock, so that stop() sees every task a caller started before it began
        with self._lock:
            if self._stopping:
                coro.close()
                raise concurrent.futures.CancelledError
            try:
                return asyncio.run_coroutine_threadsafe(coro, self.loop)
            except RuntimeError:  # the loop is closed
                coro.close()
                raise concurrent.futures.CancelledError from None

    def join(self) -> bool:
        """Wait (from another thread) until a stop under way has ended the loop thread; whether
        it has, so that the loop's objects may be read from the calling thread."""
        if self.here:
            return False
        with self._lock:
            stopping = self._stopping
        if stopping:
            self._thread.join(timeout=15)
        return not self._thread.is_alive()

    def run(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run a plain function on the loop thread and wait for its result (directly when
        already there; ``CancelledError`` when the loop stopped before it could run)."""
        if self.here:
            return fn(*args)
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def step() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:
                    future.set_exception(exc)

        try:
            self.loop.call_soon_threadsafe(step)
        except RuntimeError:  # the loop is closed
            raise concurrent.futures.CancelledError from None
        return self._wait(future, None)

    def _wait(self, future: concurrent.futures.Future[_T], timeout: float | None) -> _T:
        # a future whose callback never runs (the loop stopped first) is cancelled by stop()
        with self._lock:
            if self._stopped:
                future.cancel()
            self._futures.add(future)
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()
            raise
        finally:
            with self._lock:
                self._futures.discard(future)

    def stop(self) -> None:
        """Let what runs on the loop finish (briefly), then stop the loop and the thread."""
        if self.loop.is_closed() or self.here:
            return

        async def settle() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if tasks:
                _, pending = await asyncio.wait(tasks, timeout=1.0)
                for task in pending:
                    task.cancel()
                if pending:
                    await asyncio.wait(pending, timeout=1.0)

        # From here on no caller starts a task on the loop (they get CancelledError), so every
        # task settle() waits for is one a caller started before: none is left pending when the
        # loop stops, and each caller gets its task's result (an iteration step that took an
        # event returns it). A step task started after settle() looked would stay pending.
        with self._lock:
            self._stopping = True
            settled = asyncio.run_coroutine_threadsafe(settle(), self.loop)
        try:
            settled.result(timeout=5)
        except BaseException:  # pragma: no cover - best effort
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        with self._lock:
            self._stopped = True
            for future in self._futures:
                future.cancel()  # (only those the loop never started)
        if not self._thread.is_alive():
            self.loop.close()


class OpenAIRealtimeWS(TypedEmitterMixin, SyncWaitForMixin):
    """One Realtime session over one WebSocket, for blocking code.

    Same methods and attributes as :class:`~openai_realtime_ws.AsyncOpenAIRealtimeWS`, without
    ``await``; see the module comment for the threading contract.
    """

    session: SessionResource
    """The session the server last confirmed (its fields: ``rt.session.instructions``; falsy
    before the first ``session.created``; ``rt.session.confirmed`` is the object itself), and
    ``rt.session.update(session=…)``."""
    conversation: ConversationResource
    """The default conversation as the server reported it (see core.conversation: iterate it,
    ``len``, ``get(item_id)``, ``active_response_id``), and ``rt.conversation.item.create(…)``,
    ``.truncate``, ``.delete``, ``.retrieve``."""
    response: ResponseResource
    """``rt.response.create(response=…)``, ``rt.response.cancel(…)``."""
    input_audio_buffer: InputAudioBufferResource
    """``rt.input_audio_buffer.append(audio=…)``, ``.commit()``, ``.clear()``."""
    output_audio_buffer: OutputAudioBufferResource
    """``rt.output_audio_buffer.clear()``."""

    def __init__(self, runner: _LoopThread, inner: AsyncOpenAIRealtimeWS) -> None:
        self._runner = runner
        self._inner = inner
        # the typed resources (types/resources.py): each event goes through send()
        self.session = SessionResource(self.send, lambda: inner.protocol.session)
        self.conversation = ConversationResource(self.send, lambda: inner.protocol.conversation)
        self.response = ResponseResource(self.send)
        self.input_audio_buffer = InputAudioBufferResource(self.send)
        self.output_audio_buffer = OutputAudioBufferResource(self.send)
        self._close_lock = threading.Lock()
        self._iter_lock = threading.Lock()  # iteration after the loop thread ended (_after_close)
        self._closing_task: asyncio.Future[None] | None = None  # close() called from a handler

    # ------------------------------------------------------------------ factories

    @classmethod
    def _open(cls, factory: Callable[[], Awaitable[AsyncOpenAIRealtimeWS]]) -> Self:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError(
                "OpenAIRealtimeWS (blocking) called inside a running event loop: use "
                "AsyncOpenAIRealtimeWS with await (or run the blocking client in a thread)"
            )
        runner = _LoopThread()

        async def opened() -> AsyncOpenAIRealtimeWS:
            inner = await factory()
            # delivery waits for this caller's first blocking call (see the module comment)
            inner.protocol.hold("blocking")
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
                client, model=model, call_id=call_id, intent=intent, url_builder=url_builder,
                api_key=api_key, base_url=base_url, headers=headers, ssl=ssl,
                organization=organization, project=project, **options,
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
                client, endpoint=endpoint, api_key=api_key,
                azure_ad_token_provider=azure_ad_token_provider, deployment=deployment,
                call_id=call_id, intent=intent, url_builder=url_builder, headers=headers, ssl=ssl,
                **options,
            )
        )

    # ------------------------------------------------------------------ properties

    @property
    def protocol(self) -> RealtimeProtocol:
        """The Sans-I/O protocol state (owned by the loop thread; read-only use)."""
        return self._inner.protocol

    @property
    def connection(self) -> RealtimeProtocol:
        """Deprecated: :attr:`protocol`."""
        warnings.warn(
            "the client's .connection is now .protocol (the Sans-I/O protocol object)",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._inner.protocol

    @property
    def url(self) -> str:
        """The socket URL (after redirects), with any credential-looking part redacted."""
        return self._inner.url

    @property
    def socket(self) -> Any:
        """The underlying picows transport (owned by the client's loop thread)."""
        return self._inner.socket

    @property
    def closed(self) -> bool:
        """Whether the session is closed for good."""
        return self._inner.closed

    @property
    def reconnecting(self) -> bool:
        """Whether the client is between two sockets (reconnect or rollover)."""
        return self._inner.reconnecting

    @property
    def close_code(self) -> int | None:
        """The close code, once closed."""
        return self._inner.close_code

    @property
    def close_reason(self) -> str:
        """The close frame's reason (credentials masked)."""
        return self._inner.close_reason

    @property
    def usage(self) -> UsageTotals:
        """Token usage summed from ``response.done`` (this session, across reconnects and
        rollovers); ``usage.estimate()`` prices it."""
        return self._inner.usage

    @property
    def reconnects(self) -> int:
        """How many times this session reconnected (rollovers included)."""
        return self._inner.reconnects

    @property
    def outbound_bytes(self) -> int:
        """Bytes of client events queued because the socket could not take them yet."""
        return self._inner.outbound_bytes

    @property
    def unsent(self) -> list[Any]:
        """Once closed: the client events that were queued and never written."""
        return self._inner.unsent

    @property
    def auto_respond(self) -> bool:
        """Send ``response.create`` once all tool calls of a response are answered."""
        return self._inner.auto_respond

    @auto_respond.setter
    def auto_respond(self, value: bool) -> None:
        self._inner.auto_respond = value

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the handlers run on."""
        return self._runner.loop

    def __repr__(self) -> str:
        return repr(self._inner).replace(type(self._inner).__name__, type(self).__name__, 1)

    # ------------------------------------------------------------------ handlers

    def _add_handler(self, type: str, handler: Callable[[Any], object], once: bool) -> None:
        (self._inner.once if once else self._inner.on)(type, handler)

    def _remove_handler(self, type: str, handler: Callable[[Any], object] | None) -> None:
        self._inner.off(type, handler)

    def tool(
        self, name: str | None = None, *, description: str = "", parameters: Any = None
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a tool (see :meth:`AsyncOpenAIRealtimeWS.tool`); plain functions run in a
        worker thread, never on the loop thread."""
        register = self._inner.tool(name, description=description, parameters=parameters)

        def on_loop(func: Callable[..., Any]) -> Callable[..., Any]:
            return self._runner.run(register, func)

        return on_loop

    def update_tools(self, **session: Unpack[SessionFieldsDict]) -> None:
        """Send ``session.update`` with the registered tools (plus any other session fields,
        checked by type checkers: ``update_tools(instructions="…")``)."""
        self._runner.run(lambda: self._inner.update_tools(**session))

    def start(self) -> None:
        """Start delivering to handlers now (otherwise the first blocking call does)."""
        self._runner.loop.call_soon_threadsafe(self._inner.start)

    # ------------------------------------------------------------------ I/O

    def send(self, event: Mapping[str, Any] | ClientEventBase) -> None:
        """Validate ``event`` (a bad one raises here), then write or queue it; raises what
        :meth:`AsyncOpenAIRealtimeWS.send` raises, before returning."""
        self._submit(self._inner.send, event)

    def send_raw(self, data: str | bytes) -> None:
        """Send one text frame as is (no validation): for events this library does not know."""
        self._submit(self._inner.send_raw, data)

    def send_audio(self, pcm: bytes, *, event_id: str | None = None) -> None:
        """Append raw audio bytes (in the session's input format) to the input buffer."""
        self._submit(lambda: self._inner.send_audio(pcm, event_id=event_id))

    def _submit(self, fn: Callable[..., None], *args: Any) -> None:
        """Run a send on the loop thread (directly from a handler) and return or raise there."""
        if self._runner.loop.is_closed():
            raise self._inner.protocol.closed_error()
        try:
            self._runner.run(fn, *args)
        except concurrent.futures.CancelledError:  # closed by another thread meanwhile
            raise self._inner.protocol.closed_error() from None

    def ask(
        self,
        text: str,
        *,
        response: ResponseCreateParamsDict | None = None,
        timeout: float | None = 120.0,
    ) -> Reply:
        """One turn, blocking: see :meth:`AsyncOpenAIRealtimeWS.ask` (tools run on the loop
        thread or in a worker thread meanwhile; handlers keep running)."""
        if self._runner.loop.is_closed():
            raise self._inner.protocol.closed_error()
        try:
            return self._runner.call(self._inner.ask(text, response=response, timeout=timeout))
        except concurrent.futures.CancelledError:  # closed by another thread meanwhile
            raise self._inner.protocol.closed_error() from None

    def drain(self, timeout: float | None = None) -> None:
        """Block until every queued client event has been handed to the socket."""
        try:
            self._runner.call(self._inner.drain(), timeout)
        except concurrent.futures.CancelledError:  # closed by another thread meanwhile
            raise self._inner.protocol.closed_error() from None

    def __iter__(self) -> Iterator[ServerEvent]:
        if not self._runner.loop.is_closed():
            self._runner.loop.call_soon_threadsafe(self._inner.__aiter__)
        return self

    def __next__(self) -> ServerEvent:
        """The next event of a type this library knows (see
        :meth:`AsyncOpenAIRealtimeWS.__anext__`; :meth:`all_events` yields every event)."""
        return cast(ServerEvent, self._step(self._inner.__anext__, True))

    def all_events(self) -> Iterator[AnyServerEvent]:
        """Iterate every server event, :class:`UnknownServerEvent` included (see
        :meth:`AsyncOpenAIRealtimeWS.all_events`)."""
        anext: list[Callable[[], Awaitable[AnyServerEvent]]] = []

        def start() -> None:
            anext.append(self._inner.all_events().__anext__)

        if not self._runner.loop.is_closed():
            self._runner.run(start)
        while True:
            try:
                yield self._step(anext[0] if anext else None, False)
            except StopIteration:
                return

    def _step(self, anext: Callable[[], Awaitable[AnyServerEvent]] | None, known_only: bool) -> AnyServerEvent:
        """One iteration step on the loop thread (``anext``), safe against interruption and a
        close from another thread."""
        inner = self._inner
        handoff: list[AnyServerEvent] = []
        if anext is None or self._runner.loop.is_closed():
            return self._after_close(known_only)

        async def step() -> AnyServerEvent:
            item = await anext()
            handoff.append(item)  # in the same loop step as the pop: no await in between
            return item

        try:
            return self._runner.call(step())
        except StopAsyncIteration:
            raise StopIteration from None
        except concurrent.futures.CancelledError:  # the loop shut down (close from a thread)
            if self._runner.join() and handoff:  # (the loop thread has ended: safe to read)
                return handoff.pop()
            return self._after_close(known_only)
        except BaseException:
            # interrupted (Ctrl-C, timeout) after the loop took an event: put it back in front,
            # so that the next iteration step returns it and no event is lost
            def give_back() -> None:
                while handoff:
                    inner.protocol.unread(handoff.pop())

            if not self._runner.loop.is_closed():
                self._runner.loop.call_soon_threadsafe(give_back)
            raise

    def _after_close(self, known_only: bool) -> AnyServerEvent:
        conn = self._inner.protocol
        if self._runner.join():
            # the loop thread has ended: events it buffered but no iteration step took yet are
            # handed out here (one thread at a time), then iteration ends as it would have
            with self._iter_lock:
                event = conn.next_event(None, known_only)
            if event is not None:
                return event
        if conn.closed_normally or not conn.closed:
            raise StopIteration
        raise conn.closed_error()

    def _wait_for_impl(self, type: str, timeout: float | None) -> Any:
        if self._runner.loop.is_closed():
            raise self._inner.protocol.closed_error()
        try:
            return self._runner.call(self._inner.wait_for(type, timeout))
        except concurrent.futures.CancelledError:  # closed by another thread meanwhile
            raise self._inner.protocol.closed_error() from None

    def close(self, code: int = 1000, reason: str = "OK") -> None:
        """Close the session and stop the loop thread; raises a pending unhandled error. Safe
        from any thread and idempotent; from a handler it schedules the close and returns."""
        if self._runner.here:
            self._closing_task = asyncio.ensure_future(self._inner.close(code, reason))
            return
        with self._close_lock:
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
        inner = getattr(self, "_inner", None)
        if runner is not None and inner is not None and not runner.loop.is_closed() and not inner.closed:
            try:
                runner.loop.call_soon_threadsafe(lambda: asyncio.ensure_future(inner.close()))
            except RuntimeError:  # pragma: no cover - loop already stopping
                pass
