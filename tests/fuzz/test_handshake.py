"""URL policy and redaction on random URLs: check_ws_url returns the URL or raises
RealtimeConfigError; redact_url never raises and never shows a planted credential."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openai_realtime_ws.core.errors import RealtimeConfigError
from openai_realtime_ws.core.handshake import (
    _SENSITIVE_QUERY,
    check_ws_url,
    is_loopback_host,
    redact_url,
)

from ._settings import FUZZ

# Planted credential: distinctive, and not shaped like the secret scanner's patterns (a
# RealtimeConfigError that leaked it would otherwise fail the whole session as well).
SECRET = "PLANTEDcred7Q9x"

# RFC 3986 user-info characters plus "%" and "\\". Not "[" / "]" nor non-ASCII: urlsplit's
# errors for those quote the netloc, a known bug (test_invalid_netloc_error_does_not_echo_...).
_USERINFO = "abcXYZ019-._~!$&'()*+,;=:%\\"
_HOSTS = [
    "api.openai.com",
    "localhost",
    "LOCALHOST",
    "a.localhost",
    "127.0.0.1",
    "127.9.8.7",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "0.0.0.0",
    "[::]",
    "example.com",
    "",
    "local host",
    "localhost.",
    "[::1",
    "::1",
    "1.2.3.4.5",
]
_SCHEMES = ["wss", "ws", "WSS", "Ws", "https", "http", "", "ftp", "wss:", " wss"]
_SENSITIVE = sorted(_SENSITIVE_QUERY)

userinfo = st.tuples(st.text(_USERINFO, max_size=6), st.text(_USERINFO, max_size=6)).map(
    lambda p: f"{p[0]}{SECRET}{p[1]}"
)
query_pair = st.one_of(
    # a sensitive key in any case, percent-encoded or not, carrying the secret
    st.tuples(
        st.sampled_from(_SENSITIVE).flatmap(
            lambda k: st.sampled_from(
                [k, k.upper(), k.title(), quote(k, safe=""), "".join(f"%{ord(c):02X}" for c in k)]
            )
        ),
        st.just(SECRET),
    ),
    st.tuples(
        st.sampled_from(["model", "call_id", "intent", "x", ""]),
        st.text("abz09-._~ %&=+", max_size=8),
    ),
)


@st.composite
def urls(draw: st.DrawFn) -> tuple[str, bool]:
    """A URL and whether the secret was planted (in user-info or a sensitive query value)."""
    scheme = draw(st.sampled_from(_SCHEMES))
    info = draw(st.one_of(st.none(), userinfo))
    host = draw(st.sampled_from(_HOSTS))
    port = draw(st.sampled_from(["", ":443", ":0", ":99999", ":x"]))
    path = draw(st.sampled_from(["", "/", "/v1/realtime", "/a;b", "/%2F"]))
    pairs = draw(st.lists(query_pair, max_size=4))
    query = "&".join(f"{k}={v}" for k, v in pairs)
    frag = draw(st.sampled_from(["", "#", "#frag"]))
    auth = f"{info}@{host}{port}" if info is not None else f"{host}{port}"
    url = f"{scheme}://{auth}{path}" + (f"?{query}" if query else "") + frag
    planted = info is not None or any(v == SECRET for _, v in pairs)
    return url, planted


def check(url: str) -> str | None:
    try:
        result = check_ws_url(url)
    except RealtimeConfigError as exc:
        assert SECRET not in str(exc) and SECRET not in repr(exc), str(exc)
        return None
    assert result == url
    return result


@FUZZ
@given(urls())
def test_check_ws_url_and_redact_url(case: tuple[str, bool]) -> None:
    url, planted = case
    accepted = check(url)
    if accepted is not None:
        parts = urlsplit(url)
        assert parts.scheme == "wss" or (parts.scheme == "ws" and is_loopback_host(parts.hostname))
        assert parts.hostname and parts.username is None and parts.password is None
        assert not any(k.lower() in _SENSITIVE_QUERY for k, _ in parse_qsl(parts.query))
        assert not planted
    redacted = redact_url(url)
    assert isinstance(redacted, str)
    # (also with no authority: "://user:pw@host" or "wss:://u:p@h" keep "//u:p@" in the path,
    # which redact_url drops too)
    if planted:
        assert SECRET not in redacted, redacted


@FUZZ
@given(
    st.one_of(
        st.text(max_size=60),
        st.text(st.characters(exclude_categories=()), max_size=30),  # lone surrogates too
        st.text(max_size=40).map(lambda s: "wss://" + s),
        st.text(max_size=40).map(lambda s: "ws://localhost" + s),
    )
)
def test_any_text(url: str) -> None:
    try:
        check_ws_url(url)
    except RealtimeConfigError:
        pass
    assert isinstance(redact_url(url), str)


@pytest.mark.parametrize(
    "url",
    [
        "wss://user:" + SECRET + "@api.openai.com/v1/realtime",
        "wss://api.openai.com/v1/realtime?model=m&API_KEY=" + SECRET,
        "wss://api.openai.com/v1/realtime?%74oken=" + SECRET,
        "ws://" + SECRET + "@localhost:1/",
    ],
)
def test_examples(url: str) -> None:
    assert check(url) is None
    assert SECRET not in redact_url(url)


# ---- known bug ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "netloc",
    [
        f"user:{SECRET}@api.openai.com\uff03",  # netloc changes under NFKC: quoted whole
        f"user:x[{SECRET}]@api.openai.com",  # "[...]" checked as an IPv6 literal: quoted
    ],
)
def test_invalid_netloc_error_does_not_echo_credentials(netloc: str) -> None:
    # urlsplit's ValueError quotes (part of) the netloc; check_ws_url wraps it as
    # f"invalid WebSocket URL: {exc}", so the password ends up in the exception message
    with pytest.raises(RealtimeConfigError) as info:
        check_ws_url(f"wss://{netloc}/v1/realtime")
    assert SECRET not in str(info.value)


# --- header injection (issue 9): any header text either passes unchanged or is refused with the
# header's name and never its value

_HEADER_NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True).filter(
    lambda n: n.lower() != "authorization"
)


@FUZZ
@given(_HEADER_NAMES, st.text(max_size=60))
def test_any_header_value_passes_unchanged_or_is_refused(name: str, value: str) -> None:
    from openai_realtime_ws.core.handshake import openai_plan

    planted = f"{SECRET}{value}"
    bad = any(c in planted for c in "\r\n\x00")
    try:
        plan = openai_plan("wss://h.example/v1/realtime?model=m", None, headers={name: planted})
    except RealtimeConfigError as exc:
        assert bad, (name, planted)
        assert repr(name) in str(exc) and SECRET not in str(exc) and SECRET not in repr(exc)
    else:
        assert not bad
        assert (name, planted) in plan.headers


@FUZZ
@given(st.text(max_size=20), st.text(max_size=30))
def test_any_query_pair_is_refused_without_its_value_or_passes(key: str, value: str) -> None:
    url = "wss://h.example/v1/realtime?" + f"model=m&{quote(key, safe='')}={quote(SECRET + value, safe='')}"
    try:
        assert check_ws_url(url) == url
    except RealtimeConfigError as exc:
        assert SECRET not in str(exc) and SECRET not in repr(exc)
    assert SECRET not in redact_url(url) or key.lower().replace("_", "-") not in _SENSITIVE_QUERY
