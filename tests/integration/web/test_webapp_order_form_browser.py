"""The order form built from ``GET /communities/{c}/order-form``, in headless Chromium against the real
``transactive serve`` (embedded chain, SQLite, clock x120).

On a community created with the defaults (mechanism ``dpda_matched``, 15-minute slots): a prosumer sees its
distance preference and welfare parameters prefilled from its order settings (only its side's), changes a
setting, gets the API's error beside a field for a bad value (nothing stored), then places an order by clicking
(one request for a double click); the order carries the setting; it appears in its orders and the slot clears
at the price DPDA gives (seed 004 Alg. 2, Case 1: (0.5 + 0.05)/2 = 0.275). On a ``double_auction_vcg``
community a prosumer places a two-block order with the block editor; on a ``dra_fixed_price`` community (sellers
only, price optional) the same code shows a sell-only form without a price. No script error or CSP violation
occurs.

A screenshot of the order form goes to the test's directory and, when ``TRANSACTIVE_DOCS_IMG`` names a directory
(``docs/img``), there too (docs/webapp.md shows it).
"""

from __future__ import annotations

import os
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from transactive.grid.feeder import load_feeder
from transactive.market import iso, slot_containing
from transactive.matching.mechanisms import DEFAULT_FEEDER
from web_support import (
    ADMIN_KEY,
    Served,
    field_error,
    fill_order,
    market_now,
    open_tab,
    sign_in,
    sign_out,
    unlabelled_controls,
    watch_problems,
)

SLOT_MINUTES = 15  # the default


def _ok(response: Any, status: int = 201) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _members(served: Served, community: str, members: dict[str, str | None]) -> dict[str, str]:
    keys = {}
    for member, bus in members.items():
        body: dict[str, Any] = {"id": member, "role": "prosumer", **({} if bus is None else {"bus": bus})}
        keys[member] = _ok(served.post(f"/admin/communities/{community}/members", ADMIN_KEY, body))["api_key"]
    return keys


def _wait_result(served: Served, community: str, slot: str, timeout_s: float = 120) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        r = served.get(f"/communities/{community}/slots/{slot}/result", ADMIN_KEY)
        if r.status_code == 200:
            return r.json()
        assert time.monotonic() < deadline, f"slot {slot} of {community} did not clear: {r.text}"
        time.sleep(0.3)


def _shot_dirs(tmp_path: Path) -> list[Path]:
    """Where screenshots go: the test's directory, and $TRANSACTIVE_DOCS_IMG when set (docs/img)."""
    dirs = [tmp_path, *([Path(os.environ["TRANSACTIVE_DOCS_IMG"])] if os.environ.get("TRANSACTIVE_DOCS_IMG") else [])]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    return dirs


def _order_posts(requests: list[str]) -> int:
    return sum(1 for r in requests if r.startswith("POST") and r.endswith("/orders"))


