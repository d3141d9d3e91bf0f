"""Negawatt reverse auction: fractional-knapsack allocation + VCG (Clarke pivot) payments (seed 000).

An aggregator buys a demand reduction of ``T = target_kwh``. Seller *i* offers ``a_i`` kWh (``energy_kwh``)
at unit price ``c_i`` (``price_per_kwh``, tokens/kWh, >= 0), i.e. cost ``b_i = a_i c_i``. The allocation
solves the fractional knapsack ``min Σ x_i b_i  s.t.  Σ x_i a_i >= T, 0 <= x_i <= 1`` greedily by unit
price, ties by submission order. A **fallback** (reservation price ``r``) supplies any amount at ``r``/kWh:

* ``fallback="competes"`` (canonical): the fallback is the aggregator's outside option. Offers priced above
  ``r`` are never taken; the fallback fills what cheaper offers do not. **Tie at exactly r:** an offer at
  ``r`` is taken before the fallback (it is paid exactly its ask). The allocation is the LP optimum with the
  fallback as an unbounded extra variable; VCG is then individually rational and truthful.
* ``fallback="shortfall_only"`` (the slides' second example): the fallback is used only when all offers
  together cannot reach ``T`` (offers above ``r`` are taken if needed). Not individually rational.
* no ``reserve_price_per_kwh``: no fallback; if the offers cannot reach ``T`` all are taken and
  ``details.unmet_kwh`` reports the gap. When ``C(-i)`` is infeasible (the others cannot replace *i*), the
  missing kWh are priced at the **implied reserve** ``r* = max c_j`` over offers with ``a_j > 0``: the
  smallest reserve price that leaves the allocation unchanged, so payments equal the ``competes`` payments
  with ``r = r*`` (finite, individually rational). ``details.vcg_reserve_price_per_kwh`` reports it.

Payments (Clarke pivot): ``pay_i = C(-i) − (C − x_i b_i)``, losers 0. ``C`` and ``C(-i)`` are the greedy
costs along the same curve, so removing winner *i* only means buying its ``q_i = x_i a_i`` kWh from the
**residual supply curve**: the marginal offer's leftover, the later offers, then the fallback. Hence
``pay_i = R(q_i)`` with ``R`` the cumulative cost of the residual curve; for the marginal (partial) winner the
residual curve starts after its own leftover. All payments: one sort, prefix sums and one
``np.searchsorted``, O(n log n) in total (the n+1 re-solve baseline is ``_knapsack.naive_vcg_payments``).

Result: sellers ``Allocation(energy_kwh = x_i a_i, payment = pay_i)`` in input order; buyers empty;
``price_per_kwh`` None; ``details``: ``target_kwh``, ``cost`` (what is bought: offers + fallback, tokens),
``fallback_kwh``, ``unmet_kwh``, ``total_payment`` (Σ pay_i, excluding the fallback's ``fallback_kwh · r``),
``fallback``, ``reserve_price_per_kwh``, ``vcg_reserve_price_per_kwh``, ``marginal`` (id of the partially
taken offer, or None).

Example (seed 000, VCG example 1):
    >>> from transactive.orders import Orders
    >>> s = Orders.single(["Alice", "Bob", "Charlie"], [3.0, 2.0, 2.0], [3.0, 3.0, 5.0])
    >>> r = clear_knapsack_vcg(s, Orders.empty(), KnapsackParams(target_kwh=5, reserve_price_per_kwh=6))
    >>> (r.sellers.energy_kwh.tolist(), r.sellers.payment.tolist(), r.details["cost"])
    ([3.0, 2.0, 0.0], [16.0, 10.0, 0.0], 15.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from transactive.mechanisms._knapsack import COMPETES, SHORTFALL_ONLY, build_curve, greedy_fill
from transactive.mechanisms._registry import Mechanism, ParamError, param_number
from transactive.orders import FloatArray, Orders, OrdersError
from transactive.result import Allocation, ClearingResult

FallbackRule = Literal["competes", "shortfall_only"]


@dataclass(frozen=True)
class KnapsackParams:
    """Parameters of ``knapsack_vcg``.

    Attributes:
        target_kwh: demand reduction to buy, kWh (finite, > 0).
        reserve_price_per_kwh: fallback price ``r``, tokens/kWh (finite, >= 0), or None for no fallback.
        fallback: ``"competes"`` (canonical) or ``"shortfall_only"`` (the slides' rule).
    """

    target_kwh: float
    reserve_price_per_kwh: float | None = None
    fallback: FallbackRule = "competes"

    def __post_init__(self) -> None:
        target = param_number("target_kwh", self.target_kwh)
        if target <= 0:
            raise ParamError("target_kwh", "must be > 0")
        object.__setattr__(self, "target_kwh", target)
        if self.reserve_price_per_kwh is not None:
            reserve = param_number("reserve_price_per_kwh", self.reserve_price_per_kwh)
            if reserve < 0:
                raise ParamError("reserve_price_per_kwh", "must be >= 0")
            object.__setattr__(self, "reserve_price_per_kwh", reserve)
        if self.fallback not in (COMPETES, SHORTFALL_ONLY):
            raise ParamError("fallback", "must be 'competes' or 'shortfall_only'")


def _replacement_cost(
    piece_kwh: FloatArray,
    piece_price_per_kwh: FloatArray,
    fallback_price_per_kwh: float,
    query_kwh: FloatArray,
) -> FloatArray:
    """Cost of the first ``query_kwh`` kWh of a curve (pieces in order, then the unlimited fallback)."""
    cum_kwh = np.cumsum(piece_kwh)
    cum_cost = np.cumsum(piece_kwh * piece_price_per_kwh)
    prev_kwh = np.concatenate((np.zeros(1), cum_kwh))
    prev_cost = np.concatenate((np.zeros(1), cum_cost))
    price = np.concatenate((piece_price_per_kwh, [fallback_price_per_kwh]))
    j = np.searchsorted(cum_kwh, query_kwh, side="left")  # first piece that completes the query
    return np.asarray(prev_cost[j] + (query_kwh - prev_kwh[j]) * price[j], dtype=np.float64)


def vcg_payments_sorted(
    energy_kwh: FloatArray,
    price_per_kwh: FloatArray,
    taken_kwh: FloatArray,
    fallback_price_per_kwh: float | None,
) -> FloatArray:
    """VCG payments along a greedy curve (arrays in curve order), O(n log n).

    ``taken_kwh`` is the greedy fill: full blocks, then at most one partial block (the marginal), then zeros.
    """
    n = len(energy_kwh)
    pay = np.zeros(n)
    winners = np.flatnonzero(taken_kwh > 0)
    if winners.size == 0:
        return pay
    assert fallback_price_per_kwh is not None  # winners exist, so some offer has energy > 0
    last = int(winners[-1])
    if taken_kwh[last] < energy_kwh[last]:  # the marginal offer: its leftover heads the residual curve
        marginal = last
        leftover = energy_kwh[marginal] - taken_kwh[marginal]
        piece_kwh = np.concatenate(([leftover], energy_kwh[marginal + 1 :]))
        piece_price = price_per_kwh[marginal:]
        full = winners[:-1]
        pay[marginal] = _replacement_cost(
            piece_kwh[1:], piece_price[1:], fallback_price_per_kwh, taken_kwh[marginal : marginal + 1]
        )[0]
    else:
        piece_kwh = energy_kwh[last + 1 :]
        piece_price = price_per_kwh[last + 1 :]
        full = winners
    pay[full] = _replacement_cost(piece_kwh, piece_price, fallback_price_per_kwh, taken_kwh[full])
    return pay


def clear_knapsack_vcg(sellers: Orders, buyers: Orders, params: KnapsackParams) -> ClearingResult:
    """Clear the negawatt reverse auction (see the module docstring for the rules)."""
    if buyers.n:
        raise OrdersError("buyers", "knapsack_vcg takes no buyers: the aggregator is the buyer")
    if not sellers.is_single_block:
        raise OrdersError("sellers", "knapsack_vcg takes one (energy_kwh, price_per_kwh) offer per seller")
    energy, price = sellers.energy_kwh, sellers.price_per_kwh
    negative = np.flatnonzero(price < 0)
    if negative.size:
        raise OrdersError(f"price_per_kwh[{negative[0]}]", "a negawatt offer must ask a price >= 0")
    target = params.target_kwh
    reserve = params.reserve_price_per_kwh
    curve = build_curve(energy, price, reserve, params.fallback)
    e_sorted = energy[curve.order]
    p_sorted = price[curve.order]
    taken_sorted, missing = greedy_fill(e_sorted, target)
    pay_sorted = vcg_payments_sorted(e_sorted, p_sorted, taken_sorted, curve.fallback_price_per_kwh)

    taken = np.zeros(sellers.n)
    taken[curve.order] = taken_sorted
    pay = np.zeros(sellers.n)
    pay[curve.order] = pay_sorted
    fallback_kwh = missing if curve.fallback_delivers else 0.0
    unmet_kwh = 0.0 if curve.fallback_delivers else missing
    cost = float(np.dot(taken_sorted, p_sorted)) + (fallback_kwh * reserve if reserve is not None else 0.0)
    partial = np.flatnonzero((taken_sorted > 0) & (taken_sorted < e_sorted))
    marginal = sellers.ids[int(curve.order[partial[0]])] if partial.size else None
    details = {
        "target_kwh": target,
        "cost": cost,
        "fallback_kwh": fallback_kwh,
        "unmet_kwh": unmet_kwh,
        "total_payment": float(pay.sum()),
        "fallback": params.fallback,
        "reserve_price_per_kwh": reserve,
        "vcg_reserve_price_per_kwh": curve.fallback_price_per_kwh,
        "marginal": marginal,
    }
    return ClearingResult("knapsack_vcg", None, Allocation(taken, pay), Allocation.zeros(0), details)


MECHANISMS = (
    Mechanism(
        "knapsack_vcg",
        "negawatt reverse auction: fractional knapsack + VCG (Clarke pivot) payments, with a fallback price",
        KnapsackParams,
        clear_knapsack_vcg,
        sides=("sellers",),
        source="seed 000 (DSRA reverse auction: fractional knapsack, VCG Clarke pivot, reservation price); "
        "SEED-NOTES section 1",
    ),
)
