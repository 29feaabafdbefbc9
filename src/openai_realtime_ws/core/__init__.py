"""The Sans-I/O core: the connection state machine (:mod:`.connection`: lifecycle, delivery,
send policy, restore, rollover, close rules), URL and credential building, options, the event
codec, dispatch tables, conversation state, tools and reconnect policy. Nothing in this package
imports asyncio, threading, socket or a WebSocket library; the clients in ``aio`` and ``sync``
and the emulator's server are shells around it."""
