"""One settlement per slot: seed 001's sequence with the community auction settled against the meters.

A slot of the service is settled on chain from one **settlement input** (``transactive.settlement-input/3``,
built by :mod:`transactive.market.ledger.sequence`, committed as the order root of the slot's settlement slot
and recomputed by every validator with :func:`settle_sequence`):

1. **bilateral** and 2. **listings** -- :func:`transactive.settlement.stages.settle_slot` on the members'
   meter readings (net kWh, + exported) with the contracts (terms and both signatures, verified again in the
   chain's EIP-712 domain) and the board (listings, orders, the DSO's decisions; still-pending orders are
   rejected, "not reviewed before bidding closed"), ``through="listings"``: only these two stages run;
3. **community auction as cleared, against the meters** (``docs/settlement.md`` §8, SEED-NOTES §8) -- the
   anchored clearing's **endorsed result entries** (``cleared``: columns of members, Wh and micro-tokens, the
   integers of :func:`transactive.settlement.auction_entries.auction_stage`; the DSO's grid charges; the
   fund's row) settled by :func:`transactive.settlement.metering.settle_cleared`: each trader's cleared
   payment + (metered − cleared) at the deviation price (p0, or the buyers' average price) − the penalty on
   the deviation − its half of the flat network charge (mechanisms without matched trades), with each
   trader's *residual* after stages 1-2 on its cleared side as its meter (a seller ``max(0, residual)``, a
   buyer ``min(0, residual)``). The DSO receives the charges and penalties and settles the imbalance; the
   fund posts its endorsed row and sells DPDA's excess at the feed-in tariff. Format 2
   (``transactive.settlement-input/2``, written before) re-priced the clearing at p0 by eqs. (4.8)-(4.9)
   (:func:`transactive.settlement.metering.settle`) and is still recomputed so;
4. **grid** -- what is left of every party's residual (a seller that imported, a buyer that exported, a
   contract or listing party with no auction order) trades with the main grid at the feed-in tariff / retail
   (:func:`transactive.settlement.grid_trading.settle_with_grid`) or, when the input carries the optional
   ``wholesale`` field (``{"price_per_kwh": λ_w, "fee_per_kwh": fee, "auctioneer": address}``: the
   community's wholesale series at the slot, :mod:`transactive.settlement.wholesale`), through the
   auctioneer in the wholesale market: a residual sells at ``λ_w − fee`` / buys at ``λ_w + fee`` where that
   beats the feed-in tariff / retail (seed 001 §IV-A), the fee to the ``auctioneer`` account. An input
   without the field (every input written before) settles at the tariffs as it always did.

The ``dso``, ``board`` and ``grid`` accounts of the sequence are one chain account: the DSO's (the service's
choice: the DSO is the community's grid interface -- it collects the listing board's service charges and is
the counterparty of the tariffs and of the wholesale market); the ``auctioneer`` account (the wholesale
fees) is the ``wholesale.auctioneer`` address (the slot's auctioneer validator; the DSO's without one); the
``fund`` account is the fund's row (the input's ``fund.account``). Every amount is integer micro-tokens; the
postings (one per chain account) sum to zero.

Parties: the auction's traders, the parties to signed contracts delivering in the slot, the sellers and buyers
of the slot's accepted listing orders, and every other member with an auction order in the slot (not cleared,
or a void slot) whose meter reading is in when the input is built. Such a party has no auction line: its whole
residual meter goes to the grid stage (SEED-NOTES §8), so every party's metered Wh is its Σ(sold − bought)
over the stages. A member with a meter reading but no order, contract or listing order is not settled by the
community.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from transactive.crypto.eip712 import Domain
from transactive.settlement.bilateral import BilateralContract, SignedContract, contracts_in_slot
from transactive.settlement.grid_trading import GridTariff, MainGridTrade, settle_with_grid
from transactive.settlement.input import SEQUENCE_FORMAT, SEQUENCE_FORMAT_V2, SettlementInput
from transactive.settlement.listings import Board, Decision, Listing, ListingOrder, OrderSettlement, ServiceRates
from transactive.settlement.meter_readings import check_input_readings
from transactive.settlement.metering import (
    DSO_ACCOUNT,
    ClearedColumns,
    SettledTrade,
    Settlement,
    SettlementError,
    settle,
    settle_cleared_columns,
)
from transactive.settlement.slot_settlement import AccountPosting, settle_input
from transactive.settlement.stages import STAGES, Prosumer, SlotSettlement, Stage, StageLine, Statement, settle_slot
from transactive.units import WH_PER_KWH, IntArray, base_units_column, money_to_micro

"""The format the service writes: the auction stage is the endorsed clearing, the meters settle deviations."""
"""Written before: the anchored clearing re-priced at p0 by eqs. (4.8)-(4.9); still recomputed as it was."""
SEQUENCE_FORMATS = (SEQUENCE_FORMAT, SEQUENCE_FORMAT_V2)

__all__ = ["SEQUENCE_FORMAT", "SEQUENCE_FORMATS", "SEQUENCE_FORMAT_V2", "SequenceSettlement", "settle_sequence",
           "settlement_postings"]


@dataclass(frozen=True, eq=False)
class PartyColumns:
    """The parties' figures as columns, one row per party (``parties``, id order): ``net_wh`` (metered, Wh),
    ``stages`` (int64, shape ``(n, 4, 3)``: per stage of ``STAGES`` ``[sold_wh, bought_wh, money_micro]``, money
    > 0 received) and ``took_part`` (``(n, 4)``: the stages a party took part in)."""

    parties: tuple[str, ...]
    net_wh: IntArray
    stages: IntArray
    took_part: npt.NDArray[np.bool_]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PartyColumns):
            return NotImplemented
        return self.parties == other.parties and all(
            np.array_equal(getattr(self, k), getattr(other, k)) for k in ("net_wh", "stages", "took_part"))

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class SequenceSettlement:
    """A slot's one settlement: the parties' ``columns`` (net metered Wh and per stage ``(sold_wh, bought_wh,
    money_micro)``, :class:`PartyColumns`), the accounts ``dso``, ``board``, ``auctioneer`` (0 without the
    input's ``wholesale``), ``grid`` and (format 3) ``fund``, the auction stage's ``cleared`` (format 3: as
    cleared against the meters, :func:`~transactive.settlement.metering.settle_cleared_columns`; format 2:
    (4.8)-(4.9), a :class:`Settlement`; ``None`` without trades), the chain ``postings`` and the DSO's breakdown
    in micro-tokens (> 0 the DSO receives). Per member, built on demand (the validators need the postings
    only): :attr:`net_wh`, :attr:`lines`, :attr:`auction` and :attr:`combined` (the same as a
    :class:`SlotSettlement`)."""

    slot: int
    columns: PartyColumns
    accounts: Mapping[str, int]
    grid_trades: tuple[MainGridTrade, ...]
    listing_settlements: tuple[OrderSettlement, ...]
    board: Board
    cleared: ClearedColumns | Settlement | None
    postings: tuple[AccountPosting, ...]
    dso_breakdown: Mapping[str, int]
    fund_grid_trade: MainGridTrade | None = None  # format 3: DPDA's excess, sold by the fund at the feed-in tariff

    @cached_property
    def net_wh(self) -> Mapping[str, int]:
        """Per member id its net metered energy (Wh)."""
        return MappingProxyType(dict(zip(self.columns.parties, self.columns.net_wh.tolist(), strict=True)))

    @cached_property
    def lines(self) -> Mapping[str, Mapping[str, Sequence[int]]]:
        """Per member id, the stages it took part in: ``[sold_wh, bought_wh, money_micro]``."""
        rows, part = self.columns.stages.tolist(), self.columns.took_part.tolist()
        return MappingProxyType({m: {s: row[k] for k, s in enumerate(STAGES) if took[k]}
                                 for m, row, took in zip(self.columns.parties, rows, part, strict=True)})

    @cached_property
    def auction(self) -> Settlement | None:
        """The auction stage as a :class:`Settlement` (a line and a posting per trader), or None."""
        return self.cleared.settlement() if isinstance(self.cleared, ClearedColumns) else self.cleared

    @cached_property
    def stage_rows(self) -> list[dict[str, dict[str, int]]]:
        """Per party (``columns.parties`` order) its stages as the stored documents write them, ``{stage:
        {"sold_wh", "bought_wh", "money_micro"}}`` for every stage of ``STAGES``: built once, shared by the
        statement lines and the multi-settlement document (read-only, as the documents are)."""
        n = len(self.columns.parties)
        rows = self.columns.stages.reshape(n, 3 * len(STAGES)).tolist()  # flat rows: far fewer lists than (n, 4, 3)
        at = tuple(zip(STAGES, range(0, 3 * len(STAGES), 3), strict=True))
        return [{stage: {"sold_wh": r[k], "bought_wh": r[k + 1], "money_micro": r[k + 2]} for stage, k in at}
                for r in rows]

    @cached_property
    def money_micro(self) -> list[int]:
        """Per party (``columns.parties`` order) its money over all stages, micro-tokens (> 0 received)."""
        return [int(x) for x in self.columns.stages[:, :, 2].sum(axis=1).tolist()]

    @cached_property
    def combined(self) -> SlotSettlement:
        """Statements per member id (in id order) and stage, the accounts, grid trades and listing settlements."""
        none = StageLine()  # (immutable: one for every stage a party has nothing in)
        n = len(self.columns.parties)
        rows = self.columns.stages.reshape(n, 3 * len(STAGES)).tolist()  # flat rows: far fewer lists than (n, 4, 3)
        statements = tuple(
            Statement(m, net, MappingProxyType({s: StageLine(r[k], r[k + 1], r[k + 2]) if r[k] or r[k + 1] or r[k + 2]
                                                else none for s, k in zip(STAGES, range(0, 12, 3), strict=True)}))
            for m, net, r in zip(self.columns.parties, self.columns.net_wh.tolist(), rows, strict=True))
        return SlotSettlement(self.slot, statements, self.accounts, None, self.grid_trades, self.listing_settlements,
                              self.board)


def _contracts(doc: SettlementInput) -> list[SignedContract]:
    out = []
    for c in doc.contracts:
        contract = BilateralContract(c.id, c.seller_address, c.buyer_address, c.slots, c.energy_wh / WH_PER_KWH,
                                     float(c.price_per_kwh), c.nonce)
        out.append(SignedContract(contract, bytes.fromhex(c.seller_signature[2:]),
                                  bytes.fromhex(c.buyer_signature[2:])))
    return out


def _board(doc: SettlementInput, number: int, label: Mapping[str, str]) -> Board:
    orders = doc.orders
    return Board(
        listings=tuple(Listing(x.id, label[x.seller], number, x.energy_wh / WH_PER_KWH, float(x.price_per_kwh))
                       for x in doc.listings),
        orders=tuple(ListingOrder(o.id, o.listing_id, label[o.buyer], o.energy_wh / WH_PER_KWH) for o in orders),
        decisions=MappingProxyType({o.id: Decision(o.id, o.accepted, o.reason)
                                    for o in orders if o.decision is not None}),
    )


def _first_stages(doc: SettlementInput, domain: Domain, parties: Sequence[str]
                  ) -> tuple[SlotSettlement, Mapping[str, str]] | None:
    """Stages 1-2 by ``settle_slot`` and member id by label (None when the slot has neither a contract nor a
    listing order)."""
    number = doc.multi_slot
    contracts = contracts_in_slot(_contracts(doc), number, domain)
    if not contracts and not doc.orders:
        return None
    named = {*parties, *(x.seller for x in doc.listings), *(o.buyer for o in doc.orders)}
    label = {m: m for m in named}
    label.update({member: address for address, member in doc.addresses.items() if member in label})
    readings = doc.readings_kwh
    prosumers = [Prosumer(label[m], float(readings.get(m, 0.0))) for m in parties]
    # only stages 1-2 of the one sequence: here the anchored clearing is settled against their residuals
    rates = ServiceRates(service_charge_per_kwh=float(doc.rates.service_charge_per_kwh),
                         penalty_per_kwh=float(doc.rates.penalty_per_kwh))
    first = settle_slot(number, prosumers, contracts=contracts, board=_board(doc, number, label), rates=rates,
                        through="listings")
    return first, {v: k for k, v in label.items()}


def _trades(doc: SettlementInput) -> list[SettledTrade]:
    return [SettledTrade(t.buyer, t.seller, float(t.energy_kwh), float(t.charge)) for t in doc.trades]


def _auction_v2(doc: SettlementInput, residual: Mapping[str, int]) -> Settlement | None:
    """Format 2: the anchored clearing's trades at p0 against the residual meters, eqs. (4.8)-(4.9)."""
    trades = _trades(doc)
    if not trades:
        return None
    buyers = {t.buyer: max(0, -residual[t.buyer]) / WH_PER_KWH for t in trades}
    sellers = {t.seller: max(0, residual[t.seller]) / WH_PER_KWH for t in trades}
    return settle(float(doc.price_per_kwh), trades, buyers, sellers,
                  penalty_per_kwh=float(doc.penalty_per_kwh), dso_account=DSO_ACCOUNT)


def _auction_v3(doc: SettlementInput, residual: IntArray, index: Mapping[str, int]
                ) -> tuple[ClearedColumns, IntArray] | None:
    """Format 3: the endorsed clearing as it is, the residual meters settling the deviations
    (:func:`~transactive.settlement.metering.settle_cleared_columns`); a trader's meter is its residual on its
    cleared side (a seller ``max(0, r)``, a buyer ``min(0, r)``, 0 where nothing cleared). With the parties' row
    of each trader."""
    rows = doc.cleared
    fund = doc.fund
    if not rows.members and fund is None:
        return None
    members, energy, amount = rows.members, rows.energy_wh, rows.amount_micro
    if len(set(members)) != len(members):  # a member twice: its last row, at its first place (as a dict)
        once = {m: (wh, micro) for m, wh, micro in rows.rows()}
        members, energy, amount = tuple(once), tuple(v[0] for v in once.values()), tuple(v[1] for v in once.values())
    at = np.fromiter((index[m] for m in members), dtype=np.intp, count=len(members))
    cleared_wh = np.asarray(energy, dtype=np.int64) if energy else np.zeros(0, dtype=np.int64)
    r = residual[at]
    metered = np.where(cleared_wh > 0, np.maximum(r, 0), np.where(cleared_wh < 0, np.minimum(r, 0), 0))
    columns = settle_cleared_columns(
        float(doc.price_per_kwh), members, cleared_wh, amount if amount else np.zeros(0, dtype=np.int64), metered,
        penalty_per_kwh=float(doc.penalty_per_kwh), network_trades=_trades(doc), charges_micro=doc.charges_micro,
        fund_micro=0 if fund is None else fund.amount_micro, dso_account=DSO_ACCOUNT)
    return columns, at


def settle_sequence(document: SettlementInput | Mapping[str, Any], domain: Domain) -> SequenceSettlement:
    """Recompute a slot's whole settlement from its ``transactive.settlement-input/3`` (or ``/2``) input
    (pure, deterministic; ``domain``: the chain's EIP-712 domain the contracts were signed in). The parties'
    figures are columns (:class:`PartyColumns`): no per-party Python on the auction and the postings."""
    doc = SettlementInput.of(document)
    version = doc.format
    if version not in SEQUENCE_FORMATS:
        raise ValueError(f"not a {SEQUENCE_FORMAT} document")
    check_input_readings(doc, domain)  # the meters' signatures (an input without meters: nothing to check)
    parties: list[str] = sorted(doc.parties)
    n = len(parties)
    index = dict(zip(parties, range(n), strict=True))
    if len(index) != n:
        raise SettlementError("parties", "must be unique")
    readings = doc.readings_kwh
    net = base_units_column([readings.get(m, 0.0) for m in parties], WH_PER_KWH, "energy_kwh")
    stages = np.zeros((n, len(STAGES), 3), dtype=np.int64)  # [sold_wh, bought_wh, money_micro] per stage
    took_part = np.zeros((n, len(STAGES)), dtype=bool)
    accounts = {"dso": 0, "board": 0, "auctioneer": 0, "grid": 0}
    if version == SEQUENCE_FORMAT:
        accounts["fund"] = 0
    residual = net.copy()
    first_stages = _first_stages(doc, domain, parties)
    first: SlotSettlement | None = None
    listing_settlements: tuple[Any, ...] = ()
    board = Board()
    if first_stages is not None:
        first, member_of = first_stages
        at = np.fromiter((index[member_of[s.peer]] for s in first.statements), dtype=np.intp,
                         count=len(first.statements))
        first_two: tuple[Stage, Stage] = ("bilateral", "listings")
        for k, stage in enumerate(first_two):
            stage_lines = [s.stages[stage] for s in first.statements]
            stages[at, k] = np.array([(ln.sold_wh, ln.bought_wh, ln.money_micro) for ln in stage_lines],
                                     dtype=np.int64).reshape(-1, 3)
            took_part[at, k] = True
            residual[at] -= stages[at, k, 0] - stages[at, k, 1]
        accounts["dso"] += first.accounts["dso"]  # listing shortfall penalties
        accounts["board"] += first.accounts["board"]  # listing service charges
        listing_settlements = first.listing_settlements
        board = first.board
    # 3. the auction against the residual meters: format 3 the endorsed clearing + deviations, format 2 (4.8)-(4.9)
    cleared: ClearedColumns | Settlement | None
    if version == SEQUENCE_FORMAT:
        settled = _auction_v3(doc, residual, index)
        cleared = None if settled is None else settled[0]
        if settled is not None:
            columns, at = settled
            seller, metered_wh, money = columns.seller, np.abs(columns.metered_wh), columns.amount_micro
    else:
        cleared = _auction_v2(doc, dict(zip(parties, residual.tolist(), strict=True)))
        if cleared is not None:
            at = np.fromiter((index[ln.participant] for ln in cleared.lines), dtype=np.intp, count=len(cleared.lines))
            seller = np.fromiter((ln.side == "seller" for ln in cleared.lines), dtype=bool, count=len(cleared.lines))
            metered_wh = np.fromiter((ln.metered_wh for ln in cleared.lines), dtype=np.int64, count=len(at))
            money = np.where(seller, 1, -1) * np.fromiter((ln.amount_micro for ln in cleared.lines), dtype=np.int64,
                                                          count=len(at))
    fund_trade: MainGridTrade | None = None
    if cleared is not None:
        stages[at, 2, 0] = np.where(seller, metered_wh, 0)
        stages[at, 2, 1] = np.where(seller, 0, metered_wh)
        stages[at, 2, 2] = money
        took_part[at, 2] = True
        residual[at] -= np.where(seller, metered_wh, -metered_wh)
        if isinstance(cleared, ClearedColumns):
            accounts["dso"] += cleared.dso_micro
            accounts["fund"] += cleared.fund_micro  # the community fund's row
        else:
            accounts["dso"] += next(p.amount_micro for p in cleared.postings if p.account == DSO_ACCOUNT)
        excess_wh = 0 if doc.fund is None else -doc.fund.energy_wh
        if excess_wh:  # DPDA's excess, taken by the fund in the auction, sold at the feed-in tariff (as settle_slot)
            fit = money_to_micro(excess_wh / 1000 * float(doc.tariff.feed_in_per_kwh))
            fund_trade = MainGridTrade("fund", excess_wh, "feed_in", fit)
            accounts["fund"] += fit
            accounts["grid"] += fund_trade.grid_micro
    # 4. the main grid for what remains: the tariffs, or the wholesale market through the auctioneer
    wholesale = doc.wholesale
    tariff = GridTariff(feed_in_per_kwh=float(doc.tariff.feed_in_per_kwh),
                        retail_per_kwh=float(doc.tariff.retail_per_kwh),
                        **({} if wholesale is None else {"wholesale_fee_per_kwh": float(wholesale.fee_per_kwh)}))
    left = np.flatnonzero(residual)
    grid = settle_with_grid({parties[i]: r for i, r in zip(left.tolist(), residual[left].tolist(), strict=True)},
                            tariff=tariff,
                            wholesale_price_per_kwh=None if wholesale is None else float(wholesale.price_per_kwh))
    if grid:  # one trade per peer, in party order
        energy = np.fromiter((g.energy_wh for g in grid), dtype=np.int64, count=len(grid))
        stages[left, 3, 0] += np.where(energy > 0, energy, 0)
        stages[left, 3, 1] += np.where(energy > 0, 0, -energy)
        stages[left, 3, 2] += np.fromiter((g.money_micro for g in grid), dtype=np.int64, count=len(grid))
        took_part[left, 3] = True
        accounts["grid"] += sum(g.grid_micro for g in grid)
        accounts["auctioneer"] += sum(g.fee_micro for g in grid)
        residual[left] -= energy
    money_of = stages[:, :, 2].sum(axis=1)
    if sum(money_of.tolist()) + sum(accounts.values()) != 0 or residual.any():  # pragma: no cover
        raise AssertionError("the slot's settlement does not balance")  # invariants of the stages
    postings = _postings(doc, parties, net, money_of, accounts)
    tariffs, penalties, imbalance = (0, 0, 0) if cleared is None else (
        cleared.dso_tariffs_micro, cleared.dso_penalties_micro, cleared.dso_imbalance_micro)
    auctioneer = None if wholesale is None else wholesale.auctioneer
    own = ("fund", "auctioneer") if auctioneer is not None else ("fund",)  # accounts not posted to the DSO's
    breakdown = {
        "tariffs_micro": tariffs,
        "penalties_micro": penalties + first_penalties(first),
        "imbalance_micro": imbalance,
        "service_charges_micro": accounts["board"],
        "grid_energy_micro": accounts["grid"] + (0 if auctioneer is not None else accounts["auctioneer"]),
        "amount_micro": sum(v for k, v in accounts.items() if k not in own),
    }
    return SequenceSettlement(doc.multi_slot, PartyColumns(tuple(parties), net, stages, took_part),
                              MappingProxyType(accounts), tuple(grid), listing_settlements, board, cleared, postings,
                              MappingProxyType(breakdown), fund_trade)


def _postings(doc: SettlementInput, parties: Sequence[str], net: IntArray, money: IntArray,
              accounts: Mapping[str, int]) -> tuple[AccountPosting, ...]:
    """One posting per chain account, ``(address, energy_wh, amount_micro)``: the members' accounts in party
    order (a member's net metered Wh and its money over the stages; members sharing an account summed), then
    the DSO's (the imbalance it covered and every account not posted on its own), the auctioneer's wholesale fees
    and the fund's (each added to the row of an account already posted)."""
    member_accounts = doc.accounts
    addresses = [member_accounts[m] for m in parties]
    if len(set(addresses)) == len(addresses):  # one account per member (the service's custodial accounts)
        energy, amount = net.tolist(), money.tolist()
    else:
        rows: dict[str, list[int]] = {}
        for address, e, m in zip(addresses, net.tolist(), money.tolist(), strict=True):
            row = rows.setdefault(address, [0, 0])
            row[0] += e
            row[1] += m
        addresses, energy, amount = list(rows), [r[0] for r in rows.values()], [r[1] for r in rows.values()]
    position = dict(zip(addresses, range(len(addresses)), strict=True))

    def add(address: str, energy_wh: int, amount_micro: int) -> None:
        k = position.get(address)
        if k is None:
            position[address] = k = len(addresses)
            addresses.append(address)
            energy.append(0)
            amount.append(0)
        energy[k] += energy_wh
        amount[k] += amount_micro

    wholesale = doc.wholesale
    auctioneer = None if wholesale is None else wholesale.auctioneer
    own = ("fund", "auctioneer") if auctioneer is not None else ("fund",)  # accounts not posted to the DSO's
    add(doc.dso, -sum(net.tolist()), sum(v for k, v in accounts.items() if k not in own))
    if auctioneer is not None and accounts["auctioneer"]:  # the wholesale fee, to the slot's auctioneer
        add(auctioneer, 0, accounts["auctioneer"])
    if accounts.get("fund") and doc.fund is not None:  # the fund took DPDA's excess, sold it: no energy of its own
        add(doc.fund.account, 0, accounts["fund"])
    return tuple(map(AccountPosting, addresses, energy, amount))


def first_penalties(first: SlotSettlement | None) -> int:
    """The listing stage's shortfall penalties (micro-tokens, to the DSO)."""
    return 0 if first is None else int(first.accounts["dso"])


def settlement_postings(document: SettlementInput | Mapping[str, Any], domain: Domain) -> list[AccountPosting]:
    """The postings of a settlement slot's input document, as every validator and the audit recompute them
    (formats 3 and 2: the whole seed-001 sequence, :func:`settle_sequence`; format 1, of records an older
    service prepared: the auction against the meters,
    :func:`~transactive.settlement.slot_settlement.settle_input`)."""
    doc = SettlementInput.of(document)
    if doc.is_sequence:
        return list(settle_sequence(doc, domain).postings)
    return settle_input(doc)[1]
