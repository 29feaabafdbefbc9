# SIP calls in the emulator: `Emulator.place_call` rings an application's webhook as OpenAI does
# (a signed `realtime.call.incoming`), the call-control routes (`POST /v1/realtime/calls/{call_id}/
# accept|reject|refer|hangup`, Azure `/openai/v1/...` too) move the call through its states, and a
# sideband socket (`?call_id=`) to an accepted call runs the call's session: the caller's speech
# is played into it and what the caller hears (the audio and its transcript) is recorded.
#
# What is documented and what is inferred ([INF] in docs/emulator.md):
# - the webhook's headers and body: OpenAI's SIP guide (user-agent `OpenAI/1.0 (+https://platform.
#   openai.com/docs/webhooks)`, content-type, webhook-id/-timestamp/-signature; body `object`, `id`,
#   `type`, `created_at`, `data.call_id`, `data.sip_headers` [{name, value}] in INVITE order);
#   the signature scheme: Standard Webhooks (`core/webhooks.py`);
# - the routes and bodies: openai-python 3.63 `resources/realtime/calls.py` (accept: the session
#   object; reject: `status_code`, default 603; refer: `target_uri`; hangup: no body), which
#   expects an empty 2xx answer (cast to None);
# - [INF] the error answers: unknown call 404; a call in the wrong state (accepting twice,
#   referring a ringing call, anything after the end) 400 with `invalid_request_error`; a call
#   nobody answers ends as `missed` after `ring_timeout`; refer and hangup end the call and close
#   its sideband sockets with 1000 (after a REFER a SIP peer typically answers 202 and hangs up:
#   jambonz/jambonz-feature-server#1258); a sideband socket to a call that is ringing or over is
#   refused with HTTP 404 before the upgrade (the real API answers 404 with an empty body for a
#   call that is not running: openai/openai-realtime-console#562; ours carries a JSON error).
# - [INF] the call's session lives on the first sideband socket: until one connects, an accepted
#   call is silent (the real API runs the session on its own; the caller speaks when it does).
from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import ClientError, ClientSession, ClientTimeout, web

from ..core.webhooks import sign_webhook
from ._wire import _flush
from .core import errors as core_errors
from .core import session_config as sc
from .core.audio import synth_audio
from .core.handshake import HandshakeDecision

if TYPE_CHECKING:
    from .server import ConnectionRecord, Emulator

__all__ = ["USER_AGENT", "CallRegistry", "EmulatedCall"]

USER_AGENT = "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"
"""The `user-agent` of OpenAI's webhook deliveries (OpenAI's SIP guide)."""
MAX_HEARD_AUDIO = 16 * 1024 * 1024
"""Bytes of the caller's received audio kept per call (the oldest beyond are dropped)."""
ENDED = ("rejected", "transferred", "ended", "missed")


