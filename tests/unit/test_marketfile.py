"""The market-file boundary: valid files parse, every kind of bad input is named precisely."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pytest

from transactive.marketfile import (
    MARKET_FORMAT,
    MarketFileError,
    dumps_result,
    load_json,
    parse_market,
    result_document,
)


def market(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "format": MARKET_FORMAT,
        "mechanism": "uniform",
        "sellers": [{"id": "s1", "energy_kwh": 10, "price_per_kwh": 1.0},
                    {"id": "s2", "energy_kwh": 5, "price_per_kwh": 2.0}],
        "buyers": [{"id": "b1", "energy_kwh": 8, "price_per_kwh": 3.0}],
    }
    doc.update(overrides)
    return doc


def error_of(doc: Any) -> MarketFileError:
    with pytest.raises(MarketFileError) as info:
        parse_market(doc)
    return info.value


def test_valid_market_clears_and_lists_everyone_in_input_order() -> None:
    m = parse_market(market())
    doc = result_document(m, m.clear())
    assert [r["id"] for r in doc["sellers"]] == ["s1", "s2"]
    assert [r["id"] for r in doc["buyers"]] == ["b1"]
    # uniform: 8 kWh trade, all from s1 (cheapest); price = midpoint of marginal asks/bids (1 and 3)
    assert doc["price_per_kwh"] == 2.0
    assert doc["sellers"][0] == {"id": "s1", "energy_kwh": 8.0, "payment": 16.0}
    assert doc["sellers"][1]["energy_kwh"] == 0.0


def test_integer_ids_become_strings() -> None:
    doc = market()
    doc["sellers"][0]["id"] = 3
    assert parse_market(doc).sellers.ids[0] == "3"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["sellers"][1].__setitem__("price_per_kwh", -1), "sellers[1].price_per_kwh"),
        (lambda d: d["sellers"][1].__setitem__("price_per_kwh", float("nan")), "sellers[1].price_per_kwh"),
        (lambda d: d["buyers"][0].__setitem__("energy_kwh", float("inf")), "buyers[0].energy_kwh"),
        (lambda d: d["buyers"][0].__setitem__("energy_kwh", -5), "buyers[0].energy_kwh"),
        (lambda d: d["buyers"][0].__setitem__("energy_kwh", 0), "buyers[0].energy_kwh"),
        (lambda d: d["buyers"][0].__setitem__("energy_kwh", 1e12), "buyers[0].energy_kwh"),
        (lambda d: d["buyers"][0].__setitem__("price_per_kwh", 1e15), "buyers[0].price_per_kwh"),
        (lambda d: d["buyers"][0].__setitem__("energy_kwh", "8"), "buyers[0].energy_kwh"),
        (lambda d: d["buyers"][0].__setitem__("energy_kwh", True), "buyers[0].energy_kwh"),
        (lambda d: d["buyers"][0].pop("energy_kwh"), "buyers[0].energy_kwh"),
        (lambda d: d["buyers"][0].pop("price_per_kwh"), "buyers[0].price_per_kwh"),
        (lambda d: d["buyers"][0].pop("id"), "buyers[0].id"),
        (lambda d: d["buyers"][0].__setitem__("id", ""), "buyers[0].id"),
        (lambda d: d["buyers"][0].__setitem__("id", "s1"), "buyers[0].id"),
        (lambda d: d["sellers"][1].__setitem__("id", "s1"), "sellers[1].id"),
        (lambda d: d["sellers"][1].__setitem__("colour", "red"), "sellers[1].colour"),
        (lambda d: d["sellers"][1].__setitem__("blocks", []), "sellers[1].blocks"),
        (lambda d: d.__setitem__("buyers", []), "buyers"),
        (lambda d: d.__setitem__("sellers", {}), "sellers"),
        (lambda d: d.__setitem__("mechanism", "vickrey_magic"), "mechanism"),
        (lambda d: d.pop("mechanism"), "mechanism"),
        (lambda d: d.__setitem__("params", {"speed": 2}), "params.speed"),
        (lambda d: d.__setitem__("params", []), "params"),
        (lambda d: d.__setitem__("format", "transactive.market/2"), "format"),
        (lambda d: d.pop("format"), "format"),
        (lambda d: d.__setitem__("extra", 1), "extra"),
        (lambda d: d["sellers"].__setitem__(0, "s1"), "sellers[0]"),
    ],
)
def test_bad_input_names_the_field(mutate: Any, field: str) -> None:
    doc = market()
    mutate(doc)
    err = error_of(doc)
    assert err.field == field
    assert str(err).startswith(f"{field}: ")
    assert "\n" not in str(err)


def test_top_level_must_be_an_object() -> None:
    assert error_of([1, 2]).field == "(file)"


def test_malformed_json_is_reported_with_position() -> None:
    with pytest.raises(MarketFileError, match=r"line 1 column"):
        load_json('{"format": ')


def test_nan_literal_is_rejected_by_field_name() -> None:
    text = json.dumps(market()).replace('"price_per_kwh": 3.0', '"price_per_kwh": NaN')
    with pytest.raises(MarketFileError) as info:
        parse_market(load_json(text))
    assert info.value.field == "buyers[0].price_per_kwh"


def test_parsing_does_not_modify_the_document() -> None:
    doc = market()
    before = copy.deepcopy(doc)
    parse_market(doc)
    assert doc == before


def test_result_bytes_are_deterministic() -> None:
    texts = set()
    for _ in range(3):
        m = parse_market(market())
        texts.add(dumps_result(result_document(m, m.clear())))
    assert len(texts) == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("energy_kwh", 0.0, "must be > 0, got 0"),  # exclusive minimum, a float exactly at it
        ("energy_kwh", -0.0, "must be > 0, got -0"),
        ("energy_kwh", 1e9 * (1 + 2**-52), "is absurdly large (1e+09; the limit is 1e+09)"),  # just above the limit
        ("price_per_kwh", -0.5, "must be >= 0, got -0.5"),
        ("price_per_kwh", float("nan"), "must be a finite number, got nan"),
        ("price_per_kwh", float("-inf"), "must be a finite number, got -inf"),
    ],
)
def test_float_figures_at_their_bounds_are_judged_by_the_rule(field: str, value: float, message: str) -> None:
    doc = market()
    doc["buyers"][0][field] = value
    err = error_of(doc)
    assert (err.field, err.message) == (f"buyers[0].{field}", message)


def test_float_figures_inside_their_bounds_are_kept_exactly() -> None:
    doc = market()
    doc["buyers"][0] |= {"energy_kwh": 0.001, "price_per_kwh": 0.0}  # the price's bound is inclusive
    doc["sellers"][0] |= {"energy_kwh": np.float64(2.5), "price_per_kwh": -0.0}  # a float subclass; -0.0 >= 0
    m = parse_market(doc)
    assert m.buyers.energy_kwh.tolist() == [0.001] and m.buyers.price_per_kwh.tolist() == [0.0]
    assert m.sellers.energy_kwh.tolist()[0] == 2.5
