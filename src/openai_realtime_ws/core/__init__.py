"""The Sans-I/O core: URL and credential building, the event codec, dispatch, conversation state
and reconnect policy. Nothing in this package imports asyncio, threading, socket or a WebSocket
library; the clients in ``aio`` and ``sync`` and the emulator's server are shells around it."""
