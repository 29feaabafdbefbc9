# The opening handshake decision (PROTOCOL.md §1.2-§1.7) and ephemeral client secrets (§1.6),
# without I/O: which query form, which credential (Authorization, Azure `api-key`, or the
# `openai-insecure-api-key.<key>` subprotocol), which subprotocol to answer, whether to refuse
# with HTTP (bad query: 400; Azure without a valid key: 401) or to accept and then end the socket
# (invalid_api_key → 3000, beta → 4000, a model that is not a Realtime model → 4000).
from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...core.models import is_other_openai_model, is_realtime_model, is_translation_model
from . import errors, schema
from . import session_config as sc
from .config import EmulatorConfig
from .ids import IdFactory

INSECURE_KEY_PREFIX = "openai-insecure-api-key."
BETA_PROTOCOL = "openai-beta.realtime-v1"
AZURE_401 = ("Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
             "provide a valid key for an active subscription and use a correct regional API endpoint "
             "for your resource.")


@dataclass(frozen=True, slots=True)
class HandshakeRequest:
    path: str
    query: Sequence[tuple[str, str]]
    headers: Mapping[str, str]
    """Header names lower-cased."""
    protocols: Sequence[str] = ()
    azure: bool = False


@dataclass(slots=True)
class HandshakeDecision:
    """Either `http_status` (refuse before the upgrade) or an accepted socket."""

    http_status: int | None = None
    http_body: dict[str, Any] | None = None
    subprotocol: str | None = None
    kind: str = "realtime"
    model: str | None = None
    call_id: str | None = None
    received_api_key: str | None = None
    fatal: errors.FatalClose | None = None
    """Accept, then send this error and close."""
    defaults: dict[str, Any] | None = None
    """Session defaults from the ephemeral secret used."""
    query: dict[str, str] = field(default_factory=dict)


def http_error(status: int, message: str, *, code: str | None = None, param: str | None = None,
               type: str = "invalid_request_error") -> tuple[int, dict[str, Any]]:
    return status, {"error": {"message": message, "type": type, "param": param, "code": code}}


@dataclass(slots=True)
class _Secret:
    expires_at: float
    session: dict[str, Any]


class SecretStore:
    """Ephemeral `ek_…` secrets minted by POST /v1/realtime/client_secrets."""

    def __init__(self, ids: IdFactory) -> None:
        self._ids = ids
        self._secrets: dict[str, _Secret] = {}

    def mint(self, body: Any, config: EmulatorConfig, now: float) -> tuple[int, dict[str, Any]]:
        """Validate the request body; returns (HTTP status, JSON body)."""
        if body is None:
            body = {}
        try:
            req = schema.obj({
                "expires_after": schema.obj({"anchor": schema.enum("created_at"),
                                             "seconds": schema.number(10, 7200, integer=True)}),
                "session": schema.any_value,
            })(body, "")
            session = req.get("session") or {"type": "realtime"}
            kind = session.get("type", "realtime") if isinstance(session, dict) else "realtime"
            expires_at = int(now) + int(req.get("expires_after", {}).get("seconds", 600))
            sid = self._ids.new("sess")
            if kind == "transcription":
                base = sc.default_transcription(session_id=sid, expires_at=expires_at)
            else:
                base = sc.default_realtime(config, session_id=sid,
                                           model=(session.get("model") if isinstance(session, dict) else None)
                                           or config.model, expires_at=expires_at)
            update = sc.validate_update(session, {**base, "model": (session or {}).get("model", base.get("model"))})
        except errors.RequestError as exc:
            return http_error(400, exc.message, code=exc.code, param=exc.param)
        full = sc.merge(base, update)
        value = self._ids.client_secret()
        self._secrets[value] = _Secret(float(expires_at), update)
        return 200, {"value": value, "expires_at": expires_at, "session": full}

    def mint_translation(self, body: Any, now: float) -> tuple[int, dict[str, Any]]:
        """POST /v1/realtime/translations/client_secrets: `{session: {model, audio}, expires_after}`
        → `{value, expires_at, session}` (openai-python's RealtimeTranslationClientSecretCreateResponse)."""
        from .translation import _update, default_session  # translation imports nothing from here

        try:
            req = schema.obj({
                "expires_after": schema.obj({"anchor": schema.enum("created_at"),
                                             "seconds": schema.number(10, 7200, integer=True)}),
                "session": schema.obj({"model": schema.string(), "audio": schema.any_value,
                                       "type": schema.enum("translation")}, required=("model",)),
            }, required=("session",))(body if body is not None else {}, "")
            update = _update(req["session"], "session")
        except errors.RequestError as exc:
            return http_error(400, exc.message, code=exc.code, param=exc.param)
        expires_at = int(now) + int(req.get("expires_after", {}).get("seconds", 600))
        full = default_session(self._ids.new("sess"), str(update["model"]), expires_at)
        audio = update.get("audio") or {}
        for side in ("input", "output"):
            full["audio"][side].update(copy.deepcopy(audio.get(side) or {}))
        value = self._ids.client_secret()
        self._secrets[value] = _Secret(float(expires_at), {"type": "translation", "audio": copy.deepcopy(audio)})
        return 200, {"value": value, "expires_at": expires_at, "session": full}

    def lookup(self, key: str, now: float) -> tuple[bool, dict[str, Any] | None]:
        """(known, session defaults); known but expired → (True, None)."""
        secret = self._secrets.get(key)
        if secret is None:
            return False, None
        if now >= secret.expires_at:
            return True, None
        return True, copy.deepcopy(secret.session)


