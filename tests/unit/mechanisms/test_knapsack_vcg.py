"""knapsack_vcg: SEED-NOTES section 1 fixtures, an LP oracle, the naive n+1 re-solves, VCG properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from transactive.mechanisms import REGISTRY, ParamError
from transactive.mechanisms._knapsack import naive_vcg_payments
from transactive.mechanisms.knapsack_vcg import KnapsackParams, clear_knapsack_vcg
from transactive.orders import Orders, OrdersError
from transactive.result import ClearingResult
from transactive.units import at_energy_resolution


def clear(ids: list[str], energy: list[float], price: list[float], **params: object) -> ClearingResult:
    return clear_knapsack_vcg(Orders.single(ids, energy, price), Orders.empty(), KnapsackParams(**params))  # type: ignore[arg-type]


# ---------------------------------------------------------------- SEED-NOTES section 1 fixtures


def test_fractional_example_cost_105() -> None:
    r = clear(list("ABCDE"), [20, 15, 10, 10, 10], [2, 3, 2, 5, 1.5], target_kwh=50)
    assert r.sellers.energy_kwh.tolist() == pytest.approx([20, 10, 10, 0, 10], abs=1e-9)
    assert r.details["cost"] == pytest.approx(105, abs=1e-9)
    assert r.details["unmet_kwh"] == 0 and r.details["fallback_kwh"] == 0
    assert r.details["marginal"] == "B"
    assert r.price_per_kwh is None and r.buyers.energy_kwh.size == 0


def test_vcg_example_1() -> None:
    r = clear(["Alice", "Bob", "Charlie"], [3, 2, 2], [3, 3, 5], target_kwh=5, reserve_price_per_kwh=6)
    assert r.sellers.energy_kwh.tolist() == pytest.approx([3, 2, 0], abs=1e-9)
    assert r.sellers.payment.tolist() == pytest.approx([16, 10, 0], abs=1e-9)
    assert r.details["cost"] == pytest.approx(15, abs=1e-9)
    # Erratum: the slides' 7 and 4 are C(-i) - C (the winners' utility), not the payment.
    utility = r.sellers.payment - r.sellers.energy_kwh * np.array([3, 3, 5])
    assert utility[:2].tolist() == pytest.approx([7, 4], abs=1e-9)


@pytest.mark.parametrize(
    ("fallback", "expected"), [("competes", [18, 12, 0]), ("shortfall_only", [21, 15, 0])]
)
def test_vcg_example_2(fallback: str, expected: list[float]) -> None:
    r = clear(["Alice", "Bob", "Charlie"], [3, 2, 2], [2, 4, 7.5], target_kwh=5, reserve_price_per_kwh=6,
              fallback=fallback)
    assert r.sellers.energy_kwh.tolist() == pytest.approx([3, 2, 0], abs=1e-9)
    assert r.sellers.payment.tolist() == pytest.approx(expected, abs=1e-9)
    assert r.details["cost"] == pytest.approx(14, abs=1e-9)


def test_case_1_primary_market() -> None:
    kw = [30, 25, 45, 10, 20]
    totals = [120, 100, 150, 20, 60]
    r = clear(["C1", "C2", "C3", "C4", "C5"], kw, [t / k for t, k in zip(totals, kw, strict=True)],
              target_kwh=100, reserve_price_per_kwh=500 / 100)
    assert r.sellers.energy_kwh.tolist() == pytest.approx([25, 0, 45, 10, 20], abs=1e-9)  # C1 before C2
    assert r.sellers.payment.tolist() == pytest.approx([100, 0, 195, 40, 80], abs=1e-9)
    assert r.details["cost"] == pytest.approx(330, abs=1e-9)
    assert r.details["total_payment"] == pytest.approx(415, abs=1e-9)
    assert r.details["marginal"] == "C1"


def test_case_2_secondary_market() -> None:
    shortfall_kwh = 45 * (1 - 0.6)
    r = clear(["C1", "C2"], [5, 25], [4, 4], target_kwh=shortfall_kwh, reserve_price_per_kwh=90 / 18)
    assert r.sellers.energy_kwh.tolist() == pytest.approx([5, 13], abs=1e-9)
    assert r.sellers.payment.tolist() == pytest.approx([20, 65], abs=1e-9)
    assert r.details["cost"] == pytest.approx(72, abs=1e-9)
    assert r.details["total_payment"] == pytest.approx(85, abs=1e-9)
    assert r.details["total_payment"] <= 90


def test_shortfall_only_is_not_individually_rational() -> None:
    """SEED-NOTES counter-example: C must be taken (cost 21), without C the cost is 18: C is paid 12 < 15."""
    r = clear(["A", "C"], [3, 2], [2, 7.5], target_kwh=5, reserve_price_per_kwh=6, fallback="shortfall_only")
    assert r.details["cost"] == pytest.approx(21, abs=1e-9)
    assert r.sellers.energy_kwh.tolist() == pytest.approx([3, 2], abs=1e-9)
    assert r.sellers.payment[1] == pytest.approx(12, abs=1e-9)
    assert r.sellers.payment[1] < 2 * 7.5
    # the canonical rule never takes C (above r) and stays individually rational
    c = clear(["A", "C"], [3, 2], [2, 7.5], target_kwh=5, reserve_price_per_kwh=6)
    assert c.sellers.energy_kwh.tolist() == pytest.approx([3, 0], abs=1e-9)
    assert c.details["fallback_kwh"] == pytest.approx(2, abs=1e-9)
    assert c.details["cost"] == pytest.approx(18, abs=1e-9)
    assert c.sellers.payment.tolist() == pytest.approx([18, 0], abs=1e-9)  # 3 kWh replaced at r = 6


# ---------------------------------------------------------------- documented choices


def test_offer_at_exactly_the_reserve_is_taken_before_the_fallback_and_paid_its_ask() -> None:
    r = clear(["A", "B"], [3, 4], [6, 7], target_kwh=5, reserve_price_per_kwh=6)
    assert r.sellers.energy_kwh.tolist() == pytest.approx([3, 0], abs=1e-9)
    assert r.details["fallback_kwh"] == pytest.approx(2, abs=1e-9)
    assert r.sellers.payment.tolist() == pytest.approx([18, 0], abs=1e-9)
    assert r.details["cost"] == pytest.approx(30, abs=1e-9)


def test_equal_prices_fill_in_submission_order() -> None:
    r = clear(["x", "y", "z"], [4, 4, 4], [2, 1, 2], target_kwh=7)
    assert r.sellers.energy_kwh.tolist() == pytest.approx([3, 4, 0], abs=1e-9)
    assert r.details["marginal"] == "x"


def test_no_reserve_reports_unmet_and_prices_missing_kwh_at_the_highest_offer() -> None:
    r = clear(["A", "B", "Z"], [3, 2, 0], [2, 7.5, 99], target_kwh=8)
    assert r.sellers.energy_kwh.tolist() == pytest.approx([3, 2, 0], abs=1e-9)
    assert r.details["unmet_kwh"] == pytest.approx(3, abs=1e-9)
    assert r.details["fallback_kwh"] == 0
    assert r.details["cost"] == pytest.approx(21, abs=1e-9)
    assert r.details["vcg_reserve_price_per_kwh"] == 7.5  # the zero-energy offer at 99 does not count
    assert r.sellers.payment.tolist() == pytest.approx([3 * 7.5, 2 * 7.5, 0], abs=1e-9)


def test_no_offers() -> None:
    r = clear([], [], [], target_kwh=4, reserve_price_per_kwh=3)
    assert r.details["fallback_kwh"] == 4 and r.details["cost"] == 12 and r.details["total_payment"] == 0
    r = clear([], [], [], target_kwh=4)
    assert r.details["unmet_kwh"] == 4 and r.details["cost"] == 0


def test_registered() -> None:
    mechanism = REGISTRY["knapsack_vcg"]
    assert mechanism.sides == ("sellers",)
    assert mechanism.params_type is KnapsackParams
    assert "seed 000" in mechanism.source


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"target_kwh": 0}, "params.target_kwh"),
        ({"target_kwh": -1}, "params.target_kwh"),
        ({"target_kwh": math.inf}, "params.target_kwh"),
        ({"target_kwh": math.nan}, "params.target_kwh"),
        ({"target_kwh": "5"}, "params.target_kwh"),
        ({"target_kwh": True}, "params.target_kwh"),
        ({"target_kwh": 5, "reserve_price_per_kwh": -0.5}, "params.reserve_price_per_kwh"),
        ({"target_kwh": 5, "reserve_price_per_kwh": math.inf}, "params.reserve_price_per_kwh"),
        ({"target_kwh": 5, "fallback": "always"}, "params.fallback"),
    ],
)
def test_params_are_validated(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ParamError) as info:
        KnapsackParams(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_params_defaults_and_coercion() -> None:
    p = KnapsackParams(target_kwh=5, reserve_price_per_kwh=6)
    assert (p.target_kwh, p.reserve_price_per_kwh, p.fallback) == (5.0, 6.0, "competes")
    assert isinstance(p.target_kwh, float)


def test_invalid_orders_are_rejected() -> None:
    params = KnapsackParams(target_kwh=5)
    with pytest.raises(OrdersError, match="price_per_kwh\\[1\\]"):
        clear_knapsack_vcg(Orders.single(["a", "b"], [1, 1], [1, -1]), Orders.empty(), params)
    with pytest.raises(OrdersError, match="buyers"):
        clear_knapsack_vcg(Orders.single(["a"], [1], [1]), Orders.single(["b"], [1], [1]), params)
    with pytest.raises(OrdersError, match="sellers"):
        clear_knapsack_vcg(Orders.from_blocks(["a"], [[(1, 1), (1, 2)]]), Orders.empty(), params)


# ---------------------------------------------------------------- oracles


def lp_cost(energy: np.ndarray, price: np.ndarray, target: float, fallback_price: float | None) -> float:
    """min c·x + r f  s.t.  Σx + f >= T, 0 <= x <= a, f >= 0 (HiGHS). Without a fallback: Σx >= min(T, Σa)."""
    n = len(energy)
    cost = np.concatenate((price, [fallback_price if fallback_price is not None else 0.0]))
    upper = np.inf if fallback_price is not None else 0.0
    bounds = [(0.0, float(a)) for a in energy] + [(0.0, upper)]
    need = target if fallback_price is not None else min(target, float(energy.sum()))
    res = linprog(cost, A_ub=-np.ones((1, n + 1)), b_ub=[-need], bounds=bounds, method="highs",
                  options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10})
    assert res.status == 0
    return float(res.fun)


prices = st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 3.5, 4.0, 5.0, 6.0, 7.5])
energies = st.one_of(st.sampled_from([0.0, 1.0, 2.0, 2.5, 5.0]), st.floats(0.0, 20.0, allow_subnormal=False))


Instance = tuple[np.ndarray, np.ndarray, KnapsackParams]


@st.composite
def instances(draw: st.DrawFn) -> Instance:
    n = draw(st.integers(0, 12))
    # energies as a market holds them: at the clearing resolution (Orders round them at the boundary)
    energy = at_energy_resolution(np.array(draw(st.lists(energies, min_size=n, max_size=n)), dtype=float))
    price = np.array(draw(st.lists(prices, min_size=n, max_size=n)), dtype=float)
    target = draw(st.one_of(st.sampled_from([1.0, 5.0, 10.0, 25.0, 60.0]), st.floats(0.1, 120.0)))
    reserve = draw(st.one_of(st.none(), prices))
    fallback = draw(st.sampled_from(["competes", "shortfall_only"]))
    return energy, price, KnapsackParams(target_kwh=target, reserve_price_per_kwh=reserve, fallback=fallback)


def run(energy: np.ndarray, price: np.ndarray, params: KnapsackParams) -> ClearingResult:
    ids = [f"s{i}" for i in range(len(energy))]
    return clear_knapsack_vcg(Orders.single(ids, energy, price), Orders.empty(), params)


def scale(energy: np.ndarray, price: np.ndarray, params: KnapsackParams) -> float:
    top = max([params.reserve_price_per_kwh or 0.0, *price.tolist(), 1.0])
    return top * (params.target_kwh + float(energy.sum()))


def competes_like(params: KnapsackParams) -> bool:
    """The rules under which the allocation is the LP optimum and VCG is truthful."""
    return params.fallback == "competes" or params.reserve_price_per_kwh is None


@settings(max_examples=200)
@given(instances())
def test_target_met_or_unmet_reported_exactly(instance: Instance) -> None:
    energy, price, params = instance
    r = run(energy, price, params)
    taken = r.sellers.energy_kwh
    assert np.all(taken >= 0) and np.all(taken <= energy)
    bought = float(taken.sum()) + r.details["fallback_kwh"]
    if params.reserve_price_per_kwh is None:
        assert r.details["fallback_kwh"] == 0
        assert r.details["unmet_kwh"] == pytest.approx(max(0.0, params.target_kwh - energy.sum()), abs=1e-8)
    else:
        assert r.details["unmet_kwh"] == 0
    assert bought + r.details["unmet_kwh"] == pytest.approx(params.target_kwh, abs=1e-8)
    fallback_cost = r.details["fallback_kwh"] * (params.reserve_price_per_kwh or 0.0)
    expected_cost = float(taken @ price) + fallback_cost
    assert r.details["cost"] == pytest.approx(expected_cost, abs=1e-9 * scale(*instance))
    assert r.details["total_payment"] == pytest.approx(float(r.sellers.payment.sum()), abs=1e-12)
    losers = taken == 0
    assert np.all(r.sellers.payment[losers] == 0)


@settings(max_examples=200)
@given(instances())
def test_allocation_cost_equals_the_lp_optimum(instance: Instance) -> None:
    energy, price, params = instance
    r = run(energy, price, params)
    tol = 1e-9 * scale(*instance)
    if competes_like(params):
        assert r.details["cost"] == pytest.approx(lp_cost(energy, price, params.target_kwh,
                                                          params.reserve_price_per_kwh), abs=tol)
    else:  # shortfall_only: the offers' optimum if they reach T, else every offer plus the fallback
        total = float(energy.sum())
        r_price = params.reserve_price_per_kwh
        assert r_price is not None
        if total >= params.target_kwh:
            expected = lp_cost(energy, price, params.target_kwh, None)
        else:
            expected = float(energy @ price) + (params.target_kwh - total) * r_price
        assert r.details["cost"] == pytest.approx(expected, abs=tol)


@settings(max_examples=150)
@given(instances())
def test_fast_payments_equal_naive_re_solves(instance: Instance) -> None:
    energy, price, params = instance
    r = run(energy, price, params)
    full, naive = naive_vcg_payments(energy, price, params.target_kwh, params.reserve_price_per_kwh,
                                     params.fallback)
    np.testing.assert_allclose(r.sellers.energy_kwh, full.taken_kwh, rtol=0, atol=1e-9)
    np.testing.assert_allclose(r.sellers.payment, naive, rtol=1e-9, atol=1e-12 * scale(*instance))


@settings(max_examples=150)
@given(instances())
def test_fast_payments_equal_lp_re_solves(instance: Instance) -> None:
    energy, price, params = instance
    if not competes_like(params):
        return
    r = run(energy, price, params)
    fallback_price = r.details["vcg_reserve_price_per_kwh"]  # r, or the implied reserve without one
    if fallback_price is None:
        assert not np.any(r.sellers.energy_kwh > 0)
        return
    if params.reserve_price_per_kwh is None:
        assert fallback_price == price[energy > 0].max()
    c_all = lp_cost(energy, price, params.target_kwh, fallback_price)
    tol = 1e-8 * scale(*instance)
    for i in np.flatnonzero(r.sellers.energy_kwh > 0):
        keep = np.arange(len(energy)) != i
        c_without = lp_cost(energy[keep], price[keep], params.target_kwh, fallback_price)
        expected = c_without - (c_all - r.sellers.energy_kwh[i] * price[i])
        assert r.sellers.payment[i] == pytest.approx(expected, rel=1e-9, abs=tol)


@settings(max_examples=200)
@given(instances())
def test_individually_rational_under_competes(instance: Instance) -> None:
    energy, price, params = instance
    if not competes_like(params):
        return
    r = run(energy, price, params)
    assert np.all(r.sellers.payment >= r.sellers.energy_kwh * price - 1e-9 * scale(*instance))


@settings(max_examples=200)
@given(instances(), st.data())
def test_no_unilateral_misreport_pays_under_competes(
    instance: Instance, data: st.DataObject
) -> None:
    energy, price, params = instance
    if not competes_like(params) or len(energy) == 0:
        return
    i = data.draw(st.integers(0, len(energy) - 1))
    lie = data.draw(st.one_of(prices, st.floats(0.0, 10.0, allow_subnormal=False)))
    truthful = run(energy, price, params)
    utility = truthful.sellers.payment[i] - truthful.sellers.energy_kwh[i] * price[i]
    reported = price.copy()
    reported[i] = lie
    lied = run(energy, reported, params)
    utility_lie = lied.sellers.payment[i] - lied.sellers.energy_kwh[i] * price[i]
    if params.reserve_price_per_kwh is None and lie > price[energy > 0].max(initial=0.0):
        return  # the implied reserve is set by the bids themselves: not a truthful mechanism there
    assert utility_lie <= utility + 1e-9 * scale(*instance)


@settings(max_examples=50)
@given(instances())
def test_deterministic(instance: Instance) -> None:
    a = run(*instance)
    b = run(*instance)
    assert a.sellers.energy_kwh.tobytes() == b.sellers.energy_kwh.tobytes()
    assert a.sellers.payment.tobytes() == b.sellers.payment.tobytes()
    assert a.details == b.details


def test_fast_equals_naive_on_a_larger_random_instance_with_binding_fallback() -> None:
    rng = np.random.default_rng(7)
    energy = rng.uniform(0.5, 10.0, 400)
    price = np.round(rng.uniform(1.0, 10.0, 400), 1)  # many ties
    params = KnapsackParams(target_kwh=float(energy[price <= 6].sum() * 1.3), reserve_price_per_kwh=6.0)
    r = run(energy, price, params)
    assert r.details["fallback_kwh"] > 0
    _, naive = naive_vcg_payments(energy, price, params.target_kwh, 6.0, "competes")
    np.testing.assert_allclose(r.sellers.payment, naive, rtol=1e-9, atol=1e-9)
    assert r.details["cost"] == pytest.approx(lp_cost(energy, price, params.target_kwh, 6.0), rel=1e-9)
