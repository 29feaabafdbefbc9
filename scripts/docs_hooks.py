"""MkDocs hook (mkdocs.yml ``hooks:``): fills generated parts of the docs pages, so they can never
drift from the code and the vendored spec.

* ``<!-- server-events -->`` / ``<!-- client-events -->`` (docs/reference/events.md): a table of
  wire ``type``, class, and the first line of the class docstring, from the generated types.
* ``<!-- types -->`` (docs/reference/types.md): every generated class of
  ``openai_realtime_ws.types`` in four tables (server events, client events, client-side
  parameters, the objects inside server events), and a fifth for the TypedDicts of
  ``openai_realtime_ws.types.params``, one row each: its fields with their types
  (linked to their rows) and the first line of its docstring. One page, a few headings, instead
  of a heading per class and per field (that page was 1.1 MB with 766 headings).
* ``<!-- include spec/PROTOCOL.md -->`` (docs/protocol.md): the vendored protocol notes, with the
  evidence markers (``[S]``, ``[INF]``, ``[OBS][DOC]`` …) escaped so Markdown does not read them
  as reference links.
* Docstrings use reST roles (``:class:`X```, ``:meth:`~a.b.C.d```); mkdocstrings renders them
  as ``:class:`` followed by code. ``on_page_content`` drops the role and keeps the code (the
  last dotted part for a ``~`` name, as Sphinx would), and reST's ``::`` before a literal block.
* The navigation: mkdocs.yml has no ``nav:`` (every page is included without editing it); this
  hook orders the guides for a reader (``GUIDE_ORDER`` first, any other page after them in
  alphabetical order, the reference last).
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import msgspec

from openai_realtime_ws.types import _generated, params

_MARKERS: dict[str, dict[str, type[Any]]] = {
    "<!-- server-events -->": _generated.SERVER_EVENT_TYPES,
    "<!-- client-events -->": _generated.CLIENT_EVENT_TYPES,
}


def _summary(cls: type[Any]) -> str:
    return (inspect.getdoc(cls) or "").split("\n")[0].replace("|", "\\|")


def event_table(classes: dict[str, type[Any]]) -> str:
    """A Markdown table of ``{wire type: class}``, sorted by wire type; each class links to its
    fields on the types page."""
    rows = ["| `type` | Class | What it is |", "| --- | --- | --- |"]
    for wire, cls in sorted(classes.items()):
        name = cls.__name__
        rows.append(f"| `{wire}` | [`{name}`](types.md#{name.lower()}) | {_summary(cls)} |")
    return "\n".join(rows)


def generated_classes() -> list[type[msgspec.Struct]]:
    """Every public class of the generated types, in name order."""
    return sorted(
        (c for n, c in vars(_generated).items()
         if inspect.isclass(c) and issubclass(c, msgspec.Struct) and c.__module__ == _generated.__name__
         and not n.startswith("_")),
        key=lambda c: c.__name__,
    )


_PREFIX = re.compile(r"\b(?:openai_realtime_ws\.types\._generated|typing|builtins)\.")


def _type_text(annotation: Any, known: set[str]) -> str:
    text = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    text = _PREFIX.sub("", text).replace("NoneType", "None")
    text = re.sub(r"\b([A-Z]\w+)\b", lambda m: f"[{m.group(1)}](#{m.group(1).lower()})"
                  if m.group(1) in known else m.group(1), text)
    return text.replace("|", "\\|")


def param_dicts() -> list[type[Any]]:
    """The TypedDicts of ``openai_realtime_ws.types.params``, in name order."""
    return sorted((getattr(params, n) for n in params.__all__), key=lambda c: c.__name__)


def _annotation_text(annotation: Any, known: set[str]) -> str:
    text = getattr(annotation, "__forward_arg__", None) or str(annotation)
    text = re.sub(r"^(?:Required|NotRequired)\[(.*)\]$", r"\1", text)
    return _type_text(text, known)


def _dicts_table(known: set[str]) -> list[str]:
    dicts = param_dicts()
    names = {c.__name__ for c in dicts} | known
    out = ["## Parameter dicts", "",
           "`openai_realtime_ws.types.params`: one `TypedDict` per `…Param` class and per client "
           "event, for type checkers (what `update_tools(**session)` and the typed resources "
           f"take); at run time they are plain dicts. {len(dicts)} classes.", "",
           "| TypedDict | Keys (required in bold) | Mirrors |", "| --- | --- | --- |"]
    for cls in dicts:
        name = cls.__name__
        required = set(getattr(cls, "__required_keys__", frozenset())) | {
            key for key, ann in cls.__annotations__.items()
            if str(getattr(ann, "__forward_arg__", ann)).startswith("Required[")
        }  # (string annotations hide Required[...] from the TypedDict machinery)
        keys = "<br>".join(
            (f"**`{key}`**" if key in required else f"`{key}`") + f": {_annotation_text(ann, names)}"
            for key, ann in cls.__annotations__.items()
        ) or "—"
        struct = name.removesuffix("Dict")
        mirrors = f"[{struct}](#{struct.lower()})" if struct in known else "—"
        out.append(f'| <a id="{name.lower()}"></a>`{name}` | {keys} | {mirrors} |')
    out.append("")
    return out


def types_tables() -> str:
    """The types page: four tables, one row per generated class (see the module docstring)."""
    classes = generated_classes()
    known = {c.__name__ for c in classes}
    server = set(_generated.SERVER_EVENT_TYPES.values())
    client = set(_generated.CLIENT_EVENT_TYPES.values())
    groups: list[tuple[str, str, list[type[Any]]]] = [
        ("Server events", "What handlers, `wait_for()` and iteration give you.",
         [c for c in classes if c in server]),
        ("Client events", "What `send()` validates a dict against (or takes as an object).",
         [c for c in classes if c in client]),
        ("Parameters", "The objects inside client events (names ending in `Param`).",
         [c for c in classes if c not in server | client and c.__name__.endswith("Param")]),
        ("Objects", "The objects inside server events: sessions, responses, items, content "
         "parts, formats, usage …", [c for c in classes if c not in server | client
                                     and not c.__name__.endswith("Param")]),
    ]
    out: list[str] = []
    for title, what, members in groups:
        out += [f"## {title}", "", f"{what} {len(members)} classes.", "",
                "| Class | Fields | What it is |", "| --- | --- | --- |"]
        for cls in members:
            fields = "<br>".join(
                f"`{f.name}`: {_type_text(f.type, known)}"
                for f in msgspec.structs.fields(cls)
            ) or "—"
            name = cls.__name__
            out.append(f'| <a id="{name.lower()}"></a>`{name}` | {fields} | {_summary(cls)} |')
        out.append("")
    out += _dicts_table(known)
    return "\n".join(out)


_REPO = Path(__file__).resolve().parent.parent
_INCLUDE = re.compile(r"^<!-- include (spec/[\w.-]+\.md) -->$", re.M)
_EVIDENCE = re.compile(r"\[((?:S|SDK|DOC|DOC-MS|OBS|INF)(?:[ :][^\]\n]*)?)\]")


def include_spec(match: re.Match[str]) -> str:
    """The text of a vendored spec file, evidence markers escaped."""
    text = (_REPO / match.group(1)).read_text(encoding="utf-8")
    return _EVIDENCE.sub(lambda m: f"\\[{m.group(1)}\\]", text)


#: The guides in reading order (file names under docs/); pages not listed follow, alphabetically.
GUIDE_ORDER = [
    "index.md", "client.md", "reliability.md", "tools.md", "recipes.md", "voice.md", "sip.md",
    "openai-python.md", "openai-agents.md", "pipecat.md", "observability.md", "relay.md",
    "browser.md", "emulator.md", "cli.md", "benchmarks.md", "protocol.md",
]


def _rank(item: Any) -> tuple[int, int, str]:
    file = getattr(item, "file", None)
    uri = file.src_uri if file is not None else ""
    if not uri:  # a section (the reference): last
        return (2, 0, str(getattr(item, "title", "")))
    if uri in GUIDE_ORDER:
        return (0, GUIDE_ORDER.index(uri), uri)
    return (1, 0, uri)


def _pages(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if getattr(item, "is_page", False):
            out.append(item)
        elif getattr(item, "children", None):
            out.extend(_pages(item.children))
    return out


def on_nav(nav: Any, **kwargs: Any) -> Any:
    nav.items.sort(key=_rank)
    # the previous/next links follow the new order
    pages = _pages(nav.items)
    nav.pages = pages
    for i, page in enumerate(pages):
        page.previous_page = pages[i - 1] if i > 0 else None
        page.next_page = pages[i + 1] if i + 1 < len(pages) else None
    return nav


_ROLE = re.compile(r":(?:class|meth|func|attr|mod|data|exc|obj|const):<code>(~?)([^<]*)</code>")


def _drop_role(match: re.Match[str]) -> str:
    name = match.group(2)
    return f"<code>{name.rsplit('.', 1)[-1] if match.group(1) else name}</code>"


def on_page_content(html: str, **kwargs: Any) -> str:
    # reST's "::" before a literal block: Markdown already made the block code
    html = re.sub(r"<p>::</p>\s*", "", html).replace("::</p>", ":</p>")
    return _ROLE.sub(_drop_role, html)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    for marker, classes in _MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, event_table(classes))
    if "<!-- types -->" in markdown:
        markdown = markdown.replace("<!-- types -->", types_tables())
    return _INCLUDE.sub(include_spec, markdown)
