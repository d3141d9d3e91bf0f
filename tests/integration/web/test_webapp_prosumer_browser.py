"""The prosumer's page in headless Chromium against the real ``transactive serve`` (embedded chain, clock x120).

On a community created with the defaults (``dpda_matched``, 15-minute slots) in the time zone Europe/Berlin: the
page shows every time in it (checked against Python's zoneinfo); a prosumer sets seed 004 Fig. 4.3's controls
by clicking (a bad amount is refused beside the field and nothing is saved; a double click saves once); the
service places the instruction's order in the coming slot and the page shows it and its outcome without a
reload (server-sent events): partly sold at DPDA's price 0.275 (seed 004 Alg. 2, Case 1: (0.5 + 0.05) / 2) with
the gap to it; once the slot is anchored, the member's Merkle proofs are verified in the browser (keccak-256 in
JavaScript, checked against Python's on inputs around the 136-byte rate), a tampered proof is refused by both
the browser and Python, and the downloaded file is the API's answer. At 375 px no tab is wider than the screen.
On a ``double_auction_vcg`` community a buyer's standing instruction becomes a two-block ladder across its price
range that clears. No script error or CSP violation occurs.

With ``TRANSACTIVE_DOCS_IMG=docs/img`` the screenshots in docs/webapp.md are written there.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from transactive.crypto.encoding import from_hex, keccak256
from transactive.grid.feeder import load_feeder
from transactive.ledger.audit.proofs import ProofError, verify_proof
from transactive.market import iso, slot_containing
from transactive.matching.mechanisms import DEFAULT_FEEDER
from web_support import (
    ADMIN_KEY,
    Served,
    field_error,
    market_now,
    open_tab,
    sign_in,
    sign_out,
    unlabelled_controls,
    watch_problems,
)

SLOT_MINUTES = 15
ZONE = "Europe/Berlin"
PATH = "/communities/{c}/members/me/standing-instruction"


def _ok(response: Any, status: int = 201) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _members(served: Served, community: str, members: dict[str, str | None]) -> dict[str, str]:
    keys = {}
    for member, bus in members.items():
        body: dict[str, Any] = {"id": member, "role": "prosumer", **({} if bus is None else {"bus": bus})}
        keys[member] = _ok(served.post(f"/admin/communities/{community}/members", ADMIN_KEY, body))["api_key"]
    return keys


def _wait(fetch: Any, done: Any, what: str, timeout_s: float = 120) -> Any:
    deadline = time.monotonic() + timeout_s
    answer = None
    while time.monotonic() < deadline:
        answer = fetch()
        if done(answer):
            return answer
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}: {answer}")


def _shot_dirs(tmp_path: Path) -> list[Path]:
    dirs = [tmp_path, *([Path(os.environ["TRANSACTIVE_DOCS_IMG"])] if os.environ.get("TRANSACTIVE_DOCS_IMG") else [])]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    return dirs


def _berlin(value: str) -> str:
    """A slot start as the page shows it in the community's time zone: "2026-12-06 08:15 CET"."""
    return datetime.fromisoformat(value).astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:%M %Z")


def test_keccak_in_the_browser_matches_python(served: Served, browser_page: Any) -> None:
    page = browser_page
    page.goto(served.base + "/app/")
    rng = random.Random(11)
    lengths = (0, 1, 31, 32, 64, 135, 136, 137, 271, 272, 273, 500)  # around the 136-byte rate
    inputs = [bytes(rng.getrandbits(8) for _ in range(n)) for n in lengths]
    digests = page.evaluate("""async (inputs) => {
        const k = await import('./js/keccak.js');
        return inputs.map((hex) => k.toHex(k.keccak256(k.fromHex(hex))));
    }""", ["0x" + b.hex() for b in inputs])
    assert digests == ["0x" + keccak256(b).hex() for b in inputs]
    assert digests[0] == "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"  # keccak256("")


