"""A cleared slot settled against its meter readings: format 1 of the service's input document, and the
settlement terms, deviation price and network-charge pairing the later formats share. Pure, deterministic.

An older service (:mod:`transactive.market.ledger.desk`) built one **settlement input** per slot
(``transactive.settlement-input/1``) and every validator recomputes the postings from it with
:func:`settle_input`, still, so those archives re-verify; the service now writes format 3
(:mod:`transactive.settlement.sequence`: the auction settled as cleared, the meters settling the deviations,
``docs/settlement.md`` §8), which uses :func:`clearing_price` as its deviation price and :func:`trades_of`
for the flat network charges. Format 1's result is (4.8)-(4.9) of :mod:`transactive.settlement.metering` on:

* ``price_per_kwh``: the slot's clearing price p0 (for a mechanism without one: what the buyers paid over
  the energy they bought);
* ``trades``: the matched trades ``(buyer, seller, energy_kwh, charge)`` of a ``*_matched`` mechanism (its
  result's ``details.trades``, charge = C_d·d); for a mechanism without matching (``dpda``, ``mcafee``, ...) the
  cleared energies are paired in result order (north-west corner rule: the first seller supplies the first
  buyer until one is exhausted, ...) and each pair pays the community's flat network charge
  ``grid_charge_per_kwh`` per kWh (*choice*: such mechanisms have no distances);
* ``metered_kwh``: each trading member's metered energy, read from the signed meter reading (+ exported /
  − imported): a seller's delivery is ``max(0, reading)``, a buyer's consumption ``max(0, −reading)``; a
  reading still missing when the settlement deadline passes counts as 0 kWh (*choice*: a seller that did not
  report delivered nothing; the deviation is penalised);
* ``penalty_per_kwh``: the DSO's deviation penalty;
* ``accounts``: member id → chain address, and ``dso`` → the DSO's address.

Everything is integer micro-tokens and Wh after the documented roundings of ``metering.settle``; the
postings sum to zero, so ``MarketSlots.settle_batch`` balances exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from transactive.result import ResultDocument, ResultSummary
from transactive.settlement.input import INPUT_FORMAT, SettlementInput, input_digest
from transactive.settlement.metering import DSO_ACCOUNT, SettledTrade, Settlement, settle
from transactive.units import energy_to_wh

__all__ = [
    "INPUT_FORMAT",
    "AccountPosting",
    "SettlementTerms",
    "build_input",
    "check_sums",
    "clearing_price",
    "input_digest",
    "paired_trades",
    "settle_input",
    "statement_lines",
    "trades_of",
]


@dataclass(frozen=True)
class SettlementTerms:
    """A community's settlement terms: the deviation penalty and the flat network charge (tokens/kWh) used for
    mechanisms without matched trades. Read from the community params ``penalty_per_kwh`` and
    ``grid_charge_per_kwh`` when present."""

    penalty_per_kwh: float = 0.05
    grid_charge_per_kwh: float = 0.01

    @classmethod
    def of(cls, params: Mapping[str, Any], settlement: Mapping[str, Any] | None = None) -> SettlementTerms:
        source = dict(settlement or {})
        default = cls()
        return cls(float(source.get("penalty_per_kwh", params.get("penalty_per_kwh", default.penalty_per_kwh))),
                   float(source.get("grid_charge_per_kwh",
                                    params.get("grid_charge_per_kwh", default.grid_charge_per_kwh))))


def clearing_price(document: ResultDocument | ResultSummary | Mapping[str, Any]) -> float:
    """p0 of a ``transactive.result/1`` document, or the buyers' average price when it has none (0 if no trade)."""
    return ResultSummary.of(document).price_per_kwh


def trades_of(document: ResultDocument | Mapping[str, Any], grid_charge_per_kwh: float) -> list[SettledTrade]:
    """The slot's trades as settlement sees them (see the module docstring)."""
    result = ResultDocument.of(document)
    matched = result.matched_trades
    if matched is not None:
        trades = [SettledTrade.of_json(t) for t in matched]
        return [t for t in trades if t.energy_kwh > 0]
    supply = [(s.id, energy_to_wh(float(s.energy_kwh))) for s in result.sellers]
    demand = [(b.id, energy_to_wh(float(b.energy_kwh))) for b in result.buyers]
    return paired_trades(supply, demand, grid_charge_per_kwh)


