"""URL and credential rules of core.handshake (no event loop, no socket)."""

from __future__ import annotations

from typing import Any

import pytest

from openai_realtime_ws import RealtimeConfigError, RealtimeTarget, build_realtime_url
from openai_realtime_ws.core.handshake import (
    azure_plan,
    build_azure_url,
    check_resolved_loopback,
    check_ws_url,
    is_credential_header,
    is_loopback_host,
    loopback_name_to_resolve,
    openai_plan,
    redact_text,
    redact_url,
)


class Client:
    def __init__(self, base_url: str, websocket_base_url: str | None = None) -> None:
        self.api_key = "sk-test-secret-0000"
        self.base_url = base_url
        self.websocket_base_url = websocket_base_url


def test_https_becomes_wss_with_model() -> None:
    url = build_realtime_url(Client("https://api.openai.com/v1"), model="gpt-realtime")
    assert url == "wss://api.openai.com/v1/realtime?model=gpt-realtime"


def test_trailing_slash_and_call_id_and_intent() -> None:
    c = Client("https://example.com/v1/")
    assert build_realtime_url(c, call_id="rtc_1") == "wss://example.com/v1/realtime?call_id=rtc_1"
    assert (
        build_realtime_url(c, intent="transcription")
        == "wss://example.com/v1/realtime?intent=transcription"
    )


def test_env_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert build_realtime_url(model="m") == "wss://api.openai.com/v1/realtime?model=m"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert build_realtime_url(model="m") == "ws://127.0.0.1:9/v1/realtime?model=m"


def test_websocket_base_url_wins() -> None:
    c = Client("https://api.openai.com/v1", websocket_base_url="wss://gw.example.com/v1")
    assert build_realtime_url(c, model="m") == "wss://gw.example.com/v1/realtime?model=m"


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"model": "m", "call_id": "c"}, {"model": "m", "intent": "transcription"}],
)
def test_exactly_one_target(kwargs: dict[str, Any]) -> None:
    with pytest.raises(RealtimeConfigError, match="exactly one"):
        build_realtime_url(Client("https://x.example/v1"), **kwargs)


def test_bad_intent() -> None:
    with pytest.raises(RealtimeConfigError, match="'transcription'"):
        build_realtime_url(Client("https://x.example/v1"), intent="speech")


