"""The web app's ledger and desk panels in headless Chromium against the real service (`transactive serve` with its
embedded chain, SQLite, clock x120).

Set up through the API (a community with one-minute slots, two prosumers and a DSO; a sell and a buy order; both
prosumers register signing addresses; the seller proposes a contract and lists energy), then through the UI:
the buyer's view comes from ``GET /me`` (no probing requests); it countersigns the contract by running the exact
``transactive sign contract`` command the page shows (the typed data shown hashes to the contract's digest) and
pasting the signature; it orders from the listing; once the slot is settled on chain (meter readings through the
API) its balance, statement and the slot's ledger state show what the API has, and the balance is the starting
tokens plus the statement's total; once the DSO settles the slot through the desk (API), the buyer's statement
by stage shows the desk's lines and total. The DSO sees its income (= the grid charges and penalties on the members'
lines) and accepts one listing order and rejects another through the UI; the buyer then sees both decisions.
Nothing the DSO's browser shows or receives contains a bid price; the ledger panels hide when their routes
answer 404 (simulated); no script error or CSP violation occurs.
"""

from __future__ import annotations

import json
import random
import re
import shlex
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from service_support import ROOT
from transactive.crypto.eip712 import Domain, typed_data_digest
from transactive.crypto.signing import Signer, new_private_key
from transactive.market import iso, slot_containing
from transactive.market.multi_signing import contract_of, sign_address, sign_contract
from web_support import (
    ADMIN_KEY,
    Served,
    market_now,
    open_tab,
    sign_in,
    sign_out,
    unlabelled_controls,
    watch_problems,
)

C = "/communities/town"
ASK, BID = 1.173, 3.931  # distinctive prices: neither may reach the DSO
LISTING_PRICE = 0.25
START_MICRO = 1_000 * 10**6  # --start-tokens default: 1,000 tokens per member account
KEYS = {who: new_private_key(random.Random(40 + k)) for k, who in enumerate(("seller", "buyer"))}


def _ok(response: Any, status: int = 201) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _setup(served: Served) -> tuple[dict[str, str], str]:
    """Community, members, orders for a slot a few seconds ahead, addresses, a contract and a listing (API)."""
    _ok(served.post("/admin/communities", ADMIN_KEY, {"name": "town", "mechanism": "uniform", "slot_minutes": 5}))
    keys = {who: _ok(served.post("/admin/communities/town/members", ADMIN_KEY,
                                 {"id": who, "role": role, "bus": bus}))["api_key"]
            for who, role, bus in (("seller", "prosumer", "b1"), ("buyer", "prosumer", "b2"), ("grid", "dso", None))}
    slot = iso(slot_containing(market_now(served), 5) + timedelta(minutes=5))  # 2.5-5 s of real time ahead
    for who, side, price in (("seller", "sell", ASK), ("buyer", "buy", BID)):
        _ok(served.post(f"{C}/orders", keys[who], {"side": side, "slot_start": slot, "idempotency_key": f"{who}-1",
                                                   "energy_kwh": 2.0, "price_per_kwh": price}))
    signing = _ok(served.get(f"{C}/signing", keys["seller"]), 200)
    domain = Domain.from_dict(signing["domain"])  # the chain's domain: the service runs its ledger
    for who in ("seller", "buyer"):
        _ok(served.post(f"{C}/addresses", keys[who], {"address": Signer(KEYS[who]).address,
                                                      "signature": sign_address(KEYS[who], "town", who, domain)}))
    later = iso(slot_containing(market_now(served), 5) + timedelta(hours=4))  # open for the whole test
    terms = {"slot_starts": [later], "energy_kwh_per_slot": 1.5, "price_per_kwh": 0.2, "nonce": 7}
    seller_sig = sign_contract(KEYS["seller"], terms, Signer(KEYS["seller"]).address, Signer(KEYS["buyer"]).address,
                               domain)
    _ok(served.post(f"{C}/bilateral-contracts", keys["seller"], {"id": "pv-ev", "seller": "seller", "buyer": "buyer",
                                                               **terms, "signature": seller_sig}))
    _ok(served.post(f"{C}/listings", keys["seller"], {"id": "L1", "slot_start": later, "energy_kwh": 3.0,
                                                      "price_per_kwh": LISTING_PRICE}))
    _ok(served.post(f"{C}/listings/L1/orders", keys["buyer"], {"id": "O-api", "energy_kwh": 0.5}))
    return keys, slot


