"""Main-grid stage: seed 001's tariffs (FiT 0.015, retail 0.1) and wholesale fee (0.025 per kWh)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.errors import MarketError
from transactive.settlement.grid_trading import GridTariff, settle_with_grid


def test_defaults_are_seed_001_case_study_rates() -> None:
    t = GridTariff()
    assert (t.feed_in_per_kwh, t.retail_per_kwh, t.wholesale_fee_per_kwh) == (0.015, 0.1, 0.025)


def test_tariffs_hand_computed() -> None:
    # 10 kWh sold at 0.015 = 0.15 tokens; 4 kWh bought at 0.1 = 0.40 tokens
    trades = settle_with_grid({"a": 10_000, "b": -4_000, "c": 0})
    assert [(g.route, g.money_micro, g.fee_micro) for g in trades] == [
        ("feed_in", 150_000, 0), ("retail", -400_000, 0), ("none", 0, 0)]
    assert [g.grid_micro for g in trades] == [-150_000, 400_000, 0]


def test_wholesale_fee_added_to_buys_subtracted_from_sells() -> None:
    # λ_w = 0.04: seller nets (0.04 - 0.025) * 10 = 0.15, buyer pays (0.04 + 0.025) * 4 = 0.26
    trades = settle_with_grid({"a": 10_000, "b": -4_000}, wholesale_price_per_kwh=0.04)
    assert [(g.route, g.money_micro) for g in trades] == [("wholesale", 150_000), ("wholesale", -260_000)]
    fees = sum(g.fee_micro for g in trades)
    # seed 001 Table II: the wholesale surplus normalised by cleared energy is 0.025 $/kWh
    assert fees / 1e6 / 14.0 == pytest.approx(0.025)


def test_uncleared_wholesale_bids_fall_back_to_the_tariffs() -> None:
    trades = settle_with_grid(
        {"s": 1_000, "b": -1_000}, wholesale_price_per_kwh=0.05, limit_price_per_kwh={"s": 0.06, "b": 0.04})
    assert [g.route for g in trades] == ["feed_in", "retail"]
    trades = settle_with_grid(
        {"s": 1_000, "b": -1_000}, wholesale_price_per_kwh=0.05, limit_price_per_kwh={"s": 0.05, "b": 0.05})
    assert [g.route for g in trades] == ["wholesale", "wholesale"]


def test_alternatives() -> None:
    t = GridTariff()
    assert t.sell_alternative_per_kwh() == 0.015 and t.buy_alternative_per_kwh() == 0.1
    assert t.sell_alternative_per_kwh(0.03) == 0.015  # 0.03 - 0.025 < FiT
    assert t.sell_alternative_per_kwh(0.06) == pytest.approx(0.035)
    assert t.buy_alternative_per_kwh(0.06) == pytest.approx(0.085)
    assert t.buy_alternative_per_kwh(0.09) == 0.1


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"feed_in_per_kwh": -0.1}, "tariff.feed_in_per_kwh"),
    ({"retail_per_kwh": float("nan")}, "tariff.retail_per_kwh"),
    ({"feed_in_per_kwh": 0.2}, "tariff.feed_in_per_kwh"),
    ({"wholesale_fee_per_kwh": -1.0}, "tariff.wholesale_fee_per_kwh"),
])
def test_invalid_tariffs_name_the_field(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(MarketError) as err:
        GridTariff(**kwargs)
    assert err.value.field == field


def test_invalid_residual_names_the_peer() -> None:
    with pytest.raises(MarketError) as err:
        settle_with_grid({"x": 1.5})  # type: ignore[dict-item]
    assert err.value.field == "residual_wh[x]"


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=3), st.integers(-10**7, 10**7), max_size=8),
       st.one_of(st.none(), st.floats(-0.1, 0.5)))
def test_money_is_conserved_and_every_residual_balanced(residual: dict[str, int], price: float | None) -> None:
    trades = settle_with_grid(residual, wholesale_price_per_kwh=price)
    assert [g.energy_wh for g in trades] == list(residual.values())
    assert sum(g.money_micro + g.fee_micro + g.grid_micro for g in trades) == 0
    for g in trades:  # a seller never pays more than it receives at a fee; a buyer never receives on retail
        if g.route == "retail":
            assert g.money_micro <= 0
        if g.route == "feed_in":
            assert g.money_micro >= 0
