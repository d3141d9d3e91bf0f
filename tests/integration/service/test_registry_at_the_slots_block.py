"""Signed meter readings and correction approvals checked against the Registry as it was at the slot's block
(issue 9): every validator refuses to endorse a settlement input naming a meter key that is not the member's
registered key at its block (one only the database knows, or one replaced since), or approvers without their
roles; the service then leaves the slot ``blocked`` with the reason and nothing opened on chain. ``ledger
verify`` reads the Registry at the slot's ``cleared_block``: an archive endorsed by validators that skipped the
check is reported, and a role removed after the slot does not fail it."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from meter_service_support import METER_B, METER_S, METER_S2, SLOT, MeterService, meter_service
from transactive.crypto.signing import Signer
from transactive.ledger.audit.audit import verify_archive
from transactive.ledger.chain import revm
from transactive.ledger.chain.constants import CLOSE, ROLE_PROSUMER
from transactive.market.ledger import settlement as desk_settlement
from transactive.market.multi_signing import slot_number
from transactive.settlement.meter_readings import correction_digest, sign_reading
from transactive.settlement.metering import SettlementError
from transactive.settlement.sequence import settlement_postings
from transactive.store import MeterKey
from transactive.store import _tables as t


@pytest.fixture
def service(tmp_path: Path) -> Iterator[MeterService]:
    """A cleared and anchored slot: seller ``s`` (a meter key registered by the admin) sold 2 kWh to ``b``."""
    with meter_service(tmp_path, "tk_admin_registry") as svc:
        svc.meters.set_meter(svc.admin, "green", {"member": "s", "meter_address": svc.meter_address(METER_S)})
        svc.trade_and_anchor()
        yield svc


def skip_the_registry_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validators (and an auctioneer) that skip the Registry check -- an older service, or k colluding
    validators -- so that what they endorse reaches the audit."""
    monkeypatch.setattr(desk_settlement, "input_registry_problem", lambda reader, doc: None)
    monkeypatch.setattr(desk_settlement, "validator_postings",
                        lambda reader, doc, domain: settlement_postings(doc, domain))


def test_a_reading_of_a_meter_replaced_before_the_settlement_is_refused(service: MeterService) -> None:
    svc = service
    svc.operator.submit_meter_reading(svc.seller, "green", svc.signed(METER_S, "s", 2000))
    svc.operator.submit_meter_reading(svc.buyer, "green", {"slot_start": SLOT, "energy_kwh": -2.0})
    # the admin replaces the seller's meter (e.g. a compromised key) before the slot settles
    svc.meters.set_meter(svc.admin, "green", {"member": "s", "meter_address": svc.meter_address(METER_S2)})
    rec = svc.desk.settle("green", SLOT, svc.clock.now())
    assert rec.state == "blocked", rec.document
    note = rec.document["note"]
    assert "meters[s]" in note and svc.meter_address(METER_S2) in note and svc.meter_address(METER_S) in note
    assert svc.settlement_state_on_chain() == CLOSE  # nothing committed, nothing endorsed, nothing moved
    # every validator's recomputation refuses the input the same way
    with pytest.raises(SettlementError) as refused:
        svc.desk.settlement_postings(rec.document["input"])
    assert refused.value.field == "meters[s]"
    # the admin resolves it (here: the old meter was fine after all, registered again) and resumes the settlement
    svc.meters.set_meter(svc.admin, "green", {"member": "s", "meter_address": svc.meter_address(METER_S)})
    assert svc.desk.settle("green", SLOT, svc.clock.now()).state == "settled"
    svc.close()
    assert verify_archive(svc.data) is None  # at the slot's block the Registry had the key that signed


