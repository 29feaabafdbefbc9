"""Write the seed corpus (fuzz/corpus/) from the spec's own example payloads.

``x-oaiMeta.example`` strings are JS-ish (comments, trailing commas): they are parsed leniently,
re-encoded compactly, deduplicated and written one file per example (content-hashed names).
A few hand-written frames that the examples do not cover are added.

    .venv/bin/python fuzz/make_corpus.py [path/to/realtime-openapi-subset.json]
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_SPEC = HERE.parent / "spec" / "realtime-openapi-subset.json"  # the vendored copy
MAX_BYTES = 4096

EXTRA = [
    b'{"type":"session.created","event_id":"event_1","session":{"type":"realtime","id":"sess_1"}}',
    b'{"type":"error","event_id":"e","error":{"type":"invalid_request_error","code":429,"message":null}}',
    b'{"type":"brand.new.event","event_id":"e","x":[1,2.5,true,null,{"y":"z"}]}',
    b'{"type":"response.output_audio.delta","event_id":"e","response_id":"r","item_id":"i",'
    b'"output_index":0,"content_index":0,"delta":"AAAA"}',
    b'{"type":"event"}',
    b"[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]",
    b'{"type":5}',
    b'{"type":"x","a":"\\ud83d\\ude00","b":18446744073709551616,"c":1e308}',
]


def lenient_json(text: str) -> list[Any]:
    """Every JSON document in ``text``, allowing // and /* */ comments and trailing commas."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            i = text.find("\n", i) if "\n" in text[i:] else n
        elif text.startswith("/*", i):
            i = text.find("*/", i) + 2
        else:
            out.append(c)
            i += 1
    cleaned = re.sub(r",(\s*[}\]])", r"\1", "".join(out)).strip()
    decoder, values, pos = json.JSONDecoder(), [], 0
    while pos < len(cleaned):
        value, end = decoder.raw_decode(cleaned, pos)
        values.append(value)
        pos = len(cleaned) - len(cleaned[end:].lstrip())
    return values


def main() -> int:
    spec_path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SPEC
    schemas = json.loads(spec_path.read_text())["components"]["schemas"]
    corpus = HERE / "corpus"
    corpus.mkdir(exist_ok=True)
    frames: dict[str, bytes] = {}
    skipped = 0
    for name, schema in sorted(schemas.items()):
        example = (schema.get("x-oaiMeta") or {}).get("example")
        if not isinstance(example, str):
            continue
        try:
            values = lenient_json(example)
        except ValueError:
            skipped += 1
            print(f"skipped (not JSON even leniently): {name}", file=sys.stderr)
            continue
        for value in values:
            data = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
            if len(data) <= MAX_BYTES:
                frames[hashlib.sha1(data).hexdigest()[:16]] = data
    for data in EXTRA:
        frames[hashlib.sha1(data).hexdigest()[:16]] = data
    for old in corpus.glob("*.json"):
        old.unlink()
    for digest, data in sorted(frames.items()):
        (corpus / f"{digest}.json").write_bytes(data)
    print(f"{len(frames)} seed frames in {corpus} ({skipped} examples skipped)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
