"""Block-bid double auction with VCG (seed 001 eq. 1-11).

Oracles: the SEED-NOTES section 2 fixture (recomputed by hand and with an LP), the WDP as an LP solved by
HiGHS (welfare and every ``J(D^-i)``), the naive re-clearing without each agent, and invariants.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from transactive.mechanisms import REGISTRY, ParamError
from transactive.mechanisms._block_book import Curve, clear_curves
from transactive.mechanisms._clarke_pivot import _naive_clarke_pivots, clarke_pivots
from transactive.mechanisms.double_auction_vcg import DoubleAuctionParams, clear_double_auction_vcg
from transactive.orders import Orders

TOL = 1e-9
# HiGHS defaults accept reduced costs below 1e-7 as optimal; tighten so the oracle resolves 1e-9 tokens
HIGHS_TIGHT = {"dual_feasibility_tolerance": 1e-10, "primal_feasibility_tolerance": 1e-10}
Blocks = list[list[tuple[float, float]]]


def fixture() -> tuple[Orders, Orders]:
    sellers = Orders.from_blocks(["G1", "G2"], [[(10, 0.05), (10, 0.08)], [(15, 0.06)]])
    buyers = Orders.from_blocks(["D1", "D2"], [[(12, 0.20), (8, 0.07)], [(10, 0.12), (5, 0.04)]])
    return sellers, buyers


# ---------------------------------------------------------------------------------------------- oracles
def lp_welfare(s_e: np.ndarray, s_p: np.ndarray, d_e: np.ndarray, d_p: np.ndarray) -> float:
    """WDP (1) as an LP: max Σ λ_D l - Σ λ_G p, Σ p = Σ l, 0 <= p <= P, 0 <= l <= L (HiGHS)."""
    if len(s_e) == 0 or len(d_e) == 0:
        return 0.0
    c = np.concatenate((s_p, -d_p))
    a_eq = np.concatenate((np.ones(len(s_e)), -np.ones(len(d_e))))[None, :]
    bounds = [(0.0, float(x)) for x in np.concatenate((s_e, d_e))]
    res = linprog(c, A_eq=a_eq, b_eq=[0.0], bounds=bounds, method="highs", options=HIGHS_TIGHT)
    assert res.status == 0
    return float(-res.fun)


def lp_pivots(sellers: Orders, buyers: Orders) -> tuple[np.ndarray, np.ndarray]:
    """J(D) - J(D^-i) with every J an LP re-solve."""
    j = lp_welfare(sellers.energy_kwh, sellers.price_per_kwh, buyers.energy_kwh, buyers.price_per_kwh)
    s = np.array([
        j - lp_welfare(sellers.energy_kwh[sellers.owner != i], sellers.price_per_kwh[sellers.owner != i],
                       buyers.energy_kwh, buyers.price_per_kwh)
        for i in range(sellers.n)
    ])
    b = np.array([
        j - lp_welfare(sellers.energy_kwh, sellers.price_per_kwh, buyers.energy_kwh[buyers.owner != i],
                       buyers.price_per_kwh[buyers.owner != i])
        for i in range(buyers.n)
    ])
    return s, b


def convex_cost(blocks: list[tuple[float, float]], q: float) -> float:
    """True cost of producing q kWh from a seller's blocks (cheapest first); inf beyond capacity."""
    left, total = q, 0.0
    for e, p in sorted(blocks, key=lambda b: b[1]):
        take = min(e, left)
        total += take * p
        left -= take
    return total if left <= 1e-9 else float("inf")


def concave_value(blocks: list[tuple[float, float]], q: float) -> float:
    """True value of consuming q kWh for a buyer's blocks (dearest first); -inf beyond its demand."""
    left, total = q, 0.0
    for e, p in sorted(blocks, key=lambda b: -b[1]):
        take = min(e, left)
        total += take * p
        left -= take
    return total if left <= 1e-9 else float("-inf")


# ---------------------------------------------------------------------------------------------- strategies
quantity = st.one_of(st.integers(0, 20).map(lambda k: k * 0.5), st.floats(0.0, 10.0))
price = st.one_of(st.integers(0, 30).map(lambda k: k * 0.01), st.floats(0.0, 0.3))
agent = st.lists(st.tuples(quantity, price), min_size=1, max_size=3)
side = st.lists(agent, min_size=0, max_size=6)


