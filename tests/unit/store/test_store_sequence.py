"""A slot's one settlement input (``transactive.settlement-input/3``) read from the store on SQLite and
PostgreSQL, and recomputed: bilateral, listings and the grid by hand (a void auction)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from transactive.crypto.signing import Signer, new_private_key
from transactive.ledger.messages.commitments import FUND_LEAF, ResultEntry
from transactive.market.ledger.sequence import has_multi_items, multi_slot_starts, sequence_input
from transactive.market.multi_signing import OFF_CHAIN_DOMAIN, contract_of
from transactive.result import ResultDocument
from transactive.settlement.input import input_digest
from transactive.settlement.sequence import settle_sequence
from transactive.settlement.slot_settlement import SettlementTerms
from transactive.store import (
    Community,
    ContractRecord,
    ListingOrderRecord,
    ListingRecord,
    Member,
    MemberAddress,
    MeterReading,
    SqlStore,
)

T = "2026-03-01T10:00:00.000000Z"
S = "2026-03-01T10:15:00Z"
KEYS = [new_private_key(random.Random(10 + k)) for k in range(2)]
ADDR = [Signer(k).address for k in KEYS]
ACCOUNTS = {"pv": "0x" + "11" * 20, "ev": "0x" + "22" * 20, "hp": "0x" + "33" * 20}
DSO = "0x" + "44" * 20


def _setup(store: SqlStore) -> Community:
    community = Community("c", "dpda", {}, 15, T)
    assert store.create_community(community)
    for k, name in enumerate(("pv", "ev", "hp")):
        assert store.add_member(Member(name, "c", "prosumer", f"h{k}"))
    for member, address in (("pv", ADDR[0]), ("ev", ADDR[1])):
        store.put_member_address(MemberAddress("c", member, address, T))
    terms = {"slot_starts": [S], "energy_kwh_per_slot": 2.0, "price_per_kwh": 0.08}
    contract = contract_of("k1", terms, ADDR[0], ADDR[1])
    sign = ["0x" + Signer(k).sign_digest(contract.digest(OFF_CHAIN_DOMAIN)).hex() for k in KEYS]
    assert store.create_contract(ContractRecord(
        "c", "k1", "pv", "ev", "pv", "proposed", S, S,
        {"slot_starts": [S], "slots": list(contract.slots), "energy_wh_per_slot": 2000, "price_per_kwh": 0.08,
         "nonce": 0, "seller_address": ADDR[0], "buyer_address": ADDR[1]}, sign[0], None, T, T))
    assert store.countersign_contract("c", "k1", "buyer", sign[1], T)
    assert store.create_listing(ListingRecord("c", "L1", "pv", S, 1000, 0.09, "FOR_SALE", T))
    store.place_listing_order(ListingOrderRecord("c", "o1", "L1", "hp", 500, T))
    store.place_listing_order(ListingOrderRecord("c", "o2", "L1", "ev", 200, T))
    assert store.decide_listing_order("c", "o1", True, (), by="dso", at=T)
    for member, kwh in (("pv", 3.0), ("ev", -2.5), ("hp", -1.0)):
        store.put_meter_reading(MeterReading("c", member, S, kwh, T))
    return community


def test_sequence_input_from_the_store_settles_by_hand(store: SqlStore) -> None:
    community = _setup(store)
    assert has_multi_items(store, "c", S) and not has_multi_items(store, "c", "2026-03-01T10:30:00Z")
    assert multi_slot_starts(store, "c") == {S}
    assert multi_slot_starts(store, "c", "2026-03-01T10:00:00Z", S) == {S}  # the window is inclusive
    assert multi_slot_starts(store, "c", "2026-03-01T10:16:00Z") == set()
    assert multi_slot_starts(store, "c", None, "2026-03-01T10:14:00Z") == set()
    doc = sequence_input(store, community, S, chain_slot=7, clearing_slot=None, clearing_root=None, result=None,
                         terms=SettlementTerms(), account_of=ACCOUNTS.__getitem__, dso_address=DSO)
    assert doc.parties == ("ev", "hp", "pv") and doc.missing_readings == () and doc.trades == ()
    got = settle_sequence(doc, OFF_CHAIN_DOMAIN)
    stages = {s.peer: {k: (v.sold_wh, v.bought_wh, v.money_micro) for k, v in s.stages.items()}
              for s in got.combined.statements}
    # bilateral: pv sells ev 2 kWh at 0.08; listing: hp takes 0.5 kWh at 0.09 (service charge 0.004/kWh split
    # 1,000 each); ev's order was never reviewed (rejected); the rest goes to the grid (FiT 0.015, retail 0.1)
    assert stages["pv"] == {"bilateral": (2000, 0, 160_000), "listings": (500, 0, 44_000), "auction": (0, 0, 0),
                            "grid": (500, 0, 7_500)}
    assert stages["ev"] == {"bilateral": (0, 2000, -160_000), "listings": (0, 0, 0), "auction": (0, 0, 0),
                            "grid": (0, 500, -50_000)}
    assert stages["hp"] == {"bilateral": (0, 0, 0), "listings": (0, 500, -46_000), "auction": (0, 0, 0),
                            "grid": (0, 500, -50_000)}
    postings = {p.address: p.amount_micro for p in got.postings}
    assert postings == {ACCOUNTS["pv"]: 211_500, ACCOUNTS["ev"]: -210_000, ACCOUNTS["hp"]: -96_000, DSO: 94_500}
    assert got.dso_breakdown["service_charges_micro"] == 2_000
    assert got.dso_breakdown["grid_energy_micro"] == 92_500
    assert settle_sequence(doc, OFF_CHAIN_DOMAIN) == got  # deterministic: what every validator recomputes


def test_the_typed_input_is_byte_identical_to_the_one_built_before_the_typed_records(store: SqlStore) -> None:
    # the digests (on-chain order roots) of inputs the dict-building code wrote for the same store and entries
    before = json.loads((Path(__file__).parents[2] / "fixtures" / "archives" /
                         "settlement_inputs_before_records.json").read_text(encoding="utf-8"))
    community = _setup(store)
    void = sequence_input(store, community, S, chain_slot=7, clearing_slot=None, clearing_root=None, result=None,
                          terms=SettlementTerms(), account_of=ACCOUNTS.__getitem__, dso_address=DSO)
    entries = [ResultEntry(ACCOUNTS["pv"], 3000, 171000), ResultEntry(ACCOUNTS["ev"], -2500, -180000),
               ResultEntry(DSO, 0, 5000), ResultEntry(FUND_LEAF, -500, 4000)]
    result = {"price_per_kwh": 0.057, "details": {},
              "sellers": [{"id": "pv", "energy_kwh": 3.0, "payment": 0.171}],
              "buyers": [{"id": "ev", "energy_kwh": 2.5, "payment": 0.18}]}
    cleared = sequence_input(store, community, S, chain_slot=9, clearing_slot=8, clearing_root="0x" + "ab" * 32,
                             result=ResultDocument.from_json(result), terms=SettlementTerms(),
                             account_of=ACCOUNTS.__getitem__, dso_address=DSO, entries=entries,
                             member_of={a.lower(): m for m, a in ACCOUNTS.items()})
    for name, doc in (("v3_contracts_listings", void), ("v3_cleared_fund", cleared)):
        assert doc.to_json() == before[name]["input"]
        assert "0x" + input_digest(doc).hex() == before[name]["digest"]
