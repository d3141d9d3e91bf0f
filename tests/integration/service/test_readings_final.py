"""Whatever is accepted must be processable: a meter reading that arrives while the slot's settlement is being
prepared -- after the settlement read the slot's readings, before its record exists -- is refused (409 naming
``slot_start``), never stored and left out of the settlement (the settlement closes the slot's readings in the
same transaction as it reads them; the store refuses a reading of a closed slot in the transaction of its
insert)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from meter_service_support import SLOT, meter_service
from transactive.errors import MarketError
from transactive.market.ledger import settlement as settlement_module
from transactive.store import Outcome


def _prepare_while(svc: Any, monkeypatch: pytest.MonkeyPatch, *attempts: Callable[[], Any]) -> tuple[Any, list[Any]]:
    """Prepare the slot's settlement with ``attempts`` made between its read of the readings and its record (as the
    input is built): ``(record, each attempt's answer or MarketError)``."""
    late: list[Any] = []
    build = settlement_module.sequence_input

    def interleaved(*args: Any, **kwargs: Any) -> Any:
        for attempt in attempts:
            try:
                late.append(attempt())
            except MarketError as exc:
                late.append(exc)
        return build(*args, **kwargs)

    monkeypatch.setattr(settlement_module, "sequence_input", interleaved)
    try:
        rec = svc.desk.prepare_settlement("green", SLOT, svc.clock.now())
    finally:
        monkeypatch.undo()
    return rec, late


def test_a_reading_between_the_settlements_read_and_its_record_is_refused(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    with meter_service(tmp_path, "tk_admin_final") as svc:
        svc.trade_and_anchor()
        assert svc.meters.submit_reading(svc.seller, "green", {"slot_start": SLOT, "energy_kwh": 2.0})[0] is \
            Outcome.CREATED
        # past the deadline: the settlement proceeds without the buyer's reading
        deadline = svc.desk.settlement_deadline(SLOT, 15)
        svc.clock.set(deadline + timedelta(seconds=1))
        # the settlement has read the readings: b reports now
        rec, late = _prepare_while(svc, monkeypatch, lambda: svc.meters.submit_reading(
            svc.buyer, "green", {"slot_start": SLOT, "energy_kwh": -2.0}))

        settled = rec.document["input"]["readings_kwh"]
        stored = {r.member: r.energy_kwh for r in svc.store.meter_readings("green", SLOT)}
        assert stored == settled == {"s": 2.0}  # every stored reading is in the settlement input, and only those
        (refused,) = late
        assert isinstance(refused, MarketError)
        assert (refused.field, refused.kind) == ("slot_start", "conflict")
        assert refused.message == "the slot's settlement is prepared: its readings are final"
        # after the record, as before: the same value again is a duplicate, another value final
        again = svc.meters.submit_reading(svc.seller, "green", {"slot_start": SLOT, "energy_kwh": 2.0})
        assert again[0] is Outcome.DUPLICATE and again[1].energy_kwh == 2.0
        with pytest.raises(MarketError) as final:
            svc.meters.submit_reading(svc.buyer, "green", {"slot_start": SLOT, "energy_kwh": -2.0})
        assert (final.value.field, final.value.kind) == ("slot_start", "conflict")


def test_readings_stay_open_while_the_settlement_waits_for_them(tmp_path: Path) -> None:
    with meter_service(tmp_path, "tk_admin_wait") as svc:
        svc.trade_and_anchor()
        svc.meters.submit_reading(svc.seller, "green", {"slot_start": SLOT, "energy_kwh": 2.0})
        with pytest.raises(MarketError) as waiting:  # before the deadline, b's reading is awaited
            svc.desk.prepare_settlement("green", SLOT, svc.clock.now())
        assert "waiting for the meter readings of b" in waiting.value.message
        # the slot's readings are not closed by the attempt: b's reading is taken and settles
        assert svc.meters.submit_reading(svc.buyer, "green", {"slot_start": SLOT, "energy_kwh": -2.0})[0] is \
            Outcome.CREATED
        rec = svc.desk.prepare_settlement("green", SLOT, svc.clock.now())
        assert rec.document["input"]["readings_kwh"] == {"b": -2.0, "s": 2.0}


def test_a_dispute_decided_or_opened_between_the_read_and_the_record_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with meter_service(tmp_path, "tk_admin_disputes") as svc:
        svc.trade_and_anchor()
        for member, kwh in ((svc.seller, 2.0), (svc.buyer, -2.0)):
            svc.meters.submit_reading(member, "green", {"slot_start": SLOT, "energy_kwh": kwh})
        dispute = svc.meters.open_dispute(svc.buyer, "green", {"slot_start": SLOT, "energy_kwh": -1.5,
                                                               "reason": "meter fault"})
        assert svc.meters.decide(svc.admin, "green", dispute.id, None, approve=True).state == "open"
        # the settlement has read the readings: the DSO's approval and a new dispute come now
        rec, late = _prepare_while(
            svc, monkeypatch, lambda: svc.meters.decide(svc.dso, "green", dispute.id, None, approve=True),
            lambda: svc.meters.open_dispute(svc.seller, "green", {"slot_start": SLOT, "energy_kwh": 1.0,
                                                                  "reason": "late"}))

        assert rec.document["input"]["readings_kwh"] == {"b": -2.0, "s": 2.0}  # no correction settled
        assert [(e.field, e.kind, e.message) for e in late] == [
            ("dispute", "conflict", "the slot's settlement is prepared: its readings are final"),
            ("slot_start", "conflict", "the slot's settlement is prepared: its readings are final")]
        (stored,) = svc.store.disputes("green", SLOT)  # the dispute stays open, unresolved, as the input says
        assert (stored.id, stored.state, dict(stored.approvals)) == (dispute.id, "open", {"admin": "admin"})
        assert {r.member: r.energy_kwh for r in svc.store.meter_readings("green", SLOT)} == {"b": -2.0, "s": 2.0}


def test_an_awaited_reading_between_the_close_and_the_read_settles(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    with meter_service(tmp_path, "tk_admin_between") as svc:
        svc.trade_and_anchor()
        svc.meters.submit_reading(svc.seller, "green", {"slot_start": SLOT, "energy_kwh": 2.0})
        close = svc.store.close_meter_readings
        calls: list[bool] = []

        def b_arrives_before_the_read(community: str, slot_start: str, **kwargs: Any) -> Any:
            closed, _ = close(community, slot_start, **kwargs)  # b's is missing: the slot stays open
            calls.append(closed)
            if not closed:  # b's reading comes in after the store's check, before its read
                svc.meters.submit_reading(svc.buyer, "green", {"slot_start": SLOT, "energy_kwh": -2.0})
            return closed, svc.store.meter_readings(community, slot_start)

        monkeypatch.setattr(svc.store, "close_meter_readings", b_arrives_before_the_read)
        rec = svc.desk.prepare_settlement("green", SLOT, svc.clock.now())
        monkeypatch.undo()
        assert calls == [False, True]  # closed on the second try, with b's reading in
        assert rec.document["input"]["readings_kwh"] == {"b": -2.0, "s": 2.0}
