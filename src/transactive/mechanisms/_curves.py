"""Supply and demand step curves: stable price ordering and their intersection.

Sellers are ordered by ascending price, buyers by descending price; equal prices keep submission order
(a stable sort), as SEED-NOTES prescribes. Energies are held at the clearing resolution, 1e-9 kWh
(:func:`transactive.units.at_energy_resolution`): sums and differences are taken in integer units of
1e-9 kWh (:func:`transactive.units.energy_to_units`), so sums that are equal on paper (``0.1 + 0.2`` and
``0.3``) are equal here too, and the blocks :func:`fill` fills up to a quantity add up to it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transactive.orders import FloatArray, IntArray
from transactive.units import energy_to_units, units_to_energy


def ascending(prices: FloatArray) -> IntArray:
    """Indices ordering ``prices`` ascending, ties by index (stable)."""
    return np.argsort(prices, kind="stable").astype(np.int64)


def descending(prices: FloatArray) -> IntArray:
    """Indices ordering ``prices`` descending, ties by index (stable)."""
    return np.argsort(-prices, kind="stable").astype(np.int64)


def cumulative(energy_kwh: FloatArray) -> FloatArray:
    """Cumulative energy, exact at the clearing resolution (1e-9 kWh; summed in integer units)."""
    return units_to_energy(np.cumsum(energy_to_units(energy_kwh)))


def total_kwh(energy_kwh: FloatArray) -> float:
    """Σ energy, exact at the clearing resolution (summed in integer units of 1e-9 kWh)."""
    return float(units_to_energy(int(energy_to_units(energy_kwh).sum())))


def per_owner_kwh(energy_kwh: FloatArray, owner: IntArray, n: int) -> FloatArray:
    """Σ energy per owner (``owner`` non-decreasing, every owner in ``0..n−1`` present), exact at the
    resolution."""
    units = energy_to_units(energy_kwh)
    if n == 0:
        return np.zeros(0)
    starts = np.searchsorted(np.asarray(owner, dtype=np.int64), np.arange(n))
    return units_to_energy(np.add.reduceat(units, starts))


def fill(energy_kwh: FloatArray, quantity_kwh: float) -> FloatArray:
    """Energy each block of a priority-ordered list trades when the first ``quantity_kwh`` of it trade.

    Blocks wholly inside trade their whole energy, the block holding the last unit trades the rest, later
    blocks nothing; a quantity beyond the total fills every block. Computed in integer units of 1e-9 kWh, so
    the parts add up to ``min(quantity, Σ energy)`` exactly at the resolution.

    Example:
        >>> fill(np.array([70., 40., 14., 25.]), 146.0).tolist()
        [70.0, 40.0, 14.0, 22.0]
    """
    units = energy_to_units(energy_kwh)
    if len(units) == 0:
        return np.zeros(0)
    before = np.concatenate((np.zeros(1, dtype=np.int64), np.cumsum(units)[:-1]))
    quantity = int(energy_to_units(np.array([quantity_kwh]))[0])
    return units_to_energy(np.clip(quantity - before, 0, units))


@dataclass(frozen=True)
class Crossing:
    """Where a sorted supply curve meets a sorted demand curve.

    Attributes:
        quantity_kwh: total energy traded at the crossing (every unit with buyer price >= seller price).
        seller: 0-based position (in supply order) of the block holding the last traded unit, -1 if none.
        buyer: 0-based position (in demand order) of the block holding the last traded unit, -1 if none.
    """

    quantity_kwh: float
    seller: int
    buyer: int


def intersect(
    supply_energy_kwh: FloatArray,
    supply_price: FloatArray,
    demand_energy_kwh: FloatArray,
    demand_price: FloatArray,
    *,
    supply_cum_kwh: FloatArray | None = None,
    demand_cum_kwh: FloatArray | None = None,
) -> Crossing:
    """Walk both step curves in quantity order while the buyer price >= the seller price.

    Inputs must already be sorted (supply ascending, demand descending). Zero-energy blocks hold no unit.
    ``supply_cum_kwh`` / ``demand_cum_kwh``: the sides' :func:`cumulative` energies when already computed.
    When a seller block and a buyer block end at the same quantity, both are passed together.

    O(B log S) without merging the curves: for buyer block ``j`` the sellers priced ``<= P(B_j)`` are a
    prefix of the supply curve, of cumulative energy ``cap_j``; the traded quantity is
    ``Q = max_j min(Σ^j E(B), cap_j)``. Each value is at most the end of the walk (the walk is monotone:
    True, then False), and the block holding the last traded unit attains it. Blocks holding the unit
    ``Q`` are the first whose cumulative energy reaches ``Q``.

    Example:
        >>> import numpy as np
        >>> c = intersect(np.array([5., 5.]), np.array([1., 3.]), np.array([4., 6.]), np.array([4., 2.]))
        >>> (c.quantity_kwh, c.seller, c.buyer)
        (5.0, 0, 1)
    """
    if len(supply_energy_kwh) == 0 or len(demand_energy_kwh) == 0:
        return Crossing(0.0, -1, -1)
    s_cum = cumulative(supply_energy_kwh) if supply_cum_kwh is None else supply_cum_kwh
    d_cum = cumulative(demand_energy_kwh) if demand_cum_kwh is None else demand_cum_kwh
    # sellers with price <= each buyer's price (buyers are descending: search the reversed, ascending view)
    reachable = np.searchsorted(supply_price, demand_price[::-1], side="right")[::-1]
    cap = np.concatenate((np.zeros(1), s_cum))[reachable]
    quantity = float(np.max(np.minimum(d_cum, cap)))
    if quantity <= 0:
        return Crossing(0.0, -1, -1)
    seller = int(np.searchsorted(s_cum, quantity, side="left"))
    buyer = int(np.searchsorted(d_cum, quantity, side="left"))
    return Crossing(quantity, seller, buyer)
