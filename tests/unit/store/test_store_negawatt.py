"""Negawatt tables (schema version 2) on SQLite and PostgreSQL, and the upgrade from version 1."""

from __future__ import annotations

from pathlib import Path

from store_support import upgraded_from

from transactive.store import (
    Community,
    Member,
    NegawattDeliveryRecord,
    NegawattEventRecord,
    NegawattOfferRecord,
    Outcome,
    SqlStore,
    open_store,
)

T = "2026-03-01T07:00:00.000000Z"


def _setup(store: SqlStore) -> None:
    assert store.create_community(Community("c", "uniform", {}, 15, T))
    for i, role in enumerate(("aggregator", "prosumer", "prosumer")):
        assert store.add_member(Member(f"m{i}", "c", role, f"hash{i}"))  # type: ignore[arg-type]


def _offer(member: str, energy_kwh: float = 3.0) -> NegawattOfferRecord:
    return NegawattOfferRecord("c", "e1", member, {"side": "sell", "energy_kwh": energy_kwh, "price_per_kwh": 2.0}, T)


def test_events_offers_deliveries(store: SqlStore) -> None:
    _setup(store)
    event = NegawattEventRecord("c", "e1", "m0", "FOR_SALE", {"id": "e1", "history": ["CLOSE", "FOR_SALE"]}, T)
    assert store.create_negawatt_event(event)
    assert not store.create_negawatt_event(event)  # id taken
    assert store.get_negawatt_event("c", "e1") == event
    assert store.get_negawatt_event("c", "nope") is None
    first = store.put_negawatt_offer(_offer("m1"), "FOR_SALE")
    second = store.put_negawatt_offer(_offer("m2"), "FOR_SALE")
    assert first[0] is Outcome.CREATED and second[0] is Outcome.CREATED
    assert first[1].seq is not None and second[1].seq is not None and first[1].seq < second[1].seq
    again = store.put_negawatt_offer(_offer("m1", 9.0), "FOR_SALE")
    assert again == (Outcome.CONFLICT, first[1])
    assert [o.member for o in store.negawatt_offers("c", "e1")] == ["m1", "m2"]
    cleared = NegawattEventRecord("c", "e1", "m0", "CLEARED", {"id": "e1", "clearing": {"x": 1}}, T)
    assert not store.update_negawatt_event(cleared, expected_state="CLEARED")  # stored state is FOR_SALE
    assert store.update_negawatt_event(cleared, expected_state="FOR_SALE")
    assert store.get_negawatt_event("c", "e1") == cleared
    late = store.put_negawatt_offer(_offer("m0"), "FOR_SALE")
    assert late[0] is Outcome.CLOSED and len(store.negawatt_offers("c", "e1")) == 2
    delivery = NegawattDeliveryRecord("c", "e1", "m1", 2.5, {"factor": 1.0}, T)
    assert store.put_negawatt_delivery(delivery) == (Outcome.CREATED, delivery)
    assert store.put_negawatt_delivery(delivery)[0] is Outcome.DUPLICATE
    other = NegawattDeliveryRecord("c", "e1", "m1", 2.0, {}, T)
    assert store.put_negawatt_delivery(other) == (Outcome.CONFLICT, delivery)
    assert store.negawatt_deliveries("c", "e1") == [delivery]
    assert [e.id for e in store.list_negawatt_events("c")] == ["e1"]


def test_version_1_database_is_upgraded_in_place(tmp_path: Path) -> None:
    store = open_store(data_dir=tmp_path)
    _setup(store)
    store.close()
    later = ("negawatt_deliveries", "negawatt_offers", "negawatt_events", "ledger_slots", "ledger_meta",
             "chain_accounts")
    with upgraded_from(tmp_path, 1, later) as upgraded:
        assert upgraded.get_community("c") is not None
        assert upgraded.create_negawatt_event(NegawattEventRecord("c", "e1", "m0", "FOR_SALE", {}, T))
