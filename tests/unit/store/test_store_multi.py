"""Multi-settlement tables (schema version 3) on SQLite and PostgreSQL, the upgrade from version 2, and a
stored slot settled from the store on both engines."""

from __future__ import annotations

import random
from pathlib import Path

from store_support import upgraded_from

from transactive.crypto.signing import Signer, new_private_key
from transactive.market.multi_signing import OFF_CHAIN_DOMAIN, contract_of
from transactive.market.multi_slot import settle_stored_slot, stored_slot_document
from transactive.store import (
    Community,
    ContractRecord,
    ListingOrderRecord,
    ListingRecord,
    Member,
    MemberAddress,
    MeterReading,
    MultiSettlementRecord,
    Outcome,
    SqlStore,
    open_store,
)

T = "2026-03-01T10:00:00.000000Z"
S = "2026-03-01T10:15:00Z"
KEYS = [new_private_key(random.Random(k)) for k in range(3)]
ADDR = [Signer(k).address for k in KEYS]


def _setup(store: SqlStore) -> None:
    assert store.create_community(Community("c", "uniform", {}, 15, T))
    for k, name in enumerate(("pv", "ev", "hp")):
        assert store.add_member(Member(name, "c", "prosumer", f"h{k}"))
    assert store.add_member(Member("dso", "c", "dso", "h9"))


def _contract(store: SqlStore, cid: str, *, both: bool) -> ContractRecord:
    terms = {"slot_starts": [S], "energy_kwh_per_slot": 2.0, "price_per_kwh": 0.08}
    contract = contract_of(cid, terms, ADDR[0], ADDR[1])
    sign = {k: "0x" + Signer(KEYS[k]).sign_digest(contract.digest(OFF_CHAIN_DOMAIN)).hex() for k in (0, 1)}
    record = ContractRecord("c", cid, "pv", "ev", "pv", "proposed", S, S,
                            {"slot_starts": [S], "slots": list(contract.slots), "energy_wh_per_slot": 2000,
                             "price_per_kwh": 0.08, "nonce": 0, "seller_address": ADDR[0],
                             "buyer_address": ADDR[1]}, sign[0], None, T, T)
    assert store.create_contract(record)
    if both:
        assert store.countersign_contract("c", cid, "buyer", sign[1], T)
    return record


def test_addresses_contracts_listings(store: SqlStore) -> None:
    _setup(store)
    a = MemberAddress("c", "pv", ADDR[0], T)
    assert store.put_member_address(a) == (Outcome.CREATED, a)
    assert store.put_member_address(a)[0] is Outcome.DUPLICATE
    assert store.put_member_address(MemberAddress("c", "pv", ADDR[2], T)) == (Outcome.CONFLICT, a)
    assert store.put_member_address(MemberAddress("c", "ev", ADDR[0], T)) == (Outcome.CONFLICT, a)
    assert store.put_member_address(MemberAddress("c", "ev", ADDR[1], T))[0] is Outcome.CREATED
    assert [x.member for x in store.member_addresses("c")] == ["ev", "pv"]
    record = _contract(store, "k1", both=False)
    assert not store.create_contract(record)  # the id is taken
    assert store.signed_contracts_around("c", S) == []
    assert not store.countersign_contract("c", "k1", "seller", "0x00", T)  # the seller has signed
    assert store.countersign_contract("c", "k1", "buyer", "0x11", T)
    assert not store.countersign_contract("c", "k1", "buyer", "0x22", T)  # signed already
    stored = store.get_contract("c", "k1")
    assert stored is not None and stored.state == "signed" and stored.buyer_signature == "0x11"
    assert [r.id for r in store.signed_contracts_around("c", S)] == ["k1"]
    assert store.signed_contracts_around("c", "2026-03-01T10:30:00Z") == []
    assert [r.id for r in store.list_contracts("c", "hp")] == []
    # listings: remaining energy, closing, decisions
    assert store.create_listing(ListingRecord("c", "L1", "pv", S, 3000, 0.06, "FOR_SALE", T))
    assert not store.create_listing(ListingRecord("c", "L1", "ev", S, 1, 0.0, "FOR_SALE", T))

    def order(oid: str, wh: int) -> ListingOrderRecord:
        return ListingOrderRecord("c", oid, "L1", "ev", wh, T)

    assert store.place_listing_order(order("o1", 2000))[0] == "created"
    assert store.place_listing_order(order("o2", 1500))[::2] == ("exceeds", 1000)
    assert store.place_listing_order(order("o1", 10))[0] == "duplicate_id"
    assert store.place_listing_order(ListingOrderRecord("c", "o9", "nope", "ev", 1, T))[0] == "no_listing"
    assert store.decide_listing_order("c", "o1", False, ("congestion",), by="dso", at=T)
    assert not store.decide_listing_order("c", "o1", True, (), by="dso", at=T)  # decided
    assert store.place_listing_order(order("o2", 3000))[0] == "created"  # the rejected energy is free again
    assert store.place_listing_order(order("o3", 1))[0] == "exceeds"
    assert store.close_listings("c", S) == 1
    assert store.place_listing_order(order("o4", 1))[0] == "closed"
    assert not store.decide_listing_order("c", "o2", True, (), by="dso", at=T)  # bidding closed
    assert [(o.id, o.decision, o.reason) for o in store.listing_orders("c", S)] == [
        ("o1", "rejected", ("congestion",)), ("o2", None, ())]
    assert store.finish_multi_settlement(MultiSettlementRecord("c", S, {"x": 1}, T), T)
    assert not store.finish_multi_settlement(MultiSettlementRecord("c", S, {"x": 2}, T), T)
    assert store.get_multi_settlement("c", S) == MultiSettlementRecord("c", S, {"x": 1}, T)
    assert [(o.id, o.decision) for o in store.listing_orders("c")] == [("o1", "rejected"), ("o2", "rejected")]
    assert [x.state for x in store.list_listings("c")] == ["CLOSE"]


