"""The web app end to end in headless Chromium against the real service (`transactive serve`, SQLite, clock x120).

An administrator creates a community and its members through the UI; a prosumer places a valid order (it shows
in its list) and an invalid one (the API's message shows next to the field and nothing is stored, checked
through the API); the service clears the slot; the result shows in the prosumer's and the DSO's views, and
nothing the DSO's browser shows or receives contains a bid price. Screenshots of each view go to tmp_path.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from transactive.market import iso, slot_containing
from web_support import ADMIN_KEY, Served

SLOT_MINUTES = 1
ASK, BID = 1.137, 3.913  # distinctive prices: neither may reach the DSO
ENERGY_KWH = 2.0


def sign_in(page: Any, key: str) -> None:
    """Keyboard only: focus the key field, type, press Enter."""
    page.get_by_label("API key").focus()
    page.keyboard.type(key)
    page.keyboard.press("Enter")
    page.wait_for_selector("body[data-ready=true]")


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_selector("#login:not([hidden])")


def unlabelled_controls(page: Any) -> list[str]:
    return list(page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(el => el.offsetParent !== null && el.labels.length === 0 && !el.getAttribute('aria-label'))
        .map(el => el.outerHTML)"""))


def add_member(page: Any, member: str, role: str, bus: str) -> str:
    form = page.get_by_role("form", name="Add a member")
    form.get_by_label("Member id").fill(member)
    form.get_by_label("Role").select_option(role)
    form.get_by_label("Feeder bus (optional)").fill(bus)
    form.get_by_role("button", name="Add member").click()
    key_box = page.locator(f".key-box[data-member='{member}'] output")
    key: str = key_box.inner_text(timeout=10_000).strip()
    assert key.startswith("tk_")
    return key


def market_now(served: Served) -> datetime:
    return datetime.fromisoformat(served.get("/health", ADMIN_KEY).json()["now"])


