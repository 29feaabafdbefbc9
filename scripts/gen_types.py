#!/usr/bin/env python3
"""Generate the typed Realtime event classes from the OpenAPI spec subset.

Usage (from the repository root)::

    .venv/bin/python scripts/gen_types.py [--spec PATH] [--check]

Writes two files (deterministic; rewriting them with an unchanged spec is a no-op):

* ``src/openai_realtime_ws/types/_generated.py``: one msgspec Struct per GA client and server
  event, the nested objects they use, the ``ServerEvent``/``ClientEvent`` tagged unions and the
  ``SERVER_EVENT_TYPES``/``CLIENT_EVENT_TYPES`` tables. An event's ``type`` is a ``Literal``
  class attribute (msgspec's tag: nothing is decoded or stored for it), which is enough for
  ``if event.type == "response.done":`` to narrow a union of event classes;
* ``src/openai_realtime_ws/types/_emitter.pyi``: typing only (a stub, never imported): the
  ``on``/``once``/``wait_for`` overloads that tell a type checker which class a handler receives
  for each event type. The run-time bodies of ``on``/``once``/``off``/``wait_for`` are written
  once, by hand, in ``types/_emitter.py``.

* ``src/openai_realtime_ws/types/params.py``: a ``TypedDict`` for every client event and every
  client-side object (``SessionParam`` → ``SessionParamDict``), so that mypy and pyright check the
  field names and literals of the dicts users send (run time validation stays send()'s);
* ``src/openai_realtime_ws/types/resources.py``: the typed resources of both clients, one method
  per client event, named after its wire type (``session.update`` → ``rt.session.update(session=…)``,
  ``conversation.item.create`` → ``rt.conversation.item.create(item=…)``); each builds the event
  dict and hands it to the client's ``send()`` (same validation, same path).

``--check`` writes nothing and exits 1 when a committed file differs from what would be generated.

Two families of nested objects are generated, because reading and writing have opposite needs:

* server side (decoding what a server sends; names are the spec names without ``Realtime``):
  unknown fields are ignored, enum values are plain ``str`` (new values must not break decoding),
  optional fields are ``T | None = None``, and unions of object variants are merged into one
  struct (a tagged union would reject a variant added to the API later);
* client side (validating what a user sends; names end in ``Param``): unknown fields are
  rejected, enums are ``Literal``, optional fields are ``T | UnsetType = UNSET`` (so an explicit
  ``null``, which clears a setting in ``session.update``, survives an encode), and object variants
  with distinct ``type`` values become msgspec tagged unions.
"""

from __future__ import annotations

import argparse
import json
import keyword
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias

Mode: TypeAlias = Literal["server", "client"]
Schema: TypeAlias = dict[str, Any]

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = REPO_ROOT / "spec" / "realtime-openapi-subset.json"
TYPES_OUT = Path("src/openai_realtime_ws/types/_generated.py")
EMITTER_OUT = Path("src/openai_realtime_ws/types/_emitter.pyi")
PARAMS_OUT = Path("src/openai_realtime_ws/types/params.py")
RESOURCES_OUT = Path("src/openai_realtime_ws/types/resources.py")
REF_PREFIX = "#/components/schemas/"
SPEC_FILE_NAME = "realtime-openapi-subset.json"

# --------------------------------------------------------------------------------------------
# Tables (the only hand-maintained knowledge in this generator)
# --------------------------------------------------------------------------------------------

#: Base class names for spec schemas (the client side appends ``Param``). Default: the schema
#: name without its ``Realtime`` prefix.
SCHEMA_NAMES: dict[str, str] = {
    "RealtimeAudioFormats": "AudioFormat",
    "VoiceIdsOrCustomVoice": "CustomVoice",
    "RealtimeCreateClientSecretRequest": "ClientSecretCreateRequest",
    "RealtimeCreateClientSecretResponse": "ClientSecretCreateResponse",
}
SERVER_SCHEMA_NAMES: dict[str, str] = {
    "RealtimeSessionCreateRequestGA": "SessionCreateRequest",
    "RealtimeTranscriptionSessionCreateRequestGA": "TranscriptionSessionCreateRequest",
}
CLIENT_SCHEMA_NAMES: dict[str, str] = {
    "RealtimeSessionCreateRequestGA": "Session",
    "RealtimeTranscriptionSessionCreateRequestGA": "TranscriptionSession",
}

#: Names of the single struct that a union of several spec schemas is merged into (server side).
MERGED_NAMES: dict[frozenset[str], str] = {
    frozenset({"RealtimeSessionCreateResponseGA", "RealtimeTranscriptionSessionCreateResponseGA"}): (
        "Session"
    ),
    frozenset({"RealtimeSessionCreateRequestGA", "RealtimeTranscriptionSessionCreateRequestGA"}): (
        "SessionCreateRequest"
    ),
    frozenset({"RealtimeFunctionTool", "MCPTool"}): "Tool",
    frozenset({"ToolChoiceFunction", "ToolChoiceMCP"}): "ToolChoice",
    frozenset({"TranscriptTextUsageTokens", "TranscriptTextUsageDuration"}): "TranscriptionUsage",
    frozenset(
        {"RealtimeMCPProtocolError", "RealtimeMCPToolExecutionError", "RealtimeMCPHTTPError"}
    ): "MCPError",
}

#: Names of anonymous members of a tagged union, by (owning schema, tag value).
TAG_MEMBER_NAMES: dict[tuple[str, str], str] = {
    ("RealtimeAudioFormats", "audio/pcm"): "AudioFormatPCM",
    ("RealtimeAudioFormats", "audio/pcmu"): "AudioFormatPCMU",
    ("RealtimeAudioFormats", "audio/pcma"): "AudioFormatPCMA",
}

