"""The cycle clears exactly the slots whose quotation has closed and tells its listener; the clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from transactive.market import AcceleratedClock, CycleRunner, ManualClock, Operator
from transactive.store import Slot, SlotState, open_store


def test_tick_clears_due_slots_once(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    store = open_store(data_dir=tmp_path)
    op = Operator(store, clock)
    op.create_community("green", "uniform", {}, 5)  # 5-minute slots: quotation closes after 60 s
    seller, _ = op.add_member("green", "s", "prosumer")
    buyer, _ = op.add_member("green", "b", "prosumer")
    for slot in ("2026-03-01T10:00:00Z", "2026-03-01T10:05:00Z"):
        op.submit_order(seller, "green", {"side": "sell", "slot_start": slot, "idempotency_key": slot,
                                          "energy_kwh": 2, "price_per_kwh": 1})
        op.submit_order(buyer, "green", {"side": "buy", "slot_start": slot, "idempotency_key": slot,
                                         "energy_kwh": 1, "price_per_kwh": 2})
    seen: list[Slot] = []
    runner = CycleRunner(op, on_cleared=seen.append)
    assert runner.tick() == []
    clock.set(datetime(2026, 3, 1, 10, 1, tzinfo=UTC))
    assert [s.start for s in runner.tick()] == ["2026-03-01T10:00:00Z"]
    assert runner.tick() == []
    clock.set(datetime(2026, 3, 1, 10, 6, tzinfo=UTC))
    runner.tick()
    assert [(s.start, s.state) for s in seen] == [("2026-03-01T10:00:00Z", SlotState.CLEARED),
                                                  ("2026-03-01T10:05:00Z", SlotState.CLEARED)]
    result = store.get_result("green", "2026-03-01T10:05:00Z")
    assert result is not None and result.document["price_per_kwh"] == 1.5
    store.close()


def test_clocks() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    fast = AcceleratedClock(start, 60.0)
    first = fast.now()
    assert start <= first <= fast.now()
    with pytest.raises(ValueError, match="factor"):
        AcceleratedClock(start, 0.0)
    with pytest.raises(ValueError, match="aware"):
        ManualClock(datetime(2026, 1, 1))
    manual = ManualClock(start)
    assert manual.advance(timedelta(seconds=90)) == start + timedelta(seconds=90) == manual.now()
