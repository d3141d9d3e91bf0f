"""p2p_average_price (seed 003 Type II): Tables III-IV fixture, the exclusion option, a loop oracle."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.mechanisms import REGISTRY, ParamError
from transactive.mechanisms.p2p_average_price import P2pAverageParams, clear_p2p_average_price
from transactive.orders import Orders, OrdersError
from transactive.result import ClearingResult

SELLERS = Orders.single(["b1", "b2", "b3", "b4", "b5"], [10, 40, 5, 10, 50], [20, 8, 7, 15, 5])
BUYERS = Orders.single(["b6", "b7"], [50, 70], [5, 16])
MCP = (20 * 10 + 8 * 40 + 7 * 5 + 15 * 10 + 5 * 50) / (10 + 40 + 5 + 10 + 50)


@pytest.mark.parametrize("exclude", [False, True])
def test_tables_iii_iv(exclude: bool) -> None:
    r = clear_p2p_average_price(SELLERS, BUYERS, P2pAverageParams(exclude))
    assert r.price_per_kwh == pytest.approx(MCP, abs=1e-12)
    assert round(r.price_per_kwh, 2) == 8.30
    assert r.sellers.energy_kwh.tolist() == [0, 40, 0, 0, 30]
    assert r.buyers.energy_kwh.tolist() == [0, 70]
    # Table IV balances (from 600), to the printed two decimals
    assert np.round(600 + r.sellers.payment, 2).tolist() == [600, 932.17, 600, 600, 849.13]
    assert np.round(600 - r.buyers.payment, 2).tolist() == [600, 18.70]
    assert np.round(r.sellers.payment[[1, 4]], 2).tolist() == [332.17, 249.13]
    assert round(r.buyers.payment[1], 2) == 581.30
    # and exactly by the formula
    np.testing.assert_allclose(r.sellers.payment, [0, 40 * MCP, 0, 0, 30 * MCP], rtol=1e-9)
    np.testing.assert_allclose(r.buyers.payment, [0, 70 * MCP], rtol=1e-9)
    assert r.details["unmet_kwh"] == [50, 0]
    assert r.details["unsold_kwh"] == [10, 0, 5, 10, 20]
    assert r.details["participating_buyers"] == ["b7"]
    assert r.details["excluded_sellers"] == (["b1", "b4"] if exclude else [])


def test_excluding_sellers_above_the_mcp_keeps_them_from_selling_below_their_ask() -> None:
    sellers = Orders.single(["A", "B"], [10, 10], [20, 2])  # MCP = 11: A asks more
    buyers = Orders.single(["X"], [15], [12])
    faithful = clear_p2p_average_price(sellers, buyers, P2pAverageParams())
    assert faithful.price_per_kwh == 11
    assert faithful.sellers.energy_kwh.tolist() == [10, 5]  # A (kW×β = 200) first, paid 11 < 20
    excluded = clear_p2p_average_price(sellers, buyers, P2pAverageParams(exclude_sellers_above_mcp=True))
    assert excluded.price_per_kwh == 11  # eq. (1) over all sellers, computed once
    assert excluded.sellers.energy_kwh.tolist() == [0, 10]
    assert excluded.buyers.energy_kwh.tolist() == [10]
    assert excluded.details["unmet_kwh"] == [5]
    assert excluded.details["excluded_sellers"] == ["A"]


def test_short_supply_serves_buyers_in_submission_order_and_price_ties_participate() -> None:
    sellers = Orders.single(["s"], [10], [4])
    buyers = Orders.single(["x", "y", "z"], [6, 6, 6], [4, 9, 3.99])
    r = clear_p2p_average_price(sellers, buyers, P2pAverageParams())
    assert r.buyers.energy_kwh.tolist() == [6, 4, 0]  # x at exactly the MCP takes part
    assert r.details["unmet_kwh"] == [0, 2, 6]


def test_no_supply_no_price() -> None:
    r = clear_p2p_average_price(Orders.single(["s"], [0], [4]), BUYERS, P2pAverageParams())
    assert r.price_per_kwh is None
    assert r.details["unmet_kwh"] == [50, 70]
    r = clear_p2p_average_price(Orders.empty(), Orders.empty(), P2pAverageParams())
    assert r.price_per_kwh is None


def test_registered_and_validated() -> None:
    m = REGISTRY["p2p_average_price"]
    assert m.sides == ("sellers", "buyers") and m.params_type is P2pAverageParams and "seed 003" in m.source
    assert P2pAverageParams().exclude_sellers_above_mcp is False
    with pytest.raises(ParamError) as info:
        P2pAverageParams(exclude_sellers_above_mcp=1)  # type: ignore[arg-type]
    assert info.value.field == "params.exclude_sellers_above_mcp"
    with pytest.raises(OrdersError):
        clear_p2p_average_price(Orders.from_blocks(["a"], [[(1, 1), (1, 2)]]), BUYERS, P2pAverageParams())


def loop_oracle(
    s_kwh: list[float], s_price: list[float], b_kwh: list[float], b_price: list[float], exclude: bool
) -> tuple[float | None, list[float], list[float]]:
    """The contract with exact rational MCP and plain loops."""
    supply = sum(Fraction(e) for e in s_kwh)
    if supply == 0:
        return None, [0.0] * len(s_kwh), [0.0] * len(b_kwh)
    mcp = sum(Fraction(e) * Fraction(p) for e, p in zip(s_kwh, s_price, strict=True)) / supply
    takers = [j for j in range(len(b_kwh)) if Fraction(b_price[j]) >= mcp]
    need = sum(b_kwh[j] for j in takers)
    sold = [0.0] * len(s_kwh)
    for i in sorted(range(len(s_kwh)), key=lambda k: (-(s_kwh[k] * s_price[k]), k)):
        if exclude and Fraction(s_price[i]) > mcp:
            continue
        sold[i] = min(s_kwh[i], max(need, 0.0))
        need -= sold[i]
    left = sum(sold)
    bought = [0.0] * len(b_kwh)
    for j in takers:
        bought[j] = min(b_kwh[j], max(left, 0.0))
        left -= bought[j]
    return float(mcp), sold, bought


grid = st.sampled_from([0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0])
prices = st.sampled_from([1.0, 2.0, 4.0, 5.0, 7.0, 8.0, 10.0, 15.0, 20.0])


@settings(max_examples=200)
@given(
    st.lists(st.tuples(grid, prices), max_size=10),
    st.lists(st.tuples(grid, prices), max_size=6),
    st.booleans(),
)
def test_matches_loop_oracle_and_balances(
    sellers: list[tuple[float, float]], buyers: list[tuple[float, float]], exclude: bool
) -> None:
    s_kwh, s_price = [e for e, _ in sellers], [p for _, p in sellers]
    b_kwh, b_price = [e for e, _ in buyers], [p for _, p in buyers]
    r: ClearingResult = clear_p2p_average_price(
        Orders.single([f"s{i}" for i in range(len(sellers))], s_kwh, s_price),
        Orders.single([f"b{j}" for j in range(len(buyers))], b_kwh, b_price),
        P2pAverageParams(exclude),
    )
    mcp, sold, bought = loop_oracle(s_kwh, s_price, b_kwh, b_price, exclude)
    if mcp is None:
        assert r.price_per_kwh is None
    else:
        assert r.price_per_kwh == pytest.approx(mcp, rel=1e-12)
    np.testing.assert_allclose(r.sellers.energy_kwh, sold, atol=1e-9)
    np.testing.assert_allclose(r.buyers.energy_kwh, bought, atol=1e-9)
    assert r.sellers.total_payment == pytest.approx(r.buyers.total_payment, rel=1e-12, abs=1e-9)
    assert r.sellers.total_energy_kwh == pytest.approx(r.buyers.total_energy_kwh, abs=1e-9)
    if r.price_per_kwh is not None:
        traded_buyers = r.buyers.energy_kwh > 0
        assert np.all(np.array(b_price)[traded_buyers] >= r.price_per_kwh * (1 - 1e-12))
        if exclude:
            traded_sellers = r.sellers.energy_kwh > 0
            assert np.all(np.array(s_price)[traded_sellers] <= r.price_per_kwh * (1 + 1e-12))
