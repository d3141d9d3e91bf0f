"""Wholesale trading through the auctioneer as an option of the grid stage (seed 001 §III-D, §IV-A: a fee of
0.025 $/kWh "added to or subtracted from the clearing prices of the cleared peers' buying/selling bids in the
wholesale markets", FiT 0.015 / retail 0.1 for the rest), its price series, and the settlement input's
optional ``wholesale`` field that ``transactive ledger verify`` recomputes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from transactive.crypto.eip712 import Domain
from transactive.errors import MarketError
from transactive.market.ledger.sequence import auction_input
from transactive.settlement.grid_trading import GridTariff, settle_with_grid
from transactive.settlement.input import SettlementInput
from transactive.settlement.listings import ServiceRates
from transactive.settlement.sequence import SEQUENCE_FORMAT, settle_sequence
from transactive.settlement.slot_settlement import SettlementTerms
from transactive.settlement.stages import Prosumer, settle_slot
from transactive.settlement.wholesale import (
    WholesaleSeries,
    community_series,
    mechanism_params,
    read_prices,
    settlement_field,
    synthetic_prices,
)
from transactive.units import money_to_micro

DOMAIN = Domain(1337, "0x" + "ab" * 20)
DSO = "0x" + "12" * 20
AUCTIONEER = "0x" + "34" * 20


# --------------------------------------------------------------------------------------- the rule, by hand
def test_seed_001_rule_hand_computed() -> None:
    # λ_w = 0.05, fee 0.025: a 2 kWh surplus nets (0.05 − 0.025)·2 = 0.05, a 1 kWh deficit pays (0.05 + 0.025)·1
    # = 0.075; the auctioneer keeps 0.025·3 = 0.075; the wholesale market pays 0.1 and receives 0.05
    pv, ev = settle_with_grid({"pv": 2_000, "ev": -1_000}, wholesale_price_per_kwh=0.05)
    assert (pv.route, pv.money_micro, pv.fee_micro, pv.grid_micro) == ("wholesale", 50_000, 50_000, -100_000)
    assert (ev.route, ev.money_micro, ev.fee_micro, ev.grid_micro) == ("wholesale", -75_000, 25_000, 50_000)
    # seed 001 Table II: the wholesale market's surplus normalised by its cleared energy is 0.025 $/kWh
    assert (pv.fee_micro + ev.fee_micro) / 1e6 / 3.0 == pytest.approx(0.025)


def test_a_residual_nobody_priced_takes_wholesale_only_where_it_beats_the_tariffs() -> None:
    # λ_w = 0.03: selling would net 0.03 − 0.025 = 0.005 < FiT 0.015, so the surplus feeds in (0.015·2 = 0.03);
    # buying costs 0.055 < retail 0.1, so the deficit buys wholesale. Before: the surplus sold at 0.005.
    pv, ev = settle_with_grid({"pv": 2_000, "ev": -1_000}, wholesale_price_per_kwh=0.03)
    assert (pv.route, pv.money_micro) == ("feed_in", 30_000)
    assert (ev.route, ev.money_micro, ev.fee_micro) == ("wholesale", -55_000, 25_000)
    # λ_w = 0.08: buying would cost 0.105 > retail 0.1, so the deficit buys at retail; the surplus nets 0.055
    pv, ev = settle_with_grid({"pv": 2_000, "ev": -1_000}, wholesale_price_per_kwh=0.08)
    assert (pv.route, pv.money_micro, ev.route, ev.money_micro) == ("wholesale", 110_000, "retail", -100_000)
    # a negative price never makes a price taker pay to sell
    (neg,) = settle_with_grid({"pv": 1_000}, wholesale_price_per_kwh=-0.02)
    assert (neg.route, neg.money_micro) == ("feed_in", 15_000)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from("abcdefgh"), st.integers(-10**7, 10**7), max_size=8),
       st.floats(-0.2, 0.5), st.floats(0.0, 0.1))
def test_money_balances_to_the_micro_token_and_nobody_gets_less_than_the_tariffs(
    residual: dict[str, int], price: float, fee: float,
) -> None:
    tariff = GridTariff(wholesale_fee_per_kwh=fee)
    trades = settle_with_grid(residual, tariff=tariff, wholesale_price_per_kwh=price)
    assert sum(g.money_micro + g.fee_micro + g.grid_micro for g in trades) == 0
    for g in trades:
        kwh = abs(g.energy_wh) / 1000
        if g.route == "wholesale":  # the fee, rounded once per trade, is the auctioneer's
            assert g.fee_micro == money_to_micro(fee * kwh)
            assert g.grid_micro == (-1 if g.energy_wh > 0 else 1) * money_to_micro(price * kwh)
        else:
            assert g.fee_micro == 0
        if g.energy_wh > 0:  # never less than the feed-in tariff, never more than max(FiT, λ − fee)
            assert g.money_micro >= money_to_micro(0.015 * kwh) - 1
            assert g.money_micro <= money_to_micro(max(0.015, price - fee) * kwh) + 1
        elif g.energy_wh < 0:  # never more than retail
            assert -g.money_micro <= money_to_micro(0.1 * kwh) + 1


def test_settle_slot_with_the_series_prices_the_grid_stage_and_pays_the_auctioneer() -> None:
    series = WholesaleSeries.synthetic(seed=4)
    lam = series.price_at_minute(19 * 60)
    s = settle_slot(0, [Prosumer("pv", 4.0), Prosumer("ev", -1.0)], mechanism="uniform",
                    tariff=GridTariff(wholesale_fee_per_kwh=series.fee_per_kwh), wholesale_price_per_kwh=lam)
    assert s.balance_micro == 0
    fees = sum(g.fee_micro for g in s.grid_trades if g.route == "wholesale")
    assert s.accounts["auctioneer"] == fees > 0


def test_the_grid_as_a_member_sees_it_in_a_slot() -> None:
    t = GridTariff()
    assert t.seen_at(None) is t
    seen = t.seen_at(0.06)  # sell 0.035, buy 0.085
    assert (seen.feed_in_per_kwh, seen.retail_per_kwh) == (pytest.approx(0.035), pytest.approx(0.085))
    low = t.seen_at(0.01)  # λ − fee below FiT: the tariff; λ + fee = 0.035
    assert (low.feed_in_per_kwh, low.retail_per_kwh) == (0.015, pytest.approx(0.035))
    high = t.seen_at(0.3)  # λ − fee = 0.275 above retail: they meet at retail
    assert (high.feed_in_per_kwh, high.retail_per_kwh) == (0.1, 0.1)


# --------------------------------------------------------------------------------------- the series
def test_synthetic_series_is_deterministic_and_between_the_tariffs() -> None:
    a, b = synthetic_prices(1, 0), synthetic_prices(1, 0)
    assert a.tolist() == b.tolist() and len(a) == 24
    assert synthetic_prices(2, 0).tolist() != a.tolist()
    for seed in range(20):
        p = synthetic_prices(seed, 0)
        assert p.min() > 0.015 and p.max() < 0.1
        assert p[19:22].mean() > p[12:16].mean()  # the evening peak above the midday dip


def test_a_series_prices_a_slot_by_the_interval_holding_its_start() -> None:
    s = WholesaleSeries(tuple(float(h) for h in range(24)))
    assert s.interval_minutes == 60
    assert [s.price_at_minute(m) for m in (0, 59, 60, 1439)] == [0.0, 0.0, 1.0, 23.0]
    assert WholesaleSeries(tuple(range(96))).price_at_minute(15 * 5) == 5  # type: ignore[arg-type]


@pytest.mark.parametrize(("prices", "fee", "field"), [
    ((), 0.025, "wholesale.prices_per_kwh"),
    ((0.1,) * 7, 0.025, "wholesale.prices_per_kwh"),  # 7 does not divide a day
    ((0.1, float("nan")), 0.025, "wholesale.prices_per_kwh[1]"),
    ((0.1,) * 24, -0.01, "wholesale.fee_per_kwh"),
])
def test_a_bad_series_names_the_field(prices: tuple[float, ...], fee: float, field: str) -> None:
    with pytest.raises(MarketError) as caught:
        WholesaleSeries(prices, fee)
    assert caught.value.field == field


def test_read_prices_from_csv_text_and_json(tmp_path: Path) -> None:
    csv = tmp_path / "p.csv"
    csv.write_text("hour,price\n" + "".join(f"{h},{0.04 + h / 1000}\n" for h in range(24)))
    assert read_prices(csv)[:2] == (0.04, 0.041)
    (tmp_path / "p.json").write_text("[0.05, 0.06]")
    assert read_prices(tmp_path / "p.json") == (0.05, 0.06)
    (tmp_path / "bad.txt").write_text("0.05\nfifty\n")
    with pytest.raises(MarketError) as caught:
        read_prices(tmp_path / "bad.txt")
    assert caught.value.field == "wholesale_prices" and "bad.txt:2" in caught.value.message
    with pytest.raises(MarketError):
        read_prices(tmp_path / "missing.csv")


def test_community_parameter() -> None:
    assert community_series({"pricing": "vcg"}) is None
    s = community_series({"wholesale": {"prices_per_kwh": "synthetic", "seed": 3}})
    assert s is not None and s.prices_per_kwh == WholesaleSeries.synthetic(3).prices_per_kwh
    assert s.fee_per_kwh == 0.025
    explicit = community_series({"wholesale": s.to_json()})
    assert explicit is not None and explicit.prices_per_kwh == s.prices_per_kwh
    assert mechanism_params({"pricing": "vcg", "wholesale": s.to_json()}) == {"pricing": "vcg"}
    for raw, field in (("x", "params.wholesale"), ({"fee_per_kwh": "a"}, "params.wholesale.fee_per_kwh"),
                       ({"prices_per_kwh": [0.1] * 7}, "params.wholesale.prices_per_kwh"),
                       ({"price": 1}, "params.wholesale.price"), ({"seed": -1}, "params.wholesale.seed")):
        with pytest.raises(MarketError) as caught:
            community_series({"wholesale": raw})
        assert caught.value.field == field


# --------------------------------------------------------------------------------------- the settlement input
def _input(readings_kwh: dict[str, float], wholesale: dict[str, Any] | None) -> dict[str, Any]:
    auction = auction_input(None, [], member_of={}, dso_address=DSO, terms=SettlementTerms())
    parties = sorted(readings_kwh)
    doc = SettlementInput(format=SEQUENCE_FORMAT, slot=1, clearing_slot=None, clearing_root=None, multi_slot=7,
                          **auction, parties=tuple(parties), readings_kwh=readings_kwh, missing_readings=(),
                          tariff=GridTariff(feed_in_per_kwh=0.015, retail_per_kwh=0.1),
                          rates=ServiceRates(service_charge_per_kwh=0.004, penalty_per_kwh=0.05),
                          accounts={m: f"acct:{m}" for m in parties}, dso=DSO).to_json()
    return doc if wholesale is None else {**doc, "wholesale": wholesale}  # the JSON field, read by the record


def test_the_settlement_input_carries_the_price_and_the_validators_recompute_it() -> None:
    readings = {"a": 2.0, "b": -1.0}
    old = settle_sequence(_input(readings, None), DOMAIN)  # no field: the tariffs, as every older input
    assert {p.address: p.amount_micro for p in old.postings} == {"acct:a": 30_000, "acct:b": -100_000, DSO: 70_000}
    field = {"price_per_kwh": 0.05, "fee_per_kwh": 0.025, "auctioneer": AUCTIONEER}
    new = settle_sequence(_input(readings, field), DOMAIN)
    # hand-computed as above: a nets 0.05, b pays 0.075, the auctioneer keeps 0.075, the market (DSO) −0.05
    assert {p.address: p.amount_micro for p in new.postings} == {
        "acct:a": 50_000, "acct:b": -75_000, DSO: -50_000, AUCTIONEER: 75_000}
    assert new.accounts["auctioneer"] == 75_000 and new.dso_breakdown["amount_micro"] == -50_000
    # without an auctioneer address the fee stays with the DSO's account
    no_address = settle_sequence(_input(readings, {**field, "auctioneer": None}), DOMAIN)
    assert {p.address: p.amount_micro for p in no_address.postings}[DSO] == 25_000


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from("abcdef"), st.integers(-5_000, 5_000), min_size=1, max_size=6),
       st.floats(-0.05, 0.3), st.floats(0.0, 0.05))
def test_the_sequence_with_wholesale_balances_and_matches_the_grid_rule(
    readings_wh: dict[str, int], price: float, fee: float,
) -> None:
    doc = _input({m: wh / 1000 for m, wh in readings_wh.items()},
                 {"price_per_kwh": price, "fee_per_kwh": fee, "auctioneer": AUCTIONEER})
    seq = settle_sequence(doc, DOMAIN)
    posted = {p.address: p.amount_micro for p in seq.postings}
    assert sum(posted.values()) == 0
    rule = settle_with_grid({m: wh for m, wh in sorted(readings_wh.items()) if wh},
                            tariff=GridTariff(wholesale_fee_per_kwh=fee), wholesale_price_per_kwh=price)
    assert posted.get(AUCTIONEER, 0) == sum(g.fee_micro for g in rule)
    for g in rule:
        assert posted[f"acct:{g.peer}"] == g.money_micro


def test_settlement_field_of_a_community_slot() -> None:
    params = {"wholesale": WholesaleSeries(tuple(0.01 * h for h in range(24)), 0.02).to_json()}
    assert settlement_field(params, "2026-06-22T19:15:00Z", AUCTIONEER) == {
        "price_per_kwh": pytest.approx(0.19), "fee_per_kwh": 0.02, "auctioneer": AUCTIONEER}
    assert settlement_field({}, "2026-06-22T19:15:00Z", AUCTIONEER) is None