@dataclass(repr=True)
class Book:
    seller_blocks: Blocks
    buyer_blocks: Blocks

    def orders(self) -> tuple[Orders, Orders]:
        s = Orders.from_blocks([f"s{i}" for i in range(len(self.seller_blocks))], self.seller_blocks)
        b = Orders.from_blocks([f"b{i}" for i in range(len(self.buyer_blocks))], self.buyer_blocks)
        return s, b


books = st.builds(Book, side, side)


def clear(s: Orders, b: Orders, **kw: object) -> object:
    return clear_double_auction_vcg(s, b, DoubleAuctionParams(**kw))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- fixture
@pytest.mark.parametrize(
    ("kw", "received", "paid", "surplus"),
    [
        ({}, [1.05, 1.25], [0.90, 0.65], -0.75),
        ({"auctioneer_share": 0.01, "miner_share": 0.01}, [1.04, 1.232], [0.8478, 0.626], None),
        ({"pricing": "balanced_budget"}, [0.60, 0.90], [0.90, 0.65], 0.05),
        ({"pricing": "uniform"}, [0.60, 0.90], [0.90, 0.60], 0.0),
    ],
)
def test_seed_notes_fixture(kw: dict[str, object], received: list[float], paid: list[float],
                            surplus: float | None) -> None:
    s, b = fixture()
    r = clear_double_auction_vcg(s, b, DoubleAuctionParams(**kw))  # type: ignore[arg-type]
    assert r.mechanism == "double_auction_vcg"
    assert r.details["welfare"] == pytest.approx(2.41, abs=TOL)
    assert r.details["uniform_price_per_kwh"] == pytest.approx(0.06, abs=TOL)
    np.testing.assert_allclose(r.sellers.energy_kwh, [10, 15], atol=TOL)
    np.testing.assert_allclose(r.buyers.energy_kwh, [15, 10], atol=TOL)
    np.testing.assert_allclose(r.sellers.payment, received, atol=TOL)
    np.testing.assert_allclose(r.buyers.payment, paid, atol=TOL)
    if surplus is not None:
        assert r.details["surplus"] == pytest.approx(surplus, abs=TOL)
    # ME (4) = costs 0.5 + 0.9 plus values 2.61 + 1.2
    assert r.details["market_exchange"] == pytest.approx(5.21, abs=TOL)
    share = kw.get("auctioneer_share", 0.0)
    assert r.details["auctioneer_reward"] == pytest.approx(float(share) * 5.21, abs=TOL)  # type: ignore[arg-type]


def test_fixture_block_energies_and_prices() -> None:
    s, b = fixture()
    r = clear(s, b, pricing="uniform")
    assert r.price_per_kwh == pytest.approx(0.06)  # type: ignore[attr-defined]
    assert r.details["seller_block_energy_kwh"] == [10.0, 0.0, 15.0]  # type: ignore[attr-defined]
    assert r.details["buyer_block_energy_kwh"] == [12.0, 3.0, 10.0, 0.0]  # type: ignore[attr-defined]
    assert clear(s, b).price_per_kwh is None  # type: ignore[attr-defined]


def test_fixture_pay_as_bid_and_trade_reduction() -> None:
    s, b = fixture()
    r = clear(s, b, pricing="pay_as_bid")
    np.testing.assert_allclose(r.sellers.payment, [0.5, 0.9], atol=TOL)  # type: ignore[attr-defined]
    np.testing.assert_allclose(r.buyers.payment, [2.4 + 0.21, 1.2], atol=TOL)  # type: ignore[attr-defined]
    # trade reduction: marginal supply block G2 [15 @0.06] starts at 10 kWh, marginal demand block
    # D1 [8 @0.07] at 22 kWh: 10 kWh trade (G1's first block, D1's first block);
    # sellers get 0.06, buyers pay 0.07
    r = clear(s, b, pricing="trade_reduction")
    np.testing.assert_allclose(r.sellers.energy_kwh, [10, 0], atol=TOL)  # type: ignore[attr-defined]
    np.testing.assert_allclose(r.buyers.energy_kwh, [10, 0], atol=TOL)  # type: ignore[attr-defined]
    np.testing.assert_allclose(r.sellers.payment, [0.6, 0], atol=TOL)  # type: ignore[attr-defined]
    np.testing.assert_allclose(r.buyers.payment, [0.7, 0], atol=TOL)  # type: ignore[attr-defined]
    assert r.details["surplus"] == pytest.approx(0.1, abs=TOL)  # type: ignore[attr-defined]
    assert r.details["welfare"] == pytest.approx(10 * 0.20 - 10 * 0.05, abs=TOL)  # type: ignore[attr-defined]