def test_times_in_a_time_zone_match_zoneinfo(served: Served, browser_page: Any) -> None:
    """js/time.js shows instants in a community's zone as Python's zoneinfo does, across the DST changes."""
    page = browser_page
    page.goto(served.base + "/app/")
    start = datetime(2026, 3, 28, 23, 0, tzinfo=ZoneInfo("UTC"))  # Europe: CET -> CEST on 29 March 01:00 UTC
    instants = [start + timedelta(minutes=15 * k) for k in range(12)]
    instants += [datetime(2026, 10, 25, 0, 0, tzinfo=ZoneInfo("UTC")) + timedelta(minutes=30 * k) for k in range(6)]
    instants += [datetime(2026, 3, 8, 6, 45, tzinfo=ZoneInfo("UTC")) + timedelta(minutes=15 * k) for k in range(4)]
    texts = [iso(t) for t in instants]
    for zone in ("Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC"):
        shown = page.evaluate("""async ([zone, texts]) => {
            const t = await import('./js/time.js');
            t.setTimeZone(zone);
            const out = texts.map((x) => [t.showTime(x), t.showClock(x), t.timeZone()]);
            t.setTimeZone('UTC');
            return out;
        }""", [zone, texts])
        for instant, (full, clock, name) in zip(instants, shown, strict=True):
            local = instant.astimezone(ZoneInfo(zone))
            assert full.startswith(local.strftime("%Y-%m-%d %H:%M ")) and clock == local.strftime("%H:%M"), (
                zone, instant, full)
            assert name == zone
        if zone == "UTC":
            assert shown[0][0] == "2026-03-28 23:00 UTC"  # the format of every UTC view so far
    assert page.evaluate("""async () => {
        const t = await import('./js/time.js');
        t.setTimeZone('Mars/Olympus');
        return t.timeZone();
    }""") == "UTC"  # an unknown name falls back to UTC


def test_the_event_stream_parser_takes_frames_split_anywhere(served: Served, browser_page: Any) -> None:
    """js/live.js reads server-sent events however the network splits them: each frame once, in order, comments
    (keep-alives) skipped, CRLF line ends, a data field over several lines joined with newlines."""
    page = browser_page
    page.goto(served.base + "/app/")
    stream = ('retry: 3000\n\nid: 1\nevent: hello\ndata: {"phase":"quotation"}\n\n: keep-alive\n\n'
              'id: 2\r\nevent: slot\r\ndata: {"slot_start":"2026-03-01T10:15:00Z",\r\ndata: "state":"cleared"}\r\n\r\n'
              'event: order\ndata: {"order_id":"o-1"}\n\n')
    expected = [["hello", {"phase": "quotation"}], ["slot", {"slot_start": "2026-03-01T10:15:00Z", "state": "cleared"}],
                ["order", {"order_id": "o-1"}]]
    for size in (1, 2, 3, 7, 64, len(stream)):
        got = page.evaluate("""async ([text, size]) => {
            const { parseFrames } = await import('./js/live.js');
            const events = [];
            let rest = '';
            const hear = (n, d) => events.push([n, d]);
            for (let i = 0; i < text.length; i += size) rest = parseFrames(rest + text.slice(i, i + size), hear);
            return [events, rest];
        }""", [stream, size])
        assert got == [expected, ""], size


