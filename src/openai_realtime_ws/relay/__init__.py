"""`openai_realtime_ws.relay`: a production relay between browsers and the Realtime API, as an
ASGI application (Starlette; serve it with uvicorn or mount it in FastAPI/Starlette). Keys stay
on the server; browsers are authenticated, filtered and limited. Needs the ``relay`` extra
(``pip install 'openai-realtime-ws[relay]'``). See docs/relay.md.

Layout: ``app.py`` the ASGI shell (routes, the browser socket, the upstream session);
``fast.py`` the fast path (the same relay served on picows, frames forwarded as they are);
``store.py`` the limits stores (memory, Redis); ``static/`` the browser modules and the console.
The rules are Sans-I/O in :mod:`openai_realtime_ws.core.relay_policy`.
"""

from ..core.relay_policy import DEFAULT_ALLOWED_EVENTS, Limits, RelayPolicy
from .app import Principal, RealtimeRelay, RelayRefused, RelayTool, Upstream, subprotocol_key
from .fast import FastRelayServer
from .store import LimitStore, MemoryStore, RedisStore

__all__ = [
    "DEFAULT_ALLOWED_EVENTS",
    "FastRelayServer",
    "LimitStore",
    "Limits",
    "MemoryStore",
    "Principal",
    "RealtimeRelay",
    "RedisStore",
    "RelayPolicy",
    "RelayRefused",
    "RelayTool",
    "Upstream",
    "subprotocol_key",
]
