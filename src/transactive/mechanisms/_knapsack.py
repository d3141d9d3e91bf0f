"""Private helpers of :mod:`transactive.mechanisms.knapsack_vcg`: the greedy curve and the naive VCG baseline.

The negawatt reverse auction buys ``target_kwh`` along a **curve**: the offers in the order the greedy rule
visits them, followed by an optional **fallback** block of unlimited size at ``fallback_price_per_kwh``:

* ``competes`` (canonical): offers sorted by unit price (stable: ties by submission order), only offers with
  ``price <= r`` are on the curve, then the fallback at ``r``. An offer at exactly ``r`` is taken before the
  fallback (the fallback behaves like an offer at ``r`` submitted after everyone). This greedy fill is the
  fractional-knapsack optimum with the fallback as an unbounded extra item.
* ``shortfall_only`` (the slides' rule): every offer sorted by unit price, then the fallback at ``r``: the
  fallback is used only when all offers together cannot reach the target.
* no reserve price: every offer sorted by unit price and no deliverable fallback; a shortfall is reported as
  unmet. For VCG payments only, a *virtual* fallback at the implied reserve (the highest price among offers
  with energy > 0) prices kWh that the others cannot supply (see ``knapsack_vcg``'s docstring).

:func:`naive_vcg_payments` is the textbook n+1 re-solve baseline used by the tests and the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transactive.mechanisms._curves import ascending
from transactive.orders import FloatArray, IntArray

COMPETES = "competes"
SHORTFALL_ONLY = "shortfall_only"
RESIDUE = 1e-12  # relative floating-point residue of the target treated as met


@dataclass(frozen=True)
class Curve:
    """The greedy order of one instance.

    Attributes:
        order: offer indices (into the input arrays) in the order the greedy fill takes them.
        fallback_price_per_kwh: price of the unlimited block after the offers; None when there is none (no
            reserve price and no offer with energy > 0).
        fallback_delivers: False for the virtual fallback of the no-reserve rule (prices VCG only).
    """

    order: IntArray
    fallback_price_per_kwh: float | None
    fallback_delivers: bool


def implied_reserve_price(energy_kwh: FloatArray, price_per_kwh: FloatArray) -> float | None:
    """Highest unit price among offers with energy > 0 (None if there is none)."""
    positive = energy_kwh > 0
    return float(price_per_kwh[positive].max()) if positive.any() else None


def build_curve(
    energy_kwh: FloatArray,
    price_per_kwh: FloatArray,
    reserve_price_per_kwh: float | None,
    fallback: str,
    vcg_reserve_price_per_kwh: float | None = None,
) -> Curve:
    """The greedy curve of an instance (see the module docstring).

    ``vcg_reserve_price_per_kwh`` overrides the implied reserve of the no-reserve rule (the naive re-solves
    keep the full instance's implied reserve when one offer is removed).
    """
    order = ascending(price_per_kwh)
    if reserve_price_per_kwh is None:
        virtual = (
            vcg_reserve_price_per_kwh
            if vcg_reserve_price_per_kwh is not None
            else implied_reserve_price(energy_kwh, price_per_kwh)
        )
        return Curve(order, virtual, False)
    if fallback == COMPETES:
        order = order[price_per_kwh[order] <= reserve_price_per_kwh]
    return Curve(order, float(reserve_price_per_kwh), True)


def greedy_fill(energy_kwh: FloatArray, target_kwh: float) -> tuple[FloatArray, float]:
    """Take blocks in the given order until ``target_kwh`` is reached: ``(taken_kwh, missing_kwh)``.

    The last block taken may be partial. ``missing_kwh`` (what the blocks cannot supply) is snapped to 0 when
    it is only floating-point residue (<= 1e-12 of the target). Cumulative sums are not snapped to the 1e-9
    quantum here: the takes must add up to the target exactly for the VCG differences to be exact.

    Example:
        >>> greedy_fill(np.array([2.0, 4.0, 4.0]), 7.0)
        (array([2., 4., 1.]), 0.0)
    """
    before = np.concatenate((np.zeros(1), np.cumsum(energy_kwh)[:-1])) if len(energy_kwh) else np.zeros(0)
    taken = np.clip(target_kwh - before, 0.0, energy_kwh)
    missing = target_kwh - float(taken.sum())
    if missing <= RESIDUE * target_kwh:
        missing = 0.0
    return taken, missing


@dataclass(frozen=True)
class Solution:
    """A greedy fill: kWh taken per offer (input order), fallback kWh, unmet kWh and cost in tokens."""

    taken_kwh: FloatArray
    fallback_kwh: float
    unmet_kwh: float
    cost: float


def solve(
    energy_kwh: FloatArray,
    price_per_kwh: FloatArray,
    target_kwh: float,
    reserve_price_per_kwh: float | None,
    fallback: str,
    *,
    vcg_reserve_price_per_kwh: float | None = None,
) -> Solution:
    """Fill ``target_kwh`` greedily along the curve. ``cost`` counts only what is bought (offers + fallback).

    Example:
        >>> s = solve(np.array([3., 2., 2.]), np.array([3., 3., 5.]), 5.0, 6.0, "competes")
        >>> (s.taken_kwh.tolist(), s.cost)
        ([3.0, 2.0, 0.0], 15.0)
    """
    curve = build_curve(energy_kwh, price_per_kwh, reserve_price_per_kwh, fallback, vcg_reserve_price_per_kwh)
    taken_sorted, missing = greedy_fill(energy_kwh[curve.order], target_kwh)
    taken = np.zeros(len(energy_kwh))
    taken[curve.order] = taken_sorted
    cost = float(np.dot(taken, price_per_kwh))
    if curve.fallback_delivers and curve.fallback_price_per_kwh is not None:
        return Solution(taken, missing, 0.0, cost + missing * curve.fallback_price_per_kwh)
    return Solution(taken, 0.0, missing, cost)


def _priced_cost(solution: Solution, virtual_price_per_kwh: float | None) -> float:
    """Cost with unmet kWh priced at the virtual fallback (the no-reserve VCG rule)."""
    if solution.unmet_kwh == 0.0 or virtual_price_per_kwh is None:  # None: no offer has energy > 0
        return solution.cost
    return solution.cost + solution.unmet_kwh * virtual_price_per_kwh


def naive_vcg_payments(
    energy_kwh: FloatArray,
    price_per_kwh: FloatArray,
    target_kwh: float,
    reserve_price_per_kwh: float | None,
    fallback: str,
) -> tuple[Solution, FloatArray]:
    """VCG (Clarke pivot) payments by n+1 greedy re-solves: ``pay_i = C(-i) - (C - x_i b_i)``, losers 0.

    O(n) re-solves of O(n log n) each: the baseline the fast payments are checked and timed against.
    """
    virtual = (
        implied_reserve_price(energy_kwh, price_per_kwh) if reserve_price_per_kwh is None else None
    )
    full = solve(energy_kwh, price_per_kwh, target_kwh, reserve_price_per_kwh, fallback,
                 vcg_reserve_price_per_kwh=virtual)
    total = _priced_cost(full, virtual)
    payments = np.zeros(len(energy_kwh))
    keep = np.ones(len(energy_kwh), dtype=bool)
    for i in np.flatnonzero(full.taken_kwh > 0):
        keep[i] = False
        without = solve(energy_kwh[keep], price_per_kwh[keep], target_kwh, reserve_price_per_kwh, fallback,
                        vcg_reserve_price_per_kwh=virtual)
        keep[i] = True
        payments[i] = _priced_cost(without, virtual) - (total - full.taken_kwh[i] * price_per_kwh[i])
    return full, payments
