"""A community auction's outcome in integer units: ONE definition for the statements and the ledger.

Both :func:`transactive.settlement.stages.settle_slot` (the auction stage of a slot's statements) and
the validators' recomputation (:func:`transactive.ledger.messages.commitments.result_entries` and
:func:`~transactive.ledger.messages.commitments.settle_entries`, hence the endorsed result root) turn a
:class:`~transactive.result.ClearingResult` into per-account integers with the functions of this module, so
a slot's endorsed result entries and the auction stage of its statements are the same numbers.

Rules (``docs/multi-settlement.md``, section 3):

1. **Energy** (:func:`settled_energy_wh`): per side, the cleared kWh become integer Wh apportioned to the
   side's rounded total (:func:`side_units`, largest remainder); where the two sides still differ -- DPDA's
   ``max(0, ·)`` clipping can leave the chosen sellers offering more than the chosen buyers take
   (SEED-NOTES §4 (c); seed 004 Alg. 2 leaves ``Σ E'(S) > Σ E(B)`` unresolved), or sub-Wh rounding -- the
   **longer side is cut to the shorter side's total** with :func:`~transactive.units.apportion` over its Wh:
   nobody delivers energy that no buyer takes. (The thesis formula stays the mechanism's result; the cut is
   applied once, here, when it is settled.)
2. **Money** (:func:`side_money_micro`): each participant's payment, scaled on a cut side by the share of
   its Wh that is settled, then per side apportioned to the side's rounded total (per-figure rounding if a
   figure is negative, e.g. a VCG payment).
3. **Grid charges** (:func:`grid_charge_micro`): the DSO's income, each trade's ``charge`` (C_d x d_km,
   seed 004 eq. 4.6-4.7) rounded once and summed.
4. **Rebalancing** (:func:`rebalance_credits`, when the slot is settled as the ledger endorses it): buyers'
   debits ``D`` and every energy stay; the DSO's charges ``G`` are a fixed fee; the auctioneer's and the
   miner's rewards ``floor(D x_A)``, ``floor(D x_M)`` (seed 001 eq. 2-3) come out of the sellers' proceeds;
   the other credits are set to ``D - rA - rM - G`` in total, apportioned pro rata to them (so a
   mechanism's surplus or deficit and the charges' rounding residue are shared among the sellers too).

Accounts are whatever strings the caller uses (peer names, or EIP-55 addresses on the ledger).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence

from transactive.result import ClearingResult
from transactive.units import apportion, energy_to_wh, money_to_micro

PPM = 1_000_000

__all__ = [
    "PPM",
    "auction_entries",
    "grid_charge_micro",
    "rebalance_credits",
    "rewards_micro",
    "settled_energy_wh",
    "side_money_micro",
    "side_units",
]


def side_units(values: Sequence[float], to_units: Callable[[float], int]) -> list[int]:
    """One side's figures in integer units that add up to the rounded side total (largest remainder, at
    most one unit from each figure's own rounding); per-figure rounding if any figure is negative."""
    if any(v < 0 for v in values):
        return [to_units(v) for v in values]
    return apportion(to_units(math.fsum(values)), list(values))


def settled_energy_wh(result: ClearingResult) -> tuple[list[int], list[int]]:
    """``(sellers' Wh, buyers' Wh)`` settled (rule 1 of the module docstring): both sides add up to the
    same total."""
    sold = side_units([max(float(x), 0.0) for x in result.sellers.energy_kwh.tolist()], energy_to_wh)
    bought = side_units([max(float(x), 0.0) for x in result.buyers.energy_kwh.tolist()], energy_to_wh)
    total = min(sum(sold), sum(bought))
    if sum(sold) > total:
        sold = apportion(total, [float(w) for w in sold])
    if sum(bought) > total:
        bought = apportion(total, [float(w) for w in bought])
    return sold, bought


def side_money_micro(payments: Sequence[float], cleared_wh: Sequence[int], settled_wh: Sequence[int]) -> list[int]:
    """One side's money in micro-tokens (rule 2): ``payments`` (tokens, the mechanism's), scaled by
    ``settled / cleared`` Wh where the side was cut, apportioned to the side's rounded total."""
    scaled = [
        p if s == c else (p * s / c if c > 0 else 0.0)
        for p, c, s in zip(payments, cleared_wh, settled_wh, strict=True)
    ]
    return side_units(scaled, money_to_micro)


