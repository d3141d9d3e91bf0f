"""The prosumer page's routes: the standing instruction (checked like an order, 422 naming the instruction's
field, nothing saved), the community's time zone (an IANA name checked with zoneinfo), and the live-update
stream's authentication and bounds (the event hub: a bounded queue per client, a bounded number of clients)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

import pytest
from api_support import Api

from transactive.api.events import QUEUE_SIZE, EventHub
from transactive.errors import MarketError

PATH = "/communities/green/members/me/standing-instruction"
SELL = {"trading": True, "activity": "sell", "amount": "fixed", "energy_kwh": 1.5, "price_min_per_kwh": 0.1,
        "price_max_per_kwh": 0.2}


def test_a_standing_instruction_is_saved_shown_and_checked_by_field(api: Api) -> None:
    c = api.client
    first = c.get(PATH, headers=api.auth("alice"))
    assert first.status_code == 200 and first.json()["saved"] is False
    assert first.json()["instruction"]["activity"] == "none"
    for body, field in (({**SELL, "energy_kwh": 0}, "energy_kwh"), ({**SELL, "activity": "swap"}, "activity"),
                        ({**SELL, "price_min_per_kwh": 2000.0, "price_max_per_kwh": 2000.0}, "price_min_per_kwh"),
                        ([1, 2], "(body)")):
        r = c.put(PATH, json=body, headers=api.auth("alice"))
        assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
    assert c.get(PATH, headers=api.auth("alice")).json()["saved"] is False  # nothing saved
    saved = c.put(PATH, json=SELL, headers=api.auth("alice"))
    assert saved.status_code == 200, saved.text
    view = saved.json()
    assert view["saved"] and view["instruction"] == {**SELL, "demand_response": False}
    # at 10:00 the 10:00 slot takes orders: the next order is for it, sell 1.5 kWh at the range's floor
    assert view["status"]["next_order"] == {"side": "sell", "slot_start": "2026-03-01T10:00:00Z",
                                            "idempotency_key": "standing-2026-03-01T10:00:00Z",
                                            "energy_kwh": 1.5, "price_per_kwh": 0.1}
    assert c.get(PATH, headers=api.auth("grid")).status_code == 403  # the DSO does not trade
    assert c.get(PATH.replace("green", "other"), headers=api.auth("alice")).status_code == 404


def test_the_cycle_places_the_standing_order_through_the_intake(api: Api) -> None:
    c = api.client
    assert c.put(PATH, json=SELL, headers=api.auth("alice")).status_code == 200
    desk = c.app.state.standing_desk  # type: ignore[attr-defined]
    api.clock.advance(timedelta(minutes=13))  # 10:13: the 10:15 slot's standing orders are due
    (placed,) = desk.process_due(api.clock.now())
    orders = c.get("/communities/green/orders", headers=api.auth("alice")).json()
    assert [(o["id"], o["slot_start"], o["side"], o["energy_kwh"], o["price_per_kwh"]) for o in orders] == [
        (placed.order.id, "2026-03-01T10:15:00Z", "sell", 1.5, 0.1)]
    status = c.get(PATH, headers=api.auth("alice")).json()["status"]
    assert status["last"]["order_id"] == placed.order.id and status["last"]["message"] == "placed"


def test_the_community_time_zone_is_checked_and_shown(api: Api) -> None:
    c = api.client
    admin = api.auth("admin")
    assert c.get("/communities/green/settings", headers=api.auth("alice")).json()["time_zone"] == "UTC"
    for bad in ("Mars/Olympus", "../etc/passwd", 5, ""):
        r = c.put("/admin/communities/green/settings", json={"time_zone": bad}, headers=admin)
        assert r.status_code == 422 and r.json()["error"]["field"] == "time_zone", r.text
    r = c.put("/admin/communities/green/settings", json={"zone": "UTC"}, headers=admin)
    assert r.status_code == 422 and r.json()["error"]["field"] == "zone"
    assert c.put("/admin/communities/green/settings", json={"time_zone": "Europe/Berlin"},
                 headers=api.auth("alice")).status_code == 403
    r = c.put("/admin/communities/green/settings", json={"time_zone": "Europe/Berlin"}, headers=admin)
    assert r.status_code == 200 and r.json()["time_zone"] == "Europe/Berlin"
    assert c.get("/communities", headers=api.auth("alice")).json()[0]["time_zone"] == "Europe/Berlin"
    bad = c.post("/admin/communities", json={"name": "tz", "time_zone": "Nowhere/Land"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "time_zone"
    assert c.get("/communities/tz", headers=admin).status_code == 404  # nothing created
    made = c.post("/admin/communities", json={"name": "tz", "time_zone": "America/New_York"}, headers=admin)
    assert made.status_code == 201 and made.json()["time_zone"] == "America/New_York"


def test_the_event_stream_needs_a_key_and_the_community(api: Api) -> None:
    c = api.client
    assert c.get("/communities/green/events").status_code == 401
    r = c.get("/communities/other/events", headers=api.auth("alice"))
    assert r.status_code == 404 and r.json()["error"]["field"] == "community"
    c.app.state.events.max_clients = 0  # type: ignore[attr-defined]  # as if every place were taken
    r = c.get("/communities/green/events", headers=api.auth("alice"))
    assert r.status_code == 429 and r.json()["error"]["field"] == "events", r.text


def test_the_hub_bounds_each_client_and_the_number_of_clients() -> None:
    async def run() -> dict[str, Any]:
        hub = EventHub(max_clients=2)
        slow = hub.subscribe("green", "alice")
        other = hub.subscribe("blue", "bob")
        with pytest.raises(MarketError) as caught:
            hub.subscribe("green", "carol")
        with pytest.raises(MarketError):
            hub.check_room()
        for k in range(3 * QUEUE_SIZE):  # alice never reads
            hub.publish("green", "slot", {"k": k})
        hub.publish("green", "order", {"mine": True}, member="someone-else")
        await asyncio.sleep(0)  # deliveries run on the loop
        seen = [slow.queue.get_nowait() for _ in range(slow.queue.qsize())]
        hub.unsubscribe(slow)
        hub.check_room()  # a place is free again
        again = hub.subscribe("green", "carol")
        return {"kind": caught.value.kind, "seen": seen, "other": other.queue.qsize(), "again": again,
                "clients": hub.clients}

    out = asyncio.run(run())
    assert out["kind"] == "too_many" and out["clients"] == 2
    assert out["other"] == 0  # another community's events never reach it
    seen = out["seen"]
    assert len(seen) <= QUEUE_SIZE  # bounded whatever was published
    # the queue overflowed twice (at k = Q and k = 2Q): each time emptied, the event dropped too, and one resync
    # queued; the dropped events are k = 0 .. 2Q, then come the rest
    assert seen[0][0] == "resync" and seen[0][1]["dropped"] == 2 * QUEUE_SIZE + 1
    assert [d["k"] for _, d in seen[1:]] == list(range(2 * QUEUE_SIZE + 1, 3 * QUEUE_SIZE))
    assert all(e != "order" for e, _ in seen)  # another member's event is not its


def test_a_stream_whose_client_left_before_it_started_holds_no_place(api: Api) -> None:
    """The client is gone before the first byte (ASGI 2.4: sending raises OSError): its place is not kept."""
    app = api.client.app
    hub = app.state.events  # type: ignore[attr-defined]
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": "/communities/green/events",
             "raw_path": b"/communities/green/events", "root_path": "", "query_string": b"",
             "headers": [(b"authorization", f"Bearer {api.keys['alice']}".encode())],
             "server": ("test", 80), "client": ("test", 1)}
    messages = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        raise OSError("the client went away")

    async def run() -> None:
        with contextlib.suppress(Exception):  # a ClientDisconnect: the server's business
            await app(scope, receive, send)  # type: ignore[operator]

    for _ in range(3):
        asyncio.run(run())
    assert hub.clients == 0
