"""Market files with the grid-aware mechanisms, and a slot run end to end with its drawing."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from transactive.grid.distance import distance_matrix
from transactive.grid.errors import GridError
from transactive.grid.feeder import load_feeder
from transactive.marketfile import MarketFileError, parse_market
from transactive.registry import full_registry
from transactive.settlement.metering import settle
from transactive.sim.draw import draw_slot
from transactive.sim.scenario import generate_scenario
from transactive.sim.slot import run_slot
from transactive.units import money_to_micro

S = (["3", "24", "11", "20", "13", "6", "45", "4"], [30, 25, 18, 40, 50, 21, 14, 70], [20, 10, 16, 5, 16, 25, 7, 2])
B = (["16", "39", "10", "9", "5", "8", "12"], [20, 16, 50, 70, 24, 19, 60], [17, 28, 6, 30, 8, 15, 23])
BUSES = list(load_feeder().load_buses)


def market(mechanism: str, params: dict[str, Any] | None = None, **override: Any) -> dict[str, Any]:
    sellers = [
        {
            "id": i,
            "energy_kwh": e,
            "price_per_kwh": p,
            "bus": BUSES[k],
            "distance_pref_m": 100.0,
            "a": 0.01,
            "b": 1.0,
            "c": 0.5,
        }
        for k, (i, e, p) in enumerate(zip(*S, strict=True))
    ]
    buyers = [
        {
            "id": i,
            "energy_kwh": e,
            "price_per_kwh": p,
            "bus": BUSES[20 + k],
            "distance_pref_m": 150.0,
            "omega": 60.0,
            "alpha": 0.2,
        }
        for k, (i, e, p) in enumerate(zip(*B, strict=True))
    ]
    for key, value in override.items():
        side, k, name = key.split("__")
        (sellers if side == "sellers" else buyers)[int(k)][name] = value
    return {
        "format": "transactive.market/1",
        "mechanism": mechanism,
        "params": params or {},
        "sellers": sellers,
        "buyers": buyers,
    }


def clear(doc: dict[str, Any]):  # type: ignore[no-untyped-def]
    m = parse_market(doc)
    return full_registry()[m.mechanism.name].run(m.sellers, m.buyers, m.params)


def test_dpda_matched_on_the_feeder() -> None:
    r = clear(market("dpda_matched"))
    assert r.details["case"] == 3 and r.price_per_kwh == 16.5
    assert r.buyers.energy_kwh.tolist() == [0, 16, 0, 70, 0, 0, 60]
    for t in r.details["trades"]:
        s_bus = BUSES[S[0].index(t["seller"])]
        b_bus = BUSES[20 + B[0].index(t["buyer"])]
        assert t["distance_m"] == pytest.approx(distance_matrix(load_feeder(), [b_bus], [s_bus])[0, 0])
        assert t["charge"] == pytest.approx(0.002 * t["distance_m"] / 1000)
    assert r.buyers.payment.sum() - r.sellers.payment.sum() == pytest.approx(r.details["total_charge"])


def test_mcafee_matched_and_straight_line_distances() -> None:
    doc = market("mcafee_matched", {"feeder": "none", "charge_per_km": 1.0})
    for k, p in enumerate(doc["sellers"]):
        p.update(x_m=float(k), y_m=0.0)
        del p["bus"]  # unknown without a feeder (issue 9, finding 12)
    for k, p in enumerate(doc["buyers"]):
        p.update(x_m=float(k), y_m=100.0)
        del p["bus"]
    r = clear(doc)
    assert r.sellers.energy_kwh.tolist() == [0, 22, 0, 40, 0, 0, 14, 70]
    for t in r.details["trades"]:
        dx = S[0].index(t["seller"]) - B[0].index(t["buyer"])
        assert t["distance_m"] == pytest.approx(np.hypot(dx, 100.0))


def test_unknown_bus_names_the_participant() -> None:
    with pytest.raises(GridError) as err:
        clear(market("dpda_matched", buyers__2__bus="no-such-bus"))
    assert err.value.field == "buyers[2].bus"
    assert isinstance(err.value, ValueError)


def test_market_file_rejects_negative_preference_and_missing_welfare() -> None:
    with pytest.raises(MarketFileError) as err:
        parse_market(market("dpda_matched", sellers__1__distance_pref_m=-5.0))
    assert err.value.field == "sellers[1].distance_pref_m"
    doc = market("dpda_matched")
    del doc["buyers"][0]["alpha"]
    with pytest.raises(MarketFileError) as err:
        parse_market(doc)
    assert err.value.field == "buyers[0].alpha"


def test_missing_bus_with_a_feeder() -> None:
    doc = market("dpda_matched")
    del doc["sellers"][3]["bus"]
    with pytest.raises(GridError) as err:
        clear(doc)
    assert err.value.field == "sellers[3].bus"


def test_unknown_feeder_is_a_param_error() -> None:
    with pytest.raises(GridError) as err:
        clear(market("dpda_matched", {"feeder": "no_such_network_xyz"}))
    assert err.value.field == "params.feeder"


def test_slot_end_to_end_and_drawing(tmp_path: Path) -> None:
    scenario = generate_scenario("P-20", seed=11, energy_range_kwh=(0.5, 3.0))
    out = run_slot(scenario)
    assert out.network is not None and out.network.feasible
    assert len(out.matched.trades) > 0
    path = tmp_path / "slot.png"
    draw_slot(scenario.feeder, out, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # settle the accepted trades against meters that read exactly what was agreed: no penalties, and the
    # DSO receives exactly the charges, rounded once per slot (docs/settlement.md)
    trades = out.settled_trades()
    delivered_b: dict[str, float] = {}
    delivered_s: dict[str, float] = {}
    for t in trades:
        delivered_b[t.buyer] = delivered_b.get(t.buyer, 0.0) + t.energy_kwh
        delivered_s[t.seller] = delivered_s.get(t.seller, 0.0) + t.energy_kwh
    p0 = out.matched.price_per_kwh
    assert p0 is not None
    s = settle(p0, trades, delivered_b, delivered_s, penalty_per_kwh=1.0)
    assert s.balance_micro == 0 and s.dso_penalties_micro == 0
    assert s.dso_tariffs_micro == money_to_micro(math.fsum(t.charge for t in trades))


def test_thesis_sized_slot_is_curtailed_by_the_dso() -> None:
    out = run_slot(generate_scenario("P-10", seed=2))  # 30-200 kWh in 15 minutes: 120-800 kW per house
    assert out.network is not None
    assert out.network.feasible  # after curtailment
    assert len(out.network.curtailed) >= 1
