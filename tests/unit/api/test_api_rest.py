"""The REST API: auth and roles, orders, slots, results by role (the DSO never sees bids), bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from api_support import SLOT, Api


def order(**over: Any) -> dict[str, Any]:
    return {"side": "sell", "slot_start": SLOT, "idempotency_key": "k1", "energy_kwh": 10, "price_per_kwh": 1.0,
            **over}


def err(response: Any, status: int, field: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["field"] == field, body
    message: str = body["error"]["message"]
    return message


def test_health_and_openapi(api: Api) -> None:
    assert api.client.get("/health").json()["status"] == "ok"
    spec = api.client.get("/openapi.json").json()
    assert "/communities/{community}/orders" in spec["paths"]
    assert api.client.get("/docs").status_code == 200


def test_authentication_and_roles(api: Api) -> None:
    err(api.client.get("/communities"), 401, "Authorization")
    err(api.client.get("/communities", headers={"Authorization": "Bearer nope"}), 401, "Authorization")
    err(api.client.post("/admin/communities", json={"name": "x", "mechanism": "uniform"}, headers=api.auth("alice")),
        403, "Authorization")
    err(api.client.post("/communities/green/orders", json=order(), headers=api.auth("grid")), 403, "Authorization")
    assert [c["name"] for c in api.client.get("/communities", headers=api.auth("alice")).json()] == ["green"]
    api.client.post("/admin/communities", json={"name": "blue", "mechanism": "uniform"}, headers=api.auth("admin"))
    err(api.client.get("/communities/blue", headers=api.auth("alice")), 403, "community")
    err(api.client.get("/communities/nope", headers=api.auth("admin")), 404, "community")


def test_admin_input_errors_name_the_field(api: Api) -> None:
    admin = api.auth("admin")
    err(api.client.post("/admin/communities", json={"name": "x", "mechanism": "nope"}, headers=admin), 422,
        "mechanism")
    err(api.client.post("/admin/communities", json={"name": "x", "mechanism": "uniform", "slot_minutes": "15"},
                        headers=admin), 422, "slot_minutes")
    err(api.client.post("/admin/communities", json={"name": "green", "mechanism": "uniform"}, headers=admin), 409,
        "name")
    err(api.client.post("/admin/communities/green/members", json={"id": "alice", "role": "prosumer"},
                        headers=admin), 409, "id")
    err(api.client.post("/admin/communities/green/members", json={"id": "z", "role": "king"}, headers=admin), 422,
        "role")
    # issue 10: the grid stage's wholesale option is a community parameter, checked by name
    err(api.client.post("/admin/communities", json={"name": "w", "mechanism": "uniform",
                                                    "params": {"wholesale": {"prices_per_kwh": [0.05] * 7}}},
                        headers=admin), 422, "params.wholesale.prices_per_kwh")
    made = api.client.post("/admin/communities", json={"name": "w", "mechanism": "uniform",
                                                       "params": {"wholesale": {"prices_per_kwh": "synthetic"}}},
                           headers=admin)
    assert made.status_code == 201, made.text
    assert len(made.json()["params"]["wholesale"]["prices_per_kwh"]) == 24


@pytest.mark.parametrize(
    ("body", "field"),
    [(order(energy_kwh="10"), "energy_kwh"),  # no string-to-number coercion
     (order(price_per_kwh=-1), "price_per_kwh"),
     (order(side="lend"), "side"),
     (order(slot_start="2026-03-01T10:16:00Z"), "slot_start"),
     (order(bus=3), "bus"),  # uniform takes no bus
     (order(blocks=[{"energy_kwh": 1, "price_per_kwh": "x"}]), "blocks[0].price_per_kwh"),
     ({"side": "sell", "slot_start": SLOT, "energy_kwh": 1, "price_per_kwh": 1}, "idempotency_key")],
)
def test_bad_orders_are_422_naming_the_field_and_store_nothing(api: Api, body: dict[str, Any], field: str) -> None:
    err(api.client.post("/communities/green/orders", json=body, headers=api.auth("alice")), 422, field)
    assert api.client.get("/communities/green/orders", headers=api.auth("alice")).json() == []


def test_malformed_json_and_nan(api: Api) -> None:
    headers = {**api.auth("alice"), "Content-Type": "application/json"}
    err(api.client.post("/communities/green/orders", content=b"{not json", headers=headers), 422, "(body)")
    text = b'{"side":"sell","slot_start":"2026-03-01T10:15:00Z","idempotency_key":"k","energy_kwh":NaN,' \
           b'"price_per_kwh":1}'
    err(api.client.post("/communities/green/orders", content=text, headers=headers), 422, "energy_kwh")
    err(api.client.get("/nowhere"), 404, "(path)")
    err(api.client.post("/communities/green/orders", content=b"[" + b" " * 1_000_001 + b"]", headers=headers), 413,
        "(body)")


def test_orders_idempotency_and_late(api: Api) -> None:
    first = api.client.post("/communities/green/orders", json=order(), headers=api.auth("alice"))
    assert first.status_code == 201 and first.json()["status"] == "created"
    again = api.client.post("/communities/green/orders", json=order(), headers=api.auth("alice"))
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    err(api.client.post("/communities/green/orders", json=order(energy_kwh=3), headers=api.auth("alice")), 409,
        "idempotency_key")
    err(api.client.post("/communities/green/orders", json=order(idempotency_key="k2"), headers=api.auth("alice")),
        409, "slot_start")
    mine = api.client.get("/communities/green/orders", headers=api.auth("alice")).json()
    assert [(o["side"], o["energy_kwh"], o["price_per_kwh"]) for o in mine] == [("sell", 10.0, 1.0)]
    api.clock.set(datetime(2026, 3, 1, 10, 18, tzinfo=UTC))
    late = err(api.client.post("/communities/green/orders", json=order(), headers=api.auth("bob")), 409,
               "slot_start")
    assert "quotation closed" in late


def trade(api: Api) -> None:
    """alice sells 9 @ 1.25, bob sells 5 @ 2.75, carol buys 4 @ 3.75; uniform: 4 kWh at (1.25+3.75)/2 = 2.5."""
    for who, side, e, p in [("alice", "sell", 9, 1.25), ("bob", "sell", 5, 2.75), ("carol", "buy", 4, 3.75)]:
        r = api.client.post("/communities/green/orders", headers=api.auth(who),
                            json=order(side=side, energy_kwh=e, price_per_kwh=p))
        assert r.status_code == 201, r.text
    slot = api.client.get(f"/communities/green/slots/{SLOT}", headers=api.auth("alice")).json()
    assert (slot["phase"], slot["state"], slot["orders"]) == ("pending", "open", 3)
    err(api.client.post(f"/admin/communities/green/slots/{SLOT}/clear", headers=api.auth("admin")), 409,
        "slot_start")
    err(api.client.get(f"/communities/green/slots/{SLOT}/result", headers=api.auth("alice")), 404, "slot_start")
    api.clock.set(datetime(2026, 3, 1, 10, 18, tzinfo=UTC))
    cleared = api.client.post(f"/admin/communities/green/slots/{SLOT}/clear", headers=api.auth("admin"))
    assert cleared.json()["state"] == "cleared"


def test_results_by_role(api: Api) -> None:
    trade(api)
    url = f"/communities/green/slots/{SLOT}/result"
    mine = api.client.get(url, headers=api.auth("alice")).json()
    assert mine["price_per_kwh"] == 2.5
    assert mine["sellers"] == [{"id": "alice", "energy_kwh": 4.0, "payment": 10.0}] and mine["buyers"] == []
    assert "bob" not in str(mine) and "carol" not in str(mine)
    full = api.client.get(url, headers=api.auth("val")).json()
    assert [r["id"] for r in full["result"]["sellers"]] == ["alice", "bob"]


def test_dso_never_sees_individual_bids(api: Api) -> None:
    trade(api)
    dso = api.auth("grid")
    view = api.client.get(f"/communities/green/slots/{SLOT}/result", headers=dso)
    assert view.status_code == 200
    body = view.json()
    assert body["view"] == "dso" and body["traded_kwh"] == 4.0 and body["price_per_kwh"] == 2.5
    assert {(t["id"], t["side"], t["bus"], t["energy_kwh"]) for t in body["trades"]} == {
        ("alice", "sell", "b-alice", 4.0), ("carol", "buy", "b-carol", 4.0)}
    # every DSO-visible document: no bid price, no offered quantity, no untraded participant
    seen = view.text + api.client.get(f"/communities/green/slots/{SLOT}", headers=dso).text
    err(api.client.get("/communities/green/orders", headers=dso), 403, "Authorization")
    err(api.client.get(f"/communities/green/orders?slot_start={SLOT}", headers=dso), 403, "Authorization")
    for secret in ("1.25", "2.75", "3.75", "9.0", "5.0", '"bob"'):
        assert secret not in seen, secret


def test_slot_without_orders(api: Api) -> None:
    status = api.client.get(f"/communities/green/slots/{SLOT}", headers=api.auth("bob")).json()
    assert (status["phase"], status["state"], status["orders"]) == ("pending", "open", 0)
    api.clock.set(datetime(2026, 3, 1, 10, 40, tzinfo=UTC))
    status = api.client.get(f"/communities/green/slots/{SLOT}", headers=api.auth("bob")).json()
    assert (status["phase"], status["state"], status["note"]) == ("closed", "void", "no orders")


def test_meter_readings(api: Api) -> None:
    url = "/communities/green/meter-readings"
    err(api.client.post(url, json={"slot_start": SLOT, "energy_kwh": 1.5}, headers=api.auth("alice")), 422,
        "slot_start")
    api.clock.set(datetime(2026, 3, 1, 10, 30, tzinfo=UTC))
    r = api.client.post(url, json={"slot_start": SLOT, "energy_kwh": 1.5}, headers=api.auth("alice"))
    assert r.status_code == 201 and r.json()["member"] == "alice"
    assert api.client.post(url, json={"slot_start": SLOT, "energy_kwh": 1.5},
                           headers=api.auth("alice")).status_code == 200
    err(api.client.post(url, json={"slot_start": SLOT, "energy_kwh": 2}, headers=api.auth("alice")), 409,
        "energy_kwh")
    r = api.client.post(url, json={"slot_start": SLOT, "energy_kwh": -2, "member": "bob"}, headers=api.auth("grid"))
    assert r.status_code == 201 and r.json()["member"] == "bob"
    err(api.client.post(url, json={"slot_start": SLOT, "energy_kwh": "2"}, headers=api.auth("bob")), 422,
        "energy_kwh")