#: Fields that real servers send as ``null`` although the spec types them without null (or that
#: a client sends as null to clear a setting). Paths are ``<Schema>.<prop>[.<prop>...]``, ``[]``
#: for array items. Applied on both sides: the field's type gains ``| None``.
NULLABLE_OVERRIDES: dict[str, str] = {
    "RealtimeResponse.status_details": "null while in progress / when completed (real GA frames, _caveats)",
    "RealtimeResponse.usage": "null in response.created (PROTOCOL §4.4, spec example)",
    "RealtimeSessionCreateResponseGA.include": "null in real session.created frames",
    "RealtimeSessionCreateResponseGA.audio.input.transcription": "null when off (real GA frames, _caveats)",
    "RealtimeSessionCreateResponseGA.audio.input.noise_reduction": "null when off (real GA frames, _caveats)",
    "RealtimeSessionCreateResponseGA.audio.input.turn_detection": "null with push-to-talk (already nullable in the spec)",
    "RealtimeTranscriptionSessionCreateResponseGA.include": "null in real session.created frames",
    "RealtimeTranscriptionSessionCreateResponseGA.audio.input.transcription": "null until configured (PROTOCOL §4.12)",
    "RealtimeTranscriptionSessionCreateResponseGA.audio.input.noise_reduction": "null when off",
    "RealtimeSessionCreateRequestGA.audio.input.transcription": "a client sends null to turn it off (PROTOCOL §4.2)",
    "RealtimeSessionCreateRequestGA.audio.input.noise_reduction": "a client sends null to turn it off (PROTOCOL §4.2)",
    "RealtimeTranscriptionSessionCreateRequestGA.audio.input.transcription": "a client sends null to turn it off",
    "RealtimeTranscriptionSessionCreateRequestGA.audio.input.noise_reduction": "a client sends null to turn it off",
    "RealtimeConversationItemMessageUser.content[].transcript": "input_audio content carries transcript: null (PROTOCOL §3, _caveats)",
    "RealtimeServerEventError.error.code": "may be null (PROTOCOL §5; already nullable in the spec)",
    "RealtimeServerEventError.error.param": "may be null (PROTOCOL §5; already nullable in the spec)",
    "RealtimeServerEventError.error.event_id": "null unless a client event caused it (already nullable in the spec)",
    "RealtimeServerEventConversationItemInputAudioTranscriptionFailed.error.code": "may be null like error.code",
    "RealtimeServerEventConversationItemInputAudioTranscriptionFailed.error.param": "the spec's own example sends null",
}

#: Server-side fields the spec marks required on nested objects that a server may omit.
#: Limits on client fields that the API enforces but the spec only states in prose (PROTOCOL.md
#: §7 and the field descriptions): applied to every client-side field of that name, so that
#: ``send()`` refuses the value before anything is written.
CLIENT_FIELD_LIMITS: dict[str, tuple[tuple[str, Any], ...]] = {
    # "Maximum number of output tokens ... between 1 and 4096 ... or `inf`"
    "max_output_tokens": (("ge", 1), ("le", 4096)),
    # "It is not possible to request both `text` and `audio` at the same time"
    "output_modalities": (("min_length", 1), ("max_length", 1)),
}

RELAX_REQUIRED: dict[str, str] = {
    "RealtimeSessionCreateResponseGA.id": "not guaranteed in client_secrets responses",
    "RealtimeSessionCreateResponseGA.object": "not guaranteed in client_secrets responses",
    "RealtimeTranscriptionSessionCreateResponseGA.id": "not guaranteed in client_secrets responses",
    "RealtimeTranscriptionSessionCreateResponseGA.object": "not guaranteed in client_secrets responses",
}

#: Extra union members: ``{"type": "item_reference", "id": ...}`` is accepted in
#: ``response.create`` ``response.input`` (official guide) but not modelled by the spec (_caveats).
EXTRA_UNION_MEMBERS: dict[str, list[Schema]] = {
    "RealtimeConversationItem": [
        {
            "type": "object",
            "description": "A reference to an existing item (only in response.create input).",
            "properties": {
                "type": {"type": "string", "enum": ["item_reference"]},
                "id": {"type": "string"},
            },
            "required": ["type", "id"],
        }
    ],
}

#: Hand-written members appended to generated classes.
EXTRA_CLASS_MEMBERS: dict[str, list[str]] = {
    "ResponseOutputAudioDeltaEvent": [
        "@property",
        "def audio(self) -> bytes:",
        '    """The audio bytes of ``delta`` (base64-decoded on each access; decoding the event',
        '    never decodes the audio, so read this once and keep the result)."""',
        "    return base64.b64decode(self.delta)",
    ],
    "InputAudioBufferAppendEvent": [
        "@property",
        "def audio_bytes(self) -> bytes:",
        '    """The audio bytes of ``audio`` (base64-decoded on each access; ``audio`` itself is',
        '    the base64 text sent on the wire)."""',
        "    return base64.b64decode(self.audio)",
        "",
        "@classmethod",
        "def from_pcm(cls, data: bytes, *, event_id: str | None = None) -> Self:",
        '    """Build the event from raw audio bytes in the session\'s input format',
        '    (PCM16 24 kHz mono by default); the bytes are base64-encoded here."""',
        '    return cls(audio=base64.b64encode(data).decode("ascii"), event_id=event_id)',
    ],
}

EXTRA_DOCS: dict[str, str] = {
    "ServerEventBase": (
        "Base of every server event. Each event class declares its ``type`` as a ``Literal`` "
        'class attribute (the msgspec tag), so ``if event.type == "response.done":`` narrows a '
        "union of event classes."
    ),
    "ClientEventBase": "Base of every client event; ``type`` is the msgspec tag (a read-only property).",
}

# --------------------------------------------------------------------------------------------
# Intermediate type representation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prim:
    name: str  # str | int | float | bool | Any | None | UnsetType


@dataclass(frozen=True)
class Lit:
    values: tuple[str | int, ...]


@dataclass(frozen=True)
class ListOf:
    item: IR


@dataclass(frozen=True)
class DictOf:
    value: IR


@dataclass(frozen=True)
class Ref:
    name: str


@dataclass(frozen=True)
class Constrained:
    inner: IR
    meta: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class UnionOf:
    members: tuple[IR, ...]


IR: TypeAlias = Prim | Lit | ListOf | DictOf | Ref | Constrained | UnionOf

NONE = Prim("None")
UNSET = Prim("UnsetType")
ANY = Prim("Any")


def union(*members: IR) -> IR:
    flat: list[IR] = []
    for m in members:
        for x in m.members if isinstance(m, UnionOf) else (m,):
            if x not in flat:
                flat.append(x)
    if ANY in flat:
        rest = [x for x in flat if x in (NONE, UNSET)]
        flat = [ANY, *rest]
    return flat[0] if len(flat) == 1 else UnionOf(tuple(flat))


def _limit(t: IR, meta: tuple[tuple[str, Any], ...], where: str) -> IR:
    """``t`` with ``meta`` on its ``int`` member (numeric limits) or its list (length limits)."""
    numeric = meta[0][0] in ("ge", "le", "gt", "lt")
    members = t.members if isinstance(t, UnionOf) else (t,)
    out: list[IR] = []
    hit = False
    for m in members:
        if (numeric and m == Prim("int")) or (not numeric and isinstance(m, ListOf)):
            out.append(Constrained(m, meta))
            hit = True
        else:
            out.append(m)
    if not hit:
        raise GenError(f"{where}: no member to limit with {meta} in {render(t)}")
    return union(*out)


