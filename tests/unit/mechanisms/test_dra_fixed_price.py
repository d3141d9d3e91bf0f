"""dra_fixed_price (seed 003 Type I): Table II fixture, a loop oracle, invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.mechanisms import REGISTRY, ParamError
from transactive.mechanisms.dra_fixed_price import DraParams, clear_dra_fixed_price
from transactive.orders import Orders, OrdersError
from transactive.units import at_energy_resolution


def offers(energy: list[float], price: list[float] | None = None) -> Orders:
    ids = [f"b{i + 1}" for i in range(len(energy))]
    return Orders.single(ids, energy, price if price is not None else [0.0] * len(energy))


def test_table_ii() -> None:
    r = clear_dra_fixed_price(offers([10, 40, 38, 5, 25]), Orders.empty(), DraParams(100, 10))
    assert r.sellers.energy_kwh.tolist() == [0, 40, 38, 0, 22]
    assert r.sellers.payment.tolist() == [0, 400, 380, 0, 220]
    assert (500 + r.sellers.payment).tolist() == [500, 900, 880, 500, 720]  # balances after
    assert r.details["unsold_kwh"] == [10, 0, 0, 5, 3]
    assert r.details["unmet_kwh"] == 0
    assert r.details["total_payment"] == 1000
    assert r.price_per_kwh == 10
    assert r.buyers.energy_kwh.size == 0
    assert r.details["listing_states"] == ["CLOSE", "FOR_SALE", "RESERVE_NOT_MET", "CLOSE"]


def test_prices_are_ignored() -> None:
    priced = offers([10, 40, 38, 5, 25], [99, 1, 50, 0, 3])
    a = clear_dra_fixed_price(priced, Orders.empty(), DraParams(100, 10))
    assert a.sellers.energy_kwh.tolist() == [0, 40, 38, 0, 22]


def test_equal_quantities_keep_submission_order_and_short_supply_is_unmet() -> None:
    r = clear_dra_fixed_price(offers([5, 8, 8, 2]), Orders.empty(), DraParams(12, 2.5))
    assert r.sellers.energy_kwh.tolist() == [0, 8, 4, 0]
    r = clear_dra_fixed_price(offers([5, 8]), Orders.empty(), DraParams(20, 2.5))
    assert r.sellers.energy_kwh.tolist() == [5, 8]
    assert r.details["unmet_kwh"] == 7
    assert r.details["total_payment"] == 32.5


def test_no_offers() -> None:
    r = clear_dra_fixed_price(Orders.empty(), Orders.empty(), DraParams(3, 1))
    assert r.details["unmet_kwh"] == 3 and r.details["total_payment"] == 0 and r.details["unsold_kwh"] == []


def test_registered() -> None:
    m = REGISTRY["dra_fixed_price"]
    assert m.sides == ("sellers",) and m.params_type is DraParams and "seed 003" in m.source
    assert not m.price_required  # the market file may omit a building's price


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"request_kwh": 0, "offer_price_per_kwh": 1}, "params.request_kwh"),
        ({"request_kwh": math.inf, "offer_price_per_kwh": 1}, "params.request_kwh"),
        ({"request_kwh": "1", "offer_price_per_kwh": 1}, "params.request_kwh"),
        ({"request_kwh": 1, "offer_price_per_kwh": -1}, "params.offer_price_per_kwh"),
        ({"request_kwh": 1, "offer_price_per_kwh": math.nan}, "params.offer_price_per_kwh"),
        ({"request_kwh": 1, "offer_price_per_kwh": None}, "params.offer_price_per_kwh"),
    ],
)
def test_params_are_validated(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ParamError) as info:
        DraParams(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_invalid_sides_are_rejected() -> None:
    with pytest.raises(OrdersError, match="buyers"):
        clear_dra_fixed_price(offers([1]), offers([1]), DraParams(1, 1))
    with pytest.raises(OrdersError, match="sellers"):
        clear_dra_fixed_price(Orders.from_blocks(["a"], [[(1, 0), (2, 0)]]), Orders.empty(), DraParams(1, 1))


def loop_oracle(energy: list[float], request: float) -> list[float]:
    """The contract as a plain loop: largest quantity first (ties: earlier first), fill until met."""
    sold = [0.0] * len(energy)
    remaining = request
    for i in sorted(range(len(energy)), key=lambda k: (-energy[k], k)):
        take = min(energy[i], max(remaining, 0.0))
        sold[i] = take
        remaining -= take
    return sold


@settings(max_examples=200)
@given(
    st.lists(st.one_of(st.sampled_from([0.0, 1.0, 5.0, 8.0]), st.floats(0, 50, allow_subnormal=False)),
             max_size=15),
    st.one_of(st.sampled_from([1.0, 10.0, 30.0]), st.floats(0.01, 300)),
    st.floats(0, 20),
)
def test_matches_loop_oracle_and_invariants(energy: list[float], request: float, price: float) -> None:
    energy = at_energy_resolution(energy).tolist()  # as the market holds them (Orders round at the boundary)
    r = clear_dra_fixed_price(offers(energy), Orders.empty(), DraParams(request, price))
    sold = r.sellers.energy_kwh
    np.testing.assert_allclose(sold, loop_oracle(energy, request), rtol=1e-12, atol=1e-9)
    total = math.fsum(energy)
    assert sold.sum() == pytest.approx(min(request, total), rel=1e-12, abs=1e-9)
    assert r.details["unmet_kwh"] == pytest.approx(max(0.0, request - total), rel=1e-9, abs=1e-9)
    np.testing.assert_allclose(r.sellers.payment, sold * price, rtol=1e-15)
    np.testing.assert_allclose(np.array(r.details["unsold_kwh"]) + sold, energy, rtol=1e-12, atol=1e-9)
    assert r.details["total_payment"] == pytest.approx(float(r.sellers.payment.sum()))
