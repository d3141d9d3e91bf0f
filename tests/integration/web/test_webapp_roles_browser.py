"""The aggregator's, DSO's, validator's and administrator's pages (issue 11) in headless Chromium against the real
``transactive serve`` with its embedded chain (SQLite, clock x120), on a community created with the defaults
(``dpda_matched``, 15-minute slots) and, for the ledger explorer, on a block-bid community
(``double_auction_vcg``).

Each role's main task is done by clicking: the aggregator announces a demand-response event with the form built
from the API's description (a bad target refused beside its field; a double click sends one request), watches
the offers arrive, is refused when clearing too early (the API's message), records a delivery (a day of the
wrong length refused beside the field, nothing stored) and settles; the verification is the API's and the chart
shows the usual consumption against the event day. The DSO picks the cleared slot from a list and sees its trades
on the drawn feeder with buses, distances and grid charges equal to the API's, and no order price anywhere. The
validator verifies the slot (one request for a double click) and sees who endorsed it; the administrator sees
the members with their chain accounts, the ledger, the fund and the validators' health. Every tab of every page
passes axe-core (no serious or critical violation) and is no wider than the screen at 375 and 1280 px. No script
error or CSP violation occurs. Screenshots go to the test's directory and, with ``TRANSACTIVE_DOCS_IMG``, there.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from transactive.grid.feeder import load_feeder
from transactive.market import iso, slot_containing
from transactive.matching.mechanisms import DEFAULT_FEEDER
from transactive.store import open_store, sqlite_url
from web_support import (
    ADMIN_KEY,
    Served,
    axe_problems,
    axe_source,
    check_tabs,
    field_error,
    market_now,
    sign_in,
    sign_out,
    unlabelled_controls,
    watch_problems,
)

SLOT_MINUTES = 15  # the default
# distinctive prices: none may reach the DSO
ORDERS = [("s1", "sell", 2.0, 0.1234), ("s2", "sell", 2.0, 0.5678), ("b1", "buy", 1.5, 0.4321),
          ("b2", "buy", 1.0, 0.0567)]
OFFERS = [("s1", 2.0, 0.2), ("s2", 2.0, 0.3)]
INTERVAL = 15  # the event's meter interval (minutes)
PER_DAY = 1440 // INTERVAL
USUAL_KWH = 5.0
REDUCED_KWH = 2.0


def _ok(response: Any, status: int = 201) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _wait(what: str, probe: Any, timeout_s: float = 90) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def _show_time(value: str) -> str:
    """js/time.js showTime for a whole-minute time."""
    return f"{value[:10]} {value[11:16]} UTC"


def _shot(page: Any, tmp_path: Path, name: str) -> None:
    dirs = [tmp_path, *([Path(os.environ["TRANSACTIVE_DOCS_IMG"])] if os.environ.get("TRANSACTIVE_DOCS_IMG") else [])]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(d / name), full_page=True)


def _members(served: Served, community: str, members: list[tuple[str, str, str | None]]) -> dict[str, str]:
    keys = {}
    for member, role, bus in members:
        body: dict[str, Any] = {"id": member, "role": role, **({} if bus is None else {"bus": bus})}
        keys[member] = _ok(served.post(f"/admin/communities/{community}/members", ADMIN_KEY, body))["api_key"]
    return keys


def _fetches(page: Any) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda request: seen.append(f"{request.method} {request.url}")
            if request.resource_type == "fetch" else None)
    return seen


def test_role_pages_on_the_default_community(served: Served, browser_page: Any, tmp_path: Path) -> None:
    page = browser_page
    problems = watch_problems(page)
    requests = _fetches(page)
    responses: list[Any] = []
    axe = axe_source()
    a11y: list[str] = []

    # ---------------------------------------------------------------- set-up through the API
    created = _ok(served.post("/admin/communities", ADMIN_KEY, {"name": "town"}))
    assert (created["mechanism"], created["slot_minutes"]) == ("dpda_matched", SLOT_MINUTES)
    loads = [str(b) for b in list(load_feeder(DEFAULT_FEEDER).load_buses)[:5]]
    buses = dict(zip(("s1", "s2", "b1", "b2"), loads[:4], strict=True))
    keys = _members(served, "town", [*((w, "prosumer", b) for w, b in buses.items()), ("agg", "aggregator", loads[4]),
                                      ("grid", "dso", None), ("val", "validator", None)])
    _ok(served.post("/admin/communities", ADMIN_KEY, {"name": "blocks", "mechanism": "double_auction_vcg",
                                                      "slot_minutes": 1}))
    block_keys = _members(served, "blocks", [("p1", "prosumer", "12"), ("p2", "prosumer", "34"),
                                             ("val2", "validator", None)])
    now = market_now(served)
    slot = iso(slot_containing(now, SLOT_MINUTES) + timedelta(minutes=SLOT_MINUTES))
    for who, side, energy, price in ORDERS:
        _ok(served.post("/communities/town/orders", keys[who], {"side": side, "slot_start": slot,
            "idempotency_key": f"{who}-1", "energy_kwh": energy, "price_per_kwh": price}))
    later = iso(slot_containing(now, SLOT_MINUTES) + timedelta(minutes=8 * SLOT_MINUTES))  # still taking orders
    _ok(served.post("/communities/town/listings", keys["s2"], {"id": "pv-s2", "slot_start": later,
                                                               "energy_kwh": 3.0, "price_per_kwh": 0.25}))
    _ok(served.post("/communities/town/listings/pv-s2/orders", keys["b2"], {"id": "lo-1", "energy_kwh": 1.25}))
    block_slot = iso(slot_containing(market_now(served), 1) + timedelta(minutes=3))  # ~1.5 s of real time ahead
    _ok(served.post("/communities/blocks/orders", block_keys["p1"], {"side": "sell", "slot_start": block_slot,
        "idempotency_key": "p1", "blocks": [{"energy_kwh": 1.0, "price_per_kwh": 0.1},
                                            {"energy_kwh": 1.0, "price_per_kwh": 0.2}]}))
    _ok(served.post("/communities/blocks/orders", block_keys["p2"], {"side": "buy", "slot_start": block_slot,
        "idempotency_key": "p2", "blocks": [{"energy_kwh": 1.5, "price_per_kwh": 0.5}]}))

    # ---------------------------------------------------------------- the aggregator runs an event by clicking
    page.goto(served.base + "/app/")
    sign_in(page, keys["agg"])
    assert page.locator("body").get_attribute("data-role") == "aggregator"
    form = page.get_by_role("form", name="Announce an event")
    form.get_by_label("Kind of event").wait_for()
    kinds = form.get_by_label("Kind of event").locator("option").all_inner_texts()
    assert len(kinds) == 3 and any(k.startswith("Type I:") for k in kinds)
    assert any(k.startswith("Type II:") for k in kinds)
    form.get_by_label("Event name").fill("dr-evening")
    form.get_by_label("Meter interval (minutes)").fill(str(INTERVAL))
    form.get_by_label("Price per kWh (optional)").fill("0.5")
    target = form.get_by_label("Reduction wanted (kWh)")
    target.fill("-3")
    # the times are picked from lists: the window's follow the meter interval just chosen
    starts = form.get_by_label("Reduction starts at")
    page.wait_for_function("""(id) => { const o = document.getElementById(id).options;
        return o.length > 1 && Date.parse(o[1].value) - Date.parse(o[0].value) === 15 * 60000; }""",
                           arg=starts.get_attribute("id"))
    close_options = form.get_by_label("Offers close at").locator("option").evaluate_all("os => os.map(o => o.value)")
    form.get_by_label("Offers close at").select_option(close_options[1])
    window_options = starts.locator("option").evaluate_all("os => os.map(o => o.value)")
    starts.select_option(window_options[0])
    form.get_by_label("Reduction ends at").select_option(window_options[1])
    chosen = {"offers_close": close_options[1], "window_start": window_options[0], "window_end": window_options[1]}
    assert chosen["window_start"] >= chosen["offers_close"]
    body = {"id": "dr-evening", "event_type": "knapsack_vcg", "target_kwh": -3, "price_per_kwh": 0.5,
            "interval_minutes": INTERVAL, **chosen}
    refused = served.post("/communities/town/negawatt-events", keys["agg"], body)  # the same body: refused too
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "target_kwh"
    form.get_by_role("button", name="Announce").click()
    field_error(page, target, refused.json()["error"]["message"], focused=True)
    assert _ok(served.get("/communities/town/negawatt-events", keys["agg"]), 200) == []  # nothing stored
    target.fill("3")
    posts_before = sum(1 for r in requests if r.startswith("POST") and r.endswith("/negawatt-events"))
    form.get_by_role("button", name="Announce").dblclick()
    page.get_by_text("Event dr-evening announced").wait_for()
    assert sum(1 for r in requests if r.startswith("POST") and r.endswith("/negawatt-events")) == posts_before + 1
    event = _ok(served.get("/communities/town/negawatt-events/dr-evening", keys["agg"]), 200)
    assert (event["offers_close"], event["window_start"], event["window_end"]) == (
        chosen["offers_close"], chosen["window_start"], chosen["window_end"])
    assert event["interval_minutes"] == INTERVAL and event["target_kwh"] == 3 and event["state"] == "FOR_SALE"

    for who, energy, price in OFFERS:
        _ok(served.post("/communities/town/negawatt-events/dr-evening/offers", keys[who],
                        {"energy_kwh": energy, "price_per_kwh": price}))
    # watched: the offers appear without a click (the "negawatt" event of the stream; the 5-second tick if down)
    page.get_by_role("heading", name=f"Offers ({len(OFFERS)})").wait_for(timeout=15_000)
    offers = page.get_by_role("table", name="Offers in dr-evening")
    assert offers.get_by_role("row").count() == 1 + len(OFFERS)
    page.get_by_role("button", name="Clear now").click()  # offers are still open: the API refuses
    early = page.locator(".event-actions ~ .form-error")
    early.filter(has_text="offers are taken until").wait_for()
    a11y += check_tabs(page, ["Run an event", "All events", "Ledger", "Trade and my money"], axe)

    _wait("the event to clear", lambda: served.get("/communities/town/negawatt-events/dr-evening",
                                                  keys["agg"]).json()["state"] == "CLEARED")
    cleared = served.get("/communities/town/negawatt-events/dr-evening", keys["agg"]).json()
    winners = {r["id"]: r["energy_kwh"] for r in cleared["clearing"]["sellers"] if r["energy_kwh"] > 0}
    assert "s1" in winners
    _wait("the event window to end", lambda: market_now(served) >= datetime.fromisoformat(chosen["window_end"]))
    page.get_by_role("button", name="Refresh").click()
    page.locator(".event-state").filter(has_text="cleared").wait_for()
    delivery = page.get_by_role("form", name="Record a delivery")
    delivery.get_by_label("Member").select_option("s1")
    delivery.get_by_label("Past days' consumption (kWh per interval)").fill(
        "\n".join(" ".join([f"{USUAL_KWH:g}"] * PER_DAY) for _ in range(10)))
    today_field = delivery.get_by_label("The event day's consumption (kWh per interval)")
    today_field.fill(" ".join(["5"] * 5))  # a day of the wrong length
    wrong = served.post("/communities/town/negawatt-events/dr-evening/deliveries", keys["agg"],
                        {"member": "s1", "history_kwh": [[USUAL_KWH] * PER_DAY] * 10, "event_day_kwh": [5.0] * 5})
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "event_day_kwh"
    delivery.get_by_role("button", name="Record delivery").click()
    field_error(page, today_field, wrong.json()["error"]["message"])
    assert "deliveries" in cleared and _ok(served.get("/communities/town/negawatt-events/dr-evening",
                                                      keys["agg"]), 200)["deliveries"] == []
    start = datetime.fromisoformat(chosen["window_start"])
    k = (start.hour * 60 + start.minute) // INTERVAL
    day = [USUAL_KWH] * PER_DAY
    day[k] = USUAL_KWH - REDUCED_KWH  # one interval in the window, reduced by 2 kWh
    today_field.fill(" ".join(f"{v:g}" for v in day))
    delivery.get_by_role("button", name="Record delivery").click()
    page.get_by_text(f"s1 reduced by {REDUCED_KWH:g} kWh against the usual consumption.").wait_for()
    chart = page.locator("svg.chart", has=page.locator("title", has_text="s1: usual consumption"))
    desc = chart.locator("desc").text_content()
    assert "event day: " in desc and f" {USUAL_KWH - REDUCED_KWH:g}" in desc
    assert "usual consumption (baseline): " in desc
    page.get_by_role("button", name="Settle now").dblclick()
    page.locator(".event-state").filter(has_text="settled").wait_for()
    settled = _ok(served.get("/communities/town/negawatt-events/dr-evening", keys["agg"]), 200)
    assert settled["state"] == "SETTLED"
    assert sum(1 for r in requests if r.startswith("POST") and r.endswith("/dr-evening/settle")) == 1
    rows = {r["id"]: r for r in settled["settlement"]["verification"]}
    assert rows["s1"]["delivered_kwh"] == REDUCED_KWH and rows["s1"]["shortfall_kwh"] == max(winners["s1"] - 2.0, 0)
    verification = page.get_by_role("table", name="Verification of dr-evening")
    s1_row = verification.get_by_role("row").filter(has_text="s1").inner_text()
    assert "verified against the usual consumption" in s1_row or "delivered 2 of" in s1_row
    payments = page.get_by_role("table", name="Payments of dr-evening (tokens)").get_by_role("row").all_inner_texts()
    assert len(payments) == 1 + len(settled["settlement"]["postings"])
    for posting in settled["settlement"]["postings"]:
        assert any(posting["account"] in row and f"{posting['amount_micro'] / 1e6:g}" in row for row in payments)
    assert unlabelled_controls(page) == []
    _shot(page, tmp_path, "aggregator-events.png")
    sign_out(page)

    # ---------------------------------------------------------------- the DSO: the slot's trades on the feeder
    result = _wait("the slot to clear", lambda: (r := served.get(f"/communities/town/slots/{slot}/result",
                                                               keys["grid"])).status_code == 200 and r.json())
    assert result["grid_trades"], result
    page.on("response", lambda response: responses.append(response)  # (the live stream never ends: not read)
            if response.request.resource_type == "fetch" and not response.url.endswith("/events") else None)
    sign_in(page, keys["grid"])
    assert page.locator("body").get_attribute("data-role") == "dso"
    grid = page.get_by_role("region", name="The slot's trades on the feeder")
    grid.get_by_label("Slot", exact=True).select_option(slot)
    trades = page.get_by_role("table", name=f"Trades of the slot at {_show_time(slot)}: distance and grid charge")
    trades.wait_for()
    assert page.locator("svg.feeder.close-up path.feeder-trade").count() == len(result["grid_trades"])
    page.get_by_role("button", name="Close-up").click()  # the whole feeder
    page.locator("svg.feeder:not(.close-up)").wait_for()
    assert page.locator("svg.feeder path.feeder-trade").count() == len(result["grid_trades"])
    page.get_by_role("button", name="Close-up").click()
    page.locator("svg.feeder.close-up").wait_for()
    for trade in result["grid_trades"]:
        cells = trades.get_by_role("row").filter(has_text=f"{trade['seller']} (bus {trade['seller_bus']})") \
            .filter(has_text=f"{trade['buyer']} (bus {trade['buyer_bus']})").get_by_role("cell").all_inner_texts()
        assert abs(float(cells[-2]) - trade["distance_m"]) <= 0.05
        assert abs(float(cells[-1]) - trade["charge"]) <= 5e-9
        assert abs(float(cells[-3]) - trade["energy_kwh"]) <= 5e-5
    assert trade["seller_bus"] == buses[trade["seller"]] and trade["buyer_bus"] == buses[trade["buyer"]]
    total = page.locator(".total-charge").inner_text()
    assert abs(float(total) - result["total_charge"]) <= 5e-9
    # a listing order reviewed with the power flow: voltages and loadings as the API computes them, then decided
    page.get_by_role("tab", name="Listing reviews", exact=True).click()
    page.get_by_role("button", name="Check the grid for order lo-1").click()
    page.locator(".power-flow .verdict[data-order='lo-1']").wait_for()
    flow = _ok(served.get("/communities/town/listing-orders/lo-1/power-flow", keys["grid"]), 200)
    shown = float(page.locator(".flow-loading").inner_text().split(" %")[0])
    assert abs(shown - flow["max_line_loading_percent"]) <= 0.05
    assert abs(float(page.locator(".flow-vmin").inner_text().split(" pu")[0]) - flow["min_vm_pu"]) <= 5e-5
    assert flow["violations"] == [] and "stays within its limits" in page.locator(".power-flow").inner_text()
    page.get_by_role("button", name="Power flow order lo-1").click()
    page.get_by_text("Order lo-1: accepted.").wait_for()
    decided = {o["id"]: o["state"] for o in _ok(served.get("/communities/town/listing-orders", keys["grid"]), 200)}
    assert decided == {"lo-1": "accepted"}
    page.get_by_role("tab", name="The grid now", exact=True).click()
    a11y += check_tabs(page, ["The grid now", "Listing reviews", "My income", "Ledger", "Demand response"], axe)
    _shot(page, tmp_path, "dso-grid.png")
    page_text = page.locator("body").inner_text()
    bodies = [response.text() for response in responses]
    assert any("grid_trades" in b for b in bodies)
    for _, _, _, price in ORDERS:
        assert f"{price:g}" not in page_text
        assert not any(f"{price:g}" in b for b in bodies)
    sign_out(page)

    # ---------------------------------------------------------------- the validator verifies the slot
    _wait("the slot to be anchored", lambda: (served.get(f"/communities/town/slots/{slot}/ledger", keys["val"])
                                               .json()["clearing"] or {}).get("state") in ("anchored", "settled"))
    sign_in(page, keys["val"])
    assert page.locator("body").get_attribute("data-role") == "validator"
    listed = _ok(served.get("/communities/town/ledger/slots", keys["val"]), 200)
    mine = next(s for s in listed if s["slot_start"] == slot)
    page.get_by_role("region", name="Ledger explorer").get_by_label("Slot", exact=True).select_option(slot)
    endorsed = page.locator(".endorsed-by").first.inner_text()
    assert re.search(rf"\({len(mine['clearing']['endorsed_by'])} of \d+\)", endorsed) and "validator " in endorsed
    verifies = sum(1 for r in requests if r.startswith("POST") and r.endswith("/verify"))
    page.get_by_role("button", name="Verify this slot").dblclick()
    page.locator(".verdict").wait_for()
    assert page.locator(".verdict").get_attribute("data-ok") == "true"
    assert f"Slot {_show_time(slot)} checks out" in page.locator(".verdict").inner_text()
    assert sum(1 for r in requests if r.startswith("POST") and r.endswith("/verify")) == verifies + 1
    # a stored result changed behind the service's back (one micro-token, in its database): the recomputation
    # through the page catches it and names the account; put back, the slot checks out again
    _wait("the slot to be settled", lambda: (served.get(f"/communities/town/slots/{slot}/ledger", keys["val"])
                                              .json()["settlement"] or {}).get("state") == "settled")
    store = open_store(url=sqlite_url(served.data_dir))
    before = store.get_ledger_slot("town", slot, "clearing")
    assert before is not None
    results = [dict(r) for r in before.document["results"]]
    victim = next(r for r in results if int(r["amountMicro"]) != 0)
    victim["amountMicro"] = int(victim["amountMicro"]) + 1
    assert store.put_ledger_slot(replace(before, document={**before.document, "results": results}), before.state)
    try:
        page.get_by_role("button", name="Verify this slot").click()
        bad = page.locator(".verdict[data-ok=false]")
        bad.wait_for()
        assert "something does not agree with the chain" in bad.inner_text()
        assert f"Clearing: does NOT check out: result {victim['account']}" in bad.inner_text()
    finally:
        assert store.put_ledger_slot(before, before.state)
        store.close()
    page.get_by_role("button", name="Verify this slot").click()
    page.locator(".verdict[data-ok=true]").wait_for()
    a11y += check_tabs(page, ["Ledger explorer", "Validators", "Slot results", "Contracts and events"], axe)
    _shot(page, tmp_path, "validator-explorer.png")
    sign_out(page)

    # ---------------------------------------------------------------- the administrator's overview
    sign_in(page, ADMIN_KEY)
    page.get_by_label("Community shown below").select_option("town")
    page.get_by_role("tab", name="Members", exact=True).click()
    add = page.get_by_role("form", name="Add a member")
    add.get_by_label("Community").select_option("town")
    add.get_by_label("Member id").fill("p9")
    add.get_by_label("Role").select_option("prosumer")
    add.get_by_role("button", name="Add member").click()  # no bus, in a community clearing on the feeder
    no_bus = served.post("/admin/communities/town/members", ADMIN_KEY, {"id": "p9", "role": "prosumer"})
    assert no_bus.status_code == 422 and no_bus.json()["error"]["field"] == "bus"
    bus_field = add.get_by_label("Feeder bus (optional)")
    field_error(page, bus_field, no_bus.json()["error"]["message"])
    bus_field.fill(loads[4])
    adds = sum(1 for r in requests if r.startswith("POST") and r.endswith("/members"))
    add.get_by_role("button", name="Add member").dblclick()
    page.locator(".key-box[data-member='p9']").wait_for()
    assert sum(1 for r in requests if r.startswith("POST") and r.endswith("/members")) == adds + 1
    members = page.get_by_role("table", name="Members of town")
    members.get_by_role("rowheader", name="p9", exact=True).wait_for()
    listed_members = _ok(served.get("/admin/communities/town/members", ADMIN_KEY), 200)
    titles = members.locator("code.hex").evaluate_all("nodes => nodes.map(n => n.title)")
    for m in listed_members:
        header = page.get_by_role("rowheader", name=m["id"], exact=True)
        row = members.get_by_role("row").filter(has=header).inner_text()
        assert m["role"] in row and (m["bus"] is None or m["bus"] in row)
        assert m["chain_address"] is None or m["chain_address"] in titles
    page.get_by_role("tab", name="Validators", exact=True).click()
    health = _ok(served.get("/communities/town/validators", ADMIN_KEY), 200)
    assert page.get_by_role("table", name="The validators' health").get_by_role("row").count() == 1 + len(
        health["validators"])
    page.get_by_role("tab", name="Ledger", exact=True).click()
    fund = _ok(served.get("/communities/town/fund", ADMIN_KEY), 200)
    assert page.locator(".fund-balance").inner_text() == f"{fund['balance_micro'] / 1e6:g} tokens"
    a11y += check_tabs(page, ["Communities", "Members", "Ledger", "Validators", "Slots", "Income and reviews"], axe)
    page.get_by_role("tab", name="Ledger", exact=True).click()
    _shot(page, tmp_path, "admin-ledger.png")
    sign_out(page)

    # ---------------------------------------------------------------- the explorer on a block-bid community
    _wait("the block slot to be anchored", lambda: (served.get(f"/communities/blocks/slots/{block_slot}/ledger",
                                                               block_keys["val2"]).json()["clearing"] or {})
          .get("state") in ("anchored", "settled"))
    sign_in(page, block_keys["val2"])
    page.get_by_role("region", name="Ledger explorer").get_by_label("Slot", exact=True).select_option(block_slot)
    stage = page.locator(".ledger-stage").first
    assert "Signed orders3" in stage.inner_text().replace("\n", "").replace("\t", "")  # one per block
    page.get_by_role("button", name="Verify this slot").click()
    page.locator(".verdict[data-ok=true]").wait_for()
    page.set_viewport_size({"width": 375, "height": 900})
    a11y += axe_problems(page, axe)
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_out(page)

    # a service without the ledger routes (`--no-chain`; simulated: 404 for the route): its tabs hide
    missing = json.dumps({"error": {"field": "(path)", "message": "Not Found"}})
    for pattern in ("**/ledger/slots", "**/validators", "**/fund"):
        page.route(pattern, lambda route: route.fulfill(status=404, content_type="application/json", body=missing))
    sign_in(page, keys["val"])
    assert page.get_by_role("tab", name="Ledger explorer").is_hidden()
    assert page.get_by_role("tab", name="Validators").is_hidden()
    assert page.get_by_role("tab", name="Slot results").get_attribute("aria-selected") == "true"
    assert page.get_by_role("heading", name="Slot results (full view)").is_visible()
    page.unroute_all()
    sign_out(page)
    sign_in(page, keys["b1"])  # the prosumer's page too: every page of the app
    a11y += check_tabs(page, ["Trade now", "My money", "My history", "My settings"], axe)
    sign_out(page)
    a11y += check_tabs(page, [], axe)  # the sign-in page
    assert a11y == [], "\n".join(a11y)
    assert problems == []