def render(t: IR) -> str:
    if isinstance(t, Prim):
        return t.name
    if isinstance(t, Lit):
        return "Literal[" + ", ".join(json.dumps(v) for v in t.values) + "]"
    if isinstance(t, ListOf):
        return f"list[{render(t.item)}]"
    if isinstance(t, DictOf):
        return f"dict[str, {render(t.value)}]"
    if isinstance(t, Ref):
        return t.name
    if isinstance(t, Constrained):
        meta = ", ".join(f"{k}={v!r}" for k, v in t.meta)
        return f"Annotated[{render(t.inner)}, msgspec.Meta({meta})]"
    return " | ".join(render(m) for m in t.members)


def refs_in(t: IR) -> list[str]:
    if isinstance(t, Ref):
        return [t.name]
    if isinstance(t, ListOf):
        return refs_in(t.item)
    if isinstance(t, DictOf):
        return refs_in(t.value)
    if isinstance(t, Constrained):
        return refs_in(t.inner)
    if isinstance(t, UnionOf):
        return [r for m in t.members for r in refs_in(m)]
    return []


@dataclass
class FieldDef:
    name: str
    type: IR
    default: str | None  # None = required
    comment: str | None = None


@dataclass
class StructDef:
    name: str
    base: str
    tag: str | None
    doc: str
    fields: list[FieldDef] = field(default_factory=list)

    def signature(self) -> tuple[Any, ...]:
        return (
            self.base,
            self.tag,
            tuple((f.name, f.type, f.default, f.comment) for f in self.fields),
        )


@dataclass
class Leaf:
    """One non-union alternative of a schema, after resolving ``$ref`` and flattening unions."""

    path: str
    schema: Schema
    ref: str | None  # the named schema this leaf is, if any
    owner: str | None  # the named union schema this leaf is a direct member of, if any


class GenError(Exception):
    pass


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def pascal(text: str) -> str:
    parts = re.split(r"[^0-9A-Za-z]+", text)
    return "".join(p[:1].upper() + p[1:] for p in parts if p)


def event_class_name(wire_type: str) -> str:
    return pascal(wire_type) + "Event"


def first_sentence(text: str | None) -> str:
    if not text:
        return ""
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)  # markdown links
    text = " ".join(text.split())
    match = re.search(r"(?<=[.!?])\s+(?=[A-Z`\"(])", text)
    sentence = text[: match.start()] if match else text
    sentence = sentence.strip()
    if sentence and sentence[-1] not in ".!?":
        sentence += "."
    return sentence


def docstring(text: str, indent: str = "    ") -> str:
    text = text.replace("\\", "\\\\").replace('"""', "'''")
    if text.endswith('"'):
        text += " "
    return f'{indent}"""{text}"""'


def ref_name(ref: str) -> str:
    if not ref.startswith(REF_PREFIX):
        raise GenError(f"unsupported $ref {ref!r}")
    return ref[len(REF_PREFIX) :]


def is_union(schema: Schema) -> bool:
    return "anyOf" in schema or "oneOf" in schema


def single_tag(schema: Schema) -> str | None:
    prop = schema.get("properties", {}).get("type")
    if not isinstance(prop, dict):
        return None
    if "const" in prop and isinstance(prop["const"], str):
        return str(prop["const"])
    enum = prop.get("enum")
    if isinstance(enum, list) and len(enum) == 1 and isinstance(enum[0], str):
        return enum[0]
    return None


def leaf_kind(schema: Schema) -> str:
    t = schema.get("type")
    if t is None:
        if "properties" in schema:
            return "object"
        values = schema.get("enum", []) + ([schema["const"]] if "const" in schema else [])
        if values and all(isinstance(v, str) for v in values):
            return "string"
        return "any"
    if t in ("string", "integer", "number", "boolean", "array", "object"):
        return str(t)
    raise GenError(f"unsupported schema type {t!r}")


# --------------------------------------------------------------------------------------------
# Schema -> IR conversion
# --------------------------------------------------------------------------------------------


