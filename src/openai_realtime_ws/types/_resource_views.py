"""The hand-written bases of the generated typed resources (``types/resources.py``).

Owns: what a resource holds (the client's ``send``), and the two resources that are also a
view of what the server confirmed, so that ``rt.session`` and ``rt.conversation`` keep reading
as they always did while gaining methods:

* ``rt.session`` (:class:`SessionView`): its attributes are those of the session the server
  last confirmed (``rt.session.instructions``); it is falsy until one was confirmed;
  ``rt.session.confirmed`` is that session object itself (or ``None``); ``rt.session.update(…)``
  sends ``session.update``.
* ``rt.conversation`` (:class:`ConversationView`): the conversation mirror
  (:class:`~openai_realtime_ws.core.conversation.Conversation`: iteration, ``len``, ``get``,
  ``active_response_id``...) plus ``rt.conversation.item.create(…)`` and its siblings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..core.conversation import Conversation, TrackedItem

__all__ = ["ConversationView", "Resource", "Send", "SessionView"]

Send = Callable[[dict[str, Any]], None]


class Resource:
    """A group of client events as methods; each hands its event dict to ``send``."""

    __slots__ = ("_send", "_state")

    def __init__(self, send: Send, state: Callable[[], Any] | None = None) -> None:
        self._send = send
        self._state = state


class SessionView(Resource):
    """``rt.session``: the confirmed session's attributes, plus the ``session.*`` events."""

    __slots__ = ()

    @property
    def confirmed(self) -> Any:
        """The session configuration the server last confirmed (``session.created`` or
        ``session.updated``), or ``None`` before the first."""
        return self._state() if self._state is not None else None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        session = self.confirmed
        if session is None:
            raise AttributeError(f"no session confirmed yet (reading {name!r})")
        return getattr(session, name)

    def __bool__(self) -> bool:
        return self.confirmed is not None

    def __repr__(self) -> str:
        return repr(self.confirmed)


class ConversationView(Resource):
    """``rt.conversation``: the conversation mirror, plus the ``conversation.*`` events."""

    __slots__ = ()

    @property
    def mirror(self) -> Conversation:
        """The :class:`~openai_realtime_ws.core.conversation.Conversation` itself."""
        assert self._state is not None
        mirror: Conversation = self._state()
        return mirror

    def __iter__(self) -> Iterator[TrackedItem]:
        return iter(self.mirror)

    def __len__(self) -> int:
        return len(self.mirror)

    def get(self, item_id: str) -> TrackedItem | None:
        """The item with ``item_id``, if the mirror holds it."""
        return self.mirror.get(item_id)

    @property
    def last_item_id(self) -> str | None:
        """The id of the newest item."""
        return self.mirror.last_item_id

    @property
    def active_response_id(self) -> str | None:
        """The response in progress (``None`` between responses)."""
        return self.mirror.active_response_id

    @property
    def dropped(self) -> int:
        """Items dropped off the front of the mirror (its ``max_items`` bound)."""
        return self.mirror.dropped

    @property
    def max_items(self) -> int:
        """The most items the mirror keeps."""
        return self.mirror.max_items

    def restore_events(self) -> list[dict[str, Any]]:
        """The ``conversation.item.create`` events that would re-create the mirror."""
        return self.mirror.restore_events()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.mirror, name)  # (the rest of the mirror's API, e.g. clear())

    def __repr__(self) -> str:
        return repr(self.mirror)
