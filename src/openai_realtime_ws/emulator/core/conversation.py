# The default conversation: an ordered item list with `previous_item_id` placement (PROTOCOL.md
# §2.1, §4.3: absent = append, "root" = first, an id = right after it) and item lookup. No I/O.
from __future__ import annotations

from typing import Any


class Conversation:
    """Items in order. Items are the wire dicts (without audio bytes)."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._by_id: dict[str, dict[str, Any]] = {}

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._by_id

    def __len__(self) -> int:
        return len(self.items)

    def get(self, item_id: str) -> dict[str, Any] | None:
        return self._by_id.get(item_id)

    def last_id(self) -> str | None:
        return self.items[-1]["id"] if self.items else None

    def append(self, item: dict[str, Any]) -> str | None:
        """Append; returns the previous item's id (None when first)."""
        prev = self.last_id()
        self.items.append(item)
        self._by_id[item["id"]] = item
        return prev

    def insert_after(self, item: dict[str, Any], previous_item_id: str | None) -> str | None:
        """Insert after `previous_item_id` ("root" = at the start, None = at the end).
        The caller checked that the id exists. Returns the id of the item now before it."""
        if previous_item_id is None:
            return self.append(item)
        if previous_item_id == "root":
            pos = 0
        else:
            pos = next(i for i, it in enumerate(self.items) if it["id"] == previous_item_id) + 1
        self.items.insert(pos, item)
        self._by_id[item["id"]] = item
        return self.items[pos - 1]["id"] if pos > 0 else None

    def delete(self, item_id: str) -> None:
        item = self._by_id.pop(item_id)
        self.items.remove(item)
