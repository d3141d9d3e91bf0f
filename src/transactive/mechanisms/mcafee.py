"""McAfee's double auction with trade reduction (seed 004, Algorithm 1, eq. 2.1-2.7).

One block per participant (``energy_kwh``, ``price_per_kwh``). Sellers are sorted by ascending price, buyers
by descending price, ties by submission order; ``(x, y)`` is the intersection (see
:mod:`._double_auction_core`), 1-based.

* **Case 1**: ``S_{y+1}`` and ``B_{x+1}`` exist and ``p0 = (P(S_{y+1}) + P(B_{x+1})) / 2`` lies in
  ``[P(S_y), P(B_x)]`` (eq. 2.4): sellers ``1..y`` and buyers ``1..x`` trade at ``p0``.
* **Case 2** otherwise: sellers ``1..y−1`` and buyers ``1..x−1`` trade at ``p0 = (P(S_y) + P(B_x)) / 2``
  (eq. 2.5); ``S_y`` and ``B_x`` only set the price.

Quantities (eq. 2.6/2.7), with ``θ = ΣE(chosen sellers) − ΣE(chosen buyers)``:

* ``θ > 0``: the last chosen seller sells ``max(0, E − θ)``. *Erratum:* Algorithm 1's box tests
  ``ΣE(S) < ΣE(B)`` before reducing the seller; the equations (reduce when supply exceeds demand) are right.
  When ``θ`` exceeds the last seller's energy (possible in Case 2 only), the thesis's ``max(0, ·)`` would
  leave supply above demand; the remainder is taken from the seller before it, and so on (choice, documented).
* ``θ < 0``: the last chosen buyer is short by ``−θ`` (``details.unserved_kwh``); it buys ``max(0, E + θ)``
  and, likewise, a shortfall larger than its demand carries on to the buyer before it.

So every chosen side trades the first ``min(ΣE(S), ΣE(B))`` kWh of its priority order: Σ sold = Σ bought,
and with everyone paid ``p0`` the auction is budget balanced. Case 1 and Case 2 are individually rational
(``p0`` lies within every chosen participant's ask/bid); ``details.individually_rational`` reports it.
With no chosen seller or no chosen buyer (e.g. Case 2 with ``x = 1``), nothing trades and the price is None.

``details``: ``case`` (0 when the curves do not cross), ``x``, ``y``, ``chosen_sellers``, ``chosen_buyers``
(ids, submission order), ``traded_kwh``, ``theta_kwh`` (θ), ``oversupply_kwh`` (``max(0, θ)``, supply
withheld from the last seller(s)), ``unserved_kwh`` (``max(0, −θ)``), ``individually_rational``.

Example (Table 2.2 of the thesis):
    >>> from transactive.orders import Orders
    >>> s = Orders.single(["3", "24", "11", "20", "13", "6", "45", "4"],
    ...                   [30, 25, 18, 40, 50, 21, 14, 70], [20, 10, 16, 5, 16, 25, 7, 2])
    >>> b = Orders.single(["16", "39", "10", "9", "5", "8", "12"],
    ...                   [20, 16, 50, 70, 24, 19, 60], [17, 28, 6, 30, 8, 15, 23])
    >>> r = clear_mcafee(s, b, NoParams())
    >>> (r.details["case"], r.details["x"], r.details["y"], r.price_per_kwh, float(r.sellers.energy_kwh[1]))
    (2, 4, 5, 16.5, 22.0)
"""

from __future__ import annotations

from transactive.mechanisms._curves import fill
from transactive.mechanisms._double_auction_core import (
    Selection,
    build_book,
    individually_rational,
    nothing_traded,
    to_result,
)
from transactive.mechanisms._registry import Mechanism, NoParams
from transactive.orders import Orders
from transactive.result import ClearingResult

__all__ = ["MECHANISMS", "clear_mcafee", "select_mcafee"]


_NOTHING = {"theta_kwh": 0.0, "oversupply_kwh": 0.0, "unserved_kwh": 0.0, "individually_rational": True}


def select_mcafee(sellers: Orders, buyers: Orders) -> Selection:
    """Algorithm 1: chosen sellers and buyers (priority order), their energies, p0 and the case."""
    book = build_book(sellers, buyers)
    x, y = book.x, book.y
    if x == 0:
        return nothing_traded(0, 0, 0, dict(_NOTHING))
    if book.case1_condition():
        case, n_sellers, n_buyers = 1, y, x
        s_price, b_price = book.seller_price(y + 1), book.buyer_price(x + 1)
    else:
        case, n_sellers, n_buyers = 2, y - 1, x - 1
        s_price, b_price = book.seller_price(y), book.buyer_price(x)
    assert s_price is not None and b_price is not None
    price = 0.5 * (s_price + b_price)
    supply, demand = book.supply_kwh(n_sellers), book.demand_kwh(n_buyers)
    theta = supply - demand
    figures = {
        "theta_kwh": theta,
        "oversupply_kwh": max(0.0, theta),
        "unserved_kwh": max(0.0, -theta),
    }
    traded = min(supply, demand)
    if n_sellers == 0 or n_buyers == 0 or traded <= 0:
        return nothing_traded(case, x, y, dict(_NOTHING))
    figures["individually_rational"] = individually_rational(book, n_sellers, n_buyers, price)
    return Selection(
        case,
        x,
        y,
        price,
        book.seller_order[:n_sellers],
        fill(book.seller_energy_kwh[:n_sellers], traded),
        book.buyer_order[:n_buyers],
        fill(book.buyer_energy_kwh[:n_buyers], traded),
        figures,
    )


def clear_mcafee(sellers: Orders, buyers: Orders, params: NoParams) -> ClearingResult:
    """McAfee's double auction (Algorithm 1 with eq. 2.6/2.7): everyone chosen trades at p0."""
    return to_result("mcafee", sellers, buyers, select_mcafee(sellers, buyers))


MECHANISMS = (
    Mechanism(
        "mcafee",
        "McAfee double auction with trade reduction: one price p0 for everyone",
        NoParams,
        clear_mcafee,
        source="seed 004 (Martinez-Trejo thesis), Algorithm 1, eq. 2.1-2.7",
    ),
)