class Converter:
    def __init__(self, schemas: dict[str, Schema]) -> None:
        self.schemas = schemas
        self.structs: dict[str, StructDef] = {}
        self.order: list[str] = []
        self._building: set[str] = set()

    # ---- names -------------------------------------------------------------------------

    def base_of(self, schema_name: str, mode: Mode) -> str:
        table = SERVER_SCHEMA_NAMES if mode == "server" else CLIENT_SCHEMA_NAMES
        if schema_name in table:
            return table[schema_name]
        if schema_name in SCHEMA_NAMES:
            return SCHEMA_NAMES[schema_name]
        return schema_name.removeprefix("Realtime")

    @staticmethod
    def final_name(base: str, mode: Mode) -> str:
        if mode == "server" or base.endswith(("Param", "Params")):
            return base
        return base + "Param"

    # ---- flattening --------------------------------------------------------------------

    def flatten(self, path: str, schema: Schema, owner: str | None, out: list[Leaf]) -> bool:
        """Append the non-union alternatives of ``schema`` to ``out``; return True if null is one."""
        nullable = bool(schema.get("nullable"))
        if "$ref" in schema:
            name = ref_name(schema["$ref"])
            target = self.schemas[name]
            if is_union(target):
                return self.flatten(name, target, name, out) or nullable
            out.append(Leaf(name, target, name, owner))
            return nullable
        if is_union(schema):
            for member in schema.get("anyOf", []) + schema.get("oneOf", []):
                nullable |= self.flatten(path, member, owner, out)
            if owner is not None and path == owner:
                for extra in EXTRA_UNION_MEMBERS.get(owner, []):
                    out.append(Leaf(path, extra, None, owner))
            return nullable
        t = schema.get("type")
        if t == "null":
            return True
        if isinstance(t, list):
            others = [x for x in t if x != "null"]
            if len(others) != 1:
                raise GenError(f"unsupported type list {t!r} at {path}")
            out.append(Leaf(path, {**schema, "type": others[0]}, None, owner))
            return nullable or "null" in t
        out.append(Leaf(path, schema, None, owner))
        return nullable

    # ---- conversion --------------------------------------------------------------------

    def convert(
        self, alts: list[tuple[str, Schema]], hint: str, mode: Mode, known: list[str]
    ) -> tuple[IR, bool]:
        """IR for the union of ``alts``; also returns whether null is allowed."""
        leaves: list[Leaf] = []
        nullable = False
        for path, schema in alts:
            nullable |= self.flatten(path, schema, None, leaves)
        seen_refs: set[str] = set()
        unique: list[Leaf] = []
        for leaf in leaves:
            if leaf.ref is not None:
                if leaf.ref in seen_refs:
                    continue
                seen_refs.add(leaf.ref)
            unique.append(leaf)
        leaves = unique
        groups: dict[str, list[Leaf]] = {}
        for leaf in leaves:
            groups.setdefault(leaf_kind(leaf.schema), []).append(leaf)
        if "any" in groups:
            return ANY, nullable
        parts: list[IR] = []
        for kind, group in groups.items():
            if kind == "string":
                parts.append(self._strings(group, mode, known))
            elif kind == "integer":
                parts.append(self._numbers(group, "int", mode))
            elif kind == "number":
                parts.append(self._numbers(group, "float", mode))
            elif kind == "boolean":
                parts.append(Prim("bool"))
            elif kind == "array":
                item_alts = [(f"{leaf.path}[]", leaf.schema.get("items", {})) for leaf in group]
                item, item_null = self.convert(item_alts, hint, mode, known)
                list_ir: IR = ListOf(union(item, NONE) if item_null else item)
                meta = self._meta(group, mode, {"minItems": "min_length", "maxItems": "max_length"})
                parts.append(Constrained(list_ir, meta) if meta else list_ir)
            elif kind == "object":
                parts.extend(self._objects(group, hint, mode))
        if not parts:
            return ANY, nullable
        return union(*parts), nullable

    def _strings(self, group: list[Leaf], mode: Mode, known: list[str]) -> IR:
        free = False
        values: list[str] = []
        for leaf in group:
            s = leaf.schema
            enum = list(s.get("enum", [])) + ([s["const"]] if "const" in s else [])
            if not enum:
                free = True
            for v in enum:
                if v is not None and v not in values:
                    values.append(str(v))
        if mode == "server" or free:
            known.extend(v for v in values if v not in known)
            ir: IR = Prim("str")
        else:
            ir = Lit(tuple(values))
        if not isinstance(ir, Lit):
            meta = self._meta(
                group,
                mode,
                {"minLength": "min_length", "maxLength": "max_length", "pattern": "pattern"},
            )
            if meta:
                return Constrained(ir, meta)
        return ir

    def _numbers(self, group: list[Leaf], name: str, mode: Mode) -> IR:
        values: list[int] = []
        for leaf in group:
            enum = leaf.schema.get("enum")
            if not enum:
                values = []
                break
            values.extend(v for v in enum if v not in values)
        if mode == "client" and values and name == "int":
            return Lit(tuple(values))
        meta = self._meta(
            group,
            mode,
            {
                "minimum": "ge",
                "maximum": "le",
                "exclusiveMinimum": "gt",
                "exclusiveMaximum": "lt",
            },
        )
        return Constrained(Prim(name), meta) if meta else Prim(name)

    @staticmethod
    def _meta(
        group: list[Leaf], mode: Mode, keys: dict[str, str]
    ) -> tuple[tuple[str, Any], ...]:
        if mode != "client" or len(group) != 1:
            return ()
        s = group[0].schema
        return tuple((dst, s[src]) for src, dst in keys.items() if src in s)

    @staticmethod
    def _is_dict(schema: Schema) -> bool:
        return not schema.get("properties")

    def _objects(self, group: list[Leaf], hint: str, mode: Mode) -> list[IR]:
        structs = [leaf for leaf in group if not self._is_dict(leaf.schema)]
        dicts = [leaf for leaf in group if self._is_dict(leaf.schema)]
        if dicts:
            if structs:
                return [ANY]
            value: IR = ANY
            if mode == "client" and len(dicts) == 1:
                extra = dicts[0].schema.get("additionalProperties")
                if isinstance(extra, dict) and extra:
                    value, value_null = self.convert(
                        [(f"{dicts[0].path}{{}}", extra)], hint, mode, []
                    )
                    if value_null:
                        value = union(value, NONE)
            return [DictOf(value)]
        if len(structs) == 1:
            leaf = structs[0]
            return [Ref(self.struct_for(structs, self._single_name(leaf, hint, mode), mode, None))]
        tags = [single_tag(leaf.schema) for leaf in structs]
        if mode == "client" and None not in tags and len(set(tags)) == len(tags):
            out: list[IR] = []
            for leaf, tag in zip(structs, tags, strict=True):
                assert tag is not None
                name = self._tagged_name(leaf, tag, hint, mode)
                out.append(Ref(self.struct_for([leaf], name, mode, tag)))
            return out
        return [Ref(self.struct_for(structs, self._merged_name(structs, hint, mode), mode, None))]

    def _single_name(self, leaf: Leaf, hint: str, mode: Mode) -> str:
        if leaf.ref is not None:
            return self.base_of(leaf.ref, mode)
        if leaf.owner is not None:
            tag = single_tag(leaf.schema)
            if tag is not None:
                return TAG_MEMBER_NAMES.get(
                    (leaf.owner, tag), self.base_of(leaf.owner, mode) + pascal(tag)
                )
            return self.base_of(leaf.owner, mode)
        return hint

    def _tagged_name(self, leaf: Leaf, tag: str, hint: str, mode: Mode) -> str:
        if leaf.ref is not None:
            return self.base_of(leaf.ref, mode)
        if leaf.owner is not None:
            return TAG_MEMBER_NAMES.get(
                (leaf.owner, tag), self.base_of(leaf.owner, mode) + pascal(tag)
            )
        return hint + pascal(tag)

    def _merged_name(self, leaves: list[Leaf], hint: str, mode: Mode) -> str:
        refs = [leaf.ref for leaf in leaves]
        if all(r is not None for r in refs):
            key = frozenset(r for r in refs if r is not None)
            if key in MERGED_NAMES:
                return MERGED_NAMES[key]
        owners = {leaf.owner for leaf in leaves}
        if len(owners) == 1:
            owner = next(iter(owners))
            if owner is not None:
                return self.base_of(owner, mode)
        return hint

    # ---- structs -----------------------------------------------------------------------

    def struct_for(self, leaves: list[Leaf], base_name: str, mode: Mode, tag: str | None) -> str:
        name = self.final_name(base_name, mode)
        if name in self._building:
            return name
        if mode == "server":
            base = "_ServerStruct"
        else:
            base = "_ClientTaggedStruct" if tag is not None else "_ClientStruct"
        if len(leaves) > 1:
            owner = leaves[0].owner
            doc = first_sentence(self.schemas[owner].get("description")) if owner else ""
            if not doc:
                labels = [self._variant_label(leaf) for leaf in leaves]
                doc = f"Any of {', '.join(dict.fromkeys(labels))}, merged into one struct."
        else:
            doc = first_sentence(leaves[0].schema.get("description"))
            doc = doc or f"The ``{leaves[0].path}`` object."
        self._building.add(name)
        try:
            fields = self.fields_for(leaves, base_name, mode, skip={"type"} if tag else set())
        finally:
            self._building.discard(name)
        struct = StructDef(name=name, base=base, tag=tag, doc=doc, fields=fields)
        self.register(struct)
        return name

    @staticmethod
    def _variant_label(leaf: Leaf) -> str:
        if leaf.ref is not None:
            return f"``{leaf.ref}``"
        tag = single_tag(leaf.schema) if leaf.owner is not None else None
        return f"``{tag}``" if tag is not None else f"``{leaf.path}``"

    def register(self, struct: StructDef) -> None:
        existing = self.structs.get(struct.name)
        if existing is not None:
            if existing.signature() != struct.signature():
                raise GenError(f"two different definitions named {struct.name}")
            return
        self.structs[struct.name] = struct
        self.order.append(struct.name)

    def fields_for(
        self,
        leaves: list[Leaf],
        base_name: str,
        mode: Mode,
        skip: set[str],
        *,
        event: bool = False,
    ) -> list[FieldDef]:
        props: dict[str, list[tuple[str, Schema, bool]]] = {}
        for leaf in leaves:
            required_names = set(leaf.schema.get("required", []))
            for pname, pschema in leaf.schema.get("properties", {}).items():
                props.setdefault(pname, []).append(
                    (f"{leaf.path}.{pname}", pschema, pname in required_names)
                )
        fields: list[FieldDef] = []
        for pname, entries in props.items():
            if pname in skip:
                continue
            paths = [p for p, _, _ in entries]
            required = len(entries) == len(leaves) and all(r for _, _, r in entries)
            if mode == "server" and not event and any(p in RELAX_REQUIRED for p in paths):
                required = False
            alts: list[tuple[str, Schema]] = []
            for p, s, _ in entries:
                if all(s != other for _, other in alts):
                    alts.append((p, s))
            known: list[str] = []
            ir, nullable = self.convert(alts, base_name + pascal(pname), mode, known)
            if mode == "client" and pname in CLIENT_FIELD_LIMITS:
                ir = _limit(ir, CLIENT_FIELD_LIMITS[pname], f"{base_name}.{pname}")
            nullable |= any(p in NULLABLE_OVERRIDES for p in paths)
            if nullable:
                ir = union(ir, NONE)
            default: str | None = None
            if not required:
                if mode == "server":
                    ir, default = union(ir, NONE), "None"
                else:
                    ir, default = union(ir, UNSET), "UNSET"
            comment = None
            if known:
                comment = "Known values: " + ", ".join(json.dumps(v) for v in known) + "."
            if keyword.iskeyword(pname):
                raise GenError(f"field name {pname!r} is a Python keyword")
            fields.append(FieldDef(pname, ir, default, comment))
        # Required fields first: mypy's dataclass_transform support does not see the kw_only
        # inherited from the base class, and msgspec does not care about the order.
        return [f for f in fields if f.default is None] + [f for f in fields if f.default]

    # ---- events ------------------------------------------------------------------------

    def event_struct(self, wire_type: str, schema_name: str, mode: Mode) -> StructDef:
        schema = self.schemas[schema_name]
        props = schema.get("properties", {})
        enum = props.get("type", {}).get("enum", [])
        if enum != [wire_type]:
            raise GenError(f"{schema_name}: type enum {enum!r} != {wire_type!r}")
        name = event_class_name(wire_type)
        leaf = Leaf(schema_name, schema, schema_name, None)
        if mode == "server":
            if "event_id" not in props:
                # The spec omits event_id on input_audio_buffer.dtmf_event_received (and its
                # example has none): accept it when present, do not require it.
                schema = {**schema, "properties": {"event_id": {"type": "string"}, **props}}
                leaf = Leaf(schema_name, schema, schema_name, None)
            fields = self.fields_for([leaf], name, mode, {"type"}, event=True)
            base = "ServerEventBase"
        else:
            fields = self.fields_for([leaf], name, mode, {"type", "event_id"}, event=True)
            base = "ClientEventBase"
        doc = first_sentence(schema.get("description")) or f"The ``{wire_type}`` event."
        return StructDef(name=name, base=base, tag=wire_type, doc=doc, fields=fields)


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def header(commit: str) -> str:
    return (
        f"# Generated by scripts/gen_types.py from {SPEC_FILE_NAME} (commit {commit}). Do not edit.\n"
    )


