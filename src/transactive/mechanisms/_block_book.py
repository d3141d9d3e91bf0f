"""A sorted block book for one node: step curves, their integrals, and the welfare-maximising clearing.

Supply blocks are sorted by ascending price, demand blocks by descending price, ties by submission order
(stable). Block ``k`` of a sorted curve occupies the quantity interval ``[start_kwh[k], end_kwh[k]]`` where
``end_kwh`` is the cumulative energy at the 1e-9 kWh resolution (:func:`_curves.cumulative`). The integral of the
price over the first ``x`` kWh (:meth:`Curve.area`) is the cost of the cheapest ``x`` kWh of supply or the
value of the most valuable ``x`` kWh of demand; it is evaluated from exact prefix sums at block boundaries.

The winner determination problem of seed 001 (eq. 1) on a single node is solved by intersecting the
curves: the first ``Q`` kWh of each curve trade, ``Q`` being the largest quantity at which every unit has
buyer price >= seller price (:func:`_curves.intersect`). Its welfare is ``J = area_D(Q) - area_S(Q)``.

Example:
    >>> import numpy as np
    >>> s = Curve.ascending(np.array([10.0, 10.0, 15.0]), np.array([0.05, 0.08, 0.06]), np.array([0, 0, 1]))
    >>> s.owner.tolist(), s.end_kwh.tolist()
    ([0, 1, 0], [10.0, 25.0, 35.0])
    >>> round(float(s.area(np.array([12.0]))[0]), 9)
    0.62
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transactive.mechanisms._curves import ascending, cumulative, descending, fill, intersect
from transactive.orders import FloatArray, IntArray


@dataclass(frozen=True, eq=False)
class Curve:
    """One side's blocks in merit order (sorted arrays; ``order[k]`` is the input index of block ``k``)."""

    order: IntArray
    energy_kwh: FloatArray
    price_per_kwh: FloatArray
    owner: IntArray
    start_kwh: FloatArray
    end_kwh: FloatArray
    area_before: FloatArray  # integral of the price over [0, start_kwh[k]]

    @classmethod
    def _build(
        cls, order: IntArray, energy_kwh: FloatArray, price_per_kwh: FloatArray, owner: IntArray
    ) -> Curve:
        e = np.asarray(energy_kwh, dtype=np.float64)[order]
        p = np.asarray(price_per_kwh, dtype=np.float64)[order]
        end = cumulative(e)
        start = np.concatenate((np.zeros(1), end[:-1])) if len(end) else np.zeros(0)
        area_before = np.concatenate((np.zeros(1), np.cumsum(p * (end - start))[:-1])) if len(end) else end
        return cls(order, e, p, np.asarray(owner, dtype=np.int64)[order], start, end, area_before)

    @classmethod
    def ascending(cls, energy_kwh: FloatArray, price_per_kwh: FloatArray, owner: IntArray) -> Curve:
        """A supply curve (ascending price, stable)."""
        order = ascending(np.asarray(price_per_kwh, dtype=np.float64))
        return cls._build(order, energy_kwh, price_per_kwh, owner)

    @classmethod
    def descending(cls, energy_kwh: FloatArray, price_per_kwh: FloatArray, owner: IntArray) -> Curve:
        """A demand curve (descending price, stable)."""
        order = descending(np.asarray(price_per_kwh, dtype=np.float64))
        return cls._build(order, energy_kwh, price_per_kwh, owner)

    def mirrored(self) -> Curve:
        """The same blocks in the same order with negated prices (a demand curve seen as a supply curve)."""
        return Curve(self.order, self.energy_kwh, -self.price_per_kwh, self.owner, self.start_kwh,
                     self.end_kwh, -self.area_before)

    @property
    def total_kwh(self) -> float:
        return float(self.end_kwh[-1]) if len(self.end_kwh) else 0.0

    def area(self, x_kwh: FloatArray) -> FloatArray:
        """Integral of the price over ``[0, x]`` for each ``x`` (0 <= x <= total), tokens."""
        x = np.asarray(x_kwh, dtype=np.float64)
        if len(self.end_kwh) == 0:
            return np.zeros_like(x)
        k = np.minimum(np.searchsorted(self.end_kwh, x, side="left"), len(self.end_kwh) - 1)
        area: FloatArray = self.area_before[k] + self.price_per_kwh[k] * (x - self.start_kwh[k])
        return area

    def cleared_len(self, quantity_kwh: float) -> FloatArray:
        """Internal (snapped) length of each sorted block inside ``[0, quantity]``."""
        inside: FloatArray = np.clip(quantity_kwh, self.start_kwh, self.end_kwh) - self.start_kwh
        return inside

    def cleared_energy(self, quantity_kwh: float) -> FloatArray:
        """Energy each block trades when the first ``quantity`` kWh trade, in INPUT block order.

        Blocks entirely inside report their submitted energy; the marginal block reports the rest, at the
        1e-9 kWh resolution (:func:`._curves.fill`).
        """
        sorted_e = fill(self.energy_kwh, quantity_kwh)
        out = np.empty_like(sorted_e)
        out[self.order] = sorted_e
        return out


@dataclass(frozen=True, eq=False)
class Clearing:
    """The welfare-maximising clearing of a supply and a demand curve.

    Attributes:
        quantity_kwh: ``Q``, energy traded.
        welfare: ``J = area_D(Q) - area_S(Q)``, tokens.
        seller: sorted position of the marginal supply block (holds the last traded unit), -1 if none.
        buyer: sorted position of the marginal demand block, -1 if none.
    """

    supply: Curve
    demand: Curve
    quantity_kwh: float
    welfare: float
    seller: int
    buyer: int


def clear_curves(supply: Curve, demand: Curve) -> Clearing:
    """Solve the single-node WDP (seed 001 eq. 1) by intersecting the step curves."""
    c = intersect(supply.energy_kwh, supply.price_per_kwh, demand.energy_kwh, demand.price_per_kwh,
                  supply_cum_kwh=supply.end_kwh, demand_cum_kwh=demand.end_kwh)
    q = float(c.quantity_kwh)
    if q <= 0:
        return Clearing(supply, demand, 0.0, 0.0, -1, -1)
    qa = np.array([q])
    welfare = float(demand.area(qa)[0] - supply.area(qa)[0])
    return Clearing(supply, demand, q, welfare, c.seller, c.buyer)


def welfare_of(
    s_energy: FloatArray, s_price: FloatArray, d_energy: FloatArray, d_price: FloatArray
) -> float:
    """``J`` of a book given as flat block arrays (owners irrelevant)."""
    s = Curve.ascending(s_energy, s_price, np.zeros(len(s_energy), dtype=np.int64))
    d = Curve.descending(d_energy, d_price, np.zeros(len(d_energy), dtype=np.int64))
    return clear_curves(s, d).welfare