@dataclass(eq=False)
class EmulatedCall:
    """One placed call, as the emulator's SIP side sees it (for assertions in tests)."""

    call_id: str
    sip_headers: list[dict[str, str]]
    caller_says: list[str]
    hang_up_when_done: bool
    turn_timeout: float
    state: str = "ringing"
    """ringing → accepted → transferred | ended, or ringing → rejected | missed."""
    webhook_status: int | None = None
    """The HTTP status the application's webhook answered."""
    session: dict[str, Any] | None = None
    """The session configuration the call was accepted with."""
    reject_status: int | None = None
    refer_target: str | None = None
    heard: list[str] = field(default_factory=list)
    """What the caller heard: the transcript of each spoken response, in order."""
    heard_audio: bytearray = field(default_factory=bytearray, repr=False)
    """The assistant's audio that reached the caller (wire format, the latest MAX_HEARD_AUDIO bytes)."""
    said: list[str] = field(default_factory=list)
    """What the caller has said so far."""
    connection: ConnectionRecord | None = field(default=None, repr=False)
    """The sideband socket running the call's session, once one connected."""
    _ended: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _turn_done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set, repr=False)
    _ring_timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    @property
    def ended(self) -> bool:
        """Whether the call is over (rejected, transferred, ended or missed)."""
        return self.state in ENDED

    async def wait_ended(self, timeout: float = 10.0) -> str:
        """Wait until the call is over; returns its final state."""
        await asyncio.wait_for(self._ended.wait(), timeout)
        return self.state

    async def wait_state(self, *states: str, timeout: float = 10.0) -> str:
        """Wait until the call is in one of `states`; returns it."""
        async def wait() -> str:
            while self.state not in states:
                self._changed.clear()
                await self._changed.wait()
            return self.state
        return await asyncio.wait_for(wait(), timeout)

    def _set(self, state: str) -> None:
        self.state = state
        if self._ring_timer is not None and state != "ringing":
            self._ring_timer.cancel()
            self._ring_timer = None
        self._changed.set()
        if state in ENDED:
            self._ended.set()
            self._turn_done.set()

    def _tap(self, event: dict[str, Any]) -> None:
        """Every event the call's session sends (the SIP side's view of the model's output)."""
        etype = event.get("type")
        if etype == "response.output_audio.delta":
            delta = event.get("delta")
            if isinstance(delta, str):
                with contextlib.suppress(ValueError):
                    self.heard_audio += base64.b64decode(delta)
                    if len(self.heard_audio) > MAX_HEARD_AUDIO:
                        del self.heard_audio[: len(self.heard_audio) - MAX_HEARD_AUDIO]
        elif etype == "response.output_audio_transcript.done":
            transcript = event.get("transcript")
            if isinstance(transcript, str):
                self.heard.append(transcript)
        elif etype == "response.done":
            response = event.get("response")
            output = response.get("output") if isinstance(response, dict) else None
            if isinstance(output, list) and any(
                isinstance(o, dict) and o.get("type") == "message" for o in output
            ):
                self._turn_done.set()  # the caller heard an answer: the next utterance may come


def _error(status: int, message: str, *, code: str | None = None, param: str | None = None) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "invalid_request_error",
                                        "param": param, "code": code}}, status=status)


