"""The community market fund's policy: when a slot's clearing cannot be settled as it is.

Seed 001 §IV-C: VCG surpluses and deficits belong to the market, "accumulating the market
surpluses/deficiencies over time"; where they cannot be absorbed, balanced-budget pricing is the remedy.
A slot's auction stage (:func:`~transactive.settlement.auction_entries.auction_stage`) is settled as the
mechanism cleared it unless

* the fund cannot cover its deficit (``balance + fund_micro < 0``; ``balance`` None: unbounded), or
* a participant is not individually rational (:func:`individually_rational`: a seller paid less than its
  ask for what it sold, a buyer charged more than its bid for what it bought, or the mechanism itself says
  ``details.individually_rational: false``, DPDA's Case 4).

Then the community's **deficit policy** applies (:data:`POLICIES`, default ``balanced_budget``):

* ``balanced_budget``: the slot is re-cleared with ``double_auction_vcg`` ``pricing="balanced_budget"`` and
  zero shares (seed 001 eq. 9-10): it never runs a deficit (``Σ paid − Σ received >= 0``) and pays each
  participant within its limit, and it has no reward term (no rewards for that slot); grid charges of a
  ``*_matched`` mechanism are not levied (it has no trades);
* ``no_trade``: nothing trades in the auction; every residual goes to the grid stage.

If the balanced-budget re-clearing still fails a check (it cannot with single-block orders; kept as a
safety net) the slot falls back to ``no_trade``. The statements name the policy applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from transactive.orders import Orders
from transactive.result import Allocation, ClearingResult
from transactive.settlement.auction_entries import AuctionStage, auction_stage
from transactive.units import money_to_micro

POLICIES: Final = ("balanced_budget", "no_trade")
DEFAULT_POLICY: Final = "balanced_budget"
_RTOL = 1e-9


def _limit_money(orders: Orders, energy_kwh: np.ndarray, *, cheapest: bool) -> np.ndarray:
    """Per participant, the money of its ``energy_kwh`` over its blocks at their own prices, cheapest blocks
    first (a seller's lowest cost) or dearest first (a buyer's highest value). One pass over the blocks."""
    prices = np.asarray(orders.price_per_kwh, dtype=float)
    if orders.is_single_block:
        single: np.ndarray = energy_kwh * prices
        return single
    owner = np.asarray(orders.owner)
    order = np.lexsort((prices if cheapest else -prices, owner))
    left = energy_kwh.astype(float).copy()
    money = np.zeros(orders.n)
    for b in order.tolist():
        k = int(owner[b])
        take = min(left[k], float(orders.energy_kwh[b]))
        if take > 0:
            money[k] += take * float(prices[b])
            left[k] -= take
    return money


def irrational_participants(result: ClearingResult, sellers: Orders, buyers: Orders) -> list[str]:
    """Ids of the participants the result pays outside their limits (tolerance ``1e-9`` relative): a seller
    receiving less than its cheapest blocks' cost of what it sold, a buyer paying more than its dearest
    blocks' value of what it bought."""
    out: list[str] = []
    for orders, alloc, is_seller in ((sellers, result.sellers, True), (buyers, result.buyers, False)):
        energy = np.maximum(np.asarray(alloc.energy_kwh, dtype=float), 0.0)
        payment = np.asarray(alloc.payment, dtype=float)
        limit = _limit_money(orders, energy, cheapest=is_seller)
        slack = _RTOL * np.maximum(1.0, np.abs(limit))
        bad = payment < limit - slack if is_seller else payment > limit + slack
        out += [orders.ids[k] for k in np.flatnonzero(bad).tolist()]
    return out


def individually_rational(result: ClearingResult, sellers: Orders, buyers: Orders) -> bool:
    """Whether every participant is within its limits and the mechanism does not report a breach."""
    if result.details.get("individually_rational") is False:
        return False
    return not irrational_participants(result, sellers, buyers)


def check_policy(name: str) -> str:
    """``name`` if it is one of :data:`POLICIES`, else ``ValueError`` naming the choices."""
    if name not in POLICIES:
        raise ValueError(f"unknown deficit policy {name!r}; one of {list(POLICIES)}")
    return name


@dataclass(frozen=True)
class SettledAuction:
    """What a slot's auction stage settles: the result (``None``: no trade), its integers, and the policy
    applied (``None``: the clearing as it is) with the reason."""

    result: ClearingResult | None
    stage: AuctionStage | None
    policy_applied: str | None = None
    policy_reason: str | None = None


def settle_auction(
    result: ClearingResult, sellers: Orders, buyers: Orders, seller_ids: Sequence[str], buyer_ids: Sequence[str],
    *, fund_micro: int | None = None, policy: str = DEFAULT_POLICY, ppm: tuple[int | None, int | None] = (None, None),
    feed_in_per_kwh: float = 0.0,
) -> SettledAuction:
    """The one rule deciding what a slot's auction settles (module docstring): the clearing as it is when the
    fund covers it (``fund_micro`` None: unbounded; DPDA's excess counted at ``feed_in_per_kwh``) and every
    participant is individually rational; else ``policy``, then ``no_trade``."""
    from transactive.mechanisms.double_auction_vcg import DoubleAuctionParams, clear_double_auction_vcg

    check_policy(policy)
    reason = None
    candidate: ClearingResult | None = result
    for applied in (None, policy, "no_trade"):
        if applied == "no_trade":
            return SettledAuction(None, None, "no_trade", reason)
        if applied == "balanced_budget":
            candidate = clear_double_auction_vcg(sellers, buyers, DoubleAuctionParams("balanced_budget"))
        assert candidate is not None
        stage = auction_stage(candidate, seller_ids, buyer_ids, auctioneer_ppm=ppm[0], miner_ppm=ppm[1])
        excess_micro = money_to_micro(stage.fund_wh / 1000 * feed_in_per_kwh)
        covered = fund_micro is None or fund_micro + stage.fund_micro + excess_micro >= 0
        rational = individually_rational(candidate, sellers, buyers)
        if covered and rational:
            return SettledAuction(candidate, stage, applied, reason)
        if applied is None:
            reason = "not individually rational" if not rational else "the fund cannot cover the deficit"
    raise AssertionError("unreachable")  # pragma: no cover


def no_trade_result(result: ClearingResult) -> ClearingResult:
    """``result`` with nothing traded and no price (what the ``no_trade`` policy settles)."""
    zero_s, zero_b = np.zeros(len(result.sellers.energy_kwh)), np.zeros(len(result.buyers.energy_kwh))
    return ClearingResult(result.mechanism, None, Allocation(zero_s, zero_s.copy()), Allocation(zero_b, zero_b.copy()),
                          {})
