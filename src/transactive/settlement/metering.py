"""Settlement of a cleared slot against smart-meter readings (seed 004, ch. 4.3.3, eq. 4.8-4.9).

Two functions, one rule (``docs/settlement.md``, "Settlement against the meters"):

* :func:`settle_cleared` (the service's settlement input ``transactive.settlement-input/3``): the auction
  stage is **the mechanism's result** (SEED-NOTES §8) -- each trader's cleared payment for its cleared
  energy, the integers of :func:`transactive.settlement.auction_entries.auction_stage` as the validators
  endorsed them -- and the meters settle only the **deviation** (metered − cleared) at the deviation price
  (p0; without one, the buyers' average price) minus the penalty on ``|deviation|``; the DSO settles the
  imbalance, the fund's row is the endorsed one. Eqs. (4.8)-(4.9) are the special case of a single price:
  with ``cleared payment = p0·E_ref`` the two agree to the micro-token.
* :func:`settle` (formats 1 and 2, kept so old archives re-verify): eqs. (4.8)-(4.9) as written below.

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
from typing import Any

import numpy as np
import numpy.typing as npt

from transactive.errors import FieldError
from transactive.grid.charges import split_charge_micro
from transactive.units import MICRO_PER_TOKEN, IntArray, apportion, base_units_column, energy_to_wh, money_to_micro

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

    @classmethod
    def of_json(cls, data: Mapping[str, Any]) -> SettledTrade:
        """A matched trade of a result's ``details.trades`` (``buyer``, ``seller``, ``energy_kwh``, ``charge``)."""
        return cls(str(data["buyer"]), str(data["seller"]), float(data["energy_kwh"]), float(data["charge"]))


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


def _tariffs(trades: Sequence[SettledTrade]) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], int], int]:
    """``(agreed kWh, tariff micro-tokens, Σ charges)`` per ``(side, participant)``: the slot's charges rounded
    **once per slot**, apportioned over the trades and each split in halves (buyer takes the odd micro-token)."""
    agreed: dict[tuple[str, str], float] = {}
    tariff: dict[tuple[str, str], int] = {}
    charges = [_finite(t.charge, f"trades[{k}].charge") for k, t in enumerate(trades)]
    per_trade = apportion(money_to_micro(math.fsum(charges)), charges)
    for k, (t, charge_micro) in enumerate(zip(trades, per_trade, strict=True)):
        _finite(t.energy_kwh, f"trades[{k}].energy_kwh")
        b_half, s_half = split_charge_micro(charge_micro)
        for key, half in ((("buyers", t.buyer), b_half), (("sellers", t.seller), s_half)):
            agreed[key] = agreed.get(key, 0.0) + t.energy_kwh
            tariff[key] = tariff.get(key, 0) + half
    return agreed, tariff, sum(per_trade)


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
    agreed, tariff, tariffs_total = _tariffs(trades)
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


@dataclass(frozen=True, slots=True)
class Cleared:
    """A trader's outcome in the endorsed clearing, signed integers: ``energy_wh`` > 0 sold / < 0 bought,
    ``amount_micro`` > 0 received / < 0 paid (an account on both sides: its net figures)."""

    energy_wh: int
    amount_micro: int


def deviation_micro(price_per_kwh: float, metered_wh: int, cleared_wh: int) -> int:
    """The deviation's value at ``price_per_kwh`` (tokens/kWh), signed Wh (+ delivered): the metered and the
    cleared energy's values each rounded once, ``round(p·E_meter) − round(p·E_ref)`` micro-tokens, so a trader
    cleared at ``round(p·E_ref)`` is paid exactly ``round(p·E_meter)``, eq. (4.8)-(4.9)."""
    return money_to_micro(price_per_kwh * metered_wh / 1000.0) - money_to_micro(price_per_kwh * cleared_wh / 1000.0)


