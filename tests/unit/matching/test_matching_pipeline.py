from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.matching.errors import MatchingError
from transactive.matching.greedy import match_naive
from transactive.matching.pipeline import (
    BusDistances,
    Coordinates,
    DistanceMatrix,
    match_energies,
    match_orders,
)
from transactive.matching.score import scores
from transactive.matching.welfare import buyer_welfare, seller_welfare
from transactive.mechanisms import NoParams
from transactive.mechanisms.dpda import DpdaParams, clear_dpda
from transactive.mechanisms.mcafee import clear_mcafee
from transactive.orders import Orders

# seed 004 Table 2.2 with welfare and distance preferences of our own
S_IDS = ["3", "24", "11", "20", "13", "6", "45", "4"]
B_IDS = ["16", "39", "10", "9", "5", "8", "12"]
RNG = np.random.default_rng(7)
SELLERS = Orders.single(
    S_IDS,
    [30, 25, 18, 40, 50, 21, 14, 70],
    [20, 10, 16, 5, 16, 25, 7, 2],
    distance_pref_m=RNG.uniform(20, 300, 8).round(),
    a=RNG.uniform(0.001, 0.01, 8),
    b=RNG.uniform(0.5, 2.0, 8),
    c=RNG.uniform(0.1, 1.0, 8),
)
BUYERS = Orders.single(
    B_IDS,
    [20, 16, 50, 70, 24, 19, 60],
    [17, 28, 6, 30, 8, 15, 23],
    distance_pref_m=RNG.uniform(20, 300, 7).round(),
    omega=RNG.uniform(30, 60, 7),
    alpha=RNG.uniform(0.05, 0.2, 7),
)
DIST = DistanceMatrix(RNG.uniform(0, 400, (7, 8)))


def dpda(s: Orders, b: Orders):  # type: ignore[no-untyped-def]
    return clear_dpda(s, b, DpdaParams())


def test_dpda_pipeline_on_table_2_2() -> None:
    out = match_orders(SELLERS, BUYERS, dpda, DIST, charge_per_km=0.002)
    # SEED-NOTES section 4: Case 3, p0 16.5, E'(S) [0, 24.25, 0, 39.25, 0, 0, 13.25, 69.25]; buyers 39, 9, 12
    assert out.price_per_kwh == 16.5
    assert out.buyer_energy_kwh.tolist() == [0, 16, 0, 70, 0, 0, 60]
    assert np.all(out.seller_energy_kwh <= np.array([0, 24.25, 0, 39.25, 0, 0, 13.25, 69.25]) + 1e-9)
    assert out.seller_energy_kwh.sum() == pytest.approx(146.0)
    assert {t.seller for t in out.trades} <= {"24", "20", "45", "4"}


def test_pipeline_trades_follow_an_independent_score_matrix() -> None:
    out = match_orders(SELLERS, BUYERS, dpda, DIST)
    e_s = np.array([0, 24.25, 0, 39.25, 0, 0, 13.25, 69.25])
    e_b = np.array([0, 16, 0, 70, 0, 0, 60.0])
    cs, cb = np.flatnonzero(e_s), np.flatnonzero(e_b)
    ws = seller_welfare(16.5, e_s[cs], *(SELLERS.attributes[k][cs] for k in "abc"))
    wb = buyer_welfare(16.5, e_b[cb], BUYERS.attributes["omega"][cb], BUYERS.attributes["alpha"][cb])
    full = scores(
        BUYERS.price_per_kwh[cb],
        seller_price_per_kwh=SELLERS.price_per_kwh[cs],
        distance_m=DIST.distance_m[np.ix_(cb, cs)],
        buyer_pref_m=BUYERS.attributes["distance_pref_m"][cb],
        seller_pref_m=SELLERS.attributes["distance_pref_m"][cs],
        buyer_welfare=wb,
        seller_welfare=ws,
        charge_per_km=0.002,
    )
    ref = match_naive(full, e_b[cb], e_s[cs])
    got = [(t.buyer, t.seller, t.energy_kwh) for t in out.trades]
    want = [
        (B_IDS[cb[b]], S_IDS[cs[s]], float(e)) for b, s, e in zip(ref.buyer, ref.seller, ref.energy_kwh, strict=True)
    ]
    assert got == want
    for t in out.trades:
        d = DIST.distance_m[B_IDS.index(t.buyer), S_IDS.index(t.seller)]
        assert t.distance_m == d and t.charge == pytest.approx(0.002 * d / 1000)


