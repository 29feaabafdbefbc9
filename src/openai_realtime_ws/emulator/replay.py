# Recordings for the replay responder: "record once against the real API, replay in CI". A
# `Recording` is the ordered client and server events of one session, loaded from the CLI's
# `openai-realtime-ws events --record FILE.jsonl` (one `{"direction", "t", "event"}` object per
# line; a `meta` header) or taken from an emulator connection recorded with
# `EmulatorConfig(record_transcript=True)`; `Emulator(replay=recording)` then answers every
# connection with it (see core/replay.py for the matching rules).
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from .core.replay import RecordedEvent, ReplaySession, index_audio

if TYPE_CHECKING:
    from .server import ConnectionRecord

__all__ = ["Recording"]

_encoder = msgspec.json.Encoder()


class Recording:
    """The client and server events of one session, in order (`(direction, event)` pairs,
    direction "client" or "server"; `t` seconds since connect, kept for saving)."""

    def __init__(self, events: Iterable[tuple[str, dict[str, Any]] | tuple[str, float, dict[str, Any]]]) -> None:
        self.events: list[tuple[str, float, dict[str, Any]]] = []
        for entry in events:
            direction, t, event = (entry[0], 0.0, entry[1]) if len(entry) == 2 else entry
            if direction not in ("client", "server"):
                raise ValueError(f"a recorded event's direction is 'client' or 'server', got {direction!r}")
            if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                raise ValueError(f"a recorded event must be an object with a string 'type', got {event!r:.80}")
            self.events.append((direction, float(t), event))

    @classmethod
    def load(cls, path: str | Path) -> Recording:
        """A recording written by `openai-realtime-ws events --record FILE.jsonl` (or `save`).
        ValueError names the line that is not a recording line."""
        events: list[tuple[str, float, dict[str, Any]]] = []
        text = Path(path).read_text(encoding="utf-8")
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = msgspec.json.decode(line)
                direction, event = entry["direction"], entry["event"]
                t = float(entry.get("t", 0.0))
            except (msgspec.DecodeError, KeyError, TypeError, ValueError, AttributeError):
                raise ValueError(f"{path}:{n}: not a recording line (expected "
                                 '{"direction", "t", "event"})') from None
            if direction == "meta":
                continue
            events.append((direction, t, event))
        return cls(events)

    @classmethod
    def from_connection(cls, record: ConnectionRecord) -> Recording:
        """What one emulator connection received and sent (the emulator must run with
        `EmulatorConfig(record_transcript=True)`)."""
        if record.transcript is None:
            raise ValueError("this connection kept no transcript: run the emulator with "
                             "EmulatorConfig(record_transcript=True)")
        return cls(list(record.transcript))

    def save(self, path: str | Path) -> None:
        """Write it in the CLI's record format (a `meta` header, then one line per event)."""
        with open(path, "wb") as out:
            out.write(_encoder.encode({"direction": "meta", "t": 0, "event": {"recorded_by": "openai-realtime-ws"}}))
            out.write(b"\n")
            for direction, t, event in self.events:
                out.write(_encoder.encode({"direction": direction, "t": t, "event": event}))
                out.write(b"\n")

    def client_types(self) -> list[str]:
        """The `type` of each recorded client event, in order."""
        return [str(e["type"]) for d, _, e in self.events if d == "client"]

    def steps(self) -> Sequence[RecordedEvent]:
        """The events as the replay matches them (server events with their audio position)."""
        return index_audio([(d, e) for d, _, e in self.events])

    def session(self) -> ReplaySession:
        """A fresh replay of this recording (one per connection)."""
        return ReplaySession(self.steps())

    def __len__(self) -> int:
        return len(self.events)

    def __repr__(self) -> str:
        clients = sum(1 for d, _, _ in self.events if d == "client")
        return f"Recording({clients} client events, {len(self.events) - clients} server events)"