def render_struct(struct: StructDef) -> list[str]:
    kw = f', tag="{struct.tag}"' if struct.tag is not None else ""
    lines = [f"class {struct.name}({struct.base}{kw}):", docstring(struct.doc)]
    if struct.tag is not None and struct.base in ("ServerEventBase", "ClientEventBase"):
        # a Literal class attribute: `if event.type == "response.done":` narrows a union of
        # event classes (mypy and pyright), and nothing is decoded or stored per event
        tag = json.dumps(struct.tag)
        lines += ["", f"    type: ClassVar[Literal[{tag}]] = {tag}"]
    if struct.fields:
        lines.append("")
    for f in struct.fields:
        if f.comment:
            lines.append(f"    # {f.comment}")
        default = f" = {f.default}" if f.default is not None else ""
        lines.append(f"    {f.name}: {render(f.type)}{default}")
    extra = EXTRA_CLASS_MEMBERS.get(struct.name)
    if extra:
        lines.append("")
        lines.extend(f"    {line}" if line else "" for line in extra)
    return lines


BASES_SOURCE = '''\
class ServerEventBase(msgspec.Struct, kw_only=True, tag_field="type", omit_defaults=True):
{server_doc}

    type: ClassVar[str]
    """The wire ``type`` of this event (a class attribute: the msgspec tag, not a field)."""


class ClientEventBase(
    msgspec.Struct, kw_only=True, tag_field="type", omit_defaults=True, forbid_unknown_fields=True
):
{client_doc}

    event_id: Annotated[str, msgspec.Meta(max_length=512)] | None = None

    type: ClassVar[str]
    """The wire ``type`` of this event (a class attribute: the msgspec tag, not a field)."""


class _ServerStruct(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base of the server-side nested objects: unknown fields are ignored."""


class _ClientStruct(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """Base of the client-side nested objects (``…Param``): unknown fields are rejected."""


class _ClientTaggedStruct(
    msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True, tag_field="type"
):
    """Base of client-side variants of a tagged union: ``type`` is the msgspec tag."""

    @property
    def type(self) -> str:
        """The wire ``type`` of this object."""
        return str(self.__struct_config__.tag)
'''


