# Standard Webhooks verification (core/webhooks.py): the spec's test vector, several signatures,
# the 5-minute window both ways, every header missing, forged and altered deliveries; checked
# against openai-python's own `webhooks.verify_signature` as an independent implementation.
from __future__ import annotations

import base64
import hashlib
import hmac
import time

import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai import OpenAI

from openai_realtime_ws.core.errors import RealtimeConfigError
from openai_realtime_ws.core.webhooks import (
    RealtimeCallIncoming,
    UnknownWebhookEvent,
    WebhookVerificationError,
    decode_webhook_event,
    sign_webhook,
    unwrap_webhook,
    verify_webhook,
    webhook_key,
)

# Standard Webhooks' reference test vector (standard-webhooks/standard-webhooks, the libraries'
# `test_sign_function`): secret, message id, timestamp, payload and the expected signature.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = '{"test": 2432232314}'
SPEC_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

SECRET = "whsec_" + base64.b64encode(b"a-32-byte-key-for-the-sip-tests!").decode()
BODY = (b'{"object":"event","id":"evt_1","type":"realtime.call.incoming","created_at":1750287018,'
        b'"data":{"call_id":"rtc_123","sip_headers":[{"name":"From","value":"sip:+1@x"}],"new_field":1}}')


def independent_signature(secret: str, msg_id: str, ts: int, body: bytes) -> str:
    """The scheme written out from the spec, without the module under test."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(ts: int, sig: str, msg_id: str = "wh_1") -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sig}


def test_the_spec_test_vector() -> None:
    assert sign_webhook(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIG
    verify_webhook(SPEC_BODY, headers(SPEC_TS, SPEC_SIG, SPEC_ID), SPEC_SECRET, now=SPEC_TS)
    # the spec's "invalid signature" case: the last base64 character changed
    with pytest.raises(WebhookVerificationError) as info:
        verify_webhook(SPEC_BODY, headers(SPEC_TS, SPEC_SIG[:-2] + "A=", SPEC_ID), SPEC_SECRET, now=SPEC_TS)
    assert info.value.reason == "bad_signature"


def test_multiple_signatures_any_one_matches() -> None:
    now = 1_800_000_000
    good = independent_signature(SECRET, "wh_1", now, BODY)
    others = ["v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=", "v2," + good[3:], "garbage"]
    verify_webhook(BODY, headers(now, " ".join([*others, good])), SECRET, now=now)
    with pytest.raises(WebhookVerificationError, match="does not match"):
        verify_webhook(BODY, headers(now, " ".join(others)), SECRET, now=now)
    # a version other than v1, or no version at all, never matches (openai-python is laxer here)
    with pytest.raises(WebhookVerificationError) as info:
        verify_webhook(BODY, headers(now, good[3:]), SECRET, now=now)
    assert info.value.reason == "no_signature"


@pytest.mark.parametrize(("offset", "reason"), [(301, "too_old"), (-301, "too_new")])
def test_the_five_minute_window(offset: int, reason: str) -> None:
    ts = 1_800_000_000
    sig = independent_signature(SECRET, "wh_1", ts, BODY)
    verify_webhook(BODY, headers(ts, sig), SECRET, now=ts + 300)
    verify_webhook(BODY, headers(ts, sig), SECRET, now=ts - 300)
    with pytest.raises(WebhookVerificationError) as info:
        verify_webhook(BODY, headers(ts, sig), SECRET, now=ts + offset)
    assert info.value.reason == reason


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_each_header_is_required(missing: str) -> None:
    now = 1_800_000_000
    h = headers(now, independent_signature(SECRET, "wh_1", now, BODY))
    del h[missing]
    with pytest.raises(WebhookVerificationError, match=missing) as info:
        verify_webhook(BODY, h, SECRET, now=now)
    assert info.value.reason == "missing_header"


def test_headers_are_case_insensitive_and_timestamps_must_be_integers() -> None:
    now = 1_800_000_000
    sig = independent_signature(SECRET, "wh_1", now, BODY)
    verify_webhook(BODY, {"Webhook-Id": "wh_1", "WEBHOOK-TIMESTAMP": str(now), "Webhook-Signature": sig},
                   SECRET, now=now)
    with pytest.raises(WebhookVerificationError, match="does not match"):  # lone surrogates: no crash
        verify_webhook(BODY, {**headers(now, "v1,\udc00"), "webhook-id": "\ud800"}, SECRET, now=now)
    for stamp in ("1.8e9", "-5", "", "soon", "\uff11\uff12"):
        with pytest.raises(WebhookVerificationError):
            verify_webhook(BODY, {**headers(now, sig), "webhook-timestamp": stamp}, SECRET, now=now)


def test_altered_body_id_or_timestamp_fail() -> None:
    now = 1_800_000_000
    sig = independent_signature(SECRET, "wh_1", now, BODY)
    for body, h in [(BODY.replace(b"rtc_123", b"rtc_999"), headers(now, sig)),
                    (BODY, headers(now, sig, msg_id="wh_2")),
                    (BODY, headers(now + 1, sig))]:
        with pytest.raises(WebhookVerificationError, match="does not match"):
            verify_webhook(body, h, SECRET, now=now)
    other = "whsec_" + base64.b64encode(b"another key").decode()
    with pytest.raises(WebhookVerificationError, match="does not match"):
        verify_webhook(BODY, headers(now, sig), other, now=now)


def test_errors_never_show_the_secret_or_the_signature() -> None:
    now = 1_800_000_000
    sig = independent_signature(SECRET, "wh_1", now, BODY)
    with pytest.raises(WebhookVerificationError) as info:
        verify_webhook(BODY, headers(now, sig), SECRET[:-4] + "AAA=", now=now)
    assert sig[3:] not in str(info.value) and SECRET[6:20] not in str(info.value)
    with pytest.raises(RealtimeConfigError, match="not valid base64") as cfg:
        webhook_key("whsec_not base64 at all!")
    assert "not base64 at all" not in str(cfg.value)
    with pytest.raises(RealtimeConfigError, match="empty"):
        webhook_key("")


def test_agrees_with_openai_python() -> None:
    client = OpenAI(api_key="sk-unused")
    now = int(time.time())
    sig = sign_webhook(SECRET, "wh_abc", now, BODY)
    assert sig == independent_signature(SECRET, "wh_abc", now, BODY)
    client.webhooks.verify_signature(BODY, headers(now, sig, "wh_abc"), secret=SECRET)
    with pytest.raises(openai.InvalidWebhookSignatureError):
        client.webhooks.verify_signature(BODY + b" ", headers(now, sig, "wh_abc"), secret=SECRET)
    # and openai-python's signature verifies here
    theirs = independent_signature(SECRET, "wh_abc", now, BODY)
    assert isinstance(unwrap_webhook(BODY, headers(now, theirs, "wh_abc"), SECRET, now=now), RealtimeCallIncoming)


def test_typed_events_are_forward_compatible() -> None:
    event = decode_webhook_event(BODY)
    assert isinstance(event, RealtimeCallIncoming)
    assert (event.type, event.id, event.call_id, event.created_at) == (
        "realtime.call.incoming", "evt_1", "rtc_123", 1750287018)
    assert event.data.header("from") == "sip:+1@x" and event.data.header("To") is None
    assert event.data.sip_media_security is None
    other = decode_webhook_event(b'{"type":"batch.completed","id":"evt_2","data":{"id":"b"}}')
    assert isinstance(other, UnknownWebhookEvent)
    assert (other.type, other.id, other.raw["data"]) == ("batch.completed", "evt_2", {"id": "b"})
    for bad, where in [(b"[1]", "event object"), (b"not json", "not JSON"),
                       (b'{"type":"realtime.call.incoming","id":"e","created_at":1,"data":{}}', "data.call_id")]:
        with pytest.raises(WebhookVerificationError, match=where):
            decode_webhook_event(bad)


@settings(max_examples=300, deadline=None)
@given(
    webhook_id=st.text(st.characters(), max_size=40),
    stamp=st.text(st.characters(), max_size=24),
    signature=st.text(st.characters(), max_size=200),
    body=st.binary(max_size=200),
)
def test_any_delivery_is_verified_or_refused_without_echoing_it(
        webhook_id: str, stamp: str, signature: str, body: bytes) -> None:
    try:
        verify_webhook(body, {"webhook-id": webhook_id, "webhook-timestamp": stamp,
                              "webhook-signature": signature}, SECRET, now=1_800_000_000)
    except WebhookVerificationError as exc:
        assert exc.reason in ("missing_header", "bad_timestamp", "too_old", "too_new", "no_signature",
                              "bad_signature")
        for value in (signature, body.decode("latin-1"), SECRET[6:]):
            if len(value) >= 8:
                assert value not in str(exc)
    else:  # only a real signature passes
        assert signature.split().count(independent_signature(SECRET, webhook_id, int(stamp), body)) >= 1
