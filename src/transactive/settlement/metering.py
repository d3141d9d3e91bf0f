"""Settlement of a matched slot against smart-meter readings (seed 004, ch. 4.3.3, eq. 4.8-4.9).

For each participant k with agreed energy ``E_ref`` (the sum of its trades) and metered energy ``E_meter``:

* buyer (4.8): ``bill = p0·E_meter + tariff + credit``;
* seller (4.9): ``income = p0·E_meter − tariff − credit``;

where ``tariff`` is the participant's half of the distribution charges of its trades (``C_d·d/2`` each,
:mod:`transactive.grid.charges`) and ``credit = |E_ref − E_meter|·penalty`` penalises any deviation, up or
down (the DSO sets ``penalty_per_kwh``). A seller's income can be negative (it then pays).

Money is kept in integer micro-tokens and energy in integer Wh (:mod:`transactive.units`, nearest, ties to
even): ``p0·E_meter`` and ``credit`` are each rounded once per participant; the slot's charges are rounded
**once per slot** (``Σ charge``) and apportioned over the trades (:func:`~transactive.units.apportion`), so
the DSO gets exactly the cleared total (``docs/settlement.md``); each trade's part is split with
:func:`~transactive.grid.charges.split_charge_micro` (buyer takes the odd micro-token),
so the halves add up to the charge. The **DSO / balancing account** receives the tariffs and the penalties
and settles the energy imbalance ``p0·(Σ E_meter(buyers) − Σ E_meter(sellers))`` (it supplied, or absorbed,
the difference); its amount is ``Σ bills − Σ incomes``, so the postings sum to zero exactly.

Sign convention of postings: positive = the account receives, negative = it pays.

Example:
    >>> s = settle(16.5, [SettledTrade("b", "s", 10.0, 0.003)], {"b": 10.0}, {"s": 9.0}, penalty_per_kwh=2.0)
    >>> [(p.account, p.amount_micro) for p in s.postings]
    [('buyer:b', -165001500), ('seller:s', 146498500), ('dso', 18503000)]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from transactive.errors import FieldError
from transactive.grid.charges import split_charge_micro
from transactive.units import apportion, energy_to_wh, money_to_micro

DSO_ACCOUNT = "dso"


class SettlementError(FieldError):
    """Invalid settlement input; ``field`` names the offending field (e.g. ``metered_kwh.buyers[39]``)."""


@dataclass(frozen=True)
class SettledTrade:
    """A matched trade as settlement sees it: ``energy_kwh`` agreed, ``charge`` tokens (C_d·d)."""

    buyer: str
    seller: str
    energy_kwh: float
    charge: float


@dataclass(frozen=True)
class Line:
    """One participant's settlement, integer units.

    ``amount_micro`` is the bill (buyer, paid) or the income (seller, received).
    """

    side: str
    participant: str
    agreed_wh: int
    metered_wh: int
    energy_micro: int
    tariff_micro: int
    credit_micro: int
    amount_micro: int


@dataclass(frozen=True)
class Posting:
    """A signed movement on an account: positive receives, negative pays (micro-tokens)."""

    account: str
    amount_micro: int


@dataclass(frozen=True)
class Settlement:
    """The slot's settlement: per-participant lines, balanced postings, and the DSO's breakdown."""

    price_per_kwh: float
    penalty_per_kwh: float
    lines: tuple[Line, ...]
    postings: tuple[Posting, ...]
    dso_tariffs_micro: int
    dso_penalties_micro: int
    dso_imbalance_micro: int

    @property
    def balance_micro(self) -> int:
        """Σ of all postings: always 0."""
        return sum(p.amount_micro for p in self.postings)


def _finite(value: float, field: str, *, minimum: float | None = 0.0) -> float:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or (minimum is not None and value < minimum):
        raise SettlementError(field, "must be a finite number" + (" >= 0" if minimum is not None else ""))
    return float(value)


def settle(
    price_per_kwh: float,
    trades: Sequence[SettledTrade],
    buyer_metered_kwh: Mapping[str, float],
    seller_metered_kwh: Mapping[str, float],
    *,
    penalty_per_kwh: float,
    dso_account: str = DSO_ACCOUNT,
) -> Settlement:
    """Settle one slot (4.8)-(4.9). Every trading participant needs a meter reading (kWh, >= 0)."""
    p0 = _finite(price_per_kwh, "price_per_kwh", minimum=None)
    penalty = _finite(penalty_per_kwh, "penalty_per_kwh")
    agreed: dict[tuple[str, str], float] = {}
    tariff: dict[tuple[str, str], int] = {}
    tariffs_total = 0
    charges = [_finite(t.charge, f"trades[{k}].charge") for k, t in enumerate(trades)]
    per_trade = apportion(money_to_micro(math.fsum(charges)), charges)  # rounded once per slot
    for k, (t, charge_micro) in enumerate(zip(trades, per_trade, strict=True)):
        _finite(t.energy_kwh, f"trades[{k}].energy_kwh")
        b_half, s_half = split_charge_micro(charge_micro)
        tariffs_total += charge_micro
        for key, half in ((("buyers", t.buyer), b_half), (("sellers", t.seller), s_half)):
            agreed[key] = agreed.get(key, 0.0) + t.energy_kwh
            tariff[key] = tariff.get(key, 0) + half
    lines: list[Line] = []
    postings: list[Posting] = []
    penalties = 0
    energy_b = 0
    energy_s = 0
    for (side, who), e_ref in agreed.items():
        meters = buyer_metered_kwh if side == "buyers" else seller_metered_kwh
        if who not in meters:
            raise SettlementError(f"metered_kwh.{side}[{who}]", "missing meter reading")
        agreed_wh = energy_to_wh(e_ref)
        metered_wh = energy_to_wh(_finite(meters[who], f"metered_kwh.{side}[{who}]"))
        energy_micro = money_to_micro(p0 * metered_wh / 1000.0)
        credit_micro = money_to_micro(abs(agreed_wh - metered_wh) / 1000.0 * penalty)
        penalties += credit_micro
        if side == "buyers":
            amount = energy_micro + tariff[(side, who)] + credit_micro
            energy_b += energy_micro
            postings.append(Posting(f"buyer:{who}", -amount))
        else:
            amount = energy_micro - tariff[(side, who)] - credit_micro
            energy_s += energy_micro
            postings.append(Posting(f"seller:{who}", amount))
        lines.append(
            Line(side[:-1], who, agreed_wh, metered_wh, energy_micro, tariff[(side, who)], credit_micro, amount)
        )
    imbalance = energy_b - energy_s
    dso = tariffs_total + penalties + imbalance
    postings.append(Posting(dso_account, dso))
    settlement = Settlement(p0, penalty, tuple(lines), tuple(postings), tariffs_total, penalties, imbalance)
    if settlement.balance_micro != 0:  # pragma: no cover - an invariant of the construction
        raise AssertionError("settlement does not balance")
    return settlement
