"""Conversation state mirrored from server events (no I/O here).

:class:`Conversation` follows the default conversation as the server reports it
(``conversation.item.added/done/deleted/truncated``, input transcription results) in server order
(``previous_item_id``), and tracks whether an in-band response is running. It can turn itself
back into ``conversation.item.create`` events, which is how a reconnect restores context.

What cannot be restored (the API has no way to re-create it):

* audio bytes: user audio items come back as text (their transcript) and assistant audio items as
  ``output_text`` (their transcript); audio items without a transcript are skipped;
* assistant audio items that were truncated (``conversation.item.truncate``): the server dropped
  their transcript, so they are skipped;
* MCP items (``mcp_call``, ``mcp_list_tools``, approvals) and out-of-band responses (never in the
  default conversation);
* items still ``in_progress`` when the connection dropped (a half-finished answer).

Cost and bound: every update is O(1) (items are kept in a doubly linked list keyed by id, so
placing an item after ``previous_item_id`` or deleting one never scans the conversation). The
mirror keeps at most ``max_items`` items (:data:`DEFAULT_MAX_ITEMS`, 2,048): past that the oldest
item (the first of the conversation) is dropped and counted in :attr:`Conversation.dropped`. A
restore then re-creates only the items still kept, in order (the first restored item has no
``previous_item_id``): the new session starts from the newest ``max_items`` items, and what was
dropped is gone from it, as it is from the server's own context once the conversation outgrows
the model's window (the server truncates the oldest items too).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from ..types import (
    AnyServerEvent,
    ConversationItem,
    ConversationItemAddedEvent,
    ConversationItemCreatedEvent,
    ConversationItemDeletedEvent,
    ConversationItemDoneEvent,
    ConversationItemInputAudioTranscriptionCompletedEvent,
    ConversationItemTruncatedEvent,
    ResponseCreatedEvent,
    ResponseDoneEvent,
)

__all__ = ["DEFAULT_MAX_ITEMS", "Conversation", "TrackedItem"]

#: Items the mirror keeps by default; the oldest are dropped past it.
DEFAULT_MAX_ITEMS: Final = 2048


@dataclass(slots=True, eq=False)
class TrackedItem:
    """One item of the default conversation, as the client last saw it."""

    id: str
    item: ConversationItem
    transcripts: dict[int, str] = field(default_factory=dict)  # input transcription by index
    truncated: bool = False
    # neighbours in conversation order (the mirror's linked list)
    _prev: TrackedItem | None = field(default=None, repr=False)
    _next: TrackedItem | None = field(default=None, repr=False)

    @property
    def type(self) -> str:
        return self.item.type

    @property
    def role(self) -> str | None:
        return self.item.role

    @property
    def text(self) -> str:
        """The item's text: typed text, transcripts, or a function call's output/arguments."""
        parts: list[str] = []
        for i, c in enumerate(self.item.content or ()):
            piece = c.text if c.text is not None else c.transcript
            if piece is None:
                piece = self.transcripts.get(i)
            if piece:
                parts.append(piece)
        return "".join(parts)


class Conversation:
    """The default conversation as an ordered collection of :class:`TrackedItem` (O(1) updates,
    at most ``max_items`` kept; see the module comment)."""

    __slots__ = ("_head", "_items", "_tail", "active_response_id", "dropped", "max_items")

    def __init__(self, max_items: int = DEFAULT_MAX_ITEMS) -> None:
        if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1:
            raise ValueError(f"max_items must be an int >= 1, got {max_items!r}")
        self.max_items = max_items
        """The most items kept; past it the oldest is dropped."""
        self.dropped = 0
        """Items dropped (oldest first) because the mirror was full."""
        self._items: dict[str, TrackedItem] = {}
        self._head: TrackedItem | None = None
        self._tail: TrackedItem | None = None
        self.active_response_id: str | None = None
        """The in-band response in progress (``None`` between responses)."""

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[TrackedItem]:
        items: list[TrackedItem] = []  # a snapshot: the caller may apply events meanwhile
        node = self._head
        while node is not None:
            items.append(node)
            node = node._next
        return iter(items)

    def get(self, item_id: str) -> TrackedItem | None:
        """The tracked item with this id, or None."""
        return self._items.get(item_id)

    @property
    def last_item_id(self) -> str | None:
        """The id of the last item of the conversation (None when it is empty)."""
        return self._tail.id if self._tail is not None else None

    def clear(self) -> None:
        """Forget every item."""
        node = self._head
        while node is not None:  # break the links: no reference cycles left for the GC
            nxt = node._next
            node._prev = node._next = None
            node = nxt
        self._items.clear()
        self._head = self._tail = None
        self.active_response_id = None

    def apply(self, event: AnyServerEvent) -> None:
        """Update the state from one server event (events of other types are ignored)."""
        if isinstance(
            event, ConversationItemAddedEvent | ConversationItemDoneEvent | ConversationItemCreatedEvent
        ):
            self._upsert(event.item, event.previous_item_id)
        elif isinstance(event, ConversationItemDeletedEvent):
            tracked = self._items.pop(event.item_id, None)
            if tracked is not None:
                self._unlink(tracked)
        elif isinstance(event, ConversationItemTruncatedEvent):
            tracked = self._items.get(event.item_id)
            if tracked is not None:
                tracked.truncated = True
        elif isinstance(event, ConversationItemInputAudioTranscriptionCompletedEvent):
            tracked = self._items.get(event.item_id)
            if tracked is not None:
                tracked.transcripts[event.content_index] = event.transcript
        elif isinstance(event, ResponseCreatedEvent):
            if _in_band(event.response):
                self.active_response_id = event.response.id or ""
        elif isinstance(event, ResponseDoneEvent):
            if self.active_response_id is not None and (
                event.response.id in (None, self.active_response_id) or _in_band(event.response)
            ):
                self.active_response_id = None

    def _unlink(self, node: TrackedItem) -> None:
        prev, nxt = node._prev, node._next
        if prev is None:
            self._head = nxt
        else:
            prev._next = nxt
        if nxt is None:
            self._tail = prev
        else:
            nxt._prev = prev
        node._prev = node._next = None

    def _upsert(self, item: ConversationItem, previous_item_id: str | None) -> None:
        item_id = item.id
        if not item_id:
            return
        tracked = self._items.get(item_id)
        if tracked is not None:
            tracked.item = item
            return
        node = TrackedItem(item_id, item)
        self._items[item_id] = node
        if previous_item_id == "root":  # the first item of the conversation
            after = None
        elif previous_item_id is None:  # no position given: the end
            after = self._tail
        else:  # after the given item; at the end when it is unknown (dropped, or never seen)
            after = self._items.get(previous_item_id, self._tail)
            if after is node:
                after = self._tail if self._tail is not node else None
        if after is None:
            node._next = self._head
            if self._head is not None:
                self._head._prev = node
            self._head = node
            if self._tail is None:
                self._tail = node
        else:
            node._prev, node._next = after, after._next
            if after._next is not None:
                after._next._prev = node
            else:
                self._tail = node
            after._next = node
        if len(self._items) > self.max_items:
            oldest = self._head
            assert oldest is not None
            del self._items[oldest.id]
            self._unlink(oldest)
            self.dropped += 1

    def restore_events(self) -> list[dict[str, Any]]:
        """``conversation.item.create`` events that rebuild this conversation on a new session."""
        events: list[dict[str, Any]] = []
        previous: str | None = None
        for tracked in self:
            item = _restorable(tracked)
            if item is None:
                continue
            event: dict[str, Any] = {"type": "conversation.item.create", "item": item}
            if previous is not None:
                event["previous_item_id"] = previous
            events.append(event)
            previous = tracked.id
        return events


def _in_band(response: Any) -> bool:
    # out-of-band responses (response.create with conversation "none") carry no conversation id
    # on some servers and "none" on others; both mean "not the default conversation"
    return getattr(response, "conversation_id", None) != "none"


def _restorable(tracked: TrackedItem) -> dict[str, Any] | None:
    item = tracked.item
    if item.status == "in_progress":
        return None
    base: dict[str, Any] = {"id": tracked.id}
    if item.type == "function_call":
        if item.call_id is None or item.name is None:
            return None
        return {
            **base,
            "type": "function_call",
            "call_id": item.call_id,
            "name": item.name,
            "arguments": item.arguments or "",
        }
    if item.type == "function_call_output":
        if item.call_id is None:
            return None
        return {**base, "type": "function_call_output", "call_id": item.call_id, "output": item.output or ""}
    if item.type != "message" or item.role not in ("user", "system", "assistant"):
        return None
    if item.role == "assistant":
        if tracked.truncated:
            return None
        text = tracked.text
        if not text:
            return None
        return {
            **base,
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text}],
        }
    content: list[dict[str, Any]] = []
    for i, c in enumerate(item.content or ()):
        if c.type == "input_text" and c.text is not None:
            content.append({"type": "input_text", "text": c.text})
        elif c.type == "input_audio":
            transcript = c.transcript or tracked.transcripts.get(i)
            if transcript:
                content.append({"type": "input_text", "text": transcript})
        elif c.type == "input_image" and c.image_url and item.role == "user":
            part: dict[str, Any] = {"type": "input_image", "image_url": c.image_url}
            if c.detail:
                part["detail"] = c.detail
            content.append(part)
    if not content:
        return None
    return {**base, "type": "message", "role": item.role, "content": content}