def decide(req: HandshakeRequest, config: EmulatorConfig, secrets: SecretStore, now: float) -> HandshakeDecision:
    d = HandshakeDecision()
    query: dict[str, str] = {}
    for k, v in req.query:
        query.setdefault(k, v)
    d.query = query
    if req.path.rstrip("/").endswith("/realtime/translations"):
        return _decide_translation(req, d, query, config, secrets, now)
    forms = [k for k in ("model", "call_id", "intent") if k in query]
    if len(forms) != 1:
        d.http_status, d.http_body = http_error(
            400, "You must provide exactly one of the 'model', 'call_id' or 'intent' query parameters.",
            code="invalid_request", param="model")
        return d
    if "intent" in query and query["intent"] != "transcription":
        d.http_status, d.http_body = http_error(
            400, f"Invalid value: '{query['intent']}'. Supported values are: 'transcription'.",
            code="invalid_value", param="intent")
        return d
    if "model" in query and not query["model"]:
        d.http_status, d.http_body = http_error(400, "Missing required parameter: 'model'.",
                                                code="missing_required_parameter", param="model")
        return d
    d.kind = "transcription" if "intent" in query else "realtime"
    d.model = query.get("model")
    d.call_id = query.get("call_id")

    key = _credential(req)
    d.received_api_key = key
    d.subprotocol = "realtime" if "realtime" in req.protocols else None

    beta = "realtime=v1" in req.headers.get("openai-beta", "").replace(" ", "") or BETA_PROTOCOL in req.protocols

    ok = True
    if key is not None and key.startswith("ek_"):
        known, defaults = secrets.lookup(key, now)
        if known:
            ok = defaults is not None
            d.defaults = defaults
            if defaults is not None and defaults.get("type") == "transcription":
                d.kind = "transcription"
            elif defaults is not None and defaults.get("type") == "translation":
                ok, d.defaults = False, None  # a translation secret opens translation sessions only
        elif config.api_key is not None:
            ok = False
    elif config.api_key is not None:
        ok = key == config.api_key

    if req.azure and not ok:
        d.http_status, d.http_body = 401, {"error": {"code": "401", "message": AZURE_401}}
        return d
    if beta and config.beta_close:
        d.fatal = errors.beta_disabled()
    elif not ok:
        d.fatal = errors.invalid_api_key(key)
    elif d.model is not None and not req.azure and _refused_model(d.model, config.model_check):
        d.fatal = errors.invalid_model(d.model, "realtime")
    return d


def _refused_model(model: str, check: str) -> bool:
    """Whether `EmulatorConfig.model_check` refuses this URL model for a realtime session."""
    if check == "all":
        return not is_realtime_model(model)
    if check == "openai":
        return is_other_openai_model(model) or is_translation_model(model)
    return False


def _credential(req: HandshakeRequest) -> str | None:
    """The credential of a request: Authorization Bearer, Azure api-key, or the subprotocol."""
    key: str | None = None
    auth = req.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        key = auth[7:].strip()
    if key is None and "api-key" in req.headers:
        key = req.headers["api-key"].strip()
    for proto in req.protocols:
        if key is None and proto.startswith(INSECURE_KEY_PREFIX):
            key = proto[len(INSECURE_KEY_PREFIX):]
    return key


def _decide_translation(req: HandshakeRequest, d: HandshakeDecision, query: dict[str, str], config: EmulatorConfig,
                        secrets: SecretStore, now: float) -> HandshakeDecision:
    """`/v1/realtime/translations?model=…`: the model is required, `intent` refused (as
    openai-node's buildTranslationURL) [INF codes]; the same credentials as realtime sessions."""
    if "intent" in query or "call_id" in query:
        d.http_status, d.http_body = http_error(
            400, "Realtime translation sessions take only the 'model' query parameter.",
            code="invalid_request", param="intent" if "intent" in query else "call_id")
        return d
    if not query.get("model"):
        d.http_status, d.http_body = http_error(400, "Missing required parameter: 'model'.",
                                                code="missing_required_parameter", param="model")
        return d
    d.kind, d.model = "translation", query["model"]
    key = _credential(req)
    d.received_api_key = key
    d.subprotocol = "realtime" if "realtime" in req.protocols else None
    ok = True
    if key is not None and key.startswith("ek_"):
        known, defaults = secrets.lookup(key, now)
        if known:
            ok = defaults is not None and defaults.get("type") == "translation"
            d.defaults = defaults
        elif config.api_key is not None:
            ok = False
    elif config.api_key is not None:
        ok = key == config.api_key
    if not ok:
        d.fatal = errors.invalid_api_key(key)
    elif config.model_check != "off" and not is_translation_model(d.model) and (
            config.model_check == "all" or is_other_openai_model(d.model) or is_realtime_model(d.model)):
        d.fatal = errors.invalid_model(d.model, "translation")
    return d
