# One model response as a lazily driven event stream (PROTOCOL.md §4.4 text, §4.5 audio,
# §4.8 function calls, §4.9 cancel, §4.10 out-of-band): the exact event order, the paced
# offsets on the audio clock, max_output_tokens, usage and the terminal events of a cancel.
# State (what was already emitted) advances only as the shell pulls chunks, so a cancel at any
# point closes exactly what the client has seen. No I/O, no clock: offsets are relative seconds.
# A response sees its session only through `ResponseContext` (ids, config, queries) and changes
# it only through *effects* (AppendItem, StoreAudio, AudioStarted, RequestApproval, UsedTokens,
# Finished) among the Actions it returns or yields, which the session applies; it imports nothing
# of session.py.
from __future__ import annotations

import json
import math
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

from . import mcp
from .actions import Action, McpRequest, McpResult, Offload, Send, Step
from .audio import SpeechSegment, Synthesizer
from .config import EmulatorConfig
from .ids import IdFactory
from .turn import Reply


class ResponseContext(Protocol):
    """What a response may see of its session: ids, config, the synthesizer and a few queries.
    What a response changes in its session it does not do itself: it puts *effects* (below)
    among its Actions and hands them to `apply_effects` before yielding them (`cancel()` returns
    them to the session, which applies them)."""

    ids: IdFactory
    config: EmulatorConfig
    synthesizer: Synthesizer

    def format_object(self, fmt: str) -> dict[str, Any]:
        """The `format` object of an audio format name (`audio/pcm` → with its rate)."""
        ...

    def cached_tokens(self, input_tokens: int) -> int:
        """How many of `input_tokens` count as cached."""
        ...

    def follow_up(self, run: ResponseRun) -> Reply:
        """What the assistant says after `run`'s MCP calls."""
        ...

    def apply_effects(self, acts: list[RunAction]) -> list[Action]:
        """The session applies the effects among `acts`; the Actions to carry out."""
        ...


# --- effects: what a response asks its session to change (never reach the shell) ---------------

@dataclass(frozen=True, slots=True)
class AppendItem:
    """An in-band output item joins the conversation; the session sends its
    `conversation.item.added` (with the previous item's id) under `event_id`."""

    item: dict[str, Any]
    event_id: str


@dataclass(frozen=True, slots=True)
class StoreAudio:
    """Keep an assistant item's audio (cut at `cut_ms` when it was truncated while streaming)."""

    item_id: str
    chunks: list[str]
    ms: int
    fmt: str
    cut_ms: int | None = None


@dataclass(frozen=True, slots=True)
class AudioStarted:
    """A response's audio began playing (sideband calls: `output_audio_buffer.started`)."""

    response_id: str


@dataclass(frozen=True, slots=True)
class RequestApproval:
    """An MCP call waits for the client's `mcp_approval_response`."""

    request_id: str
    call: mcp.PlannedCall


@dataclass(frozen=True, slots=True)
class UsedTokens:
    """A response used `tokens`; the session sends `rate_limits.updated` under `event_id`."""

    tokens: int
    event_id: str


@dataclass(frozen=True, slots=True)
class Finished:
    """The response ended (done, cancelled, failed): the session forgets it."""

    run: ResponseRun


Effect: TypeAlias = AppendItem | StoreAudio | AudioStarted | RequestApproval | UsedTokens | Finished
EFFECTS = (AppendItem, StoreAudio, AudioStarted, RequestApproval, UsedTokens, Finished)
RunAction: TypeAlias = Action | Effect


@dataclass(slots=True)
class _Open:
    """The output item currently being streamed."""

    item: dict[str, Any]
    output_index: int
    kind: str  # "text" | "audio" | "function_call" | "mcp_call" | "mcp_approval_request"
    part_open: bool = False
    audio_open: bool = False
    text: str = ""
    args: str = ""
    audio_ms: int = 0
    audio_chunks: list[str] = field(default_factory=list)
    truncated_ms: int | None = None
    """`conversation.item.truncate` of this item while it streamed: its stored audio is cut here
    when it ends (and its stored transcript emptied)."""


