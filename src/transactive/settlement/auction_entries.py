"""A community auction's outcome in integer units: ONE definition for the statements and the ledger.

Both :func:`transactive.settlement.stages.settle_slot` (the auction stage of a slot's statements) and
the validators' recomputation (:func:`transactive.ledger.messages.commitments.result_entries`, hence the endorsed
result root) turn a :class:`~transactive.result.ClearingResult` into integers with :func:`auction_stage`,
so a slot's endorsed result entries and the auction stage of its statements are the same numbers. The
rules are stated once in ``docs/settlement.md``:

1. **The auction stage is the result** (SEED-NOTES §8): each participant's energy and payment exactly as
   the mechanism reports them, converted by the one rounding rule (:mod:`transactive.units`): per side,
   Wh and micro-tokens apportioned to the side's rounded total (:func:`side_units`, each figure within one
   unit of its exact value); nothing is cut, scaled or rebalanced.
2. **DPDA's excess** (SEED-NOTES §4 (c)): ``details.excess_kwh`` sold by the sellers at p0 with no buyer
   is taken by the community **fund** (energy ``-excess_wh``) and sold in the grid stage at the feed-in
   tariff (the fund's Wh: the sellers' rounded total minus the buyers').
3. **Grid charges** (seed 004 eq. 4.6-4.7): the DSO gets ``Σ charge`` of ``details.trades`` rounded once
   per slot.
4. **Rewards** (seed 001 eq. 2-4): ``R^A = ME·x_A``, ``R^M = ME·x_M`` with ``ME`` the market exchange
   (``details.market_exchange``) in micro-tokens: ``floor(ME_micro · ppm / 10^6)``, the integer rule
   ``MarketSlots.settle_batch`` applies too (:func:`rewards_micro`). A result without a reward term
   (no ``market_exchange``, or zero rewards) has reward base 0 and pays no reward.
5. **The fund** (seed 001 §IV-C): what remains, ``Σ buyers' debits − Σ sellers' credits − DSO − rewards``,
   is the community market fund's (a surplus > 0, a deficit < 0). No participant absorbs it.

Accounts are whatever strings the caller uses (peer names, or EIP-55 addresses on the ledger).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from transactive.result import ClearingResult
from transactive.units import FloatArray, apportion, energy_to_wh, money_to_micro

PPM = 1_000_000

__all__ = [
    "PPM",
    "AuctionStage",
    "auction_stage",
    "grid_charge_micro",
    "reward_ppm",
    "rewards_micro",
    "side_units",
]


def side_units(values: Sequence[float] | FloatArray, to_units: Callable[[float], int], total: int | None = None
               ) -> list[int]:
    """One side's figures in integer units adding up to ``total`` (default: the rounded side total), by the
    largest remainder (:func:`~transactive.units.apportion`); per-figure rounding if any figure is negative."""
    column = np.asarray(values, dtype=np.float64)
    figures = column.tolist()
    if (column < 0).any():
        return [to_units(v) for v in figures]
    return apportion(to_units(math.fsum(figures)) if total is None else total, column)


def grid_charge_micro(result: ClearingResult) -> int:
    """The DSO's grid-charge income of a clearing in micro-tokens: ``Σ charge`` of ``details["trades"]``
    (tokens, C_d x d_km, seed 004 eq. 4.6-4.7) rounded **once per slot**; 0 without matched trades."""
    trades = result.details.get("trades") or ()
    return money_to_micro(math.fsum(float(t.get("charge", 0.0)) for t in trades if isinstance(t, Mapping)))


def exchange_micro(result: ClearingResult) -> int:
    """The reward base of a clearing: the market exchange ``ME`` (seed 001 eq. 4) in micro-tokens when the
    result carries a reward term (``auctioneer_reward`` or ``miner_reward`` > 0), else 0."""
    d = result.details
    me = d.get("market_exchange")
    rewarded = float(d.get("auctioneer_reward", 0.0) or 0.0) + float(d.get("miner_reward", 0.0) or 0.0)
    if not isinstance(me, (int, float)) or rewarded <= 0:
        return 0
    return money_to_micro(float(me))


def reward_ppm(result: ClearingResult) -> tuple[int, int]:
    """The mechanism's own reward shares ``(x_A, x_M)`` in ppm (``reward / ME``, rounded), ``(0, 0)``
    without a reward term."""
    d = result.details
    me = d.get("market_exchange")
    if not isinstance(me, (int, float)) or me <= 0 or exchange_micro(result) == 0:
        return 0, 0
    return (round(PPM * float(d.get("auctioneer_reward", 0.0)) / me),
            round(PPM * float(d.get("miner_reward", 0.0)) / me))


def rewards_micro(exchange_micro: int, auctioneer_ppm: int, miner_ppm: int) -> tuple[int, int]:
    """``(floor(ME x_A), floor(ME x_M))`` in micro-tokens, exactly as ``MarketSlots.settle_batch``."""
    return exchange_micro * auctioneer_ppm // PPM, exchange_micro * miner_ppm // PPM


@dataclass(frozen=True)
class AuctionStage:
    """The auction stage of a slot in integers (signs: energy > 0 sold, money > 0 received).

    ``rows``: ``(account, energy_wh, amount_micro)`` per participant, an account on both sides netted, in
    order of first appearance, sellers first. ``dso_micro``: the grid charges. ``exchange_micro``: the
    reward base ME. ``fund_wh``: the excess the fund takes to the grid stage (>= 0). ``fund_micro``: the
    fund's surplus (> 0) or deficit (< 0). Balances exactly: ``Σ rows' money + dso + rewards + fund == 0``
    and ``Σ rows' energy == fund_wh``."""

    rows: tuple[tuple[str, int, int], ...]
    dso_micro: int
    exchange_micro: int
    auctioneer_reward_micro: int
    miner_reward_micro: int
    fund_wh: int
    fund_micro: int