def test_order_form_on_the_default_community(served: Served, browser_page: Any, tmp_path: Path) -> None:
    page = browser_page
    problems = watch_problems(page)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(f"{request.method} {request.url}")
            if request.resource_type == "fetch" else None)
    created = _ok(served.post("/admin/communities", ADMIN_KEY, {"name": "town"}))  # every default
    assert (created["mechanism"], created["slot_minutes"]) == ("dpda_matched", SLOT_MINUTES)
    buses = [str(b) for b in list(load_feeder(DEFAULT_FEEDER).load_buses)[:4]]
    keys = _members(served, "town", dict(zip(("s1", "s2", "b1", "b2"), buses, strict=True)))
    slot = iso(slot_containing(market_now(served), SLOT_MINUTES) + timedelta(minutes=3 * SLOT_MINUTES))
    for who, side, energy, price in (("s1", "sell", 2.0, 0.1), ("s2", "sell", 2.0, 0.5), ("b2", "buy", 1.0, 0.05)):
        _ok(served.post("/communities/town/orders", keys[who], {"side": side, "slot_start": slot,
            "idempotency_key": f"{who}-1", "energy_kwh": energy, "price_per_kwh": price}))

    page.goto(served.base + "/app/")
    sign_in(page, keys["b1"])
    order = page.get_by_role("form", name="Place an order")
    distance = order.get_by_label("How far you like to trade (m)")
    assert distance.input_value() == "250"  # the service's suggestion: nothing saved yet
    assert order.get_by_label("Worth of the first kWh (ω)").is_hidden()  # the default side is sell
    assert order.get_by_label("Cost per kWh (b)").input_value() == "0.01"
    order.get_by_label("Side").select_option("buy")
    assert order.get_by_label("Cost per kWh (b)").is_hidden()  # a seller's parameter
    assert order.get_by_label("Worth of the first kWh (ω)").input_value() == "0.2"
    assert order.get_by_label("How fast more is worth less (α)").input_value() == "0.04"

    # ---------------------------------------------------------------- order settings: a bad value, then saved
    open_tab(page, "My settings")
    settings = page.get_by_role("form", name="My order settings")
    omega = settings.get_by_label("Worth of the first kWh (ω)")
    omega.fill("-1")
    settings.get_by_role("button", name="Save settings").click()
    error = field_error(page, omega, "must be >= 0")
    assert error.inner_text() == "must be >= 0, got -1"
    assert _ok(served.get("/communities/town/profile", keys["b1"]), 200)["saved"] == {}  # nothing saved
    omega.fill("0.2")
    settings.get_by_label("How far you like to trade (m)").fill("400")
    settings.get_by_role("button", name="Save settings").click()
    page.get_by_text("Settings saved.").wait_for()
    saved = _ok(served.get("/communities/town/profile", keys["b1"]), 200)["saved"]
    assert saved["distance_pref_m"] == 400
    open_tab(page, "Trade now")
    order = page.get_by_role("form", name="Place an order")  # rebuilt with the new defaults
    page.wait_for_function("() => document.querySelector('form[aria-label=\"Place an order\"] "
                           "input[name=distance_pref_m]')?.value === '400'")

    # ---------------------------------------------------------------- a bad order: the error beside the field
    fill_order(order, side="buy", slot=slot, energy_kwh=1.5, price_per_kwh=0.4, distance_m=-5)
    order.get_by_role("button", name="Place order").click()
    distance = order.get_by_label("How far you like to trade (m)")
    error = field_error(page, distance, "must be >= 0", focused=True)
    assert error.inner_text() == "must be >= 0, got -5"
    assert _ok(served.get("/communities/town/orders", keys["b1"]), 200) == []

    # ---------------------------------------------------------------- the order, by clicking (a double click)
    distance.fill("400")
    shot = order.locator("xpath=ancestor::section[1]")
    posts_before = _order_posts(requests)
    order.get_by_role("button", name="Place order").dblclick()
    order.get_by_text("Order stored: buy 1.5 kWh at 0.4 per kWh").wait_for()
    assert _order_posts(requests) - posts_before == 1  # the button is disabled while the request is in flight
    assert error.inner_text() == "" and distance.get_attribute("aria-invalid") is None
    (stored,) = _ok(served.get("/communities/town/orders", keys["b1"]), 200)
    assert (stored["slot_start"], stored["side"], stored["energy_kwh"], stored["price_per_kwh"]) == (
        slot, "buy", 1.5, 0.4)
    assert (stored["distance_pref_m"], stored["omega"], stored["alpha"], stored["bus"]) == (400, 0.2, 0.04, buses[2])
    assert unlabelled_controls(page) == []
    for target in _shot_dirs(tmp_path):
        shot.screenshot(path=str(target / "order-form-dpda-matched.png"))
    open_tab(page, "My history")
    mine = page.get_by_role("table", name=re.compile("My latest orders"))
    assert "0.4" in mine.inner_text() and "buy" in mine.inner_text()
    assert unlabelled_controls(page) == []

    # ---------------------------------------------------------------- the service clears the slot
    full = _wait_result(served, "town", slot)["result"]
    assert full["price_per_kwh"] == 0.275
    assert {row["id"]: row["energy_kwh"] for row in full["buyers"]} == {"b1": 1.5, "b2": 0.0}
    page.get_by_role("button", name="Refresh").click()
    results = page.get_by_role("table", name="Results by slot")
    results.get_by_role("row").filter(has_text=slot[11:16]).filter(has_text="cleared").wait_for()
    assert "0.275" in results.get_by_role("row").filter(has_text=slot[11:16]).inner_text()
    open_tab(page, "Trade now")  # the feedback (seed 004 Alg. 5 step 5): won, the price, the gap
    row = page.get_by_role("table", name="How my latest orders went").get_by_role("row").filter(has_text=slot[11:16])
    cells = row.get_by_role("cell").all_inner_texts()
    assert cells[1:6] == ["won", "1.5 of 1.5", "0.4", "0.275", "-0.125"], cells
    assert "You bought all 1.5 kWh" in cells[6]
    page.evaluate("window.scrollTo(0, 0)")
    for target in _shot_dirs(tmp_path):
        page.screenshot(path=str(target / "prosumer-trade-now.png"))
    # ---------------------------------------------------------------- list surplus: the slot picked from a list
    listing = page.get_by_role("form", name="List surplus energy")
    listing_slot = listing.get_by_label("Slot start (UTC)")
    upcoming = listing_slot.locator("option").evaluate_all("nodes => nodes.map(n => n.value)")
    assert upcoming == sorted(upcoming) and datetime.fromisoformat(upcoming[0]) > market_now(served) - timedelta(
        minutes=SLOT_MINUTES)
    listing_slot.select_option(upcoming[3])
    listing.get_by_label("Energy (kWh)").fill("0.5")
    listing.get_by_label("Price per kWh").fill("0.12")
    listing.get_by_role("button", name="List energy").click()
    listing.get_by_text(re.compile(r"Listing l-\w+ is for sale: 0.5 kWh at 0.12 per kWh")).wait_for()
    (listed,) = _ok(served.get("/communities/town/listings", keys["b1"]), 200)
    assert (listed["slot_start"], listed["energy_kwh"], listed["seller"]) == (upcoming[3], 0.5, "b1")

    # ---------------------------------------------------------------- a meter reading: the slot picked from a list
    open_tab(page, "My history")
    meter = page.get_by_role("form", name="Submit a meter reading")
    ended = meter.get_by_label("Slot start (UTC)")
    options = ended.locator("option").evaluate_all("nodes => nodes.map(n => n.value)")
    assert options == sorted(options, reverse=True)
    assert datetime.fromisoformat(options[0]) + timedelta(minutes=SLOT_MINUTES) <= market_now(served)  # ended
    ended.select_option(options[1])
    meter.get_by_label("Net energy (kWh)").fill("-1.25")
    meter.get_by_role("button", name="Submit reading").click()
    meter.get_by_text("Reading stored: -1.25 kWh for the slot at").wait_for()

    # ---------------------------------------------------------------- the tabs from the keyboard; back to suggestions
    page.get_by_role("tab", name="Trade now").focus()
    page.keyboard.press("ArrowRight")
    assert page.get_by_role("tab", name="My money").get_attribute("aria-selected") == "true"
    assert page.get_by_role("heading", name="Place an order").is_hidden()
    page.keyboard.press("End")
    assert page.get_by_role("tab", name="My settings").evaluate("el => el === document.activeElement")
    page.get_by_role("button", name="Use the suggestions").click()
    page.get_by_text("Settings saved.").wait_for()
    assert _ok(served.get("/communities/town/profile", keys["b1"]), 200)["saved"] == {}
    assert page.get_by_role("form", name="My order settings").get_by_label(
        "How far you like to trade (m)").input_value() == "250"

    # ---------------------------------------------------------------- a phone (375 px): nothing wider than the screen
    page.set_viewport_size({"width": 375, "height": 800})
    try:
        for tab in ("Trade now", "My money", "My history", "My settings"):
            open_tab(page, tab)
            wide = page.evaluate("() => document.documentElement.scrollWidth")
            assert wide <= 375, (tab, wide)
        open_tab(page, "Trade now")
        for target in _shot_dirs(tmp_path):
            page.screenshot(path=str(target / "prosumer-375px.png"))
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})
    sign_out(page)
    assert problems == []