def test_plain_ws_refused_off_loopback() -> None:
    with pytest.raises(RealtimeConfigError, match="unencrypted"):
        build_realtime_url(Client("http://api.example.com/v1"), model="m")
    for host in ("127.0.0.1", "127.8.9.10", "[::1]", "localhost"):
        url = build_realtime_url(Client(f"http://{host}:8000/v1"), model="m")
        assert url.startswith("ws://")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.255.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("10.0.0.1", False),
        ("128.0.0.1", False),
        ("localhost.example.com", False),
        ("", False),
        (None, False),
    ],
)
def test_loopback(host: str | None, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_url_builder_exact_and_checked() -> None:
    seen: list[Any] = []

    def builder(client: Any, target: RealtimeTarget) -> str:
        seen.append((client, target))
        return f"wss://gw.example.com/custom?deployment={target.model}"

    c = Client("https://x.example/v1")
    assert build_realtime_url(c, model="m", url_builder=builder) == (
        "wss://gw.example.com/custom?deployment=m"
    )
    assert seen == [(c, RealtimeTarget(model="m"))]
    with pytest.raises(RealtimeConfigError, match="wss://"):
        build_realtime_url(c, model="m", url_builder=lambda _c, _t: "https://gw.example.com/x")
    with pytest.raises(RealtimeConfigError, match="unencrypted"):
        build_realtime_url(c, model="m", url_builder=lambda _c, _t: "ws://gw.example.com/x")


@pytest.mark.parametrize(
    "url",
    [
        "wss://user:pw@gw.example.com/realtime",
        "wss://gw.example.com/realtime?api-key=abc",
        "wss://gw.example.com/realtime?model=m&token=abc",
    ],
)
def test_credentials_never_in_url(url: str) -> None:
    with pytest.raises(RealtimeConfigError, match="credential"):
        check_ws_url(url)


def test_azure_url_forms() -> None:
    assert (
        build_azure_url("https://res.openai.azure.com", deployment="dep")
        == "wss://res.openai.azure.com/openai/v1/realtime?model=dep"
    )
    assert (
        build_azure_url("https://res.openai.azure.com/openai/", deployment="dep")
        == "wss://res.openai.azure.com/openai/v1/realtime?model=dep"
    )
    assert (
        build_azure_url("https://res.openai.azure.com/", call_id="rtc_9")
        == "wss://res.openai.azure.com/openai/v1/realtime?call_id=rtc_9"
    )


def test_openai_plan_headers_and_repr() -> None:
    plan = openai_plan(
        "wss://api.openai.com/v1/realtime?model=m",
        "sk-live-abcdefgh",
        headers={"X-Trace": "1"},
        organization="org-1",
    )
    assert ("Authorization", "Bearer sk-live-abcdefgh") in plan.headers
    assert ("OpenAI-Organization", "org-1") in plan.headers
    assert ("X-Trace", "1") in plan.headers
    assert plan.has_credentials
    assert "sk-live" not in repr(plan)
    assert "sk-live" not in str(plan)
    assert plan.redact("oops sk-live-abcdefgh leaked") == "oops *** leaked"


def test_azure_plan_key_vs_token() -> None:
    url = "wss://res.openai.azure.com/openai/v1/realtime?model=dep"
    key_plan = azure_plan(url, api_key="azkey-123456")
    assert ("api-key", "azkey-123456") in key_plan.headers
    assert not any(k == "Authorization" for k, _ in key_plan.headers)
    token_plan = azure_plan(url, token="entra-token-xyz")
    assert ("Authorization", "Bearer entra-token-xyz") in token_plan.headers
    assert not any(k == "api-key" for k, _ in token_plan.headers)
    with pytest.raises(RealtimeConfigError, match="credential"):
        azure_plan(url)
    assert "azkey" not in repr(key_plan) and "entra" not in repr(token_plan)


def test_redaction_helpers() -> None:
    assert redact_url("wss://u:p@h.example/x?api_key=SECRET&model=m") == (
        "wss://h.example/x?api_key=***&model=m"
    )
    assert redact_text("key=abcd1234", ["abcd1234"]) == "key=***"
    assert redact_text("short", ["ab"]) == "short"


@pytest.mark.parametrize(
    "name",
    ["X-Auth-Token", "X_AUTHENTICATION_TOKEN", "X-Amz-Security-Token", "Security-Token", "Cookie",
     "Authorization", "Proxy-Authorization", "x_api_key", "api-key", "OpenAI-Organization"],
)
def test_credential_headers_are_recognised(name: str) -> None:
    assert is_credential_header(name)
    plan = openai_plan("wss://x.example/v1/realtime?model=m", None, headers={name: "v4lue-secret"})
    assert plan.has_credentials and "v4lue-secret" not in repr(plan)


@pytest.mark.parametrize("name", ["X-Trace-Id", "X-Token-Budget", "x_trace_id", "User-Agent"])
def test_benign_headers_are_not_credentials(name: str) -> None:
    assert not is_credential_header(name)
    plan = openai_plan("wss://x.example/v1/realtime?model=m", None, headers={name: "ordinary"})
    assert not plan.has_credentials and "ordinary" in repr(plan)


# --- issue 9: header injection, credential-like query names, loopback names, credential history

KEY = "sk-" + "injectiontest-0123456789"


@pytest.mark.parametrize("value", ["a\r\nX-Injected: yes", "a\nX-Injected: yes", "a\rb", "a\x00b"])
def test_header_value_with_cr_lf_nul_refused(value: str) -> None:
    with pytest.raises(RealtimeConfigError, match="'X-Trace-Id'") as info:
        openai_plan("wss://h.example/v1/realtime?model=m", KEY, headers={"X-Trace-Id": value})
    assert "X-Injected" not in str(info.value) and "header injection" in str(info.value)


@pytest.mark.parametrize("name", ["X-A\r\nX-Injected", "X-A\n", "X A", "X-A:", "", "X-\x00"])
def test_header_name_not_a_token_refused(name: str) -> None:
    with pytest.raises(RealtimeConfigError, match="invalid header name") as info:
        azure_plan("wss://h.example/openai/v1/realtime?model=d", api_key=KEY, headers={name: "v"})
    assert "\r" not in str(info.value) and "\n" not in str(info.value)


def test_credential_with_newline_names_the_header_not_the_value() -> None:
    with pytest.raises(RealtimeConfigError, match="'Authorization'") as info:
        openai_plan("wss://h.example/v1/realtime?model=m", KEY + "\r\nX-Injected: 1")
    assert KEY not in str(info.value) and KEY not in repr(info.value)
    with pytest.raises(RealtimeConfigError, match="'api-key'") as info:
        azure_plan("wss://h.example/openai/v1/realtime?model=d", api_key=KEY + "\n")
    assert KEY not in str(info.value)


def test_with_overrides_checks_headers_too() -> None:
    plan = openai_plan("wss://h.example/v1/realtime?model=m", KEY)
    with pytest.raises(RealtimeConfigError, match="'X-Trace-Id'"):
        plan.with_overrides(headers={"X-Trace-Id": "x\r\nEvil: 1"})


@pytest.mark.parametrize(
    "name",
    ["authorization", "Authorization", "auth", "bearer", "ek", "x-amz-signature",
     "X-Amz-Signature", "x_amz_credential", "x-amz-security-token", "x-goog-signature",
     "access_token", "id_token", "jwt", "client-secret"],
)
def test_credential_like_query_names_refused(name: str) -> None:
    secret = "Zq8v3NUlpT6kXw2Y"
    with pytest.raises(RealtimeConfigError, match="must not carry a credential") as info:
        check_ws_url(f"wss://h.example/v1/realtime?model=m&{name}={secret}")
    assert secret not in str(info.value) and secret not in repr(info.value)
    assert secret not in redact_url(f"wss://h.example/v1/realtime?{name}={secret}")


@pytest.mark.parametrize("value", [KEY, "ek_" + "ab12" * 8, "Bearer " + KEY])
def test_key_shaped_value_refused_under_any_name(value: str) -> None:
    with pytest.raises(RealtimeConfigError, match="parameter 'trace'") as info:
        check_ws_url(f"wss://h.example/v1/realtime?model=m&trace={value}")
    assert value not in str(info.value)
    assert KEY not in redact_url(f"wss://h.example/v1/realtime?trace={KEY}")


def test_ordinary_query_names_still_pass() -> None:
    url = "wss://h.example/v1/realtime?model=m&deployment=d&api-version=2025-08-28&author=me"
    assert check_ws_url(url) == url


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("ws://localhost:8000/v1/realtime?model=m", "localhost"),
        ("ws://evil.localhost/v1/realtime", "evil.localhost"),
        ("ws://A.B.LOCALHOST:1/x", "a.b.localhost"),
        ("ws://127.0.0.1:8000/v1", None),
        ("ws://[::1]:8000/v1", None),
        ("wss://evil.localhost/v1", None),
        ("wss://api.openai.com/v1", None),
    ],
)
def test_loopback_name_to_resolve(url: str, name: str | None) -> None:
    assert loopback_name_to_resolve(url) == name


