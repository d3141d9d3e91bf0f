"""Meter readings people can trust (issue 9, findings 4-6), end to end on the embedded chain: meter keys
registered in the Registry; readings signed by the meters (the DSO cannot report one for a metered member); a
disputed reading corrected only once an admin and a DSO both approve, the meter's signed reading kept; the
settlement input carries the signed readings and the correction, the settlement pays the corrected reading, and
``ledger verify`` recomputes it clean -- while an input whose readings, signatures or approvals were altered is
refused by the validators' recomputation and by the audit (the Registry's part of those checks, at the slot's
block: ``test_registry_at_the_slots_block.py``)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from meter_service_support import METER_B, METER_S, SLOT, meter_service
from transactive.errors import MarketError
from transactive.ledger.audit.audit import SlotArchive, verify_archive
from transactive.settlement.metering import SettlementError


def test_signed_readings_and_a_resolved_dispute_settle_and_verify(tmp_path: Path) -> None:
    with meter_service(tmp_path, "tk_admin_meters") as svc:
        store, desk, meters, clock = svc.store, svc.desk, svc.meters, svc.clock
        admin, seller, buyer, dso = svc.admin, svc.seller, svc.buyer, svc.dso
        s_meter = meters.set_meter(admin, "green", {"member": "s", "meter_address": svc.meter_address(METER_S)})
        # the member registers its own
        b_meter = meters.set_meter(buyer, "green", {"meter_address": svc.meter_address(METER_B)})
        with pytest.raises(MarketError) as swap:  # only an admin replaces it
            meters.set_meter(buyer, "green", {"meter_address": s_meter.address})
        assert (swap.value.field, swap.value.kind) == ("meter_address", "conflict")
        for member, meter in ((seller, s_meter), (buyer, b_meter)):  # the Registry holds each member's meter
            account = store.chain_account(member.id)
            assert account is not None
            assert str(desk.chain.call(desk.registry, "meter", account.address)) == meter.address
        svc.trade_and_anchor()
        signed = svc.signed

        # finding 6: the DSO cannot write a metered member's reading; finding 4: nor can the member, unsigned
        with pytest.raises(MarketError) as by_dso:
            meters.submit_reading(dso, "green", {"slot_start": SLOT, "energy_kwh": 3.0, "member": "s"})
        assert (by_dso.value.field, by_dso.value.kind) == ("Authorization", "forbidden")
        with pytest.raises(MarketError) as unsigned:
            meters.submit_reading(seller, "green", {"slot_start": SLOT, "energy_kwh": 2.0})
        assert unsigned.value.field == "signature"
        with pytest.raises(MarketError) as forged:  # the seller's own key is not its meter's
            meters.submit_reading(seller, "green", signed(METER_B, "s", 2000))
        assert forged.value.field == "signature" and "not signed by the meter key" in forged.value.message
        assert meters.submit_reading(seller, "green", signed(METER_S, "s", 2000))[0].value == "created"
        # the DSO may relay what the meter signed
        assert meters.submit_reading(dso, "green", {**signed(METER_B, "b", -2000), "member": "b"})[0].value == \
            "created"
        # the buyer's meter read 2.000 kWh; the buyer disputes: 1.5 kWh (a meter fault), approved by both
        dispute = meters.open_dispute(buyer, "green", {"slot_start": SLOT, "energy_kwh": -1.5,
                                                       "reason": "meter replaced after a fault"})
        assert meters.decide(admin, "green", dispute.id, None, approve=True).state == "open"
        with pytest.raises(MarketError) as not_a_decider:
            meters.decide(buyer, "green", dispute.id, None, approve=True)
        assert not_a_decider.value.kind == "forbidden"
        resolved = meters.decide(dso, "green", dispute.id, {"note": "checked on site"}, approve=True)
        assert (resolved.state, dict(resolved.approvals)) == ("resolved", {"admin": "admin", "dso": "grid"})
        (b_reading,) = [r for r in store.meter_readings("green", SLOT) if r.member == "b"]
        assert (b_reading.energy_kwh, b_reading.metered_kwh, b_reading.dispute) == (-1.5, -2.0, dispute.id)

        rec = desk.settle("green", SLOT, clock.now())
        assert rec.state == "settled"
        doc = rec.document["input"]
        assert doc["meters"] == {"b": b_meter.address, "s": s_meter.address}
        assert sorted((r["member"], r["energy_wh"]) for r in doc["signed_readings"]) == [("b", -2000), ("s", 2000)]
        correction = dict(doc["corrections"][0])
        signers = {role: entry["address"] for role, entry in correction.pop("signatures").items()}
        assert correction == {"member": "b", "dispute": dispute.id, "energy_wh": -1500, "metered_wh": -2000,
                              "approved_by": {"admin": "admin", "dso": "grid"}}
        grid_account = store.chain_account("grid")
        assert grid_account is not None and signers == {"admin": desk.admin, "dso": grid_account.address}
        lines = {ln["member"]: ln for ln in rec.document["lines"]}
        assert (lines["b"]["metered_wh"], lines["s"]["metered_wh"]) == (1500, 2000)  # the corrected reading settles

        # any change to what the meters signed or to the approvals: the validators' recomputation refuses it
        for path, value in ((("readings_kwh", "s"), 3000.0), (("signed_readings", 1, "energy_wh"), 3_000_000),
                            (("corrections", 0, "approved_by", "dso"), ""), (("readings_kwh", "b"), -1.0),
                            (("signed_readings", 0, "signature"), "0x" + "11" * 65),
                            (("corrections", 0, "signatures", "dso", "address"), desk.admin),
                            (("corrections", 0, "energy_wh"), -1000), (("readings_kwh", "b"), -1.0)):
            forged_doc = copy.deepcopy(doc)
            target = forged_doc
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = value
            with pytest.raises(SettlementError):
                desk.settlement_postings(forged_doc)
    data = svc.data
    assert verify_archive(data) is None  # `transactive ledger verify`: clean, signatures checked
    archive = SlotArchive(data)
    (number,) = archive.settlement_slots()
    path = archive.settlement_path(number)
    stored = json.loads(path.read_text())
    stored["input"]["readings_kwh"]["s"] = 3000.0  # finding 4's made-up export, written into the archive
    path.write_text(json.dumps(stored))
    found = verify_archive(data)
    assert found is not None and "readings_kwh[s]" in str(found)
