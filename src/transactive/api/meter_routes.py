"""REST routes of meter keys, meter readings and their disputes (docs/api.md, "Meter readings"); the rules are
:class:`transactive.market.meters.MeterDesk`'s.

* ``PUT /communities/{c}/meter``: register a meter key (a trader its own, while none is set; an admin anyone's);
* ``GET /communities/{c}/meters``: the meter keys (admin, DSO, validator; a trader its own);
* ``POST /communities/{c}/meter-readings``: a reading (signed by the meter where the member has a key);
* ``GET /communities/{c}/meter-readings?slot_start=``: a slot's readings (admin, DSO, validator; a trader its own);
* ``POST /communities/{c}/meter-readings/disputes``: propose a correction; ``GET`` lists them;
* ``POST .../disputes/{id}/approve`` and ``.../reject``: an admin's or a DSO's decision (resolved once both approved).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse

from transactive.api.app import Caller
from transactive.api.models import DecisionIn, DisputeIn, MeterKeyIn, MeterReadingIn
from transactive.market.meters import MeterDesk
from transactive.store import MeterKey, MeterReading, Outcome, ReadingDispute


def key_json(key: MeterKey) -> dict[str, Any]:
    return {"member": key.member, "community": key.community, "meter_address": key.address, "set_by": key.set_by,
            "set_at": key.set_at}


def reading_json(r: MeterReading) -> dict[str, Any]:
    return {"community": r.community, "member": r.member, "slot_start": r.slot_start, "energy_kwh": r.energy_kwh,
            "received_at": r.received_at, "meter": r.meter, "signature": r.signature, "dispute": r.dispute,
            "metered_kwh": r.metered_kwh}


def dispute_json(d: ReadingDispute) -> dict[str, Any]:
    return {"id": d.id, "community": d.community, "member": d.member, "slot_start": d.slot_start,
            "metered_kwh": d.metered_kwh, "proposed_kwh": d.proposed_kwh, "reason": d.reason,
            "opened_by": d.opened_by, "opened_at": d.opened_at, "state": d.state, "approvals": dict(d.approvals),
            "resolution": d.resolution, "resolved_at": d.resolved_at}


def register(app: FastAPI, meters: MeterDesk) -> None:
    """Add the routes to ``app``."""
    base = "/communities/{community}"

    @app.put(base + "/meter", tags=["metering"])
    def set_meter(community: str, body: MeterKeyIn, caller: Caller) -> dict[str, Any]:
        """Register a meter key: your own while none is registered (prosumer, aggregator), anyone's (admin)."""
        return key_json(meters.set_meter(caller, community, body.model_dump(exclude_none=True)))

    @app.get(base + "/meters", tags=["metering"])
    def list_meters(community: str, caller: Caller) -> list[dict[str, Any]]:
        """The members' meter keys (admin, DSO, validator); a trader's own."""
        return [key_json(k) for k in meters.meters(caller, community)]

    @app.post(base + "/meter-readings", status_code=201, tags=["metering"],
              responses={200: {"description": "the same reading again"},
                         409: {"description": "another reading is stored (a correction is a dispute)"}})
    def meter_reading(community: str, body: MeterReadingIn, caller: Caller) -> JSONResponse:
        """A slot's net metered energy (kWh, + exported / - imported), once per member and slot; signed by the
        member's meter where it has a meter key."""
        outcome, reading = meters.submit_reading(caller, community, body.model_dump(exclude_none=True))
        return JSONResponse({**reading_json(reading), "status": outcome.value},
                            status_code=201 if outcome is Outcome.CREATED else 200)

    @app.get(base + "/meter-readings", tags=["metering"])
    def list_readings(community: str, caller: Caller,
                      slot_start: Annotated[str, Query(description="the slot")]) -> list[dict[str, Any]]:
        """A slot's readings as settlement reads them (a resolved dispute's value, the meter's in
        ``metered_kwh``): all of them (admin, DSO, validator) or your own."""
        return [reading_json(r) for r in meters.readings(caller, community, slot_start)]

    @app.post(base + "/meter-readings/disputes", status_code=201, tags=["metering"])
    def open_dispute(community: str, body: DisputeIn, caller: Caller) -> dict[str, Any]:
        """Propose another value for a stored reading, with a reason (the member; the DSO or an admin for any)."""
        return dispute_json(meters.open_dispute(caller, community, body.model_dump(exclude_none=True)))

    @app.get(base + "/meter-readings/disputes", tags=["metering"])
    def list_disputes(community: str, caller: Caller,
                      slot_start: Annotated[str | None, Query(description="only this slot")] = None,
                      ) -> list[dict[str, Any]]:
        """The disputes (admin, DSO, validator: all; a trader: those on its readings)."""
        return [dispute_json(d) for d in meters.disputes(caller, community, slot_start)]

    @app.post(base + "/meter-readings/disputes/{dispute}/approve", tags=["metering"])
    def approve(community: str, dispute: str, caller: Caller, body: DecisionIn | None = None) -> dict[str, Any]:
        """Approve (admin or DSO); resolved once an admin and a DSO have both approved."""
        raw = None if body is None else body.model_dump(exclude_none=True)
        return dispute_json(meters.decide(caller, community, dispute, raw, approve=True))

    @app.post(base + "/meter-readings/disputes/{dispute}/reject", tags=["metering"])
    def reject(community: str, dispute: str, caller: Caller, body: DecisionIn | None = None) -> dict[str, Any]:
        """Reject (admin or DSO): the stored reading stands; the resolution is recorded."""
        raw = None if body is None else body.model_dump(exclude_none=True)
        return dispute_json(meters.decide(caller, community, dispute, raw, approve=False))
