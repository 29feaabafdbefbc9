"""core.conversation: order from previous_item_id, O(1) linked updates, the item cap (oldest
dropped) and what restore re-creates then. No event loop."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from openai_realtime_ws.core.codec import ServerEventDecoder
from openai_realtime_ws.core.conversation import DEFAULT_MAX_ITEMS, Conversation
from openai_realtime_ws.types import AnyServerEvent

DEC = ServerEventDecoder()


def ev(data: dict[str, Any]) -> AnyServerEvent:
    return DEC.decode(msgspec.json.encode({"event_id": "e", **data}))


def added(item_id: str, previous: str | None, text: str = "hi") -> AnyServerEvent:
    return ev({
        "type": "conversation.item.added", "previous_item_id": previous,
        "item": {"id": item_id, "type": "message", "role": "user", "status": "completed",
                 "content": [{"type": "input_text", "text": text}]},
    })


def deleted(item_id: str) -> AnyServerEvent:
    return ev({"type": "conversation.item.deleted", "item_id": item_id})


def ids(conv: Conversation) -> list[str]:
    return [t.id for t in conv]


def test_order_follows_previous_item_id() -> None:
    conv = Conversation()
    for e in (added("a", None), added("c", "a"), added("b", "a"), added("z", "root"),
              added("d", "c"), added("x", "unknown-id")):
        conv.apply(e)
    assert ids(conv) == ["z", "a", "b", "c", "d", "x"]
    assert conv.last_item_id == "x" and len(conv) == 6


def test_delete_anywhere_and_reinsert() -> None:
    conv = Conversation()
    for e in (added("a", None), added("b", "a"), added("c", "b")):
        conv.apply(e)
    for gone, left in (("b", ["a", "c"]), ("c", ["a"]), ("a", []), ("a", [])):
        conv.apply(deleted(gone))
        assert ids(conv) == left
    assert conv.last_item_id is None
    conv.apply(added("n", "b"))  # after an item that is gone: at the end
    conv.apply(added("m", "root"))
    assert ids(conv) == ["m", "n"]


def test_update_keeps_the_position() -> None:
    conv = Conversation()
    conv.apply(added("a", None, "one"))
    conv.apply(added("b", "a"))
    conv.apply(added("a", "b", "two"))  # conversation.item.done of a: same place, new content
    assert ids(conv) == ["a", "b"]
    tracked = conv.get("a")
    assert tracked is not None and tracked.text == "two"


def test_cap_drops_the_oldest_and_restore_recreates_what_is_kept() -> None:
    conv = Conversation(max_items=3)
    prev: str | None = None
    for i in range(5):
        conv.apply(added(f"i{i}", prev, f"t{i}"))
        prev = f"i{i}"
    assert ids(conv) == ["i2", "i3", "i4"] and conv.dropped == 2 and len(conv) == 3
    events = conv.restore_events()
    assert [e["item"]["id"] for e in events] == ["i2", "i3", "i4"]
    assert "previous_item_id" not in events[0]  # the first kept item opens the new conversation
    assert [e.get("previous_item_id") for e in events[1:]] == ["i2", "i3"]
    # an item placed after a dropped one goes to the end
    conv.apply(added("late", "i0"))
    assert ids(conv) == ["i3", "i4", "late"] and conv.dropped == 3


def test_cap_drops_the_first_of_the_conversation_not_the_first_seen() -> None:
    conv = Conversation(max_items=2)
    conv.apply(added("b", None))
    conv.apply(added("a", "root"))  # now first
    conv.apply(added("c", "b"))
    assert ids(conv) == ["b", "c"]


def test_default_cap_and_bad_cap() -> None:
    assert Conversation().max_items == DEFAULT_MAX_ITEMS == 2048
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="max_items"):
            Conversation(max_items=bad)  # type: ignore[arg-type]


def test_clear_and_iteration_snapshot() -> None:
    conv = Conversation()
    for i in range(4):
        conv.apply(added(f"i{i}", f"i{i - 1}" if i else None))
    seen = []
    for tracked in conv:  # applying events while iterating does not break the iteration
        seen.append(tracked.id)
        conv.apply(deleted(tracked.id))
    assert seen == ["i0", "i1", "i2", "i3"] and len(conv) == 0
    conv.apply(added("x", None))
    conv.clear()
    assert ids(conv) == [] and conv.last_item_id is None and len(conv) == 0


def test_large_conversation_stays_bounded() -> None:
    conv = Conversation(max_items=100)
    prev: str | None = None
    for i in range(1000):
        conv.apply(added(f"i{i}", prev))
        prev = f"i{i}"
    assert len(conv) == 100 and conv.dropped == 900
    assert ids(conv) == [f"i{i}" for i in range(900, 1000)]
