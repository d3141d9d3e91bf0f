"""``close_meter_readings``: the settlement's read of a slot's readings closes them in the same transaction; from
then on ``put_meter_readings`` stores no reading of that slot (``closed``, ending the burst like a conflict; the
same value again is still a duplicate), on SQLite and PostgreSQL. While a member of ``unless_missing`` has no
reading the slot stays open."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from store_support import upgraded_from

from transactive.store import Community, Member, MeterReading, Outcome, ReadingDispute, SqlStore

SLOT, OTHER = "2026-01-01T00:00:00Z", "2026-01-01T00:15:00Z"


def setup(store: SqlStore) -> None:
    for name in ("c", "c2"):
        assert store.create_community(Community(name, "uniform", {}, 15, "2026-01-01T00:00:00.000000Z"))
    for name, community in (("m0", "c"), ("m1", "c"), ("m2", "c"), ("x", "c2")):
        assert store.add_member(Member(name, community, "prosumer", f"hash-{name}"))


def values(store: SqlStore, community: str, slot: str) -> dict[str, float]:
    return {r.member: r.energy_kwh for r in store.meter_readings(community, slot)}


def test_a_closed_slot_stores_no_reading_and_its_read_is_final(store: SqlStore) -> None:
    setup(store)
    assert store.put_meter_reading(MeterReading("c", "m0", SLOT, 2.0, "t0"))[0] is Outcome.CREATED
    assert store.put_meter_reading(MeterReading("c", "m1", SLOT, 1.0, "t0"), "dso")[0] is Outcome.CREATED
    closed, read = store.close_meter_readings("c", SLOT, unless_missing={"m0", "m2"})  # m2's is missing
    assert not closed and {r.member for r in read} == {"m0", "m1"}
    assert store.put_meter_reading(MeterReading("c", "m2", SLOT, -1.0, "t1"))[0] is Outcome.CREATED  # still open

    closed, read = store.close_meter_readings("c", SLOT, unless_missing={"m0", "m2"})
    assert closed and {r.member: r.energy_kwh for r in read} == {"m0": 2.0, "m1": 1.0, "m2": -1.0}
    answers = store.put_meter_readings([
        (MeterReading("c", "m0", OTHER, 4.0, "t2"), None),  # another slot: open
        (MeterReading("c", "m0", SLOT, 2.0, "t2"), None),  # the same value again: a duplicate
        (MeterReading("c", "m1", SLOT, 3.0, "t2"), None),  # m1's own would replace the DSO's: closed
        (MeterReading("c", "m2", OTHER, 5.0, "t2"), None)])  # after it: not stored
    assert [o for o, _ in answers] == [Outcome.CREATED, Outcome.DUPLICATE, Outcome.CLOSED]
    assert answers[1][1] == MeterReading("c", "m0", SLOT, 2.0, "t0")
    assert answers[2][1] == MeterReading("c", "m1", SLOT, 3.0, "t2")  # the refused reading itself
    assert values(store, "c", SLOT) == {"m0": 2.0, "m1": 1.0, "m2": -1.0}  # what the settlement read
    assert values(store, "c", OTHER) == {"m0": 4.0}
    # a different value of the member's own reading stays a conflict
    assert store.put_meter_reading(MeterReading("c", "m2", SLOT, 7.0, "t3"))[0] is Outcome.CONFLICT
    # closing again (a retried settlement) reads the same; another community's slot is not closed
    assert store.close_meter_readings("c", SLOT, unless_missing={"m0", "nobody"}) == (True, read)
    assert store.put_meter_reading(MeterReading("c2", "x", SLOT, 1.0, "t4"))[0] is Outcome.CREATED


def test_version_9_database_is_upgraded_in_place(tmp_path: Path) -> None:
    with upgraded_from(tmp_path, 9, ["meter_reading_slots"]) as upgraded:
        setup(upgraded)
        assert upgraded.close_meter_readings("c", SLOT) == (True, [])
        assert upgraded.put_meter_reading(MeterReading("c", "m0", SLOT, 2.0, "t0"))[0] is Outcome.CLOSED


def test_no_dispute_of_a_closed_slot_opens_or_changes(store: SqlStore) -> None:
    setup(store)
    store.put_meter_reading(MeterReading("c", "m0", SLOT, 2.0, "t0"))
    store.put_meter_reading(MeterReading("c", "m1", SLOT, 1.0, "t0"))
    opened = ReadingDispute("d0", "c", "m0", SLOT, 2.0, 1.5, "fault", "m0", "t1")
    assert store.put_dispute(opened)
    assert not store.meter_readings_closed("c", SLOT)
    assert store.close_meter_readings("c", SLOT)[0]
    assert store.meter_readings_closed("c", SLOT) and not store.meter_readings_closed("c", OTHER)
    approved = replace(opened, approvals={"admin": "admin", "dso": "grid"}, state="resolved", resolved_at="t2")
    assert not store.update_dispute(approved, {})
    assert not store.put_dispute(ReadingDispute("d1", "c", "m1", SLOT, 1.0, 0.5, "fault", "m1", "t1"))
    assert store.disputes("c", SLOT) == [opened]
    assert [r.energy_kwh for r in store.meter_readings("c", SLOT)] == [2.0, 1.0]  # no correction read