@dataclass(frozen=True, slots=True)
class ResponseParams:
    """Effective parameters of one response (session defaults overridden by response.create)."""

    modality: str  # "text" | "audio"
    instructions: str
    tools: Sequence[Mapping[str, Any]]
    tool_choice: Any
    max_output_tokens: int | str
    metadata: Mapping[str, Any] | None
    in_band: bool
    audio_format: str
    voice: str
    conversation_id: str | None
    input_items: Sequence[Mapping[str, Any]]
    input_tokens: tuple[int, int, int]  # text, audio, image


class ResponseRun:
    """A response in flight. `stream()` yields Chunks; `cancel()` returns the terminal events."""

    def __init__(self, session: ResponseContext, response_id: str, params: ResponseParams, reply: Reply,
                 mcp_calls: Sequence[mcp.PlannedCall] = ()) -> None:
        self.session = session
        self.mcp = list(mcp_calls)
        self._audio_started = False
        self._scale = 0.0
        self._clock = 0.0
        self.id = response_id
        self.params = params
        self.reply = reply
        self.output: list[dict[str, Any]] = []
        self.open: _Open | None = None
        self.finished = False
        self.status = "in_progress"
        self.status_details: dict[str, Any] | None = None
        self.out_text_chars = 0
        self.out_audio_ms = 0
        self._last_wait = 0.0
        self.response: dict[str, Any] = {
            "object": "realtime.response",
            "id": response_id,
            "status": "in_progress",
            "status_details": None,
            "output": [],
            "conversation_id": params.conversation_id,
            "output_modalities": [params.modality],
            "max_output_tokens": params.max_output_tokens,
            "audio": {"output": {"format": session.format_object(params.audio_format), "voice": params.voice}},
            "usage": None,
            "metadata": params.metadata,
        }

    # --- helpers ---------------------------------------------------------------------------

    def _ev(self, type_: str, **fields: Any) -> Send:
        return Send({"type": type_, "event_id": self.session.ids.event(), **fields})

    def _budget_left(self) -> float:
        mot = self.params.max_output_tokens
        if mot == "inf":
            return math.inf
        return float(mot) - self._output_tokens()[0]

    def _output_tokens(self) -> tuple[int, int, int]:
        cfg = self.session.config
        text = math.ceil(self.out_text_chars / cfg.text_chars_per_token)
        audio = math.ceil(self.out_audio_ms / cfg.audio_ms_per_token_out)
        return text + audio, text, audio

    def _snapshot(self) -> dict[str, Any]:
        resp = dict(self.response)
        resp["output"] = [dict(it) for it in self.output]
        return resp

    # --- the stream ------------------------------------------------------------------------

    def _wait(self, offset: float) -> Iterator[Step]:
        if offset > self._last_wait:
            self._last_wait = offset
            yield offset

    def stream(self) -> Generator[Step, Any, None]:
        """The response's steps (see actions.StartStream). State advances only when a step is
        pulled, and every pull after a wait first checks whether the response was cancelled."""
        cfg = self.session.config
        self._scale = (1.0 / cfg.speed) if cfg.speed > 0 else 0.0
        self._clock = cfg.response_latency_ms / 1000.0 * self._scale
        yield [self._ev("response.created", response=self._snapshot())]

        truncated = False
        if self.reply.text:
            truncated = yield from self._say(self.reply.text)
            if self.finished:
                return

        if not truncated:
            for call in self.reply.tool_calls:
                args = call.arguments_json()
                if self._budget_left() < math.ceil(len(args) / cfg.text_chars_per_token):
                    truncated = True
                    break
                item_id = self.session.ids.new("item")
                call_id = call.call_id or self.session.ids.call()
                item = {"id": item_id, "type": "function_call", "status": "in_progress", "name": call.name,
                        "call_id": call_id, "arguments": ""}
                yield from self._wait(self._clock)
                if self.finished:
                    return
                yield self.session.apply_effects(self._begin_item(item, "function_call"))
                fop = self.open
                assert fop is not None
                for j in range(0, len(args), 32):
                    if self.finished:
                        return
                    delta = args[j : j + 32]
                    fop.args += delta
                    self.out_text_chars += len(delta)
                    yield [self._ev("response.function_call_arguments.delta", response_id=self.id,
                                    item_id=item_id, output_index=fop.output_index, call_id=call_id,
                                    delta=delta)]
                if self.finished:
                    return
                yield self.session.apply_effects(self._end_item("completed"))

        if not truncated and self.mcp:
            ran = yield from self._mcp()
            if self.finished:
                return
            if ran:
                follow = self.session.follow_up(self)
                if follow.text:
                    truncated = yield from self._say(follow.text)
                    if self.finished:
                        return

        if self.finished:
            return
        if truncated:
            self.status, self.status_details = "incomplete", {"type": "incomplete", "reason": "max_output_tokens"}
        else:
            self.status = "completed"
        yield self.session.apply_effects(self._finish())

    def _say(self, text: str) -> Generator[Step, Any, bool]:
        """Stream one assistant message saying `text` (written or spoken). Returns whether
        max_output_tokens cut it; the caller checks `self.finished` (cancelled) after."""
        cfg = self.session.config
        scale = self._scale
        truncated = False
        modality = self.params.modality
        item_id = self.session.ids.new("item")
        item: dict[str, Any] = {"id": item_id, "type": "message", "status": "in_progress",
                                "role": "assistant", "content": []}
        yield from self._wait(self._clock)
        if self.finished:
            return False
        acts = self._begin_item(item, modality)
        op = self.open
        assert op is not None
        op.part_open = True
        op.audio_open = modality == "audio"
        part: dict[str, Any] = ({"type": "audio", "transcript": ""} if modality == "audio"
                                else {"type": "text", "text": ""})
        acts.append(self._ev("response.content_part.added", response_id=self.id, item_id=item_id,
                             output_index=op.output_index, content_index=0, part=part))
        if modality == "audio" and not self._audio_started:
            self._audio_started = True
            acts.append(AudioStarted(self.id))
        yield self.session.apply_effects(acts)
        if modality == "audio":
            synth = self.session.synthesizer
            voice, fmt = self.params.voice, self.params.audio_format

            def speak() -> list[SpeechSegment]:
                return synth.synthesize(text, voice=voice, audio_format=fmt, chunk_ms=cfg.audio_chunk_ms)

            if getattr(synth, "blocking", False):  # real TTS: the shell runs it in a worker thread
                segments: list[SpeechSegment] = yield Offload(speak, blocking=True)
                if self.finished:
                    return False
            else:
                segments = speak()
            full_ms = max(20, cfg.audio_chunk_ms // 20 * 20)
            ids = self.session.ids
            rid, oi = self.id, op.output_index
            for seg in segments:
                if not self._fits(seg):
                    truncated = True
                    break
                yield from self._wait(self._clock)
                if self.finished:
                    return False
                op.text += seg.text
                self.out_text_chars += len(seg.text)
                yield [self._ev("response.output_audio_transcript.delta", response_id=rid, item_id=item_id,
                                output_index=oi, content_index=0, delta=seg.text)]
                left = seg.duration_ms
                chunks_out = op.audio_chunks
                event_id = ids.event
                for b64 in seg.chunks:
                    clock = self._clock
                    if clock > self._last_wait:
                        self._last_wait = clock
                        yield clock
                        if self.finished:
                            return False
                    ms = full_ms if left > full_ms else left
                    left -= ms
                    chunks_out.append(b64)
                    op.audio_ms += ms
                    self.out_audio_ms += ms
                    yield [Send({"type": "response.output_audio.delta", "event_id": event_id(),
                                 "response_id": rid, "item_id": item_id, "output_index": oi,
                                 "content_index": 0, "delta": b64})]
                    if scale:
                        self._clock = clock + ms / 1000.0 * scale
        else:
            rate = cfg.text_tokens_per_second
            for i, word in enumerate(text.split(" ")):
                delta = word if i == 0 else " " + word
                if op.text and self._budget_left() < math.ceil(len(delta) / cfg.text_chars_per_token):
                    truncated = True
                    break
                yield from self._wait(self._clock)
                if self.finished:
                    return False
                op.text += delta
                self.out_text_chars += len(delta)
                yield [self._ev("response.output_text.delta", response_id=self.id, item_id=item_id,
                                output_index=op.output_index, content_index=0, delta=delta)]
                if rate > 0:
                    self._clock += len(delta) / cfg.text_chars_per_token / rate * scale
        yield from self._wait(self._clock)
        if self.finished:
            return False
        yield self.session.apply_effects(self._end_item("incomplete" if truncated else "completed"))
        return truncated

    def _mcp(self) -> Generator[Step, Any, bool]:
        """The response's MCP calls (approval requests, or calls made through the shell).
        Returns whether a call ran (then a follow-up message answers with its output)."""
        ran = False
        ids = self.session.ids
        for call in self.mcp:
            yield from self._wait(self._clock)
            if self.finished:
                return ran
            if call.needs_approval:
                item = mcp.approval_request_item(ids.new("mcpr"), call)
                acts = self._begin_item(item, "mcp_approval_request")
                acts.append(RequestApproval(item["id"], call))
                acts.extend(self._end_item("completed"))
                yield self.session.apply_effects(acts)
                continue
            item = mcp.call_item(ids.new("mcp"), call)
            yield self.session.apply_effects(self._begin_item(item, "mcp_call"))
            op = self.open
            assert op is not None
            rid, iid, oi = self.id, item["id"], op.output_index
            args = call.arguments
            for j in range(0, len(args), 32):
                delta = args[j : j + 32]
                op.args += delta
                self.out_text_chars += len(delta)
                yield [self._ev("response.mcp_call_arguments.delta", response_id=rid, item_id=iid,
                                output_index=oi, delta=delta)]
                if self.finished:
                    return ran
            item["arguments"] = args
            yield [self._ev("response.mcp_call_arguments.done", response_id=rid, item_id=iid, output_index=oi,
                            arguments=args),
                   self._ev("response.mcp_call.in_progress", item_id=iid, output_index=oi)]
            try:
                arguments = json.loads(args) if args else {}
            except ValueError:
                arguments = {}
            result: McpResult = yield McpRequest(call.server, "tools/call", call.name,
                                                 arguments if isinstance(arguments, dict) else {})
            if self.finished:
                return ran
            ran = True
            acts = []
            if result.error is not None:
                item["error"] = result.error
                acts.append(self._ev("response.mcp_call.failed", item_id=iid, output_index=oi))
            else:
                item["output"] = result.output or ""
                acts.append(self._ev("response.mcp_call.completed", item_id=iid, output_index=oi))
            acts.extend(self._end_item("completed"))
            yield self.session.apply_effects(acts)
        return ran

    def _fits(self, seg: SpeechSegment) -> bool:
        if self.params.max_output_tokens == "inf" or self.out_audio_ms == 0:
            return True
        cfg = self.session.config
        text = math.ceil((self.out_text_chars + len(seg.text)) / cfg.text_chars_per_token)
        audio = math.ceil((self.out_audio_ms + seg.duration_ms) / cfg.audio_ms_per_token_out)
        return text + audio <= float(self.params.max_output_tokens)

    def _begin_item(self, item: dict[str, Any], kind: str) -> list[RunAction]:
        output_index = len(self.output)
        self.output.append(item)
        self.open = _Open(item=item, output_index=output_index, kind=kind)
        acts: list[RunAction] = [self._ev("response.output_item.added", response_id=self.id,
                                          output_index=output_index, item=dict(item))]
        if self.params.in_band:
            acts.append(AppendItem(item, self.session.ids.event()))
        return acts

    def _end_item(self, status: str) -> list[RunAction]:
        """Terminal events for the open item, in §4.4/§4.5/§4.8 order."""
        op = self.open
        assert op is not None
        self.open = None
        rid, iid, oi = self.id, op.item["id"], op.output_index
        acts: list[RunAction] = []
        if op.kind == "audio":
            if op.audio_open:
                acts.append(self._ev("response.output_audio.done", response_id=rid, item_id=iid,
                                     output_index=oi, content_index=0))
            if op.part_open:
                acts.append(self._ev("response.output_audio_transcript.done", response_id=rid, item_id=iid,
                                     output_index=oi, content_index=0, transcript=op.text))
                acts.append(self._ev("response.content_part.done", response_id=rid, item_id=iid, output_index=oi,
                                     content_index=0, part={"type": "audio", "transcript": op.text}))
            stored = op.text if op.truncated_ms is None else ""  # a cut transcript cannot be aligned: dropped
            content: list[dict[str, Any]] = [{"type": "output_audio", "transcript": stored}] if op.part_open else []
            acts.append(StoreAudio(iid, op.audio_chunks, op.audio_ms, self.params.audio_format, op.truncated_ms))
        elif op.kind == "text":
            if op.part_open:
                acts.append(self._ev("response.output_text.done", response_id=rid, item_id=iid, output_index=oi,
                                     content_index=0, text=op.text))
                acts.append(self._ev("response.content_part.done", response_id=rid, item_id=iid, output_index=oi,
                                     content_index=0, part={"type": "text", "text": op.text}))
            content = [{"type": "output_text", "text": op.text}] if op.part_open else []
        elif op.kind in ("mcp_call", "mcp_approval_request"):
            content = []
        else:
            content = []
            if status == "completed":
                acts.append(self._ev("response.function_call_arguments.done", response_id=rid, item_id=iid,
                                     output_index=oi, call_id=op.item["call_id"], name=op.item["name"],
                                     arguments=op.args))
            op.item["arguments"] = op.args
        if op.kind in ("mcp_call", "mcp_approval_request"):
            if op.kind == "mcp_call":
                op.item["arguments"] = op.args
        else:
            op.item["status"] = status
        if op.kind in ("text", "audio"):
            op.item["content"] = content
        acts.append(self._ev("response.output_item.done", response_id=rid, output_index=oi, item=dict(op.item)))
        if self.params.in_band:
            acts.append(self._ev("conversation.item.done", item=dict(op.item)))
        return acts

    def _finish(self) -> list[RunAction]:
        self.finished = True
        total, text, audio = self._output_tokens()
        in_text, in_audio, in_image = self.params.input_tokens
        cached = self.session.cached_tokens(in_text + in_audio + in_image) if self.params.in_band else 0
        cached_text = min(cached, in_text)
        cached_audio = min(cached - cached_text, in_audio)
        input_total = in_text + in_audio + in_image
        self.response["status"] = self.status
        self.response["status_details"] = self.status_details
        self.response["usage"] = {
            "total_tokens": input_total + total,
            "input_tokens": input_total,
            "output_tokens": total,
            "input_token_details": {
                "text_tokens": in_text, "audio_tokens": in_audio, "image_tokens": in_image,
                "cached_tokens": cached_text + cached_audio,
                "cached_tokens_details": {"text_tokens": cached_text, "audio_tokens": cached_audio, "image_tokens": 0},
            },
            "output_token_details": {"text_tokens": text, "audio_tokens": audio},
        }
        acts: list[RunAction] = [self._ev("response.done", response=self._snapshot()),
                                 UsedTokens(input_total + total, self.session.ids.event()), Finished(self)]
        return acts

    def cancel(self, reason: str) -> list[RunAction]:
        """Close whatever is open (item status `incomplete`), then `response.done` cancelled
        (Actions and effects: the session applies them, see `Session.apply_effects`)."""
        if self.finished:
            return []
        acts: list[RunAction] = []
        if self.open is not None:
            acts.extend(self._end_item("incomplete"))
        self.status = "cancelled"
        self.status_details = {"type": "cancelled", "reason": reason}
        acts.extend(self._finish())
        return acts
