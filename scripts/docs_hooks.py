"""MkDocs hook (mkdocs.yml ``hooks:``): fills generated parts of the docs pages, so they can never
drift from the code and the vendored spec.

* ``<!-- server-events -->`` / ``<!-- client-events -->`` (docs/reference/events.md): a table of
  wire ``type``, class, and the first line of the class docstring, from the generated types.
* ``<!-- include spec/PROTOCOL.md -->`` (docs/protocol.md): the vendored protocol notes, with the
  evidence markers (``[S]``, ``[INF]``, ``[OBS][DOC]`` …) escaped so Markdown does not read them
  as reference links.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

from openai_realtime_ws.types import _generated

_MARKERS: dict[str, dict[str, type[Any]]] = {
    "<!-- server-events -->": _generated.SERVER_EVENT_TYPES,
    "<!-- client-events -->": _generated.CLIENT_EVENT_TYPES,
}


def event_table(classes: dict[str, type[Any]]) -> str:
    """A Markdown table of ``{wire type: class}``, sorted by wire type."""
    rows = ["| `type` | Class | What it is |", "| --- | --- | --- |"]
    for wire, cls in sorted(classes.items()):
        doc = (inspect.getdoc(cls) or "").split("\n")[0].replace("|", "\\|")
        rows.append(f"| `{wire}` | `{cls.__name__}` | {doc} |")
    return "\n".join(rows)


_REPO = Path(__file__).resolve().parent.parent
_INCLUDE = re.compile(r"^<!-- include (spec/[\w.-]+\.md) -->$", re.M)
_EVIDENCE = re.compile(r"\[((?:S|SDK|DOC|DOC-MS|OBS|INF)(?:[ :][^\]\n]*)?)\]")


def include_spec(match: re.Match[str]) -> str:
    """The text of a vendored spec file, evidence markers escaped."""
    text = (_REPO / match.group(1)).read_text(encoding="utf-8")
    return _EVIDENCE.sub(lambda m: f"\\[{m.group(1)}\\]", text)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    for marker, classes in _MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, event_table(classes))
    return _INCLUDE.sub(include_spec, markdown)
