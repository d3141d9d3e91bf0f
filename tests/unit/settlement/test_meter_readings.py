"""Signed meter readings: the digest equals eth-account's EIP-712 encoding and eth-account's signature of it
recovers to the meter (an independent implementation), any change to the signed fields fails verification, and
the settlement input's rules (signed value = settled value, or a correction approved by an admin and a DSO)."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from hypothesis import given
from hypothesis import strategies as st

from transactive.crypto.eip712 import Domain
from transactive.crypto.signing import Signer
from transactive.settlement.meter_readings import (
    READING_FIELDS,
    SignedReading,
    check_input_readings,
    correction_digest,
    reading_digest,
    sign_reading,
    verify_reading,
)
from transactive.settlement.metering import SettlementError

DOMAIN = Domain(chain_id=1337, verifying_contract="0x" + "ab" * 20)
METER = bytes(31) + b"\x31"
SLOT = 1772361000


def _eth_account_message(community: str, member: str, slot: int, energy_wh: int) -> Any:
    return encode_typed_data(full_message={
        "types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                                   {"name": "chainId", "type": "uint256"},
                                   {"name": "verifyingContract", "type": "address"}],
                  "MeterReading": [{"name": n, "type": t} for n, t in READING_FIELDS]},
        "primaryType": "MeterReading", "domain": DOMAIN.as_dict(),
        "message": {"community": community, "member": member, "slot": slot, "energyWh": energy_wh}})


@given(member=st.text(min_size=1, max_size=20), slot=st.integers(0, 2**40),
       energy_wh=st.integers(-250_000, 250_000))
def test_a_meter_signature_made_by_eth_account_verifies(member: str, slot: int, energy_wh: int) -> None:
    signed = Account.sign_message(_eth_account_message("green", member, slot, energy_wh), METER)
    reading = SignedReading("green", member, slot, energy_wh, Account.from_key(METER).address,
                            "0x" + bytes(signed.signature).hex())
    verify_reading(reading, DOMAIN, field="r")
    assert reading_digest("green", member, slot, energy_wh, DOMAIN) == bytes(signed.message_hash)
    ours = sign_reading(METER, "green", member, slot=slot, energy_wh=energy_wh, domain=DOMAIN)
    assert ours.meter == reading.meter
    verify_reading(ours, DOMAIN, field="r")


@pytest.mark.parametrize("change", [{"energy_wh": 2001}, {"member": "bob"}, {"slot": SLOT + 900},
                                    {"community": "blue"}, {"meter": "0x" + "22" * 20},
                                    {"signature": "0x" + "11" * 65}, {"signature": "0xzz"}])
def test_any_change_fails_naming_the_signature(change: dict[str, Any]) -> None:
    good = sign_reading(METER, "green", "alice", slot=SLOT, energy_wh=2000, domain=DOMAIN)
    verify_reading(good, DOMAIN, field="r")
    with pytest.raises(SettlementError) as bad:
        verify_reading(SignedReading(**{**good.to_json(), **change}), DOMAIN, field="r")
    assert bad.value.field == "r.signature"
    with pytest.raises(SettlementError):  # another domain (another chain or contract)
        verify_reading(good, Domain(chain_id=1, verifying_contract="0x" + "ab" * 20), field="r")


def _doc(**over: Any) -> dict[str, Any]:
    signed = sign_reading(METER, "green", "alice", slot=SLOT, energy_wh=-2000, domain=DOMAIN)
    return {"multiSlot": SLOT, "readings_kwh": {"alice": -2.0, "bob": 1.0},
            "meters": {"alice": signed.meter}, "signed_readings": [signed.to_json()], "corrections": [], **over}


def test_input_rules() -> None:
    check_input_readings(_doc(), DOMAIN)
    check_input_readings({"multiSlot": SLOT, "readings_kwh": {"x": 1.0}}, DOMAIN)  # an older input: nothing
    check_input_readings(_doc(readings_kwh={"bob": 1.0}), DOMAIN)  # a metered member without a reading: 0
    for doc, field in ((_doc(readings_kwh={"alice": -2.5}), "readings_kwh[alice]"),
                       (_doc(signed_readings=[]), "readings_kwh[alice]"),
                       (_doc(meters={"alice": "0x" + "22" * 20}), "signed_readings[0].meter"),
                       (_doc(multiSlot=SLOT + 900), "signed_readings[0].slot")):
        with pytest.raises(SettlementError) as bad:
            check_input_readings(doc, DOMAIN)
        assert bad.value.field == field
    digest = correction_digest("green", "alice", SLOT, metered_wh=-2000, corrected_wh=-1500, dispute="d1",
                               domain=DOMAIN)
    approvers = {role: Signer(bytes(31) + bytes([k])) for k, role in ((0x51, "admin"), (0x52, "dso"))}
    signatures = {role: {"address": s.address, "signature": "0x" + s.sign_digest(digest).hex()}
                  for role, s in approvers.items()}
    correction = {"member": "alice", "dispute": "d1", "energy_wh": -1500, "metered_wh": -2000,
                  "approved_by": {"admin": "root", "dso": "grid"}, "signatures": signatures}
    check_input_readings(_doc(readings_kwh={"alice": -1.5}, corrections=[correction]), DOMAIN)
    swapped = {"admin": signatures["admin"], "dso": {**signatures["dso"], "address": approvers["admin"].address}}
    for wrong, field in (({"approved_by": {"admin": "root"}}, "corrections[alice].approved_by"),
                         ({"metered_wh": -2500}, "corrections[alice]"), ({"energy_wh": -1000}, "corrections[alice]"),
                         ({"signatures": {"admin": signatures["admin"]}}, "corrections[alice].signatures.dso"),
                         ({"signatures": swapped}, "corrections[alice].signatures.dso"),
                         ({"dispute": "d2"}, "corrections[alice].signatures.admin")):
        with pytest.raises(SettlementError) as bad:
            check_input_readings(_doc(readings_kwh={"alice": -1.5}, corrections=[{**correction, **wrong}]), DOMAIN)
        assert bad.value.field == field
