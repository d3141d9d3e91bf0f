"""REST: a demand-response event end to end (seed 000 Cases 1 and 2 through the API), roles and errors."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from api_support import Api

BASE = "/communities/green/negawatt-events"
EVENT = {"id": "dr1", "target_kwh": 100, "price_per_kwh": 5, "offers_close": "2026-03-01T12:00:00Z",
         "window_start": "2026-03-01T17:00:00Z", "window_end": "2026-03-01T18:00:00Z"}
CASE_1 = [("C1", 30, 4), ("C2", 25, 4), ("C3", 45, 150 / 45), ("C4", 10, 2), ("C5", 20, 3)]
DELIVERED = {"C1": 30, "C2": 25, "C3": 27, "C4": 10, "C5": 20}  # C3 delivers 60 % of its 45 kWh


def _add_prosumers(api: Api) -> None:
    for name, _, _ in CASE_1:
        r = api.client.post("/admin/communities/green/members", json={"id": name, "role": "prosumer"},
                            headers=api.auth("admin"))
        assert r.status_code == 201, r.text
        api.keys[name] = r.json()["api_key"]


def _error(r: Any, status: int, field: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"]["field"] == field, r.json()


def _meter(delivered_kwh: float) -> dict[str, Any]:
    day = [100.0] * 24
    today = list(day)
    today[17] = 100.0 - delivered_kwh  # hourly intervals; the window is 17:00-18:00
    return {"history_kwh": [day] * 10, "event_day_kwh": today}


def test_event_end_to_end_case_1_and_2(api: Api) -> None:
    _add_prosumers(api)
    c = api.client
    r = c.post(BASE, json=EVENT, headers=api.auth("carol"))
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "FOR_SALE" and r.json()["history"] == ["CLOSE", "FOR_SALE"]
    _error(c.post(BASE, json=EVENT, headers=api.auth("carol")), 409, "id")
    _error(c.post(BASE, json=EVENT | {"id": "x"}, headers=api.auth("alice")), 403, "Authorization")
    for name, energy, price in CASE_1:
        r = c.post(f"{BASE}/dr1/offers", json={"energy_kwh": energy, "price_per_kwh": price}, headers=api.auth(name))
        assert r.status_code == 201, r.text
    _error(c.post(f"{BASE}/dr1/offers", json={"energy_kwh": 1, "price_per_kwh": 1}, headers=api.auth("C1")),
           409, "member")
    _error(c.post(f"{BASE}/dr1/offers", json={"energy_kwh": -1, "price_per_kwh": 1}, headers=api.auth("alice")),
           422, "energy_kwh")
    _error(c.post(f"{BASE}/dr1/clear", headers=api.auth("carol")), 409, "offers_close")  # still open
    api.clock.set(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    _error(c.post(f"{BASE}/dr1/offers", json={"energy_kwh": 1, "price_per_kwh": 1}, headers=api.auth("alice")),
           409, "offers_close")
    _error(c.post(f"{BASE}/dr1/clear", headers=api.auth("alice")), 403, "Authorization")
    r = c.post(f"{BASE}/dr1/clear", headers=api.auth("carol"))
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "CLEARED"
    assert r.json()["history"] == ["CLOSE", "FOR_SALE", "RESERVE_NOT_MET", "CLEARED"]
    _error(c.post(f"{BASE}/dr1/deliveries", json=_meter(30), headers=api.auth("C1")), 409, "event")  # too early
    api.clock.set(datetime(2026, 3, 1, 18, 0, tzinfo=UTC))
    _error(c.post(f"{BASE}/dr1/deliveries", json=_meter(30) | {"member": "C2"}, headers=api.auth("C1")),
           403, "member")
    _error(c.post(f"{BASE}/dr1/deliveries", json={"history_kwh": [[1.0] * 5], "event_day_kwh": [1.0] * 24},
                  headers=api.auth("C1")), 422, "history_kwh[0]")
    for name, delivered in DELIVERED.items():
        who = "grid" if name == "C5" else name  # the DSO may report any member's meter
        body = _meter(delivered) | ({"member": name} if who == "grid" else {})
        r = c.post(f"{BASE}/dr1/deliveries", json=body, headers=api.auth(who))
        assert r.status_code == 201, r.text
        assert abs(r.json()["delivered_kwh"] - delivered) < 1e-9
    assert c.post(f"{BASE}/dr1/deliveries", json=_meter(30), headers=api.auth("C1")).status_code == 200  # same
    _error(c.post(f"{BASE}/dr1/deliveries", json=_meter(20), headers=api.auth("C1")), 409, "member")
    r = c.post(f"{BASE}/dr1/settle", headers=api.auth("carol"))
    assert r.status_code == 200, r.text
    full = r.json()
    assert full["view"] == "full" and full["state"] == "SETTLED"
    postings = {p["account"]: p["amount_micro"] for p in full["settlement"]["postings"]}
    m = 1_000_000
    assert postings == {"aggregator:carol": -415 * m, "member:C1": 120 * m, "member:C2": 65 * m,
                        "member:C3": 110 * m, "member:C4": 40 * m, "member:C5": 80 * m}
    # views by role
    mine = c.get(f"{BASE}/dr1", headers=api.auth("C3")).json()
    assert mine["view"] == "member" and mine["offer"]["member"] == "C3"
    assert [r["id"] for r in mine["clearing"]["rows"]] == ["C3"]
    assert mine["settlement"]["postings"] == [{"account": "member:C3", "amount_micro": 110 * m}]
    assert [(b[0], b[1]) for b in mine["settlement"]["secondary"][0]["bought"]] == [("C1", 5), ("C2", 13)]
    dso = c.get(f"{BASE}/dr1", headers=api.auth("grid")).json()
    assert dso["view"] == "dso" and "offers" not in dso and "offer" not in dso
    assert {w["id"] for w in dso["winners"]} == {"C1", "C3", "C4", "C5"}
    assert c.get(f"{BASE}/dr1", headers=api.auth("val")).json()["view"] == "full"
    listed = c.get(BASE, headers=api.auth("alice")).json()
    assert [(e["id"], e["state"]) for e in listed] == [("dr1", "SETTLED")] and "offers" not in listed[0]
    _error(c.get(f"{BASE}/nope", headers=api.auth("alice")), 404, "event")
    _error(c.post(f"{BASE}/dr1/settle", headers=api.auth("carol")), 409, "state")


def test_announcement_errors_name_the_field(api: Api) -> None:
    c = api.client
    _error(c.post(BASE, json=EVENT | {"target_kwh": "5"}, headers=api.auth("carol")), 422, "target_kwh")
    _error(c.post(BASE, json=EVENT | {"window_end": "2026-03-01T16:00:00Z"}, headers=api.auth("carol")),
           422, "window_end")
    _error(c.post(BASE, json=EVENT | {"baseline": {"cap": 2.0}}, headers=api.auth("carol")), 422, "baseline.cap")
    _error(c.post(BASE, json=EVENT | {"event_type": "p2p_average_price"}, headers=api.auth("carol")),
           422, "price_per_kwh")


def test_type_ii_event_takes_buy_offers(api: Api) -> None:
    c = api.client
    body = EVENT | {"event_type": "p2p_average_price", "penalty_per_kwh": 10}
    del body["price_per_kwh"]
    assert c.post(BASE, json=body, headers=api.auth("carol")).status_code == 201
    assert c.post(f"{BASE}/dr1/offers", json={"energy_kwh": 10, "price_per_kwh": 8},
                  headers=api.auth("alice")).status_code == 201
    r = c.post(f"{BASE}/dr1/offers", json={"side": "buy", "energy_kwh": 5, "price_per_kwh": 9},
               headers=api.auth("bob"))
    assert r.status_code == 201, r.text
    api.clock.set(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    r = c.post(f"{BASE}/dr1/clear", headers=api.auth("admin"))
    assert r.status_code == 200 and r.json()["clearing"]["price_per_kwh"] == 8.0
    mine = c.get(f"{BASE}/dr1", headers=api.auth("bob")).json()
    assert mine["clearing"]["rows"] == [{"id": "bob", "energy_kwh": 5.0, "payment": 40.0}]


def test_the_events_aggregator_reports_its_offerers_deliveries(api: Api) -> None:
    """The aggregator records the meters of its event's offerers (no other member's); its full view then holds
    each delivery with the baseline it was verified against and the event day's intervals."""
    _add_prosumers(api)
    c = api.client
    assert c.post(BASE, json=EVENT, headers=api.auth("carol")).status_code == 201
    for name, energy, price in CASE_1:
        assert c.post(f"{BASE}/dr1/offers", json={"energy_kwh": energy, "price_per_kwh": price},
                      headers=api.auth(name)).status_code == 201
    api.clock.set(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    assert c.post(f"{BASE}/dr1/clear", headers=api.auth("carol")).status_code == 200
    api.clock.set(datetime(2026, 3, 1, 18, 0, tzinfo=UTC))
    _error(c.post(f"{BASE}/dr1/deliveries", json=_meter(5) | {"member": "alice"}, headers=api.auth("carol")),
           422, "member")  # alice did not offer
    r = c.post(f"{BASE}/dr1/deliveries", json=_meter(27) | {"member": "C3"}, headers=api.auth("carol"))
    assert r.status_code == 201, r.text
    assert abs(r.json()["delivered_kwh"] - 27) < 1e-9 and r.json()["member"] == "C3"
    full = c.get(f"{BASE}/dr1", headers=api.auth("carol")).json()
    [delivery] = full["deliveries"]
    assert delivery["member"] == "C3" and abs(delivery["delivered_kwh"] - 27) < 1e-9
    baseline, today = delivery["baseline"]["baseline_kwh"], delivery["baseline"]["event_day_kwh"]
    assert len(baseline) == len(today) == 24 and today[17] == 73.0
    assert abs(sum(b - t for b, t in zip(baseline[17:18], today[17:18], strict=True)) - 27) < 1e-9
    assert "deliveries" not in c.get(f"{BASE}/dr1", headers=api.auth("C3")).json()  # a member: own rows only


def test_an_offer_and_a_clearing_are_announced_on_the_community_stream(api: Api) -> None:
    """The aggregator's page hears offers arrive: a ``negawatt`` event with ids only, once per stored offer
    (a refused offer sends none), and one when the event is cleared; another community hears nothing."""
    _add_prosumers(api)
    c = api.client
    hub = c.app.state.events  # type: ignore[attr-defined]
    assert c.post(BASE, json=EVENT, headers=api.auth("carol")).status_code == 201

    async def run() -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
        green, blue = hub.subscribe("green", "carol"), hub.subscribe("blue", "carol")
        for name, energy, price in CASE_1[:2]:
            r = await asyncio.to_thread(c.post, f"{BASE}/dr1/offers", json={"energy_kwh": energy,
                                        "price_per_kwh": price}, headers=api.auth(name))
            assert r.status_code == 201, r.text
        late = await asyncio.to_thread(c.post, f"{BASE}/dr1/offers", json={"energy_kwh": 1, "price_per_kwh": 1},
                                       headers=api.auth("C1"))
        assert late.status_code == 409  # a second offer: refused, not announced
        api.clock.set(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
        assert (await asyncio.to_thread(c.post, f"{BASE}/dr1/clear", headers=api.auth("carol"))).status_code == 200
        await asyncio.sleep(0.05)  # the hub delivers on this loop
        drained = []
        for sub in (green, blue):
            got = []
            while not sub.queue.empty():
                got.append(sub.queue.get_nowait())
            drained.append(got)
            hub.unsubscribe(sub)
        return drained[0], drained[1]

    green, blue = asyncio.run(run())
    mine = [(e, d) for e, d in green if e == "negawatt"]
    assert mine == [("negawatt", {"community": "green", "event_id": "dr1", "change": change})
                    for change in ("offer", "offer", "cleared")]
    assert blue == []
