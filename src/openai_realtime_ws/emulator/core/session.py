# The session state machine of one Realtime connection (Sans-I/O). Everything that decides what
# the server says lives here or in the modules it drives: session config and `session.update`
# (§4.2), the conversation (§4.3, truncate/delete/retrieve §2.1), the input audio buffer and VAD
# (§4.6, §4.7), responses (§4.4, §4.5, §4.8, §4.10), cancel (§4.9), errors with
# `error.event_id` (§5), the session time cap (§6 1001) and idle timeouts.
#
# Use: `session.open(now)` once, then `session.receive(frame, now)` for every client frame and
# `session.timer_fired(name, now)` when a SetTimer elapses; each returns Actions for the shell.
# `now` is wall-clock seconds (for `expires_at`); pacing and timers are relative (see actions).
from __future__ import annotations

import base64
import binascii
import copy
import math
from collections.abc import Mapping
from typing import Any

import msgspec

from . import errors, schema
from . import session_config as sc
from .actions import Action, CancelTimer, Close, Send, SetTimer, StartStream
from .audio import (
    Synthesizer,
    SyntheticTranscriber,
    ToneSynthesizer,
    Transcriber,
    bytes_per_ms,
    duration_ms,
)
from .config import EmulatorConfig
from .conversation import Conversation
from .ids import IdFactory
from .response import ResponseParams, ResponseRun
from .turn import Reply, Responder, TurnContext
from .vad import InputBuffer, SpeechStarted, SpeechStopped

_decoder = msgspec.json.Decoder()

