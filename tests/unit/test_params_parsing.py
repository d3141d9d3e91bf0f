"""Generic conversion of a mechanism's params dataclass from JSON, with the field named on error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pytest

from transactive.marketfile import MARKET_FORMAT, MarketFileError, parse_market
from transactive.mechanisms import Mechanism, ParamError
from transactive.mechanisms.uniform import clear_uniform


@dataclass(frozen=True)
class ToyParams:
    target_kwh: float
    reserve_price_per_kwh: float | None = None
    mode: Literal["a", "b"] = "a"
    strict: bool = False
    rounds: int = 1

    def __post_init__(self) -> None:
        if self.target_kwh <= 0:
            raise ParamError("target_kwh", "must be > 0")


def toy_clear(sellers: Any, buyers: Any, params: ToyParams) -> Any:
    return clear_uniform(sellers, buyers, params)  # type: ignore[arg-type]


REG = {"toy": Mechanism("toy", "toy", ToyParams, toy_clear)}


def doc(params: Any) -> dict[str, Any]:
    return {"format": MARKET_FORMAT, "mechanism": "toy", "params": params,
            "sellers": [{"id": "s", "energy_kwh": 1, "price_per_kwh": 1}],
            "buyers": [{"id": "b", "energy_kwh": 1, "price_per_kwh": 2}]}


def test_defaults_and_given_values() -> None:
    market = parse_market(doc({"target_kwh": 5, "mode": "b", "reserve_price_per_kwh": None}), REG)
    assert market.params == ToyParams(5.0, None, "b", False, 1)


@pytest.mark.parametrize(
    ("params", "field", "text"),
    [
        ({}, "params.target_kwh", "required"),
        ({"target_kwh": -1}, "params.target_kwh", "must be > 0"),
        ({"target_kwh": "5"}, "params.target_kwh", "must be a number"),
        ({"target_kwh": 5, "mode": "c"}, "params.mode", 'one of "a", "b"'),
        ({"target_kwh": 5, "strict": 1}, "params.strict", "true or false"),
        ({"target_kwh": 5, "rounds": 1.5}, "params.rounds", "integer"),
        ({"target_kwh": 5, "reserve_price_per_kwh": "x"}, "params.reserve_price_per_kwh", "number"),
        ({"target_kwh": 5, "tempo": 1}, "params.tempo", "unknown parameter for toy"),
    ],
)
def test_bad_params_are_named(params: dict[str, Any], field: str, text: str) -> None:
    with pytest.raises(MarketFileError) as info:
        parse_market(doc(params), REG)
    assert info.value.field == field
    assert text in info.value.message
