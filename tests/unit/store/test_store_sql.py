"""The storage contract, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from transactive.store import (
    Community,
    Member,
    MeterReading,
    OrderRecord,
    Outcome,
    ResultRecord,
    Slot,
    SlotState,
    SqlStore,
    StoreError,
    open_store,
)
from transactive.store import _tables as tables

SLOT = "2026-01-01T00:00:00Z"
SLOT2 = "2026-01-01T00:15:00Z"


def setup_community(store: SqlStore) -> None:
    assert store.create_community(Community("c", "uniform", {"x": [1, 2]}, 15, "2026-01-01T00:00:00.000000Z"))
    for i, role in enumerate(("prosumer", "prosumer", "dso")):
        assert store.add_member(Member(f"m{i}", "c", role, f"hash{i}", bus=f"bus{i}"))  # type: ignore[arg-type]


def order(oid: str, member: str = "m0", key: str | None = None, slot: str = SLOT) -> OrderRecord:
    return OrderRecord(oid, "c", slot, member, "sellers", {"energy_kwh": 1.0, "price_per_kwh": 2.5},
                       key or f"key-{oid}", "2026-01-01T00:00:00.000000Z")


def test_schema_version_and_reopen_keeps_data(tmp_path: Path) -> None:
    store = open_store(data_dir=tmp_path)
    assert store.schema_version() == tables.SCHEMA_VERSION
    setup_community(store)
    store.close()
    again = open_store(data_dir=tmp_path)
    community = again.get_community("c")
    assert community is not None and community.params == {"x": [1, 2]} and community.slot_minutes == 15
    again.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    open_store(data_dir=tmp_path).close()
    with sqlite3.connect(tmp_path / "transactive.sqlite3") as conn:
        conn.execute("INSERT INTO schema_version VALUES (99, 'later')")
    with pytest.raises(StoreError, match="newer"):
        open_store(data_dir=tmp_path)


def test_sqlite_is_wal_with_full_sync(tmp_path: Path) -> None:
    store = open_store(data_dir=tmp_path)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    store.close()


def test_communities_and_members(store: SqlStore) -> None:
    setup_community(store)
    assert not store.create_community(Community("c", "dpda", {}, 5, "later"))  # name taken: unchanged
    community = store.get_community("c")
    assert community is not None and community.mechanism == "uniform"
    assert [c.name for c in store.list_communities()] == ["c"]
    assert store.get_community("nope") is None
    assert not store.add_member(Member("m0", "c", "dso", "other"))
    member = store.get_member("m0")
    assert member is not None and member.role == "prosumer" and member.bus == "bus0"
    assert store.member_by_key_hash("hash2") == Member("m2", "c", "dso", "hash2", "bus2")
    assert store.member_by_key_hash("nope") is None
    assert [m.id for m in store.list_members("c")] == ["m0", "m1", "m2"]
    assert store.add_member(Member("root", None, "admin", "hashroot"))


def test_orders_created_duplicate_conflict_in_one_batch(store: SqlStore) -> None:
    setup_community(store)
    out = store.put_orders([
        order("a", "m0", "k1"),
        order("b", "m1", "k1"),            # same key, another member: independent
        order("c", "m0", "k1"),            # same member and key: duplicate of "a"
        order("d", "m0", "k2"),            # m0 already has an order in this slot: conflict
        order("e", "m0", "k3", slot=SLOT2),  # another slot: fine
    ])
    assert [o for o, _ in out] == [Outcome.CREATED, Outcome.CREATED, Outcome.DUPLICATE, Outcome.CONFLICT,
                                   Outcome.CREATED]
    assert out[2][1].id == "a" and out[3][1].id == "a"
    seqs = [r.seq for o, r in out if o is Outcome.CREATED]
    assert all(s is not None for s in seqs) and seqs == sorted(seqs)  # type: ignore[type-var]
    assert [r.id for r in store.orders_in_slot("c", SLOT)] == ["a", "b"]  # arrival order
    assert [r.id for r in store.orders_of_member("m0")] == ["a", "e"]
    assert [r.id for r in store.orders_of_member("m0", SLOT2)] == ["e"]
    # a later batch sees the stored ones
    later = store.put_orders([order("f", "m1", "k1"), order("g", "m2", "k9")])
    assert [o for o, _ in later] == [Outcome.DUPLICATE, Outcome.CREATED]
    stored = store.orders_in_slot("c", SLOT)[0]
    assert stored.entry == {"energy_kwh": 1.0, "price_per_kwh": 2.5} and stored.side == "sellers"


def test_a_slots_orders_read_at_once_are_the_stored_records(store: SqlStore) -> None:
    """orders_in_slot (one query, the entries parsed as one JSON array) gives each order exactly as it was stored
    (as order_by_key reads it, one at a time); order_members its members; list_members by role."""
    setup_community(store)
    entries = [{"energy_kwh": 1.5, "price_per_kwh": 0.1, "bus": "é \"x\""},
               {"blocks": [{"energy_kwh": 1.0, "price_per_kwh": 0.2}, {"energy_kwh": 2.0}], "note": None},
               {"energy_kwh": 0.001, "price_per_kwh": -3e-7, "tags": [1, [2, {}]]}]
    store.put_orders([OrderRecord(f"o{i}", "c", SLOT, f"m{i}", "buyers" if i else "sellers", e, f"k{i}",
                                  f"2026-01-01T00:00:0{i}.000000Z") for i, e in enumerate(entries)])
    store.put_orders([order("other", "m0", slot=SLOT2)])
    got = store.orders_in_slot("c", SLOT)
    assert got == [store.order_by_key(f"m{i}", f"k{i}") for i in range(3)]
    assert [o.entry for o in got] == entries and [o.seq for o in got] == sorted(o.seq or 0 for o in got)
    assert store.order_members("c", SLOT) == {"m0", "m1", "m2"} and store.order_members("c", SLOT2) == {"m0"}
    assert store.orders_in_slot("c", "2026-01-02T00:00:00Z") == [] and store.order_members("x", SLOT) == set()
    assert [m.id for m in store.list_members("c", role="dso")] == ["m2"]
    assert [m.id for m in store.list_members("c", role="prosumer")] == ["m0", "m1"]


def test_slot_created_with_first_order_and_finished_once(store: SqlStore) -> None:
    setup_community(store)
    assert store.get_slot("c", SLOT) is None
    store.put_orders([order("a")])
    slot = store.get_slot("c", SLOT)
    assert slot == Slot("c", SLOT, 15, SlotState.OPEN, "")
    doc = {"format": "transactive.result/1", "price_per_kwh": 2.0, "sellers": [], "buyers": [], "details": {}}
    result = ResultRecord("c", SLOT, doc, "2026-01-01T00:03:00.000000Z")
    assert store.finish_slot(Slot("c", SLOT, 15, SlotState.CLEARED), result)
    assert not store.finish_slot(Slot("c", SLOT, 15, SlotState.VOID, "again"), None)  # already finished
    assert store.get_slot("c", SLOT) == Slot("c", SLOT, 15, SlotState.CLEARED, "")
    assert store.get_result("c", SLOT) == result
    assert store.get_result("c", SLOT2) is None
    # a closed slot takes no more orders, and can still be finished exactly once
    store.put_orders([order("b", "m1", slot=SLOT2)])
    assert store.close_slot("c", SLOT2, 15)
    assert not store.close_slot("c", SLOT2, 15)
    out = store.put_orders([order("late", "m0", slot=SLOT2), order("b", "m1", slot=SLOT2)])
    assert [o for o, _ in out] == [Outcome.CLOSED, Outcome.DUPLICATE]
    assert [o.id for o in store.orders_in_slot("c", SLOT2)] == ["b"]
    assert store.order_by_key("m1", "key-b") is not None and store.order_by_key("m0", "key-late") is None
    slot3 = "2026-01-01T00:30:00Z"
    # a slot without orders can be finished (void) too
    assert store.finish_slot(Slot("c", SLOT2, 15, SlotState.VOID, "one side empty"), None)
    assert store.finish_slot(Slot("c", slot3, 15, SlotState.VOID, "no orders"), None)
    assert [s.start for s in store.slots("c")] == [SLOT, SLOT2, slot3]
    assert store.slots("c", SlotState.OPEN) == []


def test_meter_readings_once_per_member_and_slot(store: SqlStore) -> None:
    setup_community(store)
    reading = MeterReading("c", "m0", SLOT, -1.25, "2026-01-01T00:16:00.000000Z")
    assert store.put_meter_reading(reading) == (Outcome.CREATED, reading)
    outcome, stored = store.put_meter_reading(MeterReading("c", "m0", SLOT, -1.25, "later"))
    assert outcome is Outcome.DUPLICATE and stored == reading
    outcome, stored = store.put_meter_reading(MeterReading("c", "m0", SLOT, 3.0, "later"))
    assert outcome is Outcome.CONFLICT and stored.energy_kwh == -1.25
    store.put_meter_reading(MeterReading("c", "m1", SLOT, 0.5, "x"))
    assert [(r.member, r.energy_kwh) for r in store.meter_readings("c", SLOT)] == [("m0", -1.25), ("m1", 0.5)]


def test_concurrent_writers_lose_nothing(store: SqlStore) -> None:
    setup_community(store)
    members = [f"p{i}" for i in range(8)]
    for i, m in enumerate(members):
        store.add_member(Member(m, "c", "prosumer", f"ph{i}"))
    slots = [f"2026-01-0{d}T00:00:00Z" for d in range(1, 6)]

    def work(m: str) -> None:
        for s in slots:
            store.put_orders([order(f"{m}-{s}", m, f"k-{s}", slot=s)])

    threads = [threading.Thread(target=work, args=(m,)) for m in members]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sum(len(store.orders_in_slot("c", s)) for s in slots) == len(members) * len(slots)


def test_no_order_lands_in_a_slot_after_it_closed(store: SqlStore) -> None:
    """Two stores on one database (as two processes would be): whatever put_orders reports CREATED while the
    slot is being closed by the other is exactly what a read after the close sees."""
    setup_community(store)
    other = SqlStore.open(str(store.engine.url.render_as_string(hide_password=False)))
    members = [f"q{i}" for i in range(60)]
    for i, m in enumerate(members):
        store.add_member(Member(m, "c", "prosumer", f"qh{i}"))
    created: list[str] = []

    def writer() -> None:
        for m in members:
            for outcome, rec in store.put_orders([order(f"o-{m}", m)]):
                if outcome is Outcome.CREATED:
                    created.append(rec.id)

    thread = threading.Thread(target=writer)
    thread.start()
    while not created and thread.is_alive():
        time.sleep(0.001)
    assert other.close_slot("c", SLOT, 15)
    seen = {o.id for o in other.orders_in_slot("c", SLOT)}
    thread.join()
    other.close()
    assert seen == set(created)
    assert store.put_orders([order("after", "m1")])[0][0] is Outcome.CLOSED
