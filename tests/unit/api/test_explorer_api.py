"""The role pages' read routes (issue 11) on a community created with the defaults (``dpda_matched``) and a
ledger (embedded chain): the ledger explorer's slots (roots, endorsements), "verify this slot" (the audit's
recomputation, read only; a tampered stored result is caught), the DSO's trades with bus, distance and grid
charge (never a bid or a score), the validators' health, the feeder and the admin's member list."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from transactive.api import Settings, create_app
from transactive.grid.distance import distance_matrix
from transactive.grid.feeder import load_feeder
from transactive.market import ManualClock
from transactive.market.ledger.desk import LedgerConfig
from transactive.matching.mechanisms import DEFAULT_FEEDER

ADMIN = "tk_admin_explorer"
SLOT = "2026-03-01T10:15:00Z"
# seed 004 Alg. 2 Case 1 on these orders (as in the order-form tests): p0 = (0.5 + 0.05) / 2
ORDERS = [("s1", "sell", 2.0, 0.1), ("s2", "sell", 2.0, 0.5), ("b1", "buy", 1.5, 0.4), ("b2", "buy", 1.0, 0.05)]


@dataclass
class Town:
    client: TestClient
    app: Any
    keys: dict[str, dict[str, str]]
    buses: dict[str, str]


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Town]:
    data_dir = tmp_path_factory.mktemp("explorer")
    clock = ManualClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    app = create_app(Settings(data_dir=data_dir, admin_key=ADMIN, clock=clock, run_cycle=False,
                              ledger=LedgerConfig(chain_dir=data_dir / "chain", archive_dir=data_dir)))
    with TestClient(app) as client:
        keys = {"admin": {"Authorization": f"Bearer {ADMIN}"}}
        assert client.post("/admin/communities", json={"name": "town"}, headers=keys["admin"]).status_code == 201
        loads = list(load_feeder(DEFAULT_FEEDER).load_buses)
        buses = {who: loads[k] for k, (who, *_) in enumerate(ORDERS)}
        members: list[tuple[str, str, str | None]] = [(w, "prosumer", b) for w, b in buses.items()]
        for name, role, bus in [*members, ("grid", "dso", None), ("val", "validator", None)]:
            body = {"id": name, "role": role, **({"bus": bus} if bus else {})}
            r = client.post("/admin/communities/town/members", json=body, headers=keys["admin"])
            assert r.status_code == 201, r.text
            keys[name] = {"Authorization": f"Bearer {r.json()['api_key']}"}
        for who, side, kwh, price in ORDERS:
            r = client.post("/communities/town/orders", json={"side": side, "slot_start": SLOT,
                            "idempotency_key": "k", "energy_kwh": kwh, "price_per_kwh": price}, headers=keys[who])
            assert r.status_code == 201, r.text
        clock.set(datetime(2026, 3, 1, 10, 19, tzinfo=UTC))
        assert client.post(f"/admin/communities/town/slots/{SLOT}/clear", headers=keys["admin"]).status_code == 200
        app.state.service.ledger.process_due(clock.now())
        yield Town(client, app, keys, buses)


def _walk(value: Any) -> tuple[set[str], set[float]]:
    """Every key and every number in a JSON document."""
    keys: set[str] = set()
    numbers: set[float] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            keys.add(k)
            more = _walk(v)
            keys |= more[0]
            numbers |= more[1]
    elif isinstance(value, list):
        for v in value:
            more = _walk(v)
            keys |= more[0]
            numbers |= more[1]
    elif isinstance(value, int | float) and not isinstance(value, bool):
        numbers.add(float(value))
    return keys, numbers


def _ok(r: Any) -> Any:
    assert r.status_code == 200, r.text
    return r.json()


def test_the_explorer_lists_the_anchored_slot_with_its_endorsements(town: Town) -> None:
    slots = _ok(town.client.get("/communities/town/ledger/slots", headers=town.keys["val"]))
    assert [s["slot_start"] for s in slots] == [SLOT]
    clearing = slots[0]["clearing"]
    ledger = _ok(town.client.get(f"/communities/town/slots/{SLOT}/ledger", headers=town.keys["b1"]))["clearing"]
    assert clearing["state"] == "anchored" == ledger["state"]
    assert (clearing["order_root"], clearing["result_root"]) == (ledger["order_root"], ledger["result_root"])
    assert clearing["orders"] == len(ORDERS)  # one signed order each (single blocks)
    desk = town.app.state.service.ledger
    validators = {v.address for v in desk.validators}
    assert set(clearing["endorsed_by"]) <= validators
    assert len(clearing["endorsed_by"]) >= desk.config.threshold and clearing["dissenters"] == []
    assert slots[0]["settlement"] is None
    # any member of the community reads it; the list holds no order
    member_view = _ok(town.client.get("/communities/town/ledger/slots", headers=town.keys["b2"]))
    assert member_view == slots and not {0.4, 0.05, 0.5, 0.1} & _walk(member_view)[1]


def test_verify_this_slot_recomputes_and_catches_a_tampered_result(town: Town) -> None:
    store = town.app.state.service.store
    before = store.get_ledger_slot("town", SLOT, "clearing")
    verified = _ok(town.client.post(f"/communities/town/ledger/slots/{SLOT}/verify", headers=town.keys["val"]))
    assert verified["ok"] is True and verified["clearing"] == {"checked": True, "ok": True,
                                                              "message": "everything checks out"}
    assert verified["settlement"]["checked"] is False and verified["settlement"]["message"] == "not settled"
    assert store.get_ledger_slot("town", SLOT, "clearing") == before  # read only
    # a stored result entry changed by one micro-token: the recomputation disagrees, naming that account
    results = [dict(r) for r in before.document["results"]]
    victim = next(r for r in results if int(r["amountMicro"]) != 0)
    victim["amountMicro"] = int(victim["amountMicro"]) + 1
    tampered = replace(before, document={**before.document, "results": results})
    assert store.put_ledger_slot(tampered, before.state)
    try:
        found = _ok(town.client.post(f"/communities/town/ledger/slots/{SLOT}/verify", headers=town.keys["b1"]))
        assert found["ok"] is False and found["clearing"]["ok"] is False
        assert found["clearing"]["what"] == f"result {victim['account']}"
    finally:
        assert store.put_ledger_slot(before, before.state)
    r = town.client.post("/communities/town/ledger/slots/2026-03-01T11:00:00Z/verify", headers=town.keys["val"])
    assert r.status_code == 404 and r.json()["error"]["field"] == "slot_start"
    r = town.client.post("/communities/town/ledger/slots/yesterday/verify", headers=town.keys["val"])
    assert r.status_code == 422 and r.json()["error"]["field"] == "slot_start"


def test_the_dso_sees_trades_with_buses_distances_and_grid_charges(town: Town) -> None:
    view = _ok(town.client.get(f"/communities/town/slots/{SLOT}/result", headers=town.keys["grid"]))
    assert view["view"] == "dso" and view["price_per_kwh"] == pytest.approx(0.275)
    feeder = load_feeder(DEFAULT_FEEDER)
    assert view["grid_trades"], view
    for trade in view["grid_trades"]:
        assert set(trade) == {"buyer", "seller", "energy_kwh", "distance_m", "charge", "buyer_bus", "seller_bus"}
        assert (trade["buyer_bus"], trade["seller_bus"]) == (town.buses[trade["buyer"]], town.buses[trade["seller"]])
        distance = float(distance_matrix(feeder, [trade["buyer_bus"]], [trade["seller_bus"]])[0, 0])
        assert trade["distance_m"] == pytest.approx(distance)
        assert trade["charge"] == pytest.approx(distance / 1000 * view["charge_per_km"])  # seed 004: C_d d / 1000
    assert view["total_charge"] == pytest.approx(sum(t["charge"] for t in view["grid_trades"]))
    assert sum(t["energy_kwh"] for t in view["grid_trades"]) == pytest.approx(view["traded_kwh"])
    keys, numbers = _walk(view)
    assert "score" not in keys and not {0.4, 0.05, 0.5} & numbers  # no score, no order's price


def test_validators_health_feeder_and_members(town: Town) -> None:
    health = _ok(town.client.get("/communities/town/validators", headers=town.keys["val"]))
    desk = town.app.state.service.ledger
    assert [v["address"] for v in health["validators"]] == [v.address for v in desk.validators]
    assert all(v["registered"] and v["slots_seen"] == 1 and v["gas_wei"] > 0 for v in health["validators"])
    endorsed = _ok(town.client.get("/communities/town/ledger/slots", headers=town.keys["val"]))[0]["clearing"]
    assert sum(v["endorsed"] for v in health["validators"]) == len(endorsed["endorsed_by"])
    assert {v["last_endorsed"] for v in health["validators"] if v["endorsed"]} == {SLOT}
    fund = _ok(town.client.get("/communities/town/fund", headers=town.keys["val"]))  # validators see the fund
    assert fund == _ok(town.client.get("/communities/town/fund", headers=town.keys["admin"]))
    r = town.client.get("/communities/town/validators", headers=town.keys["b1"])
    assert r.status_code == 403 and r.json()["error"]["field"] == "Authorization"

    drawn = _ok(town.client.get("/communities/town/feeder", headers=town.keys["grid"]))
    feeder = load_feeder(DEFAULT_FEEDER)
    assert [b["name"] for b in drawn["buses"]] == list(feeder.bus_names)
    assert len(drawn["lines"]) == len(feeder.length_m)
    assert {b["name"] for b in drawn["buses"] if b["load"]} == set(feeder.load_buses)

    members = _ok(town.client.get("/admin/communities/town/members", headers=town.keys["admin"]))
    by_id = {m["id"]: m for m in members}
    assert by_id["b1"]["bus"] == town.buses["b1"] and by_id["grid"]["role"] == "dso"
    accounts = {a.member: a.address for a in town.app.state.service.store.chain_accounts("town")}
    assert all(by_id[w]["chain_address"] == accounts[w] for w in town.buses)
    assert not any("api_key" in m for m in members)
    r = town.client.get("/admin/communities/town/members", headers=town.keys["grid"])
    assert r.status_code == 403


def test_the_openapi_description_builds_with_the_ledger_routes(town: Town) -> None:
    """The web app builds the aggregator's event form from /openapi.json: it must build with every route."""
    schemas = _ok(town.client.get("/openapi.json"))["components"]["schemas"]
    assert set(schemas["NegawattEventIn"]["required"]) == {"id", "target_kwh", "offers_close", "window_start",
                                                           "window_end"}
    limit = _ok(town.client.get("/openapi.json"))["paths"]["/communities/{community}/ledger/slots"]["get"]
    assert [p["name"] for p in limit["parameters"]] == ["community", "limit"]


