"""The secret scanner itself (tests/fuzz/secret_scan.py): it flags planted credentials and passes
masked ones and the library's own wording."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ._settings import FUZZ
from .secret_scan import SecretRecorder, find_secrets, mask

KEY = "sk-" + "proj-AbC123xyz_0987-test"
EK = "ek_" + "0123456789abcdef" * 2


@pytest.mark.parametrize(
    "text",
    [
        f"connecting with {KEY}",
        f"key={KEY}.",
        f"Authorization: Bearer {KEY}",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
        f"client secret {EK}",
        "api-key: 0123456789abcdef0123456789abcdef",
        "{'api-key': 'azure-key-1234'}",
        "API_KEY=abc123XYZ",
        f"({KEY})",
    ],
)
def test_flags_planted_credentials(text: str) -> None:
    found = find_secrets(text)
    assert found, text
    for _, masked in found:
        assert masked not in text or len(masked) <= 3  # the report never repeats the secret


@pytest.mark.parametrize(
    "text",
    [
        # the emulator's invalid_api_key message and its no-key variant
        "Incorrect API key provided: sk-…abcd. You can find your API key at https://platform.openai.com/account/api-keys.",
        "You didn't provide an API key. You need to provide your API key in an Authorization "
        "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        "ConnectPlan(url='wss://h/v1/realtime?model=m', headers={Authorization: ***, api-key: ***})",
        "the Realtime URL must not carry a credential in its query (parameter 'api_key'); pass it "
        "with api_key= so that it goes in a header.",
        "Bearer token required",
        "Authorization: Bearer ***",
        "Bearer <token>",
        "headers={'api-key': '***'}",
        "api_key=None",
        "sk-short",  # 5 characters after sk-: below the 8 of a key
        "task-lookup12345 and disk-partition9",  # "sk-" inside a word
        "ek_abc",
        "HTTP 401 from wss://127.0.0.1:1/v1/realtime?model=gpt-realtime",
    ],
)
def test_passes_masked_and_placeholder_text(text: str) -> None:
    assert find_secrets(text) == []


@FUZZ
@given(
    st.text(max_size=40),
    st.from_regex(r"sk-[A-Za-z0-9_-]{8,40}", fullmatch=True),
    st.text(max_size=40),
)
def test_any_key_anywhere_is_flagged(before: str, key: str, after: str) -> None:
    before = (
        before if not before or not (before[-1].isalnum() or before[-1] in "_-") else before + " "
    )
    assert find_secrets(before + key + after)


def test_mask_hides_the_value() -> None:
    assert mask(KEY) == f"sk-…({len(KEY)} chars)"
    assert KEY[3:] not in mask(KEY)


def test_recorder_scans_logs_and_exceptions() -> None:
    rec = SecretRecorder()
    logger = logging.getLogger("secret-scan-selftest")
    logger.propagate = False
    handler = rec.handler()
    logger.addHandler(handler)
    try:
        logger.warning("all good: %s", "sk-…wxyz")
        try:
            raise ValueError(f"boom {KEY}")
        except ValueError:
            logger.exception("failed")  # the key is only in the exc_info text
    finally:
        logger.removeHandler(handler)
    exc = RuntimeError("message")
    rec.exception_created(exc)
    exc.args = (f"rewritten after creation: {EK}",)  # read at flush time, not at creation
    findings = rec.scan()
    assert rec.log_records == 2 and rec.exceptions == 1
    kinds = sorted(f.kind for f in findings)
    assert kinds == ["ephemeral-key", "openai-key"], findings
    assert all(KEY not in f.masked and EK not in f.masked for f in findings)
    assert any("log secret-scan-selftest:ERROR" in f.source for f in findings)
    assert any("RuntimeError created at" in f.source and __file__ in f.source for f in findings)


def test_recorder_finds_registered_credentials_of_any_shape() -> None:
    # a token rotated by a provider need not look like a key: it is searched for literally
    rec = SecretRecorder()
    rec.register_secret("rotated-token-number-2")
    rec.register_secret("short")  # < 8 characters: would match ordinary words, not registered
    rec.check("log", "reconnected with rotated-token-number-2 and a short word")
    assert [(f.kind, f.masked) for f in rec.scan()] == [("known-credential", mask("rotated-token-number-2"))]


def test_recorder_scans_exception_attributes_such_as_close_reasons() -> None:
    class Closed(Exception):
        def __init__(self, message: str, reason: str, error: object) -> None:
            super().__init__(message)
            self.reason = reason
            self.error = error

    rec = SecretRecorder()
    rec.register_secret("opaque-provider-token-7")
    rec.exception_created(Closed("closed (code=1008)", f"bad key {KEY}", {"message": "x"}))
    rec.exception_created(Closed("closed", "normal", {"message": "opaque-provider-token-7"}))
    findings = rec.scan()
    assert {(f.kind, f.source.rsplit(" ", 1)[-1]) for f in findings} == {
        ("openai-key", "(.reason)"),
        ("known-credential", "(.error)"),
    }, findings
