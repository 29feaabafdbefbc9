"""The conversation mirror's cost per item as the conversation grows (core.conversation).

Feeds a Conversation the events a voice call produces per turn (``conversation.item.added`` and
``conversation.item.done`` for a user audio item, an input transcription, then the same two for
the assistant's answer), each item placed after the previous one (``previous_item_id``, as the
server does), plus one ``conversation.item.deleted`` of an old item every 10 items. Prints
µs per item at the sizes given (default 10k and 60k items).

    .venv/bin/python bench/conversation_mirror.py [--sizes 10000,60000] [--max-items N]
"""

from __future__ import annotations

import argparse
import inspect
import time
from typing import Any

import msgspec

from openai_realtime_ws.core.codec import ServerEventDecoder
from openai_realtime_ws.core.conversation import Conversation
from openai_realtime_ws.types import AnyServerEvent, ConversationItemAddedEvent


def _events(n: int) -> list[AnyServerEvent]:
    """The server events of ``n`` items, decoded as the client decodes them."""
    raw: list[dict[str, Any]] = []
    prev: str | None = None
    for i in range(n):
        iid = f"item_{i:08d}"
        if i % 2 == 0:
            item = {"id": iid, "object": "realtime.item", "type": "message", "role": "user",
                    "status": "completed",
                    "content": [{"type": "input_audio", "transcript": None}]}
        else:
            item = {"id": iid, "object": "realtime.item", "type": "message", "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_audio", "transcript": f"answer {i}"}]}
        for kind in ("conversation.item.added", "conversation.item.done"):
            raw.append({"type": kind, "event_id": "e", "previous_item_id": prev, "item": item})
        if i % 2 == 0:
            raw.append({
                "type": "conversation.item.input_audio_transcription.completed", "event_id": "e",
                "item_id": iid, "content_index": 0, "transcript": f"question {i}",
                "usage": {"type": "duration", "seconds": 1},
            })
        if i % 10 == 9 and i > 100:
            raw.append({"type": "conversation.item.deleted", "event_id": "e",
                        "item_id": f"item_{i - 100:08d}"})
        prev = iid
    decoder = ServerEventDecoder()
    return [decoder.decode(msgspec.json.encode(r)) for r in raw]


def measure(n: int, max_items: int | None) -> tuple[float, float, int]:
    kwargs = {} if max_items is None else {"max_items": max_items}
    if "max_items" not in inspect.signature(Conversation).parameters:
        kwargs = {}
    events = _events(n)
    conv = Conversation(**kwargs)
    t0 = time.perf_counter()
    for e in events:
        conv.apply(e)
    dt = time.perf_counter() - t0
    # the last 1000 items alone (cost at that size, not averaged from empty)
    tail = events[-3000:]
    conv2 = Conversation(**kwargs)
    for e in events[:-3000]:
        conv2.apply(e)
    t0 = time.perf_counter()
    for e in tail:
        conv2.apply(e)
    dt_tail = time.perf_counter() - t0
    items_tail = sum(1 for e in tail if isinstance(e, ConversationItemAddedEvent))
    return dt / n * 1e6, dt_tail / max(items_tail, 1) * 1e6, len(conv)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,60000")
    ap.add_argument("--max-items", type=int, default=None)
    args = ap.parse_args()
    print(f"{'items fed':>10} {'µs/item (avg)':>14} {'µs/item (at end)':>17} {'kept':>8}")
    for n in (int(x) for x in args.sizes.split(",")):
        avg, tail, kept = measure(n, args.max_items)
        print(f"{n:>10} {avg:>14.2f} {tail:>17.2f} {kept:>8}")


if __name__ == "__main__":
    main()