@dataclass(frozen=True, eq=False)
class ClearedColumns:
    """:func:`settle_cleared_columns`: the auction stage as cleared, against the meters, one element per trader
    (in ``members`` order; int64 columns, signed like :class:`Cleared`: + sold / received): ``seller`` (the
    trader's side), ``cleared_wh``, ``metered_wh``, ``cleared_micro`` (the endorsed payment), ``deviation_micro``
    (:func:`deviation_micro`), ``credit_micro`` (the penalty), ``tariff_micro`` (its network-charge half) and
    ``amount_micro`` (what it receives, signed); the DSO's ``dso_micro`` (charges + tariffs + penalties +
    imbalance) with its breakdown, the fund's ``fund_micro``. :meth:`settlement` is the same as a
    :class:`Settlement` (per-trader lines and postings, built on demand: the validators need the columns only)."""

    price_per_kwh: float
    penalty_per_kwh: float
    members: tuple[str, ...]
    seller: npt.NDArray[np.bool_]
    cleared_wh: IntArray
    metered_wh: IntArray
    cleared_micro: IntArray
    deviation_micro: IntArray
    credit_micro: IntArray
    tariff_micro: IntArray
    amount_micro: IntArray
    tariffs_micro: int
    penalties_micro: int
    imbalance_micro: int
    charges_micro: int
    fund_micro: int
    fund_account: str = "fund"
    dso_account: str = DSO_ACCOUNT

    @property
    def dso_micro(self) -> int:
        """The DSO's posting: the charges, the tariffs and the penalties, and the imbalance it settles."""
        return self.charges_micro + self.tariffs_micro + self.penalties_micro + self.imbalance_micro

    @property
    def dso_tariffs_micro(self) -> int:
        """As :attr:`Settlement.dso_tariffs_micro`: the clearing's grid charges and the network-charge halves."""
        return self.charges_micro + self.tariffs_micro

    @property
    def dso_penalties_micro(self) -> int:
        """As :attr:`Settlement.dso_penalties_micro`."""
        return self.penalties_micro

    @property
    def dso_imbalance_micro(self) -> int:
        """As :attr:`Settlement.dso_imbalance_micro`."""
        return self.imbalance_micro

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ClearedColumns):
            return NotImplemented
        scalars = ("price_per_kwh", "penalty_per_kwh", "members", "tariffs_micro", "penalties_micro",
                   "imbalance_micro", "charges_micro", "fund_micro", "fund_account", "dso_account")
        columns = ("seller", "cleared_wh", "metered_wh", "cleared_micro", "deviation_micro", "credit_micro",
                   "tariff_micro", "amount_micro")
        return all(getattr(self, k) == getattr(other, k) for k in scalars) and \
            all(np.array_equal(getattr(self, k), getattr(other, k)) for k in columns)

    __hash__ = None  # type: ignore[assignment]

    def settlement(self) -> Settlement:
        """The :class:`Settlement`: a line and a posting per trader (in ``members`` order), the fund's posting
        (when non-zero) and the DSO's."""
        energy = (self.cleared_micro + self.deviation_micro).tolist()
        lines: list[Line] = []
        postings: list[Posting] = []
        for who, seller, c_wh, m_wh, e, tariff, credit, signed in zip(
                self.members, self.seller.tolist(), self.cleared_wh.tolist(), self.metered_wh.tolist(), energy,
                self.tariff_micro.tolist(), self.credit_micro.tolist(), self.amount_micro.tolist(), strict=True):
            postings.append(Posting(f"seller:{who}", signed) if seller else Posting(f"buyer:{who}", signed))
            lines.append(Line("seller" if seller else "buyer", who, abs(c_wh), abs(m_wh), e if seller else -e, tariff,
                              credit, signed if seller else -signed))
        if self.fund_micro:
            postings.append(Posting(self.fund_account, self.fund_micro))
        postings.append(Posting(self.dso_account, self.dso_micro))
        return Settlement(self.price_per_kwh, self.penalty_per_kwh, tuple(lines), tuple(postings),
                          self.charges_micro + self.tariffs_micro, self.penalties_micro, self.imbalance_micro)


