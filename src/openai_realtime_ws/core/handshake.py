"""URL and credential building for the WebSocket handshake (no I/O here).

This module owns every rule about *where* a connection goes and *what credentials travel with
it*: the seed's ``buildRealtimeURL`` (exactly one of ``model`` / ``call_id`` /
``intent="transcription"``, ``https``→``wss``), the Azure GA URL form, the scheme policy (``wss:``
only, plain ``ws:`` for loopback hosts), the headers for OpenAI and Azure, and redaction of URLs and
text so that no key or token is ever printed. Transports receive a :class:`ConnectPlan` and only
move bytes.

Also here: header hygiene (no CR/LF/NUL in a header name or value: header injection), the
credential-like query names refused in every URL, and the loopback check of a plain ``ws:`` host
given by name (:func:`loopback_name_to_resolve` / :func:`check_resolved_loopback`: a name is
loopback only if it resolves to loopback addresses; the shell resolves, the core judges).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from .errors import RealtimeConfigError

__all__ = [
    "DEFAULT_BASE_URL",
    "REDIRECT_SAFE_HEADERS",
    "ConnectPlan",
    "RealtimeTarget",
    "azure_plan",
    "build_azure_url",
    "build_realtime_url",
    "check_http_url",
    "check_resolved_loopback",
    "check_ws_url",
    "client_secret_body",
    "client_secrets_url",
    "is_credential_header",
    "is_loopback_host",
    "loopback_name_to_resolve",
    "openai_plan",
    "redact_text",
    "redact_url",
]

DEFAULT_BASE_URL = "https://api.openai.com/v1"

#: Headers known NOT to carry a credential (lower case, ``_`` read as ``-``). Every other header
#: is treated as one: its value is masked in ``repr`` and a handshake that carries it never follows
#: a redirect. An allowlist, as openai-node does, so that custom auth headers (``X-Auth-Token``,
#: ``X-Amz-Security-Token``, ``Cookie``…) are protected without being listed.
REDIRECT_SAFE_HEADERS = frozenset(
    {
        "connection",
        "host",
        "openai-beta",
        "origin",
        "sec-websocket-extensions",
        "sec-websocket-key",
        "sec-websocket-protocol",
        "sec-websocket-version",
        "upgrade",
        "user-agent",
        "x-access-level",
        "x-auth-metadata",
        "x-auth-tokenization",
        "x-authentication-metadata",
        "x-authentication-tokenization",
        "x-security-policy",
        "x-token-budget",
        "x-trace-id",
    }
)
#: Credential-class headers that identify rather than authenticate: protected from redirects,
#: but their values are not secrets to scrub from text.
_ROUTING_HEADERS = frozenset({"openai-organization", "openai-project"})


def is_credential_header(name: str) -> bool:
    """Whether a header may carry a credential (anything not known to be harmless)."""
    return name.lower().replace("_", "-") not in REDIRECT_SAFE_HEADERS

#: Query keys that would put a credential in a URL; refused in every URL we build or accept and
#: masked by :func:`redact_url`. Compared lower case with ``_`` read as ``-``.
_SENSITIVE_QUERY = frozenset(
    {
        "api-key", "apikey", "x-api-key", "key", "token", "access-token", "id-token",
        "refresh-token", "session-token", "client-secret", "password", "passwd", "pwd",
        "secret", "sig", "signature", "code", "authorization", "auth", "bearer", "jwt", "ek",
        "ephemeral-key", "client-key", "private-key", "access-key", "secret-key", "credential",
        "credentials", "x-amz-signature", "x-amz-credential", "x-amz-security-token",
        "x-goog-signature", "x-goog-credential", "x-ms-signature",
    }
)
#: Values that are credentials whatever their key is called (OpenAI keys, ephemeral secrets).
_SECRET_VALUE = re.compile(r"^(?:Bearer\s+)?(?:sk-[A-Za-z0-9_-]{8,}|ek_[0-9A-Za-z]{16,})", re.I)


def _sensitive_query(key: str, value: str) -> bool:
    return key.lower().replace("_", "-") in _SENSITIVE_QUERY or bool(_SECRET_VALUE.match(value))


_USERINFO = re.compile(r"//[^/?#]*@")
#: C0 controls, DEL and C1 controls: never part of a model name or call id (a pasted newline).
_CONTROL_CHAR = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class RealtimeTarget:
    """Which session a socket opens: exactly one of ``model``, ``call_id``, ``intent``."""

    model: str | None = None
    call_id: str | None = None
    intent: str | None = None

    def __post_init__(self) -> None:
        given = [n for n in ("model", "call_id", "intent") if getattr(self, n)]
        if len(given) != 1:
            raise RealtimeConfigError(
                "Pass exactly one of `model`, `call_id` or `intent='transcription'` when opening a "
                f"Realtime WebSocket (got {', '.join(given) if given else 'none'})."
            )
        if self.intent is not None and self.intent != "transcription":
            raise RealtimeConfigError(
                f"`intent` must be 'transcription', got {self.intent!r}."
            )
        for name in given:
            value = getattr(self, name)
            if not isinstance(value, str):
                raise RealtimeConfigError(f"`{name}` must be a str, got {type(value).__name__}.")
            bad = _CONTROL_CHAR.search(value)
            if bad is not None:
                raise RealtimeConfigError(
                    f"`{name}` contains a control character (U+{ord(bad.group()):04X} at position "
                    f"{bad.start()}): expected a name such as 'gpt-realtime' on one line "
                    f"(got {value[:60]!r})."
                )

    def query(self) -> list[tuple[str, str]]:
        """The URL query pair that selects this target (``model=``, ``call_id=`` or
        ``intent=transcription``)."""
        if self.model:
            return [("model", self.model)]
        if self.call_id:
            return [("call_id", self.call_id)]
        return [("intent", "transcription")]


def is_loopback_host(host: str | None) -> bool:
    """127.0.0.0/8, ::1 and ``localhost`` (and its subdomains) are loopback.

    For a *name* (``localhost``, ``*.localhost``) this is a claim, not a fact: the shell must
    confirm it with :func:`loopback_name_to_resolve` and :func:`check_resolved_loopback`."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def loopback_name_to_resolve(url: str) -> str | None:
    """The host name a shell must resolve, then judge with :func:`check_resolved_loopback`,
    before opening ``url``; ``None`` when nothing needs checking.

    Only a plain ``ws:`` URL whose loopback status rests on a name (``localhost`` or a
    ``*.localhost`` subdomain) needs it: ``wss:`` is encrypted wherever it goes, and an IP
    literal was judged by :func:`check_ws_url` already."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme != "ws" or not host:
        return None
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host
    return None


def check_resolved_loopback(host: str, addresses: Iterable[str]) -> None:
    """Refuse a plain ``ws:`` connection to ``host`` unless every address it resolved to is a
    loopback address (an empty result is refused too). ``addresses`` are the textual addresses
    from ``getaddrinfo`` (``sockaddr[0]``; an IPv6 zone suffix ``%eth0`` is ignored)."""
    resolved = list(addresses)
    bad: list[str] = []
    for address in resolved:
        try:
            if not ipaddress.ip_address(address.split("%", 1)[0]).is_loopback:
                bad.append(address)
        except ValueError:
            bad.append(address)
    if not resolved or bad:
        found = ", ".join(bad[:3]) if bad else "no address"
        raise RealtimeConfigError(
            f"refusing plain ws:// to {host!r}: it resolved to {found}, not a loopback address; "
            "a credential would travel unencrypted. Use wss://, or a host that resolves to "
            "127.0.0.0/8 or ::1 only."
        )


def _attr(obj: object, *names: str) -> Any:
    for name in names:
        value = getattr(obj, name, None)
        if value is not None and value != "":
            return value
    return None


def _http_to_ws(url: str) -> str:
    parts = urlsplit(url)
    scheme = {"https": "wss", "http": "ws", "wss": "wss", "ws": "ws"}.get(parts.scheme.lower())
    if scheme is None:
        raise RealtimeConfigError(
            f"base URL must start with https:// or http:// (got scheme {parts.scheme!r})."
        )
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))


def _check_plain_http(base: str, name: str) -> None:
    """A plain ``http://`` base to a non-loopback host, named as the user typed it (the ``ws://``
    URL made from it would be refused by :func:`check_ws_url` with less helpful words)."""
    try:
        parts = urlsplit(base)
        host = parts.hostname
    except ValueError:
        return  # check_ws_url reports it
    if parts.scheme.lower() == "http" and host and not is_loopback_host(host):
        https = urlunsplit(("https", parts.netloc.rsplit("@", 1)[-1], parts.path, "", ""))
        raise RealtimeConfigError(
            f"{name} {redact_url(base)}: plain http:// is allowed only to a loopback address "
            f"(127.0.0.0/8, ::1, localhost): a credential would travel unencrypted; use {https}"
        )


def check_ws_url(url: str) -> str:
    """Refuse URLs that could leak a credential; return the URL unchanged when it is safe.

    ``wss:`` always; ``ws:`` only to a loopback host; no user-info; no credential in the query.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        # urlsplit's own message may quote the netloc, password included: never echo it
        raise RealtimeConfigError("invalid WebSocket URL: it could not be parsed.") from None
    if parts.scheme not in ("wss", "ws"):
        raise RealtimeConfigError(
            f"the Realtime URL must use wss:// (got {parts.scheme or 'no'} scheme)."
        )
    if not host:
        raise RealtimeConfigError("the Realtime URL has no host.")
    if parts.scheme == "ws" and not is_loopback_host(host):
        raise RealtimeConfigError(
            "refusing plain ws:// to a non-loopback host: a credential would travel unencrypted; "
            "use wss:// (plain ws:// is allowed only for 127.0.0.0/8, ::1 and localhost)."
        )
    if parts.username is not None or parts.password is not None:
        raise RealtimeConfigError("credentials must not be embedded in the Realtime URL.")
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if _sensitive_query(key, value):
            shown = key if key.isascii() and len(key) <= 40 else "<unprintable>"
            raise RealtimeConfigError(
                f"the Realtime URL must not carry a credential in its query (parameter "
                f"{shown!r}); pass it with api_key= so that it goes in a header."
            )
    return url


