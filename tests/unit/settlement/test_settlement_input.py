"""The settlement input as a typed record (:class:`transactive.settlement.input.SettlementInput`): every stored
version reads back to the same JSON and the same digest (the on-chain order root), and bad input is a field
error naming the key.

The fixtures are independent of the record: ``settlement_input_v2_*.json`` were archived by an older service,
``settlement_inputs_before_records.json`` holds inputs (formats 1 and 3) and their digests as the code before the
typed record built them (``sequence_input`` over ``tests/unit/store/test_store_sequence.py``'s store, and
``build_input``)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from transactive.crypto.eip712 import Domain
from transactive.errors import FieldError
from transactive.settlement.input import (
    INPUT_FORMAT,
    SEQUENCE_FORMAT,
    SEQUENCE_FORMAT_V2,
    InputError,
    SettlementInput,
    input_digest,
)
from transactive.settlement.meter_readings import SignedReading, sign_reading
from transactive.settlement.sequence import settlement_postings

ARCHIVES = Path(__file__).parents[2] / "fixtures" / "archives"
BEFORE = json.loads((ARCHIVES / "settlement_inputs_before_records.json").read_text(encoding="utf-8"))
DOMAIN = Domain(chain_id=1337, verifying_contract="0x" + "00" * 20)
WHOLESALE = {"price_per_kwh": 0.05, "fee_per_kwh": 0.025, "auctioneer": "0x" + "ab" * 20}
METER = sign_reading(bytes(31) + b"\x07", "green", "pv", slot=1772361000, energy_wh=2000, domain=DOMAIN)
CORRECTION = {"member": "pv", "dispute": "d1", "energy_wh": 1500, "metered_wh": 2000,
              "approved_by": {"admin": "root", "dso": "grid"},
              "signatures": {"admin": {"address": "0x" + "51" * 20, "signature": "0x" + "11" * 65},
                             "dso": {"address": "0x" + "52" * 20, "signature": "0x" + "22" * 65}}}
METERED = {"meters": {"pv": METER.meter}, "signed_readings": [METER.to_json()], "corrections": [CORRECTION]}


def _archived(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ARCHIVES / name).read_text(encoding="utf-8"))
    return data


def _documents() -> list[tuple[str, dict[str, Any], str]]:
    out = [(name, case["input"], case["digest"]) for name, case in sorted(BEFORE.items())]
    for name in ("settlement_input_v2_dpda.json", "settlement_input_v2_pay_as_bid.json"):
        archived = _archived(name)
        out.append((name, archived["input"], archived["orderRoot"]))  # the root committed on chain
    return out


@pytest.mark.parametrize(("name", "doc", "digest"), _documents(), ids=[d[0] for d in _documents()])
def test_every_stored_version_reads_back_to_the_same_json_and_digest(name: str, doc: dict[str, Any],
                                                                     digest: str) -> None:
    typed = SettlementInput.from_json(doc)
    assert typed.to_json() == doc
    assert json.dumps(typed.to_json(), sort_keys=True) == json.dumps(doc, sort_keys=True)  # ints stay ints
    assert "0x" + typed.digest().hex() == "0x" + input_digest(doc).hex() == digest
    assert typed.format in (INPUT_FORMAT, SEQUENCE_FORMAT, SEQUENCE_FORMAT_V2)
    assert SettlementInput.from_json(typed.to_json()) == typed


def test_the_typed_fields_are_the_documents_values() -> None:
    doc = BEFORE["v3_cleared_fund"]["input"]
    typed = SettlementInput.from_json(doc)
    assert typed.is_sequence and typed.traded
    assert typed.cleared.rows() == list(zip(doc["cleared"]["members"], doc["cleared"]["energy_wh"],
                                            doc["cleared"]["amount_micro"], strict=True))
    assert typed.fund is not None and typed.fund.to_json() == doc["fund"]
    assert [c.to_json() for c in typed.contracts] == doc["contracts"]
    assert typed.tariff.feed_in_per_kwh == doc["tariff"]["feed_in_per_kwh"]
    assert typed.rates.service_charge_per_kwh == doc["rates"]["service_charge_per_kwh"]
    assert [o.accepted for o in typed.orders] == [o["decision"] == "accepted" for o in doc["orders"]]
    v1 = SettlementInput.from_json(BEFORE["v1_auction"]["input"])
    assert not v1.is_sequence and dict(v1.metered_kwh) == BEFORE["v1_auction"]["input"]["metered_kwh"]


@pytest.mark.parametrize("name", ["settlement_input_v2_dpda.json", "settlement_input_v2_pay_as_bid.json"])
def test_the_typed_input_recomputes_the_archived_postings(name: str) -> None:
    archived = _archived(name)
    typed = SettlementInput.from_json(archived["input"])
    assert settlement_postings(typed, DOMAIN) == settlement_postings(archived["input"], DOMAIN)


def _broken(edit: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BEFORE["v3_cleared_fund"]["input"])
    edit(doc)
    return doc


@pytest.mark.parametrize(("edit", "field"), [
    (lambda d: d.update(format="transactive.settlement-input/9"), "format"),
    (lambda d: d.pop("format"), "format"),
    (lambda d: d.pop("dso"), "dso"),
    (lambda d: d.pop("cleared"), "cleared"),
    (lambda d: d.update(slot="7"), "slot"),
    (lambda d: d.update(price_per_kwh=True), "price_per_kwh"),
    (lambda d: d.update(extra=1), "extra"),
    (lambda d: d["contracts"][0].update(nonce=1.5), "contracts[0].nonce"),
    (lambda d: d["contracts"][0].pop("buyer_signature"), "contracts[0].buyer_signature"),
    (lambda d: d["orders"][1].update(decision=3), "orders[1].decision"),
    (lambda d: d["trades"].append({"buyer": "ev", "seller": "pv", "energy_kwh": "1"}), "trades[1].energy_kwh"),
    (lambda d: d["cleared"]["energy_wh"].append(5), "cleared"),
    (lambda d: d["cleared"]["amount_micro"].__setitem__(0, 0.5), "cleared.amount_micro[0]"),
    (lambda d: d["fund"].pop("account"), "fund.account"),
    (lambda d: d["readings_kwh"].update(pv="a lot"), "readings_kwh.pv"),
    (lambda d: d["accounts"].update(pv=17), "accounts.pv"),
    (lambda d: d["tariff"].update(feed_in_per_kwh=-1.0), "tariff.feed_in_per_kwh"),
    (lambda d: d["rates"].pop("penalty_per_kwh"), "rates.penalty_per_kwh"),
    # issue 10's optional wholesale field: an object of exactly its three keys, never null
    (lambda d: d.update(wholesale=None), "wholesale"),
    (lambda d: d.update(wholesale={**WHOLESALE, "price_per_kwh": "0.05"}), "wholesale.price_per_kwh"),
    (lambda d: d.update(wholesale={**WHOLESALE, "fee_per_kwh": -0.01}), "wholesale.fee_per_kwh"),
    (lambda d: d.update(wholesale={**WHOLESALE, "auctioneer": 7}), "wholesale.auctioneer"),
    (lambda d: d.update(wholesale={k: v for k, v in WHOLESALE.items() if k != "fee_per_kwh"}),
     "wholesale.fee_per_kwh"),
    (lambda d: d.update(wholesale={**WHOLESALE, "source": "x"}), "wholesale.source"),
    # issue 9's optional meter fields
    (lambda d: d.update(meters=None), "meters"),
    (lambda d: d.update(meters={"pv": 7}), "meters.pv"),
    (lambda d: d.update(signed_readings={}), "signed_readings"),
    (lambda d: d.update(signed_readings=[{**METER.to_json(), "energy_wh": 2.5}]), "signed_readings[0].energy_wh"),
    (lambda d: d.update(signed_readings=[{**METER.to_json(), "slot": "1"}]), "signed_readings[0].slot"),
    (lambda d: d.update(signed_readings=[{**METER.to_json(), "extra": 1}]), "signed_readings[0].extra"),
    (lambda d: d.update(corrections=[{**CORRECTION, "metered_wh": "2000"}]), "corrections[0].metered_wh"),
    (lambda d: d.update(corrections=[{**CORRECTION, "approved_by": {"admin": 1}}]), "corrections[0].approved_by.admin"),
    (lambda d: d.update(corrections=[{**CORRECTION, "signatures": {"dso": {"address": "0x"}}}]),
     "corrections[0].signatures.dso.signature"),
    (lambda d: d.update(corrections=[{k: v for k, v in CORRECTION.items() if k != "dispute"}]),
     "corrections[0].dispute"),
])
def test_a_bad_input_is_a_field_error_naming_the_key(edit: Any, field: str) -> None:
    with pytest.raises(InputError) as err:
        SettlementInput.from_json(_broken(edit))
    assert err.value.field == field
    assert isinstance(err.value, FieldError) and err.value.message


def test_a_format_2_input_has_no_format_3_keys() -> None:
    doc = copy.deepcopy(_archived("settlement_input_v2_dpda.json")["input"])
    doc["charges_micro"] = 0
    with pytest.raises(InputError, match="charges_micro"):
        SettlementInput.from_json(doc)
    with pytest.raises(InputError) as err:
        SettlementInput.from_json([doc])
    assert err.value.field == "input"


@pytest.mark.parametrize("auctioneer", ["0x" + "ab" * 20, None])
def test_the_optional_wholesale_field_round_trips_and_is_absent_when_none(auctioneer: str | None) -> None:
    before = BEFORE["v3_cleared_fund"]["input"]
    assert "wholesale" not in SettlementInput.from_json(before).to_json()  # older inputs: same JSON, same digest
    doc = {**copy.deepcopy(before), "wholesale": {**WHOLESALE, "auctioneer": auctioneer, "price_per_kwh": 0}}
    typed = SettlementInput.from_json(doc)
    assert typed.wholesale is not None and typed.wholesale.auctioneer == auctioneer
    assert typed.wholesale.price_per_kwh == 0 and typed.wholesale.fee_per_kwh == 0.025
    assert json.dumps(typed.to_json(), sort_keys=True) == json.dumps(doc, sort_keys=True)  # 0 stays an int
    assert typed.digest() == input_digest(doc) != input_digest(before)
    v2 = {**copy.deepcopy(_archived("settlement_input_v2_dpda.json")["input"]), "wholesale": WHOLESALE}
    with pytest.raises(InputError) as err:  # format 3's field only
        SettlementInput.from_json(v2)
    assert err.value.field == "wholesale"


def test_the_optional_meter_fields_round_trip_and_are_absent_when_none() -> None:
    before = BEFORE["v3_cleared_fund"]["input"]
    typed_before = SettlementInput.from_json(before)
    assert (typed_before.meters, typed_before.signed_readings, typed_before.corrections) == (None, None, None)
    assert not {"meters", "signed_readings", "corrections"} & set(typed_before.to_json())  # older inputs unchanged
    doc = {**copy.deepcopy(before), **copy.deepcopy(METERED)}
    typed = SettlementInput.from_json(doc)
    assert typed.meters == {"pv": METER.meter} and typed.signed_readings == (METER,)
    assert typed.corrections is not None and typed.corrections[0].to_json() == CORRECTION
    assert isinstance(typed.signed_readings[0], SignedReading)
    assert json.dumps(typed.to_json(), sort_keys=True) == json.dumps(doc, sort_keys=True)
    assert typed.digest() == input_digest(doc) != input_digest(before)
    only_meters = {**copy.deepcopy(before), "meters": {}, "signed_readings": [], "corrections": []}
    assert SettlementInput.from_json(only_meters).to_json() == only_meters  # empty stays present: same digest
    v2 = {**copy.deepcopy(_archived("settlement_input_v2_dpda.json")["input"]), "meters": {}}
    with pytest.raises(InputError) as err:  # format 3's fields only
        SettlementInput.from_json(v2)
    assert err.value.field == "meters"
