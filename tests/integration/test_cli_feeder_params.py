"""`transactive clear` with a bad `params.feeder`, and location fields the feeder setting does not use (issue 9,
finding 12): exit 2 naming the field, never "internal error"; the same rules at the service's order intake."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from transactive.cli import main
from transactive.market import ManualClock, MarketError, Operator
from transactive.store import open_store

SELLER = {"id": "s", "energy_kwh": 1, "price_per_kwh": 0.1, "distance_pref_m": 10, "a": 0.1, "b": 0.1, "c": 0}
BUYER = {"id": "b", "energy_kwh": 1, "price_per_kwh": 0.3, "distance_pref_m": 10, "omega": 1, "alpha": 0.1}


def clear(tmp_path: Path, feeder: str, seller: dict[str, Any], buyer: dict[str, Any]) -> int:
    market = tmp_path / "m.json"
    market.write_text(json.dumps({"format": "transactive.market/1", "mechanism": "dpda_matched",
                                  "params": {"feeder": feeder}, "sellers": [seller], "buyers": [buyer]}))
    return main(["clear", str(market)])


@pytest.mark.parametrize(("content", "message"), [
    (None, "is not a file"),
    ("not json", "is not a JSON file"),
    ('{"a": 1}', "is not a pandapower network"),
])
def test_a_feeder_that_is_not_a_network_is_exit_2_naming_params_feeder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str) -> None:
    if content is None:
        feeder = tmp_path / "folder"
        feeder.mkdir()
    else:
        feeder = tmp_path / "feeder.json"
        feeder.write_text(content)
    located = {"bus": "34"}
    assert clear(tmp_path, str(feeder), {**SELLER, **located}, {**BUYER, **located}) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: params.feeder: ") and message in err and "internal error" not in err


def test_x_m_with_a_feeder_and_bus_without_are_unknown_fields(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert clear(tmp_path, "ieee_european_lv", {**SELLER, "bus": "34"}, {**BUYER, "bus": "34", "y_m": 5}) == 2
    assert capsys.readouterr().err.startswith("error: buyers[0].y_m: unknown field with a feeder")
    assert clear(tmp_path, "none", {**SELLER, "x_m": 0, "y_m": 0, "bus": "34"}, {**BUYER, "x_m": 1, "y_m": 0}) == 2
    assert capsys.readouterr().err.startswith("error: sellers[0].bus: unknown field with params.feeder 'none'")
    # each way alone clears
    assert clear(tmp_path, "none", {**SELLER, "x_m": 0, "y_m": 0}, {**BUYER, "x_m": 1, "y_m": 0}) == 0
    assert clear(tmp_path, "ieee_european_lv", {**SELLER, "bus": "34"}, {**BUYER, "bus": "35"}) == 0


def test_the_service_intake_applies_the_same_rule() -> None:
    op = Operator(open_store(url="sqlite://"), ManualClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC)))
    op.create_community("plane", "dpda_matched", {"feeder": "none"}, 15)
    op.create_community("lv", "dpda_matched", {}, 15)
    slot = {"side": "sell", "slot_start": "2026-03-01T10:15:00Z", "idempotency_key": "k",
            **{k: v for k, v in SELLER.items() if k != "id"}}
    on_plane = op.authenticate(op.add_member("plane", "p", "prosumer", "34")[1])  # a bus registered anyway
    assert not op.submit_order(on_plane, "plane", {**slot, "x_m": 0, "y_m": 0}).order.entry.get("bus")
    with pytest.raises(MarketError) as raised:
        op.submit_order(on_plane, "plane", {**slot, "idempotency_key": "k2", "bus": "34", "x_m": 0, "y_m": 0})
    assert raised.value.field == "bus"
    on_feeder = op.authenticate(op.add_member("lv", "f", "prosumer", "34")[1])
    with pytest.raises(MarketError) as raised:
        op.submit_order(on_feeder, "lv", {**slot, "x_m": 3})
    assert raised.value.field == "x_m"