def check_http_url(url: str) -> str:
    """The REST twin of :func:`check_ws_url`: ``https:``, or ``http:`` only to loopback."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise RealtimeConfigError(f"not an http(s) URL: {redact_url(url)}")
    swapped = urlunsplit(("wss" if parts.scheme == "https" else "ws", *parts[1:]))
    check_ws_url(swapped)
    return url


def client_secrets_url(client: object | None = None, *, azure_endpoint: str | None = None) -> str:
    """``POST`` target for ephemeral client secrets: ``{base_url}/realtime/client_secrets`` (or
    the Azure GA form ``<endpoint>/openai/v1/realtime/client_secrets``)."""
    if azure_endpoint is not None:
        base = azure_endpoint.rstrip("/")
        for suffix in ("/openai/v1", "/openai"):
            base = base.removesuffix(suffix)
        return check_http_url(base + "/openai/v1/realtime/client_secrets")
    http_base = _attr(client, "base_url") if client is not None else None
    if http_base is None:
        http_base = os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
    return check_http_url(str(http_base).rstrip("/") + "/realtime/client_secrets")


def client_secret_body(
    *,
    session: Mapping[str, Any] | None = None,
    model: str | None = None,
    expires_after: int | None = None,
) -> dict[str, Any]:
    """The request body of PROTOCOL §1.6; ``expires_after`` seconds must be 10..7200."""
    body: dict[str, Any] = {}
    if expires_after is not None:
        if not isinstance(expires_after, int) or not 10 <= expires_after <= 7200:
            raise RealtimeConfigError(
                f"expires_after must be an int from 10 to 7200 seconds, got {expires_after!r}."
            )
        body["expires_after"] = {"anchor": "created_at", "seconds": expires_after}
    sess: dict[str, Any] = dict(session) if session is not None else {"type": "realtime"}
    sess.setdefault("type", "realtime")
    if model is not None:
        sess["model"] = model
    body["session"] = sess
    return body


def rest_error_message(payload: object) -> str | None:
    """The API's ``error.message`` in a decoded REST answer, with `` (code)`` when it has one;
    ``None`` when there is none, or it is empty (not redacted: the caller masks its secrets)."""
    err = payload.get("error") if isinstance(payload, dict) else None
    message = err.get("message") if isinstance(err, dict) else None
    if not isinstance(message, str) or not message:
        return None
    code = err.get("code") if isinstance(err, dict) else None
    return message + (f" ({code})" if isinstance(code, str) and code else "")


def redact_url(url: str) -> str:
    """The URL with user-info removed and sensitive query values masked (for repr, logs)."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)[-1]
        query = [
            (k, "***" if _sensitive_query(k, v) else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ]
        out = urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="*"), ""))
    except ValueError:
        return "<invalid url>"
    # a malformed URL (no scheme, say) can keep user-info in its path: drop any "//…@" too
    return _USERINFO.sub("//", out)


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret (len >= 4) in ``text`` with ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, "***")
    return text