def test_admin_prosumer_and_dso_views(served: Served, browser_page: Any, tmp_path: Path) -> None:
    page = browser_page
    problems: list[str] = []  # uncaught exceptions, CSP violations...; a 404 of a slot without result is expected
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: problems.append(f"console: {message.text}")
            if message.type == "error" and not message.text.startswith("Failed to load resource") else None)
    page.goto(served.base + "/")
    assert page.url == served.base + "/app/"  # / redirects to the app

    # ---------------------------------------------------------------- admin: community and members via the UI
    sign_in(page, ADMIN_KEY)
    assert page.locator("body").get_attribute("data-role") == "admin"
    create = page.get_by_role("form", name="Create a community")
    create.get_by_label("Name").fill("green")
    create.get_by_label("Mechanism").fill("uniform")
    create.get_by_label("Slot (minutes)").fill(str(SLOT_MINUTES))
    create.get_by_role("button", name="Create community").click()
    page.get_by_text("Community green created").wait_for()
    keys = {name: add_member(page, name, role, bus)
            for name, role, bus in (("seller", "prosumer", "12"), ("buyer", "prosumer", "34"), ("grid", "dso", ""))}
    communities = served.get("/communities", ADMIN_KEY).json()
    assert [(c["name"], c["mechanism"], c["slot_minutes"]) for c in communities] == [("green", "uniform", 1)]
    assert unlabelled_controls(page) == []
    page.screenshot(path=str(tmp_path / "admin.png"), full_page=True)
    sign_out(page)

    # ---------------------------------------------------------------- prosumer: a valid and an invalid order
    slot = iso(slot_containing(market_now(served), SLOT_MINUTES) + timedelta(minutes=16))  # ~8 s of real time ahead
    r = served.post("/communities/green/orders", keys["seller"], {
        "side": "sell", "slot_start": slot, "idempotency_key": "s1", "energy_kwh": ENERGY_KWH, "price_per_kwh": ASK})
    assert r.status_code == 201, r.text
    sign_in(page, keys["buyer"])
    assert page.locator("body").get_attribute("data-role") == "trader"
    order = page.get_by_role("form", name="Place an order")
    order.get_by_label("Side").select_option("buy")
    order.get_by_label("Energy (kWh)").fill(str(ENERGY_KWH))
    order.get_by_label("Slot start (UTC)").fill(slot)
    order.get_by_label("Price per kWh").fill(str(BID))
    order.get_by_label("Price per kWh").press("Enter")  # submit from the keyboard
    page.get_by_text("Order stored: buy 2 kWh at 3.913 per kWh").wait_for()
    mine = page.get_by_role("table", name=re.compile("My latest orders"))
    assert "3.913" in mine.inner_text() and "buy" in mine.inner_text()

    later = iso(slot_containing(market_now(served), SLOT_MINUTES) + timedelta(minutes=30))
    order.get_by_label("Energy (kWh)").fill("-1")
    order.get_by_label("Slot start (UTC)").fill(later)
    order.get_by_role("button", name="Place order").click()
    energy = order.get_by_label("Energy (kWh)")
    error = page.locator(f"#{energy.get_attribute('id')}-error")
    error.filter(has_text="must be > 0").wait_for()
    assert error.inner_text() == "must be > 0, got -1"  # the API's message, next to its field
    assert energy.get_attribute("aria-invalid") == "true"
    assert energy.evaluate("el => el === document.activeElement")
    stored = served.get("/communities/green/orders", keys["buyer"]).json()
    assert [(o["slot_start"], o["side"], o["energy_kwh"], o["price_per_kwh"]) for o in stored] == [
        (slot, "buy", ENERGY_KWH, BID)]  # the invalid order changed nothing

    # ---------------------------------------------------------------- the service clears the slot by itself
    deadline = time.monotonic() + 60
    result = served.get(f"/communities/green/slots/{slot}/result", ADMIN_KEY)
    while result.status_code == 404 and time.monotonic() < deadline:
        time.sleep(0.2)
        result = served.get(f"/communities/green/slots/{slot}/result", ADMIN_KEY)
    assert result.status_code == 200, result.text
    full = result.json()["result"]
    price = full["price_per_kwh"]
    assert ASK <= price <= BID
    paid = next(row["payment"] for row in full["buyers"] if row["id"] == "buyer")
    assert paid > 0

    page.get_by_role("button", name="Refresh").click()
    results = page.get_by_role("table", name="Results by slot")
    row = results.get_by_role("row").filter(has_text=slot[11:16])
    row.filter(has_text="cleared").wait_for()
    cells = row.inner_text()
    assert f"{price:g}" in cells and f"-{ENERGY_KWH:g}" in cells and f"-{paid:g}" in cells
    assert unlabelled_controls(page) == []
    page.screenshot(path=str(tmp_path / "prosumer.png"), full_page=True)
    sign_out(page)

    # ---------------------------------------------------------------- DSO: trades, never a bid
    responses: list[Any] = []
    page.on("response", lambda response: responses.append(response)
            if response.request.resource_type == "fetch" else None)
    # a service without negawatt routes (older or trimmed) answers 404 for the route: the panel must hide
    page.route("**/negawatt-events", lambda route: route.fulfill(
        status=404, content_type="application/json",
        body=json.dumps({"error": {"field": "(path)", "message": "Not Found"}})))
    sign_in(page, keys["grid"])
    assert page.locator("body").get_attribute("data-role") == "dso"
    assert page.get_by_role("heading", name="Negawatt events").is_hidden()
    lookup = page.get_by_role("form", name="Look up a slot")
    lookup.get_by_label("Slot start (UTC)").fill(slot)
    lookup.get_by_role("button", name="Show slot").click()
    trades = page.get_by_role("table", name=re.compile("Trades in the slot"))
    trades.wait_for()
    text = trades.inner_text()
    for member, bus in (("seller", "12"), ("buyer", "34")):
        assert trades.get_by_role("row").filter(has_text=member).filter(has_text=bus).count() == 1
    assert f"{paid:g}" in text
    page.screenshot(path=str(tmp_path / "dso.png"), full_page=True)
    page_text = page.locator("body").inner_text()
    bodies = [response.text() for response in responses]
    for bid in (f"{ASK:g}", f"{BID:g}"):
        assert bid not in page_text
        assert not any(bid in body for body in bodies)
    assert any(slot in body for body in bodies)  # the responses were captured
    assert problems == []