def test_slot_hours_only_converts_power() -> None:
    s, b = fixture()
    r1 = clear(s, b)
    r2 = clear(s, b, slot_hours=0.25)
    np.testing.assert_array_equal(r1.sellers.payment, r2.sellers.payment)  # type: ignore[attr-defined]
    assert r2.details["traded_kw"] == pytest.approx(100.0)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------- params
@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"pricing": "first_price"}, "params.pricing"),
        ({"auctioneer_share": -0.1}, "params.auctioneer_share"),
        ({"miner_share": float("nan")}, "params.miner_share"),
        ({"auctioneer_share": 0.5, "miner_share": 0.5}, "params.miner_share"),
        ({"slot_hours": 0.0}, "params.slot_hours"),
        ({"slot_hours": float("inf")}, "params.slot_hours"),
    ],
)
def test_params_are_validated(kw: dict[str, object], field: str) -> None:
    with pytest.raises(ParamError) as info:
        DoubleAuctionParams(**kw)  # type: ignore[arg-type]
    assert info.value.field == field


def test_registered_with_block_bids() -> None:
    m = REGISTRY["double_auction_vcg"]
    assert m.block_bids
    assert m.params_type is DoubleAuctionParams
    s, b = fixture()
    assert m.run(s, b, DoubleAuctionParams()).sellers.payment[0] == pytest.approx(1.05)


def test_no_trade_and_empty_sides() -> None:
    s = Orders.from_blocks(["s"], [[(5, 0.3)]])
    b = Orders.from_blocks(["b"], [[(5, 0.1)]])
    for pricing in ("vcg", "balanced_budget", "uniform", "pay_as_bid", "trade_reduction"):
        r = clear(s, b, pricing=pricing)
        assert r.sellers.payment.tolist() == [0.0] and r.buyers.payment.tolist() == [0.0]  # type: ignore[attr-defined]
        assert r.details["uniform_price_per_kwh"] is None  # type: ignore[attr-defined]
        r = clear(Orders.empty(), b, pricing=pricing)
        assert r.buyers.energy_kwh.tolist() == [0.0]  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------- properties
@settings(max_examples=150)
@given(books)
def test_welfare_and_pivots_match_lp_and_naive(book: Book) -> None:
    s, b = book.orders()
    supply = Curve.ascending(s.energy_kwh, s.price_per_kwh, s.owner)
    demand = Curve.descending(b.energy_kwh, b.price_per_kwh, b.owner)
    c = clear_curves(supply, demand)
    assert c.welfare == pytest.approx(
        lp_welfare(s.energy_kwh, s.price_per_kwh, b.energy_kwh, b.price_per_kwh), abs=TOL)
    fast_s, fast_b = clarke_pivots(supply, demand, c.quantity_kwh, s.n, b.n)
    naive_s, naive_b = _naive_clarke_pivots(s, b)
    lp_s, lp_b = lp_pivots(s, b)
    np.testing.assert_allclose(fast_s, naive_s, atol=TOL, rtol=0)
    np.testing.assert_allclose(fast_b, naive_b, atol=TOL, rtol=0)
    np.testing.assert_allclose(fast_s, lp_s, atol=TOL, rtol=0)
    np.testing.assert_allclose(fast_b, lp_b, atol=TOL, rtol=0)