@dataclass
class Generated:
    server_events: list[tuple[str, StructDef]]
    client_events: list[tuple[str, StructDef]]
    types_source: str
    emitter_source: str
    params_source: str = ""
    resources_source: str = ""


def generate(spec: Schema) -> Generated:
    schemas: dict[str, Schema] = spec["components"]["schemas"]
    event_types = spec["event_types"]
    commit = str(spec.get("_source", {}).get("commit", "unknown"))
    conv = Converter(schemas)

    server_events: list[tuple[str, StructDef]] = []
    for wire, schema_name in event_types["ga_server"].items():
        server_events.append((wire, conv.event_struct(wire, schema_name, "server")))
    server_nested = list(conv.order)

    for schema_name in ("RealtimeCreateClientSecretRequest", "RealtimeCreateClientSecretResponse"):
        leaf = Leaf(schema_name, schemas[schema_name], schema_name, None)
        conv.struct_for([leaf], conv.base_of(schema_name, "server"), "server", None)
    secrets_nested = [n for n in conv.order if n not in server_nested]

    client_events: list[tuple[str, StructDef]] = []
    for wire, schema_name in event_types["ga_client"].items():
        client_events.append((wire, conv.event_struct(wire, schema_name, "client")))
    client_nested = [n for n in conv.order if n not in server_nested and n not in secrets_nested]

    names = [s.name for _, s in server_events] + [s.name for _, s in client_events]
    all_names = set(names) | set(conv.order)
    if len(all_names) != len(names) + len(conv.order):
        raise GenError("class name collision between events and nested objects")
    defined = all_names | {"ServerEventBase", "ClientEventBase", "_ServerStruct", "_ClientStruct"}
    defined.add("_ClientTaggedStruct")
    for struct in [*conv.structs.values(), *(s for _, s in server_events + client_events)]:
        for f in struct.fields:
            for ref in refs_in(f.type):
                if ref not in defined:
                    raise GenError(f"{struct.name}.{f.name} refers to undefined {ref}")

    public = sorted(
        [
            *all_names,
            *("ServerEventBase", "ClientEventBase", "ServerEvent", "ClientEvent"),
            *("SERVER_EVENT_TYPES", "CLIENT_EVENT_TYPES"),
        ]
    )

    out: list[str] = [
        header(commit).rstrip("\n"),
        '"""Typed Realtime (GA) events as msgspec Structs, generated from the OpenAPI spec.',
        "",
        "Server events (``ServerEvent``) decode leniently: unknown fields are ignored, enum values are",
        "plain ``str`` and fields that real servers omit or send as null are ``| None``. Client events",
        "(``ClientEvent``) and their ``…Param`` objects validate strictly: unknown fields are rejected,",
        "enums are ``Literal`` and optional fields default to ``UNSET`` (omitted when encoded).",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "import base64",
        "from typing import Annotated, Any, ClassVar, Literal, Self, Union",
        "",
        "import msgspec",
        "from msgspec import UNSET, UnsetType",
        "",
        "__all__ = [",
        *(f'    "{n}",' for n in public),
        "]",
        "",
        "",
        BASES_SOURCE.format(
            server_doc=docstring(EXTRA_DOCS["ServerEventBase"]),
            client_doc=docstring(EXTRA_DOCS["ClientEventBase"]),
        ).rstrip("\n"),
    ]

    def section(title: str, structs: list[StructDef]) -> None:
        out.extend(["", "", f"# {'-' * 4} {title} {'-' * max(4, 90 - len(title))}"])
        for struct in structs:
            out.extend(["", "", *render_struct(struct)])

    section("Server events", [s for _, s in server_events])
    section("Server-side objects (lenient)", [conv.structs[n] for n in server_nested])
    section("Client events", [s for _, s in client_events])
    section("Client-side objects (strict)", [conv.structs[n] for n in client_nested])
    section("Client secrets (POST /v1/realtime/client_secrets)", [conv.structs[n] for n in secrets_nested])

    out.extend(["", "", "ServerEvent = Union["])
    out.extend(f"    {s.name}," for _, s in server_events)
    out.extend(["]", '"""Any GA server event (a msgspec tagged union on ``type``)."""', ""])
    out.append("ClientEvent = Union[")
    out.extend(f"    {s.name}," for _, s in client_events)
    out.extend(["]", '"""Any GA client event (a msgspec tagged union on ``type``)."""', ""])
    out.append("SERVER_EVENT_TYPES: dict[str, type[ServerEventBase]] = {")
    out.extend(f'    "{w}": {s.name},' for w, s in server_events)
    out.extend(["}", "", "CLIENT_EVENT_TYPES: dict[str, type[ClientEventBase]] = {"])
    out.extend(f'    "{w}": {s.name},' for w, s in client_events)
    out.append("}")
    types_source = "\n".join(out) + "\n"

    emitter_source = render_emitter(commit, server_events)
    client_structs = [conv.structs[n] for n in client_nested]
    params_source = render_params(commit, [s for _, s in client_events], client_structs)
    resources_source = render_resources(commit, client_events, {s.name for s in client_structs})
    return Generated(
        server_events, client_events, types_source, emitter_source, params_source, resources_source
    )


# --------------------------------------------------------------------------------------------
# TypedDicts (types/params.py) and typed resources (types/resources.py)
# --------------------------------------------------------------------------------------------


def plain(text: str) -> str:
    """Docstring text without typographic quotes (ruff's ambiguous-character rule)."""
    return text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')


def typed_dict_name(struct_name: str) -> str:
    return struct_name + "Dict"


