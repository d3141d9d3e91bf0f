"""Negawatt event lifecycle: seed 000 Cases 1-2, seed 003 Types I-II, verification, penalties, balance."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.errors import MarketError
from transactive.settlement.negawatt import (
    ListingState,
    NegawattEvent,
    add_offer,
    announce,
    clear,
    from_document,
    parse_spec,
    settle,
    to_document,
    verify_delivery,
)

ANNOUNCED = "2026-03-01T07:00:00Z"
OFFERING = "2026-03-01T07:30:00Z"
CLOSED = "2026-03-01T08:00:00Z"
AFTER = "2026-03-01T19:00:00Z"


def _event(offers: list[tuple[str, float, float]], **spec: Any) -> NegawattEvent:
    body = {"id": "e1", "target_kwh": 100, "price_per_kwh": 5, "offers_close": CLOSED,
            "window_start": "2026-03-01T17:00:00Z", "window_end": "2026-03-01T18:00:00Z"} | spec
    event = announce(parse_spec(body, "dsra", now=ANNOUNCED))
    for member, energy, price in offers:
        side = "buy" if member.startswith("buy:") else "sell"
        event = add_offer(event, member.removeprefix("buy:"),
                          {"side": side, "energy_kwh": energy, "price_per_kwh": price}, now=OFFERING)
    return event


CASE_1 = [("C1", 30, 4), ("C2", 25, 4), ("C3", 45, 150 / 45), ("C4", 10, 2), ("C5", 20, 3)]


def _postings(event: NegawattEvent) -> dict[str, int]:
    assert event.settlement is not None
    return {p["account"]: p["amount_micro"] for p in event.settlement["postings"]}


def test_seed000_case1_clears_and_case2_secondary_market_buys_the_shortfall() -> None:
    event = clear(_event(CASE_1), now=CLOSED)
    assert event.state is ListingState.CLEARED
    assert event.history == ("CLOSE", "FOR_SALE", "RESERVE_NOT_MET", "CLEARED")
    assert event.clearing is not None
    rows = {r["id"]: (r["energy_kwh"], r["payment"]) for r in event.clearing["sellers"]}
    assert rows["C1"] == pytest.approx((25, 100)) and rows["C3"] == pytest.approx((45, 195))
    assert rows["C4"] == pytest.approx((10, 40)) and rows["C5"] == pytest.approx((20, 80))
    assert rows["C2"] == (0, 0)
    # Case 2: C3 delivers 60 % of 45 kWh; C1 and C2 deliver their whole offers (5 and 25 kWh unsold)
    settled = settle(event, {"C1": 30, "C2": 25, "C3": 27, "C4": 10, "C5": 20}, now=AFTER)
    assert settled.state is ListingState.SETTLED and settled.history[-2:] == ("VERIFIED", "SETTLED")
    assert settled.settlement is not None
    (secondary,) = settled.settlement["secondary"]
    assert secondary["id"] == "C3" and secondary["shortfall_kwh"] == 18
    assert [(b[0], b[1]) for b in secondary["bought"]] == [("C1", 5), ("C2", 13)]
    assert [b[2] for b in secondary["bought"]] == pytest.approx([20, 65])  # 85 <= the 90-token budget
    assert secondary["unresolved_kwh"] == 0 and settled.settlement["penalties"] == []
    micro = 1_000_000
    assert _postings(settled) == {"aggregator:dsra": -415 * micro, "member:C1": 120 * micro, "member:C2": 65 * micro,
                                  "member:C3": 110 * micro, "member:C4": 40 * micro, "member:C5": 80 * micro}


def test_unresolved_shortfall_is_penalised_to_the_balancing_account() -> None:
    event = clear(_event(CASE_1), now=CLOSED)
    # nobody over-delivered: no capacity for a secondary market; C3's 18 kWh cost 18 × 5 = 90
    settled = settle(event, {"C1": 25, "C2": 0, "C3": 27, "C4": 10, "C5": 20}, now=AFTER)
    assert settled.settlement is not None
    assert settled.settlement["penalties"] == [{"id": "C3", "unresolved_kwh": 18.0, "penalty": 90.0}]
    postings = _postings(settled)
    assert postings["balancing"] == 90_000_000 and postings["member:C3"] == (195 - 90) * 1_000_000


def test_partial_secondary_then_penalty_at_the_documented_rate() -> None:
    event = clear(_event(CASE_1, penalty_per_kwh=6), now=CLOSED)
    # C2 delivered 8 kWh it did not sell; C3 is 18 short: buys 8 from C2, 10 unresolved × 6 = 60
    settled = settle(event, {"C1": 25, "C2": 8, "C3": 27, "C4": 10, "C5": 20}, now=AFTER)
    assert settled.settlement is not None
    (secondary,) = settled.settlement["secondary"]
    assert [(b[0], b[1]) for b in secondary["bought"]] == [("C2", 8)]
    assert secondary["bought"][0][2] == pytest.approx(8 * 6)  # VCG: replaced by the penalty fallback at 6
    assert _postings(settled)["balancing"] == 60_000_000


def test_seed003_type_i_table_ii() -> None:
    offers = [("b1", 10, 0), ("b2", 40, 0), ("b3", 38, 0), ("b4", 5, 0), ("b5", 25, 0)]
    event = clear(_event(offers, event_type="dra_fixed_price", price_per_kwh=10), now=CLOSED)
    assert event.clearing is not None
    assert [r["payment"] for r in event.clearing["sellers"]] == pytest.approx([0, 400, 380, 0, 220])
    settled = settle(event, {"b1": 0, "b2": 40, "b3": 38, "b4": 0, "b5": 22}, now=AFTER)
    assert _postings(settled)["aggregator:dsra"] == -1000_000_000


def test_seed003_type_ii_tables_iii_iv() -> None:
    offers = [("b1", 10, 20), ("b2", 40, 8), ("b3", 5, 7), ("b4", 10, 15), ("b5", 50, 5),
              ("buy:b6", 50, 5), ("buy:b7", 70, 16)]
    event = clear(_event(offers, event_type="p2p_average_price", price_per_kwh=None, penalty_per_kwh=10),
                  now=CLOSED)
    assert event.clearing is not None
    assert event.clearing["price_per_kwh"] == pytest.approx(955 / 115)
    settled = settle(event, {"b2": 40, "b5": 30}, now=AFTER)
    postings = _postings(settled)
    assert postings["member:b7"] == -round(70 * 955 / 115 * 1e6)
    assert postings["member:b2"] == pytest.approx(40 * 955 / 115 * 1e6, abs=1)
    assert postings["member:b5"] == pytest.approx(30 * 955 / 115 * 1e6, abs=1)
    assert sum(postings.values()) == 0


def test_offers_validated_by_field_and_late_offers_rejected() -> None:
    event = _event([])
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"energy_kwh": -1, "price_per_kwh": 1}, "energy_kwh", "invalid"),
        ({"energy_kwh": "3", "price_per_kwh": 1}, "energy_kwh", "invalid"),
        ({"energy_kwh": 3}, "price_per_kwh", "invalid"),
        ({"energy_kwh": 3, "price_per_kwh": float("nan")}, "price_per_kwh", "invalid"),
        ({"side": "buy", "energy_kwh": 3, "price_per_kwh": 1}, "side", "invalid"),
        ({"energy_kwh": 3, "price_per_kwh": 1, "colour": 1}, "colour", "invalid"),
    ]
    for body, field, kind in cases:
        with pytest.raises(MarketError) as caught:
            add_offer(event, "p1", body, now=OFFERING)
        assert (caught.value.field, caught.value.kind) == (field, kind)
    with pytest.raises(MarketError) as late:
        add_offer(event, "p1", {"energy_kwh": 3, "price_per_kwh": 1}, now=CLOSED)
    assert (late.value.field, late.value.kind) == ("offers_close", "too_late")
    event = add_offer(event, "p1", {"energy_kwh": 3, "price_per_kwh": 1}, now=OFFERING)
    with pytest.raises(MarketError) as twice:
        add_offer(event, "p1", {"energy_kwh": 3, "price_per_kwh": 1}, now=OFFERING)
    assert twice.value.kind == "conflict"
    with pytest.raises(MarketError) as own:
        add_offer(event, "dsra", {"energy_kwh": 3, "price_per_kwh": 1}, now=OFFERING)
    assert own.value.kind == "forbidden"


def test_lifecycle_order_is_enforced() -> None:
    event = _event(CASE_1)
    with pytest.raises(MarketError, match="offers_close"):
        clear(event, now=OFFERING)
    with pytest.raises(MarketError, match="not CLEARED"):
        settle(event, {}, now=AFTER)
    cleared = clear(event, now=CLOSED)
    with pytest.raises(MarketError, match="window_end"):
        settle(cleared, {}, now="2026-03-01T17:30:00Z")
    void = clear(_event([]), now=CLOSED)
    assert void.state is ListingState.CLOSE and void.note == "no reduction offers"
    assert from_document(to_document(cleared)) == cleared


@pytest.mark.parametrize(("change", "field"), [
    ({"target_kwh": 0}, "target_kwh"), ({"event_type": "uniform"}, "event_type"),
    ({"offers_close": "2026-03-01T06:00:00Z"}, "offers_close"),
    ({"window_start": "2026-03-01T07:30:00Z"}, "window_start"),
    ({"window_end": "2026-03-01T17:00:00Z"}, "window_end"),
    ({"window_end": "2026-03-02T01:00:00Z"}, "window_end"),
    ({"window_start": "2026-03-01T17:20:00Z"}, "window_start"),
    ({"baseline": {"x_days": 6, "y_days": 5}}, "baseline.y_days"),
    ({"price_per_kwh": None}, "price_per_kwh"), ({"id": "bad id"}, "id"),
])
def test_announcement_fields_are_validated(change: dict[str, Any], field: str) -> None:
    with pytest.raises(MarketError) as caught:
        _event([], **change)
    assert caught.value.field == field


def test_verify_delivery_from_interval_meter_data() -> None:
    spec = _event([]).spec  # hourly intervals, window 17:00-18:00, adjustment window 13:00-16:00
    history = np.full((10, 24), 10.0)
    today = np.full(24, 10.0)
    today[17] = 6.0
    delivered, baseline = verify_delivery(spec, history, np.ones(10, dtype=bool), today)
    assert delivered == pytest.approx(4.0) and baseline.factor == pytest.approx(1.0)
    today[13:16] = 11.0  # a warmer day: the baseline scales by 33/30 = 1.1 before the event
    delivered, baseline = verify_delivery(spec, history, np.ones(10, dtype=bool), today)
    assert baseline.factor == pytest.approx(1.1) and delivered == pytest.approx(11.0 - 6.0)
    with pytest.raises(MarketError) as caught:
        verify_delivery(spec, history[:, :12], np.ones(10, dtype=bool), today)
    assert caught.value.field == "history_kwh"


offer_st = st.tuples(st.integers(1, 400).map(lambda w: w / 8), st.integers(0, 80).map(lambda c: c / 8))


@settings(max_examples=120, deadline=None)
@given(offers=st.lists(offer_st, min_size=1, max_size=7), target=st.integers(1, 200),
       prices=st.tuples(st.integers(0, 10), st.integers(0, 12)), event_type=st.sampled_from(
           ["knapsack_vcg", "dra_fixed_price", "p2p_average_price"]), data=st.data())
def test_postings_balance_to_the_micro_token(offers: list[tuple[float, float]], target: int,
                                             prices: tuple[int, int], event_type: str, data: st.DataObject) -> None:
    reserve, penalty = prices
    named = [(f"p{k}", e, c) for k, (e, c) in enumerate(offers)]
    bids = []
    if event_type == "p2p_average_price":
        bids = [(f"buy:q{k}", e, c) for k, (e, c) in enumerate(data.draw(st.lists(offer_st, min_size=1, max_size=4)))]
    event = clear(_event(named + bids, target_kwh=target, price_per_kwh=None if bids else reserve,
                         penalty_per_kwh=penalty, event_type=event_type), now=CLOSED)
    delivered = {m: data.draw(st.floats(0, 2 * e)) for m, e, _ in named}
    settled = settle(event, delivered, now=AFTER)
    assert settled.settlement is not None
    postings = _postings(settled)
    assert sum(postings.values()) == 0  # Σ debits = Σ credits, aggregator and balancing account included
    for s in settled.settlement["secondary"]:
        spent = sum(b[2] for b in s["bought"])
        assert spent <= s["shortfall_kwh"] * penalty + 1e-6  # the penalty is the secondary budget
        assert sum(b[1] for b in s["bought"]) + s["unresolved_kwh"] == pytest.approx(s["shortfall_kwh"])


json_leaf = st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.just(10**400) | st.floats() | \
    st.text(max_size=30) | st.sampled_from(["2026-03-01T17:00:00Z", "0001-01-01T00:00:00+14:00",
                                            "9999-12-31T23:59:59-14:00"])
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
spec_keys = st.sampled_from(["id", "event_type", "target_kwh", "price_per_kwh", "penalty_per_kwh", "offers_close",
                             "window_start", "window_end", "interval_minutes", "baseline"])


@settings(max_examples=200, deadline=None)
@given(change=st.dictionaries(spec_keys, json_value, max_size=4), offer=st.dictionaries(
    st.sampled_from(["side", "energy_kwh", "price_per_kwh", "x"]), json_value, max_size=3))
def test_any_input_is_accepted_or_rejected_by_name(change: dict[str, Any], offer: dict[str, Any]) -> None:
    body = {"id": "e1", "target_kwh": 100, "price_per_kwh": 5, "offers_close": CLOSED,
            "window_start": "2026-03-01T17:00:00Z", "window_end": "2026-03-01T18:00:00Z"} | change
    try:
        event = announce(parse_spec(body, "dsra", now=ANNOUNCED))
    except MarketError as exc:
        assert exc.field
        event = _event([])
    try:
        add_offer(event, "p1", offer, now=OFFERING)
    except MarketError as exc:
        assert exc.field