class CallRegistry:
    """The emulator's SIP calls (`Emulator.calls`): `calls[call_id]` is an EmulatedCall."""

    def __init__(self, emulator: Emulator, keep: int = 1000) -> None:
        self._emu = emulator
        self._calls: dict[str, EmulatedCall] = {}
        self._order: deque[str] = deque()
        self._keep = keep

    def __getitem__(self, call_id: str) -> EmulatedCall:
        return self._calls[call_id]

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._calls

    def __len__(self) -> int:
        return len(self._calls)

    def add_routes(self, app: web.Application) -> None:
        """The call-control routes (OpenAI and Azure paths)."""
        for prefix in ("/v1", "/openai/v1"):
            app.router.add_post(prefix + "/realtime/calls/{call_id}/{action}", self._handle)

    # --- placing a call ----------------------------------------------------------------------

    async def place(
        self,
        webhook_url: str,
        *,
        webhook_secret: str | bytes,
        caller_says: Sequence[str] = (),
        sip_headers: Sequence[tuple[str, str]] | None = None,
        from_uri: str = "sip:+14155550100@sip.example.com",
        to_uri: str = "sip:+18005550199@sip.example.com",
        hang_up_when_done: bool = False,
        ring_timeout: float = 30.0,
        turn_timeout: float = 10.0,
        timestamp: int | None = None,
        timeout: float = 10.0,
    ) -> str:
        """See `Emulator.place_call`."""
        ids = self._emu.ids
        call_id = ids.new("rtc", 32)
        headers = list(sip_headers) if sip_headers is not None else [
            ("From", f"<{from_uri}>;tag={ids.new('t', 8)[2:]}"),
            ("To", f"<{to_uri}>"),
            ("Call-ID", ids.new("c", 24)[2:]),
        ]
        call = EmulatedCall(call_id, [{"name": n, "value": v} for n, v in headers], list(caller_says),
                            hang_up_when_done, turn_timeout)
        self._remember(call)
        now = time.time()
        body = msgspec.json.encode({
            "object": "event",
            "id": ids.new("evt", 32),
            "type": "realtime.call.incoming",
            "created_at": int(now),
            "data": {"call_id": call_id, "sip_headers": call.sip_headers},
        })
        webhook_id = ids.new("wh", 32)
        stamp = int(now) if timestamp is None else int(timestamp)
        request_headers = {
            "user-agent": USER_AGENT,
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign_webhook(webhook_secret, webhook_id, stamp, body),
        }
        call._ring_timer = asyncio.get_running_loop().call_later(ring_timeout, self._missed, call)
        try:
            async with ClientSession(timeout=ClientTimeout(total=timeout)) as http, \
                    http.post(webhook_url, data=body, headers=request_headers, allow_redirects=False) as resp:
                await resp.read()
                call.webhook_status = resp.status
        except (ClientError, TimeoutError) as exc:
            call._set("missed")
            raise ConnectionError(f"the webhook {webhook_url} could not be reached: {type(exc).__name__}") from None
        return call_id

    def _remember(self, call: EmulatedCall) -> None:
        self._calls[call.call_id] = call
        self._order.append(call.call_id)
        while len(self._order) > self._keep:
            old = self._calls.get(self._order[0])
            if old is not None and not old.ended:
                break  # live calls are never forgotten
            self._calls.pop(self._order.popleft(), None)

    def _missed(self, call: EmulatedCall) -> None:
        call._ring_timer = None
        if call.state == "ringing":
            call._set("missed")

    # --- the REST routes ---------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if not self._emu._auth_ok(request):
            return _error(401, "Incorrect API key provided.", code="invalid_api_key")
        action = request.match_info["action"]
        if action not in ("accept", "reject", "refer", "hangup"):
            return _error(404, f"Invalid URL (POST {request.path})")
        call = self._calls.get(request.match_info["call_id"])
        if call is None:
            return _error(404, "Call not found.", code="call_not_found")
        body: Any = {}
        if request.can_read_body:
            try:
                body = msgspec.json.decode(await request.read())
            except msgspec.DecodeError:
                return _error(400, "We could not parse the JSON body of your request.")
        if not isinstance(body, dict):
            return _error(400, "The request body must be a JSON object.")
        if action == "accept":
            return await self._accept(call, body)
        if action == "reject":
            if call.state != "ringing":
                return self._wrong_state(call, action)
            status = body.get("status_code", 603)
            if type(status) is not int or not 400 <= status <= 699:
                return _error(400, "Invalid 'status_code': expected a SIP final status from 400 to 699.",
                              code="invalid_value", param="status_code")
            call.reject_status = status
            call._set("rejected")
            return web.Response(status=200)
        if action == "refer":
            if call.state != "accepted":
                return self._wrong_state(call, action)
            target = body.get("target_uri")
            if not isinstance(target, str) or not target.lower().startswith(("tel:", "sip:", "sips:")):
                return _error(400, "Invalid 'target_uri': expected a tel: or sip: URI.",
                              code="invalid_value", param="target_uri")
            call.refer_target = target
            await self._end(call, "transferred", "call transferred")
            return web.Response(status=200)
        if call.state != "accepted":  # hangup
            return self._wrong_state(call, action)
        await self._end(call, "ended", "call ended")
        return web.Response(status=200)

    @staticmethod
    def _wrong_state(call: EmulatedCall, action: str) -> web.Response:
        return _error(400, f"Cannot {action} call {call.call_id}: the call is {call.state}.",
                      code="invalid_call_state")

    async def _accept(self, call: EmulatedCall, body: dict[str, Any]) -> web.StreamResponse:
        if call.state != "ringing":
            return self._wrong_state(call, "accept")
        if body.get("type", "realtime") != "realtime":
            return _error(400, "Invalid value for 'type': expected 'realtime'.", code="invalid_value",
                          param="type")
        payload = {k: v for k, v in body.items() if k != "model"}
        payload["type"] = "realtime"
        base = sc.default_realtime(self._emu.config, session_id="sess_check",
                                   model=str(body.get("model") or self._emu.config.model), expires_at=0)
        try:
            sc.validate_update(payload, base)
        except core_errors.RequestError as exc:
            return _error(400, exc.message, code=exc.code, param=exc.param)
        call.session = dict(body)
        call._set("accepted")
        return web.Response(status=200)

    async def _end(self, call: EmulatedCall, state: str, reason: str) -> None:
        call._set(state)
        conn = call.connection
        if conn is not None and conn._ws is not None:
            await self._emu._close_conn(conn, 1000, reason)

    # --- the sideband socket (hooks called by server._handle_ws) -----------------------------

    def on_handshake(self, decision: HandshakeDecision) -> EmulatedCall | None:
        """A `?call_id=` upgrade: for a placed call, refuse it unless the call is accepted, and
        open the session with the configuration the call was accepted with. Other call ids keep
        the stand-alone sideband session (tests of the sideband events use made-up ids)."""
        call = self._calls.get(decision.call_id or "")
        if call is None or decision.http_status is not None:
            return None
        if call.state != "accepted":
            decision.http_status = 404
            decision.http_body = {"error": {
                "message": f"Call {call.call_id} is {call.state}: there is no session to join.",
                "type": "invalid_request_error", "param": None, "code": "call_not_found"}}
            return None
        session = dict(call.session or {})
        model = session.pop("model", None)
        if isinstance(model, str):
            decision.model = model
        decision.defaults = session
        return call

    def attach(self, call: EmulatedCall, conn: ConnectionRecord) -> None:
        """The call's first sideband socket opened: tap its events and start the caller."""
        if call.connection is not None:
            return  # a second sideband socket watches a session of its own [INF]
        call.connection = conn
        conn._tap = call._tap
        task = asyncio.get_running_loop().create_task(self._caller(call, conn))
        call._tasks.add(task)
        task.add_done_callback(call._tasks.discard)

        def closed(_: object) -> None:
            if not call.ended:  # the application closed its sideband socket: the call goes on [INF]
                call.connection = None

        waiter = asyncio.get_running_loop().create_task(conn.closed.wait())
        waiter.add_done_callback(closed)
        call._tasks.add(waiter)
        waiter.add_done_callback(call._tasks.discard)

    async def _caller(self, call: EmulatedCall, conn: ConnectionRecord) -> None:
        """Play the caller's utterances into the session, each after the previous one was
        answered (or `turn_timeout` passed); hang up after the last when asked to."""
        emu = self._emu
        session = conn.session
        if session is None:
            return
        for text in call.caller_says:
            if call.ended or conn._dead:
                return
            fmt = sc.input_format(session.state)
            audio = synth_audio(text, fmt, lead_silence_ms=100, tail_silence_ms=800)
            frame = msgspec.json.encode({"type": "input_audio_buffer.append",
                                         "audio": base64.b64encode(audio).decode()})
            call._turn_done.clear()
            async with conn._lock:
                if conn._dead:
                    return
                acts = session.receive(frame, time.time())
                await emu._apply(conn, acts)
                await _flush(conn)
            call.said.append(text)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(call._turn_done.wait(), call.turn_timeout)
        if call.hang_up_when_done and not call.ended:
            await self._end(call, "ended", "caller hung up")

    async def close(self) -> None:
        """Stop every call's tasks (the emulator is stopping)."""
        for call in self._calls.values():
            if call._ring_timer is not None:
                call._ring_timer.cancel()
                call._ring_timer = None
            for task in list(call._tasks):
                task.cancel()

