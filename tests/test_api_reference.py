"""The API reference (docs/reference/, built by mkdocstrings in .ci/run with --strict) covers the
whole public API: every name exported by the public modules appears on a reference page, and it
and each of its public methods and properties has a docstring (mkdocstrings shows nothing for an
undocumented one)."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "docs" / "reference"

#: Modules whose ``__all__`` is public API, and must be on a reference page.
PUBLIC_MODULES = [
    "openai_realtime_ws",
    "openai_realtime_ws.emulator",
    "openai_realtime_ws.core.tools",
    "openai_realtime_ws.audio",
    "openai_realtime_ws.voice",
    "openai_realtime_ws.relay",
    "openai_realtime_ws.telephony",
    "openai_realtime_ws.scale",
    "openai_realtime_ws.types",
    "openai_realtime_ws.types.resources",
    "openai_realtime_ws.types.params",
    "openai_realtime_ws.core.ask",
]
#: Exported names that are not documented objects (data, aliases of documented things). The event
#: unions are type aliases: their docstrings are attribute docstrings, which the reference shows
#: but ``inspect.getdoc`` cannot see.
NOT_DOCUMENTED = {"__version__", "ClientEvent", "ServerEvent", "AnyServerEvent"}


def _public_objects() -> list[tuple[str, str, Any]]:
    out: list[tuple[str, str, Any]] = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if name not in NOT_DOCUMENTED:
                out.append((module_name, name, getattr(module, name)))
    return out


def _reference_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(REFERENCE.glob("*.md")))


def _hooks() -> Any:
    """scripts/docs_hooks.py, the mkdocs hook that fills the generated parts of the pages."""
    spec = importlib.util.spec_from_file_location("docs_hooks", REPO / "scripts" / "docs_hooks.py")
    assert spec is not None and spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    return hooks


def _on_types_page(module: str, name: str, obj: Any) -> bool:
    """The types page lists every generated class in the hook's tables, and names the rest."""
    if module not in ("openai_realtime_ws.types", "openai_realtime_ws.types.params"):
        return False
    page = (REFERENCE / "types.md").read_text(encoding="utf-8")
    hooks = _hooks()
    if obj in hooks.generated_classes() or obj in hooks.param_dicts():
        return "<!-- types -->" in page
    return f"`{name}`" in page


def _own_members(cls: type) -> list[tuple[str, Any]]:
    """Public methods and properties a user calls on ``cls`` (its own and its mixins')."""
    members: list[tuple[str, Any]] = []
    for klass in cls.__mro__:
        if klass.__module__ in ("builtins", "typing", "abc") or klass.__module__.startswith("msgspec"):
            continue
        if not klass.__module__.startswith("openai_realtime_ws") or issubclass(klass, BaseException):
            if klass is not cls:
                continue
        for name, value in vars(klass).items():
            if name.startswith("_") or name in dict(members):
                continue
            if inspect.isfunction(value) or isinstance(value, classmethod | staticmethod | property):
                members.append((name, value))
    return members


def _doc(value: Any) -> str:
    if isinstance(value, classmethod | staticmethod):
        value = value.__func__
    if isinstance(value, property):
        return (value.__doc__ or "").strip()
    return (inspect.getdoc(value) or "").strip()


