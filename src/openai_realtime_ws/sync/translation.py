"""The blocking translation client: :class:`RealtimeTranslation`, an
:class:`~openai_realtime_ws.aio.translation.AsyncRealtimeTranslation` on a private event-loop
thread (the blocking realtime client's loop thread), every method a blocking call into it
through its public API. Handlers run on that thread, in arrival order."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any, Self

from ..aio.translation import AsyncRealtimeTranslation
from ..core.dispatch import Handler
from ..core.errors import ConnectionClosedOK
from ..core.translation import TranslationEvent, TranslationSessionClosed
from .client import _LoopThread

__all__ = ["RealtimeTranslation"]


class _Session:
    def __init__(self, owner: RealtimeTranslation) -> None:
        self._owner = owner

    def update(self, *, session: Mapping[str, Any], event_id: str | None = None) -> None:
        """Send ``session.update`` (see the asyncio client)."""
        self._owner._call(self._owner._inner.session.update(session=session, event_id=event_id))

    def close(self) -> None:
        """Send ``session.close`` once (use :meth:`RealtimeTranslation.finish` to wait)."""
        self._owner._call(self._owner._inner.session.close())


class _InputAudioBuffer:
    def __init__(self, owner: RealtimeTranslation) -> None:
        self._owner = owner

    def append(self, *, audio: bytes | str, event_id: str | None = None) -> None:
        """Send ``session.input_audio_buffer.append`` (24 kHz PCM16 mono, bytes or base64)."""
        self._owner._call(self._owner._inner.input_audio_buffer.append(audio=audio, event_id=event_id))


class RealtimeTranslation:
    """One Realtime translation session for blocking code: ``create()``, ``send`` /
    ``input_audio_buffer.append``, iterate or register handlers, ``finish(timeout)``."""

    def __init__(self, runner: _LoopThread, inner: AsyncRealtimeTranslation) -> None:
        self._runner = runner
        self._inner = inner
        self.session = _Session(self)
        self.input_audio_buffer = _InputAudioBuffer(self)

    @classmethod
    def create(cls, client: object | None = None, **kwargs: Any) -> Self:
        """Open a translation session (same arguments as
        :meth:`AsyncRealtimeTranslation.create`)."""
        runner = _LoopThread()
        try:
            inner = runner.call(AsyncRealtimeTranslation.create(client, **kwargs))
        except BaseException:
            runner.stop()
            raise
        return cls(runner, inner)

    @property
    def protocol(self) -> Any:
        """The Sans-I/O state (read-only use)."""
        return self._inner.protocol

    @property
    def url(self) -> str:
        """The URL connected to, credentials masked."""
        return self._inner.url

    @property
    def dropped_for_iteration(self) -> int:
        """See :attr:`AsyncRealtimeTranslation.dropped_for_iteration`."""
        return self._inner.dropped_for_iteration

    def _call(self, coro: Any, timeout: float | None = None) -> Any:
        try:
            return self._runner.call(coro, timeout)
        except concurrent.futures.CancelledError:
            raise ConnectionClosedOK("the translation session is closed") from None

    def on(self, type: str, handler: Handler | None = None) -> Any:
        """See :meth:`AsyncRealtimeTranslation.on` (handlers run on the client's loop thread)."""
        return self._runner.run(self._inner.on, type, handler)

    def once(self, type: str, handler: Handler | None = None) -> Any:
        """See :meth:`AsyncRealtimeTranslation.once`."""
        return self._runner.run(self._inner.once, type, handler)

    def off(self, type: str, handler: Handler | None = None) -> None:
        """See :meth:`AsyncRealtimeTranslation.off`."""
        self._runner.run(self._inner.off, type, handler)

    def send(self, event: Mapping[str, Any] | str) -> None:
        """See :meth:`AsyncRealtimeTranslation.send`."""
        self._call(self._inner.send(event))

    def recv(self, timeout: float | None = None) -> TranslationEvent:
        """The next event; ``StopIteration`` after ``session.closed`` or once the socket ended."""
        try:
            event: TranslationEvent = self._call(self._inner.recv(), timeout)
        except StopAsyncIteration:
            raise StopIteration from None
        return event

    def __iter__(self) -> Iterator[TranslationEvent]:
        while True:
            try:
                event = self.recv()
            except StopIteration:
                return
            yield event
            if isinstance(event, TranslationSessionClosed):
                return

    def finish(self, timeout: float) -> None:
        """See :meth:`AsyncRealtimeTranslation.finish`: one deadline for everything."""
        self._call(self._inner.finish(timeout))

    def close(self) -> None:
        """Close the socket now and stop the loop thread (idempotent)."""
        try:
            self._call(self._inner.close())
        except ConnectionClosedOK:
            pass
        finally:
            self._runner.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
