"""The blocking client has every public attribute and method of the asyncio client, and uses no
private member of it."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from openai_realtime_ws import AsyncOpenAIRealtimeWS, OpenAIRealtimeWS
from openai_realtime_ws.sync import client as sync_client


def public(cls: type) -> set[str]:
    names = {n for n in dir(cls) if not n.startswith("_")}
    names |= set(getattr(cls, "__annotations__", {}))  # instance attributes declared on the class
    return {n for n in names if not n.startswith("_")}


def test_blocking_client_has_the_asyncio_clients_public_surface() -> None:
    missing = public(AsyncOpenAIRealtimeWS) - public(OpenAIRealtimeWS)
    assert not missing, f"OpenAIRealtimeWS lacks {sorted(missing)}"
    # only this is blocking-only: the loop the handlers run on
    assert public(OpenAIRealtimeWS) - public(AsyncOpenAIRealtimeWS) == {"loop"}


def test_same_parameters_for_shared_methods() -> None:
    for name in sorted(public(AsyncOpenAIRealtimeWS)):
        a = getattr(AsyncOpenAIRealtimeWS, name, None)
        s = getattr(OpenAIRealtimeWS, name, None)
        if not callable(a) or isinstance(a, type) or name in ("drain",):
            continue  # drain() takes a timeout in the blocking client
        pa = [p for p in inspect.signature(a).parameters if p not in ("self", "cls")]
        ps = [p for p in inspect.signature(s).parameters if p not in ("self", "cls")]  # type: ignore[arg-type]
        assert pa == ps, name


def test_blocking_client_uses_no_private_member_of_the_asyncio_client() -> None:
    tree = ast.parse(Path(sync_client.__file__).read_text())
    private = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute | ast.Name)
        and (getattr(node.value, "attr", None) == "_inner" or getattr(node.value, "id", None) == "inner")
        and node.attr.startswith("_")
        and not (node.attr.startswith("__") and node.attr.endswith("__"))  # protocols are public
    }
    assert private == set()
