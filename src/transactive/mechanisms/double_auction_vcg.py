"""Block-bid double auction with VCG and balanced-budget pricing (seed 001, section III-C, eq. 1-11).

Sellers and buyers submit blocks ``(energy_kwh, price_per_kwh)``; energies are kWh for the slot (a block of
``P`` kW over ``slot_hours`` hours is ``P * slot_hours`` kWh), so every money figure ``λ p dt`` of the paper
is ``price_per_kwh * energy_kwh`` here. ``slot_hours`` only converts energies to average kW in ``details``.

Allocation, the WDP (1): the welfare-maximising clearing of one node, ``J = Σ λ_D l - Σ λ_G p`` (supply
ascending, demand descending, ties by submission order, the marginal block may clear partially).

Money (sign convention: seller ``payment`` = received, buyer ``payment`` = paid), with
``X = auctioneer_share + miner_share``:

* market exchange (4) ``ME = Σ λ_G p* + Σ λ_D l*``; rewards (2)-(3) ``X^A ME`` and ``X^M ME``;
* bid values (5)-(6) ``U_i = (1 - X) Σ_m λ_G p*`` (seller) and ``U_j = (1 - X) Σ_n λ_D l*`` (buyer);
* uniform price (11) ``λ_u`` = highest price of a supply block with ``p* > 0``;
* every pricing rule is ``U_i + premium_i`` for a seller and ``U_j - discount_j`` for a buyer, where the
  shares scale ``U`` only for ``vcg`` and ``balanced_budget`` (the paper's (7)-(10)); the other rules
  are not specified with shares by the paper and pay their prices exactly (``X = 0`` in ``U``), the
  rewards then coming out of the auctioneer's surplus:

  =================  =======================================  =========================================
  ``pricing``        seller premium                           buyer discount
  =================  =======================================  =========================================
  ``vcg`` (7)-(8)    ``J - J^-i``                             ``J - J^-j``
  ``balanced_budget``  ``min(J - J^-i, Σ (λ_u - λ_G) p*)``   ``min(J - J^-j, Σ (λ_D - λ_u) l*)``
  (9)-(10)
  ``uniform`` (11)   ``Σ (λ_u - λ_G) p*``                     ``Σ (λ_D - λ_u) l*``
  ``pay_as_bid``     0                                        0
  ``trade_reduction``  ``Σ (λ_σ - λ_G) p^r``                   ``Σ (λ_D - λ_δ) l^r``
  =================  =======================================  =========================================

  So the uniform rule pays ``λ_u`` per kWh and pay-as-bid each block's own price. ``J^-i``
  removes ALL blocks of agent ``i`` (computed exactly without re-solving, see :mod:`._clarke_pivot`).
* ``trade_reduction`` (McAfee's remedy, adapted to divisible blocks): let ``σ`` and ``δ`` be the marginal
  supply and demand blocks of the efficient clearing (those holding its last traded unit). Both are
  excluded: the first ``Q_r = min(start_σ, start_δ)`` kWh of each curve trade, sellers receive ``λ_σ`` and
  buyers pay ``λ_δ`` per kWh (with zero shares). Every traded supply block is priced ``<= λ_σ`` and every
  traded demand block ``>= λ_δ >= λ_σ``, so it is individually rational and leaves the auctioneer
  ``(λ_δ - λ_σ) Q_r >= 0``; it gives up the welfare of the marginal blocks.
* auctioneer surplus (negative: deficiency) ``= Σ buyer payments - Σ seller receipts - rewards``; under
  ``uniform`` it is computed as ``λ_u (Σ bought − Σ sold) − rewards`` with both sums at the clearing
  resolution (1e-9 kWh), where they are equal: exactly ``−rewards`` (0 without shares).
* energies: the marginal block's part and each participant's total are at the 1e-9 kWh resolution
  (:func:`transactive.units.at_energy_resolution`), so Σ sold = Σ bought exactly at it.

Example (SEED-NOTES section 2):
    >>> from transactive.orders import Orders
    >>> s = Orders.from_blocks(["G1", "G2"], [[(10, 0.05), (10, 0.08)], [(15, 0.06)]])
    >>> b = Orders.from_blocks(["D1", "D2"], [[(12, 0.20), (8, 0.07)], [(10, 0.12), (5, 0.04)]])
    >>> r = clear_double_auction_vcg(s, b, DoubleAuctionParams())
    >>> [round(float(x), 9) for x in (*r.sellers.payment, *r.buyers.payment)]
    [1.05, 1.25, 0.9, 0.65]
    >>> round(r.details["welfare"], 9), r.details["uniform_price_per_kwh"], round(r.details["surplus"], 9)
    (2.41, 0.06, -0.75)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from transactive.mechanisms._block_book import Clearing, Curve, clear_curves
from transactive.mechanisms._clarke_pivot import clarke_pivots
from transactive.mechanisms._curves import per_owner_kwh, total_kwh
from transactive.mechanisms._registry import Mechanism, ParamError
from transactive.orders import FloatArray, Orders
from transactive.result import Allocation, ClearingResult

Pricing = Literal["vcg", "balanced_budget", "uniform", "pay_as_bid", "trade_reduction"]
PRICING_RULES: tuple[str, ...] = get_args(Pricing)


def _finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class DoubleAuctionParams:
    """Parameters of ``double_auction_vcg`` (market-file names).

    Attributes:
        pricing: the payment rule (see the module docstring); ``vcg`` is eq. (7)-(8).
        auctioneer_share: ``X^A`` of eq. (2), >= 0.
        miner_share: ``X^M`` of eq. (3), >= 0; ``X^A + X^M < 1``.
        slot_hours: slot length ``dt`` in hours (> 0), only used to report average power.
    """

    pricing: Pricing = "vcg"
    auctioneer_share: float = 0.0
    miner_share: float = 0.0
    slot_hours: float = 1.0

    def __post_init__(self) -> None:
        if self.pricing not in PRICING_RULES:
            raise ParamError("pricing", f"must be one of {', '.join(PRICING_RULES)}")
        for name in ("auctioneer_share", "miner_share"):
            if not _finite_number(getattr(self, name)) or getattr(self, name) < 0:
                raise ParamError(name, "must be a finite number >= 0")
        if self.auctioneer_share + self.miner_share >= 1:
            raise ParamError("miner_share", "auctioneer_share + miner_share must be < 1")
        if not _finite_number(self.slot_hours) or self.slot_hours <= 0:
            raise ParamError("slot_hours", "must be a finite number > 0")


def _trade_reduction(book: Clearing) -> tuple[float, float, float]:
    """``(Q_r, λ_σ, λ_δ)``: reduced quantity, seller price and buyer price of the trade reduction."""
    if book.seller < 0:
        return 0.0, math.nan, math.nan
    q_r = min(float(book.supply.start_kwh[book.seller]), float(book.demand.start_kwh[book.buyer]))
    return q_r, float(book.supply.price_per_kwh[book.seller]), float(book.demand.price_per_kwh[book.buyer])


@dataclass(frozen=True, eq=False)
class _Cleared:
    """Per participant: energy sold and its blocks' cost, energy bought and its blocks' value."""

    sold: FloatArray
    cost: FloatArray
    bought: FloatArray
    value: FloatArray


def _premiums(
    pricing: str, book: Clearing, x: _Cleared, uniform_price: float
) -> tuple[FloatArray, FloatArray]:
    """Seller premiums and buyer discounts added to / subtracted from the bid values (5)-(6)."""
    if pricing == "pay_as_bid" or book.quantity_kwh <= 0:
        return np.zeros(len(x.sold)), np.zeros(len(x.bought))
    uniform_s = uniform_price * x.sold - x.cost
    uniform_b = x.value - uniform_price * x.bought
    if pricing == "uniform":
        return uniform_s, uniform_b
    pivot_s, pivot_b = clarke_pivots(book.supply, book.demand, book.quantity_kwh, len(x.sold), len(x.bought))
    if pricing == "vcg":
        return pivot_s, pivot_b
    return np.minimum(pivot_s, uniform_s), np.minimum(pivot_b, uniform_b)  # balanced_budget


def clear_double_auction_vcg(sellers: Orders, buyers: Orders, params: DoubleAuctionParams) -> ClearingResult:
    """Clear a block-bid double auction (seed 001 eq. 1-11); see the module docstring for every rule."""
    supply = Curve.ascending(sellers.energy_kwh, sellers.price_per_kwh, sellers.owner)
    demand = Curve.descending(buyers.energy_kwh, buyers.price_per_kwh, buyers.owner)
    book = clear_curves(supply, demand)
    uniform_price = float(supply.price_per_kwh[book.seller]) if book.seller >= 0 else None

    traded_q = book.quantity_kwh
    tr_seller_price = tr_buyer_price = math.nan
    if params.pricing == "trade_reduction":
        traded_q, tr_seller_price, tr_buyer_price = _trade_reduction(book)
    s_blocks = supply.cleared_energy(traded_q)
    d_blocks = demand.cleared_energy(traded_q)
    x = _Cleared(
        per_owner_kwh(s_blocks, sellers.owner, sellers.n),
        sellers.per_participant(s_blocks * sellers.price_per_kwh),
        per_owner_kwh(d_blocks, buyers.owner, buyers.n),
        buyers.per_participant(d_blocks * buyers.price_per_kwh),
    )
    sold, cost, bought, value = x.sold, x.cost, x.bought, x.value

    # the shares scale the bid values (5)-(6) of the VCG family only; other rules pay their prices exactly
    vcg_family = params.pricing in ("vcg", "balanced_budget")
    keep = 1.0 - params.auctioneer_share - params.miner_share if vcg_family else 1.0
    if params.pricing == "trade_reduction":
        premium_s = tr_seller_price * sold - cost if traded_q > 0 else np.zeros(sellers.n)
        discount_b = value - tr_buyer_price * bought if traded_q > 0 else np.zeros(buyers.n)
    else:
        lam = 0.0 if uniform_price is None else uniform_price
        premium_s, discount_b = _premiums(params.pricing, book, x, lam)
    received = keep * cost + premium_s
    paid = keep * value - discount_b
    if params.pricing == "uniform" and uniform_price is not None:  # λ_u per kWh, as (11) reads
        received, paid = uniform_price * sold, uniform_price * bought

    exchange = float(cost.sum() + value.sum())
    auctioneer_reward = params.auctioneer_share * exchange
    miner_reward = params.miner_share * exchange
    traded_kwh = total_kwh(sold)
    if params.pricing == "uniform":  # λ_u (Σ bought − Σ sold) at the resolution: exactly 0 less the rewards
        surplus = (uniform_price or 0.0) * (total_kwh(bought) - traded_kwh) - auctioneer_reward - miner_reward
    else:
        surplus = float(paid.sum() - received.sum()) - auctioneer_reward - miner_reward
    details: dict[str, Any] = {
        "pricing": params.pricing,
        "welfare": float(value.sum() - cost.sum()),
        "wdp_welfare": book.welfare,
        "uniform_price_per_kwh": uniform_price,
        "market_exchange": exchange,
        "auctioneer_reward": auctioneer_reward,
        "miner_reward": miner_reward,
        "surplus": surplus,
        "traded_kwh": traded_kwh,
        "traded_kw": traded_kwh / params.slot_hours,
        "seller_block_energy_kwh": s_blocks.tolist(),
        "buyer_block_energy_kwh": d_blocks.tolist(),
    }
    if params.pricing == "trade_reduction":
        details["reduced_kwh"] = book.quantity_kwh - traded_q
        details["seller_price_per_kwh"] = None if math.isnan(tr_seller_price) else tr_seller_price
        details["buyer_price_per_kwh"] = None if math.isnan(tr_buyer_price) else tr_buyer_price
    price = uniform_price if params.pricing in ("uniform", "balanced_budget") else None
    return ClearingResult(
        "double_auction_vcg", price, Allocation(sold, received), Allocation(bought, paid), details
    )


MECHANISMS = (
    Mechanism(
        "double_auction_vcg",
        "block-bid double auction: welfare-maximising clearing with VCG, balanced-budget, uniform, "
        "pay-as-bid or trade-reduction payments",
        DoubleAuctionParams,
        clear_double_auction_vcg,
        block_bids=True,
        source="seed 001 (AlAshery et al.), section III-C, eq. (1)-(11)",
    ),
)
