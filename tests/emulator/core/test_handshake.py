# The handshake decision and ephemeral secrets, without sockets.
from __future__ import annotations

from openai_realtime_ws.emulator.core import EmulatorConfig, IdFactory
from openai_realtime_ws.emulator.core.handshake import HandshakeRequest, SecretStore, decide

NOW = 1_700_000_000.0


def req(query: str = "model=gpt-realtime", headers: dict[str, str] | None = None,
        protocols: tuple[str, ...] = (), azure: bool = False) -> HandshakeRequest:
    pairs = [tuple(p.split("=", 1)) for p in query.split("&") if p]
    return HandshakeRequest("/v1/realtime", pairs, headers or {}, protocols, azure)  # type: ignore[arg-type]


def test_query_forms() -> None:
    store = SecretStore(IdFactory(0))
    cfg = EmulatorConfig()
    assert decide(req(), cfg, store, NOW).kind == "realtime"
    assert decide(req("intent=transcription"), cfg, store, NOW).kind == "transcription"
    assert decide(req("call_id=rtc_1"), cfg, store, NOW).call_id == "rtc_1"
    for bad in ("", "model=a&call_id=b", "intent=nope", "model="):
        d = decide(req(bad), cfg, store, NOW)
        assert d.http_status == 400 and d.http_body is not None and d.http_body["error"]["message"]


def test_credentials_and_subprotocols() -> None:
    store = SecretStore(IdFactory(0))
    cfg = EmulatorConfig(api_key="sk-right")
    assert decide(req(headers={"authorization": "Bearer sk-right"}), cfg, store, NOW).fatal is None
    d = decide(req(protocols=("realtime", "openai-insecure-api-key.sk-right")), cfg, store, NOW)
    assert d.fatal is None and d.subprotocol == "realtime" and d.received_api_key == "sk-right"
    d = decide(req(headers={"authorization": "Bearer sk-wrong-abcd"}), cfg, store, NOW)
    assert d.fatal is not None and d.fatal.close_code == 3000 and d.fatal.reason == "invalid_request_error.invalid_api_key"
    assert "sk-…abcd" in d.fatal.error.message
    d = decide(req(headers={"openai-beta": "realtime=v1", "authorization": "Bearer sk-right"}), cfg, store, NOW)
    assert d.fatal is not None and d.fatal.close_code == 4000
    d = decide(req(headers={"api-key": "sk-wrong"}, azure=True), cfg, store, NOW)
    assert d.http_status == 401
    assert decide(req(headers={"api-key": "sk-right"}, azure=True), cfg, store, NOW).http_status is None


def test_secrets() -> None:
    store = SecretStore(IdFactory(0))
    cfg = EmulatorConfig(api_key="sk-right")
    status, body = store.mint({"session": {"type": "transcription", "audio": {"input": {
        "transcription": {"model": "whisper-1"}}}}}, cfg, NOW)
    assert status == 200 and body["expires_at"] == int(NOW) + 600
    assert body["session"]["audio"]["input"]["transcription"] == {"model": "whisper-1"}
    d = decide(req(headers={"authorization": f"Bearer {body['value']}"}), cfg, store, NOW + 10)
    assert d.fatal is None and d.kind == "transcription"
    d = decide(req(headers={"authorization": f"Bearer {body['value']}"}), cfg, store, NOW + 601)
    assert d.fatal is not None and d.fatal.close_code == 3000
    status, body = store.mint({"session": {"type": "realtime", "bogus": 1}}, cfg, NOW)
    assert status == 400 and body["error"]["code"] == "unknown_parameter" and body["error"]["param"] == "session.bogus"
