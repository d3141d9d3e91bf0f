"""Type I negawatt network: the demand response aggregator (DRA) buys at a fixed price (seed 003, sec. II).

The DRA broadcasts ``RequestnWBroadcast(listingID, DRArequest, DRAOfferPrice)`` (here ``request_kwh`` and
``offer_price_per_kwh``; the listing goes CLOSE → FOR_SALE); buildings answer with ``nWOffer`` (their
``energy_kwh``); ``ClosenWBidding`` (FOR_SALE → RESERVE_NOT_MET while the contract runs, then CLOSE) runs the
smart contract:

1. offers are sorted by quantity, **largest first**; equal quantities keep submission order (the paper
   sorts by "offer time and quantity");
2. they are filled in that order until the request is met (the last one taken may sell part of its offer);
3. each seller receives ``sold_kwh × offer_price_per_kwh``.

Sellers' prices are ignored (a building's offer has no price in seed 003). Result: sellers
``Allocation(sold_kwh, sold_kwh × offer price)`` in input order; buyers empty; ``price_per_kwh`` = the offer
price. ``details``: ``unmet_kwh`` (DRAunmet), ``unsold_kwh`` (nWUnsold, one per seller in input order),
``total_payment`` (DRApayment), ``request_kwh``, ``listing_states`` (the listing's states through the
clearing).

Example (seed 003, Table II):
    >>> from transactive.orders import Orders
    >>> offers = Orders.single(["b1", "b2", "b3", "b4", "b5"], [10, 40, 38, 5, 25], [0, 0, 0, 0, 0])
    >>> r = clear_dra_fixed_price(offers, Orders.empty(), DraParams(100, 10))
    >>> (r.sellers.energy_kwh.tolist(), r.details["unsold_kwh"], r.details["total_payment"])
    ([0.0, 40.0, 38.0, 0.0, 22.0], [10.0, 0.0, 0.0, 5.0, 3.0], 1000.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transactive.mechanisms._curves import descending
from transactive.mechanisms._registry import Mechanism, ParamError, param_number
from transactive.orders import Orders, OrdersError
from transactive.result import Allocation, ClearingResult

LISTING_STATES = ("CLOSE", "FOR_SALE", "RESERVE_NOT_MET", "CLOSE")
"""The listing's states from the DRA's broadcast to the end of the clearing (seed 003)."""


@dataclass(frozen=True)
class DraParams:
    """Parameters of ``dra_fixed_price``.

    Attributes:
        request_kwh: demand reduction the DRA requests (DRArequest), kWh, finite and > 0.
        offer_price_per_kwh: price the DRA pays per kWh sold (DRAOfferPrice), tokens/kWh, finite and >= 0.
    """

    request_kwh: float
    offer_price_per_kwh: float

    def __post_init__(self) -> None:
        request = param_number("request_kwh", self.request_kwh)
        if request <= 0:
            raise ParamError("request_kwh", "must be > 0")
        price = param_number("offer_price_per_kwh", self.offer_price_per_kwh)
        if price < 0:
            raise ParamError("offer_price_per_kwh", "must be >= 0")
        object.__setattr__(self, "request_kwh", request)
        object.__setattr__(self, "offer_price_per_kwh", price)


def clear_dra_fixed_price(sellers: Orders, buyers: Orders, params: DraParams) -> ClearingResult:
    """Fill the DRA's request with the largest offers first, everyone paid the DRA's offer price."""
    if buyers.n:
        raise OrdersError("buyers", "dra_fixed_price takes no buyers: the DRA is the buyer")
    if not sellers.is_single_block:
        raise OrdersError("sellers", "dra_fixed_price takes one energy_kwh offer per building")
    energy = sellers.energy_kwh
    order = descending(energy)
    sorted_kwh = energy[order]
    before = np.concatenate((np.zeros(1), np.cumsum(sorted_kwh)[:-1])) if len(order) else np.zeros(0)
    sold = np.zeros(sellers.n)
    sold[order] = np.clip(params.request_kwh - before, 0.0, sorted_kwh)
    unmet = params.request_kwh - float(sold.sum())
    if unmet <= 1e-12 * params.request_kwh:  # floating-point residue
        unmet = 0.0
    allocation = Allocation.at_price(sold, params.offer_price_per_kwh)
    details = {
        "request_kwh": params.request_kwh,
        "unmet_kwh": unmet,
        "unsold_kwh": (energy - sold).tolist(),
        "total_payment": allocation.total_payment,
        "listing_states": list(LISTING_STATES),
    }
    return ClearingResult(
        "dra_fixed_price", params.offer_price_per_kwh, allocation, Allocation.zeros(0), details
    )


MECHANISMS = (
    Mechanism(
        "dra_fixed_price",
        "negawatt request filled by the largest offers first, all paid the aggregator's fixed price",
        DraParams,
        clear_dra_fixed_price,
        sides=("sellers",),
        price_required=False,
        source="seed 003 (Jing et al.), Type I DRA negawatt network: ClosenWBidding contract, Tables I-II",
    ),
)
