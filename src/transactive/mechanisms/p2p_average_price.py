"""Type II negawatt network: peer-to-peer trade at the sellers' average price (seed 003, sec. III).

Buildings sell negawatts (``nWSellOffer``: ``energy_kwh`` and a bid price ``β``, the lowest they accept) and
buy them (``nWBuyOffer``: ``energy_kwh`` and an offer price, the highest they pay). ``CloseP2PnWBidding``
runs the smart contract:

1. the market clearing price is the sellers' quantity-weighted average bid, eq. (1):
   ``MCP = Σ β_i kW_i / Σ kW_i`` over **all** sellers (summed exactly with ``math.fsum``);
2. only buyers whose offer price is **>= MCP** take part (compared with a 1e-12 relative tolerance so that
   a price equal to the MCP on paper is not lost to rounding);
3. sellers are sorted by ``kW × β`` **descending** (ties by submission order) and fill the participating
   buyers' total demand; the last seller taken may sell part of its offer;
4. if supply falls short, participating buyers are served in **submission order** (seed 003 is silent; its
   example has a single participating buyer) and the rest of their demand is unmet;
5. everything settles at the MCP: sellers receive and buyers pay ``kWh × MCP``.

A seller asking more than the MCP can be forced to sell below its ask (faithful default). With
``exclude_sellers_above_mcp=True`` such sellers do not sell: the MCP is still eq. (1) over all sellers,
computed **once**, and the sellers with ``β > MCP`` are then left out of step 3. (Iterating "drop sellers
above the average, recompute the average" to a fixed point is not offered: a weighted average lies below
the largest price unless all prices are equal, so the iteration always ends with only the cheapest sellers,
the MCP collapsing to the lowest bid.) Both sides are then individually rational.

No seller with energy > 0 means no MCP: nothing trades and ``price_per_kwh`` is None. ``details``:
``mcp_per_kwh``, ``unmet_kwh`` (nWUnmet, one per buyer in input order; a buyer priced out keeps all its
demand unmet), ``unsold_kwh`` (nWUnsold, one per seller), ``participating_buyers``, ``excluded_sellers``
(ids), ``traded_kwh``.

Example (seed 003, Tables III-IV):
    >>> from transactive.orders import Orders
    >>> s = Orders.single(["b1", "b2", "b3", "b4", "b5"], [10, 40, 5, 10, 50], [20, 8, 7, 15, 5])
    >>> b = Orders.single(["b6", "b7"], [50, 70], [5, 16])
    >>> r = clear_p2p_average_price(s, b, P2pAverageParams())
    >>> round(r.price_per_kwh, 4), r.sellers.energy_kwh.tolist(), r.details["unmet_kwh"]
    (8.3043, [0.0, 40.0, 0.0, 0.0, 30.0], [50.0, 0.0])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from transactive.mechanisms._curves import descending, fill, total_kwh
from transactive.mechanisms._registry import Mechanism, ParamError
from transactive.orders import FloatArray, IntArray, Orders, OrdersError
from transactive.result import Allocation, ClearingResult
from transactive.units import energy_to_units, units_to_energy

PRICE_TOLERANCE = 1e-12  # relative tolerance of price comparisons against the MCP


@dataclass(frozen=True)
class P2pAverageParams:
    """Parameters of ``p2p_average_price``.

    Attributes:
        exclude_sellers_above_mcp: leave out sellers whose bid price exceeds the MCP (default False: seed
            003's rule, where such sellers may sell below their ask).
    """

    exclude_sellers_above_mcp: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.exclude_sellers_above_mcp, bool):
            raise ParamError("exclude_sellers_above_mcp", "must be true or false")


def _fill(order: IntArray, energy_kwh: FloatArray, quantity_kwh: float) -> FloatArray:
    """kWh each offer trades when ``quantity_kwh`` is filled along ``order`` (result in input order)."""
    traded = np.zeros(len(energy_kwh))
    traded[order] = fill(energy_kwh[order], quantity_kwh)
    return traded


def clear_p2p_average_price(sellers: Orders, buyers: Orders, params: P2pAverageParams) -> ClearingResult:
    """Settle every trade at the sellers' quantity-weighted average bid (see the module docstring)."""
    if not (sellers.is_single_block and buyers.is_single_block):
        raise OrdersError("blocks", "p2p_average_price takes one (energy_kwh, price_per_kwh) offer each")
    s_kwh, s_price = sellers.energy_kwh, sellers.price_per_kwh
    b_kwh, b_price = buyers.energy_kwh, buyers.price_per_kwh
    supply_kwh = math.fsum(s_kwh.tolist())
    if supply_kwh <= 0:
        return ClearingResult(
            "p2p_average_price",
            None,
            Allocation.zeros(sellers.n),
            Allocation.zeros(buyers.n),
            {
                "mcp_per_kwh": None,
                "unmet_kwh": b_kwh.tolist(),
                "unsold_kwh": s_kwh.tolist(),
                "participating_buyers": [],
                "excluded_sellers": [],
                "traded_kwh": 0.0,
            },
        )
    mcp = math.fsum((s_kwh * s_price).tolist()) / supply_kwh
    slack = PRICE_TOLERANCE * max(1.0, abs(mcp))
    participating = b_price >= mcp - slack
    eligible = np.ones(sellers.n, dtype=bool)
    if params.exclude_sellers_above_mcp:
        eligible = s_price <= mcp + slack
    order = descending(s_kwh * s_price)
    order = order[eligible[order]]
    demand_kwh = total_kwh(b_kwh[participating])
    sold = _fill(order, s_kwh, demand_kwh)
    traded_kwh = total_kwh(sold)
    bought = _fill(np.flatnonzero(participating), b_kwh, traded_kwh)
    details = {
        "mcp_per_kwh": mcp,
        "unmet_kwh": units_to_energy(energy_to_units(b_kwh) - energy_to_units(bought)).tolist(),
        "unsold_kwh": units_to_energy(energy_to_units(s_kwh) - energy_to_units(sold)).tolist(),
        "participating_buyers": [buyers.ids[i] for i in np.flatnonzero(participating)],
        "excluded_sellers": [sellers.ids[i] for i in np.flatnonzero(~eligible)],
        "traded_kwh": traded_kwh,
    }
    return ClearingResult(
        "p2p_average_price", mcp, Allocation.at_price(sold, mcp), Allocation.at_price(bought, mcp), details
    )


MECHANISMS = (
    Mechanism(
        "p2p_average_price",
        "P2P negawatt trade at the sellers' quantity-weighted average bid (MCP), biggest offers first",
        P2pAverageParams,
        clear_p2p_average_price,
        sides=("sellers", "buyers"),
        source="seed 003 (Jing et al.), Type II P2P negawatt network: eq. (1) MCP, Tables III-IV",
    ),
)