def tokens(micro: int) -> str:
    """Micro-tokens as the app shows tokens: exact, no trailing zeros."""
    return f"{micro / 10**6:.6f}".rstrip("0").rstrip(".")


def _wait(what: str, check: Any, timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_ledger_and_desk_panels(served: Served, browser_page: Any, tmp_path: Path) -> None:
    page = browser_page
    problems = watch_problems(page)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(f"{request.method} {request.url}")
            if request.resource_type == "fetch" else None)
    keys, slot = _setup(served)
    # The meters report as soon as the slot ends (at x120 the settlement deadline is ~2 s of real time later),
    # in the background so the browser steps below cannot delay them past it.
    readings_posted: list[int] = []

    def post_readings() -> None:
        _wait("the slot to end", lambda: iso(slot_containing(market_now(served), 5)) > slot, timeout_s=60)
        for who, energy_kwh in (("seller", 1.8), ("buyer", -2.0)):
            readings_posted.append(served.post(f"{C}/meter-readings", keys[who],
                                               {"slot_start": slot, "energy_kwh": energy_kwh}).status_code)

    readings = threading.Thread(target=post_readings, daemon=True)
    readings.start()
    page.goto(served.base + "/app/")

    # ---------------------------------------------------------------- the buyer: /me drives the view
    sign_in(page, keys["buyer"])
    assert page.locator("body").get_attribute("data-role") == "trader"
    assert page.locator("#who").inner_text() == "Prosumer · member buyer · community town · bus b2"
    assert f"GET {served.base}/me" in requests
    assert not any("/admin/" in r or r.startswith("POST") for r in requests), requests  # no probing

    # ---------------------------------------------------------------- countersign with the CLI command shown
    open_tab(page, "My money")
    contracts = page.get_by_role("table", name="My contracts")
    assert "proposed" in contracts.inner_text()
    page.get_by_role("button", name="Sign contract pv-ev").click()
    sign_form = page.get_by_role("form", name="Countersign pv-ev")
    sign_form.wait_for()
    detail = page.locator(".contract-detail")
    blocks = {p.inner_text(): pre.inner_text() for p, pre in
              ((b.locator(".copy-label"), b.locator("pre")) for b in detail.locator(".copy-block").all())}
    command = blocks["Command"]
    terms = json.loads(blocks["pv-ev.json (the terms)"])
    typed = json.loads(next(v for k, v in blocks.items() if k.startswith("The EIP-712 typed data")))
    seller, buyer = Signer(KEYS["seller"]).address, Signer(KEYS["buyer"]).address
    domain = Domain.from_dict(json.loads(blocks["domain.json"]))
    types = {name: tuple((f["name"], f["type"]) for f in fields) for name, fields in typed["types"].items()}
    assert typed_data_digest(typed["domain"], typed["primaryType"], types, typed["message"]) == \
        contract_of("pv-ev", terms, seller, buyer).digest(domain)  # what a wallet would sign is the contract
    (tmp_path / "my.key").write_text(KEYS["buyer"].hex())
    (tmp_path / "pv-ev.json").write_text(blocks["pv-ev.json (the terms)"])
    (tmp_path / "domain.json").write_text(blocks["domain.json"])
    argv = shlex.split(command)
    assert argv[:3] == ["transactive", "sign", "contract"]
    run = subprocess.run([sys.executable, "-m", "transactive.cli", *argv[1:]], cwd=tmp_path, capture_output=True,
                         text=True, env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}, check=False)
    assert run.returncode == 0, run.stderr
    sign_form.get_by_label("Your signature").fill(json.loads(run.stdout)["signature"])
    sign_form.get_by_role("button", name="Countersign").click()
    page.locator(".contract-detail").get_by_text("Contract pv-ev is signed.").wait_for()
    assert _ok(served.get(f"{C}/bilateral-contracts/pv-ev", keys["grid"]), 200)["state"] == "signed"

    # ---------------------------------------------------------------- order from the listing through the UI
    open_tab(page, "Trade now")
    order_form = page.get_by_role("form", name="Order from a listing")
    order_form.get_by_label("Listing").select_option("L1")
    order_form.get_by_label("Order id").fill("O-ui")
    order_form.get_by_label("Energy (kWh)").fill("1.25")
    order_form.get_by_role("button", name="Order").click()
    order_form.get_by_text("Order O-ui placed: 1.25 kWh from L1, pending.").wait_for()
    mine = page.get_by_role("table", name="My listing orders (placed or received)")
    assert "pending (DSO review)" in mine.get_by_role("row").filter(has_text="O-ui").inner_text()

    # ---------------------------------------------------------------- the slot ends, readings in, settled on chain
    readings.join(timeout=60)
    assert readings_posted == [201, 201], readings_posted
    lines = _wait("the settlement", lambda: served.get(f"{C}/statements", keys["buyer"]).json())
    (line,) = lines
    assert (line["slot_start"], line["side"], line["agreed_wh"], line["metered_wh"]) == (slot, "buyer", 2000, 2000)
    account = _ok(served.get(f"{C}/account", keys["buyer"]), 200)
    assert account["balance_micro"] == START_MICRO + line["balance_change_micro"]  # tokens moved on chain
    ledger = _ok(served.get(f"{C}/slots/{slot}/ledger", keys["buyer"]), 200)
    assert ledger["clearing"]["state"] == "anchored" and ledger["settlement"]["state"] == "settled"

    _ok(served.post(f"{C}/multi-settlements/{slot}", keys["grid"], {}), 200)  # the desk's four stages
    desk = _ok(served.get(f"{C}/multi-settlements/{slot}", keys["buyer"]), 200)["statement"]
    assert sum(stage["money_micro"] for stage in desk["stages"].values()) == desk["money_micro"] < 0
    assert sum(st["sold_wh"] - st["bought_wh"] for st in desk["stages"].values()) == desk["net_wh"] == -2000

    page.get_by_role("button", name="Refresh").click()
    open_tab(page, "My money")
    page.locator(".balance").filter(has_text=f"{tokens(account['balance_micro'])} tokens").wait_for()
    statement = page.get_by_role("table", name="My settled slots")
    cells = statement.get_by_role("row").filter(has_text=slot[11:16]).get_by_role("cell").all_inner_texts()
    assert tokens(line["balance_change_micro"]) in cells and tokens(-line["energy_micro"]) in cells
    assert tokens(-line["tariff_micro"]) in cells
    lookup = page.get_by_role("form", name="Show a slot on the ledger")
    lookup.get_by_label("Slot", exact=True).select_option(slot)  # picked from the slots on the ledger
    lookup.get_by_role("button", name="Show on the ledger").click()
    stages = page.locator(".slot-ledger .ledger-stage")
    stages.nth(1).filter(has_text="settled: tokens moved on chain").wait_for()
    assert "anchored: the order root" in stages.nth(0).inner_text()
    for part, stage in (("clearing", stages.nth(0)), ("settlement", stages.nth(1))):
        titles = stage.locator("code.hex").evaluate_all("nodes => nodes.map(n => n.title)")
        assert ledger[part]["order_root"] in titles and ledger[part]["result_root"] in titles
        assert set(ledger[part]["txs"].values()) <= set(titles)
    by_stage = page.get_by_role("table", name="My statement by stage (multi-settlement)")
    total_row = by_stage.get_by_role("row").filter(has_text="Total").get_by_role("cell").all_inner_texts()
    assert total_row[-1] == tokens(desk["money_micro"])
    stage_rows = by_stage.get_by_role("row").all_inner_texts()
    assert len(stage_rows) == 1 + len(desk["stages"]) + 1  # header, one per stage, the total
    for cells_text in stage_rows[1:-1]:
        assert any(tokens(st["money_micro"]) in cells_text and f"{st['bought_wh']}" in cells_text
                   for st in desk["stages"].values()), cells_text
    assert unlabelled_controls(page) == []
    page.screenshot(path=str(tmp_path / "prosumer-ledger.png"), full_page=True)
    sign_out(page)

    # ---------------------------------------------------------------- the DSO: income and reviews, never a bid
    responses: list[Any] = []
    page.on("response", lambda response: responses.append(response)  # (the live stream never ends: not read)
            if response.request.resource_type == "fetch" and not response.url.endswith("/events") else None)
    sign_in(page, keys["grid"])
    assert page.locator("body").get_attribute("data-role") == "dso"
    income = _ok(served.get(f"{C}/dso/income", keys["grid"]), 200)
    (slot_income,) = income
    seller_line = served.get(f"{C}/statements", keys["seller"]).json()[0]
    assert slot_income["tariffs_micro"] == line["tariff_micro"] + seller_line["tariff_micro"]
    assert slot_income["penalties_micro"] == line["penalty_micro"] + seller_line["penalty_micro"] > 0  # 0.2 kWh short
    assert slot_income["amount_micro"] + line["balance_change_micro"] + seller_line["balance_change_micro"] == 0
    open_tab(page, "My income")  # the DSO's page is organised by task
    table = page.get_by_role("table", name="Income by slot")
    row = table.get_by_role("row").filter(has_text=slot[11:16]).get_by_role("cell").all_inner_texts()
    assert tokens(slot_income["tariffs_micro"]) in row and tokens(slot_income["amount_micro"]) in row
    assert page.locator("svg.chart rect.bar-pos").count() >= 2  # net income and grid charges, one bar each

    open_tab(page, "Listing reviews")
    review = page.get_by_role("table", name="Listing orders")
    page.get_by_role("button", name="Accept order O-ui").click()
    page.get_by_text("Order O-ui: accepted.").wait_for()
    page.get_by_label("Reason (optional)").fill("feeder maintenance")
    page.get_by_role("button", name="Reject order O-api").click()
    page.get_by_text("Order O-api: rejected (feeder maintenance).").wait_for()
    decided = {o["id"]: (o["state"], o["reason"], o["decided_by"])
               for o in served.get(f"{C}/listing-orders", keys["grid"]).json()}
    assert decided == {"O-ui": ("accepted", [], "grid"), "O-api": ("rejected", ["feeder maintenance"], "grid")}
    assert review.get_by_role("button").count() == 0  # nothing left to decide
    assert "signed" in page.get_by_role("table", name="Contracts of the community").inner_text()
    page.screenshot(path=str(tmp_path / "dso-ledger.png"), full_page=True)
    page_text = page.locator("body").inner_text()
    bodies = [response.text() for response in responses]
    assert any("tariffs_micro" in body for body in bodies)  # the responses were captured
    for bid in (f"{ASK:g}", f"{BID:g}"):
        assert bid not in page_text
        assert not any(bid in body for body in bodies)
    sign_out(page)

    # ---------------------------------------------------------------- the buyer sees the DSO's decisions
    # ... on a service without the ledger routes (simulated: 404 for the route), whose ledger panels hide
    missing = json.dumps({"error": {"field": "(path)", "message": "Not Found"}})
    for pattern in ("**/statements", "**/slots/*/ledger"):
        page.route(pattern, lambda route: route.fulfill(status=404, content_type="application/json", body=missing))
    sign_in(page, keys["buyer"])
    open_tab(page, "My money")
    assert page.get_by_role("heading", name="Tokens and statements").is_hidden()
    assert page.get_by_role("heading", name="A slot on the ledger").is_hidden()
    assert page.get_by_role("heading", name="My bilateral contracts").is_visible()
    open_tab(page, "Trade now")
    assert page.get_by_role("heading", name="Listings").is_visible()
    mine = page.get_by_role("table", name="My listing orders (placed or received)")
    assert "accepted by the DSO" in mine.get_by_role("row").filter(has_text="O-ui").inner_text()
    rejected = mine.get_by_role("row").filter(has_text="O-api").inner_text()
    assert "rejected by the DSO" in rejected and "feeder maintenance" in rejected
    open_tab(page, "My money")
    assert re.search(r"\bsigned\b", page.get_by_role("table", name="My contracts").inner_text())
    assert problems == []
