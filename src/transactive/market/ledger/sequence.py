"""The ledger's settlement input of a slot (``transactive.settlement-input/3``, see
:mod:`transactive.settlement.sequence`), read from the store and the anchored clearing's endorsed result
entries; and what the settled record shows (statement lines per member and stage, the DSO's breakdown, the
multi-settlement desk's document).

Pure reads and pure functions: :class:`transactive.market.ledger.desk.LedgerDesk` commits the input, has the
validators recompute :func:`~transactive.settlement.sequence.settle_sequence` and moves the tokens.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np

from transactive.ledger.messages.commitments import FUND_LEAF, ME_LEAF
from transactive.market.multi_signing import slot_number
from transactive.market.multi_slot import ContractTerms, settlement_document
from transactive.result import ResultDocument, ResultSummary
from transactive.settlement.grid_trading import GridTariff
from transactive.settlement.input import (
    SEQUENCE_FORMAT,
    ClearedRows,
    FundRow,
    InputContract,
    InputCorrection,
    InputListing,
    InputOrder,
    InputTrade,
    InputWholesale,
    SettlementInput,
)
from transactive.settlement.listings import ServiceRates
from transactive.settlement.meter_readings import SignedReading
from transactive.settlement.metering import ClearedColumns, Settlement
from transactive.settlement.sequence import SequenceSettlement
from transactive.settlement.slot_settlement import SettlementTerms, paired_trades
from transactive.settlement.stages import SlotSettlement
from transactive.settlement.wholesale import settlement_field
from transactive.store import Community, MeterReading, MultiStore
from transactive.units import energy_to_wh

__all__ = ["SlotParties", "auction_input", "entry_rows", "has_multi_items", "sequence_input", "sequence_lines",
           "sequence_parties", "slot_parties", "stored_multi_document"]


def has_multi_items(store: MultiStore, community: str, slot_start: str) -> bool:
    """Whether the slot has a listing or a signed contract delivering in it."""
    if store.list_listings(community, slot_start):
        return True
    return any(ContractTerms.of(r).delivers_in(slot_start)
               for r in store.signed_contracts_around(community, slot_start))


def multi_slot_starts(store: MultiStore, community: str, since: str | None = None,
                      until: str | None = None) -> set[str]:
    """Every slot start with a listing or a signed contract delivering in it (the cycle's candidates), within
    ``[since, until]`` when given (ISO 8601 slot starts, which sort chronologically). A contract's schedule is
    searched by bisection, so a tick costs O(contracts · log slots)."""
    low, high = since or "", until or "\uffff"
    starts = {r.slot_start for r in store.list_listings(community) if low <= r.slot_start <= high}
    for r in store.list_contracts(community):
        if r.state != "signed" or r.last_slot < low or r.first_slot > high:
            continue
        schedule = [str(x) for x in ContractTerms.of(r).slot_starts]
        starts.update(schedule[bisect_left(schedule, low):bisect_right(schedule, high)])
    return starts


@dataclass(frozen=True)
class SlotParties:
    """Who a slot's settlement settles, read once from the store: the auction's ``traders``, the other members
    with an auction order in the slot (``ordered``: each settles when its meter reading is in), the signed
    ``contracts`` delivering in it, its ``listings`` and listing ``orders`` (stored records)."""

    traders: frozenset[str]
    ordered: frozenset[str]
    contracts: tuple[Any, ...]
    listings: tuple[Any, ...]
    orders: tuple[Any, ...]

    @cached_property
    def awaited(self) -> list[str]:
        """The members whose readings the settlement waits for (the traders, the parties to the contracts and to
        the accepted listing orders), in id order."""
        sellers = {x.id: x.seller for x in self.listings}
        parties = set(self.traders)
        for c in self.contracts:
            parties.update((c.seller, c.buyer))
        for o in self.orders:
            if o.decision == "accepted":
                parties.update((sellers[o.listing_id], o.buyer))
        return sorted(parties)

    def settled(self, read: Collection[str]) -> list[str]:
        """The parties, in id order, once the members of ``read`` have a reading: the awaited ones and every
        ordering member with a reading."""
        return sorted({*self.awaited, *(self.ordered & set(read))})


def slot_parties(store: MultiStore, community: str, slot_start: str, result: ResultDocument | ResultSummary | None
                 ) -> SlotParties:
    """The slot's :class:`SlotParties` (``result``: the cleared result or its summary; None for a slot without
    one)."""
    traders = frozenset[str]() if result is None else ResultSummary.of(result).traders
    contracts = [r for r in store.signed_contracts_around(community, slot_start)
                 if ContractTerms.of(r).delivers_in(slot_start)]
    return SlotParties(traders, frozenset(store.order_members(community, slot_start) - traders),
                       tuple(contracts), tuple(store.list_listings(community, slot_start)),
                       tuple(store.listing_orders(community, slot_start)))


def sequence_parties(store: MultiStore, community: str, slot_start: str,
                     result: ResultDocument | ResultSummary | None,
                     readings: Sequence[MeterReading] | None = None
                     ) -> tuple[list[str], list[Any], list[Any], list[Any]]:
    """``(parties, contracts, listings, orders)``: the members settled in the slot (auction traders, parties to
    signed contracts delivering in it, parties to its accepted listing orders, and every other member with an
    auction order in it whose meter reading is in: its metered position settles with the grid) and the
    stored records (:func:`slot_parties`). The settlement waits for the readings of the first three only, as
    before. ``readings``: the slot's stored meter readings when the caller has read them already."""
    found = slot_parties(store, community, slot_start, result)
    read: Sequence[MeterReading] = ()
    if found.ordered:
        read = store.meter_readings(community, slot_start) if readings is None else readings
    return (found.settled({r.member for r in read}), list(found.contracts), list(found.listings),
            list(found.orders))