@pytest.mark.parametrize(("module", "name", "obj"), _public_objects(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_public_name_is_documented_and_in_the_reference(module: str, name: str, obj: Any) -> None:
    assert _doc(obj), f"{module}.{name} has no docstring"
    text = _reference_text()
    home = getattr(obj, "__module__", module)
    assert re.search(rf"^::: [\w.]*\b{re.escape(name)}$", text, re.M) or re.search(
        rf"^::: ({re.escape(module)}|{re.escape(home)})$", text, re.M
    ) or _on_types_page(module, name, obj), f"{module}.{name} is on no page of docs/reference/"
    if inspect.isclass(obj):
        # an override without its own docstring inherits its base's (inspect.getdoc's rule)
        missing = [m for m, v in _own_members(obj)
                   if not _doc(v) and (isinstance(v, property) or not _doc(getattr(obj, m)))]
        assert not missing, f"{name}: methods without a docstring: {missing}"


def test_every_event_class_is_listed() -> None:
    from openai_realtime_ws.types import _generated

    page = (REFERENCE / "events.md").read_text(encoding="utf-8")
    assert "<!-- server-events -->" in page and "<!-- client-events -->" in page
    # the mkdocs hook that fills those markers lists every class of both unions
    rendered = _hooks().on_page_markdown(page)
    for classes in (_generated.SERVER_EVENT_TYPES, _generated.CLIENT_EVENT_TYPES):
        for wire, cls in classes.items():
            name = cls.__name__
            assert f"| `{wire}` | [`{name}`](types.md#{name.lower()}) |" in rendered


def test_the_types_page_is_one_compact_page_with_every_class_and_field() -> None:
    """It was 1.1 MB with 766 headings (a heading per class and per field): now four tables, a
    row per class with its fields and their types, linked."""
    import msgspec

    hooks = _hooks()
    rendered = hooks.on_page_markdown((REFERENCE / "types.md").read_text(encoding="utf-8"))
    headings = re.findall(r"^#+ ", rendered, re.M)
    assert len(headings) <= 6, len(headings)
    assert len(rendered) < 250_000, len(rendered)
    classes = hooks.generated_classes()
    assert len(classes) > 100
    for cls in classes:
        name = cls.__name__
        row = next(line for line in rendered.splitlines() if f'<a id="{name.lower()}"></a>' in line)
        for field in msgspec.structs.fields(cls):
            assert f"`{field.name}`: " in row, (name, field.name)
    # a type name in a field links to its row
    assert "`response`: [Response](#response)" in rendered
    # the TypedDicts too, each with its keys (required ones in bold) and the class it mirrors
    for cls in hooks.param_dicts():
        name = cls.__name__
        row = next(line for line in rendered.splitlines() if f'<a id="{name.lower()}"></a>' in line)
        for key in cls.__annotations__:
            assert f"`{key}`: " in row or f"`{key}`**: " in row, (name, key)
    assert "**`type`**: Literal['audio/pcma']" in rendered
    assert "| [SessionParam](#sessionparam) |" in rendered


def _prose(page: Path) -> list[str]:
    """Paragraph lines outside code blocks: not headings, ::: directives, options, tables."""
    out, in_code = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.strip() and not re.match(r"(#|:::|\s|\||<!--)", line):
            out.append(line)
    return out


@pytest.mark.parametrize("page", sorted(REFERENCE.glob("*.md")), ids=lambda p: p.name)
def test_every_reference_source_reads_on_a_code_host(page: Path) -> None:
    """The sources are read on a code host too, where ``:::`` lines render as nothing: each
    page says in a sentence or more what is on it."""
    text = " ".join(_prose(page))
    sentences = [s for s in re.split(r"(?<=[.:])\s", text) if len(s.split()) >= 8]
    assert sentences, f"docs/reference/{page.name} has no sentence of prose"


def test_the_client_pages_show_what_a_user_calls() -> None:
    """The clients are built by ``create()``/``azure()``: no constructor signature of internals
    (``plan: ConnectPlan``, ``runner: _LoopThread``), no instance attribute's value expression
    (``RealtimeProtocol(redact=self._redact, …)``), no deprecated ``connection``."""
    page = (REFERENCE / "client.md").read_text(encoding="utf-8")
    for cls in ("AsyncOpenAIRealtimeWS", "OpenAIRealtimeWS"):
        block = page[page.index(f"::: openai_realtime_ws.{cls}\n"):]
        block = block[: block.index("\n\n")]
        assert "merge_init_into_class: false" in block, cls
        assert "show_attribute_values: false" in block, cls
        assert '"!^connection$"' in block and '"!^_"' in block, cls
    assert "create(" in " ".join(_prose(REFERENCE / "client.md"))
    # the typed resources come from rt.session, rt.response …: not their (internal) constructor
    block = page[page.index("::: openai_realtime_ws.types.resources\n"):]
    assert "merge_init_into_class: false" in block[: block.index("\n\n")]


def test_every_connect_option_is_documented_in_create_and_the_guide() -> None:
    """``create(**options)``: each option the checker accepts (core/options.py) is named in the
    docstring of ``create()`` and in docs/client.md's option list (``reconnect`` was missing)."""
    import dataclasses

    from openai_realtime_ws import AsyncOpenAIRealtimeWS
    from openai_realtime_ws.core.options import ConnectOptions

    names = [f.name for f in dataclasses.fields(ConnectOptions) if f.name != "ssl"]
    assert "reconnect" in names
    doc = inspect.getdoc(AsyncOpenAIRealtimeWS.create) or ""
    guide = (REPO / "docs" / "client.md").read_text(encoding="utf-8")
    options = guide[guide.index("- **Options**"):]
    options = options[: options.index("\n\n")]
    for name in names:
        assert f"``{name}``" in doc, f"create() docstring does not name {name}"
        assert f"`{name}`" in options, f"docs/client.md's Options list does not name {name}"


@pytest.mark.parametrize("guide", ["client.md", "reliability.md", "tools.md", "emulator.md",
                                   "voice.md", "relay.md", "recipes.md", "index.md"])
def test_the_guides_link_to_the_reference(guide: str) -> None:
    text = (REPO / "docs" / guide).read_text(encoding="utf-8")
    assert re.search(r"\]\((\.\./)?reference/\w+\.md", text), f"docs/{guide} has no reference link"
