"""The operator: order intake rules (validation by field, windows, idempotency) and clearing into results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from transactive.market import ManualClock, MarketError, Operator, OrderIntake, result_view
from transactive.store import Member, Outcome, SlotState, SqlStore

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
SLOT = "2026-03-01T10:15:00Z"



@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def op(store: SqlStore, clock: ManualClock) -> Operator:
    operator = Operator(store, clock)
    operator.create_community("green", "uniform", {}, 15)
    return operator


def member(op: Operator, name: str, role: str = "prosumer") -> Member:
    m, key = op.add_member("green", name, role, bus=f"bus-{name}")
    assert op.authenticate(key) == m
    return m


def order(side: str = "sell", key: str = "k1", **entry: Any) -> dict[str, Any]:
    return {"side": side, "slot_start": SLOT, "idempotency_key": key,
            **(entry or {"energy_kwh": 10, "price_per_kwh": 1.0})}


def error(fn: Any, *args: Any) -> MarketError:
    with pytest.raises(MarketError) as info:
        fn(*args)
    return info.value


def test_community_validation(op: Operator) -> None:
    assert error(op.create_community, "green", "uniform", {}, 15).kind == "conflict"
    assert error(op.create_community, "x", "nope", {}, 15).field == "mechanism"
    assert error(op.create_community, "x", "uniform", {"k": 1}, 15).field == "params.k"
    assert error(op.create_community, "x", "uniform", {}, 7).field == "slot_minutes"
    assert error(op.create_community, "bad name!", "uniform", {}, 15).field == "name"
    assert error(op.add_member, "green", "a", "admin").field == "role"
    assert error(op.add_member, "nope", "a", "prosumer").kind == "not_found"
    assert error(op.authenticate, "tk_wrong").kind == "unauthenticated"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"side": "sell", "slot_start": SLOT, "energy_kwh": 1, "price_per_kwh": 1}, "idempotency_key"),
     (order(side="lend"), "side"),
     (order(energy_kwh=-1, price_per_kwh=1), "energy_kwh"),
     (order(energy_kwh=1, price_per_kwh=float("nan")), "price_per_kwh"),
     (order(energy_kwh=1, price_per_kwh=1, colour="red"), "colour"),
     (order(energy_kwh=1), "price_per_kwh"),
     (order(blocks=[{"energy_kwh": 1, "price_per_kwh": 1}]), "blocks"),  # uniform takes one block
     ({**order(), "slot_start": "2026-03-01T10:20:00Z"}, "slot_start"),
     ({**order(), "idempotency_key": ""}, "idempotency_key"),
     ({**order(), "id": "someone-else"}, "id"),
     ({**order(), "energy_kwh": 10**400}, "energy_kwh")],
)
def test_bad_orders_name_the_field_and_store_nothing(op: Operator, store: SqlStore, body: dict[str, Any],
                                                     field: str) -> None:
    alice = member(op, "alice")
    assert error(op.submit_order, alice, "green", body).field == field
    assert store.orders_of_member("alice") == []


def test_roles_and_membership(op: Operator) -> None:
    dso = member(op, "grid", "dso")
    assert error(op.submit_order, dso, "green", order()).kind == "forbidden"
    assert error(op.orders_of, dso, "green", None).kind == "forbidden"
    op.create_community("blue", "uniform", {}, 15)
    bob, _ = op.add_member("blue", "bob", "prosumer")
    assert error(op.submit_order, bob, "green", order()).kind == "forbidden"


def test_duplicate_is_idempotent_conflicts_are_rejected(op: Operator, store: SqlStore) -> None:
    alice = member(op, "alice")
    first = op.submit_order(alice, "green", order())
    again = op.submit_order(alice, "green", order())
    assert first.outcome is Outcome.CREATED and again.outcome is Outcome.DUPLICATE
    assert again.order.id == first.order.id
    assert error(op.submit_order, alice, "green", order(energy_kwh=11, price_per_kwh=1)).field == "idempotency_key"
    other_key = error(op.submit_order, alice, "green", order(key="k2"))
    assert (other_key.field, other_key.kind) == ("slot_start", "conflict")
    assert len(store.orders_of_member("alice")) == 1


def test_windows_late_orders_rejected_retries_still_answered(op: Operator, clock: ManualClock) -> None:
    alice, bob = member(op, "alice"), member(op, "bob")
    op.submit_order(alice, "green", order())  # pending: 15 minutes early is fine
    clock.set(datetime(2026, 3, 1, 10, 17, 59, tzinfo=UTC))  # still in quotation (0-3 min)
    op.submit_order(bob, "green", order(side="buy", energy_kwh=4, price_per_kwh=3))
    clock.set(datetime(2026, 3, 1, 10, 18, tzinfo=UTC))  # matching
    late = error(op.submit_order, member(op, "carol"), "green", order())
    assert (late.field, late.kind) == ("slot_start", "too_late")
    assert op.submit_order(alice, "green", order()).outcome is Outcome.DUPLICATE  # a retry is still answered
    far = {**order(), "slot_start": "2026-03-09T10:15:00Z"}
    assert "days ahead" in error(op.submit_order, alice, "green", far).message


def test_clearing_a_slot_stores_the_result_document(op: Operator, store: SqlStore, clock: ManualClock) -> None:
    alice, bob, carol = member(op, "alice"), member(op, "bob"), member(op, "carol")
    op.submit_order(alice, "green", order(energy_kwh=10, price_per_kwh=1))
    op.submit_order(carol, "green", order(energy_kwh=5, price_per_kwh=2.5))
    op.submit_order(bob, "green", order(side="buy", energy_kwh=4, price_per_kwh=3))
    assert op.clear_due() == []  # quotation still open
    clock.set(datetime(2026, 3, 1, 10, 18, tzinfo=UTC))
    (slot,) = op.clear_due()
    assert slot.state is SlotState.CLEARED
    doc = store.get_result("green", SLOT).document  # type: ignore[union-attr]
    # uniform by hand: 4 kWh trade from alice (cheapest ask 1); price = (1 + 3) / 2 = 2
    assert doc["format"] == "transactive.result/1" and doc["price_per_kwh"] == 2.0
    assert doc["sellers"] == [{"id": "alice", "energy_kwh": 4.0, "payment": 8.0},
                              {"id": "carol", "energy_kwh": 0.0, "payment": 0.0}]
    assert doc["buyers"] == [{"id": "bob", "energy_kwh": 4.0, "payment": 8.0}]
    assert op.clear_due() == []  # finished once
    assert op.clear_slot("green", datetime(2026, 3, 1, 10, 15, tzinfo=UTC)).state is SlotState.CLEARED
    # the slot takes no more orders, even straight into the store
    late = op.prepare_order(member(op, "dave"), "green", order())
    assert store.put_orders([late])[0][0] is Outcome.CLOSED


def test_one_sided_slot_is_void_with_a_note(op: Operator, clock: ManualClock) -> None:
    op.submit_order(member(op, "alice"), "green", order())
    clock.advance(timedelta(minutes=18))
    (slot,) = op.clear_due()
    assert slot.state is SlotState.VOID and "buyers" in slot.note


def test_views_by_role(op: Operator, store: SqlStore, clock: ManualClock) -> None:
    alice, bob = member(op, "alice"), member(op, "bob")
    dso, validator = member(op, "grid", "dso"), member(op, "val", "validator")
    op.submit_order(alice, "green", order(energy_kwh=10, price_per_kwh=1.25))
    op.submit_order(bob, "green", order(side="buy", energy_kwh=4, price_per_kwh=3.75))
    clock.advance(timedelta(minutes=18))
    op.clear_due()
    record = store.get_result("green", SLOT)
    assert record is not None
    mine = result_view(store, alice, record)
    assert mine["sellers"] == [{"id": "alice", "energy_kwh": 4.0, "payment": 10.0}] and mine["buyers"] == []
    grid = result_view(store, dso, record)
    assert grid["traded_kwh"] == 4.0 and grid["price_per_kwh"] == 2.5
    assert {t["bus"] for t in grid["trades"]} == {"bus-alice", "bus-bob"}
    assert "1.25" not in repr(grid) and "3.75" not in repr(grid) and "10.0" in repr(grid)  # no bids
    assert result_view(store, validator, record)["result"] == record.document


def test_meter_readings(op: Operator, clock: ManualClock) -> None:
    alice, dso = member(op, "alice"), member(op, "grid", "dso")
    reading = {"slot_start": SLOT, "energy_kwh": -1.5}
    assert error(op.submit_meter_reading, alice, "green", reading).field == "slot_start"  # not ended
    clock.set(datetime(2026, 3, 1, 10, 30, tzinfo=UTC))
    assert op.submit_meter_reading(alice, "green", reading)[0] is Outcome.CREATED
    assert op.submit_meter_reading(alice, "green", reading)[0] is Outcome.DUPLICATE
    assert error(op.submit_meter_reading, alice, "green", {**reading, "energy_kwh": 2}).kind == "conflict"
    assert error(op.submit_meter_reading, alice, "green", {**reading, "energy_kwh": True}).field == "energy_kwh"
    assert op.submit_meter_reading(dso, "green", {**reading, "member": "alice"})[0] is Outcome.DUPLICATE
    assert error(op.submit_meter_reading, alice, "green", {**reading, "member": "grid"}).kind == "forbidden"


def test_intake_batches_commits_and_answers_everyone(store: SqlStore, clock: ManualClock) -> None:
    intake = OrderIntake(store).start()
    try:
        op = Operator(store, clock, intake=intake)
        op.create_community("green", "uniform", {}, 15)
        members = [member(op, f"m{i}") for i in range(50)]
        records = [op.prepare_order(m, "green", order()) for m in members]
        answers = intake.submit_many(records + records[:5])
        assert [o for o, _ in answers] == [Outcome.CREATED] * 50 + [Outcome.DUPLICATE] * 5
        assert intake.batches < 55  # batched (typically 1-2 commits)
        assert len(store.orders_in_slot("green", SLOT)) == 50
    finally:
        intake.stop()


def test_a_community_trading_wholesale(op: Operator, store: SqlStore, clock: ManualClock) -> None:
    # issue 10: the grid stage's wholesale option is a community parameter, not the mechanism's
    from transactive.settlement.wholesale import WholesaleSeries

    c = op.create_community("whole", "uniform", {"wholesale": {"prices_per_kwh": "synthetic", "seed": 2}}, 15)
    stored = store.get_community("whole")
    assert stored is not None and stored.params == c.params  # "synthetic" resolved to explicit prices
    assert stored.params["wholesale"]["prices_per_kwh"] == list(WholesaleSeries.synthetic(2).prices_per_kwh)
    assert error(op.create_community, "w2", "uniform", {"wholesale": {"fee_per_kwh": -1}}, 15).field == \
        "params.wholesale.fee_per_kwh"
    assert error(op.create_community, "w3", "uniform", {"wholesale": {}, "k": 1}, 15).field == "params.k"
    # the slot clears with the mechanism's parameters only
    a, _ = op.add_member("whole", "alice", "prosumer", bus="b1")
    b, _ = op.add_member("whole", "bob", "prosumer", bus="b2")
    op.submit_order(a, "whole", order("sell", "k1", energy_kwh=2, price_per_kwh=0.05))
    op.submit_order(b, "whole", order("buy", "k2", energy_kwh=2, price_per_kwh=0.09))
    clock.advance(timedelta(minutes=20))
    assert op.clear_slot("whole", datetime(2026, 3, 1, 10, 15, tzinfo=UTC)).state is SlotState.CLEARED
    assert store.get_result("whole", SLOT) is not None
