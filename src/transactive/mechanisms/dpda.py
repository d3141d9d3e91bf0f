"""Demand-Prioritised Double Auction, DPDA (seed 004, Algorithm 2).

One block per participant (``energy_kwh``, ``price_per_kwh``). Sorting, ties (submission order) and the
intersection ``(x, y)`` (1-based) are McAfee's (:mod:`.mcafee`); ``cond`` is McAfee's Case-1 test
(``S_{y+1}``, ``B_{x+1}`` exist and ``(P(S_{y+1}) + P(B_{x+1}))/2 ∈ [P(S_y), P(B_x)]``).

| case | when | sellers | buyers | p0 |
|---|---|---|---|---|
| 1 | cond and ``Σ^x E(B) <= Σ^y E(S)`` | 1..y | 1..x | ``(P(S_{y+1}) + P(B_{x+1}))/2`` |
| 2 | cond, otherwise | 1..y−1 | 1..x−2 | ``(P(S_y) + P(B_{x−1}))/2`` |
| 3 | not cond and ``Σ^{x−1} E(B) <= Σ^{y−1} E(S)`` | 1..y−1 | 1..x−1 | ``(P(S_y) + P(B_x))/2`` |
| 4 | otherwise | 1..y | 1..x−1 | ``(P(S_{y+1}) + P(B_x))/2``, ``P(S_y)`` for ``P(S_{y+1})`` if absent |

Every chosen buyer receives its whole ``E(B_j)``. ``oversupply = (ΣE(S) − ΣE(B)) / (number of chosen
sellers)`` and each chosen seller sells ``E'(S_i) = max(0, E(S_i) − oversupply)``, on the 1e-9 kWh grid: the
excess, a whole number of 1e-9 kWh, is divided like an integer (the first sellers in priority order give up
one unit more when it does not divide evenly), so ``ΣE'(S) ≥ ΣE(B)`` holds exactly at the resolution.

Edge rules (the thesis is silent; SEED-NOTES section 4):

* (a) **demand priority is an invariant**: if the chosen buyers need more than the chosen sellers offer
  (possible in Case 2 only), the lowest-priority chosen buyers are dropped until the sellers cover them
  (``details.dropped_buyers``); p0 stays the case's price.
* (b) with no chosen seller or buyer left (or nothing to buy), nothing trades: price None, everyone 0.
* (c) the ``max(0, ·)`` clipping can leave ``ΣE'(S) > ΣE(B)``. By default (the thesis formula) that
  **excess** is still delivered by the sellers and paid at p0 like the rest, but it has no buyer in the
  market: it goes to the grid, i.e. the DSO takes it for losses and balancing (the thesis's stated use).
  ``details.excess_kwh`` is that energy and ``details.excess_payment = excess_kwh × p0`` what the DSO (the
  balancing account) owes the sellers for it, so Σ received by sellers = Σ paid by buyers + excess_payment.
  With ``exact_oversupply=True`` the chosen sellers are instead reduced by one common level ``t``
  (water-filling, ``Σ max(0, E_i − t) = ΣE(B)``): no excess, budget balanced.

Individual rationality: Cases 1-3 always have ``p0`` within every chosen participant's ask/bid; Case 4 can
charge a chosen buyer more than its bid when ``P(S_{y+1}) > 2 P(B_{x−1}) − P(B_x)`` (the thesis's rule,
kept: ``details.individually_rational`` is False then). Chosen sellers are always paid at least their ask.

``details``: ``case`` (0 when the curves do not cross), ``x``, ``y``, ``chosen_sellers``, ``chosen_buyers``
(ids, submission order), ``traded_kwh`` (ΣE(B)), ``sold_kwh`` (ΣE'(S)), ``oversupply_kwh`` (the thesis's
figure), ``reduction_kwh`` (the level actually subtracted: oversupply, or ``t`` when exact),
``excess_kwh``, ``excess_payment``, ``dropped_buyers``, ``exact_oversupply``, ``individually_rational``.

Example (Scenario 10, Table 3.5 of the thesis):
    >>> from transactive.orders import Orders
    >>> s = Orders.single(["3", "14", "11", "2", "13", "6", "15", "4"],
    ...                   [30, 25, 18, 40, 50, 21, 14, 70], [20, 10, 16, 5, 18, 25, 7, 2])
    >>> b = Orders.single(["16", "1", "10", "9", "5", "8", "12"],
    ...                   [30, 45, 13, 27, 18, 39, 96], [15, 28, 6, 30, 8, 15, 23])
    >>> r = clear_dpda(s, b, DpdaParams())
    >>> (r.details["case"], r.price_per_kwh, r.details["oversupply_kwh"], r.sellers.energy_kwh.tolist())
    (3, 20.5, 19.0, [0.0, 6.0, 0.0, 21.0, 0.0, 0.0, 0.0, 51.0])
    >>> (r.details["chosen_buyers"], r.details["excess_kwh"])
    (['1', '9'], 6.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from transactive.mechanisms._curves import total_kwh
from transactive.mechanisms._double_auction_core import (
    Book,
    Selection,
    build_book,
    equal_cut,
    individually_rational,
    nothing_traded,
    to_result,
    water_fill,
)
from transactive.mechanisms._registry import Mechanism, ParamError
from transactive.orders import Orders
from transactive.result import ClearingResult
from transactive.units import energy_to_units, units_to_energy

__all__ = ["MECHANISMS", "DpdaParams", "clear_dpda", "select_dpda"]


@dataclass(frozen=True)
class DpdaParams:
    """DPDA parameters.

    Attributes:
        exact_oversupply: False (default, the thesis formula): each chosen seller gives up the same
            ``oversupply`` clipped at 0, which may leave an excess over demand (sold to the grid/DSO).
            True: water-fill so that the chosen sellers' energies add up to the chosen buyers' exactly.
    """

    exact_oversupply: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.exact_oversupply, bool):
            raise ParamError("exact_oversupply", "must be true or false")


def _case(book: Book) -> tuple[int, int, int, float | None]:
    """Algorithm 2's case table: ``(case, n_sellers, n_buyers, p0)``; p0 None when a price is undefined."""
    x, y = book.x, book.y
    if book.case1_condition():
        if book.demand_kwh(x) <= book.supply_kwh(y):
            case, n_sellers, n_buyers = 1, y, x
            s_price, b_price = book.seller_price(y + 1), book.buyer_price(x + 1)
        else:
            case, n_sellers, n_buyers = 2, y - 1, x - 2
            s_price, b_price = book.seller_price(y), book.buyer_price(x - 1)
    elif book.demand_kwh(x - 1) <= book.supply_kwh(y - 1):
        case, n_sellers, n_buyers = 3, y - 1, x - 1
        s_price, b_price = book.seller_price(y), book.buyer_price(x)
    else:
        case, n_sellers, n_buyers = 4, y, x - 1
        next_seller = book.seller_price(y + 1)
        s_price = book.seller_price(y) if next_seller is None else next_seller
        b_price = book.buyer_price(x)
    n_buyers = max(n_buyers, 0)
    price = None if s_price is None or b_price is None else 0.5 * (s_price + b_price)
    return case, n_sellers, n_buyers, price