def render_typed(t: IR, known: set[str]) -> str:
    """``t`` as a TypedDict field annotation: references to client objects become their
    TypedDicts; ``UnsetType`` is dropped (an optional key); length/number limits are left to
    send()'s run time validation."""
    if isinstance(t, Prim):
        return t.name
    if isinstance(t, Lit):
        return "Literal[" + ", ".join(json.dumps(v) for v in t.values) + "]"
    if isinstance(t, ListOf):
        return f"list[{render_typed(t.item, known)}]"
    if isinstance(t, DictOf):
        return f"dict[str, {render_typed(t.value, known)}]"
    if isinstance(t, Ref):
        if t.name not in known:
            raise GenError(f"TypedDict field refers to {t.name}, which has no TypedDict")
        return typed_dict_name(t.name)
    if isinstance(t, Constrained):
        return render_typed(t.inner, known)
    return " | ".join(render_typed(m, known) for m in t.members if m != UNSET)


def render_typed_dict(struct: StructDef, known: set[str]) -> list[str]:
    name = typed_dict_name(struct.name)
    doc = plain(f"``{struct.name}`` as a dict: {struct.doc}")
    lines = [f"class {name}(TypedDict, total=False):", docstring(doc)]
    fields: list[str] = []
    if struct.tag is not None:
        fields.append(f"    type: Required[Literal[{json.dumps(struct.tag)}]]")
    if struct.base == "ClientEventBase":
        fields.append("    event_id: str")
    for f in struct.fields:
        annotation = render_typed(f.type, known)
        fields.append(f"    {f.name}: {annotation if f.default is not None else f'Required[{annotation}]'}")
    return [*lines, "", *fields]


def render_params(commit: str, events: list[StructDef], objects: list[StructDef]) -> str:
    known = {s.name for s in objects}
    names = sorted([*(typed_dict_name(s.name) for s in [*events, *objects]), "SessionFieldsDict"])
    out = [
        header(commit).rstrip("\n"),
        '"""TypedDicts of the client events and their objects, for type checkers.',
        "",
        "One per ``…Param`` struct of :mod:`openai_realtime_ws.types` (``SessionParam`` →",
        "``SessionParamDict``) and per client event (``SessionUpdateEvent`` →",
        "``SessionUpdateEventDict``): mypy and pyright check the keys and literal values of a dict",
        "passed where one is expected (the typed resources, ``rt.session.update(session=…)``).",
        "At run time they are plain dicts; send() validates them against the structs.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import {typing_names}",
        "",
        "__all__ = [",
        *(f'    "{n}",' for n in names),
        "]",
    ]
    body: list[str] = []
    for struct in [*objects, *events]:
        body.extend(["", "", *render_typed_dict(struct, known)])
    # the keyword arguments of update_tools(**session): a realtime session's fields but its
    # type and tools (update_tools fills those in)
    session = next(s for s in objects if s.name == "SessionParam")
    body.extend([
        "", "",
        "class SessionFieldsDict(TypedDict, total=False):",
        docstring("The fields ``update_tools(**session)`` takes: ``SessionParamDict`` without "
                  "``type`` and ``tools`` (filled in by it)."),
        "",
        *(f"    {f.name}: {render_typed(f.type, known)}" for f in session.fields if f.name != "tools"),
    ])
    uses_any = any(re.search(r"\bAny\b", line) for line in body)
    typing_names = ("Any, " if uses_any else "") + "Literal, Required, TypedDict"
    return "\n".join([*out, *body]).replace("{typing_names}", typing_names, 1) + "\n"


#: Resources whose class has a hand-written base (types/_resource_views.py): the ones that are
#: also a view of what the server confirmed (``rt.session``, ``rt.conversation``).
RESOURCE_VIEWS = {"session": "SessionView", "conversation": "ConversationView"}


def resource_class_name(path: tuple[str, ...]) -> str:
    return "".join(pascal(p) for p in path) + "Resource"


def render_resources(commit: str, client_events: list[tuple[str, StructDef]], known: set[str]) -> str:
    tree: dict[tuple[str, ...], list[tuple[str, StructDef]]] = {}
    children: dict[tuple[str, ...], list[str]] = {}
    for wire, struct in client_events:
        *path, method = wire.split(".")
        key = tuple(path)
        tree.setdefault(key, []).append((method, struct))
        for i in range(1, len(key)):
            children.setdefault(key[:i], [])
            tree.setdefault(key[:i], [])
            if key[i] not in children[key[:i]]:
                children[key[:i]].append(key[i])
    used: set[str] = set()
    body: list[str] = []
    # children first, so that a parent's __init__ names classes already defined
    for key in sorted(tree, key=lambda k: (-len(k), k)):
        cls = resource_class_name(key)
        base = RESOURCE_VIEWS.get(key[0]) if len(key) == 1 else None
        base = base or "Resource"
        wire_prefix = ".".join(key)
        lines = [
            f"class {cls}({base}):",
            docstring(f"``rt.{wire_prefix}``: the ``{wire_prefix}.*`` client events as typed methods."),
        ]
        subs = children.get(key, [])
        if subs:
            lines += ["", f'    __slots__ = ({", ".join(json.dumps(c) for c in subs)},)', ""]
            for c in subs:
                lines.append(f"    {c}: {resource_class_name((*key, c))}")
            lines += [
                "",
                "    def __init__(self, send: Send, state: Callable[[], Any] | None = None) -> None:",
                "        super().__init__(send, state)",
            ]
            for c in subs:
                lines.append(f"        self.{c} = {resource_class_name((*key, c))}(send)")
        else:
            lines += ["", "    __slots__ = ()"]
        for method, struct in sorted(tree[key], key=lambda x: x[0]):
            params: list[str] = []
            required = [f for f in struct.fields if f.default is None]
            optional = [f for f in struct.fields if f.default is not None]
            for f in required:
                params.append(f"{f.name}: {render_typed(f.type, known)}")
                used.update(refs_in(f.type))
            for f in optional:
                annotation = render_typed(f.type, known)
                if "None" in annotation.split(" | "):
                    raise GenError(f"{struct.name}.{f.name}: None both means 'omit' and a value")
                params.append(f"{f.name}: {annotation} | None = None")
                used.update(refs_in(f.type))
            params.append("event_id: str | None = None")
            wire = f"{wire_prefix}.{method}"
            lines += [
                "",
                f"    def {method}(self, *, {', '.join(params)}) -> None:",
                docstring(
                    plain(
                        f"Send ``{wire}`` (validated like ``send()``; a bad field raises "
                        f"``InvalidClientEvent`` naming it). {struct.doc}"
                    ),
                    "        ",
                ),
                f'        event: dict[str, Any] = {{"type": {json.dumps(wire)}'
                + "".join(f', "{f.name}": {f.name}' for f in required)
                + "}",
            ]
            for f in [*optional, FieldDef("event_id", Prim("str"), "None")]:
                lines += [f"        if {f.name} is not None:", f'            event["{f.name}"] = {f.name}']
            lines.append("        self._send(event)")
        body.extend(["", "", *lines])
    param_names = sorted(typed_dict_name(n) for n in used)
    out = [
        header(commit).rstrip("\n"),
        '"""Typed resources: the client events as methods of both clients, as in openai-python.',
        "",
        "``rt.session.update(session=…)``, ``rt.conversation.item.create(item=…)``,",
        "``rt.response.create(response=…)``, ``rt.input_audio_buffer.append(audio=…)``… One method",
        "per client event of the spec; parameters are the event's fields (TypedDicts from",
        ":mod:`.params`, so type checkers check names and literals). Each method builds the event",
        "dict and passes it to the client's ``send()``: the same validation and the same path.",
        "Optional parameters left at ``None`` are not sent.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from collections.abc import Callable",
        "from typing import Any",
        "",
        "from ._resource_views import ConversationView, Resource, Send, SessionView",
        "from .params import (",
        *(f"    {n}," for n in param_names),
        ")",
        "",
        "__all__ = [",
        *(f'    "{n}",' for n in sorted(resource_class_name(k) for k in tree)),
        "]",
        *body,
    ]
    return "\n".join(out) + "\n"


