"""Differential test: on-chain ``NegawattAuction.clear`` vs the Python ``clear_knapsack_vcg`` (seed 000).

Both sides see the same numbers: quantities are integer Wh (Python: ``Wh / 1000`` kWh) and prices integer
micro-tokens per kWh (Python: ``micro / 1e6`` tokens/kWh), reserve likewise, fallback ``competes``.

Asserted bounds and why:

* allocations: identical to the Wh. Both sides run the same greedy (stable by price, ties by submission
  order, an offer priced exactly at the reserve taken before the fallback); the Python float kWh figure is
  within 1e-6 Wh of the contract's integer (float sums of at most 64 values of at most 50 kWh).
* payments: the contract floors the exact VCG payment (nano-tokens) to micro-tokens, so
  ``0 <= exact - chain < 1`` micro-token (its documented rounding). The Python payment is the exact value up
  to float error: Python works in tokens, every figure here is below 64 x 50 kWh x 3 tokens/kWh = 9,600
  tokens whose ulp is 1.8e-6 micro-token, so a few dozen float operations stay well below
  ``EPS = 1e-4`` micro-token, and we assert ``-EPS <= py_micro - chain < 1 + EPS``. Since the exact value
  is nano / 1000 (a multiple of 0.001 micro-token) and EPS < 0.0005, also exactly
  ``chain == floor(py_micro + EPS)``.
* cost: the contract's floored cost against the Python ``details["cost"]`` with the same bound.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transactive.ledger.chain.connect import open_local_chain
from transactive.ledger.testing import Deployment, deploy_suite
from transactive.mechanisms.knapsack_vcg import KnapsackParams, clear_knapsack_vcg
from transactive.orders import Orders

EPS_MICRO = 1e-4  # float error allowance on the Python side, in micro-tokens (see the docstring)


@pytest.fixture(scope="module")
def suite(local_engine: str) -> Iterator[Deployment]:
    chain = open_local_chain(engine=local_engine)
    try:
        yield deploy_suite(chain)
    finally:
        chain.close()


@st.composite
def instances(draw: st.DrawFn) -> tuple[int, int, list[tuple[int, int]]]:
    reserve = draw(st.integers(0, 2_900_000))
    n = draw(st.integers(0, 64))
    # prices from a small pool (ties, exactly-reserve offers, above-reserve offers) or free integers
    pool = st.sampled_from([reserve, reserve, max(reserve - 1, 0), reserve + 1, 1_000_000, 0])
    price = st.one_of(pool, st.integers(0, 3_000_000))
    offers = draw(st.lists(st.tuples(st.integers(1, 50_000), price), min_size=n, max_size=n))
    total = sum(e for e, _ in offers)
    target = draw(st.integers(1, max(1, total + 20_000)))
    return target, reserve, offers


def python_clear(target_wh: int, reserve: int, offers: list[tuple[int, int]]) -> tuple[
        list[float], list[float], float, float]:
    ids = [f"s{i}" for i in range(len(offers))]
    sellers = Orders.single(ids, [e / 1000 for e, _ in offers], [p / 1e6 for _, p in offers])
    params = KnapsackParams(target_kwh=target_wh / 1000, reserve_price_per_kwh=reserve / 1e6)
    r = clear_knapsack_vcg(sellers, Orders.empty(), params)
    wh = [float(x) * 1000 for x in r.sellers.energy_kwh]
    micro = [float(x) * 1e6 for x in r.sellers.payment]
    return wh, micro, float(r.details["cost"]) * 1e6, float(r.details["fallback_kwh"]) * 1000


def assert_floor_of(py_micro: float, chain_micro: int, what: str) -> None:
    # The contract's documented rounding: floor of the exact value, so 0 <= exact - chain < 1.
    assert -EPS_MICRO <= py_micro - chain_micro < 1 + EPS_MICRO, (what, py_micro, chain_micro)
    assert chain_micro == math.floor(py_micro + EPS_MICRO), (what, py_micro, chain_micro)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(inst=instances())
def test_chain_matches_python(suite: Deployment, inst: tuple[int, int, list[tuple[int, int]]]) -> None:
    target, reserve, offers = inst
    alloc, pay, cost, fallback = suite.chain.call(suite.auction, "clear", target, reserve, offers)
    py_wh, py_micro, py_cost, py_fallback = python_clear(target, reserve, offers)
    assert len(alloc) == len(py_wh) == len(offers)
    for i, (a, w) in enumerate(zip(alloc, py_wh, strict=True)):
        assert abs(w - a) < 1e-6, ("energy_wh", i, w, a)
    for i, (p, m) in enumerate(zip(pay, py_micro, strict=True)):
        assert_floor_of(m, int(p), f"payment[{i}]")
    assert_floor_of(py_cost, int(cost), "cost")
    assert abs(py_fallback - int(fallback)) < 1e-6


@pytest.mark.parametrize("n_at_reserve", [1, 3])
def test_offers_at_reserve_taken_before_fallback(suite: Deployment, n_at_reserve: int) -> None:
    """Offers exactly at r are taken (both sides) before the fallback, in submission order, and paid r."""
    reserve = 2_000_000
    offers = [(1_000, 1_500_000)] + [(2_000, reserve)] * n_at_reserve + [(5_000, reserve + 1)]
    target = 1_000 + 2_000 * n_at_reserve + 700  # the fallback supplies the last 700 Wh
    alloc, pay, _, fallback = suite.chain.call(suite.auction, "clear", target, reserve, offers)
    py_wh, py_micro, _, py_fallback = python_clear(target, reserve, offers)
    expected = [1_000] + [2_000] * n_at_reserve + [0]
    assert list(alloc) == expected
    assert [round(w) for w in py_wh] == expected
    assert int(fallback) == 700 and round(py_fallback) == 700
    # an offer at r is paid r per kWh: 2 kWh x 2 tokens = 4,000,000 micro; the cheap one r x 1 kWh
    assert [int(p) for p in pay[1:-1]] == [4_000_000] * n_at_reserve
    assert int(pay[0]) == 2_000_000 and int(pay[-1]) == 0
    for p, m in zip(pay, py_micro, strict=True):
        assert_floor_of(m, int(p), "payment")
