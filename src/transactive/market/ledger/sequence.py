"""The ledger's settlement input of a slot (``transactive.settlement-input/3``, see
:mod:`transactive.settlement.sequence`), read from the store and the anchored clearing's endorsed result
entries; and what the settled record shows (statement lines per member and stage, the DSO's breakdown, the
multi-settlement desk's document).

Pure reads and pure functions: :class:`transactive.market.ledger.desk.LedgerDesk` commits the input, has the
validators recompute :func:`~transactive.settlement.sequence.settle_sequence` and moves the tokens.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from transactive.ledger.messages.commitments import FUND_LEAF, ME_LEAF
from transactive.market.multi_signing import slot_number
from transactive.market.multi_slot import settlement_document
from transactive.settlement.grid_trading import GridTariff
from transactive.settlement.listings import ServiceRates
from transactive.settlement.meter_readings import SignedReading
from transactive.settlement.sequence import SEQUENCE_FORMAT, SequenceSettlement
from transactive.settlement.slot_settlement import SettlementTerms, clearing_price, paired_trades
from transactive.store import Community, MeterReading, MultiStore
from transactive.units import energy_to_wh

__all__ = ["auction_input", "has_multi_items", "sequence_input", "sequence_lines", "sequence_parties",
           "stored_multi_document"]


def has_multi_items(store: MultiStore, community: str, slot_start: str) -> bool:
    """Whether the slot has a listing or a signed contract delivering in it."""
    if store.list_listings(community, slot_start):
        return True
    return any(slot_start in r.terms["slot_starts"] for r in store.signed_contracts_around(community, slot_start))


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
        schedule = [str(x) for x in r.terms["slot_starts"]]
        starts.update(schedule[bisect_left(schedule, low):bisect_right(schedule, high)])
    return starts


def sequence_parties(store: MultiStore, community: str, slot_start: str,
                     result: Mapping[str, Any] | None) -> tuple[list[str], list[Any], list[Any], list[Any]]:
    """``(parties, contracts, listings, orders)``: the members settled in the slot (auction traders, parties to
    signed contracts delivering in it, parties to its accepted listing orders) and the stored records."""
    traders = set()
    if result is not None:
        traders = {str(r["id"]) for side in ("sellers", "buyers") for r in result[side] if float(r["energy_kwh"]) > 0}
    contracts = [r for r in store.signed_contracts_around(community, slot_start)
                 if slot_start in r.terms["slot_starts"]]
    listings = store.list_listings(community, slot_start)
    orders = store.listing_orders(community, slot_start)
    sellers = {x.id: x.seller for x in listings}
    parties = set(traders)
    for c in contracts:
        parties.update((c.seller, c.buyer))
    for o in orders:
        if o.decision == "accepted":
            parties.update((sellers[o.listing_id], o.buyer))
    return sorted(parties), contracts, listings, orders


def auction_input(result: Mapping[str, Any] | None, entries: Sequence[Mapping[str, Any]], *,
                  member_of: Mapping[str, str], dso_address: str, terms: SettlementTerms) -> dict[str, Any]:
    """The auction part of a ``transactive.settlement-input/3`` document: the anchored clearing's endorsed
    result ``entries`` (``ResultEntry.to_json`` rows, by chain address) per member id (``member_of``: lower-case
    address -> member), so the settlement recomputes the clearing as it was endorsed
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
    fund: dict[str, Any] | None = None
    fund_key, me_key, dso_key = FUND_LEAF.lower(), ME_LEAF.lower(), dso_address.lower()
    for e in entries:
        account, wh, micro = str(e["account"]), int(e["energyWh"]), int(e["amountMicro"])
        key = account.lower()
        if key == fund_key:
            fund = {"account": FUND_LEAF, "energy_wh": wh, "amount_micro": micro}
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
    details = (result or {}).get("details") or {}
    matched = isinstance(details, Mapping) and isinstance(details.get("trades"), list)
    trades = [] if matched else paired_trades([(m, wh) for m, (wh, _) in cleared.items() if wh > 0],
                                              [(m, -wh) for m, (wh, _) in cleared.items() if wh < 0],
                                              terms.grid_charge_per_kwh)
    return {
        "price_per_kwh": 0.0 if result is None else clearing_price(result),
        "penalty_per_kwh": terms.penalty_per_kwh,
        "trades": [{"buyer": t.buyer, "seller": t.seller, "energy_kwh": t.energy_kwh, "charge": t.charge}
                   for t in trades],
        "cleared": {"members": members, "energy_wh": [cleared[m][0] for m in members],
                    "amount_micro": [cleared[m][1] for m in members]},
        "charges_micro": charges, "fund": fund, "exchange_micro": exchange,
    }


