"""Usage and cost (core/usage.py, core/pricing.py): the cost of known usage blocks checked against
a hand computation, unknown prices give no estimate, and a scripted session against the emulator
(a reconnect and a rollover in it) sums every response.done on both clients."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import msgspec
import pytest

from openai_realtime_ws import AsyncOpenAIRealtimeWS, OpenAIRealtimeWS
from openai_realtime_ws.core.pricing import DEFAULT_PRICES, ModalityPrice, ModelPrice
from openai_realtime_ws.core.reconnect import ReconnectPolicy
from openai_realtime_ws.core.usage import TokenCounts, UsageTotals, estimate_cost
from openai_realtime_ws.emulator import CloseWith, Emulator, EmulatorConfig, EmulatorThread
from openai_realtime_ws.types import ResponseDoneEvent

KEY = "sk-usage-test-000"
# a real usage block (quoted on community.openai.com/t/1060242)
USAGE = {
    "total_tokens": 821, "input_tokens": 789, "output_tokens": 32,
    "input_token_details": {
        "text_tokens": 313, "audio_tokens": 476, "cached_tokens": 640,
        "cached_tokens_details": {"text_tokens": 256, "audio_tokens": 384},
    },
    "output_token_details": {"text_tokens": 9, "audio_tokens": 23},
}


def done(usage: dict[str, Any] | None, rid: str = "resp_1") -> ResponseDoneEvent:
    event = {"type": "response.done", "event_id": "e1",
             "response": {"id": rid, "status": "completed", "usage": usage}}
    return msgspec.convert(event, ResponseDoneEvent)


def test_add_sums_every_field() -> None:
    # TokenCounts.add is spelled out field by field (speed): a field added later must be summed too
    names = [f.name for f in dataclasses.fields(TokenCounts)]
    a = TokenCounts(**{n: i + 1 for i, n in enumerate(names)})
    a.add(TokenCounts(**{n: 100 * (i + 1) for i, n in enumerate(names)}))
    assert dataclasses.asdict(a) == {n: 101 * (i + 1) for i, n in enumerate(names)}


def test_cost_of_a_usage_block_matches_hand_computation() -> None:
    totals = UsageTotals()
    record = totals.observe(done(USAGE))
    assert record is not None and record.tokens.total_tokens == 821
    t = totals.total
    assert (t.input_text, t.cached_text, t.input_audio, t.cached_audio) == (313, 256, 476, 384)
    assert (t.output_text, t.output_audio, t.cached_tokens) == (9, 23, 640)
    est = totals.estimate("gpt-realtime-1.5")
    assert est is not None
    # by hand, USD per 1M: text 4 / cached 0.4 / out 16; audio 32 / cached 0.4 / out 64
    # (313-256)*4 + 256*0.4 + (476-384)*32 + 384*0.4 + 9*16 + 23*64
    #  = 228 + 102.4 + 2944 + 153.6 + 144 + 1472 = 5044 per million
    assert est.usd == pytest.approx(5044 / 1e6, rel=1e-12)
    assert est.parts["audio.input"] == pytest.approx(2944 / 1e6)
    assert est.as_of == DEFAULT_PRICES.as_of and "gpt-realtime-1.5" in est.source
    # two responses: twice the cost, both kept
    totals.observe(done(USAGE, "resp_2"))
    assert totals.response_count == 2 and [r.response_id for r in totals.responses] == ["resp_1", "resp_2"]
    assert totals.estimate("gpt-realtime-1.5").usd == pytest.approx(2 * 5044 / 1e6)  # type: ignore[union-attr]


def test_no_estimate_rather_than_a_wrong_one() -> None:
    totals = UsageTotals()
    totals.observe(done(USAGE))
    assert totals.estimate("gpt-unknown-model") is None
    assert totals.estimate(None) is None  # no model observed, none given
    # gpt-realtime-mini: its cached text and audio prices are not in the table
    assert totals.estimate("gpt-realtime-mini") is None
    text_only = TokenCounts(input_text=1000, output_text=100)
    est = estimate_cost(text_only, "gpt-realtime-mini")
    assert est is not None and est.usd == pytest.approx((1000 * 0.60 + 100 * 2.40) / 1e6)
    # image tokens on a model whose image price is unknown
    assert estimate_cost(TokenCounts(input_image=10), "gpt-realtime") is None
    # cached tokens without a split: priced only when one input modality was used
    assert estimate_cost(TokenCounts(input_text=100, input_audio=5, cached_unattributed=50),
                         "gpt-realtime") is None
    est = estimate_cost(TokenCounts(input_audio=100, cached_unattributed=40), "gpt-realtime")
    assert est is not None and est.usd == pytest.approx((60 * 32 + 40 * 0.40) / 1e6)
    # more cached than input cannot be priced
    assert estimate_cost(TokenCounts(input_text=1, cached_text=2), "gpt-realtime") is None
    # a response without usage counts nothing
    assert totals.observe(done(None, "resp_x")) is None and totals.response_count == 1


def test_price_table_is_overridable_and_read_only() -> None:
    mine = ModelPrice(text=ModalityPrice(1.0, 0.5, 2.0), audio=ModalityPrice(10.0, 1.0, 20.0),
                      source="our contract")
    table = DEFAULT_PRICES.with_prices(as_of="2027-01-01", **{"gpt-realtime-mini": mine})
    totals = UsageTotals()
    totals.observe(done(USAGE))
    est = totals.estimate("gpt-realtime-mini", table)
    assert est is not None and est.as_of == "2027-01-01" and est.source == "our contract"
    assert est.usd == pytest.approx((57 * 1 + 256 * 0.5 + 92 * 10 + 384 * 1 + 9 * 2 + 23 * 20) / 1e6)
    assert DEFAULT_PRICES.get("gpt-realtime-mini") != mine  # the default table is unchanged
    with pytest.raises(TypeError):
        DEFAULT_PRICES.models["x"] = mine  # type: ignore[index]


def hand_cost(usages: list[dict[str, Any]], price: ModelPrice) -> float:
    """The cost of raw usage blocks, by hand (per modality: uncached, cached, output)."""
    usd = 0.0
    for u in usages:
        i, o = u["input_token_details"], u["output_token_details"]
        c = i["cached_tokens_details"]
        for m, p in (("text", price.text), ("audio", price.audio)):
            assert p.input is not None and p.cached_input is not None and p.output is not None
            usd += (i[f"{m}_tokens"] - c[f"{m}_tokens"]) * p.input + c[f"{m}_tokens"] * p.cached_input
            usd += o[f"{m}_tokens"] * p.output
    return usd / 1e6


def user_text(text: str) -> dict[str, Any]:
    return {"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}}


AUDIO_RESPONSE = {"type": "response.create", "response": {"output_modalities": ["audio"]}}


async def test_scripted_session_with_reconnect_and_rollover_sums_every_response() -> None:
    async with Emulator(config=EmulatorConfig(session_seconds=3, speed=0)) as emu:
        # the first socket is closed with 1012 after its first response: a reconnect
        emu.faults.next_connection(CloseWith(code=1012, after_type="response.done"))
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=emu.base_url, api_key=KEY, model="gpt-realtime",
            reconnect=ReconnectPolicy(
                restore="conversation", rollover=2.0, initial_delay=0.02, max_delay=0.1, jitter=False
            ),
        )
        totals = UsageTotals().attach(rt)
        raw: list[dict[str, Any]] = []
        rt.on("frame", lambda text: raw.append(json.loads(text)["response"]["usage"])
              if '"response.done"' in text[:40] else None)
        reconnected: list[dict[str, Any]] = []
        rt.on("reconnected", reconnected.append)
        for n, prompt in enumerate(["What is the time?", "And the weather?", "Thanks, bye."]):
            rt.send(user_text(prompt))
            rt.send(AUDIO_RESPONSE)
            await rt.wait_for("response.done", timeout=10)
            if n == 0:  # the server closes with 1012: wait for the restored socket
                await _until(lambda: len(reconnected) == 1)
            if n == 1:  # the 3 s session rolls over 2 s before it expires
                await _until(lambda: len(reconnected) == 2)
        await rt.close()
    assert reconnected[1].get("rollover") is True and len(emu.connections) == 3
    assert totals.response_count == 3 == len(raw)
    t = totals.total
    assert t.input_tokens == sum(u["input_tokens"] for u in raw)
    assert t.output_tokens == sum(u["output_tokens"] for u in raw)
    assert t.total_tokens == sum(u["total_tokens"] for u in raw)
    assert t.output_audio == sum(u["output_token_details"]["audio_tokens"] for u in raw) > 0
    assert totals.model == "gpt-realtime"
    # the client's own totals (rt.usage) agree, across the reconnect and the rollover
    assert rt.usage.total == totals.total and rt.usage.response_count == 3
    assert rt.usage.estimate() == totals.estimate()
    est = totals.estimate()
    price = DEFAULT_PRICES.get("gpt-realtime")
    assert est is not None and price is not None
    assert est.usd == pytest.approx(hand_cost(raw, price), rel=1e-12) and est.usd > 0


def test_blocking_client_counts_usage_too() -> None:
    with EmulatorThread(config=EmulatorConfig(speed=0)) as emu, OpenAIRealtimeWS.create(
        base_url=emu.base_url, api_key=KEY, model="gpt-realtime-1.5"
    ) as rt:
        totals = UsageTotals().attach(rt)
        rt.send(user_text("Hello there"))
        rt.send(AUDIO_RESPONSE)
        event = rt.wait_for("response.done", timeout=10)  # (after the event's handlers ran)
        assert totals.response_count == 1
        assert event.response.usage is not None
        assert totals.total.total_tokens == event.response.usage.total_tokens
        assert totals.estimate() is not None
        assert rt.usage.total == totals.total and rt.usage.model == "gpt-realtime-1.5"


async def _until(predicate: Any, timeout: float = 10) -> None:
    for _ in range(int(timeout * 100)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")
