"""Meter identities, meter readings and their disputes (``docs/service.md``, "Meter readings people can trust").

* **Meter keys.** A member's meter holds a key; its address is registered for the member by an admin (at
  enrolment, ``POST /admin/.../members`` with ``meter_address``, or later, replacing it) or by the member itself
  while none is registered (*choice*: a member cannot swap the key of a meter the DSO trusts). With the ledger,
  the address is also written to the chain's Registry (``set_meter``), where validators and ``transactive ledger
  verify`` find it.
* **Readings** (net kWh over an ended slot, + exported): bounded by the connection over the slot. A member
  with a meter key has only **signed** readings: ``signature`` is its meter's EIP-712 signature of
  ``MeterReading(community, member, slot, energyWh)`` (:mod:`transactive.settlement.meter_readings`, the same
  :func:`~transactive.settlement.meter_readings.verify_reading` that validators and the audit run), and the value
  is whole Wh; anyone may relay such a reading, but the DSO or an admin can report nothing else for that member.
  Members without a meter key keep the older rule: the member's own reading wins over one the DSO or an admin
  reported for it.
* **Disputes.** A stored reading is never overwritten: the member (or the DSO, or an admin) opens a dispute
  proposing another value with a reason; an admin and a DSO member must both approve it (either rejects it),
  and the resolution -- approvers, time, note -- is kept with the dispute; settlement then reads the
  proposed value, and a settlement input carries the correction next to the meter's signed reading. After the
  slot's settlement is prepared, no dispute opens or changes (409).
* **Final readings.** The settlement closes the slot's readings in the store before it reads them
  (:meth:`~transactive.store.protocol.Store.close_meter_readings`): from then on the slot's settlement counts
  as prepared, and a reading the store would store, or a dispute opened or decided, is refused in the
  transaction of its write (409), so every stored reading and resolved correction is settled.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from transactive.crypto.eip712 import Domain
from transactive.crypto.encoding import EncodingError, checksum
from transactive.crypto.signing import Signer
from transactive.errors import MarketError
from transactive.market.multi_signing import OFF_CHAIN_DOMAIN, slot_number
from transactive.market.order_limits import MAX_CONNECTION_KW, max_order_energy_kwh
from transactive.market.slots import parse_slot_start
from transactive.settlement.meter_readings import SignedReading, correction_digest, verify_reading
from transactive.settlement.metering import SettlementError
from transactive.store import Community, Member, MeterKey, MeterReading, Outcome, ReadingDispute, Role
from transactive.times import iso
from transactive.units import energy_to_wh

if TYPE_CHECKING:
    from transactive.market.operator import Operator

TRADING: tuple[Role, ...] = ("prosumer", "aggregator")
DECIDERS: tuple[Role, ...] = ("admin", "dso")
ADMIN_ONLY: tuple[Role, ...] = ("admin",)
MAX_REASON = 500
FINAL = "the slot's settlement is prepared: its readings are final"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def checked_address(value: object, field: str) -> str:
    """``value`` as an EIP-55 address (:class:`MarketError` naming ``field``)."""
    if not isinstance(value, str):
        raise MarketError(field, "must be a 20-byte hex address (0x...)")
    try:
        return checksum(value)
    except (EncodingError, ValueError) as exc:
        raise MarketError(field, f"must be a 20-byte hex address (0x...): {exc}") from None


def _fields(body: object, allowed: set[str], required: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise MarketError("(body)", "must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise MarketError(unknown[0], "unknown field")
    for key in required:
        if key not in body:
            raise MarketError(key, "required")
    return body


class _Lookups:
    """What every reading of a burst looks up, read once per burst: the community's meter keys and, per slot,
    whether its settlement is prepared (neither changes while a burst of readings is stored)."""

    def __init__(self, desk: MeterDesk) -> None:
        self.desk = desk
        self.keys: dict[str, dict[str, MeterKey]] = {}
        self.prepared: dict[tuple[str, str], bool] = {}

    def meter_keys(self, community: str) -> dict[str, MeterKey]:
        if community not in self.keys:
            self.keys[community] = self.desk.op.store.meter_keys(community)
        return self.keys[community]

    def settlement_prepared(self, community: str, slot_start: str) -> bool:
        if (community, slot_start) not in self.prepared:
            self.prepared[community, slot_start] = self.desk._settlement_prepared(community, slot_start)
        return self.prepared[community, slot_start]


class MeterDesk:
    """Meter keys, readings and disputes over the operator's store (and its ledger, when it runs)."""

    def __init__(self, operator: Operator) -> None:
        self.op = operator

    @property
    def domain(self) -> Domain:
        """The EIP-712 domain meters sign in: the chain's when the ledger runs, else the off-chain one."""
        return OFF_CHAIN_DOMAIN if self.op.ledger is None else self.op.ledger.domain

    def _subject(self, caller: Member, c: Community, body: Mapping[str, Any], roles: tuple[Role, ...],
                 what: str) -> Member:
        """The member a request is about: ``body["member"]`` (for ``roles`` only) or the caller (a trader)."""
        if "member" in body and body["member"] != caller.id:
            self.op.require(caller, roles, what)
            target = self.op.store.get_member(body["member"]) if isinstance(body["member"], str) else None
            if target is None or target.community != c.name:
                raise MarketError("member", "no such member in this community")
            return target
        self.op.require(caller, TRADING, what)
        return caller

    # ------------------------------------------------------------------------------------ meter keys
    def set_meter(self, caller: Member, community: str, body: object) -> MeterKey:
        """Register a member's meter key (``{"meter_address", "member"?}``)."""
        c = self.op.community_for(caller, community)
        fields = _fields(body, {"meter_address", "member"}, ("meter_address",))
        subject = self._subject(caller, c, fields, ADMIN_ONLY, "registering another member's meter")
        address = checked_address(fields["meter_address"], "meter_address")
        existing = self.op.store.meter_keys(c.name).get(subject.id)
        if existing is not None and caller.role != "admin":
            if existing.address == address:
                return existing
            raise MarketError("meter_address", f"your meter key {existing.address} is registered; only an admin "
                              "replaces it", "conflict")
        key = MeterKey(subject.id, c.name, address, caller.id, _stamp(self.op.clock.now()))
        self._register_on_chain(subject, address)
        self.op.store.put_meter_key(key)
        return key

    def _register_on_chain(self, member: Member, meter: str) -> None:
        ledger = self.op.ledger
        if ledger is None:
            return
        account = ledger.enrol(member)
        if account is None:
            raise MarketError("member", f"a {member.role} has no chain account, so no meter")
        try:
            with ledger.lock:
                ledger.chain.transact(ledger.registry, "set_meter", account.address, meter)
        except Exception as exc:  # e.g. the Registry of a deployment older than meter keys: nothing is stored
            raise MarketError("meter_address", f"the chain's Registry refused it: {exc}", "conflict") from None

    def meters(self, caller: Member, community: str) -> list[MeterKey]:
        """The community's meter keys (admin, DSO, validator); a trader's own."""
        c = self.op.community_for(caller, community)
        keys = self.op.store.meter_keys(c.name)
        if caller.role in ("admin", "dso", "validator"):
            return [keys[m] for m in sorted(keys)]
        return [keys[caller.id]] if caller.id in keys else []

    # ------------------------------------------------------------------------------------ readings
    def submit_reading(self, caller: Member, community: str, body: object) -> tuple[Outcome, MeterReading]:
        """A slot's net metered energy (kWh, + exported / - imported), signed by the meter where it has a key:
        :meth:`submit_readings` of it alone."""
        return self.submit_readings(community, [(caller, body)])[0]

    def submit_readings(self, community: str, readings: Sequence[tuple[Member, object]]
                        ) -> list[tuple[Outcome, MeterReading]]:
        """A burst of readings ``(caller, body)``, answered and stored exactly as one by one in order: all the
        burst's reads first (members, the meter keys and the slots' settlement state once), then the readings in
        one store write (:meth:`~transactive.store.protocol.Store.put_meter_readings`). A refused reading raises
        its :class:`MarketError`; the readings before it stay stored, none after it is (*choice*: as one by one,
        so a gateway relaying many members' readings loses none of the good ones before a bad one)."""
        lookups = _Lookups(self)
        answers: list[tuple[Outcome, MeterReading] | None] = []
        pending: list[tuple[int, MeterReading, str]] = []  # (index in the burst, reading, reported by)
        refused: MarketError | None = None
        for caller, body in readings:
            try:
                checked = self._checked(caller, community, body, lookups)
            except MarketError as exc:
                refused = exc
                break
            if isinstance(checked, MeterReading):
                pending.append((len(answers), checked, caller.id))
                answers.append(None)
            else:
                answers.append(checked)
        stored = self.op.store.put_meter_readings([(r, by) for _, r, by in pending]) if pending else []
        for (index, _, _), (outcome, reading) in zip(pending, stored, strict=False):  # stops at a conflict
            if outcome is Outcome.CLOSED:  # the settlement read the slot's readings since the check above
                raise MarketError("slot_start", FINAL, "conflict")
            if outcome is Outcome.CONFLICT:
                raise MarketError("energy_kwh", f"a different reading ({reading.energy_kwh} kWh) is already "
                                  "stored; a correction is a dispute", "conflict")
            answers[index] = (outcome, reading)
        if refused is not None:
            raise refused
        return [answer for answer in answers if answer is not None]

    def _checked(self, caller: Member, community: str, body: object, lookups: _Lookups
                 ) -> MeterReading | tuple[Outcome, MeterReading]:
        """A reading's checks (:class:`MarketError` when refused): the reading to store, or the answer when its
        slot's settlement is prepared (the same value again is a duplicate). Reads the store, never writes."""
        c = self.op.community_for(caller, community)
        fields = _fields(body, {"slot_start", "energy_kwh", "member", "signature"}, ())
        subject = self._subject(caller, c, fields, DECIDERS, "reporting another member's meter")
        for key in ("slot_start", "energy_kwh"):
            if key not in fields:
                raise MarketError(key, "required")
        start = parse_slot_start(fields["slot_start"], c.slot_minutes)
        energy_kwh = self._energy(fields["energy_kwh"], c, "energy_kwh")
        if self.op.clock.now() < start + timedelta(minutes=c.slot_minutes):
            raise MarketError("slot_start", "the slot has not ended yet")
        meter = lookups.meter_keys(c.name).get(subject.id)
        meter_address = signature = None
        if meter is not None:
            signature = self._signed(caller, subject, c, meter, start=start, energy_kwh=energy_kwh,
                                     signature=fields.get("signature"))
            meter_address = meter.address
        elif "signature" in fields:
            raise MarketError("signature", f"{subject.id} has no registered meter key")
        reading = MeterReading(c.name, subject.id, iso(start), energy_kwh + 0.0, _stamp(self.op.clock.now()),
                               meter_address, signature)
        if lookups.settlement_prepared(c.name, iso(start)):
            same = [r for r in self.op.store.meter_readings(c.name, iso(start))
                    if r.member == subject.id and r.energy_kwh == reading.energy_kwh]
            if same:
                return Outcome.DUPLICATE, same[0]
            raise MarketError("slot_start", FINAL, "conflict")
        # the member's own (or its meter's) reading replaces one the DSO or an admin reported, never the reverse
        return reading

    @staticmethod
    def _energy(value: object, c: Community, field: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise MarketError(field, "must be a number")
        try:
            energy_kwh = float(value)
        except OverflowError:
            raise MarketError(field, "is absurdly large") from None
        if not math.isfinite(energy_kwh):
            raise MarketError(field, "must be a finite number")
        limit = max_order_energy_kwh(c.slot_minutes)  # what the connection carries in the slot
        if abs(energy_kwh) > limit:
            raise MarketError(field, f"must be within ±{limit:g} kWh (a {MAX_CONNECTION_KW:g} kW connection "
                              f"over a {c.slot_minutes}-minute slot), got {energy_kwh:g}")
        return energy_kwh

    def _signed(self, caller: Member, subject: Member, c: Community, meter: MeterKey, *, start: datetime,
                energy_kwh: float, signature: object) -> str:
        """The checked signature of a metered member's reading (:func:`verify_reading`, the validators' check)."""
        if signature is None:
            if caller.id != subject.id:
                raise MarketError("Authorization", f"{subject.id} has a meter key: only a reading its meter signed "
                                  "is taken for it", "forbidden")
            raise MarketError("signature", f"required: your readings are signed by your meter ({meter.address})")
        if not isinstance(signature, str):
            raise MarketError("signature", "must be 0x-hex (65 bytes)")
        energy_wh = energy_to_wh(energy_kwh)
        if abs(energy_wh - energy_kwh * 1000) > 1e-6:
            raise MarketError("energy_kwh", "a signed reading is a whole number of Wh")
        signed = SignedReading(c.name, subject.id, slot_number(start), energy_wh, meter.address, signature)
        try:
            verify_reading(signed, self.domain, field="reading")
        except SettlementError as exc:
            raise MarketError("signature", exc.message) from None
        return signature

    def _settlement_prepared(self, community: str, slot_start: str) -> bool:
        """Whether the slot's settlement has read its readings (closed them) or is stored (by an older service)."""
        store = self.op.store
        return store.meter_readings_closed(community, slot_start) or (
            self.op.ledger is not None and store.get_ledger_slot(community, slot_start, "settlement") is not None)

    def readings(self, caller: Member, community: str, slot_start: str) -> list[MeterReading]:
        """A slot's readings (admin, DSO, validator); a trader's own."""
        c = self.op.community_for(caller, community)
        start = iso(parse_slot_start(slot_start, c.slot_minutes))
        found = self.op.store.meter_readings(c.name, start)
        if caller.role in ("admin", "dso", "validator"):
            return found
        return [r for r in found if r.member == caller.id]

    # ------------------------------------------------------------------------------------ disputes
    def open_dispute(self, caller: Member, community: str, body: object) -> ReadingDispute:
        """Propose another value for a stored reading (``{"slot_start", "energy_kwh", "reason", "member"?}``)."""
        c = self.op.community_for(caller, community)
        fields = _fields(body, {"slot_start", "energy_kwh", "reason", "member"}, ("slot_start", "energy_kwh",
                                                                                 "reason"))
        subject = self._subject(caller, c, fields, DECIDERS, "disputing another member's reading")
        start = iso(parse_slot_start(fields["slot_start"], c.slot_minutes))
        proposed = self._energy(fields["energy_kwh"], c, "energy_kwh")
        reason = fields["reason"]
        if not isinstance(reason, str) or not 1 <= len(reason.strip()) <= MAX_REASON:
            raise MarketError("reason", f"must be 1-{MAX_REASON} characters")
        if self._settlement_prepared(c.name, start):
            raise MarketError("slot_start", FINAL, "conflict")
        stored = next((r for r in self.op.store.meter_readings(c.name, start) if r.member == subject.id), None)
        if stored is None:
            raise MarketError("slot_start", f"no reading of {subject.id} for this slot to dispute", "not_found")
        if stored.dispute is None and proposed == stored.energy_kwh:
            raise MarketError("energy_kwh", "is the stored reading")
        dispute = ReadingDispute(uuid.uuid4().hex, c.name, subject.id, start, stored.energy_kwh, proposed + 0.0,
                                 reason.strip(), caller.id, _stamp(self.op.clock.now()))
        if not self.op.store.put_dispute(dispute):
            if self._settlement_prepared(c.name, start):  # the settlement read the readings since the check above
                raise MarketError("slot_start", FINAL, "conflict")
            raise MarketError("slot_start", "this reading has an open or resolved dispute already", "conflict")
        return dispute

    def decide(self, caller: Member, community: str, dispute_id: str, body: object, *, approve: bool
               ) -> ReadingDispute:
        """An admin's or a DSO's approval (resolved once both approved) or rejection (``{"note"?}``)."""
        c = self.op.community_for(caller, community)
        self.op.require(caller, DECIDERS, "deciding a reading dispute")
        fields = _fields(body if body is not None else {}, {"note"}, ())
        note = fields.get("note", "")
        if not isinstance(note, str) or len(note) > MAX_REASON:
            raise MarketError("note", f"must be a string of at most {MAX_REASON} characters")
        for _ in range(3):  # compare-and-set: a concurrent approval is re-read and kept
            dispute = self.op.store.dispute(c.name, dispute_id)
            if dispute is None:
                raise MarketError("dispute", f"no dispute {dispute_id[:64]!r}", "not_found")
            if dispute.state != "open":
                raise MarketError("dispute", f"the dispute is {dispute.state} already", "conflict")
            if self._settlement_prepared(c.name, dispute.slot_start):
                raise MarketError("dispute", FINAL, "conflict")
            approvals = dict(dispute.approvals)
            now = _stamp(self.op.clock.now())
            signatures = dict(dispute.signatures)
            if approve:
                approvals[caller.role] = caller.id
                signature = self._sign_correction(caller, dispute)
                if signature is not None:
                    signatures[caller.role] = signature
                done = all(role in approvals for role in DECIDERS)
                state, resolution = ("resolved", note or "approved by an admin and a DSO") if done else ("open", "")
            else:
                state, resolution = "rejected", note or f"rejected by {caller.id} ({caller.role})"
            decided = replace(dispute, approvals=approvals, state=state, resolution=resolution,
                              resolved_at=now if state != "open" else None, signatures=signatures)
            if self.op.store.update_dispute(decided, dict(dispute.approvals)):
                return decided
        raise MarketError("dispute", "changed by another decision meanwhile: retry", "conflict")

    def _sign_correction(self, caller: Member, dispute: ReadingDispute) -> dict[str, str] | None:
        """With the ledger, the approver's key signs the correction (a DSO member's custodial key; for an admin the
        ledger's admin account, which holds the Registry's admin role); None without the ledger."""
        ledger = self.op.ledger
        if ledger is None:
            return None
        if caller.role == "admin":
            key = ledger.chain.private_key(ledger.admin)
        else:
            account = ledger.enrol(caller)
            if account is None or account.private_key_hex is None:
                raise MarketError("Authorization", "your chain account is not custodial: the service cannot sign "
                                  "the correction for you", "forbidden")
            key = bytes.fromhex(account.private_key_hex)
        signer = Signer(key)
        digest = correction_digest(dispute.community, dispute.member, slot_number(dispute.slot_start),
                                   metered_wh=energy_to_wh(dispute.metered_kwh),
                                   corrected_wh=energy_to_wh(dispute.proposed_kwh), dispute=dispute.id,
                                   domain=self.domain)
        return {"address": signer.address, "signature": "0x" + signer.sign_digest(digest).hex()}

    def disputes(self, caller: Member, community: str, slot_start: str | None) -> list[ReadingDispute]:
        """The disputes (admin, DSO, validator: all; a trader: those on its readings), of one slot if given."""
        c = self.op.community_for(caller, community)
        start = None if slot_start is None else iso(parse_slot_start(slot_start, c.slot_minutes))
        found = self.op.store.disputes(c.name, start)
        if caller.role in ("admin", "dso", "validator"):
            return found
        return [d for d in found if d.member == caller.id]
