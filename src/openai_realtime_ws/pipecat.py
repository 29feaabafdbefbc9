# pipecat on this client: `OpenAIRealtimeWSLLMService`, pipecat's OpenAI Realtime service with
# its transport replaced.
#
# Owns: the seam between pipecat's `OpenAIRealtimeLLMService` and this library's client. The
# subclass replaces only what opens the connection (`_connect`): instead of a websockets
# connection it opens an `AsyncOpenAIRealtimeWS` and hands pipecat a `FrameSocket`
# (_framesocket.py), which pipecat reads (`async for message in self._websocket`), writes
# (`send(json)`) and closes exactly as it would a websockets connection. Everything pipecat does
# with events (context, tools, interruptions, audio frames, metrics) stays its own code. With
# `reconnect=`, a drop is this library's to repair (restore, then a cut answer ended as failed).
# `_connect` and the state read after a reconnect are pipecat internals, hence the tested
# version range of the `pipecat` extra.
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

try:
    from pipecat.services.openai.realtime import events
    from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "openai_realtime_ws.pipecat needs pipecat-ai: pip install 'openai-realtime-ws[pipecat]'"
    ) from exc

from ._framesocket import FrameSocket, connection_lost_done
from .aio.client import AsyncOpenAIRealtimeWS
from .core.reconnect import ReconnectPolicy

__all__ = ["OpenAIRealtimeWSLLMService"]


class OpenAIRealtimeWSLLMService(OpenAIRealtimeLLMService):
    """pipecat's ``OpenAIRealtimeLLMService`` on this library's client.

    Takes the same arguments (``api_key``, ``settings``, ``base_url`` …) plus:

    * ``client``: an ``openai.AsyncOpenAI`` (or any object with ``api_key``/``base_url``) whose
      endpoint and key are used when ``base_url``/``api_key`` are not given; without either,
      ``OPENAI_API_KEY``/``OPENAI_BASE_URL``.
    * ``realtime_options``: :meth:`AsyncOpenAIRealtimeWS.create`'s options (``ssl``,
      ``max_queue``, ``open_timeout``, ``ping_interval`` …).
    * ``reconnect``: off by default (pipecat ends the service on a drop, as with its own
      transport). ``True`` (``ReconnectPolicy(restore="conversation")``) or a
      :class:`ReconnectPolicy`: the client reopens the connection and restores the session and
      the conversation; pipecat configures the new session itself (its ``session.created``
      handler), and an answer the drop cut off ends as a failed response (a non-fatal
      ``ErrorFrame``).

    ``base_url`` keeps pipecat's meaning (the WebSocket URL without ``?model=``; it is opened as
    given, with the model appended). ``service.rt`` is the client of the current connection.
    """

    def __init__(self, *, api_key: str | None = None, base_url: str | None = None,
                 client: object | None = None, reconnect: bool | ReconnectPolicy = False,
                 realtime_options: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        if base_url is not None:
            kwargs["base_url"] = base_url
        super().__init__(api_key=api_key or "", **kwargs)
        self._rt_client = client
        self._rt_url_given = base_url is not None
        self._rt_options = dict(realtime_options or {})
        if reconnect is True:
            reconnect = ReconnectPolicy(restore="conversation")
        self._rt_reconnect: ReconnectPolicy | None = reconnect or None
        self.rt: AsyncOpenAIRealtimeWS | None = None

    async def _open(self) -> FrameSocket:
        kwargs = dict(self._rt_options)
        if self._rt_url_given:
            url = self.base_url
            kwargs["url_builder"] = lambda _client, _target: url
        if self.api_key:
            kwargs.setdefault("api_key", self.api_key)
        kwargs["reconnect"] = self._rt_reconnect or False
        model = getattr(self._settings, "model", None)  # (pipecat's settings type is dynamic)
        rt = await AsyncOpenAIRealtimeWS.create(self._rt_client, model=model, **kwargs)
        self.rt = rt
        return FrameSocket(rt, on_reconnect=self._after_reconnect)

    def _after_reconnect(self) -> list[str]:
        """Called where the reconnect happened in the stream of frames (see FrameSocket)."""
        # audio of the old connection cannot be truncated on the new one
        self._current_audio_response = None
        if not self._response_active:
            return []
        # the answer the drop cut off never finishes on the new session
        return [connection_lost_done(None)]

    async def send_client_event(self, event: events.ClientEvent) -> None:
        """As pipecat's, except user audio: it takes the client's typed
        ``input_audio_buffer.append``, marked as audio, so that a congested or reconnecting
        socket drops the oldest chunks first instead of refusing control events."""
        if not isinstance(event, events.InputAudioBufferAppendEvent) or self.rt is None:
            await super().send_client_event(event)
            return
        if self._disconnecting or not self._websocket:
            return
        try:
            self.rt.input_audio_buffer.append(audio=event.audio, event_id=event.event_id)
        except Exception as e:  # pipecat's rule for a failed send: an error frame
            await self.push_error(error_msg=f"Error sending client event: {e}", exception=e)

    async def _connect(self) -> None:
        # pipecat's own _connect with the websockets connection replaced by this library's
        try:
            if self._websocket:
                return
            # (pipecat's attributes are inferred as None from its __init__)
            self._websocket = await self._open()  # type: ignore[assignment]
            self._receive_task = self.create_task(self._receive_task_handler())  # type: ignore[assignment,no-untyped-call]
        except Exception as e:
            await self.push_error(error_msg=f"Error connecting: {e}", exception=e)
            self._websocket = None