def build_realtime_url(
    client: object | None = None,
    *,
    model: str | None = None,
    call_id: str | None = None,
    intent: str | None = None,
    url_builder: Callable[[Any, RealtimeTarget], str] | None = None,
) -> str:
    """The seed's ``buildRealtimeURL``: the ``wss://…/realtime?model=…`` URL for ``client``.

    ``client`` is any object with ``base_url`` (and optionally ``websocket_base_url``), such as
    ``openai.OpenAI``; without one, ``OPENAI_BASE_URL`` or ``https://api.openai.com/v1`` is used.
    ``url_builder(client, target)`` returns the exact URL (no query is added); it must be ``wss:``
    (or ``ws:`` to loopback).
    """
    target = RealtimeTarget(model=model, call_id=call_id, intent=intent)
    if url_builder is not None:
        url = url_builder(client, target)
        if not isinstance(url, str):
            raise RealtimeConfigError(
                f"url_builder must return a str, got {type(url).__name__}."
            )
        return check_ws_url(url)
    ws_base = _attr(client, "websocket_base_url") if client is not None else None
    if ws_base is not None:
        base = _http_to_ws(str(ws_base))
    else:
        http_base = _attr(client, "base_url") if client is not None else None
        if http_base is None:
            http_base = os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        _check_plain_http(str(http_base), "base_url")
        base = _http_to_ws(str(http_base))
    parts = urlsplit(base)
    path = parts.path.rstrip("/") + "/realtime"
    query = parse_qsl(parts.query, keep_blank_values=True) + target.query()
    url = urlunsplit((parts.scheme, parts.netloc, path, urlencode(query, quote_via=quote), ""))
    return check_ws_url(url)


