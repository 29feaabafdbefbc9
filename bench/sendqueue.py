"""Cost of one ``send_audio`` on a stalled socket: ``OutboundQueue.push`` of a 20 ms audio event
into a queue already full (core.sendqueue), so that every push drops the oldest audio.

Fills an ``OutboundQueue(8 MiB)`` (the client's default ``send_queue_bytes``) with 20 ms
``input_audio_buffer.append`` events (24 kHz PCM16: 960 samples, 1,345 bytes encoded), with one
control event every 50, then times pushes; also times push+popleft on an empty queue (the
flowing case). Prints µs per push.

    .venv/bin/python bench/sendqueue.py [--max-bytes N] [--pushes N]
"""

from __future__ import annotations

import argparse
import time

from openai_realtime_ws.core.codec import ClientEventEncoder
from openai_realtime_ws.core.sendqueue import OutboundQueue


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-bytes", type=int, default=8 * 1024 * 1024)
    ap.add_argument("--pushes", type=int, default=5000)
    args = ap.parse_args()
    enc = ClientEventEncoder()
    audio = enc.encode_audio(bytes(960))
    control = enc.encode({"type": "response.cancel"})
    q = OutboundQueue(args.max_bytes)
    i = 0
    while q.nbytes + len(audio) <= args.max_bytes:
        q.push(control if i % 50 == 49 else audio, droppable=i % 50 != 49)
        i += 1
    full = len(q)
    t0 = time.perf_counter()
    dropped = 0
    for _ in range(args.pushes):
        dropped += q.push(audio, droppable=True)
    stalled = (time.perf_counter() - t0) / args.pushes * 1e6
    t0 = time.perf_counter()
    for _ in range(args.pushes):
        q.push(control, droppable=False)
    stalled_control = (time.perf_counter() - t0) / args.pushes * 1e6
    q2 = OutboundQueue(args.max_bytes)
    t0 = time.perf_counter()
    for _ in range(args.pushes * 10):
        q2.push(audio, droppable=True)
        q2.popleft()
    flowing = (time.perf_counter() - t0) / (args.pushes * 10) * 1e6
    print(f"queue of {args.max_bytes} bytes: {full} events when full ({len(audio)} bytes of audio each)")
    print(f"  push audio into a full queue : {stalled:8.2f} µs/push ({dropped} dropped)")
    print(f"  push control into a full queue: {stalled_control:8.2f} µs/push")
    print(f"  push+popleft, flowing         : {flowing:8.2f} µs/push")


if __name__ == "__main__":
    main()
