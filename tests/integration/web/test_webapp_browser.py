"""The web app end to end in headless Chromium against the real service (`transactive serve`, SQLite, clock x120).

An administrator creates a community and its members through the UI; a prosumer places a valid order (it shows
in its list) and an invalid one (the API's message shows next to the field and nothing is stored, checked
through the API); the service clears the slot; the result shows in the prosumer's and the DSO's views, and
nothing the DSO's browser shows or receives contains a bid price. Screenshots of each view go to tmp_path.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from transactive.market import iso, slot_containing
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

SLOT_MINUTES = 1
ASK, BID = 1.137, 3.913  # distinctive prices: neither may reach the DSO
ENERGY_KWH = 2.0


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


def test_admin_prosumer_and_dso_views(served: Served, browser_page: Any, tmp_path: Path) -> None:
    page = browser_page
    problems = watch_problems(page)  # uncaught exceptions, CSP violations...
    page.goto(served.base + "/")
    assert page.url == served.base + "/app/"  # / redirects to the app

    # ---------------------------------------------------------------- a wrong key: the API's message at the field
    page.get_by_label("API key").fill("tk_not_a_key")
    page.get_by_role("button", name="Sign in").click()
    page.locator("#login-api_key-error").filter(has_text="unknown API key").wait_for()
    assert page.evaluate("sessionStorage.length") == 0  # a refused key is not kept
    page.get_by_label("API key").fill("")

    # ---------------------------------------------------------------- admin: community and members via the UI
    sign_in(page, ADMIN_KEY)
    assert page.locator("body").get_attribute("data-role") == "admin"
    create = page.get_by_role("form", name="Create a community")
    create.get_by_label("Name").fill("green")
    create.get_by_label("Mechanism").fill("uniform")
    create.get_by_label("Slot (minutes)").fill(str(SLOT_MINUTES))
    create.get_by_role("button", name="Create community").click()
    create.get_by_text("Community green created").wait_for()
    open_tab(page, "Members")  # the administrator's page is organised by task
    keys = {name: add_member(page, name, role, bus)
            for name, role, bus in (("seller", "prosumer", "12"), ("buyer", "prosumer", "34"), ("grid", "dso", ""),
                                    ("agg", "aggregator", ""))}
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
    now = market_now(served)
    day = (now + timedelta(days=2)).strftime("%Y-%m-%d")
    r = served.post("/communities/green/negawatt-events", keys["agg"], {
        "id": "dr-1", "target_kwh": 5, "price_per_kwh": 0.9, "offers_close": iso(now + timedelta(hours=4)),
        "window_start": f"{day}T17:00:00Z", "window_end": f"{day}T18:00:00Z"})
    assert r.status_code == 201, r.text
    sign_in(page, keys["buyer"])
    assert page.locator("body").get_attribute("data-role") == "trader"
    order = page.get_by_role("form", name="Place an order")
    fill_order(order, side="buy", slot=slot, energy_kwh=ENERGY_KWH, price_per_kwh=BID)
    order.get_by_label("Price per kWh").press("Enter")  # submit from the keyboard
    order.get_by_text("Order stored: buy 2 kWh at 3.913 per kWh").wait_for()
    open_tab(page, "My history")
    mine = page.get_by_role("table", name=re.compile("My latest orders"))
    assert "3.913" in mine.inner_text() and "buy" in mine.inner_text()
    open_tab(page, "Trade now")

    later = iso(slot_containing(market_now(served), SLOT_MINUTES) + timedelta(minutes=30))
    fill_order(order, slot=later, energy_kwh=-1)
    order.get_by_role("button", name="Place order").click()
    error = field_error(page, order.get_by_label("Energy (kWh)"), "must be > 0", focused=True)
    assert error.inner_text() == "must be > 0, got -1"  # the API's message, next to its field
    stored = served.get("/communities/green/orders", keys["buyer"]).json()
    assert [(o["slot_start"], o["side"], o["energy_kwh"], o["price_per_kwh"]) for o in stored] == [
        (slot, "buy", ENERGY_KWH, BID)]  # the invalid order changed nothing

    # ---------------------------------------------------------------- a negawatt offer; a second one is refused
    events = page.get_by_role("table", name="Negawatt events of the community")
    assert "dr-1" in events.inner_text() and "FOR_SALE" in events.inner_text()
    offer = page.get_by_role("form", name="Offer a reduction")
    offer.get_by_label("Event").select_option("dr-1")
    offer.get_by_label("Energy (kWh)").fill("1.5")
    offer.get_by_label("Price per kWh (optional)").fill("0.7")
    offer.get_by_role("button", name="Offer").click()
    offer.get_by_text("Offer stored in dr-1: sell 1.5 kWh.").wait_for()
    offer.get_by_label("Energy (kWh)").fill("2")
    offer.get_by_role("button", name="Offer").click()
    field_error(page, offer.get_by_label("Event"), "already offered")
    stored_offers = served.get("/communities/green/negawatt-events/dr-1", keys["agg"]).json()["offers"]
    assert [(o["member"], o["energy_kwh"], o["price_per_kwh"]) for o in stored_offers] == [("buyer", 1.5, 0.7)]

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
    open_tab(page, "My history")
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
    page.on("response", lambda response: responses.append(response)  # (the live stream never ends: not read)
            if response.request.resource_type == "fetch" and not response.url.endswith("/events") else None)
    # a service without negawatt routes (older or trimmed) answers 404 for the route: the panel must hide
    page.route("**/negawatt-events", lambda route: route.fulfill(
        status=404, content_type="application/json",
        body=json.dumps({"error": {"field": "(path)", "message": "Not Found"}})))
    sign_in(page, keys["grid"])
    assert page.locator("body").get_attribute("data-role") == "dso"
    assert page.get_by_role("heading", name="Negawatt events").is_hidden()
    # the slot is picked from the recent slots (nobody types a time)
    page.get_by_role("button", name=f"Trades of the slot at {slot[:10]} {slot[11:16]} UTC").click()
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


def test_slot_arithmetic_in_the_browser_matches_the_market(served: Served, browser_page: Any) -> None:
    """The app's slot maths (js/time.js) against transactive.market.slots on the same instants, and the chart
    axis ticks (js/charts.js niceTicks) against their definition: round steps covering the data."""
    page = browser_page
    page.goto(served.base + "/app/")
    rng = random.Random(7)
    lengths = [1, 5, 15, 60, 90, 1440]
    instants = [datetime(2026, 3, 1, 10, 0, tzinfo=UTC), datetime(2026, 3, 1, 9, 59, 59, 999000, tzinfo=UTC),
                datetime(2024, 2, 29, 23, 59, tzinfo=UTC)]
    instants += [datetime(2025, 1, 1, tzinfo=UTC) + timedelta(milliseconds=rng.randrange(3 * 365 * 86_400_000))
                 for _ in range(60)]
    cases = [(int(t.timestamp() * 1000), m) for t in instants for m in lengths]
    answers = page.evaluate("""async (cases) => {
        const t = await import(new URL("js/time.js", document.baseURI).href);
        return cases.map(([ms, minutes]) => {
            const now = new Date(ms);
            return [t.isoSlot(t.slotContaining(now, minutes)), t.recentSlots(now, minutes, 3),
                    t.upcomingSlotOptions(now, minutes).map(([value]) => value)];
        });
    }""", cases)
    for (ms, minutes), (current, recent, upcoming) in zip(cases, answers, strict=True):
        start = slot_containing(datetime.fromtimestamp(ms / 1000, UTC), minutes)
        assert current == iso(start)
        assert recent == [iso(start - timedelta(minutes=minutes * k)) for k in (2, 1, 0)]
        count = max(24, math.ceil(120 / minutes))  # the upcoming slots offered: two hours' worth, at least 24
        assert upcoming == [iso(start + timedelta(minutes=minutes * k)) for k in range(1, count + 1)]
    # times from the API carry microseconds and an offset; the app keeps the millisecond
    parsed = page.evaluate("""async (text) => (await import(new URL("js/time.js", document.baseURI).href))
        .parseTime(text).getTime()""", "2026-03-01T10:00:05.123456+00:00")
    assert parsed == int(datetime(2026, 3, 1, 10, 0, 5, 123000, tzinfo=UTC).timestamp() * 1000)

    ranges = [(0.0, 1.0), (2.525, 2.525), (-2.0, 0.0), (0.013, 0.0172), (-37.5, 1250.0), (1e-4, 3e-4)]
    ranges += [tuple(sorted((rng.uniform(-1e3, 1e3), rng.uniform(-1e3, 1e3)))) for _ in range(30)]
    ticks_of = page.evaluate("""async (ranges) => {
        const c = await import(new URL("js/charts.js", document.baseURI).href);
        return ranges.map(([low, high]) => c.niceTicks(low, high));
    }""", ranges)
    for (low, high), ticks in zip(ranges, ticks_of, strict=True):
        assert ticks[0] <= low and ticks[-1] >= high, (low, high, ticks)
        steps = [b - a for a, b in itertools.pairwise(ticks)]
        step = steps[0]
        assert all(math.isclose(s, step, rel_tol=1e-9) for s in steps), ticks
        mantissa = step / 10 ** math.floor(math.log10(step))
        assert any(math.isclose(mantissa, m, rel_tol=1e-9) for m in (1, 2, 5)), (step, ticks)
        assert 2 <= len(ticks) <= 10, ticks
