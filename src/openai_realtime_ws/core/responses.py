"""One active response, without I/O: the sequencer that keeps a client from asking for a second
in-band response while one is running (the server would answer
``conversation_already_has_active_response``), and that cancels by ``response_id``.

Rules owned here (PROTOCOL.md §4.4, §4.9, §4.10):

* Only one response at a time may write to the default conversation. ``create()`` while one is
  active (or while our own request has not been answered with ``response.created`` yet) queues
  the request; an identical request already waiting is merged with it (one reply answers both).
  The queue moves on at ``response.done`` of the active response.
* Out-of-band responses (``"conversation": "none"``) may run in parallel: sent at once, never
  queued, never counted as the active one.
* Responses the server starts by itself (server VAD ``create_response``) become the active one
  when their ``response.created`` arrives; from the end of the user's speech until then
  (:meth:`ResponseSequencer.expect_server_response`) requests wait too, so they do not race it.
* ``conversation_already_has_active_response`` for a request of ours puts it back at the head of
  the queue (it goes again after the next ``response.done``); ``response_cancel_not_active`` means
  there was nothing to cancel. Neither is fatal: :func:`is_benign_error` says so to the shell.
* ``cancel()`` names the active ``response_id`` (so a late cancel cannot hit the next response)
  and sends nothing when no response is active.

The sequencer classifies ``response.created`` as in-band when its ``conversation_id`` is set, or,
when the server leaves it out, unless an out-of-band request of ours is still unanswered.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Mapping
from typing import Any

__all__ = ["BENIGN_ERROR_CODES", "ResponseSequencer", "is_benign_error"]

_UNKNOWN = "<unknown>"  # an active response whose id we have not seen

BENIGN_ERROR_CODES = frozenset({
    "conversation_already_has_active_response",
    "response_cancel_not_active",
})


def is_benign_error(code: str | None) -> bool:
    """An API error that a voice client answers by waiting (never a reason to end a session)."""
    return code in BENIGN_ERROR_CODES


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


class ResponseSequencer:
    """Serialises in-band ``response.create`` requests. Feed it every server event with
    :meth:`on_event`; send what :meth:`create`, :meth:`cancel` and :meth:`on_event` return."""

    def __init__(self, *, event_id_prefix: str = "seq_") -> None:
        self.active: str | None = None
        """The in-band response running now (its id), if any."""
        self._awaiting: str | None = None  # event_id of our in-band create not yet answered
        self._queue: deque[dict[str, Any]] = deque()
        self._sent: dict[str, dict[str, Any]] = {}  # event_id -> create (for error matching)
        self._oob_pending = 0
        self._server_pending = False
        self._n = 0
        self._prefix = event_id_prefix
        self.requeued = 0
        """How many times a request of ours met an active response and went back in line."""

    @property
    def busy(self) -> bool:
        """An in-band response is running or requested."""
        return self.active is not None or self._awaiting is not None or self._server_pending

    def expect_server_response(self) -> None:
        """The server is about to start a response by itself (server VAD committed the user's
        turn with ``create_response``): hold requests until its ``response.created``."""
        if self.active is None and self._awaiting is None:
            self._server_pending = True

    def server_response_not_coming(self) -> list[dict[str, Any]]:
        """Give up waiting for the expected server response (the shell's timeout); returns
        queued events that may go now."""
        if not self._server_pending:
            return []
        self._server_pending = False
        return self._next()

    @property
    def pending(self) -> int:
        """Requests waiting for the active response to end."""
        return len(self._queue)

    def create(self, response: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Ask for a response (``response``: the ``response.create`` parameters). Returns the
        events to send now: the request itself, or nothing when it has to wait."""
        params = dict(response) if response else {}
        event: dict[str, Any] = {"type": "response.create"}
        if params:
            event["response"] = params
        if params.get("conversation") == "none":
            self._oob_pending += 1
            return [self._stamp(event, oob=True)]
        if self.busy:
            if not any(_same(event, q) for q in self._queue):
                self._queue.append(event)
            return []
        return [self._stamp(event, oob=False)]

    def cancel(self, response_id: str | None = None) -> list[dict[str, Any]]:
        """``response.cancel`` for ``response_id`` (default: the active in-band response), or
        nothing when there is no such response."""
        rid = response_id or self.active
        if rid is None:
            return []
        return [{"type": "response.cancel", "response_id": rid}]

    def reset(self) -> None:
        """Forget every response and request (a new socket: the old session's responses will
        never send ``response.done`` here)."""
        self.active = None
        self._awaiting = None
        self._server_pending = False
        self._oob_pending = 0
        self._queue.clear()
        self._sent.clear()

    def drop_pending(self) -> int:
        """Forget the queued requests (after a barge-in they are stale). Returns how many."""
        n = len(self._queue)
        self._queue.clear()
        return n

    def on_event(self, event: Any) -> list[dict[str, Any]]:
        """Feed one server event (typed or a dict); returns events to send now."""
        etype = _get(event, "type")
        if etype == "response.created":
            response = _get(event, "response")
            rid = _get(response, "id")
            conv = _get(response, "conversation_id")
            if conv is None and self._oob_pending > 0:
                # with no conversation_id it is ours out-of-band when one is outstanding
                self._oob_pending -= 1
                return []
            if conv == "none":
                self._oob_pending = max(0, self._oob_pending - 1)
                return []
            self.active = rid
            self._server_pending = False
            if self._awaiting is not None:
                self._sent.pop(self._awaiting, None)
                self._awaiting = None
            return []
        if etype == "response.done":
            rid = _get(_get(event, "response"), "id")
            if self.active is not None and (rid == self.active or self.active == _UNKNOWN):
                self.active = None
                return self._next()
            return []
        if etype == "error":
            err = _get(event, "error")
            code = _get(err, "code")
            eid = _get(err, "event_id")
            sent = self._sent.pop(eid, None) if eid is not None else None
            if sent is None:
                return []
            if _get(sent.get("response") or {}, "conversation") == "none":
                self._oob_pending = max(0, self._oob_pending - 1)
                return []
            if eid == self._awaiting:
                self._awaiting = None
            if code == "conversation_already_has_active_response":
                self.requeued += 1
                retry = {k: v for k, v in sent.items() if k != "event_id"}
                self._queue.appendleft(retry)
                if self.active is None:
                    # the server has a response we have not seen start yet: wait for it
                    self.active = _active_from_message(_get(err, "message")) or _UNKNOWN
                return []
            return self._next()  # the request failed for another reason: go on
        return []

    def _next(self) -> list[dict[str, Any]]:
        if self.busy or not self._queue:
            return []
        return [self._stamp(self._queue.popleft(), oob=False)]

    def _stamp(self, event: dict[str, Any], *, oob: bool) -> dict[str, Any]:
        self._n += 1
        eid = f"{self._prefix}{self._n}"
        out = {**copy.deepcopy(event), "event_id": eid}
        self._sent[eid] = out
        while len(self._sent) > 256:
            self._sent.pop(next(iter(self._sent)))
        if not oob:
            self._awaiting = eid
        return out


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return a.get("response") == b.get("response")


def _active_from_message(message: Any) -> str | None:
    # "Conversation already has an active response in progress: resp_…. Wait until …"
    if not isinstance(message, str):
        return None
    for word in message.replace(".", " ").split():
        if word.startswith("resp_"):
            return word
    return None
