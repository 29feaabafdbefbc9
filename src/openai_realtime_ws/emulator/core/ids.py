# Identifier shapes of the Realtime API (PROTOCOL.md §1.1): `event_` + 21 alphanumerics for server
# events, `sess_`/`conv_`/`resp_`/`item_` + 21, `call_` + 16, client secrets `ek_` + 32 hex.
# One `IdFactory` per emulator; seeded for reproducible runs. No I/O, no clock.
from __future__ import annotations

import random
import string

ALNUM = string.ascii_letters + string.digits


class IdFactory:
    """Makes fresh ids. Event ids are cheap (a random 13-char stem per factory + an 8-hex counter),
    because a flood sends 100k of them; the other ids are fully random."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._stem = "event_" + self._alnum(13)
        self._counter = 0

    def _alnum(self, n: int) -> str:
        return "".join(self._rng.choices(ALNUM, k=n))

    def event(self) -> str:
        self._counter += 1
        return f"{self._stem}{self._counter & 0xFFFFFFFF:08x}"

    def new(self, prefix: str, length: int = 21) -> str:
        """`prefix` + "_" + `length` alphanumerics, e.g. new("item") -> "item_…"."""
        return f"{prefix}_{self._alnum(length)}"

    def call(self) -> str:
        return self.new("call", 16)

    def client_secret(self) -> str:
        return "ek_" + "".join(self._rng.choices("0123456789abcdef", k=32))
