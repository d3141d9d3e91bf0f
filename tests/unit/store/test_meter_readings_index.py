"""Schema version 11: the index ``ix_meter_readings_slot`` (community, slot start) by which a slot's readings are
read instead of a scan of every slot's; a version-10 database (without it) gets it on open, its readings intact,
on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from transactive.store import Community, Member, MeterReading, SqlStore, open_store
from transactive.store import _tables as tables

INDEX = "ix_meter_readings_slot"
SLOTS = ("2026-01-01T00:00:00Z", "2026-01-01T00:15:00Z", "2026-01-01T00:30:00Z")


def setup(store: SqlStore) -> None:
    """Two communities, three members each, every member's reading of three slots (a distinct value each)."""
    for c in ("c", "d"):
        assert store.create_community(Community(c, "uniform", {}, 15, "2026-01-01T00:00:00.000000Z"))
        for k in range(3):
            assert store.add_member(Member(f"{c}{k}", c, "prosumer", f"hash-{c}{k}"))
    store.put_meter_readings([(MeterReading(c, f"{c}{k}", slot, k + 10 * i + (0.5 if c == "d" else 0.0), "t0"), None)
                              for c in ("c", "d") for k in range(3) for i, slot in enumerate(SLOTS)])


def indexes(store: SqlStore) -> set[str]:
    """The names of the indexes of ``meter_readings`` as the database lists them."""
    with store.engine.connect() as conn:
        if store.dialect == "sqlite":
            return {row[1] for row in conn.exec_driver_sql("PRAGMA index_list(meter_readings)")}
        return set(conn.execute(sa.text("SELECT indexname FROM pg_indexes WHERE tablename = 'meter_readings'"))
                   .scalars())


def readings(store: SqlStore) -> dict[tuple[str, str], list[MeterReading]]:
    return {(c, slot): store.meter_readings(c, slot) for c in ("c", "d") for slot in SLOTS}


def test_a_version_10_database_gets_the_index_with_its_readings_intact(store: SqlStore) -> None:
    setup(store)
    before = readings(store)
    assert [r.energy_kwh for r in before["d", SLOTS[2]]] == [20.5, 21.5, 22.5]  # each slot's own, in member order
    assert INDEX in indexes(store)  # a new database has it
    with store.engine.begin() as conn:  # as version 10 left the database: no index, version 10
        conn.execute(sa.text(f"DROP INDEX {INDEX}"))
        conn.execute(sa.text("DELETE FROM schema_version"))
        conn.execute(sa.text("INSERT INTO schema_version VALUES (10, 'earlier')"))
    assert INDEX not in indexes(store) and store.schema_version() == 10
    upgraded = open_store(url=store.engine.url.render_as_string(hide_password=False))
    try:
        assert upgraded.schema_version() == tables.SCHEMA_VERSION == 11
        assert INDEX in indexes(upgraded)
        assert readings(upgraded) == before
    finally:
        upgraded.close()


def test_the_slots_readings_are_read_by_the_index(tmp_path: Path) -> None:
    # SQLite's plan (PostgreSQL's planner scans a table this small whatever its indexes)
    store = open_store(data_dir=tmp_path)
    setup(store)
    statements: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, *context: Any) -> None:
        statements.append((statement, parameters))

    sa.event.listen(store.engine, "before_cursor_execute", seen)
    try:
        assert [r.member for r in store.meter_readings("c", SLOTS[1])] == ["c0", "c1", "c2"]
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", seen)
    (statement, parameters), = [(s, p) for s, p in statements if "FROM meter_readings" in s]
    with store.engine.connect() as conn:
        plan = [row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
    store.close()
    (read,) = [step for step in plan if step.split()[1] == "meter_readings"]  # (the signatures' join aside)
    assert read == f"SEARCH meter_readings USING INDEX {INDEX} (community=? AND slot_start=?)", plan