def test_standing_instruction_live_updates_and_proofs_on_the_default_community(
        served: Served, browser_page: Any, tmp_path: Path) -> None:
    page = browser_page
    problems = watch_problems(page)
    puts: list[str] = []
    page.on("request", lambda r: puts.append(r.url) if r.method == "PUT" and "standing-instruction" in r.url else None)
    created = _ok(served.post("/admin/communities", ADMIN_KEY, {"name": "home", "time_zone": ZONE}))
    assert (created["mechanism"], created["time_zone"]) == ("dpda_matched", ZONE)
    buses = [str(b) for b in list(load_feeder(DEFAULT_FEEDER).load_buses)[:4]]
    keys = _members(served, "home", dict(zip(("s1", "s2", "b1", "b2"), buses, strict=True)))
    slot = iso(slot_containing(market_now(served), SLOT_MINUTES) + timedelta(minutes=3 * SLOT_MINUTES))
    for who, side, energy, price in (("s2", "sell", 2.0, 0.5), ("b1", "buy", 1.5, 0.4), ("b2", "buy", 1.0, 0.05)):
        _ok(served.post("/communities/home/orders", keys[who], {"side": side, "slot_start": slot,
            "idempotency_key": f"{who}-1", "energy_kwh": energy, "price_per_kwh": price}))

    page.goto(served.base + "/app/")
    sign_in(page, keys["s1"])
    page.wait_for_selector("body[data-live=live]")  # the event stream is connected: no polling
    # every time in the community's time zone: the order form's slots, as Python's zoneinfo writes them
    order = page.get_by_role("form", name="Place an order")
    options = order.get_by_label(f"Slot start ({ZONE})").locator("option")
    values = options.evaluate_all("nodes => nodes.map(n => [n.value, n.textContent])")
    assert values and all(label == _berlin(value) for value, label in values), values[:3]
    assert page.locator(".current-slot").inner_text().endswith("CET")

    # ---------------------------------------------------------------- the standing instruction, by clicking
    form = page.get_by_role("form", name="My standing instruction")
    assert form.get_by_label("Activity").is_disabled()  # as in the seed's GUI: opt in first
    form.get_by_label("Take part in trading").select_option("true")
    assert form.get_by_label("Lowest price per kWh").is_disabled()  # ... then choose an activity
    form.get_by_label("Activity").select_option("sell")
    assert form.get_by_label("Lowest price per kWh").is_enabled()
    form.get_by_label("Amount").select_option("fixed")
    energy = form.get_by_label("Energy per slot (kWh)")
    energy.fill("-1")
    form.get_by_label("Lowest price per kWh").fill("0.1")
    form.get_by_label("Highest price per kWh").fill("0.3")
    form.get_by_role("button", name="Set values").click()
    error = field_error(page, energy, "must be > 0", focused=True)
    assert error.inner_text() == "must be > 0, got -1"
    assert _ok(served.get(PATH.format(c="home"), keys["s1"]), 200)["saved"] is False  # nothing saved
    energy.fill("2")
    before = len(puts)
    form.get_by_role("button", name="Set values").dblclick()
    form.get_by_text("Saved: the service follows it from the next slot.").wait_for()
    assert len(puts) - before == 1  # the button is disabled while the request is in flight
    saved = _ok(served.get(PATH.format(c="home"), keys["s1"]), 200)
    assert saved["saved"] and saved["instruction"]["energy_kwh"] == 2.0
    assert unlabelled_controls(page) == []
    for target in _shot_dirs(tmp_path):
        form.locator("xpath=ancestor::section[1]").screenshot(path=str(target / "prosumer-standing.png"))

    # ---------------------------------------------------------------- the service orders; the page hears it
    open_tab(page, "My history")
    mine = page.get_by_role("table", name=re.compile("My latest orders"))
    row = mine.get_by_role("row").filter(has_text=_berlin(slot))
    row.wait_for(timeout=60_000)  # no Refresh: the "order" event reloaded the list
    assert "sell" in row.inner_text() and "0.1" in row.inner_text()
    (stored,) = [o for o in _ok(served.get("/communities/home/orders", keys["s1"]), 200) if o["slot_start"] == slot]
    assert (stored["idempotency_key"], stored["energy_kwh"], stored["price_per_kwh"]) == (f"standing-{slot}", 2.0, 0.1)
    open_tab(page, "Trade now")
    feedback = page.get_by_role("table", name="How my latest orders went").get_by_role("row").filter(
        has_text=_berlin(slot)).filter(has_text="partly")
    feedback.wait_for(timeout=60_000)  # the "slot" event reloaded the feedback
    cells = feedback.get_by_role("cell").all_inner_texts()
    assert cells[1:6] == ["partly", "1.5 of 2", "0.1", "0.275", "-0.175"], cells
    page.locator(".standing-last").filter(has_text="placed in the slot at").wait_for()

    # ---------------------------------------------------------------- proofs, verified in the browser
    anchored = _wait(lambda: _ok(served.get(f"/communities/home/slots/{slot}/ledger", keys["s1"]), 200),
                     lambda v: (v.get("clearing") or {}).get("state") == "anchored", "anchoring")
    answer = _ok(served.get(f"/communities/home/slots/{slot}/proofs", keys["s1"]), 200)
    page.get_by_role("button", name="Refresh").click()
    page.wait_for_selector("body[data-ready=true]")
    open_tab(page, "My money")
    check = page.get_by_role("form", name="Check my proofs")
    check.get_by_label("Slot").select_option(slot)
    check.get_by_role("button", name="Check proofs").click()
    check.get_by_text("3 of 3 proofs verified in your browser.").wait_for()
    proofs = page.get_by_role("table", name="My proofs")
    assert proofs.get_by_text("verified", exact=True).count() == 3
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("Download the proofs")).click()
    downloaded = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert downloaded == answer
    assert answer["order_root"] == anchored["clearing"]["order_root"]
    assert answer["result_root"] == anchored["clearing"]["result_root"]
    # the browser's verdicts equal Python's, for the real proofs and a tampered one
    tampered = json.loads(json.dumps(next(p for p in answer["proofs"] if p["kind"] == "result")))
    tampered["value"][2] = int(tampered["value"][2]) + 1000  # claim 1 kWh more
    verdicts = page.evaluate("""async ([text, orderRoot, resultRoot]) => {
        const p = await import('./js/proofs.js');
        return p.parseExact(text).map((d) => p.verifyProof(d, d.kind === 'result' ? resultRoot : orderRoot).ok);
    }""", [json.dumps([*answer["proofs"], tampered]), answer["order_root"], answer["result_root"]])
    assert verdicts == [True] * len(answer["proofs"]) + [False]
    for doc in answer["proofs"]:
        root = answer["result_root"] if doc["kind"] == "result" else answer["order_root"]
        assert verify_proof(doc, expected_root=from_hex(root, 32)).startswith("valid")
    with pytest.raises(ProofError):
        verify_proof(tampered, expected_root=from_hex(answer["result_root"], 32))

    # ---------------------------------------------------------------- 375 px (a phone) and 1280 px
    open_tab(page, "Trade now")
    page.evaluate("window.scrollTo(0, 0)")
    for target in _shot_dirs(tmp_path):
        page.screenshot(path=str(target / "prosumer-trade-now-1280px.png"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    try:
        page.set_viewport_size({"width": 375, "height": 800})
        for tab in ("Trade now", "My money", "My history", "My settings"):
            open_tab(page, tab)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, (tab, width, page.evaluate("""() => [...document.querySelectorAll('*')]
                .filter(e => e.offsetParent !== null && e.getBoundingClientRect().right > 376)
                .slice(0, 8).map(e => e.tagName + '.' + e.className + ': ' + e.textContent.slice(0, 60))"""))
        open_tab(page, "Trade now")
        page.evaluate("window.scrollTo(0, 0)")
        for target in _shot_dirs(tmp_path):
            page.screenshot(path=str(target / "prosumer-standing-375px.png"))
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})
    sign_out(page)
    assert problems == []