def settle_cleared_columns(
    price_per_kwh: float,
    members: Sequence[str],
    cleared_wh: npt.ArrayLike,
    cleared_micro: npt.ArrayLike,
    metered_wh: npt.ArrayLike,
    *,
    penalty_per_kwh: float,
    network_trades: Sequence[SettledTrade] = (),
    charges_micro: int = 0,
    fund_micro: int = 0,
    fund_account: str = "fund",
    dso_account: str = DSO_ACCOUNT,
    missing: npt.NDArray[np.bool_] | None = None,
) -> ClearedColumns:
    """:func:`settle_cleared` on columns (one element per trader, ``members`` unique; ``missing``: traders without
    a meter reading, an error): the same rule, the same integers (each rounding is the one rule,
    :func:`~transactive.units.base_units_column`, on the same float64 operations), no per-trader Python."""
    p = _finite(price_per_kwh, "price_per_kwh", minimum=None)
    penalty = _finite(penalty_per_kwh, "penalty_per_kwh")
    _, tariff, tariffs_total = _tariffs(network_trades)
    c_wh, c_micro = _int_column(cleared_wh, "cleared.energy_wh"), _int_column(cleared_micro, "cleared.amount_micro")
    e_m = _int_column(metered_wh, "metered_wh")
    if sum(c_micro.tolist()) + charges_micro + fund_micro != 0:
        raise SettlementError("auction", "the cleared rows, the grid charges and the fund's row do not balance")
    seller = (c_wh > 0) | ((c_wh == 0) & (c_micro >= 0))
    wrong = ((e_m < 0) & (c_wh > 0)) | ((c_wh < 0) & (e_m > 0)) | ((c_wh == 0) & (e_m != 0))
    absent = np.zeros(len(members), dtype=bool) if missing is None else np.asarray(missing, dtype=bool)
    if (wrong | absent).any():  # the first trader in order with either problem, as one by one
        k = int(np.flatnonzero(wrong | absent)[0])
        field = f"metered_wh.{'sellers' if seller[k] else 'buyers'}[{members[k]}]"
        raise SettlementError(field, "missing meter reading" if absent[k] else
                              "must be on the cleared side (0 when nothing cleared)")
    deviation = np.zeros(len(members), dtype=np.int64)
    credit = np.zeros(len(members), dtype=np.int64)
    off = np.flatnonzero(e_m != c_wh)  # the common case (delivered as cleared) has neither
    if off.size:
        # deviation_micro: round(p·E_meter/1000 · 10^6) − round(p·E_ref/1000 · 10^6), each the one rule
        deviation[off] = (base_units_column(p * e_m[off] / 1000.0, MICRO_PER_TOKEN, "amount_tokens")
                          - base_units_column(p * c_wh[off] / 1000.0, MICRO_PER_TOKEN, "amount_tokens"))
        credit[off] = base_units_column(np.abs(e_m[off] - c_wh[off]) / 1000.0 * penalty, MICRO_PER_TOKEN,
                                        "amount_tokens")
    for column in (deviation, credit):
        _int_column(column, "auction", 2**60)
    if tariff:
        own_tariff = np.fromiter((tariff.get(("sellers" if s else "buyers", who), 0)
                                  for who, s in zip(members, seller.tolist(), strict=True)),
                                 dtype=np.int64, count=len(members))
    else:
        own_tariff = np.zeros(len(members), dtype=np.int64)
    signed = c_micro + deviation - credit - own_tariff
    return ClearedColumns(p, penalty, tuple(members), seller, c_wh, e_m, c_micro, deviation, credit, own_tariff,
                          signed, tariffs_total, sum(credit.tolist()), -sum(deviation.tolist()), charges_micro,
                          fund_micro, fund_account, dso_account)


_INT_LIMIT = 2**53
"""Integer columns of the settlement stay below this magnitude (Wh, micro-tokens; computed amounts below
2^60): their float64 products are those of the scalar rule and their int64 sums cannot overflow."""


def _int_column(values: npt.ArrayLike, field: str, limit: int = _INT_LIMIT) -> IntArray:
    try:
        column = np.asarray(values, dtype=np.int64)
    except OverflowError:
        column = np.asarray([limit], dtype=np.int64)
    if column.size and int(np.abs(column).max()) >= limit:
        raise SettlementError(field, f"must be below {limit} in magnitude")
    return column


def settle_cleared(
    price_per_kwh: float,
    cleared: Mapping[str, Cleared],
    metered_wh: Mapping[str, int],
    *,
    penalty_per_kwh: float,
    network_trades: Sequence[SettledTrade] = (),
    charges_micro: int = 0,
    fund_micro: int = 0,
    fund_account: str = "fund",
    dso_account: str = DSO_ACCOUNT,
) -> Settlement:
    """Settle a slot's auction as the mechanism cleared it, against the meters (``docs/settlement.md``):
    each trader ``k`` (signed, + received)

        amount_k = cleared_k + deviation_micro(p, E_meter, E_ref) − round(penalty·|E_meter − E_ref|) − tariff_k

    ``cleared``: the endorsed result's rows (the integers of ``auction_entries.auction_stage``); ``metered_wh``
    signed like the cleared energy (a seller's delivery >= 0, a buyer's consumption <= 0); ``network_trades``:
    the community's flat network charges of a mechanism without matched trades (``tariff_k``, the halves of
    :func:`settle`); ``charges_micro``: the clearing's own grid charges (inside the cleared payments, to the
    DSO); ``fund_micro``: the community fund's endorsed row. The DSO receives the charges, the tariffs and the
    penalties and settles the imbalance (``−Σ deviation_micro``). ``Line.energy_micro`` is the trader's
    energy money ``|cleared + deviation|``; the postings sum to zero when the cleared rows, the charges and
    the fund do (else :class:`SettlementError` on ``auction``). Computed on columns
    (:func:`settle_cleared_columns`)."""
    members = tuple(cleared)
    rows = list(cleared.values())
    missing = np.fromiter((who not in metered_wh for who in members), dtype=bool, count=len(members))
    columns = settle_cleared_columns(
        price_per_kwh, members, [c.energy_wh for c in rows], [c.amount_micro for c in rows],
        [0 if absent else int(metered_wh[who]) for who, absent in zip(members, missing.tolist(), strict=True)],
        penalty_per_kwh=penalty_per_kwh, network_trades=network_trades, charges_micro=charges_micro,
        fund_micro=fund_micro, fund_account=fund_account, dso_account=dso_account, missing=missing)
    settlement = columns.settlement()
    if settlement.balance_micro != 0:  # pragma: no cover - an invariant of the construction
        raise AssertionError("settlement does not balance")
    return settlement
