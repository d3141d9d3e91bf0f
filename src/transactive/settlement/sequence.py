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
   (:func:`transactive.settlement.grid_trading.settle_with_grid`).

The ``dso``, ``board`` and ``grid`` accounts of the sequence are one chain account: the DSO's (the service's
choice: the DSO is the community's grid interface and collects the listing board's service charges); the
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

from transactive.crypto.eip712 import Domain
from transactive.settlement.bilateral import BilateralContract, SignedContract, contracts_in_slot
from transactive.settlement.grid_trading import GridTariff, MainGridTrade, settle_with_grid
from transactive.settlement.input import SEQUENCE_FORMAT, SEQUENCE_FORMAT_V2, SettlementInput
from transactive.settlement.listings import Board, Decision, Listing, ListingOrder, OrderSettlement, ServiceRates
from transactive.settlement.metering import DSO_ACCOUNT, Cleared, SettledTrade, Settlement, settle, settle_cleared
from transactive.settlement.slot_settlement import AccountPosting, settle_input
from transactive.settlement.stages import STAGES, Prosumer, SlotSettlement, StageLine, Statement, settle_slot
from transactive.units import WH_PER_KWH, energy_to_wh, money_to_micro

"""The format the service writes: the auction stage is the endorsed clearing, the meters settle deviations."""
"""Written before: the anchored clearing re-priced at p0 by eqs. (4.8)-(4.9); still recomputed as it was."""
SEQUENCE_FORMATS = (SEQUENCE_FORMAT, SEQUENCE_FORMAT_V2)

__all__ = ["SEQUENCE_FORMAT", "SEQUENCE_FORMATS", "SEQUENCE_FORMAT_V2", "SequenceSettlement", "settle_sequence",
           "settlement_postings"]


@dataclass(frozen=True)
class SequenceSettlement:
    """A slot's one settlement: per member id its net metered energy (Wh) and per stage ``(sold_wh,
    bought_wh, money_micro)`` (money > 0 received), the accounts ``dso``, ``board``, ``auctioneer`` (0 without
    a wholesale price), ``grid`` and (format 3) ``fund``, the auction stage's ``auction`` (format 3: as cleared
    against the meters, :func:`~transactive.settlement.metering.settle_cleared`; format 2: (4.8)-(4.9);
    ``None`` without trades), the
    chain ``postings`` and the DSO's breakdown in micro-tokens (> 0 the DSO receives). :attr:`combined` is the
    same as a :class:`SlotSettlement` (built on demand: validators need the postings only)."""

    slot: int
    net_wh: Mapping[str, int]
    lines: Mapping[str, Mapping[str, Sequence[int]]]  # [sold_wh, bought_wh, money_micro]; absent: no part
    accounts: Mapping[str, int]
    grid_trades: tuple[MainGridTrade, ...]
    listing_settlements: tuple[OrderSettlement, ...]
    board: Board
    auction: Settlement | None
    postings: tuple[AccountPosting, ...]
    dso_breakdown: Mapping[str, int]
    fund_grid_trade: MainGridTrade | None = None  # format 3: DPDA's excess, sold by the fund at the feed-in tariff

    @cached_property
    def combined(self) -> SlotSettlement:
        """Statements per member id (in id order) and stage, the accounts, grid trades and listing settlements."""
        statements = tuple(Statement(m, self.net_wh[m], MappingProxyType({s: StageLine(*self.lines[m].get(s, (0, 0, 0)))
                                                                          for s in STAGES}))
                           for m in self.lines)
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


def _first_stages(doc: SettlementInput, domain: Domain, parties: Sequence[str],
                  label: Mapping[str, str]) -> SlotSettlement | None:
    """Stages 1-2 by ``settle_slot`` (None when the slot has neither a contract nor a listing order)."""
    number = doc.multi_slot
    contracts = contracts_in_slot(_contracts(doc), number, domain)
    if not contracts and not doc.orders:
        return None
    readings = doc.readings_kwh
    prosumers = [Prosumer(label[m], float(readings.get(m, 0.0))) for m in parties]
    # only stages 1-2 of the one sequence: here the anchored clearing is settled against their residuals
    rates = ServiceRates(service_charge_per_kwh=float(doc.rates.service_charge_per_kwh),
                         penalty_per_kwh=float(doc.rates.penalty_per_kwh))
    return settle_slot(number, prosumers, contracts=contracts, board=_board(doc, number, label), rates=rates,
                       through="listings")


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


def _auction_v3(doc: SettlementInput, residual: Mapping[str, int]) -> Settlement | None:
    """Format 3: the endorsed clearing as it is, the residual meters settling the deviations
    (:func:`~transactive.settlement.metering.settle_cleared`); a trader's meter is its residual on its cleared
    side (a seller ``max(0, r)``, a buyer ``min(0, r)``, 0 where nothing cleared)."""
    cleared = {m: Cleared(wh, micro) for m, wh, micro in doc.cleared.rows()}
    fund = doc.fund
    if not cleared and fund is None:
        return None
    metered = {m: max(0, residual[m]) if c.energy_wh > 0 else min(0, residual[m]) if c.energy_wh < 0 else 0
               for m, c in cleared.items()}
    return settle_cleared(float(doc.price_per_kwh), cleared, metered, penalty_per_kwh=float(doc.penalty_per_kwh),
                          network_trades=_trades(doc), charges_micro=doc.charges_micro,
                          fund_micro=0 if fund is None else fund.amount_micro, dso_account=DSO_ACCOUNT)