def test_a_standing_instruction_on_a_block_bid_community(served: Served, browser_page: Any) -> None:
    page = browser_page
    problems = watch_problems(page)
    _ok(served.post("/admin/communities", ADMIN_KEY, {"name": "ladder", "mechanism": "double_auction_vcg"}))
    keys = _members(served, "ladder", {"pv": None, "ev": None})
    slot = iso(slot_containing(market_now(served), SLOT_MINUTES) + timedelta(minutes=3 * SLOT_MINUTES))
    _ok(served.post("/communities/ladder/orders", keys["pv"], {"side": "sell", "slot_start": slot,
        "idempotency_key": "pv-1", "blocks": [{"energy_kwh": 3.0, "price_per_kwh": 0.05}]}))
    page.goto(served.base + "/app/")
    sign_in(page, keys["ev"])
    form = page.get_by_role("form", name="My standing instruction")
    form.get_by_label("Take part in trading").select_option("true")
    form.get_by_label("Activity").select_option("buy")
    form.get_by_label("Energy per slot (kWh)").fill("3")
    form.get_by_label("Lowest price per kWh").fill("0.1")
    form.get_by_label("Highest price per kWh").fill("0.3")
    form.get_by_role("button", name="Set values").click()
    form.get_by_text("Saved: the service follows it from the next slot.").wait_for()
    # the next order shown is the ladder: half at the ceiling, half at the floor
    page.locator(".standing-next").filter(has_text="buy 1.5 kWh at 0.3 per kWh and 1.5 kWh at 0.1 per kWh").wait_for()
    orders = _wait(lambda: [o for o in _ok(served.get("/communities/ladder/orders", keys["ev"]), 200)
                            if o["slot_start"] == slot], bool, "the standing order")
    assert orders[0]["blocks"] == [{"energy_kwh": 1.5, "price_per_kwh": 0.3}, {"energy_kwh": 1.5, "price_per_kwh": 0.1}]
    result = _wait(lambda: served.get(f"/communities/ladder/slots/{slot}/result", ADMIN_KEY),
                   lambda r: r.status_code == 200, "the result").json()["result"]
    bought = next(row["energy_kwh"] for row in result["buyers"] if row["id"] == "ev")
    assert bought > 0
    row = page.get_by_role("table", name="How my latest orders went").get_by_role("row").filter(has_text=slot[11:16])
    row.wait_for(timeout=60_000)  # reloaded by the slot's event
    assert "buy" in row.inner_text()
    open_tab(page, "My money")
    assert page.get_by_role("heading", name="Check my trade on the ledger").is_visible()
    sign_out(page)

    # a service without the ledger (simulated: GET /me names no chain account): the proofs panel is left out
    def no_chain(route: Any) -> None:
        answer = route.fetch()
        route.fulfill(response=answer, json={**answer.json(), "chain_address": None})

    page.route("**/me", no_chain)
    try:
        sign_in(page, keys["ev"])
        open_tab(page, "My money")
        assert page.get_by_role("heading", name="Check my trade on the ledger").count() == 0  # hidden: not in the tree
        assert page.get_by_role("heading", name="My balance over time").is_visible()
        sign_out(page)
    finally:
        page.unroute("**/me", no_chain)
    assert problems == []
