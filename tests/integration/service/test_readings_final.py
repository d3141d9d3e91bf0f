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
from transactive.ledger.chain.base import ChainRevert
from transactive.market.ledger import settlement as settlement_module
from transactive.market.ledger.config import SETTLEMENT
from transactive.store import ListingOrderRecord, ListingRecord, Outcome

STAMP = "2026-03-01T10:00:00.000000Z"


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
        for member, kwh in ((svc.seller, 2.0), (svc.buyer, -2.0)):
            svc.meters.submit_reading(member, "green", {"slot_start": SLOT, "energy_kwh": kwh})
        # c's order on s's listing is pending when the settlement finds every awaited reading in
        buyer_c, _ = svc.operator.add_member("green", "c", "prosumer")
        svc.store.create_listing(ListingRecord("green", "l1", "s", SLOT, 500, 0.1, "FOR_SALE", STAMP))
        placed = svc.store.place_listing_order(ListingOrderRecord("green", "o1", "l1", buyer_c.id, 500, STAMP))
        assert placed[0] == "created"
        close_listings, close = svc.store.close_listings, svc.store.close_meter_readings
        calls: list[bool] = []

        def accepted_as_bidding_closes(community: str, slot_start: str) -> Any:
            # the DSO accepts c's order just before bidding closes: c is a party, its reading awaited
            assert svc.store.decide_listing_order("green", "o1", True, (), by=svc.dso.id, at=STAMP)
            return close_listings(community, slot_start)

        def c_arrives_before_the_read(community: str, slot_start: str, **kwargs: Any) -> Any:
            closed, _ = close(community, slot_start, **kwargs)  # c's is missing: the slot stays open
            calls.append(closed)
            if not closed:  # c's reading comes in after the store's check, before its read
                svc.meters.submit_reading(buyer_c, "green", {"slot_start": SLOT, "energy_kwh": -0.5})
            return closed, svc.store.meter_readings(community, slot_start)

        monkeypatch.setattr(svc.store, "close_listings", accepted_as_bidding_closes)
        monkeypatch.setattr(svc.store, "close_meter_readings", c_arrives_before_the_read)
        rec = svc.desk.prepare_settlement("green", SLOT, svc.clock.now())
        monkeypatch.undo()
        assert calls == [False, True]  # closed on the second try, with c's reading in
        assert rec.document["input"]["readings_kwh"] == {"b": -2.0, "c": -0.5, "s": 2.0}
        assert [o["id"] for o in rec.document["input"]["orders"] if o["decision"] == "accepted"] == ["o1"]


def test_a_persistent_failure_resolving_the_accounts_leaves_the_readings_open(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # the accounts are resolved (and the DSO's enrolled) before the readings close: a chain refusing it
    # fails the settlement with the slot's readings still open, so a reading sent meanwhile is taken and settles
    with meter_service(tmp_path, "tk_admin_refused") as svc:
        svc.trade_and_anchor()
        svc.meters.submit_reading(svc.seller, "green", {"slot_start": SLOT, "energy_kwh": 2.0})
        svc.clock.set(svc.desk.settlement_deadline(SLOT, 15) + timedelta(seconds=1))  # due without b's reading

        def refused(members: Any) -> Any:
            raise ChainRevert("Registry: enrolment refused")

        monkeypatch.setattr(svc.desk.accounts, "enrol_many", refused)
        for _ in range(2):  # persistent: every attempt fails the same way
            with pytest.raises(ChainRevert):
                svc.desk.prepare_settlement("green", SLOT, svc.clock.now())
        assert not svc.store.meter_readings_closed("green", SLOT)
        assert svc.store.get_ledger_slot("green", SLOT, SETTLEMENT) is None
        assert svc.meters.submit_reading(svc.buyer, "green", {"slot_start": SLOT, "energy_kwh": -2.0})[0] is \
            Outcome.CREATED
        monkeypatch.undo()  # the chain takes it again
        rec = svc.desk.prepare_settlement("green", SLOT, svc.clock.now())
        assert svc.store.meter_readings_closed("green", SLOT)
        assert rec.document["input"]["readings_kwh"] == {"b": -2.0, "s": 2.0}
