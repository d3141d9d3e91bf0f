"""A stored ``transactive.result/1`` document read as :class:`transactive.result.ResultDocument`: the document
``result_document`` writes for real clearings reads back to the same JSON, and a bad one is a field error."""

from __future__ import annotations

import json

import pytest

from transactive.errors import FieldError
from transactive.marketfile import parse_market, result_document
from transactive.result import ResultDocument, ResultDocumentError

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
