"""Shared machinery of the McAfee and DPDA double auctions (seed 004, eq. 2.1-2.3, Algorithms 1-2).

One block per participant: seller ``i`` offers ``E(S_i)`` kWh at no less than ``P(S_i)`` per kWh, buyer ``j``
asks for ``E(B_j)`` kWh at no more than ``P(B_j)`` per kWh.

* :func:`build_book` sorts sellers by ascending price (2.1) and buyers by descending price (2.2), ties by
  submission order (stable sort), and finds the intersection ``(x, y)`` (2.3): walking both step curves in
  quantity order while ``P(B) >= P(S)``, ``x``/``y`` are the **1-based** positions of the buyer and seller
  blocks holding the last unit so traded (0 when nothing crosses). When a seller block and a buyer block end
  at the same quantity both are passed together (the semantics of :func:`._curves.intersect`).
* :class:`Book` gives the thesis's 1-based prices ``P(S_k)``, ``P(B_k)`` and prefix sums ``Σ^k E``
  (cumulative energies are at the 1e-9 kWh resolution, so sums equal on paper compare equal), and the Case-1
  test.
* :func:`equal_cut` and :func:`water_fill` reduce the chosen sellers on the 1e-9 kWh grid, in integers, so
  that their energies add up exactly at the resolution.
* :class:`Selection` is what both mechanisms decide (chosen participants, their energies, p0, case), and
  :func:`to_result` turns it into a :class:`ClearingResult` where everyone trades at ``p0``.

Example:
    >>> from transactive.orders import Orders
    >>> s = Orders.single(["a", "b"], [10.0, 10.0], [1.0, 5.0])
    >>> b = Orders.single(["c", "d"], [8.0, 8.0], [6.0, 2.0])
    >>> book = build_book(s, b)
    >>> (book.x, book.y, book.seller_price(2), book.supply_kwh(1), book.case1_condition())
    (2, 1, 5.0, 10.0, False)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from transactive.mechanisms._curves import ascending, cumulative, descending, intersect, total_kwh
from transactive.orders import FloatArray, IntArray, Orders, OrdersError
from transactive.result import Allocation, ClearingResult
from transactive.units import ENERGY_UNITS_PER_KWH, energy_to_units, units_to_energy


@dataclass(frozen=True, eq=False)
class Book:
    """Both sides in priority order with prefix sums and the intersection ``(x, y)`` (1-based, 0 = none).

    Attributes:
        seller_order: input index of the k-th seller in priority order (ascending price, stable).
        buyer_order: input index of the k-th buyer in priority order (descending price, stable).
        seller_energy_kwh / seller_price_per_kwh: sorted seller columns.
        buyer_energy_kwh / buyer_price_per_kwh: sorted buyer columns.
        supply_cum_kwh: ``supply_cum_kwh[k] = Σ^k E(S_i)``, k = 0..S (snapped to 1e-9 kWh).
        demand_cum_kwh: ``demand_cum_kwh[k] = Σ^k E(B_j)``, k = 0..B.
        x: 1-based position of the buyer holding the last traded unit, 0 when the curves do not cross.
        y: 1-based position of the seller holding the last traded unit, 0 when the curves do not cross.
    """

    seller_order: IntArray
    buyer_order: IntArray
    seller_energy_kwh: FloatArray
    seller_price_per_kwh: FloatArray
    buyer_energy_kwh: FloatArray
    buyer_price_per_kwh: FloatArray
    supply_cum_kwh: FloatArray
    demand_cum_kwh: FloatArray
    x: int
    y: int

    @property
    def n_sellers(self) -> int:
        return len(self.seller_order)

    @property
    def n_buyers(self) -> int:
        return len(self.buyer_order)

    def seller_price(self, k: int) -> float | None:
        """``P(S_k)`` (1-based), None when there is no k-th seller."""
        return float(self.seller_price_per_kwh[k - 1]) if 1 <= k <= self.n_sellers else None

    def buyer_price(self, k: int) -> float | None:
        """``P(B_k)`` (1-based), None when there is no k-th buyer."""
        return float(self.buyer_price_per_kwh[k - 1]) if 1 <= k <= self.n_buyers else None

    def supply_kwh(self, k: int) -> float:
        """``Σ^k E(S_i)`` for 0 <= k <= S."""
        return float(self.supply_cum_kwh[k])

    def demand_kwh(self, k: int) -> float:
        """``Σ^k E(B_j)`` for 0 <= k <= B."""
        return float(self.demand_cum_kwh[k])

    def case1_condition(self) -> bool:
        """McAfee's Case-1 test: ``S_{y+1}``, ``B_{x+1}`` exist, their mean lies in ``[P(S_y), P(B_x)]``."""
        if self.x == 0:
            return False
        s_next, b_next = self.seller_price(self.y + 1), self.buyer_price(self.x + 1)
        if s_next is None or b_next is None:
            return False
        p0 = 0.5 * (s_next + b_next)
        low, high = self.seller_price(self.y), self.buyer_price(self.x)
        assert low is not None and high is not None
        return low <= p0 <= high