def test_block_editor_on_a_block_bid_community(served: Served, browser_page: Any) -> None:
    page = browser_page
    problems = watch_problems(page)
    _ok(served.post("/admin/communities", ADMIN_KEY, {"name": "blocks", "mechanism": "double_auction_vcg"}))
    keys = _members(served, "blocks", {"pv": None, "ev": None})
    slot = iso(slot_containing(market_now(served), SLOT_MINUTES) + timedelta(minutes=3 * SLOT_MINUTES))
    _ok(served.post("/communities/blocks/orders", keys["ev"], {"side": "buy", "slot_start": slot,
        "idempotency_key": "ev-1", "blocks": [{"energy_kwh": 3.0, "price_per_kwh": 0.3}]}))

    page.goto(served.base + "/app/")
    sign_in(page, keys["pv"])
    order = page.get_by_role("form", name="Place an order")
    assert order.get_by_label("How far you like to trade (m)").count() == 0  # no preferences here
    order.get_by_label("Slot start (UTC)").select_option(slot)
    order.get_by_label("Block 1: Energy (kWh)").fill("2")
    order.get_by_label("Block 1: Price per kWh").fill("0.1")
    order.get_by_role("button", name="Add block").click()
    order.get_by_label("Block 2: Energy (kWh)").fill("1")
    order.get_by_label("Block 2: Price per kWh").fill("-0.2")
    order.get_by_role("button", name="Place order").click()
    price2 = order.get_by_label("Block 2: Price per kWh")
    field_error(page, price2, "must be >= 0")  # blocks[1].price_per_kwh, beside block 2's price
    order.get_by_role("button", name="Add block").click()
    order.get_by_role("button", name="Remove block 3").click()
    assert order.get_by_label("Block 3: Energy (kWh)").count() == 0
    price2.fill("0.2")
    order.get_by_role("button", name="Place order").click()
    order.get_by_text("Order stored: sell 2 kWh at 0.1 per kWh, 1 kWh at 0.2 per kWh").wait_for()
    (stored,) = _ok(served.get("/communities/blocks/orders", keys["pv"]), 200)
    assert stored["blocks"] == [{"energy_kwh": 2.0, "price_per_kwh": 0.1}, {"energy_kwh": 1.0, "price_per_kwh": 0.2}]
    open_tab(page, "My history")
    assert "sell" in page.get_by_role("table", name=re.compile("My latest orders")).inner_text()
    result = _wait_result(served, "blocks", slot)["result"]
    sold = next(row["energy_kwh"] for row in result["sellers"] if row["id"] == "pv")
    page.get_by_role("button", name="Refresh").click()
    results = page.get_by_role("table", name="Results by slot")
    results.get_by_role("row").filter(has_text=slot[11:16]).filter(has_text="cleared").wait_for()
    assert sold > 0
    sign_out(page)

    # a one-sided mechanism with an optional price: the same code, another form
    _ok(served.post("/admin/communities", ADMIN_KEY, {"name": "dr", "mechanism": "dra_fixed_price",
                                                      "params": {"request_kwh": 5, "offer_price_per_kwh": 0.3}}))
    dr = _members(served, "dr", {"home": None})
    sign_in(page, dr["home"])
    order = page.get_by_role("form", name="Place an order")
    assert order.get_by_label("Side").locator("option").all_inner_texts() == ["sell"]
    assert order.get_by_label("Price per kWh (optional)").input_value() == ""
    fill_order(order, energy_kwh=1.2)
    order.get_by_role("button", name="Place order").click()
    order.get_by_text(re.compile(r"Order stored: sell 1.2 kWh for the slot at")).wait_for()
    (stored,) = _ok(served.get("/communities/dr/orders", dr["home"]), 200)
    assert stored["energy_kwh"] == 1.2 and "price_per_kwh" not in stored
    sign_out(page)
    assert problems == []