def test_quotes_balance_with_the_dso_charges() -> None:
    out = match_orders(SELLERS, BUYERS, dpda, DIST, charge_per_km=0.5)
    p0 = out.price_per_kwh
    assert p0 is not None
    for j, pid in enumerate(B_IDS):
        mine = [t for t in out.trades if t.buyer == pid]
        assert out.buyer_bill[j] == pytest.approx(sum(p0 * t.energy_kwh + t.charge / 2 for t in mine))
    for i, pid in enumerate(S_IDS):
        mine = [t for t in out.trades if t.seller == pid]
        assert out.seller_income[i] == pytest.approx(sum(p0 * t.energy_kwh - t.charge / 2 for t in mine))
    assert out.buyer_bill.sum() - out.seller_income.sum() == pytest.approx(out.total_charge)


def test_appendix_b_energies_with_given_scores_through_match_energies() -> None:
    # distances chosen so every pair lies within preferences and scores order like Table B.2 rows
    s = Orders.single(
        ["24", "20", "45", "4"],
        [24.25, 39.25, 13.25, 69.25],
        [10, 5, 7, 2],
        distance_pref_m=[1e9] * 4,
        a=[0] * 4,
        b=[0] * 4,
        c=[0] * 4,
    )
    b = Orders.single(
        ["39", "9", "12"], [16, 70, 60.0], [28, 30, 23], distance_pref_m=[1e9] * 3, omega=[100] * 3, alpha=[0.01] * 3
    )
    out = match_energies(
        s, b, DistanceMatrix(np.zeros((3, 4))), price_per_kwh=16.5, seller_kwh=s.energy_kwh, buyer_kwh=b.energy_kwh
    )
    assert out.buyer_energy_kwh.tolist() == [16, 70, 60]
    assert out.seller_energy_kwh.tolist() == [24.25, 39.25, 13.25, 69.25]
    assert out.total_charge == 0.0


def test_mcafee_pipeline_serves_mcafees_quantities() -> None:
    out = match_orders(SELLERS, BUYERS, lambda s, b: clear_mcafee(s, b, NoParams()), DIST)
    # SEED-NOTES section 3: sellers 4 (70), 20 (40), 45 (14), 24 (22); buyers 9, 39, 12; p0 16.5
    assert out.price_per_kwh == 16.5
    assert out.seller_energy_kwh.tolist() == [0, 22, 0, 40, 0, 0, 14, 70]
    assert out.buyer_energy_kwh.tolist() == [0, 16, 0, 70, 0, 0, 60]


def test_coordinates_and_bus_distances() -> None:
    c = Coordinates(np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([[0.0, 0.0]]))
    np.testing.assert_allclose(c.block(np.array([0, 1]), np.array([0])), [[0.0], [5.0]])
    bd = BusDistances(np.array([[0.0, 7.0], [7.0, 0.0]]), np.array([1, 0]), np.array([0]))
    np.testing.assert_allclose(bd.block(np.array([0, 1]), np.array([0])), [[7.0], [0.0]])