def settle_sequence(document: SettlementInput | Mapping[str, Any], domain: Domain) -> SequenceSettlement:
    """Recompute a slot's whole settlement from its ``transactive.settlement-input/3`` (or ``/2``) input
    (pure, deterministic; ``domain``: the chain's EIP-712 domain the contracts were signed in)."""
    doc = SettlementInput.of(document)
    version = doc.format
    if version not in SEQUENCE_FORMATS:
        raise ValueError(f"not a {SEQUENCE_FORMAT} document")
    parties: list[str] = sorted(doc.parties)
    addresses = doc.addresses  # registered (contract-signing) address -> member id
    named = {*parties, *(x.seller for x in doc.listings), *(o.buyer for o in doc.orders)}
    label = {m: m for m in named}
    label.update({member: address for address, member in addresses.items() if member in label})
    member_of = {v: k for k, v in label.items()}
    readings = doc.readings_kwh
    net = {m: energy_to_wh(float(readings.get(m, 0.0))) for m in parties}
    lines: dict[str, dict[str, list[int]]] = {m: {} for m in parties}  # stages a member took part in
    accounts = {"dso": 0, "board": 0, "auctioneer": 0, "grid": 0}
    if version == SEQUENCE_FORMAT:
        accounts["fund"] = 0
    residual = dict(net)
    first = _first_stages(doc, domain, parties, label)
    listing_settlements: tuple[Any, ...] = ()
    board = Board()
    if first is not None:
        for s in first.statements:
            member = member_of[s.peer]
            for stage in ("bilateral", "listings"):
                line = s.stages[stage]
                lines[member][stage] = [line.sold_wh, line.bought_wh, line.money_micro]
                residual[member] -= line.sold_wh - line.bought_wh
        accounts["dso"] += first.accounts["dso"]  # listing shortfall penalties
        accounts["board"] += first.accounts["board"]  # listing service charges
        listing_settlements = first.listing_settlements
        board = first.board
    # 3. the auction against the residual meters: format 3 the endorsed clearing + deviations, format 2 (4.8)-(4.9)
    auction = (_auction_v3 if version == SEQUENCE_FORMAT else _auction_v2)(doc, residual)
    fund_trade: MainGridTrade | None = None
    if auction is not None:
        for ln in auction.lines:
            sign = 1 if ln.side == "seller" else -1
            lines[ln.participant]["auction"] = ([ln.metered_wh, 0, ln.amount_micro] if sign > 0
                                                else [0, ln.metered_wh, -ln.amount_micro])
            residual[ln.participant] -= sign * ln.metered_wh
        for p in auction.postings:
            if p.account == DSO_ACCOUNT:
                accounts["dso"] += p.amount_micro
            elif not p.account.startswith(("buyer:", "seller:")):  # format 3: the community fund's row
                accounts["fund"] += p.amount_micro
        excess_wh = 0 if doc.fund is None else -doc.fund.energy_wh
        if excess_wh:  # DPDA's excess, taken by the fund in the auction, sold at the feed-in tariff (as settle_slot)
            fit = money_to_micro(excess_wh / 1000 * float(doc.tariff.feed_in_per_kwh))
            fund_trade = MainGridTrade("fund", excess_wh, "feed_in", fit)
            accounts["fund"] += fit
            accounts["grid"] += fund_trade.grid_micro
    # 4. the main grid for what remains
    tariff = GridTariff(feed_in_per_kwh=float(doc.tariff.feed_in_per_kwh),
                        retail_per_kwh=float(doc.tariff.retail_per_kwh))
    grid: list[MainGridTrade] = []
    for g in settle_with_grid({m: r for m, r in residual.items() if r}, tariff=tariff):
        grid.append(g)
        grid_line = lines[g.peer].setdefault("grid", [0, 0, 0])
        grid_line[0 if g.energy_wh > 0 else 1] += abs(g.energy_wh)
        grid_line[2] += g.money_micro
        accounts["grid"] += g.grid_micro
        accounts["auctioneer"] += g.fee_micro
        residual[g.peer] -= g.energy_wh
    money = {m: sum(line[2] for line in lines[m].values()) for m in parties}
    if sum(money.values()) + sum(accounts.values()) != 0 or any(residual.values()):  # pragma: no cover
        raise AssertionError("the slot's settlement does not balance")  # invariants of the stages
    dso_address = doc.dso
    member_accounts = doc.accounts
    by_address: dict[str, list[int]] = {}
    for m in parties:
        row = by_address.setdefault(member_accounts[m], [0, 0])
        row[0] += net[m]
        row[1] += money[m]
    dso_row = by_address.setdefault(dso_address, [0, 0])
    dso_row[0] -= sum(net.values())
    dso_row[1] += sum(v for k, v in accounts.items() if k != "fund")
    if accounts.get("fund") and doc.fund is not None:  # the fund took DPDA's excess, sold it: no energy of its own
        by_address.setdefault(doc.fund.account, [0, 0])[1] += accounts["fund"]
    postings = tuple(AccountPosting(a, e, m) for a, (e, m) in by_address.items())
    breakdown = {
        "tariffs_micro": 0 if auction is None else auction.dso_tariffs_micro,
        "penalties_micro": (0 if auction is None else auction.dso_penalties_micro) + first_penalties(first),
        "imbalance_micro": 0 if auction is None else auction.dso_imbalance_micro,
        "service_charges_micro": accounts["board"],
        "grid_energy_micro": accounts["grid"] + accounts["auctioneer"],
        "amount_micro": sum(v for k, v in accounts.items() if k != "fund"),
    }
    return SequenceSettlement(doc.multi_slot, MappingProxyType(net), MappingProxyType(lines),
                              MappingProxyType(accounts), tuple(grid), listing_settlements, board, auction, postings,
                              MappingProxyType(breakdown), fund_trade)


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
