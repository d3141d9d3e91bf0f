"""``put_meter_readings``: a burst of readings in one write stores and answers exactly what ``put_meter_reading``
does reading by reading (random bursts with repeated members and slots, reporters, signatures, another
community), on SQLite and PostgreSQL; a conflict ends the burst with the readings before it stored."""

from __future__ import annotations

import random
from typing import Any

import sqlalchemy as sa

from transactive.store import Community, Member, MeterReading, Outcome, SqlStore
from transactive.store import _tables as tables

SLOTS = ("2026-01-01T00:00:00Z", "2026-01-01T00:15:00Z")
NAMES = ("m0", "m1", "m2")


def setup(store: SqlStore) -> None:
    for name in ("c", "c2"):
        assert store.create_community(Community(name, "uniform", {}, 15, "2026-01-01T00:00:00.000000Z"))
    for prefix in ("burst-", "single-"):
        for name in NAMES:
            assert store.add_member(Member(prefix + name, "c", "prosumer", f"hash-{prefix}{name}"))


def random_bursts(rng: random.Random) -> list[list[tuple[MeterReading, str | None]]]:
    """Bursts of readings of the members ``NAMES`` (unprefixed): the member's own, the DSO's, relayed signed."""
    bursts = []
    for b in range(rng.randint(1, 5)):
        burst = []
        for i in range(rng.randint(1, 8)):
            member = rng.choice(NAMES)
            signed = rng.random() < 0.3
            reading = MeterReading("c2" if rng.random() < 0.05 else "c", member, rng.choice(SLOTS),
                                   rng.choice((1.0, 2.0, -0.5)), f"t{b}.{i}",
                                   "0xMeter" if signed else None, f"0xsig{rng.randint(0, 2)}" if signed else None)
            burst.append((reading, rng.choice((None, member, "dso", "admin"))))
        bursts.append(burst)
    return bursts


def prefixed(reading: MeterReading, reported_by: str | None, prefix: str) -> tuple[MeterReading, str | None]:
    member = prefix + reading.member
    moved = MeterReading(reading.community, member, reading.slot_start, reading.energy_kwh, reading.received_at,
                         reading.meter, reading.signature)
    return moved, member if reported_by == reading.member else reported_by


def unprefixed(answer: tuple[Outcome, MeterReading], prefix: str) -> tuple[Outcome, MeterReading]:
    outcome, r = answer
    return outcome, MeterReading(r.community, r.member.removeprefix(prefix), r.slot_start, r.energy_kwh,
                                 r.received_at, r.meter, r.signature)


def stored_rows(store: SqlStore, prefix: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the readings, their signatures and reporters of the ``prefix`` members, prefix removed."""
    out = {}
    with store.engine.connect() as conn:
        for table in (tables.meter_readings, tables.meter_reading_signatures, tables.meter_reading_reporters):
            rows = conn.execute(sa.select(table).where(table.c.member.startswith(prefix))).all()
            out[table.name] = sorted(tuple(value.removeprefix(prefix) if key == "member" else value
                                           for key, value in row._mapping.items()) for row in rows)
    return out


def test_a_burst_stores_and_answers_what_one_by_one_does(store: SqlStore) -> None:
    setup(store)
    seen: set[Outcome] = set()
    for seed in range(12):
        bursts = random_bursts(random.Random(seed))
        for burst in bursts:
            together = store.put_meter_readings([prefixed(r, by, "burst-") for r, by in burst])
            single: list[tuple[Outcome, MeterReading]] = []
            for r, by in burst:
                single.append(store.put_meter_reading(*prefixed(r, by, "single-")))
                if single[-1][0] is Outcome.CONFLICT:  # the burst ends at a conflict: so do the single ones
                    break
            assert [unprefixed(a, "burst-") for a in together] == [unprefixed(a, "single-") for a in single]
            seen |= {outcome for outcome, _ in single}
        assert stored_rows(store, "burst-") == stored_rows(store, "single-")
        with store.engine.begin() as conn:  # the next seed starts from no readings
            for table in (tables.meter_readings, tables.meter_reading_signatures, tables.meter_reading_reporters):
                conn.execute(table.delete())
    assert seen == {Outcome.CREATED, Outcome.DUPLICATE, Outcome.CONFLICT}


def test_a_conflict_ends_the_burst_with_the_readings_before_it_stored(store: SqlStore) -> None:
    setup(store)
    slot = SLOTS[0]
    assert store.put_meter_reading(MeterReading("c", "burst-m0", slot, 2.0, "t0"))[0] is Outcome.CREATED
    answers = store.put_meter_readings([
        (MeterReading("c", "burst-m1", slot, 1.0, "t1"), None),
        (MeterReading("c", "burst-m2", slot, 1.0, "t1"), "dso"),  # the DSO's, replaced below by m2's own
        (MeterReading("c", "burst-m2", slot, 3.0, "t2"), None),
        (MeterReading("c", "burst-m0", slot, 5.0, "t2"), None),  # m0's own differs: conflict
        (MeterReading("c", "burst-m1", SLOTS[1], 1.0, "t3"), None)])  # after the conflict: not stored
    assert [o for o, _ in answers] == [Outcome.CREATED, Outcome.CREATED, Outcome.CREATED, Outcome.CONFLICT]
    assert answers[-1][1] == MeterReading("c", "burst-m0", slot, 2.0, "t0")
    assert {r.member: r.energy_kwh for r in store.meter_readings("c", slot)} == \
        {"burst-m0": 2.0, "burst-m1": 1.0, "burst-m2": 3.0}
    assert store.meter_readings("c", SLOTS[1]) == []
    assert stored_rows(store, "burst-")["meter_reading_reporters"] == []  # m2's own replaced the DSO's
