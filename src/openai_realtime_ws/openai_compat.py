# openai-python's realtime connection API on this library's clients.
#
# Owns: `connect(client, model=...)`, the manager it returns (`async with` gives an
# `AsyncRealtimeConnection`, `with` gives a blocking `RealtimeConnection`), and openai-python's
# calling convention for the resources (`await conn.session.update(...)`; its `omit` sentinels).
# The resources themselves are the clients' typed resources (types/resources.py), which build
# and send the events; everything else (the socket, validation, decoding, reconnection) is the
# wrapped AsyncOpenAIRealtimeWS / OpenAIRealtimeWS, reached through its public API only.
from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, Generic, ParamSpec, Protocol, Self, TypeVar, cast, overload

import msgspec

from .aio.client import AsyncOpenAIRealtimeWS
from .core.codec import ServerEventDecoder
from .core.errors import (
    ConnectionClosedOK,
    OpenAIRealtimeError,
    RealtimeAPIError,
    RealtimeConfigError,
)
from .sync.client import OpenAIRealtimeWS
from .types import AnyServerEvent, ErrorEvent, ServerEvent, UnknownServerEvent, resources

__all__ = [
    "AsyncRealtimeConnection",
    "RealtimeConnection",
    "RealtimeConnectionManager",
    "connect",
]

log = logging.getLogger("openai_realtime_ws.frameworks")

R_co = TypeVar("R_co", covariant=True)
P = ParamSpec("P")
Handler = Callable[[Any], object]
H = TypeVar("H", bound=Handler)

# openai-python's connect() arguments that have no counterpart here (reconnection is the
# library's own `reconnect=` option): refused by name rather than silently ignored.
_UNSUPPORTED = ("on_reconnecting", "max_retries", "initial_delay", "max_delay", "max_queue_size",
                "extra_query")


def _given(value: object) -> bool:
    # openai-python's `omit` / `NOT_GIVEN` sentinels mean "leave out", like None here
    return value is not None and type(value).__name__ not in ("Omit", "NotGiven")


def _as_event(event: Any) -> Any:
    """A dict, one of this library's typed client events, or an openai-python (pydantic) event."""
    dump = getattr(event, "model_dump", None)
    if callable(dump):
        return dump(mode="json", by_alias=True, exclude_unset=True)
    return event


def _closed(client: AsyncOpenAIRealtimeWS | OpenAIRealtimeWS) -> ConnectionClosedOK:
    """What ``recv()`` raises after a normal close (openai-python: websockets' own)."""
    return ConnectionClosedOK("the connection is closed", code=client.close_code,
                              reason=client.close_reason)


class _Wrap(Protocol[R_co]):
    def __call__(self, method: Callable[P, None]) -> Callable[P, R_co]: ...


def _blocking(method: Callable[P, None]) -> Callable[P, None]:
    """The client's resource method, with openai-python's `omit` sentinels left out."""
    target = cast("Callable[..., None]", method)

    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> None:
        target(*args, **{k: v for k, v in kwargs.items() if _given(v)})

    return call


def _awaitable(method: Callable[P, None]) -> Callable[P, Awaitable[None]]:
    """The same, as a coroutine function (openai-python's asyncio resources are awaited)."""
    target = _blocking(method)

    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> None:
        target(*args, **kwargs)

    return call


# The resources: the client's typed resources (types/resources.py: parameters checked by type
# checkers, events built there and sent through the client's send()), presented with
# openai-python's calling convention. Nothing is built here.


class SessionResource(Generic[R_co]):
    def __init__(self, res: resources.SessionResource, wrap: _Wrap[R_co]) -> None:
        self.update = wrap(res.update)


class ResponseResource(Generic[R_co]):
    def __init__(self, res: resources.ResponseResource, wrap: _Wrap[R_co]) -> None:
        self.create = wrap(res.create)
        self.cancel = wrap(res.cancel)


class InputAudioBufferResource(Generic[R_co]):
    def __init__(self, res: resources.InputAudioBufferResource, wrap: _Wrap[R_co]) -> None:
        self.append = wrap(res.append)
        self.commit = wrap(res.commit)
        self.clear = wrap(res.clear)


class OutputAudioBufferResource(Generic[R_co]):
    def __init__(self, res: resources.OutputAudioBufferResource, wrap: _Wrap[R_co]) -> None:
        self.clear = wrap(res.clear)


class ConversationItemResource(Generic[R_co]):
    def __init__(self, res: resources.ConversationItemResource, wrap: _Wrap[R_co]) -> None:
        self.create = wrap(res.create)
        self.delete = wrap(res.delete)
        self.truncate = wrap(res.truncate)
        self.retrieve = wrap(res.retrieve)


class ConversationResource(Generic[R_co]):
    def __init__(self, res: resources.ConversationResource, wrap: _Wrap[R_co]) -> None:
        self.item = ConversationItemResource(res.item, wrap)