def _non_negative(energy_kwh: FloatArray) -> FloatArray:
    """``max(x, 0)`` per figure (NaN kept, for the rounding rule to reject)."""
    column = np.asarray(energy_kwh, dtype=np.float64)
    out: FloatArray = np.where(column < 0, 0.0, column)
    return out


def settled_energy_wh(result: ClearingResult) -> tuple[list[int], list[int]]:
    """``(sellers' Wh, buyers' Wh)``, each side apportioned to its own rounded total; the sellers' total
    exceeds the buyers' by DPDA's excess (``details.excess_kwh``, to the Wh), else they are equal."""
    sold = side_units(_non_negative(result.sellers.energy_kwh), energy_to_wh)
    bought = side_units(_non_negative(result.buyers.energy_kwh), energy_to_wh)
    return sold, bought


def auction_stage(
    result: ClearingResult, seller_ids: Sequence[str], buyer_ids: Sequence[str], *,
    auctioneer_ppm: int | None = None, miner_ppm: int | None = None,
) -> AuctionStage:
    """The slot's auction stage (see the module docstring). The reward shares default to the mechanism's
    own (:func:`reward_ppm`); a slot's fixed shares (``MarketSlots``) are passed explicitly.
    ``ValueError`` when the result does not match the ids."""
    if len(result.sellers.energy_kwh) != len(seller_ids) or len(result.buyers.energy_kwh) != len(buyer_ids):
        raise ValueError("the result does not match the orders' participants")
    sold, bought = settled_energy_wh(result)
    money_s = side_units(result.sellers.payment, money_to_micro)
    money_b = side_units(result.buyers.payment, money_to_micro)
    ids = [*seller_ids, *buyer_ids]
    energy = sold + [-wh for wh in bought]
    money = money_s + [-micro for micro in money_b]
    rows: tuple[tuple[str, int, int], ...]
    if len(dict.fromkeys(ids)) == len(ids):  # no account on both sides (or twice): nothing to net
        rows = tuple(zip(ids, energy, money, strict=True))
    else:
        totals: dict[str, list[int]] = {}
        for pid, wh, micro in zip(ids, energy, money, strict=True):
            total = totals.setdefault(pid, [0, 0])
            total[0] += wh
            total[1] += micro
        rows = tuple((account, wh, micro) for account, (wh, micro) in totals.items())
    own_a, own_m = reward_ppm(result)
    me = exchange_micro(result)
    reward_a, reward_m = rewards_micro(me, own_a if auctioneer_ppm is None else auctioneer_ppm,
                                       own_m if miner_ppm is None else miner_ppm)
    dso = grid_charge_micro(result)
    fund = -(sum(money) + dso + reward_a + reward_m)
    fund_wh = sum(energy)
    return AuctionStage(rows, dso, me, reward_a, reward_m, fund_wh, fund)