def sequence_input(
    store: MultiStore, c: Community, slot_start: str, *, chain_slot: int, clearing_slot: int | None,
    clearing_root: str | None, result: Mapping[str, Any] | None, terms: SettlementTerms,
    account_of: Callable[[str], str], dso_address: str, entries: Sequence[Mapping[str, Any]] = (),
    member_of: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The slot's ``transactive.settlement-input/3`` document (deterministic JSON); ``entries``: the anchored
    clearing's endorsed result entries (:func:`auction_input`); ``member_of``: lower-case chain address ->
    member id (default: the community's chain accounts, read from the store)."""
    parties, contracts, listings, orders = sequence_parties(store, c.name, slot_start, result)
    if member_of is None:
        member_of = {a.address.lower(): a.member for a in store.chain_accounts(c.name)}
    auction = auction_input(result, entries, member_of=member_of, dso_address=dso_address, terms=terms)
    parties = sorted({*parties, *auction["cleared"]["members"]})  # a remedy (docs/settlement.md §4) may clear others
    stored_readings = store.meter_readings(c.name, slot_start)
    readings = {r.member: r.energy_kwh for r in stored_readings}
    tariff, rates = GridTariff(), ServiceRates()
    return {
        "format": SEQUENCE_FORMAT, "slot": chain_slot, "clearingSlot": clearing_slot, "clearingRoot": clearing_root,
        "multiSlot": slot_number(slot_start),
        **auction,
        "parties": parties,
        "readings_kwh": {m: readings[m] for m in parties if m in readings},
        "missing_readings": [m for m in parties if m not in readings],
        "contracts": [{"id": r.id, "seller_address": r.terms["seller_address"],
                       "buyer_address": r.terms["buyer_address"],
                       "slots": list(r.terms["slots"]), "energy_wh": r.terms["energy_wh_per_slot"],
                       "price_per_kwh": r.terms["price_per_kwh"], "nonce": r.terms["nonce"],
                       "seller_signature": r.seller_signature, "buyer_signature": r.buyer_signature}
                      for r in contracts],
        "addresses": {a.address: a.member for a in store.member_addresses(c.name)},
        "listings": [{"id": x.id, "seller": x.seller, "energy_wh": x.energy_wh, "price_per_kwh": x.price_per_kwh}
                     for x in listings],
        "orders": [{"id": o.id, "listing_id": o.listing_id, "buyer": o.buyer, "energy_wh": o.energy_wh,
                    "decision": o.decision, "reason": list(o.reason)} for o in orders],
        "tariff": {"feed_in_per_kwh": tariff.feed_in_per_kwh, "retail_per_kwh": tariff.retail_per_kwh},
        "rates": {"service_charge_per_kwh": rates.service_charge_per_kwh, "penalty_per_kwh": rates.penalty_per_kwh},
        "accounts": {m: account_of(m) for m in parties},
        "dso": dso_address,
        **meter_fields(store, c.name, slot_start, parties, stored_readings),
    }


def meter_fields(store: MultiStore, community: str, slot_start: str, parties: Sequence[str],
                 readings: Sequence[MeterReading]) -> dict[str, Any]:
    """The optional ``meters``, ``signed_readings`` and ``corrections`` of a settlement input
    (:mod:`transactive.settlement.meter_readings`), or nothing when no party has a meter key and no reading a
    resolved dispute (so such an input is what it was before). A party whose stored reading is unsigned was read
    before its meter key was registered: its reading stands as reported and it is left out of ``meters``."""
    keys = store.meter_keys(community)
    by_member = {r.member: r for r in readings}
    slot = slot_number(slot_start)
    meters: dict[str, str] = {}
    signed: list[dict[str, Any]] = []
    corrections: list[dict[str, Any]] = []
    disputes = {d.id: d for d in store.disputes(community, slot_start) if d.state == "resolved"}
    for m in parties:
        r = by_member.get(m)
        if m in keys and (r is None or r.signature is not None):
            meters[m] = keys[m].address if r is None or r.meter is None else r.meter
        if r is not None and r.signature is not None and r.meter is not None:
            metered = r.energy_kwh if r.metered_kwh is None else r.metered_kwh
            signed.append(SignedReading(community, m, slot, energy_to_wh(metered), r.meter, r.signature).to_json())
        if r is not None and r.dispute is not None and r.dispute in disputes:
            corrections.append({"member": m, "dispute": r.dispute, "energy_wh": energy_to_wh(r.energy_kwh),
                                "metered_wh": None if r.metered_kwh is None else energy_to_wh(r.metered_kwh),
                                "approved_by": dict(disputes[r.dispute].approvals),
                                "signatures": {k: dict(v) for k, v in disputes[r.dispute].signatures.items()}})
    if not meters and not corrections:
        return {}
    return {"meters": meters, "signed_readings": signed, "corrections": corrections}


def sequence_lines(result: SequenceSettlement) -> list[dict[str, Any]]:
    """One statement line per party: its stages (Wh sold and bought, money > 0 received), its auction line
    (cleared and metered Wh, energy money, tariff, penalty, amount) when it traded in the auction, and its
    balance change (the sum of its stages)."""
    auction = {} if result.auction is None else {ln.participant: ln for ln in result.auction.lines}
    out = []
    for s in result.combined.statements:
        ln = auction.get(s.peer)
        out.append({
            "member": s.peer, "side": None if ln is None else ln.side, "net_wh": s.net_wh,
            "agreed_wh": 0 if ln is None else ln.agreed_wh, "metered_wh": 0 if ln is None else ln.metered_wh,
            "energy_micro": 0 if ln is None else ln.energy_micro, "tariff_micro": 0 if ln is None else ln.tariff_micro,
            "penalty_micro": 0 if ln is None else ln.credit_micro, "amount_micro": 0 if ln is None else ln.amount_micro,
            "stages": {stage: {"sold_wh": line.sold_wh, "bought_wh": line.bought_wh, "money_micro": line.money_micro}
                       for stage, line in s.stages.items()},
            "balance_change_micro": s.money_micro,
        })
    return out


def stored_multi_document(c: Community, slot_start: str, doc: Mapping[str, Any], result: SequenceSettlement,
                          mechanism: str | None) -> dict[str, Any]:
    """The multi-settlement desk's document of the slot (``docs/multi-settlement.md``), per member id."""
    member_of = {**{m: m for m in doc["parties"]}, **dict(doc["addresses"])}
    out = settlement_document(c, slot_start, result.combined, member_of, set(doc["readings_kwh"]))
    traded = bool(doc["trades"] or (doc.get("cleared") or {}).get("members"))
    v3 = doc["format"] == SEQUENCE_FORMAT
    out["auction"] = {"mechanism": mechanism if traded else None,
                      "price_per_kwh": float(doc["price_per_kwh"]) if traded else None,
                      "settled": ("as cleared, the meters settling the deviations (docs/settlement.md)" if v3
                                  else "against the meters, eqs. (4.8)-(4.9)")}
    return out


def auction_document(c: Community, slot_start: str, doc: Mapping[str, Any], lines: list[dict[str, Any]], *,
                     dso_amount_micro: int, mechanism: str) -> dict[str, Any]:
    """The multi-settlement desk's document of a slot without contracts or listings: its one settlement is the
    auction against the meters (format 1), so every statement has the auction stage only."""
    empty = {"sold_wh": 0, "bought_wh": 0, "money_micro": 0}
    members = []
    for ln in lines:
        seller = ln["side"] == "seller"
        wh = int(ln["metered_wh"])
        auction = {"sold_wh": wh if seller else 0, "bought_wh": 0 if seller else wh,
                   "money_micro": int(ln["balance_change_micro"])}
        members.append({"member": ln["member"], "metered": ln["member"] not in doc["missing_readings"],
                        "net_wh": wh if seller else -wh, "money_micro": int(ln["balance_change_micro"]),
                        "stages": {"bilateral": empty, "listings": empty, "auction": auction, "grid": empty}})
    return {"community": c.name, "slot_start": slot_start, "slot": slot_number(slot_start),
            "auction": {"mechanism": mechanism, "price_per_kwh": float(doc["price_per_kwh"]),
                        "settled": "against the meters, eqs. (4.8)-(4.9)"},
            "members": members, "accounts": {"dso": dso_amount_micro, "board": 0, "auctioneer": 0, "grid": 0},
            "balance_micro": sum(m["money_micro"] for m in members) + dso_amount_micro,
            "listing_orders": [], "rejected_orders": [], "grid": []}