@pytest.mark.parametrize(
    ("side", "name", "value", "field"),
    [
        ("buyers", "alpha", np.nan, "buyers[1].alpha"),
        ("buyers", "alpha", 0.0, "buyers[1].alpha"),
        ("sellers", "distance_pref_m", -1.0, "sellers[1].distance_pref_m"),
        ("sellers", "a", np.inf, "sellers[1].a"),
        ("buyers", "omega", np.nan, "buyers[1].omega"),
    ],
)
def test_bad_welfare_or_preference_is_rejected(side: str, name: str, value: float, field: str) -> None:
    orders = SELLERS if side == "sellers" else BUYERS
    attrs = {k: np.array(v, dtype=np.float64) for k, v in orders.attributes.items()}
    attrs[name][1] = value
    bad = Orders.single(orders.ids, orders.energy_kwh, orders.price_per_kwh, **attrs)
    s, b = (bad, BUYERS) if side == "sellers" else (SELLERS, bad)
    with pytest.raises(MatchingError) as err:
        match_orders(s, b, dpda, DIST)
    assert err.value.field == field
    assert isinstance(err.value, ValueError)


def test_missing_attribute_and_bad_distances() -> None:
    with pytest.raises(MatchingError) as err:
        match_orders(Orders.single(["s"], [1.0], [1.0]), BUYERS, dpda, DIST)
    assert err.value.field == "sellers.distance_pref_m"
    with pytest.raises(MatchingError) as err:
        match_orders(SELLERS, BUYERS, dpda, DistanceMatrix(np.zeros((7, 7))))
    assert err.value.field == "distance_m"
    with pytest.raises(MatchingError) as err:
        DistanceMatrix(np.array([[1.0, np.nan]]))
    assert err.value.field == "distance_m[0,1]"
    with pytest.raises(MatchingError) as err:
        Coordinates(np.array([[0.0, np.nan]]), np.zeros((1, 2)))
    assert err.value.field == "buyers[0].y_m"


@settings(max_examples=60)
@given(st.integers(0, 10_000), st.integers(1, 12), st.integers(1, 12))
def test_pipeline_invariants_on_random_markets(seed: int, n_s: int, n_b: int) -> None:
    rng = np.random.default_rng(seed)
    sellers = Orders.single(
        [f"s{k}" for k in range(n_s)],
        rng.integers(1, 40, n_s).astype(float),
        rng.integers(1, 20, n_s).astype(float),  # integer prices: ties are common
        distance_pref_m=rng.uniform(0, 300, n_s),
        a=rng.uniform(0, 0.01, n_s),
        b=rng.uniform(0, 2, n_s),
        c=rng.uniform(0, 1, n_s),
    )
    buyers = Orders.single(
        [f"b{k}" for k in range(n_b)],
        rng.integers(1, 40, n_b).astype(float),
        rng.integers(1, 20, n_b).astype(float),
        distance_pref_m=rng.uniform(0, 300, n_b),
        omega=rng.uniform(10, 60, n_b),
        alpha=rng.uniform(0.05, 0.5, n_b),
    )
    dist = DistanceMatrix(rng.uniform(0, 400, (n_b, n_s)).round())
    for charge_per_km in (0.0, 0.01):
        out = match_orders(sellers, buyers, dpda, dist, charge_per_km=charge_per_km)
        auction = out.auction
        assert auction is not None
        # nobody trades more than the auction gave it; both sides of every trade add up
        assert np.all(out.buyer_energy_kwh <= auction.buyers.energy_kwh)
        assert np.all(out.seller_energy_kwh <= auction.sellers.energy_kwh)
        assert out.buyer_energy_kwh.sum() == pytest.approx(out.seller_energy_kwh.sum())
        if charge_per_km == 0:  # DPDA serves demand first: every chosen buyer is fully matched, exactly
            assert out.buyer_energy_kwh.tolist() == auction.buyers.energy_kwh.tolist()
        else:  # a charge may refuse a trade it would make irrational, never make one
            assert out.individually_rational or not auction.details["individually_rational"]
        for t in out.trades:
            j, i = int(t.buyer[1:]), int(t.seller[1:])
            assert t.distance_m == dist.distance_m[j, i]
            assert t.energy_kwh > 0
        if out.price_per_kwh is not None:
            assert out.buyer_bill.sum() - out.seller_income.sum() == pytest.approx(out.total_charge, abs=1e-9)