def render_emitter(commit: str, server_events: list[tuple[str, StructDef]]) -> str:
    """``types/_emitter.pyi``: the overloads, for type checkers only (the run-time bodies are
    ``types/_emitter.py``, hand-written once)."""
    classes = sorted(s.name for _, s in server_events)
    handler_targets: list[tuple[str, str]] = [
        (wire, s.name) for wire, s in server_events if wire != "error"
    ]
    handler_targets += [
        ("event", "AnyServerEvent"),
        ("error", "OpenAIRealtimeError"),
        ("reconnecting", "ReconnectContext"),
        ("reconnected", "dict[str, Any]"),
        ("frame", "str"),
    ]
    cb_any = "Callable[[Any], object]"
    out: list[str] = [
        header(commit).rstrip("\n"),
        '"""Typed ``on``/``once``/``off``/``wait_for`` for the clients: the stub type checkers read.',
        "",
        "One overload per event type: which class a handler receives, which class ``wait_for``",
        "returns. The run-time bodies are in ``_emitter.py`` (written once); the clients implement",
        "``_add_handler``/``_remove_handler``/``_wait_for_impl``.",
        "",
        '``on("error")`` handlers receive exceptions (``OpenAIRealtimeError``); ``wait_for("error")``',
        "returns the server's ``ErrorEvent`` (see ``core/errors.py``).",
        '"""',
        "",
        "from collections.abc import Callable",
        "from typing import Any, Literal, overload",
        "",
        "from ..core.errors import OpenAIRealtimeError",
        "from ..core.reconnect import ReconnectContext",
        "from . import (",
        *(f"    {c}," for c in sorted(["AnyServerEvent", "UnknownServerEvent", *classes])),
        ")",
        "",
        '__all__ = ["AsyncWaitForMixin", "SyncWaitForMixin", "TypedEmitterMixin"]',
        "",
        "class TypedEmitterMixin:",
        f"    def _add_handler(self, type: str, handler: {cb_any}, once: bool) -> None: ...",
        f"    def _remove_handler(self, type: str, handler: {cb_any} | None) -> None: ...",
        f"    def off(self, type: str, handler: {cb_any} | None = None) -> None: ...",
    ]
    for method in ("on", "once"):
        for wire, cls in handler_targets:
            cb = f"Callable[[{cls}], object]"
            out += [
                "    @overload",
                f"    def {method}(self, type: Literal[{json.dumps(wire)}], handler: {cb}) -> {cb}: ...",
                "    @overload",
                # the str fallback's decorator form overlaps with a different return type; the
                # literal form is listed first, so it is the one a type checker picks
                f"    def {method}(  # type: ignore[overload-overlap]",
                f"        self, type: Literal[{json.dumps(wire)}], handler: None = None",
                f"    ) -> Callable[[{cb}], {cb}]: ...",
            ]
        # any other type string: an event this library does not know, so it arrives as an
        # UnknownServerEvent (a known type with a wrongly typed handler does not match this)
        ucb = "Callable[[UnknownServerEvent], object]"
        out += [
            "    @overload",
            f"    def {method}(self, type: str, handler: {ucb}) -> {ucb}: ...",
            "    @overload",
            f"    def {method}(self, type: str, handler: None = None) -> Callable[[{ucb}], {ucb}]: ...",
        ]
    for cls_name, prefix in (("AsyncWaitForMixin", "async "), ("SyncWaitForMixin", "")):
        out += [
            "",
            f"class {cls_name}:",
            f"    {prefix}def _wait_for_impl(self, type: str, timeout: float | None) -> Any: ...",
        ]
        for wire, s in server_events:
            out += [
                "    @overload",
                f"    {prefix}def wait_for(self, type: Literal[{json.dumps(wire)}], "
                f"timeout: float | None = None) -> {s.name}: ...",
            ]
        out += [
            "    @overload",
            f"    {prefix}def wait_for(self, type: str, timeout: float | None = None) -> AnyServerEvent: ...",
        ]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC, help="spec JSON file")
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if a generated file differs from the committed one",
    )
    args = parser.parse_args(argv)
    spec = json.loads(Path(args.spec).read_text(encoding="utf-8"))
    try:
        generated = generate(spec)
    except GenError as exc:
        print(f"gen_types: {exc}", file=sys.stderr)
        return 2
    outputs = {
        REPO_ROOT / TYPES_OUT: generated.types_source,
        REPO_ROOT / EMITTER_OUT: generated.emitter_source,
        REPO_ROOT / PARAMS_OUT: generated.params_source,
        REPO_ROOT / RESOURCES_OUT: generated.resources_source,
    }
    stale = []
    for path, text in outputs.items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    rel = ", ".join(str(p.relative_to(REPO_ROOT)) for p in stale)
    if args.check:
        if stale:
            print(f"gen_types: out of date: {rel} (run scripts/gen_types.py)", file=sys.stderr)
            return 1
        print("gen_types: up to date")
        return 0
    print(f"gen_types: wrote {rel}" if stale else "gen_types: up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
