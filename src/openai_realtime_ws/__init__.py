"""openai-realtime-ws: a fast, typed client for the OpenAI Realtime API over WebSocket.

* :class:`AsyncOpenAIRealtimeWS` (asyncio) and :class:`OpenAIRealtimeWS` (blocking): ``create()``,
  ``azure()``, ``on``/``once``/``off``, ``send``, ``wait_for``, iteration, ``close``.
* :class:`AsyncRealtimeTranslation` / :class:`RealtimeTranslation`: Realtime translation sessions.
* :func:`build_realtime_url`: the ``wss://…/realtime?model=…`` URL for a client.
* :mod:`openai_realtime_ws.types`: one typed class per Realtime event.
* :mod:`openai_realtime_ws.emulator`: a local server that speaks the protocol.
"""

from .aio.calls import AsyncRealtimeCalls
from .aio.client import AsyncOpenAIRealtimeWS
from .aio.secrets import create_client_secret
from .aio.translation import AsyncRealtimeTranslation
from .core.calls import CallControlError
from .core.conversation import Conversation
from .core.errors import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    HandlerError,
    HandshakeError,
    InvalidClientEvent,
    MalformedFrameError,
    OpenAIRealtimeError,
    QueueFull,
    RealtimeAPIError,
    RealtimeConfigError,
    RealtimeConnectionError,
)
from .core.event_names import UnknownEventTypeWarning
from .core.handshake import RealtimeTarget, build_azure_url, build_realtime_url
from .core.reconnect import ReconnectContext, ReconnectPolicy
from .openai_compat import connect
from .sync.calls import RealtimeCalls
from .sync.client import OpenAIRealtimeWS, create_client_secret_sync
from .sync.translation import RealtimeTranslation
from .types import UnknownServerEvent

__version__ = "0.1.0"

__all__ = [
    "AsyncOpenAIRealtimeWS",
    "AsyncRealtimeCalls",
    "AsyncRealtimeTranslation",
    "CallControlError",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "Conversation",
    "HandlerError",
    "HandshakeError",
    "InvalidClientEvent",
    "MalformedFrameError",
    "OpenAIRealtimeError",
    "OpenAIRealtimeWS",
    "QueueFull",
    "RealtimeAPIError",
    "RealtimeCalls",
    "RealtimeConfigError",
    "RealtimeConnectionError",
    "RealtimeTarget",
    "RealtimeTranslation",
    "ReconnectContext",
    "ReconnectPolicy",
    "UnknownEventTypeWarning",
    "UnknownServerEvent",
    "__version__",
    "build_azure_url",
    "build_realtime_url",
    "connect",
    "create_client_secret",
    "create_client_secret_sync",
]