def grid_charge_micro(result: ClearingResult) -> int:
    """The DSO's grid-charge income of a clearing in micro-tokens: each trade's ``charge`` (tokens, C_d x d_km,
    seed 004 eq. 4.6-4.7) rounded once (nearest, ties to even, as :mod:`transactive.settlement.metering`)
    and summed; 0 for a mechanism without ``details["trades"]`` charges."""
    trades = result.details.get("trades") or ()
    return sum(money_to_micro(float(t.get("charge", 0.0))) for t in trades if isinstance(t, Mapping))


def auction_entries(
    result: ClearingResult, seller_ids: Sequence[str], buyer_ids: Sequence[str], *, dso: str | None = None
) -> list[tuple[str, int, int]]:
    """``(account, energy_wh, amount_micro)`` per account: a seller ``(+Wh, +micro)``, a buyer ``(-Wh, -micro)``,
    an account on both sides the sum; order of first appearance, sellers first; then the DSO's
    ``(0, +grid_charge_micro)`` when ``dso`` is named (added to its own entry if it also traded).
    ``ValueError`` when the result does not match the ids, or for grid charges with no DSO."""
    if len(result.sellers.energy_kwh) != len(seller_ids) or len(result.buyers.energy_kwh) != len(buyer_ids):
        raise ValueError("the result does not match the orders' participants")
    sold, bought = settled_energy_wh(result)
    cleared_s = side_units([max(float(x), 0.0) for x in result.sellers.energy_kwh.tolist()], energy_to_wh)
    cleared_b = side_units([max(float(x), 0.0) for x in result.buyers.energy_kwh.tolist()], energy_to_wh)
    money_s = side_money_micro(result.sellers.payment.tolist(), cleared_s, sold)
    money_b = side_money_micro(result.buyers.payment.tolist(), cleared_b, bought)
    totals: dict[str, list[int]] = {}
    for ids, energy, money, sign in ((seller_ids, sold, money_s, 1), (buyer_ids, bought, money_b, -1)):
        for pid, wh, micro in zip(ids, energy, money, strict=True):
            total = totals.setdefault(pid, [0, 0])
            total[0] += sign * wh
            total[1] += sign * micro
    charge = grid_charge_micro(result)
    if dso is None:
        if charge:
            raise ValueError(f"the clearing has {charge} micro-tokens of grid charges but no DSO account is named")
    else:
        totals.setdefault(dso, [0, 0])[1] += charge
    return [(account, wh, micro) for account, (wh, micro) in totals.items()]


def rewards_micro(debits_micro: int, auctioneer_ppm: int, miner_ppm: int) -> tuple[int, int]:
    """``(floor(D x_A), floor(D x_M))`` exactly as ``MarketSlots.settle_batch`` computes them."""
    return debits_micro * auctioneer_ppm // PPM, debits_micro * miner_ppm // PPM


def rebalance_credits(
    amounts: Sequence[int], *, kept: Collection[int] = (), auctioneer_ppm: int = 0, miner_ppm: int = 0
) -> tuple[list[int], int, int]:
    """Rule 4: ``(amounts rebalanced, rA, rM)``. ``amounts`` are the entries' signed micro-tokens, ``kept``
    the positions of fixed credits (the DSO's charges). Debits and kept amounts are unchanged; the other
    positive amounts are set to ``D - rA - rM - kept credits`` in total, apportioned in proportion to them
    (largest remainder, ties to the earlier entry). ``ValueError`` when buyers pay but nobody is credited,
    or when the kept credits exceed ``D - rA - rM``."""
    debits = -sum(a for a in amounts if a < 0)
    reward_a, reward_m = rewards_micro(debits, auctioneer_ppm, miner_ppm)
    fixed = sum(a for k, a in enumerate(amounts) if a > 0 and k in kept)
    credited = [k for k, a in enumerate(amounts) if a > 0 and k not in kept]
    target = debits - reward_a - reward_m - fixed
    if target < 0:
        raise ValueError(f"fixed credits {fixed} exceed what buyers pay after rewards ({debits - reward_a - reward_m})")
    if not credited and target > 0:
        raise ValueError(f"buyers pay {debits} micro-tokens but no account is credited")
    out = list(amounts)
    for k, part in zip(credited, apportion(target, [float(amounts[k]) for k in credited]), strict=True):
        out[k] = part
    return out, reward_a, reward_m
