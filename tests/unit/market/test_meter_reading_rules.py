"""Meter readings people can trust, the simple part (issue 9, findings 4 and 6): a reading is bounded by what the
connection carries over the slot; the member's own reading wins over one the DSO reported for it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from transactive.market import ManualClock, MarketError, Operator
from transactive.market.order_limits import MAX_CONNECTION_KW
from transactive.store import Member, Outcome

SLOT = "2026-03-01T10:00:00Z"


@pytest.fixture
def op(store: Any) -> Operator:
    operator = Operator(store, ManualClock(datetime(2026, 3, 1, 11, 0, tzinfo=UTC)))
    operator.create_community("c", "uniform", {}, 15)
    return operator


def member(op: Operator, name: str, role: str) -> Member:
    return op.authenticate(op.add_member("c", name, role)[1])


def test_a_reading_beyond_the_connection_over_the_slot_is_422(op: Operator) -> None:
    seller = member(op, "s", "prosumer")
    limit = MAX_CONNECTION_KW * 15 / 60  # 250 kWh in a 15-minute slot
    for kwh in (3_000.0, limit + 0.1, -(limit + 0.1), 1e9):
        with pytest.raises(MarketError) as raised:
            op.submit_meter_reading(seller, "c", {"slot_start": SLOT, "energy_kwh": kwh})
        assert (raised.value.kind, raised.value.field) == ("invalid", "energy_kwh")
        assert "250 kWh" in raised.value.message
    assert op.submit_meter_reading(seller, "c", {"slot_start": SLOT, "energy_kwh": -limit})[0] is Outcome.CREATED
    assert op.store.meter_readings("c", SLOT)[0].energy_kwh == -limit


def test_the_members_own_reading_wins_over_the_dsos(op: Operator) -> None:
    alice, dso = member(op, "alice", "prosumer"), member(op, "grid", "dso")
    assert op.submit_meter_reading(dso, "c", {"slot_start": SLOT, "energy_kwh": 5.0, "member": "alice"})[0] \
        is Outcome.CREATED
    outcome, stored = op.submit_meter_reading(alice, "c", {"slot_start": SLOT, "energy_kwh": 2.0})
    assert (outcome, stored.energy_kwh) == (Outcome.CREATED, 2.0)
    assert [r.energy_kwh for r in op.store.meter_readings("c", SLOT)] == [2.0]
    with pytest.raises(MarketError) as raised:  # the DSO cannot overwrite the member's own reading
        op.submit_meter_reading(dso, "c", {"slot_start": SLOT, "energy_kwh": 9.0, "member": "alice"})
    assert raised.value.kind == "conflict"
    with pytest.raises(MarketError):  # nor the member its own
        op.submit_meter_reading(alice, "c", {"slot_start": SLOT, "energy_kwh": 3.0})
    assert op.submit_meter_reading(alice, "c", {"slot_start": SLOT, "energy_kwh": 2.0})[0] is Outcome.DUPLICATE
    assert [r.energy_kwh for r in op.store.meter_readings("c", SLOT)] == [2.0]


def _twin(store_factory: Any) -> Operator:
    operator = Operator(store_factory(), ManualClock(datetime(2026, 3, 1, 11, 0, tzinfo=UTC)))
    operator.create_community("c", "uniform", {}, 15)
    return operator


def test_a_burst_of_readings_is_stored_as_the_same_readings_one_by_one(op: Operator) -> None:
    """``submit_meter_readings`` (the meter keys and the settlement state read once per burst) answers and stores
    what ``submit_meter_reading`` does reading by reading, duplicates, replacements and a 2nd slot included;
    a refused reading raises its error with the readings before it stored."""
    from transactive.store import open_store

    one_by_one = _twin(lambda: open_store(url="sqlite://"))
    names = ["a", "b", "c", "d"]
    members = {op_: {n: member(op_, n, "prosumer") for n in names} | {"dso": member(op_, "grid", "dso")}
               for op_ in (op, one_by_one)}
    other = "2026-03-01T10:15:00Z"
    bodies = [("dso", {"slot_start": SLOT, "energy_kwh": 5.0, "member": "a"}),
              ("a", {"slot_start": SLOT, "energy_kwh": 2.0}), ("b", {"slot_start": SLOT, "energy_kwh": -1.5}),
              ("b", {"slot_start": SLOT, "energy_kwh": -1.5}), ("c", {"slot_start": other, "energy_kwh": 0.0}),
              ("d", {"slot_start": SLOT, "energy_kwh": 0.25})]
    burst = op.submit_meter_readings("c", [(members[op][who], body) for who, body in bodies])
    single = [one_by_one.submit_meter_reading(members[one_by_one][who], "c", body) for who, body in bodies]
    assert [o for o, _ in burst] == [o for o, _ in single] == [Outcome.CREATED, Outcome.CREATED, Outcome.CREATED,
                                                               Outcome.DUPLICATE, Outcome.CREATED, Outcome.CREATED]
    assert [r for _, r in burst] == [r for _, r in single]
    for slot in (SLOT, other):
        assert op.store.meter_readings("c", slot) == one_by_one.store.meter_readings("c", slot)
    with pytest.raises(MarketError) as raised:  # the DSO cannot overwrite a's own reading: the burst stops there
        op.submit_meter_readings("c", [(members[op]["d"], {"slot_start": other, "energy_kwh": 1.0}),
                                       (members[op]["dso"], {"slot_start": SLOT, "energy_kwh": 9.0, "member": "a"}),
                                       (members[op]["b"], {"slot_start": other, "energy_kwh": 1.0})])
    assert raised.value.kind == "conflict"
    assert {r.member: r.energy_kwh for r in op.store.meter_readings("c", other)} == {"c": 0.0, "d": 1.0}


def _signed(op: Operator, member: str, key: bytes, kwh: float, slot: str = SLOT) -> dict[str, Any]:
    from transactive.market.meters import MeterDesk
    from transactive.market.multi_signing import slot_number
    from transactive.settlement.meter_readings import sign_reading

    signed = sign_reading(key, "c", member, slot=slot_number(slot), energy_wh=round(kwh * 1000),
                          domain=MeterDesk(op).domain)
    return {"slot_start": slot, "energy_kwh": kwh, "member": member, "signature": signed.signature}


def test_a_burst_is_one_store_write_and_a_refused_reading_keeps_the_ones_before_it(op: Operator) -> None:
    """On the store fixture and on the day's in-memory SQLite store (one shared connection, where reads inside
    the burst's write used to nest transactions): signed readings relayed by the DSO, a member without a key, the
    DSO's reading then the member's own, a refused reading (a signature not its meter's) in the middle -- the
    burst raises that error with the readings before it stored, none after, as one by one; the readings before
    a refusal are one store write."""
    from transactive.crypto.signing import Signer
    from transactive.store import MeterKey, open_store

    memory = _twin(lambda: open_store(url="sqlite://"))
    one_by_one = _twin(lambda: open_store(url="sqlite://"))
    keys = {"a": b"\x11" * 32, "b": b"\x22" * 32}
    wrong_key = b"\x33" * 32
    answers = []
    for op_ in (op, memory, one_by_one):
        people = {n: member(op_, n, "prosumer") for n in ("a", "b", "c")} | {"dso": member(op_, "grid", "dso")}
        for name, key in keys.items():
            op_.store.put_meter_key(MeterKey(name, "c", Signer(key).address, "admin", "t"))
        bodies = [(people["dso"], _signed(op_, "a", keys["a"], 1.5)),
                  (people["dso"], {"slot_start": SLOT, "energy_kwh": 4.0, "member": "c"}),
                  (people["c"], {"slot_start": SLOT, "energy_kwh": 3.0}),
                  (people["b"], _signed(op_, "b", keys["b"], -2.0)),
                  (people["dso"], _signed(op_, "a", keys["a"], 1.5)),
                  (people["b"], _signed(op_, "b", wrong_key, -1.0, "2026-03-01T10:15:00Z")),  # refused
                  (people["c"], {"slot_start": "2026-03-01T10:15:00Z", "energy_kwh": 1.0})]
        writes = 0
        write = op_.store._write

        def counted(write: Any = write) -> Any:
            nonlocal writes
            writes += 1
            return write()

        op_.store._write = counted  # type: ignore[method-assign]
        if op_ is one_by_one:
            single = []
            with pytest.raises(MarketError) as raised:
                for caller, body in bodies:
                    single.append(op_.submit_meter_reading(caller, "c", body))
            answers.append((single, raised.value.field))
        else:
            with pytest.raises(MarketError) as raised:
                op_.submit_meter_readings("c", bodies)
            assert writes == 1
            answers.append((None, raised.value.field))
        op_.store._write = write  # type: ignore[method-assign]
    assert [field for _, field in answers] == ["signature"] * 3
    assert [o for o, _ in answers[2][0] or []] == [Outcome.CREATED, Outcome.CREATED, Outcome.CREATED,
                                                   Outcome.CREATED, Outcome.DUPLICATE]
    stored = [[op_.store.meter_readings("c", s) for s in (SLOT, "2026-03-01T10:15:00Z")]
              for op_ in (op, memory, one_by_one)]
    assert stored[0] == stored[1] == stored[2]
    assert {r.member: (r.energy_kwh, r.signature is not None) for r in stored[0][0]} == \
        {"a": (1.5, True), "b": (-2.0, True), "c": (3.0, False)}
    assert stored[0][1] == []  # nothing after the refused reading
    assert [o for o, _ in memory.submit_meter_readings("c", [(member(memory, "e", "prosumer"),
                                                              {"slot_start": SLOT, "energy_kwh": 0.5})])] \
        == [Outcome.CREATED]
