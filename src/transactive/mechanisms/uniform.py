"""Single-block baselines for comparisons: ``uniform`` (pay-as-clear) and ``pay_as_bid``.

Both trade the welfare-maximising quantity at the intersection of the supply and demand step curves
(SEED-NOTES conventions: sellers by ascending price, buyers by descending price, ties by submission order;
the marginal block may trade partially).

* ``uniform``: everyone trades at one price, the midpoint of the marginal seller's and marginal buyer's
  prices (a k = 1/2 double auction). Budget balanced: ``details.surplus = p0 × (Σ bought − Σ sold)`` with
  both sums at the clearing resolution (1e-9 kWh), where they are equal, so it is exactly 0.
* ``pay_as_bid``: each seller receives its own ask, each buyer pays its own bid, for what it trades; the
  auctioneer keeps ``details.surplus = Σ buyer payments − Σ seller receipts`` (>= 0).

Example:
    >>> from transactive.orders import Orders
    >>> r = clear_uniform(Orders.single(["s"], [10.0], [1.0]), Orders.single(["b"], [4.0], [3.0]), NoParams())
    >>> (r.price_per_kwh, r.sellers.energy_kwh.tolist(), r.buyers.payment.tolist())
    (2.0, [4.0], [8.0])
"""

from __future__ import annotations

import numpy as np

from transactive.mechanisms._curves import ascending, descending, fill, intersect, total_kwh
from transactive.mechanisms._registry import Mechanism, NoParams
from transactive.orders import FloatArray, IntArray, Orders
from transactive.result import Allocation, ClearingResult


def _fill(order: IntArray, energy_kwh: FloatArray, quantity_kwh: float) -> FloatArray:
    """Energy each block trades when the first ``quantity_kwh`` of the sorted curve trade (input order)."""
    traded = np.empty(len(order))
    traded[order] = fill(energy_kwh[order], quantity_kwh)
    return traded


def _trades(sellers: Orders, buyers: Orders) -> tuple[FloatArray, FloatArray, float | None]:
    s_order = ascending(sellers.price_per_kwh)
    b_order = descending(buyers.price_per_kwh)
    crossing = intersect(
        sellers.energy_kwh[s_order],
        sellers.price_per_kwh[s_order],
        buyers.energy_kwh[b_order],
        buyers.price_per_kwh[b_order],
    )
    if crossing.quantity_kwh == 0:
        return np.zeros(sellers.n_blocks), np.zeros(buyers.n_blocks), None
    price = 0.5 * (
        float(sellers.price_per_kwh[s_order[crossing.seller]]) + float(buyers.price_per_kwh[b_order[crossing.buyer]])
    )
    sold = _fill(s_order, sellers.energy_kwh, crossing.quantity_kwh)
    bought = _fill(b_order, buyers.energy_kwh, crossing.quantity_kwh)
    return sold, bought, price


def clear_uniform(sellers: Orders, buyers: Orders, params: NoParams) -> ClearingResult:
    """Pay-as-clear at the midpoint of the marginal prices."""
    sold, bought, price = _trades(sellers, buyers)
    p = 0.0 if price is None else price
    sold_kwh, bought_kwh = total_kwh(sold), total_kwh(bought)
    return ClearingResult(
        "uniform",
        price,
        Allocation.at_price(sold, p),
        Allocation.at_price(bought, p),
        {"traded_kwh": sold_kwh, "surplus": p * (bought_kwh - sold_kwh)},
    )



def clear_pay_as_bid(sellers: Orders, buyers: Orders, params: NoParams) -> ClearingResult:
    """Each side pays or receives its own price for the energy it trades."""
    sold, bought, _ = _trades(sellers, buyers)
    received = sold * sellers.price_per_kwh
    paid = bought * buyers.price_per_kwh
    return ClearingResult(
        "pay_as_bid",
        None,
        Allocation(sold, received),
        Allocation(bought, paid),
        {"traded_kwh": total_kwh(sold), "surplus": float(paid.sum() - received.sum())},
    )


MECHANISMS = (
    Mechanism("uniform", "pay-as-clear at the midpoint of the marginal prices", NoParams, clear_uniform,
              source="baseline for comparisons (seed 001 section IV compares trading schemes)"),
    Mechanism("pay_as_bid", "each side pays or receives its own price", NoParams, clear_pay_as_bid,
              source="baseline for comparisons"),
)