class Entry(Protocol):
    """An endorsed result entry (:class:`~transactive.ledger.messages.commitments.ResultEntry` or as stored,
    :class:`~transactive.market.ledger.documents.StoredResult`)."""

    @property
    def account(self) -> str: ...
    @property
    def energy_wh(self) -> int: ...
    @property
    def amount_micro(self) -> int: ...


def entry_rows(entries: Iterable[Entry]) -> list[tuple[str, int, int]]:
    """``(account, energy_wh, amount_micro)`` of each entry (:func:`auction_input`'s rows)."""
    return [(e.account, e.energy_wh, e.amount_micro) for e in entries]


def auction_input(result: ResultDocument | ResultSummary | None, entries: Iterable[tuple[str, int, int]], *,
                  member_of: Mapping[str, str], dso_address: str, terms: SettlementTerms) -> dict[str, Any]:
    """The auction fields of a ``transactive.settlement-input/3`` record (keyword arguments of
    :class:`~transactive.settlement.input.SettlementInput`): the anchored clearing's endorsed
    result ``entries`` (by chain address; ``(account, energy_wh, amount_micro)`` rows: :func:`entry_rows`, or
    :func:`~transactive.market.ledger.documents.result_rows` of the stored anchor document) per member id
    (``member_of``: lower-case address -> member), so the settlement recomputes the clearing as it was endorsed
    (``docs/settlement.md``, "Settlement against the meters"):

    * ``cleared``: ``{"members": [...], "energy_wh": [...], "amount_micro": [...]}``, parallel columns (signed:
      + sold / received), in member id order, members with a non-zero row only;
    * ``charges_micro``: the DSO's row, the clearing's own grid charges (already inside the cleared payments);
    * ``fund``: the community fund's row (``account`` FUND_LEAF, ``energy_wh`` = −DPDA's excess,
      ``amount_micro`` its surplus or deficit) or None; ``exchange_micro``: the ME row (moves nothing);
    * ``price_per_kwh``: the deviation price, the clearing's p0 or, without one, the buyers' average price;
    * ``trades``: a mechanism without matched trades pays the community's flat network charge on the cleared
      energies paired in entry order (as format 2 did; [] for a ``*_matched`` one, whose charges are cleared).

    ``ValueError`` for a row that is none of these (a reward leaf: the service's slots have no reward shares)."""
    cleared: dict[str, tuple[int, int]] = {}
    charges = exchange = 0
    fund: FundRow | None = None
    fund_key, me_key, dso_key = FUND_LEAF.lower(), ME_LEAF.lower(), dso_address.lower()
    special = {fund_key, me_key, dso_key}
    for account, wh, micro in entries:
        key = account.lower()
        if key not in special and (member := member_of.get(key)) is not None:  # a member's row (the many)
            if wh or micro:
                cleared[member] = (wh, micro)
        elif key == fund_key:
            fund = FundRow(FUND_LEAF, wh, micro)
        elif key == me_key:
            exchange = micro
        elif key == dso_key and wh == 0:
            charges += micro
        elif key in member_of:
            if (wh, micro) != (0, 0):
                cleared[member_of[key]] = (wh, micro)
        elif (wh, micro) != (0, 0):
            raise ValueError(f"the endorsed result has a row of {account} that is no member's account")
    members = sorted(cleared)
    summary = None if result is None else ResultSummary.of(result)
    matched = summary is not None and summary.matched
    trades = [] if matched else paired_trades([(m, wh) for m, (wh, _) in cleared.items() if wh > 0],
                                              [(m, -wh) for m, (wh, _) in cleared.items() if wh < 0],
                                              terms.grid_charge_per_kwh)
    return {
        "price_per_kwh": 0.0 if summary is None else summary.price_per_kwh,
        "penalty_per_kwh": terms.penalty_per_kwh,
        "trades": tuple(InputTrade(t.buyer, t.seller, t.energy_kwh, t.charge) for t in trades),
        "cleared": ClearedRows(tuple(members), tuple(cleared[m][0] for m in members),
                               tuple(cleared[m][1] for m in members)),
        "charges_micro": charges, "fund": fund, "exchange_micro": exchange,
    }