def test_stored_slot_settles_firm_contract_and_balances(store: SqlStore) -> None:
    _setup(store)
    for k, name in enumerate(("pv", "ev")):
        store.put_member_address(MemberAddress("c", name, ADDR[k], T))
    _contract(store, "k1", both=True)
    _contract(store, "k2", both=False)  # one signature: never delivers
    for name, kwh in (("pv", 1.0), ("ev", -2.0), ("hp", 0.5)):
        store.put_meter_reading(MeterReading("c", name, S, kwh, T))
    settlement = settle_stored_slot(store, "c", S)
    assert settlement.balance_micro == 0
    pv = settlement.statement(ADDR[0])  # peers with an address are labelled by it
    assert (pv.stages["bilateral"].sold_wh, pv.stages["bilateral"].money_micro) == (2000, 160_000)  # k1 only
    # pv metered 1 kWh but sold 2 firm: 1 kWh comes from hp's 0.5 (auction) and the grid
    assert pv.traded_wh == pv.net_wh == 1000
    doc = stored_slot_document(store, "c", S)
    assert {s["member"] for s in doc["members"]} == {"pv", "ev", "hp"}
    assert doc["balance_micro"] == 0 and all(s["metered"] for s in doc["members"])


def test_version_2_database_is_upgraded_in_place(tmp_path: Path) -> None:
    store = open_store(data_dir=tmp_path)
    _setup(store)
    store.close()
    later = ("multi_settlements", "listing_orders", "listings", "bilateral_contracts", "member_addresses",
             "ledger_slots", "ledger_meta", "chain_accounts")
    with upgraded_from(tmp_path, 2, later) as upgraded:
        assert upgraded.get_member("pv") is not None
        assert upgraded.create_listing(ListingRecord("c", "L1", "pv", S, 1000, 0.05, "FOR_SALE", T))


def test_concurrent_orders_never_oversell_a_listing(store: SqlStore) -> None:
    """12 buyers race for 300 Wh each of a 3000 Wh listing: exactly 10 orders are stored, on both engines."""
    from concurrent.futures import ThreadPoolExecutor

    _setup(store)
    assert store.create_listing(ListingRecord("c", "L1", "pv", S, 3000, 0.06, "FOR_SALE", T))

    def place(k: int) -> str:
        return store.place_listing_order(ListingOrderRecord("c", f"o{k}", "L1", "ev", 300, T))[0]

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(place, range(12)))
    assert sorted(outcomes) == ["created"] * 10 + ["exceeds"] * 2
    assert sum(o.energy_wh for o in store.listing_orders("c", S)) == 3000


def test_a_wholesale_community_settles_its_grid_stage_through_the_auctioneer(store: SqlStore) -> None:
    # issue 10: off chain too, the community's wholesale series prices the grid stage. hp exports 1 kWh at
    # 10:15 with nobody to buy it: λ_w(10 h) = 0.06 − fee 0.025 = 0.035 beats the feed-in tariff 0.015
    prices = [0.04] * 10 + [0.06] + [0.04] * 13
    assert store.create_community(Community("w", "uniform", {"wholesale": {"prices_per_kwh": prices,
                                                                           "fee_per_kwh": 0.025}}, 15, T))
    assert store.add_member(Member("hp", "w", "prosumer", "h0"))
    store.put_meter_reading(MeterReading("w", "hp", S, 1.0, T))
    settlement = settle_stored_slot(store, "w", S)
    (trade,) = settlement.grid_trades
    assert (trade.route, trade.money_micro, trade.fee_micro, trade.grid_micro) == ("wholesale", 35_000, 25_000,
                                                                                  -60_000)
    assert settlement.accounts["auctioneer"] == 25_000 and settlement.balance_micro == 0