def paired_trades(supply: Sequence[tuple[str, int]], demand: Sequence[tuple[str, int]],
                  grid_charge_per_kwh: float) -> list[SettledTrade]:
    """Cleared energies ``(id, Wh)`` of a mechanism without matched trades paired in the given order (north-west
    corner rule), each pair paying the flat network charge ``grid_charge_per_kwh`` per kWh."""
    supply = [x for x in supply if x[1] > 0]
    demand = [x for x in demand if x[1] > 0]
    trades: list[SettledTrade] = []
    i = j = 0
    left_s = supply[0][1] if supply else 0
    left_b = demand[0][1] if demand else 0
    while i < len(supply) and j < len(demand):
        wh = min(left_s, left_b)
        if wh > 0:
            kwh = wh / 1000.0
            trades.append(SettledTrade(demand[j][0], supply[i][0], kwh, kwh * grid_charge_per_kwh))
        left_s -= wh
        left_b -= wh
        if left_s == 0:
            i += 1
            left_s = supply[i][1] if i < len(supply) else 0
        if left_b == 0:
            j += 1
            left_b = demand[j][1] if j < len(demand) else 0
    return trades


def build_input(
    *, chain_slot: int, clearing_slot: int, clearing_root: str, document: Mapping[str, Any],
    readings_kwh: Mapping[str, float], terms: SettlementTerms, accounts: Mapping[str, str], dso_address: str,
) -> dict[str, Any]:
    """The ``transactive.settlement-input/1`` document of one slot (JSON-compatible, deterministic)."""
    trades = trades_of(document, terms.grid_charge_per_kwh)
    sides: dict[str, str] = {}
    for t in trades:
        sides[t.buyer] = "buyer"
        sides[t.seller] = "seller"
    metered: dict[str, float] = {}
    for member, side in sorted(sides.items()):
        reading = float(readings_kwh.get(member, 0.0))
        metered[member] = max(0.0, reading if side == "seller" else -reading)
    return {
        "format": INPUT_FORMAT, "slot": chain_slot, "clearingSlot": clearing_slot, "clearingRoot": clearing_root,
        "price_per_kwh": clearing_price(document),
        "penalty_per_kwh": terms.penalty_per_kwh,
        "trades": [{"buyer": t.buyer, "seller": t.seller, "energy_kwh": t.energy_kwh, "charge": t.charge}
                   for t in trades],
        "metered_kwh": metered,
        "missing_readings": sorted(m for m in sides if m not in readings_kwh),
        "accounts": {m: accounts[m] for m in sorted(sides)},
        "dso": dso_address,
    }


@dataclass(frozen=True)
class AccountPosting:
    """One chain account's net movement: ``energy_wh`` (+ delivered / − consumed; the DSO: the imbalance it
    covered) and ``amount_micro`` (+ receives / − pays)."""

    address: str
    energy_wh: int
    amount_micro: int


def settle_input(document: SettlementInput | Mapping[str, Any]) -> tuple[Settlement, list[AccountPosting]]:
    """Recompute a slot's settlement from its format-1 input: the ``metering.settle`` result and one posting
    per chain account (members in id order, then the DSO). Pure and deterministic."""
    doc = SettlementInput.of(document)
    if doc.format != INPUT_FORMAT:
        raise ValueError(f"not a {INPUT_FORMAT} document")
    trades = [SettledTrade(t.buyer, t.seller, float(t.energy_kwh), float(t.charge)) for t in doc.trades]
    metered = doc.metered_kwh
    buyers = {t.buyer: metered[t.buyer] for t in trades}
    sellers = {t.seller: metered[t.seller] for t in trades}
    result = settle(float(doc.price_per_kwh), trades, buyers, sellers,
                    penalty_per_kwh=float(doc.penalty_per_kwh), dso_account=DSO_ACCOUNT)
    accounts = doc.accounts
    by_address: dict[str, list[int]] = {}
    for line in result.lines:
        sign = 1 if line.side == "seller" else -1
        slot = by_address.setdefault(accounts[line.participant], [0, 0])
        slot[0] += sign * line.metered_wh
        slot[1] += sign * line.amount_micro
    net_energy = sum(v[0] for v in by_address.values())
    dso = by_address.setdefault(doc.dso, [0, 0])
    dso[0] -= net_energy
    dso[1] += next(p.amount_micro for p in result.postings if p.account == DSO_ACCOUNT)
    postings = [AccountPosting(a, e, m) for a, (e, m) in by_address.items()]
    return result, postings


def statement_lines(settlement: Settlement) -> list[dict[str, Any]]:
    """The settlement's lines as JSON rows (one per trading member)."""
    return [{"member": ln.participant, "side": ln.side, "agreed_wh": ln.agreed_wh, "metered_wh": ln.metered_wh,
             "energy_micro": ln.energy_micro, "tariff_micro": ln.tariff_micro, "penalty_micro": ln.credit_micro,
             "amount_micro": ln.amount_micro,
             "balance_change_micro": ln.amount_micro if ln.side == "seller" else -ln.amount_micro}
            for ln in settlement.lines]


def check_sums(postings: Sequence[AccountPosting]) -> None:
    """Postings must sum to zero (no token created or lost)."""
    if sum(p.amount_micro for p in postings) != 0:  # pragma: no cover - an invariant of metering.settle
        raise AssertionError("settlement postings do not sum to zero")