@settings(max_examples=150)
@given(books)
def test_vcg_invariants(book: Book) -> None:
    s, b = book.orders()
    r = clear(s, b)
    blocks_s = np.array(r.details["seller_block_energy_kwh"])  # type: ignore[attr-defined]
    blocks_b = np.array(r.details["buyer_block_energy_kwh"])  # type: ignore[attr-defined]
    assert np.all(blocks_s >= 0) and np.all(blocks_s <= s.energy_kwh)
    assert np.all(blocks_b >= 0) and np.all(blocks_b <= b.energy_kwh)
    assert r.sellers.energy_kwh.sum() == pytest.approx(r.buyers.energy_kwh.sum(), abs=TOL)  # type: ignore[attr-defined]
    np.testing.assert_allclose(r.sellers.energy_kwh, s.per_participant(blocks_s), atol=TOL)  # type: ignore[attr-defined]
    # individual rationality (X = 0): receive >= cost of cleared blocks, pay <= value of cleared blocks
    cost = s.per_participant(blocks_s * s.price_per_kwh)
    value = b.per_participant(blocks_b * b.price_per_kwh)
    assert np.all(r.sellers.payment >= cost - TOL)  # type: ignore[attr-defined]
    assert np.all(r.buyers.payment <= value + TOL)  # type: ignore[attr-defined]
    # determinism: the same book gives bit-identical results
    r2 = clear(s, b)
    np.testing.assert_array_equal(r.sellers.payment, r2.sellers.payment)  # type: ignore[attr-defined]
    np.testing.assert_array_equal(r.buyers.payment, r2.buyers.payment)  # type: ignore[attr-defined]
    assert r.details == r2.details  # type: ignore[attr-defined]


@settings(max_examples=150)
@given(books)
def test_budget_rules(book: Book) -> None:
    s, b = book.orders()
    vcg = clear(s, b)
    bb = clear(s, b, pricing="balanced_budget")
    uni = clear(s, b, pricing="uniform")
    tr = clear(s, b, pricing="trade_reduction")
    assert bb.details["surplus"] >= -TOL  # type: ignore[attr-defined]
    assert uni.details["surplus"] == pytest.approx(0.0, abs=TOL)  # type: ignore[attr-defined]
    # balanced budget: each agent gets the worse of VCG and uniform (9)-(10)
    np.testing.assert_allclose(bb.sellers.payment,  # type: ignore[attr-defined]
                               np.minimum(vcg.sellers.payment, uni.sellers.payment), atol=TOL)  # type: ignore[attr-defined]
    np.testing.assert_allclose(bb.buyers.payment,  # type: ignore[attr-defined]
                               np.maximum(vcg.buyers.payment, uni.buyers.payment), atol=TOL)  # type: ignore[attr-defined]
    # trade reduction: budget surplus >= 0, individually rational, never more welfare than J
    assert tr.details["surplus"] >= -TOL  # type: ignore[attr-defined]
    ts = np.array(tr.details["seller_block_energy_kwh"])  # type: ignore[attr-defined]
    tb = np.array(tr.details["buyer_block_energy_kwh"])  # type: ignore[attr-defined]
    assert ts.sum() == pytest.approx(tb.sum(), abs=TOL)
    assert np.all(tr.sellers.payment >= s.per_participant(ts * s.price_per_kwh) - TOL)  # type: ignore[attr-defined]
    assert np.all(tr.buyers.payment <= b.per_participant(tb * b.price_per_kwh) + TOL)  # type: ignore[attr-defined]
    assert tr.details["welfare"] <= vcg.details["welfare"] + TOL  # type: ignore[attr-defined]
    assert vcg.details["welfare"] == pytest.approx(vcg.details["wdp_welfare"], abs=TOL)  # type: ignore[attr-defined]