def sequence_input(
    store: MultiStore, c: Community, slot_start: str, *, chain_slot: int, clearing_slot: int | None,
    clearing_root: str | None, result: ResultDocument | ResultSummary | None, terms: SettlementTerms,
    account_of: Callable[[str], str], dso_address: str, entries: Sequence[Entry] = (),
    member_of: Mapping[str, str] | None = None, auctioneer: str | None = None,
    stored_readings: Sequence[MeterReading] | None = None, found: SlotParties | None = None,
    auction: Mapping[str, Any] | None = None,
) -> SettlementInput:
    """The slot's ``transactive.settlement-input/3`` record (deterministic JSON); ``entries``: the anchored
    clearing's endorsed result entries (:func:`auction_input`); ``member_of``: lower-case chain address ->
    member id (default: the community's chain accounts, read from the store); ``auctioneer``: the settlement
    slot's auctioneer, who keeps the wholesale fees. A community with a ``wholesale`` parameter adds the one
    optional field ``wholesale`` (:func:`transactive.settlement.wholesale.settlement_field`).
    ``stored_readings``: the slot's meter readings when the caller has read them (once per settlement);
    ``found`` (:func:`slot_parties`) and ``auction`` (:func:`auction_input`) when the caller has them."""
    if stored_readings is None:
        stored_readings = store.meter_readings(c.name, slot_start)
    if found is None:
        found = slot_parties(store, c.name, slot_start, result)
    if auction is None:
        if member_of is None:
            member_of = {address.lower(): member
                         for member, address in store.chain_account_addresses(c.name).items()}
        auction = auction_input(result, entry_rows(entries), member_of=member_of, dso_address=dso_address, terms=terms)
    contracts, listings, orders = found.contracts, found.listings, found.orders
    # a remedy (docs/settlement.md §4) may clear others
    parties = sorted({*found.settled({r.member for r in stored_readings}), *auction["cleared"].members})
    readings = {r.member: r.energy_kwh for r in stored_readings}
    tariff, rates = GridTariff(), ServiceRates()
    contract_rows = []
    for r in contracts:
        terms_of = ContractTerms.of(r)
        assert r.seller_signature is not None and r.buyer_signature is not None  # signed contracts only
        contract_rows.append(InputContract(r.id, terms_of.seller_address, terms_of.buyer_address, terms_of.slots,
                                           terms_of.energy_wh_per_slot, terms_of.price_per_kwh, terms_of.nonce,
                                           r.seller_signature, r.buyer_signature))
    wholesale = settlement_field(c.params, slot_start, auctioneer)
    return SettlementInput(
        format=SEQUENCE_FORMAT, slot=chain_slot, clearing_slot=clearing_slot, clearing_root=clearing_root,
        multi_slot=slot_number(slot_start),
        **auction,
        parties=tuple(parties),
        readings_kwh=MappingProxyType({m: readings[m] for m in parties if m in readings}),
        missing_readings=tuple(m for m in parties if m not in readings),
        contracts=tuple(contract_rows),
        addresses=MappingProxyType({a.address: a.member for a in store.member_addresses(c.name)}),
        listings=tuple(InputListing(x.id, x.seller, x.energy_wh, x.price_per_kwh) for x in listings),
        orders=tuple(InputOrder(o.id, o.listing_id, o.buyer, o.energy_wh, o.decision, tuple(o.reason))
                     for o in orders),
        tariff=GridTariff(feed_in_per_kwh=tariff.feed_in_per_kwh, retail_per_kwh=tariff.retail_per_kwh),
        rates=ServiceRates(service_charge_per_kwh=rates.service_charge_per_kwh, penalty_per_kwh=rates.penalty_per_kwh),
        accounts=MappingProxyType({m: account_of(m) for m in parties}),
        dso=dso_address,
        wholesale=None if wholesale is None else InputWholesale.from_json(wholesale),
        **meter_fields(store, c.name, slot_start, parties, stored_readings),
    )