def build_azure_url(
    endpoint: str,
    *,
    deployment: str | None = None,
    call_id: str | None = None,
    intent: str | None = None,
    url_builder: Callable[[Any, RealtimeTarget], str] | None = None,
    client: object | None = None,
) -> str:
    """Azure GA form ``<endpoint>/openai/v1/realtime?model=<deployment>`` (or call_id/intent)."""
    target = RealtimeTarget(model=deployment, call_id=call_id, intent=intent)
    if url_builder is not None:
        url = url_builder(client, target)
        if not isinstance(url, str):
            raise RealtimeConfigError(f"url_builder must return a str, got {type(url).__name__}.")
        return check_ws_url(url)
    _check_plain_http(str(endpoint), "endpoint")
    base = _http_to_ws(str(endpoint))
    parts = urlsplit(base)
    path = parts.path.rstrip("/")
    for suffix in ("/openai/v1", "/openai"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    url = urlunsplit(
        (parts.scheme, parts.netloc, path + "/openai/v1/realtime", urlencode(target.query()), "")
    )
    return check_ws_url(url)


class _SecretLog:
    """Every credential a chain of plans has used (shared by a plan and all its successors)."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: dict[str, None] = {}  # ordered set

    def add(self, secrets: Iterable[str]) -> None:
        for s in secrets:
            if s and s not in self.items:
                self.items[s] = None
        # a long token first, so that a secret holding another one is replaced whole
        if len(self.items) > 1:
            self.items = dict.fromkeys(sorted(self.items, key=len, reverse=True))


@dataclass(frozen=True, repr=False)
class ConnectPlan:
    """Everything a transport needs to open one socket. ``repr`` shows no credential.

    A plan remembers every credential of the plans it descends from (:meth:`with_overrides`,
    :meth:`succeeded_by`): :meth:`redact` of the first plan of a session, and of every later
    one, masks all the keys and tokens the session has ever used, rotated ones included."""

    url: str
    headers: tuple[tuple[str, str], ...] = ()
    secrets: tuple[str, ...] = field(default=())
    _log: _SecretLog = field(default_factory=_SecretLog, compare=False)

    def __post_init__(self) -> None:
        _check_header_text(self.headers)
        self._log.add(self.secrets)

    @property
    def redacted_url(self) -> str:
        return redact_url(self.url)

    @property
    def has_credentials(self) -> bool:
        return any(is_credential_header(name) for name, _ in self.headers)

    @property
    def known_secrets(self) -> tuple[str, ...]:
        """Every credential this plan and the plans it descends from have used."""
        return tuple(self._log.items)

    def redact(self, text: str) -> str:
        """``text`` with every credential the plan's chain has ever used replaced by ``***``."""
        return redact_text(text, self._log.items)

    def succeeded_by(self, newer: ConnectPlan) -> ConnectPlan:
        """``newer`` (a fresh plan, e.g. from a token provider on reconnect), joined to this
        plan's credential history: both plans' :meth:`redact` then mask the credentials of both.
        """
        self._log.add(newer._log.items)
        return replace(newer, _log=self._log)

    def with_overrides(
        self, headers: Mapping[str, str] | None = None, query: Mapping[str, str] | None = None
    ) -> ConnectPlan:
        """A copy with ``headers`` replacing same-named ones and ``query`` merged into the URL."""
        url = self.url
        if query:
            parts = urlsplit(url)
            pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in query]
            pairs += list(query.items())
            url = check_ws_url(urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(pairs), "")))
        merged = _merge_headers(list(self.headers), headers)
        return ConnectPlan(
            url=url,
            headers=merged,
            secrets=_secrets_of(merged, *self.secrets),
            _log=self._log,
        )

    def __repr__(self) -> str:
        names = ", ".join(
            f"{n}: ***" if is_credential_header(n) else f"{n}: {v}" for n, v in self.headers
        )
        return f"ConnectPlan(url={self.redacted_url!r}, headers={{{names}}})"