@pytest.mark.parametrize(
    "addresses",
    [["127.0.0.1"], ["127.0.0.1", "::1"], ["127.9.8.7"], ["::1%lo"], ["::ffff:127.0.0.1"]],
)
def test_resolved_loopback_accepted(addresses: list[str]) -> None:
    if addresses == ["::ffff:127.0.0.1"]:  # IPv4-mapped: ipaddress says not loopback on 3.11
        import ipaddress

        if not ipaddress.ip_address("::ffff:127.0.0.1").is_loopback:
            with pytest.raises(RealtimeConfigError):
                check_resolved_loopback("x.localhost", addresses)
            return
    check_resolved_loopback("x.localhost", addresses)


@pytest.mark.parametrize(
    "addresses", [["10.0.0.5"], ["127.0.0.1", "93.184.216.34"], [], ["2001:db8::1"], ["nonsense"]]
)
def test_resolved_non_loopback_refused(addresses: list[str]) -> None:
    with pytest.raises(RealtimeConfigError, match="not a loopback address"):
        check_resolved_loopback("evil.localhost", addresses)


def test_plan_redacts_every_credential_it_has_used() -> None:
    url = "wss://h.example/v1/realtime?model=m"
    first = openai_plan(url, "sk-first-token-1111")
    second = first.succeeded_by(openai_plan(url, "sk-second-token-2222"))  # provider rotation
    third = second.with_overrides(headers={"Authorization": "Bearer rotated-third-3333"})
    text = "a sk-first-token-1111 b sk-second-token-2222 c Bearer rotated-third-3333 d"
    for plan in (first, second, third):
        out = plan.redact(text)
        assert "1111" not in out and "2222" not in out and "3333" not in out, out
    assert set(first.known_secrets) >= {
        "sk-first-token-1111", "sk-second-token-2222", "rotated-third-3333"
    }
    # the current plan sends only its own credential
    assert dict(third.headers)["Authorization"] == "Bearer rotated-third-3333"
    assert "sk-first" not in repr(third) and "rotated" not in repr(third)


def test_unrelated_plans_do_not_share_history() -> None:
    url = "wss://h.example/v1/realtime?model=m"
    a = openai_plan(url, "sk-aaaa-token-1111")
    openai_plan(url, "sk-bbbb-token-2222")
    assert a.redact("sk-bbbb-token-2222") == "sk-bbbb-token-2222"


def test_no_key_for_api_openai_com_is_a_config_error() -> None:
    # issue 13 (asked by devx): before any network I/O, not a DNS or 401 traceback
    with pytest.raises(RealtimeConfigError, match="OPENAI_API_KEY is not set"):
        openai_plan("wss://api.openai.com/v1/realtime?model=m", None)
    # a gateway or the emulator may need no key; an Authorization header of the user's counts
    assert openai_plan("ws://127.0.0.1:9/v1/realtime?model=m", None).headers == ()
    plan = openai_plan(
        "wss://api.openai.com/v1/realtime?model=m", None, headers={"Authorization": "Bearer t0k3n-x"}
    )
    assert "t0k3n" not in plan.redact("Authorization: Bearer t0k3n-x")


def test_plain_http_base_url_named_as_typed() -> None:
    # the user typed http:// in base_url: say so, not "ws://" (asked by devx, matches the CLI)
    with pytest.raises(RealtimeConfigError, match=r"base_url http://example.invalid/v1: plain http://.*use https://example.invalid/v1"):
        build_realtime_url(Client("http://example.invalid/v1"), model="m")
    with pytest.raises(RealtimeConfigError, match=r"endpoint http://res.example: plain http://"):
        build_azure_url("http://res.example", deployment="d")
    assert build_realtime_url(Client("http://127.0.0.1:9/v1"), model="m").startswith("ws://")
