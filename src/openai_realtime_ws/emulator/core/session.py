# The session state machine of one Realtime connection (Sans-I/O). Everything that decides what
# the server says lives here or in the modules it drives: session config and `session.update`
# (§4.2), the conversation (§4.3, truncate/delete/retrieve §2.1), the input audio buffer and VAD
# (§4.6, §4.7), responses (§4.4, §4.5, §4.8, §4.10), cancel (§4.9), errors with
# `error.event_id` (§5), the session time cap (§6 1001) and idle timeouts; remote MCP servers
# (listing, calls, approvals: core/mcp.py), sideband-call events (`output_audio_buffer.*`, DTMF),
# and the memory bounds of a long session (conversation cap, item audio budget, `release()`).
#
# Use: `session.open(now)` once, then `session.receive(frame, now)` for every client frame and
# `session.timer_fired(name, now)` when a SetTimer elapses; each returns Actions for the shell.
# Plug-in work (transcription) comes back as an `Offload`, MCP I/O as an `McpRequest`: the
# shell runs them and hands the result to their `then`.
# `now` is wall-clock seconds (for `expires_at`); pacing and timers are relative (see actions).
from __future__ import annotations

import base64
import binascii
import copy
import math
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from . import errors, mcp, schema
from . import session_config as sc
from .actions import (
    Action,
    CancelTimer,
    Close,
    McpRequest,
    McpResult,
    Offload,
    Send,
    SetTimer,
    StartStream,
)
from .audio import (
    Synthesizer,
    SyntheticTranscriber,
    ToneSynthesizer,
    Transcriber,
    duration_ms,
)
from .config import EmulatorConfig
from .conversation import AudioStore, Conversation
from .ids import IdFactory
from .response import (
    EFFECTS,
    AppendItem,
    AudioStarted,
    Effect,
    RequestApproval,
    ResponseParams,
    ResponseRun,
    RunAction,
    StoreAudio,
    UsedTokens,
)
from .turn import Reply, Responder, TurnContext
from .vad import InputBuffer, SpeechStarted, SpeechStopped

TIMER_EXPIRE = "session_expired"
TIMER_IDLE = "idle_timeout"
TIMER_PLAYBACK = "output_audio_playback"
MAX_DEPTH = schema.MAX_DEPTH

SIDEBAND_EVENTS = ("output_audio_buffer.clear",)
"""Client events only a sideband connection (`?call_id=`, a WebRTC/SIP call) accepts."""


