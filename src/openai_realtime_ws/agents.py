# openai-agents on this client: `RealtimeWSModel`, a `RealtimeModel` for `RealtimeRunner`.
#
# Owns: the seam between openai-agents' OpenAI Realtime model and this library's client. It
# subclasses openai-agents' `OpenAIRealtimeWebSocketModel` and replaces only its transport (the
# websockets connection it opens in `_create_websocket_connection`) with a `FrameSocket`
# (_framesocket.py) over an `AsyncOpenAIRealtimeWS`. Everything openai-agents does with
# events (response sequencing, tools, handoffs, guardrails, interruption, playback tracking) stays
# its own code; socket, keepalive, bounded queues, reconnection with session and conversation
# restore are this library's; user audio takes the client's audio path (`_send_audio`).
# `_create_websocket_connection`, `_send_audio` and the state read after a reconnect
# (`_ongoing_response`, the audio trackers) are openai-agents internals, hence the tested version
# range of the `agents` extra.
from __future__ import annotations

import logging
from typing import Any

try:
    from agents.realtime.model import RealtimeModelConfig
    from agents.realtime.openai_realtime import OpenAIRealtimeWebSocketModel, TransportConfig
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "openai_realtime_ws.agents needs openai-agents: pip install 'openai-realtime-ws[agents]'"
    ) from exc

from ._framesocket import FrameSocket, connection_lost_done
from .aio.client import AsyncOpenAIRealtimeWS
from .core.reconnect import ReconnectPolicy

__all__ = ["RealtimeWSModel"]

log = logging.getLogger("openai_realtime_ws.frameworks")


def _pop_header(headers: dict[str, str], name: str) -> str | None:
    for key in list(headers):
        if key.lower() == name:
            return headers.pop(key)
    return None


class RealtimeWSModel(OpenAIRealtimeWebSocketModel):
    """openai-agents' OpenAI Realtime model on this library's client.

    ``RealtimeRunner(agent, model=RealtimeWSModel())`` then ``await runner.run(...)`` as usual.
    ``client`` is an ``openai.AsyncOpenAI`` (or any object with ``api_key``/``base_url``) or
    ``None`` for ``OPENAI_API_KEY``/``OPENAI_BASE_URL``; ``model_config``'s ``url``, ``api_key``
    and ``headers`` still apply when given. ``reconnect`` (default: on, restoring the session and
    the conversation) is :class:`ReconnectPolicy` or ``True``/``False``; ``options`` are
    :meth:`AsyncOpenAIRealtimeWS.create`'s (``base_url``, ``api_key``, ``ssl``, ``max_queue`` …).
    """

    def __init__(self, client: object | None = None, *,
                 reconnect: bool | ReconnectPolicy = True,
                 transport_config: TransportConfig | None = None, **options: Any) -> None:
        super().__init__(transport_config=transport_config)
        if reconnect is True:
            reconnect = ReconnectPolicy(restore="conversation")
        self._client = client
        self._reconnect: ReconnectPolicy | None = reconnect or None
        self._options = options
        self._config: RealtimeModelConfig = {}
        self.rt: AsyncOpenAIRealtimeWS | None = None
        """The client of the current connection (``None`` before ``connect``)."""

    def _credential(self) -> Any:
        key = self._options.get("api_key")
        if key is None and self._client is not None:
            key = getattr(self._client, "api_key", None)
        return key

    async def connect(self, options: RealtimeModelConfig) -> None:
        self._config = options
        if "api_key" not in options and "headers" not in options and self._credential():
            # openai-agents insists on a key it can see; ours comes from the client or options
            options = {**options, "api_key": self._credential()}
        await super().connect(options)

    async def _create_websocket_connection(  # type: ignore[override]
        self, url: str, headers: dict[str, str], transport_config: TransportConfig | None = None,
    ) -> FrameSocket:
        config = self._config
        kwargs: dict[str, Any] = dict(self._options)
        if "url" in config:
            kwargs["url_builder"] = lambda _client, _target: url
        azure_key: str | None = None
        if "headers" in config:
            # openai-agents sends these instead of its own Authorization: the credential in
            # them is the one to use (never OPENAI_API_KEY from the environment on top of it)
            extra = dict(config["headers"])
            azure_key = _pop_header(extra, "api-key")
            bearer = _pop_header(extra, "authorization")
            if bearer is not None and bearer[:7].lower() == "bearer ":
                kwargs["api_key"] = bearer[7:]
            elif bearer is not None:
                extra["Authorization"] = bearer
            kwargs["headers"] = {**extra, **kwargs.get("headers", {})}
        elif "api_key" in config:
            kwargs["api_key"] = config["api_key"]  # a provider is called again on reconnect
        for ours, theirs in (("ping_interval", "ping_interval"), ("ping_timeout", "ping_timeout"),
                             ("open_timeout", "handshake_timeout"), ("max_size", "max_size")):
            if transport_config and theirs in transport_config:
                value = transport_config[theirs]  # type: ignore[literal-required]
                if value is not None or ours.startswith("ping"):
                    kwargs.setdefault(ours, value)
        if self._reconnect is not None:
            kwargs.setdefault("reconnect", self._reconnect)
        target: dict[str, Any] = {"call_id": self._call_id} if self._call_id else {}
        if azure_key is not None:  # an `api-key` header: Azure OpenAI, its key in that header
            kwargs["api_key"] = azure_key
            target = target or {"deployment": self.model}
            rt = await AsyncOpenAIRealtimeWS.azure(**target, **kwargs)
        else:
            target = target or {"model": self.model}
            rt = await AsyncOpenAIRealtimeWS.create(self._client, **target, **kwargs)
        self.rt = rt
        return FrameSocket(rt, on_reconnect=self._after_reconnect)

    async def _send_audio(self, event: Any) -> None:
        # user audio through the client's audio path: base64 by msgspec (no pydantic model per
        # chunk), and marked as audio, so that a congested or reconnecting socket drops the
        # oldest chunks first instead of refusing control events
        sock = self._websocket
        if not isinstance(sock, FrameSocket):  # not connected: openai-agents' own answer
            await super()._send_audio(event)
            return
        sock.send_audio(event.audio, commit=event.commit)

    def _after_reconnect(self) -> list[str]:
        """Called where the reconnect happened in the stream of frames (see FrameSocket): what
        openai-agents must be told before the new session's frames."""
        # audio of the old connection cannot be truncated on the new one
        self._audio_state_tracker.on_interrupted()
        if self._playback_tracker is not None:
            self._playback_tracker.on_interrupted()
        if not self._ongoing_response:
            return []
        # A response cut by the drop never finishes on the new session: end it, as the server
        # would have, so that the runner's turn ends and the next response may start.
        response_id = self._response_create_sequencer.ongoing_response_id
        log.info("reconnected: the response %s was cut by the drop, ending it as failed", response_id)
        return [connection_lost_done(response_id)]

    @property
    def reconnects(self) -> int:
        """How many times the current connection was re-established."""
        return self.rt.reconnects if self.rt is not None else 0