@settings(max_examples=150)
@given(books, st.data())
def test_no_profitable_misreport_under_vcg(book: Book, data: st.DataObject) -> None:
    is_seller = data.draw(st.booleans())
    own_side = book.seller_blocks if is_seller else book.buyer_blocks
    assume(len(own_side) > 0)
    i = data.draw(st.integers(0, len(own_side) - 1))
    true_blocks = own_side[i]
    lie = data.draw(agent)
    s, b = book.orders()
    truthful = clear(s, b)

    def utility(r: object) -> float:
        if is_seller:
            q = float(r.sellers.energy_kwh[i])  # type: ignore[attr-defined]
            return float(r.sellers.payment[i]) - convex_cost(true_blocks, q)  # type: ignore[attr-defined]
        q = float(r.buyers.energy_kwh[i])  # type: ignore[attr-defined]
        return concave_value(true_blocks, q) - float(r.buyers.payment[i])  # type: ignore[attr-defined]

    lying_side = [*own_side[:i], lie, *own_side[i + 1:]]
    lied = Book(lying_side, book.buyer_blocks) if is_seller else Book(book.seller_blocks, lying_side)
    ls, lb = lied.orders()
    assert utility(clear(ls, lb)) <= utility(truthful) + 1e-9


def test_own_untraded_blocks_leave_the_residual_supply() -> None:
    # A [5 @1, 5 @2], B [5 @3]; one buyer [8 @10]. A sells 5 @1 + 3 @2. Without A (both its blocks) B sells
    # 5: others' welfare 5 * (10 - 3) = 35 instead of 80, so A receives 80 - 35 = 45 (by hand).
    s = Orders.from_blocks(["A", "B"], [[(5, 1.0), (5, 2.0)], [(5, 3.0)]])
    b = Orders.from_blocks(["X"], [[(8, 10.0)]])
    r = clear(s, b)
    np.testing.assert_allclose(r.sellers.payment, [45.0, 0.0], atol=TOL)  # type: ignore[attr-defined]
    # mirrored: buyers X [5 @10, 5 @9], Y [5 @8]; one seller [8 @1]; X pays 35 - (-8) = 43
    s = Orders.from_blocks(["G"], [[(8, 1.0)]])
    b = Orders.from_blocks(["X", "Y"], [[(5, 10.0), (5, 9.0)], [(5, 8.0)]])
    r = clear(s, b)
    np.testing.assert_allclose(r.buyers.payment, [43.0, 0.0], atol=TOL)  # type: ignore[attr-defined]


def test_medium_book_with_many_ties_matches_naive_and_lp() -> None:
    rng = np.random.default_rng(2026)
    n, k = 40, 3
    s = Orders(tuple(f"s{i}" for i in range(n)), rng.integers(0, 6, n * k) * 1.0,
               rng.integers(1, 12, n * k) * 0.01, np.repeat(np.arange(n), k))
    b = Orders(tuple(f"b{i}" for i in range(n)), rng.integers(0, 6, n * k) * 1.0,
               rng.integers(4, 15, n * k) * 0.01, np.repeat(np.arange(n), k))
    supply = Curve.ascending(s.energy_kwh, s.price_per_kwh, s.owner)
    demand = Curve.descending(b.energy_kwh, b.price_per_kwh, b.owner)
    c = clear_curves(supply, demand)
    fast = clarke_pivots(supply, demand, c.quantity_kwh, n, n)
    naive = _naive_clarke_pivots(s, b)
    lp = lp_pivots(s, b)
    assert (fast[0] > 0).sum() >= 5 and (fast[1] > 0).sum() >= 5  # the test exercises real pivots
    for got, want in ((fast, naive), (fast, lp)):
        np.testing.assert_allclose(got[0], want[0], atol=TOL, rtol=0)
        np.testing.assert_allclose(got[1], want[1], atol=TOL, rtol=0)


def test_shares_leave_non_vcg_prices_exact() -> None:
    s, b = fixture()
    r = clear(s, b, pricing="uniform", auctioneer_share=0.01, miner_share=0.02)
    np.testing.assert_allclose(r.sellers.payment, [0.60, 0.90], atol=TOL)  # type: ignore[attr-defined]
    np.testing.assert_allclose(r.buyers.payment, [0.90, 0.60], atol=TOL)  # type: ignore[attr-defined]
    assert r.details["miner_reward"] == pytest.approx(0.02 * 5.21, abs=TOL)  # type: ignore[attr-defined]
    assert r.details["surplus"] == pytest.approx(-0.03 * 5.21, abs=TOL)  # type: ignore[attr-defined]
