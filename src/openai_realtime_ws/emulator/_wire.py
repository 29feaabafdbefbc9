# The emulator's wire: server events queued as ready-made RFC 6455 text frames and written to the
# transport in bursts (`_queue_event`, `_write_out`, `_flush`), with the cached headers and the
# `response.output_audio.delta` template that make a flood cheap, and the process-wide frame
# observers (`add_frame_observer`). No protocol decision here: what to send is the session's,
# when and whether (faults, locks) the executor's.
from __future__ import annotations

import contextlib
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from .records import ConnectionRecord

_encoder = msgspec.json.Encoder()

_frame_observers: list[Callable[[dict[str, Any]], None]] = []


def add_frame_observer(observer: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
    """Process-wide hook: `observer(event)` for every event any emulator sends (for fidelity
    checks in test suites). Returns a function that removes it."""
    _frame_observers.append(observer)

    def remove() -> None:
        with contextlib.suppress(ValueError):
            _frame_observers.remove(observer)

    return remove


# --- the raw frame writer ------------------------------------------------------------------
# Server events are queued as ready-made RFC 6455 frames in `conn._out` (server frames are
# unmasked: 0x81, a 7/16/64-bit length, the payload) and a burst goes to the transport in one
# `write`. That is only valid because every emulator socket is uncompressed (`compress=False`,
# checked in `_handle_ws`): aiohttp's writer then writes each of its own frames (pongs, close)
# synchronously in one piece, so it is never mid-frame when we write. Flow control: after a
# write, `_flush` awaits drain while the transport is above its high-water mark.

FLUSH_BYTES = 256 * 1024
"""Write the queued frames once this many payload bytes are queued."""
YIELD_BYTES = 1024 * 1024
"""A burst (inject, a speed-0 response) yields to the event loop after about this many bytes
even when the socket never pushes back (pings, reads and other connections go on)."""
_MAX_STEPS = 4096
"""A response stream releases the connection lock at least every this many steps."""

_H16 = struct.Struct(">BBH").pack
_H64 = struct.Struct(">BBQ").pack
_HEADERS: dict[int, bytes] = {n: bytes((0x81, n)) for n in range(126)}


def _text_frame_header(n: int) -> bytes:
    """RFC 6455 §5.2 header of an unmasked, final text frame with an n-byte payload (cached)."""
    h = _HEADERS.get(n)
    if h is None:
        h = _H16(0x81, 126, n) if n < 65536 else _H64(0x81, 127, n)
        if len(_HEADERS) < 8192:
            _HEADERS[n] = h
    return h


# `response.output_audio.delta`, the bulk of any response, is written from a template instead of
# a msgspec encode per event: its base64 `delta` (the synthesizer hands out the same str objects
# again and again) is encoded once and cached by identity, the ids/indexes part once per item.
# Only for dicts with exactly these keys and values of these exact types; the bytes are what
# `_encoder.encode(event)` makes for the keys in this order, the order the core builds them in
# (tests/emulator/test_throughput.py). The key order is not checked: a dict with these keys in
# another order is written in this one (the same JSON object).
_AUDIO_DELTA = "response.output_audio.delta"
_AUDIO_DELTA_HEAD = b'{"type":"response.output_audio.delta","event_id":'
_AUDIO_DELTA_FIXED = len(_AUDIO_DELTA_HEAD) + 1  # + the closing brace
_audio_mid: dict[tuple[str, str, int, int], bytes] = {}
_b64_cache: dict[int, tuple[str, bytes]] = {}  # id(delta) -> (delta, its JSON); holding delta pins its id
_b64_cache_bytes = 0
_B64_CACHE_MAX = 8 * 1024 * 1024


def _queue_event(conn: ConnectionRecord, event: dict[str, Any]) -> None:
    """Encode one event and queue it as a frame (observers and faults are the caller's)."""
    global _b64_cache_bytes
    if conn._tap is not None:
        conn._tap(event)
    if conn.transcript is not None:
        conn.transcript.append(("server", round(time.monotonic() - conn._t0, 4), event))
    out = conn._out
    if len(event) == 7 and event.get("type") == _AUDIO_DELTA:
        try:
            delta = event["delta"]
            hit = _b64_cache.get(id(delta))
            if hit is not None and hit[0] is delta:
                eid, oi, ci = event["event_id"], event["output_index"], event["content_index"]
                key = (event["response_id"], event["item_id"], oi, ci)
                mid = _audio_mid.get(key)
                if mid is not None and type(eid) is str and type(oi) is int and type(ci) is int:
                    eid_json = _encoder.encode(eid)
                    enc = hit[1]
                    n = _AUDIO_DELTA_FIXED + len(eid_json) + len(mid) + len(enc)
                    out += (_HEADERS.get(n) or _text_frame_header(n), _AUDIO_DELTA_HEAD, eid_json, mid, enc, b"}")
                    conn._out_size += n
                    conn.sent_count += 1
                    return
                rid, iid = key[0], key[1]
                if type(rid) is str and type(iid) is str and type(oi) is int and type(ci) is int:
                    if len(_audio_mid) >= 1024:
                        _audio_mid.clear()
                    _audio_mid[key] = b"".join((
                        b',"response_id":', _encoder.encode(rid), b',"item_id":', _encoder.encode(iid),
                        b',"output_index":', _encoder.encode(oi), b',"content_index":', _encoder.encode(ci),
                        b',"delta":'))
            elif type(delta) is str:
                enc = _encoder.encode(delta)
                if _b64_cache_bytes + len(enc) > _B64_CACHE_MAX:
                    _b64_cache.clear()
                    _b64_cache_bytes = 0
                _b64_cache[id(delta)] = (delta, enc)
                _b64_cache_bytes += len(enc)
        except (KeyError, TypeError):  # a key missing, an unhashable id: msgspec decides below
            pass
    payload = _encoder.encode(event)
    n = len(payload)
    out.append(_HEADERS.get(n) or _text_frame_header(n))
    out.append(payload)
    conn._out_size += n
    conn.sent_count += 1


def _write_out(conn: ConnectionRecord) -> None:
    """Write the queued frames in one transport write (one syscall for a burst). Nothing is
    written once the connection is dead or aiohttp sent a close frame."""
    if conn._out:
        data = b"".join(conn._out)
        conn._out.clear()
        conn._out_size = 0
        transport = conn._request.transport if conn._request is not None else None
        if conn._dead or transport is None or transport.is_closing() or (conn._ws is not None and conn._ws.closed):
            conn._dead = True
            return
        transport.write(data)


async def _flush(conn: ConnectionRecord) -> None:
    """Write queued frames and wait while the transport is above its high-water mark."""
    _write_out(conn)
    if conn._writer is not None and not conn._dead:
        try:
            await conn._writer.drain()
        except (ConnectionError, RuntimeError):
            conn._dead = True