def _require_single_block(orders: Orders, side: str) -> None:
    if not orders.is_single_block:
        raise OrdersError(f"{side}.blocks", "this mechanism takes one block (energy_kwh, price_per_kwh) each")


def build_book(sellers: Orders, buyers: Orders) -> Book:
    """Sort both sides (eq. 2.1-2.2, ties by submission order) and find the intersection (eq. 2.3)."""
    _require_single_block(sellers, "sellers")
    _require_single_block(buyers, "buyers")
    s_order = ascending(sellers.price_per_kwh)
    b_order = descending(buyers.price_per_kwh)
    s_energy, s_price = sellers.energy_kwh[s_order], sellers.price_per_kwh[s_order]
    b_energy, b_price = buyers.energy_kwh[b_order], buyers.price_per_kwh[b_order]
    s_cum, b_cum = cumulative(s_energy), cumulative(b_energy)
    found = intersect(s_energy, s_price, b_energy, b_price, supply_cum_kwh=s_cum, demand_cum_kwh=b_cum)
    zero = np.zeros(1)
    return Book(
        s_order,
        b_order,
        s_energy,
        s_price,
        b_energy,
        b_price,
        np.concatenate((zero, s_cum)),
        np.concatenate((zero, b_cum)),
        found.buyer + 1,
        found.seller + 1,
    )


def equal_cut(energy_kwh: FloatArray, excess_kwh: float) -> FloatArray:
    """The thesis's cut ``E' = max(0, E − excess/n)`` on the 1e-9 kWh grid.

    The excess, a whole number ``X`` of 1e-9 kWh, is split into ``n`` equal cuts the way an integer is
    divided: ``X // n`` each, one more for the first ``X mod n`` blocks (priority order). So ``ΣE' ≥ ΣE − X``,
    with equality when no block is clipped at 0, exactly at the resolution.

    Example:
        >>> equal_cut(np.array([30., 29., 31.]), 4.22).tolist()
        [28.593333333, 27.593333333, 29.593333334]
    """
    n = len(energy_kwh)
    q, r = divmod(int(energy_to_units(np.array([excess_kwh]))[0]), n)
    cut = np.full(n, q, dtype=np.int64)
    cut[:r] += 1
    return units_to_energy(np.maximum(0, energy_to_units(energy_kwh) - cut))