def expiry_message(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"Your session hit the maximum duration of {minutes} minute{'s' if minutes != 1 else ''}."
    return f"Your session hit the maximum duration of {seconds:g} seconds."


class Session:
    """One Realtime session. See the module comment for the protocol it implements."""

    def __init__(
        self,
        *,
        config: EmulatorConfig,
        responder: Responder,
        ids: IdFactory,
        now: float,
        kind: str = "realtime",
        model: str | None = None,
        defaults: Mapping[str, Any] | None = None,
        synthesizer: Synthesizer | None = None,
        transcriber: Transcriber | None = None,
        call_id: str | None = None,
    ) -> None:
        self.config = config
        self.responder = responder
        self.ids = ids
        self.kind = kind
        self.call_id = call_id
        self.sideband = call_id is not None
        """A sideband connection to a WebRTC/SIP call: `output_audio_buffer.*` and DTMF apply."""
        self.synthesizer: Synthesizer = synthesizer or ToneSynthesizer()
        self.transcriber: Transcriber = transcriber or SyntheticTranscriber()
        self.id = ids.new("sess")
        self.conversation_id = ids.new("conv")
        expires_at = int(now + config.session_seconds)
        if kind == "transcription":
            self.state = sc.default_transcription(session_id=self.id, expires_at=expires_at)
        else:
            self.state = sc.default_realtime(config, session_id=self.id, model=model or config.model,
                                             expires_at=expires_at)
        for extra in (config.session_defaults if kind == "realtime" else None, defaults):
            if extra:
                payload = {**extra, "type": self.kind}
                payload.pop("model", None)
                self.state = sc.merge(self.state, sc.validate_update(payload, self.state))
        self.conversation = Conversation()
        self.input = InputBuffer(sc.input_format(self.state))
        self._pending_item_id: str | None = None  # id announced by speech_started
        self.active: ResponseRun | None = None  # the in-band response
        self.runs: dict[str, ResponseRun] = {}
        self.audio = AudioStore(config.max_item_audio_bytes)
        """Audio of user and assistant items (bounded; the oldest items' bytes are dropped)."""
        self._playing: str | None = None  # sideband: the response whose audio is "playing"
        self.mcp_listed: dict[str, list[dict[str, Any]]] = {}  # server_label -> its listed tools
        self._mcp_keys: dict[str, str] = {}  # server_label -> the server config it was listed for
        self.approvals: dict[str, mcp.PlannedCall] = {}  # mcp_approval_request id -> the call
        self._approved: list[mcp.PlannedCall] = []  # approved, to run in the next response
        self._denied: list[mcp.PlannedCall] = []
        self.heard: dict[str, str] = {}  # audio item id -> transcript the "model" heard
        self.assistant_audio_produced = False
        self.closed = False
        self._tokens_used = 0
        self._last_input_tokens = 0
        self.last_event: dict[str, Any] | None = None
        """The last client event `receive()` parsed (None when the frame was not an object)."""
        self.hearing: set[str] = set()
        """Items whose recognition by a `blocking` transcriber is still running (off the event
        path: the shell carries on with other frames meanwhile)."""
        self._held: list[tuple[dict[str, Any], float, frozenset[str]]] = []
        """Client events waiting for the recognitions running when they arrived (a response the
        model cannot start before it heard the user), with the events after them, in order."""

    # --- shell entry points ----------------------------------------------------------------

    def open(self, now: float) -> list[Action]:
        acts: list[Action] = [self._ev("session.created", session=copy.deepcopy(self.state))]
        if self.config.send_conversation_created and self.kind == "realtime":
            acts.append(self._ev("conversation.created",
                                 conversation={"id": self.conversation_id, "object": "realtime.conversation"}))
        acts.append(SetTimer(TIMER_EXPIRE, self.config.session_seconds))
        return acts

    def receive(self, frame: str | bytes, now: float, *, binary: bool = False) -> list[Action]:
        """Handle one client frame (text, or `binary=True` for a binary frame)."""
        self.last_event = None
        if self.closed:
            return []
        event = schema.decode_client_frame(frame, binary=binary)
        if isinstance(event, schema.FrameRefused):
            return self._error(event.error, event.event_id)
        self.last_event = event
        event_id = event.get("event_id")
        eid = event_id if isinstance(event_id, str) else None
        type_ = event.get("type")
        if type_ is None:
            return self._error(errors.missing_type(), eid)
        if self.kind == "transcription":
            allowed: tuple[str, ...] = schema.TRANSCRIPTION_EVENTS
        else:
            allowed = schema.REALTIME_EVENTS + (SIDEBAND_EVENTS if self.sideband else ())
        if not isinstance(type_, str) or type_ not in allowed:
            return self._error(errors.invalid_value(type_, allowed, "type"), eid)
        try:
            schema.CLIENT_EVENTS[type_](event, "")
        except errors.RequestError as exc:
            return self._error(exc, eid)
        except RecursionError:  # nesting within MAX_DEPTH that a plug-in still could not handle
            return self._error(errors.not_json("the JSON value is nested too deeply"), eid)
        if type_ != "input_audio_buffer.append" and (self._held or (type_ == "response.create" and self.hearing)):
            # a response needs what the user said: it (and what follows it, in order) waits for
            # the recognitions running now; audio keeps flowing so that VAD events go out [INF]
            self._held.append((event, now, frozenset(self.hearing)))
            return []
        return self._handle(type_, event, eid, now)

    def _handle(self, type_: str, event: dict[str, Any], eid: str | None, now: float) -> list[Action]:
        """Run the handler of one schema-checked client event."""
        try:
            handler = getattr(self, "_on_" + type_.replace(".", "_"))
            acts: list[Action] = handler(event, now)
            return acts
        except errors.RequestError as exc:
            return self._error(exc, eid)
        except RecursionError:  # nesting within MAX_DEPTH that a plug-in still could not handle
            return self._error(errors.not_json("the JSON value is nested too deeply"), eid)

    def _release_held(self) -> list[Action]:
        """Handle the held client events whose recognitions have all completed, in order."""
        acts: list[Action] = []
        while self._held and not (self._held[0][2] & self.hearing) and not self.closed:
            event, now, _ = self._held.pop(0)
            event_id = event.get("event_id")
            acts.extend(self._handle(str(event["type"]), event, event_id if isinstance(event_id, str) else None, now))
        return acts

    def timer_fired(self, name: str, now: float) -> list[Action]:
        if self.closed:
            return []
        if name == TIMER_EXPIRE:
            return self.fatal(errors.session_expired(expiry_message(self.config.session_seconds)))
        if name == TIMER_IDLE:
            return self._idle_timeout()
        if name == TIMER_PLAYBACK and self._playing is not None:
            response_id, self._playing = self._playing, None
            return [self._ev("output_audio_buffer.stopped", response_id=response_id)]
        return []

    def dtmf(self, digits: str, now: float) -> list[Action]:
        """Keypad digits the caller pressed (a sideband call only; a test hook stands in for the
        SIP side): one `input_audio_buffer.dtmf_event_received` per digit."""
        if not self.sideband:
            raise ValueError("DTMF exists only on a sideband connection (?call_id=...)")
        if self.closed:
            return []
        bad = [d for d in digits if d not in "0123456789*#ABCD"]
        if bad or not digits:
            raise ValueError(f"DTMF digits are 0-9, *, # and A-D; got {digits!r}")
        return [self._ev("input_audio_buffer.dtmf_event_received", event=d, received_at=int(now))
                for d in digits]

    def release(self) -> None:
        """Forget what a closed connection's session holds that can be large (item audio, the
        conversation); the session answers nothing after this."""
        self.closed = True
        self.audio.clear()
        self.conversation = Conversation()
        self.heard.clear()
        self.runs.clear()
        self.active = None
        self._held.clear()
        self.hearing.clear()

    def fatal(self, fatal: errors.FatalClose, client_event_id: str | None = None) -> list[Action]:
        """`error` + close (invalid_api_key 3000, beta 4000, session_expired 1001)."""
        acts: list[Action] = []
        for run in list(self.runs.values()):
            run.finished = True
        self.runs.clear()
        self.active = None
        acts.append(self._ev("error", error=errors.error_payload(fatal.error, client_event_id)))
        reason = fatal.error.message if fatal.close_code == 1001 else fatal.reason
        acts.append(Close(fatal.close_code, reason))
        self.closed = True
        return acts

    def cancel_response(self, reason: str = "client_cancelled", response_id: str | None = None) -> list[Action]:
        """Cancel the in-band response (or `response_id`): its terminal events + response.done.
        Returns [] when nothing matches (the `response.cancel` handler turns that into an error)."""
        run = self.runs.get(response_id) if response_id else self.active
        if run is None:
            return []
        return self.apply_effects(run.cancel(reason))

    # --- the effects of responses (response.py's AppendItem … Finished) ----------------------

    def apply_effects(self, acts: list[RunAction]) -> list[Action]:
        """`acts` with every response effect applied here and replaced by the Actions it causes
        (response.ResponseContext)."""
        out: list[Action] = []
        for act in acts:
            if isinstance(act, EFFECTS):
                out.extend(self._apply_effect(act))
            else:
                out.append(act)
        return out

    def _apply_effect(self, effect: Effect) -> list[Action]:
        if isinstance(effect, AppendItem):
            prev = self.append_item(effect.item)
            return [Send({"type": "conversation.item.added", "event_id": effect.event_id,
                          "previous_item_id": prev, "item": dict(effect.item)})]
        if isinstance(effect, StoreAudio):
            self.store_assistant_audio(effect.item_id, effect.chunks, effect.ms, effect.fmt, effect.cut_ms)
            return []
        if isinstance(effect, AudioStarted):
            return self.audio_started(effect.response_id)
        if isinstance(effect, RequestApproval):
            self.approvals[effect.request_id] = effect.call
            return []
        if isinstance(effect, UsedTokens):
            return [Send({"type": "rate_limits.updated", "event_id": effect.event_id,
                          "rate_limits": self.rate_limits(effect.tokens)})]
        return self._on_finish(effect.run)

    # --- response.ResponseContext: what a ResponseRun sees of its session -------------------

    def format_object(self, fmt: str) -> dict[str, Any]:
        return dict(sc.PCM) if fmt == "audio/pcm" else {"type": fmt}

    def store_assistant_audio(self, item_id: str, chunks: list[str], ms: int, fmt: str,
                              cut_ms: int | None = None) -> None:
        self.audio.put_assistant(item_id, chunks, ms, fmt)
        if cut_ms is not None:  # truncated while it streamed
            self.audio.cut(item_id, cut_ms)
        if ms:
            self.assistant_audio_produced = True

    def audio_started(self, response_id: str) -> list[Action]:
        """Sideband: a response's first audio part began "playing" on the call."""
        if not self.sideband:
            return []
        acts: list[Action] = [CancelTimer(TIMER_PLAYBACK)]
        self._playing = response_id
        acts.append(self._ev("output_audio_buffer.started", response_id=response_id))
        return acts

    def _on_output_audio_buffer_clear(self, event: dict[str, Any], now: float) -> list[Action]:
        if self._playing is None:
            raise errors.nothing_to_clear()
        response_id, self._playing = self._playing, None
        return [CancelTimer(TIMER_PLAYBACK), self._ev("output_audio_buffer.cleared", response_id=response_id)]

    def cached_tokens(self, input_tokens: int) -> int:
        return min(input_tokens, self._last_input_tokens) // 64 * 64

    def rate_limits(self, tokens: int) -> list[dict[str, Any]]:
        self._tokens_used += tokens
        limit = self.config.rate_limit_tokens
        used = min(self._tokens_used, limit)
        return [{"name": "tokens", "limit": limit, "remaining": limit - used,
                 "reset_seconds": round(used / limit * 60.0, 3)}]

    # --- internals ------------------------------------------------------------------------

    def _ev(self, type_: str, **fields: Any) -> Send:
        return Send({"type": type_, "event_id": self.ids.event(), **fields})

    def _error(self, err: errors.RequestError, client_event_id: str | None) -> list[Action]:
        return [self._ev("error", error=errors.error_payload(err, client_event_id))]

    def _turn_detection(self) -> dict[str, Any] | None:
        return sc.turn_detection(self.state)

    @staticmethod
    def _public(item: Mapping[str, Any]) -> dict[str, Any]:
        """An item as item events show it: no audio bytes."""
        out = dict(item)
        if "content" in out:
            out["content"] = [{k: v for k, v in c.items() if k != "audio"} for c in out["content"]]
        return out

    # --- session.update -------------------------------------------------------------------

    def _on_session_update(self, event: dict[str, Any], now: float) -> list[Action]:
        update = sc.validate_update(event["session"], self.state)
        out_update = update.get("audio", {}).get("output", {})
        if ("voice" in out_update and out_update["voice"] != self.state["audio"]["output"]["voice"]
                and self.assistant_audio_produced):
            raise errors.cannot_update_voice()
        self.state = sc.merge(self.state, update)
        self.input.set_format(sc.input_format(self.state))
        acts: list[Action] = [self._ev("session.updated", session=copy.deepcopy(self.state))]
        td = self._turn_detection()
        if td is None:
            self.input.reset_vad()
        acts.extend(self._arm_idle())
        acts.extend(self._list_mcp_servers())
        return acts

    # --- remote MCP servers (see core/mcp.py for the flow) ------------------------------------

    def _list_mcp_servers(self) -> list[Action]:
        """List the tools of every mcp tool not listed yet (or whose server config changed)."""
        acts: list[Action] = []
        for tool in self.state.get("tools") or ():
            if tool.get("type") != "mcp":
                continue
            label = str(tool["server_label"])
            key = repr(tuple(tool.get(k) for k in ("server_url", "connector_id", "headers", "authorization")))
            if self._mcp_keys.get(label) == key:
                continue
            self._mcp_keys[label] = key
            self.mcp_listed.pop(label, None)
            item = mcp.list_tools_item(self.ids.new("item"), label, [])
            prev = self.append_item(item)
            acts.append(self._ev("conversation.item.added", previous_item_id=prev, item=dict(item)))
            acts.append(self._ev("mcp_list_tools.in_progress", item_id=item["id"]))
            acts.append(McpRequest(dict(tool), "tools/list", then=self._mcp_listed_then(label, key, item)))
        return acts

    def _mcp_listed_then(self, label: str, key: str, item: dict[str, Any]) -> Any:
        def then(result: McpResult) -> list[Action]:
            if self.closed or self._mcp_keys.get(label) != key:
                return []
            if result.error is not None or result.tools is None:
                outcome = "mcp_list_tools.failed"
            else:
                outcome = "mcp_list_tools.completed"
                item["tools"] = result.tools
                self.mcp_listed[label] = result.tools
            return [self._ev(outcome, item_id=item["id"]), self._ev("conversation.item.done", item=dict(item))]

        return then

    def _mcp_item_created(self, item: dict[str, Any]) -> list[Action]:
        """A client `mcp_approval_response` decides a pending approval request."""
        if item.get("type") != "mcp_approval_response":
            return []
        request_id = item["approval_request_id"]
        call = self.approvals.pop(request_id, None)
        if call is None:
            raise errors.approval_request_not_found(request_id)
        if item["approve"]:
            self._approved.append(mcp.PlannedCall(call.server, call.name, call.arguments, False, request_id))
        else:
            self._denied.append(call)
        return []

    def _plan_mcp(self, reply: Reply, tools: list[Any], in_band: bool) -> tuple[Reply, list[mcp.PlannedCall]]:
        """Split the reply's tool calls into function calls and MCP calls; a response after an
        approval decision runs the approved calls (or says a call was not approved) instead."""
        if in_band and (self._approved or self._denied):
            approved, denied = self._approved, self._denied
            self._approved, self._denied = [], []
            text = " ".join(f"I did not run {c.name}: the call was not approved." for c in denied) or None
            return Reply(text=text), approved
        if not self.mcp_listed or not reply.tool_calls:
            return reply, []
        functions = []
        planned: list[mcp.PlannedCall] = []
        for call in reply.tool_calls:
            server = mcp.find_server(tools, self.mcp_listed, call.name, call.server_label)
            if server is None:
                functions.append(call)
            else:
                planned.append(mcp.PlannedCall(server, call.name, call.arguments_json(),
                                               mcp.needs_approval(server, call.name)))
        return Reply(text=reply.text, tool_calls=functions), planned

    def follow_up(self, run: ResponseRun) -> Reply:
        """What the assistant says after the MCP calls of `run` (the responder, asked again with
        the calls' outputs in the context; tool calls in this answer are not made)."""
        p = run.params
        items = self._context_items({}) if p.in_band else [*map(dict, p.input_items), *map(dict, run.output)]
        ctx = TurnContext(items=items, instructions=p.instructions, tools=list(p.tools), tool_choice=p.tool_choice,
                          output_modalities=[p.modality], metadata=p.metadata, out_of_band=not p.in_band)
        return Reply(text=self.responder.respond(ctx).text)

    # --- input audio buffer ---------------------------------------------------------------

    def _on_input_audio_buffer_append(self, event: dict[str, Any], now: float) -> list[Action]:
        try:
            data = base64.b64decode(event["audio"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise errors.RequestError("invalid_value", f"Invalid 'audio': not valid base64 ({exc}).", "audio") from exc
        acts: list[Action] = []
        for vad in self.input.append(data, self._turn_detection()):
            if isinstance(vad, SpeechStarted):
                self._pending_item_id = self.ids.new("item")
                acts.append(CancelTimer(TIMER_IDLE))
                acts.append(self._ev("input_audio_buffer.speech_started", audio_start_ms=vad.audio_start_ms,
                                     item_id=self._pending_item_id))
                td = self._turn_detection() or {}
                if td.get("interrupt_response", True):
                    if self.active is not None:
                        acts.extend(self.apply_effects(self.active.cancel("turn_detected")))
                    if self._playing is not None:  # sideband: the call's playback is cut
                        response_id, self._playing = self._playing, None
                        acts.append(CancelTimer(TIMER_PLAYBACK))
                        acts.append(self._ev("output_audio_buffer.cleared", response_id=response_id))
            elif isinstance(vad, SpeechStopped):
                item_id = self._pending_item_id or self.ids.new("item")
                self._pending_item_id = None
                acts.append(self._ev("input_audio_buffer.speech_stopped", audio_end_ms=vad.audio_end_ms,
                                     item_id=item_id))
                acts.extend(self._commit(item_id, vad.audio, auto_response=True))
        return acts

    def _on_input_audio_buffer_commit(self, event: dict[str, Any], now: float) -> list[Action]:
        buffered = self.input.buffered_ms
        if buffered < self.config.commit_min_ms:
            raise errors.commit_empty(buffered)
        item_id = self._pending_item_id or self.ids.new("item")
        self._pending_item_id = None
        data = self.input.take()
        self.input.reset_vad()
        return self._commit(item_id, data, auto_response=False)

    def _on_input_audio_buffer_clear(self, event: dict[str, Any], now: float) -> list[Action]:
        self.input.clear()
        self._pending_item_id = None
        return [self._ev("input_audio_buffer.cleared")]

    def _commit(self, item_id: str, audio: bytes, *, auto_response: bool) -> list[Action]:
        """committed → item added/done → transcription events → (VAD) a response."""
        fmt = self.input.fmt
        item = {"id": item_id, "type": "message", "status": "completed", "role": "user",
                "content": [{"type": "input_audio", "transcript": None}]}
        prev = self.append_item(item)
        self.audio.put_input(item_id, audio, fmt)
        acts: list[Action] = [
            self._ev("input_audio_buffer.committed", previous_item_id=prev, item_id=item_id),
            self._ev("conversation.item.added", previous_item_id=prev, item=self._public(item)),
            self._ev("conversation.item.done", previous_item_id=prev, item=self._public(item)),
        ]
        ms = duration_ms(len(audio), fmt)

        def heard(text: str | None) -> list[Action]:
            if self.closed:
                return []
            if text is not None:
                self.heard[item_id] = text
            out = self._transcribe(item_id, text, ms)
            if auto_response and self.kind == "realtime":
                td = self._turn_detection() or {}
                # the response waits for recognition (a model thinking); when the user started
                # speaking again meanwhile, the next turn answers both [INF]
                if td.get("create_response", True) and self.active is None and not self.input.speaking:
                    out.extend(self._start_response({}, None))
            return out

        acts.append(self._hear(audio, fmt, item_id, heard))
        return acts

    def append_item(self, item: dict[str, Any], previous_item_id: str | None = None) -> str | None:
        """Add an item (after `previous_item_id`, default last) and forget the oldest items beyond
        `config.max_conversation_items`. Returns the id of the item now before it."""
        prev = self.conversation.insert_after(item, previous_item_id)
        for old in self.conversation.trim(self.config.max_conversation_items):
            self.audio.pop(old)
            self.heard.pop(old, None)
        return prev

    def _hear(self, audio: bytes, fmt: str, item_id: str, then: Callable[[str | None], list[Action]]) -> Offload:
        """Run the transcriber on `audio`, then call `then(text or None)`; a failing plug-in
        transcriber gives None (reported, not a crash). A `blocking` transcriber runs off the
        event path (the shell goes on with other frames; see actions.Offload): until it is done
        the item is in `hearing`, and a response.create waits for it."""
        transcriber = self.transcriber
        td = self.state["audio"]["input"].get("transcription") or {}
        language = td.get("language")
        blocking = bool(getattr(transcriber, "blocking", False))

        def run() -> str | None:
            try:
                return transcriber.transcribe(audio, audio_format=fmt, language=language)
            except Exception:
                return None

        if not blocking:
            return Offload(run, then)
        self.hearing.add(item_id)

        def done(text: str | None) -> list[Action]:
            self.hearing.discard(item_id)
            if self.closed:
                return []
            return [*then(text), *self._release_held()]

        return Offload(run, done, blocking=True)

    def _transcribe(self, item_id: str, text: str | None, ms: float) -> list[Action]:
        cfg = self.state["audio"]["input"].get("transcription")
        if not cfg:
            return []
        if text is None:
            return [self._ev("conversation.item.input_audio_transcription.failed", item_id=item_id,
                             content_index=0, error={"type": "transcription_error", "code": "audio_unintelligible",
                                                     "message": "The audio could not be transcribed.",
                                                     "param": None})]
        acts: list[Action] = []
        words = text.split(" ") if text else []
        if "diarize" in str(cfg.get("model", "")):
            # diarizing models: one segment per speaker turn, no deltas [INF]; the emulator hears
            # one speaker ("A") per committed item
            if text:
                acts.append(self._ev("conversation.item.input_audio_transcription.segment", item_id=item_id,
                                     content_index=0, id=self.ids.new("seg", 16), speaker="A", start=0.0,
                                     end=round(ms / 1000.0, 3), text=text))
            words = []
        logprobs = "item.input_audio_transcription.logprobs" in (self.state.get("include") or [])
        all_probs: list[dict[str, Any]] = []
        for i, word in enumerate(words):
            delta = word if i == 0 else " " + word
            extra: dict[str, Any] = {}
            if logprobs:  # one token per word, a fixed high confidence [INF]
                probs = [{"token": delta, "logprob": -0.01, "bytes": list(delta.encode())}]
                all_probs.extend(probs)
                extra["logprobs"] = probs
            acts.append(self._ev("conversation.item.input_audio_transcription.delta", item_id=item_id,
                                 content_index=0, delta=delta, **extra))
        if str(cfg.get("model", "")).startswith("whisper"):
            usage: dict[str, Any] = {"type": "duration", "seconds": math.ceil(ms / 1000)}
        else:
            audio_tokens = math.ceil(ms / self.config.audio_ms_per_token_in)
            out_tokens = math.ceil(len(text or "") / self.config.text_chars_per_token)
            usage = {"type": "tokens", "total_tokens": audio_tokens + out_tokens, "input_tokens": audio_tokens,
                     "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
                     "output_tokens": out_tokens}
        extra = {"logprobs": all_probs} if logprobs else {}
        acts.append(self._ev("conversation.item.input_audio_transcription.completed", item_id=item_id,
                             content_index=0, transcript=text or "", usage=usage, **extra))
        item = self.conversation.get(item_id)
        if item is not None:
            item["content"][0]["transcript"] = text or ""
        return acts

    def _arm_idle(self) -> list[Action]:
        td = self._turn_detection()
        if td is None or td.get("type") != "server_vad" or td.get("idle_timeout_ms") is None:
            return [CancelTimer(TIMER_IDLE)]
        return [SetTimer(TIMER_IDLE, float(td["idle_timeout_ms"]) / 1000.0 * self.config.idle_timeout_scale)]

    def _idle_timeout(self) -> list[Action]:
        td = self._turn_detection()
        if td is None or td.get("idle_timeout_ms") is None or self.input.speaking or self.active is not None:
            return []
        item_id = self.ids.new("item")
        start = int(self.input.start_ms)
        end = int(self.input.cursor_ms)
        acts: list[Action] = [self._ev("input_audio_buffer.timeout_triggered", audio_start_ms=start,
                                       audio_end_ms=end, item_id=item_id)]
        acts.extend(self._commit(item_id, self.input.take(), auto_response=True))
        return acts

    # --- conversation items ----------------------------------------------------------------

    def _on_conversation_item_create(self, event: dict[str, Any], now: float) -> list[Action]:
        item: dict[str, Any] = schema.item(event["item"], "item")
        prev_id = event.get("previous_item_id")
        if prev_id is not None and prev_id != "root" and prev_id not in self.conversation:
            raise errors.previous_item_not_found(prev_id)
        if "id" in item and item["id"] in self.conversation:
            raise errors.duplicate_item(item["id"])
        item = {"id": item.get("id") or self.ids.new("item"), **{k: v for k, v in item.items() if k != "id"}}
        if not str(item.get("type", "")).startswith("mcp_"):  # MCP items have no status
            item.setdefault("status", "completed")
        item.pop("object", None)
        item_id = item["id"]
        to_hear: tuple[bytes, str] | None = None
        for part in item.get("content", []):
            if part.get("type") == "input_audio":
                audio = part.get("audio")
                if audio:
                    data = base64.b64decode(audio)
                    fmt = self.input.fmt
                    self.audio.put_input(item_id, data, fmt)
                    if not part.get("transcript"):
                        to_hear = (data, fmt)
                part.setdefault("transcript", None)
                if part.get("transcript"):
                    self.heard[item_id] = part["transcript"]
            elif part.get("type") == "output_audio":
                part.setdefault("transcript", None)
        acts = self._mcp_item_created(item)
        actual_prev = self.append_item(item, prev_id)
        public = self._public(item)
        out: list[Action] = [self._ev("conversation.item.added", previous_item_id=actual_prev, item=public),
                             self._ev("conversation.item.done", previous_item_id=actual_prev, item=public)]
        out.extend(acts)
        if to_hear is not None:
            def heard(text: str | None) -> list[Action]:
                if text is not None and not self.closed:
                    self.heard[item_id] = text
                return []

            out.append(self._hear(to_hear[0], to_hear[1], item_id, heard))
        return out

    def _on_conversation_item_retrieve(self, event: dict[str, Any], now: float) -> list[Action]:
        item = self.conversation.get(event["item_id"])
        if item is None:
            raise errors.item_not_found("retrieve", event["item_id"])
        full = copy.deepcopy(item)
        raw = self.audio.wire_bytes(item["id"])
        if raw is not None:
            kind = "input_audio" if item.get("role") == "user" else "output_audio"
            for part in full.get("content", []):
                if part.get("type") == kind:
                    part["audio"] = base64.b64encode(raw).decode("ascii")
        return [self._ev("conversation.item.retrieved", item=full)]

    def _on_conversation_item_delete(self, event: dict[str, Any], now: float) -> list[Action]:
        item_id = event["item_id"]
        if item_id not in self.conversation:
            raise errors.item_not_found("delete", item_id)
        self.conversation.delete(item_id)
        self.audio.pop(item_id)
        self.heard.pop(item_id, None)
        return [self._ev("conversation.item.deleted", item_id=item_id)]

    def _on_conversation_item_truncate(self, event: dict[str, Any], now: float) -> list[Action]:
        item_id, index, end_ms = event["item_id"], event["content_index"], event["audio_end_ms"]
        item = self.conversation.get(item_id)
        if item is None:
            raise errors.item_not_found("truncate", item_id)
        run = self.active
        op = run.open if run is not None else None
        if run is not None and op is not None and op.item["id"] == item_id:
            # the item is still streaming: the cut may reach what was generated so far; the
            # response goes on (openai-agents sends response.cancel right after the truncate),
            # and the item keeps only the first `audio_end_ms` of its audio once it ends [INF]
            if op.kind != "audio":
                raise errors.truncate_not_audio()
            if index != 0:
                raise errors.content_index_invalid(index)
            if end_ms > op.audio_ms:
                raise errors.truncate_too_long(op.audio_ms, end_ms)
            op.truncated_ms = end_ms
            return [self._ev("conversation.item.truncated", item_id=item_id, content_index=index,
                             audio_end_ms=end_ms)]
        elif item.get("type") != "message" or item.get("role") != "assistant" or self.audio.ms(item_id) is None:
            raise errors.truncate_not_audio()
        content = item.get("content", [])
        if index != 0 or index >= len(content) or content[index].get("type") != "output_audio":
            raise errors.content_index_invalid(index)
        ms = self.audio.ms(item_id) or 0
        if end_ms > ms:
            raise errors.truncate_too_long(int(ms), end_ms)
        self.audio.cut(item_id, end_ms)
        content[index]["transcript"] = ""  # the transcript cannot be aligned with the cut: dropped
        return [self._ev("conversation.item.truncated", item_id=item_id, content_index=index,
                         audio_end_ms=end_ms)]

    # --- responses ------------------------------------------------------------------------

    def _on_response_create(self, event: dict[str, Any], now: float) -> list[Action]:
        params: dict[str, Any] = schema.response_params(event.get("response") or {}, "response")
        conversation = params.get("conversation", "auto")
        if conversation not in ("auto", "none"):
            raise errors.invalid_value(conversation, ["auto", "none"], "response.conversation")
        if conversation == "auto" and self.active is not None:
            raise errors.active_response(self.active.id)
        return self._start_response(params, event.get("event_id"))

    def _on_response_cancel(self, event: dict[str, Any], now: float) -> list[Action]:
        acts = self.cancel_response("client_cancelled", event.get("response_id"))
        if not acts:
            raise errors.cancel_not_active()
        return acts

    def _context_items(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        def with_heard(it: Mapping[str, Any]) -> dict[str, Any]:
            out = self._public(it)
            if it.get("id") in self.heard:
                out["content"] = [dict(c, transcript=self.heard[it["id"]]) if c.get("type") == "input_audio"
                                  else c for c in out["content"]]
            return out

        if "input" not in params:
            return [with_heard(it) for it in self.conversation.items]
        items: list[dict[str, Any]] = []
        for i, entry in enumerate(params["input"]):
            if entry["type"] == "item_reference":
                ref = self.conversation.get(entry["id"])
                if ref is None:
                    raise errors.RequestError("invalid_value", f"Item with item_id not found: {entry['id']}",
                                              f"response.input[{i}].id")
                items.append(with_heard(ref))
            else:
                items.append(dict(entry))
        return items

    def _input_tokens(self, items: list[dict[str, Any]], instructions: str,
                      tools: list[Any]) -> tuple[int, int, int]:
        cfg = self.config
        chars = len(instructions) + len(msgspec.json.encode(tools)) if tools else len(instructions)
        audio_ms = 0.0
        images = 0
        for it in items:
            if it.get("type") == "function_call":
                chars += len(it.get("arguments", "")) + len(it.get("name", ""))
            elif it.get("type") == "function_call_output":
                chars += len(it.get("output", ""))
            for part in it.get("content", []) or []:
                ptype = part.get("type")
                if ptype in ("input_text", "output_text"):
                    chars += len(part.get("text") or "")
                elif ptype == "input_image":
                    images += 1
                elif ptype in ("input_audio", "output_audio"):
                    known = self.audio.ms(it.get("id", ""))
                    if known is not None:
                        audio_ms += known
                    else:
                        chars += len(part.get("transcript") or "")
        text = math.ceil(chars / cfg.text_chars_per_token)
        audio = math.ceil(audio_ms / cfg.audio_ms_per_token_in)
        return text, audio, images * 85

    def _start_response(self, params: Mapping[str, Any], client_event_id: Any) -> list[Action]:
        in_band = params.get("conversation", "auto") != "none"
        st = self.state
        modality = (params.get("output_modalities") or st["output_modalities"])[0]
        instructions = params.get("instructions", st["instructions"])
        tools = list(params.get("tools", st["tools"]))
        tool_choice = params.get("tool_choice", st["tool_choice"])
        out_audio = params.get("audio", {}).get("output", {})
        fmt = out_audio.get("format", {}).get("type") or sc.output_format(st)
        voice = out_audio.get("voice", st["audio"]["output"]["voice"])
        voice_name = voice if isinstance(voice, str) else str(voice.get("id", "custom"))
        items = self._context_items(params)
        ctx = TurnContext(items=items, instructions=instructions, tools=tools, tool_choice=tool_choice,
                          output_modalities=[modality], metadata=params.get("metadata"),
                          out_of_band=not in_band)
        reply = self.responder.respond(ctx)
        if tool_choice == "none" and reply.tool_calls:
            reply = Reply(text=reply.text or "I can't use tools right now.")
        reply, mcp_calls = self._plan_mcp(reply, tools, in_band)
        declared = [str(t.get("name")) for t in tools if isinstance(t, Mapping) and t.get("type", "function") == "function"]
        undeclared = [c.name for c in reply.tool_calls if c.name not in declared]
        if undeclared:
            return self._error(errors.undeclared_tool(undeclared, declared),
                               client_event_id if isinstance(client_event_id, str) else None)
        input_tokens = self._input_tokens(items, instructions, tools)
        rp = ResponseParams(
            modality=modality, instructions=instructions, tools=tools, tool_choice=tool_choice,
            max_output_tokens=params.get("max_output_tokens", st["max_output_tokens"]),
            metadata=params.get("metadata"), in_band=in_band, audio_format=fmt, voice=voice_name,
            conversation_id=self.conversation_id if in_band else None, input_items=items,
            input_tokens=input_tokens,
        )
        run = ResponseRun(self, self.ids.new("resp"), rp, reply, mcp_calls)
        self.runs[run.id] = run
        acts: list[Action] = []
        if in_band:
            self.active = run
            acts.append(CancelTimer(TIMER_IDLE))
        acts.append(StartStream(run.stream(), run.id))
        return acts

    def _on_finish(self, run: ResponseRun) -> list[Action]:
        self.runs.pop(run.id, None)
        acts: list[Action] = []
        if self._playing == run.id:  # sideband: the call plays the audio out, then "stopped"
            speed = self.config.speed
            acts.append(SetTimer(TIMER_PLAYBACK, run.out_audio_ms / 1000.0 / speed if speed > 0 else 0.0))
        if self.active is run:
            self.active = None
            self._last_input_tokens = sum(run.params.input_tokens)
            acts.extend(self._arm_idle())
        return acts