TIMER_EXPIRE = "session_expired"
TIMER_IDLE = "idle_timeout"


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
    ) -> None:
        self.config = config
        self.responder = responder
        self.ids = ids
        self.kind = kind
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
        self._audio: dict[str, tuple[bytes, str]] = {}  # item id -> (wire bytes, format)
        self._assistant_audio: dict[str, tuple[list[str], int, str]] = {}  # chunks, ms, fmt
        self.heard: dict[str, str] = {}  # audio item id -> transcript the "model" heard
        self.assistant_audio_produced = False
        self.closed = False
        self._tokens_used = 0
        self._last_input_tokens = 0
        self.last_event: dict[str, Any] | None = None
        """The last client event `receive()` parsed (None when the frame was not an object)."""

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
        if binary:
            return self._error(errors.binary_frame(), None)
        try:
            event = _decoder.decode(frame)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            return self._error(errors.not_json(str(exc).split("\n")[0]), None)
        if not isinstance(event, dict):
            return self._error(errors.not_json(f"expected an object, got {type(event).__name__}"), None)
        self.last_event = event
        event_id = event.get("event_id")
        eid = event_id if isinstance(event_id, str) else None
        type_ = event.get("type")
        if type_ is None:
            return self._error(errors.missing_type(), eid)
        allowed = schema.TRANSCRIPTION_EVENTS if self.kind == "transcription" else tuple(schema.CLIENT_EVENTS)
        if not isinstance(type_, str) or type_ not in allowed:
            return self._error(errors.invalid_value(type_, allowed, "type"), eid)
        try:
            schema.CLIENT_EVENTS[type_](event, "")
            handler = getattr(self, "_on_" + type_.replace(".", "_"))
            acts: list[Action] = handler(event, now)
            return acts
        except errors.RequestError as exc:
            return self._error(exc, eid)

    def timer_fired(self, name: str, now: float) -> list[Action]:
        if self.closed:
            return []
        if name == TIMER_EXPIRE:
            return self.fatal(errors.session_expired(expiry_message(self.config.session_seconds)))
        if name == TIMER_IDLE:
            return self._idle_timeout()
        return []

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
        return run.cancel(reason)

    # --- helpers for ResponseRun ------------------------------------------------------------

    def format_object(self, fmt: str) -> dict[str, Any]:
        return dict(sc.PCM) if fmt == "audio/pcm" else {"type": fmt}

    def store_assistant_audio(self, item_id: str, chunks: list[str], ms: int, fmt: str) -> None:
        self._assistant_audio[item_id] = (chunks, ms, fmt)
        if ms:
            self.assistant_audio_produced = True

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
        return acts

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
                if td.get("interrupt_response", True) and self.active is not None:
                    acts.extend(self.active.cancel("turn_detected"))
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
        prev = self.conversation.append(item)
        self._audio[item_id] = (audio, fmt)
        acts: list[Action] = [
            self._ev("input_audio_buffer.committed", previous_item_id=prev, item_id=item_id),
            self._ev("conversation.item.added", previous_item_id=prev, item=self._public(item)),
            self._ev("conversation.item.done", previous_item_id=prev, item=self._public(item)),
        ]
        acts.extend(self._transcribe(item_id, audio, fmt))
        if auto_response and self.kind == "realtime":
            td = self._turn_detection() or {}
            if td.get("create_response", True) and self.active is None:
                acts.extend(self._start_response({}, None))
        return acts

    def _hear(self, item_id: str, audio: bytes, fmt: str) -> tuple[str | None, Exception | None]:
        if item_id in self.heard:
            return self.heard[item_id], None
        td = self.state["audio"]["input"].get("transcription") or {}
        try:
            text = self.transcriber.transcribe(audio, audio_format=fmt, language=td.get("language"))
        except Exception as exc:  # a plug-in transcriber failed: report, don't crash
            return None, exc
        self.heard[item_id] = text
        return text, None

    def _transcribe(self, item_id: str, audio: bytes, fmt: str) -> list[Action]:
        cfg = self.state["audio"]["input"].get("transcription")
        text, _ = self._hear(item_id, audio, fmt)
        if not cfg:
            return []
        if text is None:
            return [self._ev("conversation.item.input_audio_transcription.failed", item_id=item_id,
                             content_index=0, error={"type": "transcription_error", "code": "audio_unintelligible",
                                                     "message": "The audio could not be transcribed.",
                                                     "param": None})]
        acts: list[Action] = []
        words = text.split(" ") if text else []
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
        ms = duration_ms(len(audio), fmt)
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
        item.setdefault("status", "completed")
        item.pop("object", None)
        for idx, part in enumerate(item.get("content", [])):
            if part.get("type") == "input_audio":
                audio = part.get("audio")
                if audio:
                    data = base64.b64decode(audio)
                    fmt = self.input.fmt
                    self._audio[item["id"]] = (data, fmt)
                    if not part.get("transcript"):
                        self._hear(item["id"], data, fmt)
                part.setdefault("transcript", None)
                if part.get("transcript"):
                    self.heard[item["id"]] = part["transcript"]
                del idx
            elif part.get("type") == "output_audio":
                part.setdefault("transcript", None)
        actual_prev = self.conversation.insert_after(item, prev_id)
        public = self._public(item)
        return [self._ev("conversation.item.added", previous_item_id=actual_prev, item=public),
                self._ev("conversation.item.done", previous_item_id=actual_prev, item=public)]

    def _on_conversation_item_retrieve(self, event: dict[str, Any], now: float) -> list[Action]:
        item = self.conversation.get(event["item_id"])
        if item is None:
            raise errors.item_not_found("retrieve", event["item_id"])
        full = copy.deepcopy(item)
        if item["id"] in self._audio:
            data, _ = self._audio[item["id"]]
            for part in full.get("content", []):
                if part.get("type") == "input_audio":
                    part["audio"] = base64.b64encode(data).decode("ascii")
        elif item["id"] in self._assistant_audio:
            chunks, ms, fmt = self._assistant_audio[item["id"]]
            raw = b"".join(base64.b64decode(c) for c in chunks)[: int(ms * bytes_per_ms(fmt))]
            for part in full.get("content", []):
                if part.get("type") == "output_audio":
                    part["audio"] = base64.b64encode(raw).decode("ascii")
        return [self._ev("conversation.item.retrieved", item=full)]

    def _on_conversation_item_delete(self, event: dict[str, Any], now: float) -> list[Action]:
        item_id = event["item_id"]
        if item_id not in self.conversation:
            raise errors.item_not_found("delete", item_id)
        self.conversation.delete(item_id)
        self._audio.pop(item_id, None)
        self._assistant_audio.pop(item_id, None)
        return [self._ev("conversation.item.deleted", item_id=item_id)]

    def _on_conversation_item_truncate(self, event: dict[str, Any], now: float) -> list[Action]:
        item_id, index, end_ms = event["item_id"], event["content_index"], event["audio_end_ms"]
        item = self.conversation.get(item_id)
        if item is None:
            raise errors.item_not_found("truncate", item_id)
        if item.get("role") != "assistant" or item_id not in self._assistant_audio:
            raise errors.truncate_not_audio(item_id)
        content = item.get("content", [])
        if index != 0 or index >= len(content) or content[index].get("type") != "output_audio":
            raise errors.content_index_invalid(index)
        chunks, ms, fmt = self._assistant_audio[item_id]
        if end_ms > ms:
            raise errors.truncate_too_long(ms, end_ms)
        self._assistant_audio[item_id] = (chunks, end_ms, fmt)
        content[index]["transcript"] = ""
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
                    iid = it.get("id", "")
                    if iid in self._audio:
                        data, fmt = self._audio[iid]
                        audio_ms += duration_ms(len(data), fmt)
                    elif iid in self._assistant_audio:
                        audio_ms += self._assistant_audio[iid][1]
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
        input_tokens = self._input_tokens(items, instructions, tools)
        rp = ResponseParams(
            modality=modality, instructions=instructions, tools=tools, tool_choice=tool_choice,
            max_output_tokens=params.get("max_output_tokens", st["max_output_tokens"]),
            metadata=params.get("metadata"), in_band=in_band, audio_format=fmt, voice=voice_name,
            conversation_id=self.conversation_id if in_band else None, input_items=items,
            input_tokens=input_tokens,
        )
        run = ResponseRun(self, self.ids.new("resp"), rp, reply, self._on_finish)
        self.runs[run.id] = run
        acts: list[Action] = []
        if in_band:
            self.active = run
            acts.append(CancelTimer(TIMER_IDLE))
        acts.append(StartStream(run.stream(), run.id))
        return acts

    def _on_finish(self, run: ResponseRun) -> list[Action]:
        self.runs.pop(run.id, None)
        if self.active is run:
            self.active = None
            self._last_input_tokens = sum(run.params.input_tokens)
            return self._arm_idle()
        return []