_BAD_HEADER_CHARS = re.compile(r"[\r\n\x00]")
#: RFC 9110 §5.1 field-name: a token.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _check_header_text(headers: Iterable[tuple[str, str]]) -> None:
    """Refuse header injection: CR, LF or NUL in a name or value (RFC 9110 §5.5), or a name
    that is not an RFC 9110 token. The error names the header, never its value."""
    for name, value in headers:
        if not isinstance(name, str) or not isinstance(value, str):
            raise RealtimeConfigError("headers must map str to str.")
        if not _HEADER_NAME.fullmatch(name):
            shown = _BAD_HEADER_CHARS.sub("?", name)[:60]
            raise RealtimeConfigError(
                f"invalid header name {shown!r}: expected an HTTP token (letters, digits and "
                "!#$%&'*+.^_`|~-), without CR, LF, NUL, spaces or ':'."
            )
        if _BAD_HEADER_CHARS.search(value):
            raise RealtimeConfigError(
                f"the value of header {name!r} contains CR, LF or NUL (header injection); "
                "expected a single-line value."
            )


def _merge_headers(
    base: list[tuple[str, str]], extra: Mapping[str, str] | None
) -> tuple[tuple[str, str], ...]:
    headers = list(base)
    if extra:
        names = {k.lower() for k in extra if isinstance(k, str)}
        headers = [(k, v) for k, v in headers if k.lower() not in names]
        for k, v in extra.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise RealtimeConfigError("headers must map str to str.")
            headers.append((k, v))
    _check_header_text(headers)
    return tuple(headers)


