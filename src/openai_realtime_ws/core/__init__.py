"""The Sans-I/O core: the Realtime protocol state machine (:mod:`.connection`: lifecycle,
delivery, send policy, restore, rollover, reconnect attempts, the close sequence), URL and
credential building, options, the event codec, dispatch tables, conversation state, tools and
reconnect policy. Nothing in this package imports asyncio, threading, socket or a WebSocket
library; the clients in ``aio`` and ``sync`` and the emulator's server are shells around it.

One Sans-I/O style for the whole tree (the emulator core's, ``emulator/core/actions.py``):
**facts in, actions out**. A shell feeds the core what happened (a frame arrived, a socket ended,
a timer fired, the user called ``send``) and carries out the actions the core returns or queues
(:attr:`.connection.RealtimeProtocol.actions`: pause reading, await a handler, run tools, arm a
timer, reconnect, log; :meth:`.connection.RealtimeProtocol.close_step`: flush, send the close
frame, abort). The core never calls into its shell and decides everything a reader of the shell
could ask about; the shell decides nothing. Pure rules with no state are plain functions
(:func:`.reconnect.process_exception`, :func:`.reconnect.backoff`, :func:`.sendqueue.is_droppable`,
:func:`.connection.close_outcome`), as in websockets.

Words as in websockets: the Sans-I/O object is the *protocol* (``client.protocol``); the shell
holding the socket is the *connection* (the client itself).
"""