def water_fill(energy_kwh: FloatArray, total_kwh: float) -> tuple[FloatArray, float]:
    """Reduce every block by one level ``t`` (never below 0) so that ``Σ max(0, E_i − t) = total_kwh``.

    Requires ``0 < total_kwh <= Σ E_i``. Returns ``(max(0, E − t), t)``. Sorting the energies descending,
    ``f(t) = Σ max(0, E_i − t)`` equals ``total_kwh`` at ``t = (Σ^m E − total_kwh) / m`` where ``m`` is the
    number of blocks with ``f(E_(m)) < total_kwh`` (a prefix, since ``f(E_(m))`` grows with ``m``).

    On the 1e-9 kWh grid, in integers: the blocks are reduced to ``max(0, E − ⌊t⌋)``, which overshoots the
    total by fewer units than there are blocks above ``⌊t⌋``; the first of those (priority order) give one
    unit back each, so the parts add up to ``total_kwh`` exactly at the resolution.

    Example:
        >>> reduced, level = water_fill(np.array([10., 2., 6.]), 8.0)
        >>> (reduced.tolist(), level)
        ([6.0, 0.0, 2.0], 4.0)
    """
    nano = energy_to_units(energy_kwh)
    target = int(energy_to_units(np.array([total_kwh]))[0])
    ordered = np.sort(nano)[::-1]
    cum = np.cumsum(ordered)
    m = np.arange(1, len(ordered) + 1, dtype=np.int64)
    active = int(np.count_nonzero((cum - m * ordered) < target))  # f(E_(m)) < total
    excess = int(cum[active - 1]) - target
    level_floor = max(0, excess // active)
    reduced = np.maximum(0, nano - level_floor)
    over = int(reduced.sum()) - target
    reduced[np.flatnonzero(nano > level_floor)[:over]] -= 1
    return units_to_energy(reduced), max(0.0, excess / active / ENERGY_UNITS_PER_KWH)


@dataclass(frozen=True, eq=False)
class Selection:
    """What McAfee / DPDA decide, before it becomes a :class:`ClearingResult`.

    Attributes:
        case: the thesis's case number (1-2 McAfee, 1-4 DPDA); 0 when the curves do not cross.
        x, y: the intersection, 1-based (0 when the curves do not cross).
        price_per_kwh: p0, None when nothing trades.
        seller_index: input indices of the chosen sellers, priority order (empty when nothing trades).
        seller_energy_kwh: energy each chosen seller trades, aligned with ``seller_index``.
        buyer_index: input indices of the chosen buyers, priority order.
        buyer_energy_kwh: energy each chosen buyer trades, aligned with ``buyer_index``.
        figures: mechanism-specific details (JSON-compatible numbers and booleans).
    """

    case: int
    x: int
    y: int
    price_per_kwh: float | None
    seller_index: IntArray
    seller_energy_kwh: FloatArray
    buyer_index: IntArray
    buyer_energy_kwh: FloatArray
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def trades(self) -> bool:
        """True when something trades."""
        return self.price_per_kwh is not None


_NO_INDEX: IntArray = np.zeros(0, dtype=np.int64)
_NO_ENERGY: FloatArray = np.zeros(0)


def nothing_traded(case: int, x: int, y: int, figures: dict[str, Any]) -> Selection:
    """A selection where nobody trades (price None)."""
    return Selection(case, x, y, None, _NO_INDEX, _NO_ENERGY, _NO_INDEX, _NO_ENERGY, figures)


def individually_rational(book: Book, n_sellers: int, n_buyers: int, price_per_kwh: float) -> bool:
    """True when ``P(S_i) <= p0`` for the first ``n_sellers`` and ``P(B_j) >= p0`` for the first ``n_buyers``.

    Both sides are sorted, so only the last chosen seller and buyer need checking.
    """
    seller_ok = n_sellers == 0 or book.seller_price_per_kwh[n_sellers - 1] <= price_per_kwh
    buyer_ok = n_buyers == 0 or book.buyer_price_per_kwh[n_buyers - 1] >= price_per_kwh
    return bool(seller_ok and buyer_ok)


def _scatter(n: int, index: IntArray, values: FloatArray) -> FloatArray:
    out = np.zeros(n)
    out[index] = values
    return out


def _ids(orders: Orders, index: IntArray) -> list[str]:
    ids = orders.ids
    return [ids[i] for i in np.sort(index).tolist()]


def to_result(mechanism: str, sellers: Orders, buyers: Orders, selection: Selection) -> ClearingResult:
    """Everyone chosen trades at p0: payment = energy × p0 (received by sellers, paid by buyers).

    ``details``: ``case``, ``x``, ``y``, ``chosen_sellers`` / ``chosen_buyers`` (ids in submission order),
    ``traded_kwh`` (Σ bought), then ``selection.figures``.
    """
    price = selection.price_per_kwh
    p = 0.0 if price is None else price
    sold = _scatter(sellers.n, selection.seller_index, selection.seller_energy_kwh)
    bought = _scatter(buyers.n, selection.buyer_index, selection.buyer_energy_kwh)
    details: dict[str, Any] = {
        "case": selection.case,
        "x": selection.x,
        "y": selection.y,
        "chosen_sellers": _ids(sellers, selection.seller_index),
        "chosen_buyers": _ids(buyers, selection.buyer_index),
        "traded_kwh": total_kwh(selection.buyer_energy_kwh),
    }
    details.update(selection.figures)
    return ClearingResult(
        mechanism, price, Allocation.at_price(sold, p), Allocation.at_price(bought, p), details
    )