def meter_fields(store: MultiStore, community: str, slot_start: str, parties: Sequence[str],
                 readings: Sequence[MeterReading]) -> dict[str, Any]:
    """The optional ``meters``, ``signed_readings`` and ``corrections`` of a settlement input (keyword arguments
    of :class:`~transactive.settlement.input.SettlementInput`, :mod:`transactive.settlement.meter_readings`), or
    nothing when no party has a meter key and no reading a resolved dispute (so such an input is what it was
    before). A party whose stored reading is unsigned was read before its meter key was registered: its reading
    stands as reported and it is left out of ``meters``."""
    keys = store.meter_keys(community)
    disputes = {d.id: d for d in store.disputes(community, slot_start) if d.state == "resolved"}
    if not keys and not disputes:  # no meter key, no correction: no field
        return {}
    by_member = {r.member: r for r in readings}
    slot = slot_number(slot_start)
    meters: dict[str, str] = {}
    signed: list[SignedReading] = []
    corrections: list[InputCorrection] = []
    for m in parties:
        r = by_member.get(m)
        if m in keys and (r is None or r.signature is not None):
            meters[m] = keys[m].address if r is None or r.meter is None else r.meter
        if r is not None and r.signature is not None and r.meter is not None:
            metered = r.energy_kwh if r.metered_kwh is None else r.metered_kwh
            signed.append(SignedReading(community, m, slot, energy_to_wh(metered), r.meter, r.signature))
        if r is not None and r.dispute is not None and r.dispute in disputes:
            dispute = disputes[r.dispute]
            metered_wh = None if r.metered_kwh is None else energy_to_wh(r.metered_kwh)
            corrections.append(InputCorrection(
                m, r.dispute, energy_to_wh(r.energy_kwh), metered_wh,
                MappingProxyType(dict(dispute.approvals)),
                MappingProxyType({k: MappingProxyType(dict(v)) for k, v in dispute.signatures.items()})))
    if not meters and not corrections:
        return {}
    return {"meters": MappingProxyType(meters), "signed_readings": tuple(signed), "corrections": tuple(corrections)}