class _Base(Generic[R_co]):
    """What both connections share: the resources, the handler table of ``on``/``once``/``off``
    (run by ``dispatch_events``, as in openai-python) and event parsing."""

    session: SessionResource[R_co]
    response: ResponseResource[R_co]
    input_audio_buffer: InputAudioBufferResource[R_co]
    output_audio_buffer: OutputAudioBufferResource[R_co]
    conversation: ConversationResource[R_co]

    def __init__(self, client: AsyncOpenAIRealtimeWS | OpenAIRealtimeWS, wrap: _Wrap[R_co]) -> None:
        self.session = SessionResource(client.session, wrap)
        self.response = ResponseResource(client.response, wrap)
        self.input_audio_buffer = InputAudioBufferResource(client.input_audio_buffer, wrap)
        self.output_audio_buffer = OutputAudioBufferResource(client.output_audio_buffer, wrap)
        self.conversation = ConversationResource(client.conversation, wrap)
        self._handlers: dict[str, list[tuple[Handler, bool]]] = {}
        self._decoder = ServerEventDecoder()

    def parse_event(self, data: str | bytes) -> AnyServerEvent:
        """Decode one server message into this library's typed event."""
        return self._decoder.decode(data)

    @staticmethod
    def _to_bytes(event: AnyServerEvent) -> bytes:
        if isinstance(event, UnknownServerEvent):
            return msgspec.json.encode(event.raw)
        return msgspec.json.encode(event)

    def _on_client_error(self, err: OpenAIRealtimeError) -> None:
        # API errors reach iteration as ErrorEvent (as in openai-python); the rest is logged
        if not isinstance(err, RealtimeAPIError):
            log.warning("%s", err)

    def _add(self, type: str, handler: Handler | None, once: bool) -> Any:
        def add(fn: H) -> H:
            self._handlers.setdefault(type, []).append((fn, once))
            return fn

        if handler is None:
            return add
        add(handler)
        return self

    @overload
    def on(self, event_type: str, handler: Handler) -> Self: ...
    @overload
    def on(self, event_type: str, handler: None = None) -> Callable[[H], H]: ...
    def on(self, event_type: str, handler: Handler | None = None) -> Any:
        """Add ``handler`` for ``event_type`` (``"event"``: every event); run by
        ``dispatch_events()``. Without a handler, a decorator."""
        return self._add(event_type, handler, False)

    @overload
    def once(self, event_type: str, handler: Handler) -> Self: ...
    @overload
    def once(self, event_type: str, handler: None = None) -> Callable[[H], H]: ...
    def once(self, event_type: str, handler: Handler | None = None) -> Any:
        """Like :meth:`on`, removed after its first call."""
        return self._add(event_type, handler, True)

    def off(self, event_type: str, handler: Handler) -> Self:
        """Remove a handler added with :meth:`on` or :meth:`once`."""
        entries = self._handlers.get(event_type, [])
        for i, (fn, _) in enumerate(entries):
            if fn == handler:
                del entries[i]
                break
        return self

    def _handlers_for(self, event: AnyServerEvent) -> list[Handler]:
        """The handlers to run for ``event`` (specific ones, then ``"event"``), once-handlers
        removed; raises for an ``error`` event nobody handles (openai-python's rule)."""
        out: list[Handler] = []
        for key in (event.type, "event"):
            entries = self._handlers.get(key, [])
            out.extend(fn for fn, _ in entries)
            entries[:] = [(fn, once) for fn, once in entries if not once]
        if not out and isinstance(event, ErrorEvent):
            raise RealtimeAPIError.from_event(event)
        return out


class AsyncRealtimeConnection(_Base[Awaitable[None]]):
    """openai-python's ``AsyncRealtimeConnection`` API over an :class:`AsyncOpenAIRealtimeWS`
    (``.client``). Events are this library's typed classes, with the same field names."""

    def __init__(self, client: AsyncOpenAIRealtimeWS) -> None:
        super().__init__(client, _awaitable)
        self.client = client
        client.on("error", self._on_client_error)

    async def send(self, event: Any) -> None:
        """Send a client event (a dict, a typed event of this library or of openai-python),
        validated first: a bad one raises :class:`InvalidClientEvent` and nothing is sent."""
        self.client.send(_as_event(event))

    async def recv(self) -> ServerEvent:
        """The next server event of a type this library knows (typed, so ``event.type == …``
        narrows; unknown ones: ``self.client.all_events()`` or an ``"event"`` handler). After a
        normal close it raises :class:`ConnectionClosedOK`."""
        try:
            return await self.client.__anext__()
        except StopAsyncIteration:
            raise _closed(self.client) from None

    async def recv_bytes(self) -> bytes:
        """The next server event as JSON bytes (re-encoded: fields sent as ``null`` are absent)."""
        return self._to_bytes(await self.recv())

    def __aiter__(self) -> AsyncRealtimeConnection:
        self.client.__aiter__()
        return self

    async def __anext__(self) -> ServerEvent:
        return await self.client.__anext__()

    async def dispatch_events(self) -> None:
        """Run the handlers added with :meth:`on` for every event until the connection closes."""
        async for event in self:
            for fn in self._handlers_for(event):
                result = fn(event)
                if isinstance(result, Awaitable):
                    await result

    async def close(self, *, code: int = 1000, reason: str = "") -> None:
        """Close the connection (idempotent)."""
        await self.client.close(code, reason or "OK")


