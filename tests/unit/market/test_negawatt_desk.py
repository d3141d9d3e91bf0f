"""The negawatt desk over the store, on SQLite and PostgreSQL: roles, the close, concurrent offers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from transactive.market import ManualClock, MarketError, Operator
from transactive.market.negawatt_desk import NegawattDesk
from transactive.store import NegawattOfferRecord, Outcome, SqlStore

EVENT = {"id": "dr1", "target_kwh": 100, "price_per_kwh": 5, "offers_close": "2026-03-01T12:00:00Z",
         "window_start": "2026-03-01T17:00:00Z", "window_end": "2026-03-01T18:00:00Z"}



def _setup(store: SqlStore, n_prosumers: int) -> tuple[Operator, ManualClock, NegawattDesk]:
    clock = ManualClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    op = Operator(store, clock)
    op.create_community("green", "uniform", {}, 15)
    op.add_member("green", "agg", "aggregator")
    for k in range(n_prosumers):
        op.add_member("green", f"p{k}", "prosumer")
    op.add_member("green", "grid", "dso")
    return op, clock, NegawattDesk(op)


def test_case_1_and_2_through_the_desk(store: SqlStore) -> None:
    op, clock, desk = _setup(store, 5)
    agg, grid = op.store.get_member("agg"), op.store.get_member("grid")
    assert agg is not None and grid is not None
    desk.announce(agg, "green", EVENT)
    case_1 = [(30, 4), (25, 4), (45, 150 / 45), (10, 2), (20, 3)]
    for k, (energy, price) in enumerate(case_1):
        member = op.store.get_member(f"p{k}")
        assert member is not None
        desk.offer(member, "green", "dr1", {"energy_kwh": energy, "price_per_kwh": price})
    with pytest.raises(MarketError) as caught:
        desk.offer(grid, "green", "dr1", {"energy_kwh": 1, "price_per_kwh": 1})
    assert caught.value.kind == "forbidden"
    clock.set(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    cleared = desk.clear(agg, "green", "dr1")
    assert cleared["state"] == "CLEARED"
    clock.set(datetime(2026, 3, 1, 18, 0, tzinfo=UTC))
    for k, delivered in enumerate([30, 25, 27, 10, 20]):
        day = [50.0] * 24
        today = list(day)
        today[17] -= delivered
        outcome, answer = desk.report_delivery(grid, "green", "dr1", {"member": f"p{k}", "history_kwh": [day] * 10,
                                                                      "event_day_kwh": today})
        assert outcome is Outcome.CREATED and answer["delivered_kwh"] == pytest.approx(delivered)
    settled = desk.settle(agg, "green", "dr1")
    assert settled["state"] == "SETTLED"
    postings = {p["account"]: p["amount_micro"] for p in settled["settlement"]["postings"]}
    assert postings["member:p2"] == (195 - 85) * 1_000_000 and sum(postings.values()) == 0
    again = store.get_negawatt_event("green", "dr1")
    assert again is not None and again.state == "SETTLED"


def test_no_offer_is_stored_after_the_close(store: SqlStore) -> None:
    """Offers racing the clearing are either in the result or refused as closed: never stored and left out."""
    op, clock, desk = _setup(store, 16)
    agg = op.store.get_member("agg")
    assert agg is not None
    desk.announce(agg, "green", EVENT)
    clock.set(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    outcomes: dict[str, Outcome] = {}
    start = threading.Barrier(17)

    def submit(k: int) -> None:
        start.wait()
        entry = {"side": "sell", "energy_kwh": 5.0, "price_per_kwh": 1.0 + k / 100}
        outcome, _ = store.put_negawatt_offer(NegawattOfferRecord("green", "dr1", f"p{k}", entry, "t"), "FOR_SALE")
        outcomes[f"p{k}"] = outcome

    threads = [threading.Thread(target=submit, args=(k,)) for k in range(16)]
    for thread in threads:
        thread.start()
    start.wait()
    view = desk.clear(agg, "green", "dr1")
    for thread in threads:
        thread.join()
    stored = {o.member for o in store.negawatt_offers("green", "dr1")}
    assert stored == {m for m, o in outcomes.items() if o is Outcome.CREATED}
    in_result = {r["id"] for r in (view["clearing"] or {"sellers": []})["sellers"]}
    assert in_result == stored
    assert all(o in (Outcome.CREATED, Outcome.CLOSED) for o in outcomes.values())