def sequence_lines(result: SequenceSettlement) -> list[dict[str, Any]]:
    """One statement line per party: its stages (Wh sold and bought, money > 0 received), its auction line
    (cleared and metered Wh, energy money, tariff, penalty, amount) when it traded in the auction, and its
    balance change (the sum of its stages). Built from the settlement's columns."""
    columns = result.columns
    parties = columns.parties
    n = len(parties)
    side: list[str | None] = [None] * n
    figures = np.zeros((6, n), dtype=np.int64)  # agreed, metered, energy, tariff, penalty, amount
    cleared = result.cleared
    if isinstance(cleared, ClearedColumns):
        index = dict(zip(parties, range(n), strict=True))
        at = np.fromiter((index[m] for m in cleared.members), dtype=np.intp, count=len(cleared.members))
        seller = cleared.seller
        energy = cleared.cleared_micro + cleared.deviation_micro
        figures[:, at] = [np.abs(cleared.cleared_wh), np.abs(cleared.metered_wh), np.where(seller, energy, -energy),
                          cleared.tariff_micro, cleared.credit_micro,
                          np.where(seller, cleared.amount_micro, -cleared.amount_micro)]
        for k, is_seller in zip(at.tolist(), seller.tolist(), strict=True):
            side[k] = "seller" if is_seller else "buyer"
    elif cleared is not None:  # format 2: the (4.8)-(4.9) lines (a participant's last line, as a dict keeps it)
        index = dict(zip(parties, range(n), strict=True))
        for ln in cleared.lines:
            k = index[ln.participant]
            side[k] = ln.side
            figures[:, k] = (ln.agreed_wh, ln.metered_wh, ln.energy_micro, ln.tariff_micro, ln.credit_micro,
                             ln.amount_micro)
    agreed, metered, energy_micro, tariff, penalty, amount = figures.tolist()
    return [{"member": m, "side": sd, "net_wh": net, "agreed_wh": ag, "metered_wh": me, "energy_micro": en,
             "tariff_micro": ta, "penalty_micro": pe, "amount_micro": am, "stages": st, "balance_change_micro": mo}
            for m, sd, net, ag, me, en, ta, pe, am, st, mo in zip(
                parties, side, columns.net_wh.tolist(), agreed, metered, energy_micro, tariff, penalty, amount,
                result.stage_rows, result.money_micro, strict=True)]


def stored_multi_document(c: Community, slot_start: str, doc: SettlementInput, result: SequenceSettlement,
                          mechanism: str | None) -> dict[str, Any]:
    """The multi-settlement desk's document of the slot (``docs/multi-settlement.md``), per member id."""
    member_of = {**{m: m for m in doc.parties}, **dict(doc.addresses)}
    metered = set(doc.readings_kwh)
    # the member rows from the columns (the statements' stages shared with the statement lines), the rest as
    # settlement_document writes it for the combined settlement
    members = [{"member": (who := member_of.get(m, m)), "metered": who in metered, "net_wh": net, "money_micro": mo,
                "stages": st}
               for m, net, mo, st in zip(result.columns.parties, result.columns.net_wh.tolist(), result.money_micro,
                                         result.stage_rows, strict=True)]
    out = settlement_document(c, slot_start, SlotSettlement(result.slot, (), result.accounts, None, result.grid_trades,
                                                            result.listing_settlements, result.board),
                              member_of, metered, members=members)
    traded = doc.traded
    v3 = doc.format == SEQUENCE_FORMAT
    out["auction"] = {"mechanism": mechanism if traded else None,
                      "price_per_kwh": float(doc.price_per_kwh) if traded else None,
                      "settled": ("as cleared, the meters settling the deviations (docs/settlement.md)" if v3
                                  else "against the meters, eqs. (4.8)-(4.9)")}
    return out


def auction_document(c: Community, slot_start: str, doc: SettlementInput, settlement: Settlement, *,
                     dso_amount_micro: int, mechanism: str) -> dict[str, Any]:
    """The multi-settlement desk's document of a slot without contracts or listings: its one settlement is the
    auction against the meters (format 1, ``settlement``), so every statement has the auction stage only."""
    empty = {"sold_wh": 0, "bought_wh": 0, "money_micro": 0}
    members: list[dict[str, Any]] = []
    balance = dso_amount_micro
    for ln in settlement.lines:
        seller = ln.side == "seller"
        wh, money = ln.metered_wh, ln.amount_micro if seller else -ln.amount_micro
        auction = {"sold_wh": wh if seller else 0, "bought_wh": 0 if seller else wh, "money_micro": money}
        members.append({"member": ln.participant, "metered": ln.participant not in doc.missing_readings,
                        "net_wh": wh if seller else -wh, "money_micro": money,
                        "stages": {"bilateral": empty, "listings": empty, "auction": auction, "grid": empty}})
        balance += money
    return {"community": c.name, "slot_start": slot_start, "slot": slot_number(slot_start),
            "auction": {"mechanism": mechanism, "price_per_kwh": float(doc.price_per_kwh),
                        "settled": "against the meters, eqs. (4.8)-(4.9)"},
            "members": members, "accounts": {"dso": dso_amount_micro, "board": 0, "auctioneer": 0, "grid": 0},
            "balance_micro": balance,
            "listing_orders": [], "rejected_orders": [], "grid": []}
