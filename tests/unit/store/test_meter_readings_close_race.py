"""The readings close under contention, on SQLite and PostgreSQL: writers (each with a store of its own, as
separate processes: an engine and connection pool each) store readings of a slot while another store closes it.
Every reading answered ``created`` before the close is in the settlement's read after it (none lost), every
reading answered ``closed`` is not, and nothing of the slot is stored after the close (the lock order argued in
``store/_readings.py``: a write of readings commits wholly before the close or sees it closed). A burst also
carries a reading of another slot, which stays open: those are all stored."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from transactive.store import Community, Member, MeterReading, Outcome, SqlStore

SLOT, OTHER = "2026-01-01T00:00:00Z", "2026-01-01T00:15:00Z"
WRITERS, MEMBERS_EACH, BEFORE_CLOSE = 4, 60, 5


@dataclass
class Writer:
    """What one writer was answered: the value of each member's reading of ``SLOT`` in effect (the last one
    ``created``), the readings refused ``closed``, and the order of the slot's answers."""

    stored: dict[str, float] = field(default_factory=dict)
    refused: list[MeterReading] = field(default_factory=list)
    answers: list[Outcome] = field(default_factory=list)
    other: list[Outcome] = field(default_factory=list)


def member(writer: int, k: int) -> str:
    return f"w{writer}-{k:03d}"


def run_writer(store: SqlStore, writer: int, log: Writer, started: threading.Semaphore,
               closed: threading.Event) -> None:
    """Per member: a burst (its reading of ``OTHER``, then of ``SLOT`` reported by the DSO), then the member's
    own reading of ``SLOT``, which replaces the DSO's; until the first ``closed``. Out of members before the
    close, it waits for it and tries once more (the last member is kept for that)."""

    def slot_answer(outcome: Outcome, reading: MeterReading) -> bool:
        log.answers.append(outcome)
        if outcome is Outcome.CLOSED:
            log.refused.append(reading)
            return False
        assert outcome is Outcome.CREATED, outcome
        log.stored[reading.member] = reading.energy_kwh
        return True

    for k in range(MEMBERS_EACH):
        if k == MEMBERS_EACH - 1:
            closed.wait()  # (out of members: after the close)
        m = member(writer, k)
        by_dso = MeterReading("c", m, SLOT, float(k), f"t{k}")
        answers = store.put_meter_readings([(MeterReading("c", m, OTHER, 1.0, f"t{k}"), None), (by_dso, "dso")])
        log.other.append(answers[0][0])
        if not slot_answer(answers[1][0], by_dso):
            return
        if k == BEFORE_CLOSE - 1:
            started.release()
        own = MeterReading("c", m, SLOT, k + 0.5, f"t{k}'")
        if not slot_answer(store.put_meter_reading(own)[0], own):
            return
    raise AssertionError("a reading after the close was stored")


def test_readings_stored_while_the_slot_closes_are_all_read_or_refused(store: SqlStore) -> None:
    assert store.create_community(Community("c", "uniform", {}, 15, "2026-01-01T00:00:00.000000Z"))
    for w in range(WRITERS):
        for k in range(MEMBERS_EACH):
            assert store.add_member(Member(member(w, k), "c", "prosumer", f"hash-{w}-{k}"))
    url = store.engine.url.render_as_string(hide_password=False)
    stores = [SqlStore.open(url) for _ in range(WRITERS)]
    logs = [Writer() for _ in range(WRITERS)]
    started, closed = threading.Semaphore(0), threading.Event()
    errors: list[BaseException] = []

    def guarded(w: int) -> None:
        try:
            run_writer(stores[w], w, logs[w], started, closed)
        except BaseException as exc:  # reported below
            errors.append(exc)
            started.release()

    threads = [threading.Thread(target=guarded, args=(w,)) for w in range(WRITERS)]
    try:
        for thread in threads:
            thread.start()
        for _ in range(WRITERS):  # every writer has stored BEFORE_CLOSE members' readings and goes on
            started.acquire()
        done, read = store.close_meter_readings("c", SLOT)
        closed.set()
        for thread in threads:
            thread.join()
    finally:
        closed.set()
        for s in stores:
            s.close()
    assert errors == []
    assert done
    read_values = {r.member: r.energy_kwh for r in read}
    assert read_values == {m: v for log in logs for m, v in log.stored.items()}  # none lost, none extra
    for log in logs:
        # each writer: its readings created, then one refused (it stops there): nothing stored after a refusal
        assert log.answers[-1] is Outcome.CLOSED and Outcome.CLOSED not in log.answers[:-1]
        assert len(log.stored) >= BEFORE_CLOSE
        (refused,) = log.refused
        assert read_values.get(refused.member) != refused.energy_kwh
        assert set(log.other) == {Outcome.CREATED}
    assert store.meter_readings("c", SLOT) == read  # the read after the close is final
    assert store.close_meter_readings("c", SLOT) == (True, read)
    others = {r.member for r in store.meter_readings("c", OTHER)}
    assert len(others) == sum(len(log.other) for log in logs) and not store.meter_readings_closed("c", OTHER)
