# The PocketSphinx helper process of `voice.PocketsphinxTranscriber(process=True)`: PocketSphinx
# holds the GIL for much of its search, so decoding in a thread of the emulator's process still
# stalls its event loop; in a process of its own it does not. Run as
# `python -m openai_realtime_ws.emulator._recognizer` (no multiprocessing: nothing re-imports the
# parent's main module). Protocol on stdin/stdout: one JSON line of `pocketsphinx.Decoder` options,
# then per utterance a 4-byte big-endian length and that many bytes of 16 kHz PCM16 mono; each is
# answered with one JSON line, `{"text": "..."}` or `{"error": "..."}`. EOF on stdin ends it.
from __future__ import annotations

import importlib
import json
import struct
import sys
from typing import Any, BinaryIO


def serve(inp: BinaryIO, out: BinaryIO) -> None:
    options: dict[str, Any] = json.loads(inp.readline())
    decoder: Any = None
    error: str | None = None
    try:
        pocketsphinx: Any = importlib.import_module("pocketsphinx")
        decoder = pocketsphinx.Decoder(**options)
    except Exception as exc:  # reported on every request: the parent raises it
        error = f"PocketSphinx does not start: {exc}"
    while True:
        head = inp.read(4)
        if len(head) < 4:
            return
        (n,) = struct.unpack(">I", head)
        pcm = inp.read(n)
        if decoder is None:
            reply: dict[str, str] = {"error": error or "no decoder"}
        else:
            try:
                decoder.start_utt()
                decoder.process_raw(pcm, full_utt=True)
                decoder.end_utt()
                hyp = decoder.hyp()
                reply = {"text": " ".join(str(hyp.hypstr).split()) if hyp is not None else ""}
            except Exception as exc:
                reply = {"error": f"PocketSphinx failed: {exc}"}
        out.write(json.dumps(reply).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