def _secrets_of(headers: Iterable[tuple[str, str]], *extra: str | None) -> tuple[str, ...]:
    found = [
        v
        for k, v in headers
        if is_credential_header(k) and k.lower().replace("_", "-") not in _ROUTING_HEADERS
    ]
    for v in list(found):
        if v.lower().startswith("bearer "):
            found.append(v[7:])
    found.extend(s for s in extra if s)
    return tuple(dict.fromkeys(s for s in found if s))


def openai_plan(
    url: str,
    api_key: str | None,
    *,
    headers: Mapping[str, str] | None = None,
    organization: str | None = None,
    project: str | None = None,
    user_agent: str | None = None,
) -> ConnectPlan:
    """``Authorization: Bearer <key>`` plus optional org/project headers; user headers override."""
    base: list[tuple[str, str]] = []
    if api_key:
        base.append(("Authorization", f"Bearer {api_key}"))
    if organization:
        base.append(("OpenAI-Organization", organization))
    if project:
        base.append(("OpenAI-Project", project))
    if user_agent:
        base.append(("User-Agent", user_agent))
    merged = _merge_headers(base, headers)
    check_ws_url(url)
    if not api_key and urlsplit(url).hostname == "api.openai.com" and not any(
        k.lower() == "authorization" for k, _ in merged
    ):
        if api_key == "":
            raise RealtimeConfigError(
                "the API key is empty (api_key='' or OPENAI_API_KEY set to ''): pass a key "
                "(sk-…) or a token provider as api_key=, put one in OPENAI_API_KEY, or run "
                "against the emulator (base_url=emulator.base_url)."
            )
        raise RealtimeConfigError(
            "OPENAI_API_KEY is not set: pass api_key=... (a key or a token provider), set "
            "OPENAI_API_KEY, or run against the emulator (base_url=emulator.base_url)."
        )
    return ConnectPlan(url=url, headers=merged, secrets=_secrets_of(merged, api_key))


def azure_plan(
    url: str,
    *,
    api_key: str | None = None,
    token: str | None = None,
    headers: Mapping[str, str] | None = None,
    user_agent: str | None = None,
) -> ConnectPlan:
    """Azure: a static key in ``api-key``; an Entra token as ``Authorization: Bearer``."""
    if not api_key and not token:
        raise RealtimeConfigError(
            "Azure OpenAI Realtime needs a credential: pass api_key=, azure_ad_token_provider=, "
            "or set AZURE_OPENAI_API_KEY."
        )
    base: list[tuple[str, str]] = []
    if token:
        base.append(("Authorization", f"Bearer {token}"))
    else:
        assert api_key is not None
        base.append(("api-key", api_key))
    if user_agent:
        base.append(("User-Agent", user_agent))
    merged = _merge_headers(base, headers)
    return ConnectPlan(
        url=check_ws_url(url), headers=merged, secrets=_secrets_of(merged, api_key, token)
    )
