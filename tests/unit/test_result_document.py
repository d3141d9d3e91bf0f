"""A stored ``transactive.result/1`` document read as :class:`transactive.result.ResultDocument`: the document
``result_document`` writes for real clearings reads back to the same JSON, and a bad one is a field error; its
settlement summary (traders, price, matched) read in one pass is the typed document's."""

from __future__ import annotations

import json
from types import MappingProxyType

import pytest

from transactive.errors import FieldError
from transactive.marketfile import parse_market, result_document
from transactive.result import ResultDocument, ResultDocumentError, ResultSummary
from transactive.settlement.slot_settlement import clearing_price

MARKET = "transactive.market/1"
MARKETS = [
    {"format": MARKET, "mechanism": "uniform",
     "sellers": [{"id": "s1", "energy_kwh": 10, "price_per_kwh": 0.05},
                 {"id": "s2", "energy_kwh": 4, "price_per_kwh": 0.2}],
     "buyers": [{"id": "b1", "energy_kwh": 6, "price_per_kwh": 0.1}]},
    {"format": MARKET, "mechanism": "double_auction_vcg",
     "sellers": [{"id": "s", "energy_kwh": 10, "price_per_kwh": 0.05}],
     "buyers": [{"id": "b", "energy_kwh": 10, "price_per_kwh": 0.1}]},
]


@pytest.mark.parametrize("market", MARKETS, ids=[m["mechanism"] for m in MARKETS])
def test_a_written_result_reads_back_to_the_same_json(market: dict[str, object]) -> None:
    m = parse_market(market)
    doc = json.loads(json.dumps(result_document(m, m.clear())))  # as stored
    typed = ResultDocument.from_json(doc)
    assert typed.to_json() == doc and ResultDocument.of(typed) is typed
    assert typed.mechanism == market["mechanism"] and typed.price_per_kwh == doc["price_per_kwh"]
    assert [r.to_json() for r in typed.sellers] == doc["sellers"]
    sellers, buyers = typed.rows_of(doc["buyers"][0]["id"])
    assert sellers == [] and [r.to_json() for r in buyers] == [doc["buyers"][0]]
    # the traded rows are those with energy: what the DSO channel and the settlement parties count
    assert {r.id for r in (*typed.sellers, *typed.buyers) if r.traded} == {
        r["id"] for side in ("sellers", "buyers") for r in doc[side] if r["energy_kwh"] > 0}


def test_matched_trades_are_the_details_trades() -> None:
    doc = {"mechanism": "x", "price_per_kwh": None, "sellers": [], "buyers": [],
           "details": {"trades": [{"buyer": "b", "seller": "s", "energy_kwh": 1.0, "charge": 0.01}]}}
    assert ResultDocument.from_json(doc).matched_trades == doc["details"]["trades"]  # type: ignore[index]
    assert ResultDocument.from_json({**doc, "details": {}}).matched_trades is None


@pytest.mark.parametrize(("doc", "field"), [
    ({"sellers": [], "buyers": {}}, "buyers"),
    ({"buyers": []}, "sellers"),
    ({"sellers": [{"id": 1, "energy_kwh": 1, "payment": 1}], "buyers": []}, "sellers[0].id"),
    ({"sellers": [], "buyers": [{"id": "b", "energy_kwh": "1", "payment": 1}]}, "buyers[0].energy_kwh"),
    ({"format": "transactive.market/1", "sellers": [], "buyers": []}, "format"),
    ([], "result"),
])
def test_a_bad_result_document_is_a_field_error(doc: object, field: str) -> None:
    with pytest.raises(ResultDocumentError) as err:
        ResultDocument.from_json(doc)
    assert err.value.field == field and isinstance(err.value, FieldError)


@pytest.mark.parametrize("market", [*MARKETS,
                                    {**MARKETS[0], "mechanism": "pay_as_bid"}], ids=["uniform", "vcg", "pay_as_bid"])
def test_the_summary_read_from_the_json_is_the_typed_documents(market: dict[str, object]) -> None:
    m = parse_market(market)
    doc = json.loads(json.dumps(result_document(m, m.clear())))  # as stored
    typed = ResultDocument.from_json(doc)
    summary = ResultSummary.from_json(doc)
    assert summary == ResultSummary.of(typed) and ResultSummary.of(summary) is summary
    assert summary.traders == {r.id for r in (*typed.sellers, *typed.buyers) if r.traded}
    energy = sum(float(b.energy_kwh) for b in typed.buyers)  # the buyers' average without one clearing price
    average = sum(float(b.payment) for b in typed.buyers) / energy if energy > 0 else 0.0
    assert summary.price_per_kwh == (average if typed.price_per_kwh is None else typed.price_per_kwh)
    assert summary.matched is (typed.matched_trades is not None)
    without = ResultSummary.from_json({**doc, "price_per_kwh": None})
    assert without.price_per_kwh == average and clearing_price({**doc, "price_per_kwh": None}) == average


def test_the_summary_of_matched_trades_and_of_another_mapping() -> None:
    doc = {"mechanism": "x", "price_per_kwh": None, "sellers": [{"id": "s", "energy_kwh": 2, "payment": 0.3}],
           "buyers": [{"id": "b", "energy_kwh": 2.0, "payment": 0.5}, {"id": "c", "energy_kwh": 0, "payment": 0}],
           "details": {"trades": []}}
    summary = ResultSummary.from_json(doc)
    assert summary == ResultSummary(frozenset({"s", "b"}), 0.25, True)
    frozen = MappingProxyType({**doc, "sellers": [MappingProxyType(r) for r in doc["sellers"]]})  # no dict rows
    assert ResultSummary.from_json(frozen) == summary
    assert ResultSummary.from_json({**doc, "details": {}}).matched is False


@pytest.mark.parametrize(("doc", "field"), [
    ({"sellers": [], "buyers": {}}, "buyers"),
    ({"buyers": []}, "sellers"),
    ({"sellers": [{"id": 1, "energy_kwh": 1, "payment": 1}], "buyers": []}, "sellers[0].id"),
    ({"sellers": [], "buyers": [{"id": "b", "energy_kwh": 1, "payment": 1},
                                {"id": "b", "energy_kwh": True, "payment": 1}]}, "buyers[1].energy_kwh"),
    ({"sellers": [], "buyers": [{"id": "b", "energy_kwh": "1", "payment": 1}]}, "buyers[0].energy_kwh"),
    ({"sellers": ["x"], "buyers": []}, "sellers[0]"),
    ({"format": "transactive.market/1", "sellers": [], "buyers": []}, "format"),
    ([], "result"),
])
def test_a_bad_result_document_is_the_same_field_error_for_the_summary(doc: object, field: str) -> None:
    for read in (ResultDocument.from_json, ResultSummary.from_json):
        with pytest.raises(ResultDocumentError) as err:
            read(doc)
        assert err.value.field == field
