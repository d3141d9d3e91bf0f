"""Signed meter readings (seed 004's smart meters): a member's meter holds a key, registered for the member (the
chain's Registry ``meter`` of its account, and the service's store), and signs each slot's net reading as the
EIP-712 message (:mod:`transactive.crypto.eip712`, in the service's domain)

``MeterReading(string community,string member,uint256 slot,int256 energyWh)``

with ``slot`` the Unix seconds of the slot start (as a contract's slots) and ``energyWh`` the net energy at the
meter over the slot, whole Wh (+ exported / − imported). :func:`verify_reading` is the one check: the intake
(``market/meters.py``), every validator's recomputation of a settlement input and ``transactive ledger verify``
(both through :func:`check_input_readings`, called by ``settlement.sequence.settle_sequence``) call it.

A settlement input (``transactive.settlement-input/3``) of a slot where a party has a registered meter carries
three optional fields (absent otherwise, so older inputs verify unchanged):

* ``meters``: member -> the meter address registered when the input was built;
* ``signed_readings``: the meter-signed readings (:meth:`SignedReading.to_json`) of those members;
* ``corrections``: readings corrected by a resolved dispute ``{"member", "dispute", "metered_wh", "energy_wh",
  "approved_by": {"admin": id, "dso": id}, "signatures": {"admin" | "dso": {"address", "signature"}}}`` -- the
  approvers' EIP-712 signatures of ``ReadingCorrection(string community,string member,uint256 slot,int256
  meteredWh,int256 correctedWh,string dispute)``; the meter's signed reading stays as it was (never
  overwritten) and ``readings_kwh`` holds the corrected value.

:func:`check_input_readings` requires, for every member of ``meters`` with a value in ``readings_kwh``: a
signed reading by that meter for this slot with exactly that value, or a correction approved by an admin and a
DSO (both signatures valid) whose ``metered_wh`` is the signed reading's value; a signed reading of another
slot, member or value, or by another key, is a :class:`SettlementError` naming the entry.

Example:
    >>> from transactive.crypto.eip712 import Domain
    >>> domain = Domain(chain_id=0, verifying_contract="0x" + "00" * 20)
    >>> signed = sign_reading(bytes(31) + b"\\x09", "green", "alice", slot=1772361000, energy_wh=-1250,
    ...                       domain=domain)
    >>> verify_reading(signed, domain, field="reading")  # no error: signed by the key it names
    >>> signed.energy_wh
    -1250
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from transactive.crypto.eip712 import DOMAIN_FIELDS, Domain, Types, digest_of, hash_struct
from transactive.crypto.encoding import EncodingError, checksum
from transactive.crypto.signing import SignatureError, Signer, recover_address
from transactive.settlement.metering import SettlementError
from transactive.units import energy_to_wh

if TYPE_CHECKING:
    from transactive.settlement.input import InputCorrection, SettlementInput

__all__ = ["CORRECTION_TYPES", "READING_TYPES", "SignedReading", "check_approvals", "check_input_readings",
           "correction_digest", "reading_digest", "sign_reading", "verify_reading"]

READING_FIELDS: tuple[tuple[str, str], ...] = (
    ("community", "string"),
    ("member", "string"),
    ("slot", "uint256"),
    ("energyWh", "int256"),
)
READING_TYPES: Types = {"EIP712Domain": DOMAIN_FIELDS, "MeterReading": READING_FIELDS}
CORRECTION_FIELDS: tuple[tuple[str, str], ...] = (
    ("community", "string"),
    ("member", "string"),
    ("slot", "uint256"),
    ("meteredWh", "int256"),
    ("correctedWh", "int256"),
    ("dispute", "string"),
)
CORRECTION_TYPES: Types = {"EIP712Domain": DOMAIN_FIELDS, "ReadingCorrection": CORRECTION_FIELDS}
APPROVING_ROLES = ("admin", "dso")


def correction_digest(community: str, member: str, slot: int, *, metered_wh: int, corrected_wh: int, dispute: str,
                      domain: Domain) -> bytes:
    """The digest an approver (an admin's, a DSO's key) signs to resolve a dispute: the meter's value and the
    corrected one."""
    return digest_of(domain.separator, hash_struct("ReadingCorrection", CORRECTION_TYPES, {
        "community": community, "member": member, "slot": slot, "meteredWh": metered_wh, "correctedWh": corrected_wh,
        "dispute": dispute}))


def check_approvals(correction: InputCorrection, community: str, slot: int, domain: Domain, field: str) -> None:
    """A correction's ``signatures`` ({role: {"address", "signature"}}): an admin's and a DSO's, each over
    :func:`correction_digest` of this correction (the audit checks the addresses' Registry roles)."""
    metered = correction.metered_wh
    digest = correction_digest(community, correction.member, slot, metered_wh=0 if metered is None else metered,
                               corrected_wh=correction.energy_wh, dispute=correction.dispute, domain=domain)
    for role in APPROVING_ROLES:
        entry = correction.signatures.get(role)
        if entry is None:
            raise SettlementError(f"{field}.signatures.{role}", "missing: an admin and a DSO sign a correction")
        try:
            signer = recover_address(digest, bytes.fromhex(entry["signature"].removeprefix("0x")))
            expected = checksum(entry["address"])
        except (KeyError, ValueError, SignatureError, EncodingError) as exc:
            raise SettlementError(f"{field}.signatures.{role}", f"not a valid signature: {exc}") from None
        if signer != expected:
            raise SettlementError(f"{field}.signatures.{role}", f"not signed by {expected} over this correction")


def reading_digest(community: str, member: str, slot: int, energy_wh: int, domain: Domain) -> bytes:
    """The digest a meter signs for one slot's reading."""
    return digest_of(domain.separator, hash_struct("MeterReading", READING_TYPES, {
        "community": community, "member": member, "slot": slot, "energyWh": energy_wh}))


@dataclass(frozen=True)
class SignedReading:
    """One slot's reading as the meter signed it: ``energy_wh`` (+ exported), ``meter`` the address whose key
    signed, ``signature`` 65 bytes ``r ‖ s ‖ v`` as ``0x``-hex."""

    community: str
    member: str
    slot: int
    energy_wh: int
    meter: str
    signature: str

    def digest(self, domain: Domain) -> bytes:
        return reading_digest(self.community, self.member, self.slot, self.energy_wh, domain)

    def to_json(self) -> dict[str, Any]:
        return {"community": self.community, "member": self.member, "slot": self.slot, "energy_wh": self.energy_wh,
                "meter": self.meter, "signature": self.signature}


def sign_reading(private_key: bytes, community: str, member: str, *, slot: int, energy_wh: int,
                 domain: Domain) -> SignedReading:
    """The meter's signature of a reading (the meter's key; the CLI's ``transactive sign reading``)."""
    signer = Signer(private_key)
    signature = signer.sign_digest(reading_digest(community, member, slot, energy_wh, domain))
    return SignedReading(community, member, slot, energy_wh, signer.address, "0x" + signature.hex())


def verify_reading(reading: SignedReading, domain: Domain, *, field: str) -> None:
    """:class:`SettlementError` (``field``.signature) unless ``reading.signature`` is the key of ``reading.meter``
    over exactly this community, member, slot and energy, in ``domain``."""
    try:
        raw = bytes.fromhex(reading.signature.removeprefix("0x"))
        signer = recover_address(reading.digest(domain), raw)
        meter = checksum(reading.meter)
    except (ValueError, SignatureError, EncodingError) as exc:
        raise SettlementError(f"{field}.signature", f"not a valid signature: {exc}") from None
    if signer != meter:
        raise SettlementError(f"{field}.signature", f"not signed by the meter key {meter} (signed by {signer}) over "
                              f"this reading ({reading.energy_wh} Wh, {reading.member}, slot {reading.slot})")


def check_input_readings(doc: SettlementInput | Mapping[str, Any], domain: Domain) -> None:
    """The readings of a settlement input (the record, or its JSON: ``multiSlot``, ``readings_kwh`` and the
    meter fields) against its meters (see the module docstring); nothing to check in an input without
    ``meters``. A malformed meter field is an :class:`~transactive.settlement.input.InputError` naming it."""
    from transactive.settlement.input import SettlementInput, meter_fields_of  # the record imports this module

    if isinstance(doc, SettlementInput):
        meters, signed_readings, corrections_of = doc.meters or {}, doc.signed_readings, doc.corrections
        readings, slot = doc.readings_kwh, doc.multi_slot
    else:
        parts = meter_fields_of(doc)
        meters, signed_readings, corrections_of = (parts.get("meters") or {}, parts.get("signed_readings"),
                                                   parts.get("corrections"))
        if not meters:
            return
        readings, slot = doc["readings_kwh"], int(doc["multiSlot"])
    if not meters:
        return
    signed: dict[str, SignedReading] = {}
    for k, reading in enumerate(signed_readings or ()):
        field = f"signed_readings[{k}]"
        if reading.member not in meters or checksum(reading.meter) != checksum(meters[reading.member]):
            raise SettlementError(f"{field}.meter", f"is not the meter registered for {reading.member!r}")
        if reading.slot != slot:
            raise SettlementError(f"{field}.slot", f"is {reading.slot}, the input's slot is {slot}")
        verify_reading(reading, domain, field=field)
        signed[reading.member] = reading
    corrections = {c.member: c for c in corrections_of or ()}
    for member in sorted(meters):
        if member not in readings:
            continue
        value_wh = energy_to_wh(float(readings[member]))
        own = signed.get(member)
        correction = corrections.get(member)
        if correction is None:
            if own is None or own.energy_wh != value_wh:
                raise SettlementError(f"readings_kwh[{member}]", "is not the reading signed by the member's meter")
            continue
        if any(not correction.approved_by.get(role) for role in APPROVING_ROLES):
            raise SettlementError(f"corrections[{member}].approved_by", "needs an admin's and a DSO's approval")
        metered = correction.metered_wh
        if correction.energy_wh != value_wh or (metered is not None and (own is None or own.energy_wh != metered)):
            raise SettlementError(f"corrections[{member}]", "does not match the signed and the settled reading")
        community = own.community if own is not None else ""  # the approvers signed over the reading's community
        check_approvals(correction, community, slot, domain, f"corrections[{member}]")