def _nothing(case: int, x: int, y: int, exact: bool, dropped: list[int]) -> Selection:
    figures: dict[str, Any] = {
        "sold_kwh": 0.0,
        "oversupply_kwh": 0.0,
        "reduction_kwh": 0.0,
        "excess_kwh": 0.0,
        "excess_payment": 0.0,
        "dropped_buyers_index": dropped,
        "exact_oversupply": exact,
        "individually_rational": True,
    }
    return nothing_traded(case, x, y, figures)


def _difference(a_kwh: float, b_kwh: float) -> float:
    """``a − b`` for energies at the resolution, exact (in integer units of 1e-9 kWh)."""
    units = energy_to_units(np.array([a_kwh, b_kwh]))
    return float(units_to_energy(int(units[0] - units[1])))


def select_dpda(sellers: Orders, buyers: Orders, params: DpdaParams) -> Selection:
    """Algorithm 2 with the edge rules: chosen sellers/buyers (priority order), energies, p0, case.

    ``figures["dropped_buyers_index"]`` lists the input indices of buyers dropped by rule (a);
    :func:`clear_dpda` turns it into ids (``details.dropped_buyers``).
    """
    book = build_book(sellers, buyers)
    exact = params.exact_oversupply
    if book.x == 0:
        return _nothing(0, 0, 0, exact, [])
    case, n_sellers, n_buyers, price = _case(book)
    supply = book.supply_kwh(n_sellers)
    # rule (a): keep the longest prefix of the case's buyers that the chosen sellers cover
    covered = int(np.searchsorted(book.demand_cum_kwh[: n_buyers + 1], supply, side="right")) - 1
    dropped = sorted(book.buyer_order[covered:n_buyers].tolist())
    n_buyers = covered
    demand = book.demand_kwh(n_buyers)
    # rule (b)
    if n_sellers == 0 or n_buyers == 0 or demand <= 0 or price is None:
        return _nothing(case, book.x, book.y, exact, dropped)
    energy = book.seller_energy_kwh[:n_sellers]
    oversupply = (supply - demand) / n_sellers
    if exact:
        sold, reduction = water_fill(energy, demand)
    else:
        sold, reduction = equal_cut(energy, _difference(supply, demand)), oversupply
    sold_kwh = total_kwh(sold)
    # ΣE'(S) − ΣE(B): exactly 0 (at the resolution) when nobody is clipped
    excess = _difference(sold_kwh, demand)
    figures: dict[str, Any] = {
        "sold_kwh": sold_kwh,
        "oversupply_kwh": oversupply,
        "reduction_kwh": reduction,
        "excess_kwh": excess,
        "excess_payment": excess * price,
        "dropped_buyers_index": dropped,
        "exact_oversupply": exact,
        "individually_rational": individually_rational(book, n_sellers, n_buyers, price),
    }
    return Selection(
        case,
        book.x,
        book.y,
        price,
        book.seller_order[:n_sellers],
        sold,
        book.buyer_order[:n_buyers],
        book.buyer_energy_kwh[:n_buyers].copy(),
        figures,
    )


def clear_dpda(sellers: Orders, buyers: Orders, params: DpdaParams) -> ClearingResult:
    """DPDA (Algorithm 2 + edge rules): chosen buyers get all they ask for, everyone trades at p0."""
    selection = select_dpda(sellers, buyers, params)
    figures = dict(selection.figures)
    dropped = figures.pop("dropped_buyers_index")
    figures["dropped_buyers"] = [buyers.ids[i] for i in dropped]
    public = Selection(
        selection.case,
        selection.x,
        selection.y,
        selection.price_per_kwh,
        selection.seller_index,
        selection.seller_energy_kwh,
        selection.buyer_index,
        selection.buyer_energy_kwh,
        figures,
    )
    return to_result("dpda", sellers, buyers, public)


MECHANISMS = (
    Mechanism(
        "dpda",
        "Demand-Prioritised Double Auction: chosen buyers get all they ask, sellers share the oversupply",
        DpdaParams,
        clear_dpda,
        source="seed 004 (Martinez-Trejo thesis), Algorithm 2",
    ),
)