class RealtimeConnection(_Base[None]):
    """openai-python's blocking ``RealtimeConnection`` API over an :class:`OpenAIRealtimeWS`."""

    def __init__(self, client: OpenAIRealtimeWS) -> None:
        super().__init__(client, _blocking)
        self.client = client
        client.on("error", self._on_client_error)

    def send(self, event: Any) -> None:
        """Send a client event (as :meth:`AsyncRealtimeConnection.send`)."""
        self.client.send(_as_event(event))

    def recv(self) -> ServerEvent:
        """The next server event of a type this library knows (as
        :meth:`AsyncRealtimeConnection.recv`). After a normal close it raises
        :class:`ConnectionClosedOK`."""
        try:
            return next(self.client)
        except StopIteration:
            raise _closed(self.client) from None

    def recv_bytes(self) -> bytes:
        """The next server event as JSON bytes (re-encoded: fields sent as ``null`` are absent)."""
        return self._to_bytes(self.recv())

    def __iter__(self) -> Iterator[ServerEvent]:
        return iter(self.client)

    def dispatch_events(self) -> None:
        """Run the handlers added with :meth:`on` for every event until the connection closes."""
        for event in self:
            for fn in self._handlers_for(event):
                fn(event)

    def close(self, *, code: int = 1000, reason: str = "") -> None:
        """Close the connection (idempotent)."""
        self.client.close(code, reason or "OK")


class RealtimeConnectionManager:
    """What :func:`connect` returns: ``async with`` opens an :class:`AsyncRealtimeConnection`,
    ``with`` a blocking :class:`RealtimeConnection` (``await manager.enter()`` / ``.enter()``
    without a ``with``)."""

    def __init__(self, client: object | None, kwargs: dict[str, Any]) -> None:
        self._client = client
        self._kwargs = kwargs
        self._async: AsyncRealtimeConnection | None = None
        self._sync: RealtimeConnection | None = None

    def _opener(self) -> tuple[str, dict[str, Any]]:
        """Which factory opens the session (``create``, or ``azure`` for an Azure client, whose
        ``model`` is the deployment) and its keyword arguments."""
        kwargs = dict(self._kwargs)
        if self._client is not None and hasattr(self._client, "_azure_endpoint"):
            kwargs["deployment"] = kwargs.pop("model", None)
            return "azure", kwargs
        return "create", kwargs

    async def enter(self) -> AsyncRealtimeConnection:
        """Open the asyncio connection."""
        factory, kwargs = self._opener()
        rt = await getattr(AsyncOpenAIRealtimeWS, factory)(self._client, **kwargs)
        self._async = AsyncRealtimeConnection(rt)
        return self._async

    async def __aenter__(self) -> AsyncRealtimeConnection:
        return await self.enter()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._async is not None:
            await self._async.close()

    def enter_sync(self) -> RealtimeConnection:
        """Open the blocking connection."""
        factory, kwargs = self._opener()
        rt = getattr(OpenAIRealtimeWS, factory)(self._client, **kwargs)
        self._sync = RealtimeConnection(rt)
        return self._sync

    def __enter__(self) -> RealtimeConnection:
        return self.enter_sync()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._sync is not None:
            self._sync.close()


def connect(
    client: object | None = None,
    *,
    model: str | None = None,
    call_id: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    websocket_connection_options: Mapping[str, Any] | None = None,
    **options: Any,
) -> RealtimeConnectionManager:
    """openai-python's ``client.realtime.connect(model=...)``, on this library.

    ``async with connect(client, model="gpt-realtime") as conn:`` (or ``with`` for the blocking
    connection) where ``client`` is an ``openai.AsyncOpenAI`` / ``openai.OpenAI`` (its
    ``api_key``, ``base_url`` and ``websocket_base_url`` are used; an Azure client goes through
    ``azure()``), or ``None`` for ``OPENAI_API_KEY``/``OPENAI_BASE_URL``.
    ``websocket_connection_options`` takes ``ssl`` only; ``options`` are
    :meth:`AsyncOpenAIRealtimeWS.create`'s (``reconnect=``, ``max_queue=``, ...).
    """
    for name in _UNSUPPORTED:
        if options.pop(name, None) not in (None, {}):
            raise RealtimeConfigError(
                f"connect(): {name}= is openai-python's and has no counterpart here; "
                "use reconnect=True or reconnect=ReconnectPolicy(...) for reconnection"
            )
    if _given(model):
        options["model"] = model
    if _given(call_id):
        options["call_id"] = call_id
    if extra_headers:
        options["headers"] = dict(extra_headers)
    for key, value in (websocket_connection_options or {}).items():
        if key != "ssl":
            raise RealtimeConfigError(
                f"connect(): websocket_connection_options[{key!r}] is not supported here "
                "(only 'ssl'); pass this library's options as keyword arguments instead"
            )
        options["ssl"] = value
    return RealtimeConnectionManager(client, options)
