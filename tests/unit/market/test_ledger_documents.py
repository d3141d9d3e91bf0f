"""The ledger desk's stored slot documents as typed, versioned records
(:mod:`transactive.market.ledger.documents`): the layout the service has always written (no ``version``) still
reads, a document read and written again is the same JSON, and a bad document is a field error naming the key;
the endorsed results read as figures (the settlement input's) are the typed results."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from transactive.errors import FieldError
from transactive.ledger.messages.commitments import FUND_LEAF, ResultEntry
from transactive.market.ledger.documents import (
    AnchorDocument,
    DocumentError,
    SettlementDocument,
    StoredResult,
    result_rows,
)
from transactive.market.ledger.sequence import auction_document
from transactive.market.multi_slot import ContractTerms
from transactive.settlement.input import SettlementInput
from transactive.settlement.slot_settlement import settle_input, statement_lines
from transactive.store import Community, ContractRecord

ARCHIVES = Path(__file__).parents[2] / "fixtures" / "archives"
INPUT = json.loads((ARCHIVES / "settlement_input_v2_dpda.json").read_text(encoding="utf-8"))["input"]
A, B = "0x" + "12" * 20, "0x" + "34" * 20
ROOT, TX = "0x" + "ab" * 32, "0x" + "cd" * 32
SIG = "0x" + "ef" * 65

# as anchoring.py and settlement.py wrote them before the typed records (version absent: version 1)
ANCHORED_V1: dict[str, Any] = {
    "batch": {"format": "transactive.slot-batch/1", "orders": []}, "orderRoot": ROOT,
    "txs": {"open_slot": TX, "commit_orders": TX, "submit_result": TX}, "resultRoot": ROOT, "endorsements": [SIG],
    "miner": A, "dissenters": [B],
    "results": [{"account": A, "energyWh": 100, "amountMicro": 5}, {"account": FUND_LEAF, "energyWh": -3,
                                                                   "amountMicro": -5}],
    "anchoredAt": "2026-03-01T10:15:01.000000Z",
}
UNBATCHABLE_V1: dict[str, Any] = {"note": "the orders cannot be signed as a batch: KeyError: 'bus'", "txs": {}}
SETTLED_V1: dict[str, Any] = {
    "input": INPUT, "mode": 1, "orderRoot": ROOT, "txs": {"open_slot": TX, "settle_batch": TX},
    "resultRoot": ROOT, "endorsements": [SIG], "miner": A, "dissenters": [],
    "settledAt": "2026-03-01T10:45:00.000000Z", "note": None,
    "lines": [{"member": "s1", "balance_change_micro": 300}, {"member": "b1", "balance_change_micro": -300}],
    "postings": [{"account": A, "member": "s1", "energy_wh": 2000, "amount_micro": 300}],
    "dso": {"account": B, "amount_micro": 0},
}
CLAIMED_V1: dict[str, Any] = {"input": INPUT, "mode": 2, "orderRoot": ROOT, "txs": {}, "claims": 12}


@pytest.mark.parametrize("stored", [ANCHORED_V1, UNBATCHABLE_V1], ids=["anchored", "unbatchable"])
def test_an_anchor_document_of_an_older_service_reads_and_writes_back_the_same(stored: dict[str, Any]) -> None:
    doc = AnchorDocument.from_json(stored)
    assert doc.version == 1
    assert doc.to_json() == {"version": 1, **stored}
    assert AnchorDocument.from_json(doc.to_json()) == doc


def test_the_typed_anchor_fields_are_the_stored_values() -> None:
    doc = AnchorDocument.from_json(ANCHORED_V1)
    assert (doc.order_root, doc.result_root, doc.miner, doc.dissenters) == (ROOT, ROOT, A, (B,))
    assert doc.results == (StoredResult(A, 100, 5), StoredResult(FUND_LEAF, -3, -5))
    assert doc.fund_row(FUND_LEAF.lower()) == StoredResult(FUND_LEAF, -3, -5)
    assert [ResultEntry.from_json(r.to_json()) for r in doc.results] == [ResultEntry(A, 100, 5),
                                                                          ResultEntry(FUND_LEAF, -3, -5)]
    assert doc.endorsement_bytes() == (bytes.fromhex("ef" * 65),)
    assert doc.with_tx("settle_batch", TX).txs == {**ANCHORED_V1["txs"], "settle_batch": TX}
    assert AnchorDocument.from_json(UNBATCHABLE_V1).note == UNBATCHABLE_V1["note"]


@pytest.mark.parametrize("stored", [SETTLED_V1, CLAIMED_V1], ids=["settled", "claimed"])
def test_a_settlement_document_of_an_older_service_reads_and_writes_back_the_same(stored: dict[str, Any]) -> None:
    doc = SettlementDocument.from_json(stored)
    assert doc.to_json() == {"version": 1, **stored}
    assert doc.input == SettlementInput.from_json(INPUT)


def test_the_typed_settlement_fields_are_the_stored_values() -> None:
    doc = SettlementDocument.from_json(SETTLED_V1)
    assert doc.settled_at == SETTLED_V1["settledAt"] and doc.mode == 1 and doc.claims is None
    assert [dict(ln) for ln in doc.lines_of("b1")] == [SETTLED_V1["lines"][1]]
    assert dict(doc.txs)["settle_batch"] == TX and doc.dso == SETTLED_V1["dso"]
    # a blocked settlement's note is cleared when it settles: the written null stays
    blocked = SettlementDocument.from_json(CLAIMED_V1).with_note("blocked: ...")
    assert blocked.to_json()["note"] == "blocked: ..." and blocked.with_note(None).to_json()["note"] is None
    assert "note" not in SettlementDocument.from_json(CLAIMED_V1).to_json()


def test_a_fresh_settlement_document_is_the_layout_the_service_wrote() -> None:
    doc = SettlementDocument(input=SettlementInput.from_json(INPUT), mode=2, order_root=ROOT)
    assert doc.to_json() == {"version": 1, "input": INPUT, "mode": 2, "orderRoot": ROOT, "txs": {}}
    settled = replace(doc, settled_at="t", lines=({"member": "s1"},), postings=(), dso={"account": B})
    assert settled.to_json()["lines"] == [{"member": "s1"}] and settled.to_json()["dso"] == {"account": B}


def _edit(base: dict[str, Any], change: Any) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    change(doc)
    return doc


@pytest.mark.parametrize(("reader", "stored", "field"), [
    (AnchorDocument, _edit(ANCHORED_V1, lambda d: d.update(version=2)), "version"),
    (SettlementDocument, _edit(SETTLED_V1, lambda d: d.update(version="1")), "version"),
    (AnchorDocument, _edit(ANCHORED_V1, lambda d: d.update(orderRoot=5)), "orderRoot"),
    (AnchorDocument, _edit(ANCHORED_V1, lambda d: d.update(txs={"open_slot": 1})), "txs"),
    (AnchorDocument, _edit(ANCHORED_V1, lambda d: d.update(endorsements=SIG)), "endorsements"),
    (AnchorDocument, _edit(ANCHORED_V1, lambda d: d["results"][1].pop("energyWh")), "results[1].energyWh"),
    (AnchorDocument, _edit(ANCHORED_V1, lambda d: d["results"][0].update(account=None)), "results[0].account"),
    (AnchorDocument, _edit(ANCHORED_V1, lambda d: d.update(batch=[])), "batch"),
    (SettlementDocument, _edit(SETTLED_V1, lambda d: d.pop("input")), "input"),
    (SettlementDocument, _edit(SETTLED_V1, lambda d: d.pop("mode")), "mode"),
    (SettlementDocument, _edit(SETTLED_V1, lambda d: d.update(claims="3")), "claims"),
    (SettlementDocument, _edit(SETTLED_V1, lambda d: d.update(lines=[1])), "lines"),
    (SettlementDocument, _edit(SETTLED_V1, lambda d: d["input"].pop("dso")), "input.dso"),
    (SettlementDocument, _edit(SETTLED_V1, lambda d: d["input"].update(format="x")), "input.format"),
])
def test_a_bad_document_is_a_field_error_naming_the_key(reader: Any, stored: dict[str, Any], field: str) -> None:
    with pytest.raises(DocumentError) as err:
        reader.from_json(stored)
    assert err.value.field == field and isinstance(err.value, FieldError) and err.value.message


def test_contract_terms_read_the_stored_record() -> None:
    terms = {"slot_starts": ["2026-03-01T10:15:00Z"], "slots": [1772360100], "energy_wh_per_slot": 2000,
             "price_per_kwh": 0.08, "nonce": 0, "seller_address": A, "buyer_address": B}
    record = ContractRecord("c", "k1", "pv", "ev", "pv", "signed", "s", "s", terms, SIG, SIG, "t", "t")
    typed = ContractTerms.of(record)
    assert typed.to_json() == terms and ContractTerms.from_json(typed.to_json()) == typed
    assert (typed.address_of("seller"), typed.address_of("buyer")) == (A, B)
    assert typed.delivers_in("2026-03-01T10:15:00Z") and not typed.delivers_in("2026-03-01T10:30:00Z")
    broken = {k: v for k, v in terms.items() if k != "nonce"}
    with pytest.raises(FieldError) as err:
        ContractTerms.from_json(broken)
    assert err.value.field == "terms.nonce"


def test_a_format_1_settlement_is_shown_as_its_statement_lines() -> None:
    # an older service's input (format 1): the desk's document of it agrees with its statement lines
    before = json.loads((ARCHIVES / "settlement_inputs_before_records.json").read_text(encoding="utf-8"))
    doc = SettlementInput.from_json(before["v1_auction"]["input"])
    settlement, postings = settle_input(doc)
    dso = next(p.amount_micro for p in postings if p.address == doc.dso)
    shown = auction_document(Community("c", "uniform", {}, 15, "t"), "2026-03-01T10:15:00Z", doc, settlement,
                             dso_amount_micro=dso, mechanism="uniform")
    lines = {ln["member"]: ln for ln in statement_lines(settlement)}
    assert {m["member"]: m["money_micro"] for m in shown["members"]} == {
        m: ln["balance_change_micro"] for m, ln in lines.items()}
    assert {m["member"]: m["net_wh"] for m in shown["members"]} == {
        m: ln["metered_wh"] if ln["side"] == "seller" else -ln["metered_wh"] for m, ln in lines.items()}
    assert shown["balance_micro"] == 0 == sum(p.amount_micro for p in postings)  # nothing created or lost
    assert shown["auction"]["price_per_kwh"] == doc.price_per_kwh


def test_the_results_read_as_figures_are_the_typed_results() -> None:
    stored = _edit(ANCHORED_V1, lambda d: d["results"].append(MappingProxyType(  # another mapping than a dict
        {"account": B, "energyWh": 0, "amountMicro": 7})))
    typed = AnchorDocument.from_json(stored).results
    assert result_rows(stored) == [(r.account, r.energy_wh, r.amount_micro) for r in typed]
    assert typed[-1] == StoredResult(B, 0, 7) and typed[0] == StoredResult(A, 100, 5)
    assert AnchorDocument.from_json(stored, results=False).results == () and result_rows({}) == []
    bare = AnchorDocument.from_json(stored, results=False)
    assert replace(bare, results=typed) == AnchorDocument.from_json(stored)


@pytest.mark.parametrize(("edit", "field"), [
    (lambda d: d["results"][1].update(energyWh=True), "results[1].energyWh"),
    (lambda d: d["results"][0].update(amountMicro=1.5), "results[0].amountMicro"),
    (lambda d: d["results"][1].update(account=7), "results[1].account"),
    (lambda d: d["results"].append(3), "results"),
    (lambda d: d.update(results={}), "results"),
])
def test_a_bad_result_row_is_the_same_field_error_read_as_figures(edit: Any, field: str) -> None:
    stored = _edit(ANCHORED_V1, edit)
    for read in (AnchorDocument.from_json, result_rows):
        with pytest.raises(DocumentError) as err:
            read(stored)
        assert err.value.field == field