def test_the_audit_reads_the_meter_registered_at_the_slots_block(service: MeterService,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    svc = service
    skip_the_registry_check(monkeypatch)
    svc.operator.submit_meter_reading(svc.seller, "green", svc.signed(METER_S, "s", 2000))
    svc.operator.submit_meter_reading(svc.buyer, "green", {"slot_start": SLOT, "energy_kwh": -2.0})
    svc.meters.set_meter(svc.admin, "green", {"member": "s", "meter_address": svc.meter_address(METER_S2)})
    assert svc.desk.settle("green", SLOT, svc.clock.now()).state == "settled"  # the check skipped
    svc.close()
    found = verify_archive(svc.data)  # the old key was known to the Registry, but replaced at the slot's block
    assert found is not None and found.what == "meters[s]", found
    assert "at block" in found.expected and found.found == svc.meter_address(METER_S)


def test_a_meter_key_only_the_database_knows_is_refused_and_caught_by_the_audit(
        service: MeterService, monkeypatch: pytest.MonkeyPatch) -> None:
    """An operator who writes a meter key of its own into the store (not registered in the Registry) gets its
    reading through the intake, but no validator endorses it; validators that skip the check would get it
    endorsed, and ``ledger verify`` finds the meter is not the one the Registry had at the slot's block."""
    svc = service
    rogue = sign_reading(METER_B, "green", "s", slot=slot_number(SLOT), energy_wh=2000, domain=svc.desk.domain)
    svc.store.put_meter_key(MeterKey("s", "green", rogue.meter, "admin", "2026-03-01T10:00:00Z"))  # not on chain
    svc.operator.submit_meter_reading(svc.seller, "green", {"slot_start": SLOT, "energy_kwh": 2.0,
                                                            "signature": rogue.signature})
    svc.operator.submit_meter_reading(svc.buyer, "green", {"slot_start": SLOT, "energy_kwh": -2.0})
    rec = svc.desk.settle("green", SLOT, svc.clock.now())
    assert rec.state == "blocked" and rec.document["input"]["meters"] == {"s": rogue.meter}
    assert "meters[s]" in rec.document["note"] and svc.settlement_state_on_chain() == CLOSE
    skip_the_registry_check(monkeypatch)
    assert svc.desk.settle("green", SLOT, svc.clock.now()).state == "settled"  # e.g. an admin's resume
    svc.close()
    found = verify_archive(svc.data)
    assert found is not None and found.what == "meters[s]", found


def test_validators_refuse_an_input_whose_meter_key_is_not_the_registered_one(service: MeterService) -> None:
    """The input names another key as the seller's meter and carries a reading that key signed: the signatures
    agree with the input, the Registry does not."""
    svc = service
    svc.operator.submit_meter_reading(svc.seller, "green", svc.signed(METER_S, "s", 2000))
    svc.operator.submit_meter_reading(svc.buyer, "green", {"slot_start": SLOT, "energy_kwh": -2.0})
    doc = svc.desk.prepare_settlement("green", SLOT, svc.clock.now()).document["input"]
    svc.desk.settlement_postings(doc)  # as prepared: endorsed
    forged = copy.deepcopy(doc)
    other = sign_reading(METER_B, "green", "s", slot=slot_number(SLOT), energy_wh=3000, domain=svc.desk.domain)
    forged["meters"]["s"] = other.meter
    (k,) = [i for i, r in enumerate(forged["signed_readings"]) if r["member"] == "s"]
    forged["signed_readings"][k] = other.to_json()
    forged["readings_kwh"]["s"] = 3.0
    settlement_postings(forged, svc.desk.domain)  # the signatures alone check out
    with pytest.raises(SettlementError) as refused:
        svc.desk.settlement_postings(forged)
    assert refused.value.field == "meters[s]" and "registered" in refused.value.message


def _dispute(svc: MeterService, approvers: dict[str, Signer] | None = None) -> None:
    """``b`` (with a meter now) disputes its signed -2.0 kWh reading: -1.0 kWh, approved by the admin and the
    DSO (or, with ``approvers``, their signatures replaced in the database by those keys')."""
    svc.meters.set_meter(svc.admin, "green", {"member": "b", "meter_address": svc.meter_address(METER_B)})
    svc.operator.submit_meter_reading(svc.seller, "green", svc.signed(METER_S, "s", 2000))
    svc.operator.submit_meter_reading(svc.buyer, "green", svc.signed(METER_B, "b", -2000))
    dispute = svc.meters.open_dispute(svc.buyer, "green", {"slot_start": SLOT, "energy_kwh": -1.0, "reason": "x"})
    svc.meters.decide(svc.admin, "green", dispute.id, None, approve=True)
    svc.meters.decide(svc.dso, "green", dispute.id, None, approve=True)
    if approvers is not None:
        digest = correction_digest("green", "b", slot_number(SLOT), metered_wh=-2000, corrected_wh=-1000,
                                   dispute=dispute.id, domain=svc.desk.domain)
        forged = {role: {"address": s.address, "signature": "0x" + s.sign_digest(digest).hex()}
                  for role, s in approvers.items()}
        with svc.store.engine.begin() as conn:  # type: ignore[attr-defined]
            conn.execute(t.reading_disputes.update().values(signatures=json.dumps(forged)))


def test_a_correction_signed_by_keys_without_the_roles_is_refused_and_caught_by_the_audit(
        service: MeterService, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = service
    _dispute(svc, {role: Signer(bytes(31) + bytes([k])) for k, role in ((0x61, "admin"), (0x62, "dso"))})
    rec = svc.desk.settle("green", SLOT, svc.clock.now())
    assert rec.state == "blocked" and "corrections[b].signatures.admin" in rec.document["note"]
    skip_the_registry_check(monkeypatch)
    assert svc.desk.settle("green", SLOT, svc.clock.now()).state == "settled"
    svc.close()
    found = verify_archive(svc.data)
    assert found is not None and found.what == "corrections[b].signatures.admin", found


def test_a_role_removed_after_the_slot_does_not_fail_its_audit(service: MeterService) -> None:
    svc = service
    _dispute(svc)
    assert svc.desk.settle("green", SLOT, svc.clock.now()).state == "settled"
    grid = svc.store.chain_account("grid")
    assert grid is not None
    registry, chain = svc.desk.registry, svc.desk.chain
    bus = chain.call(registry, "bus", grid.address)
    chain.transact(registry, "set_member", grid.address, ROLE_PROSUMER, bus, sender=svc.desk.admin)  # no more DSO
    svc.close()
    assert verify_archive(svc.data) is None  # the DSO approved while it held the role


def test_the_audit_replays_the_chain_once_for_every_slots_registry(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Two slots, each anchored then settled (market and settlement slots interleave on chain): the audit reads
    the Registry at each of the four slots' ``cleared_block`` in increasing block order, so the revm engine
    rebuilds those past states in one forward replay (at most one replay per block), and it is clean."""
    second = "2026-03-01T10:30:00Z"
    with meter_service(tmp_path, "tk_admin_replay") as svc:
        svc.meters.set_meter(svc.admin, "green", {"member": "s", "meter_address": svc.meter_address(METER_S)})
        for slot in (SLOT, second):
            svc.trade_and_anchor(slot)
            svc.operator.submit_meter_reading(svc.seller, "green", svc.signed(METER_S, "s", 2000, slot))
            svc.operator.submit_meter_reading(svc.buyer, "green", {"slot_start": slot, "energy_kwh": -2.0})
            assert svc.desk.settle("green", slot, svc.clock.now()).state == "settled"
        head = svc.desk.chain.block_number()
        svc.close()
    replayed: list[int] = []
    replay = revm._Machine.replay

    def counted(machine: revm._Machine, block: revm.MinedBlock) -> None:
        replayed.append(block.number)
        replay(machine, block)

    monkeypatch.setattr(revm._Machine, "replay", counted)
    assert verify_archive(svc.data) is None
    # opening the archive's chain replays it once (to the head); the past states are a second, forward pass
    assert len(replayed) <= 2 * head, (len(replayed), head)