def test_verify_reads_the_typed_stored_document_and_names_an_unreadable_field(town: Town) -> None:
    """The explorer reads the stored documents as typed records (market/ledger/documents.py): a stored result
    whose micro-tokens are not an integer, or a document of an unknown version, is a finding of "verify this
    slot" naming the field (HTTP 200, ok false), never a server error; the slot list reads the same record."""
    store = town.app.state.service.store
    before = store.get_ledger_slot("town", SLOT, "clearing")
    assert before is not None
    results = [dict(r) for r in before.document["results"]]
    results[1]["amountMicro"] = str(results[1]["amountMicro"])
    cases = [({**before.document, "results": results}, "results[1].amountMicro"),
             ({**before.document, "version": 2}, "version")]
    try:
        for document, field in cases:
            assert store.put_ledger_slot(replace(before, document=document), before.state)
            r = town.client.post(f"/communities/town/ledger/slots/{SLOT}/verify", headers=town.keys["val"])
            assert r.status_code == 200, r.text
            found = r.json()
            assert found["ok"] is False and found["clearing"]["what"] == field, found
            assert found["clearing"]["checked"] is True and field in found["clearing"]["message"]
    finally:
        assert store.put_ledger_slot(before, before.state)
    listed = _ok(town.client.get("/communities/town/ledger/slots", headers=town.keys["val"]))[0]["clearing"]
    assert listed["order_root"] == before.document["orderRoot"] and listed["orders"] == len(ORDERS)
    assert listed["txs"] == before.document["txs"] and listed["miner"] == before.document["miner"]
