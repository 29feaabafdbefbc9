# The default conversation: an ordered item list with `previous_item_id` placement (PROTOCOL.md
# §2.1, §4.3: absent = append, "root" = first, an id = right after it), item lookup, and the
# memory bounds of a long session: at most N items (the oldest forgotten) and the items' audio
# within a byte budget (`AudioStore`). No I/O.
from __future__ import annotations

import base64
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

    def trim(self, max_items: int) -> list[str]:
        """Forget the oldest items beyond `max_items` (0 = no limit); returns their ids."""
        if max_items <= 0 or len(self.items) <= max_items:
            return []
        drop = self.items[: len(self.items) - max_items]
        del self.items[: len(drop)]
        for it in drop:
            self._by_id.pop(it["id"], None)
        return [it["id"] for it in drop]


class AudioStore:
    """The audio of conversation items, within a byte budget: user items keep their wire bytes,
    assistant items the base64 chunks they were streamed in. Every item keeps its duration (usage
    and truncation need it); once the stored bytes pass `max_bytes` the oldest items' bytes are
    dropped (`wire_bytes()` then answers None: `conversation.item.retrieve` shows no audio)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._ms: dict[str, float] = {}
        self._fmt: dict[str, str] = {}
        self._data: dict[str, bytes | list[str]] = {}  # insertion order = age
        self._size: dict[str, int] = {}
        self.bytes = 0

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._ms

    def put_input(self, item_id: str, data: bytes, fmt: str) -> None:
        self._put(item_id, data, len(data), len(data) / _bytes_per_ms(fmt), fmt)

    def put_assistant(self, item_id: str, chunks: list[str], ms: float, fmt: str) -> None:
        size = sum(len(c) for c in chunks) * 3 // 4
        self._put(item_id, chunks, size, ms, fmt)

    def _put(self, item_id: str, data: bytes | list[str], size: int, ms: float, fmt: str) -> None:
        self.pop(item_id)
        self._ms[item_id], self._fmt[item_id] = ms, fmt
        self._data[item_id], self._size[item_id] = data, size
        self.bytes += size
        while self.bytes > self.max_bytes > 0 and self._data:
            oldest = next(iter(self._data))
            del self._data[oldest]
            self.bytes -= self._size.pop(oldest)

    def ms(self, item_id: str) -> float | None:
        return self._ms.get(item_id)

    def cut(self, item_id: str, end_ms: float) -> None:
        """Keep the first `end_ms` of an item's audio."""
        if item_id in self._ms:
            self._ms[item_id] = min(self._ms[item_id], end_ms)

    def wire_bytes(self, item_id: str) -> bytes | None:
        data = self._data.get(item_id)
        if data is None:
            return None
        raw = data if isinstance(data, bytes) else b"".join(base64.b64decode(c) for c in data)
        return raw[: int(self._ms[item_id] * _bytes_per_ms(self._fmt[item_id]))]

    def pop(self, item_id: str) -> None:
        self._ms.pop(item_id, None)
        self._fmt.pop(item_id, None)
        if self._data.pop(item_id, None) is not None:
            self.bytes -= self._size.pop(item_id)

    def clear(self) -> None:
        self._ms.clear()
        self._fmt.clear()
        self._data.clear()
        self._size.clear()
        self.bytes = 0


def _bytes_per_ms(fmt: str) -> int:
    return 48 if fmt == "audio/pcm" else 8
