"""Support for the web app tests: the real service (`transactive serve`, SQLite, an accelerated clock) and
Debian's headless Chromium driven by Playwright (never a browser downloaded by Playwright).

Import the fixtures into a ``conftest.py``. When Chromium or Playwright is missing, the tests fail under
``CI=true`` and are skipped otherwise (``scripts/setup-system.sh`` installs Chromium, the ``dev`` extra Playwright).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from service_support import ROOT, free_port, unavailable, wait_healthy

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ADMIN_KEY = "tk_admin_webapp_test"
ACCELERATE = 120  # a 1-minute slot in 0.5 s of real time


@dataclass
class Served:
    base: str
    admin: dict[str, str]
    data_dir: Path

    def get(self, path: str, key: str) -> httpx.Response:
        return httpx.get(self.base + path, headers={"Authorization": f"Bearer {key}"}, timeout=10)

    def post(self, path: str, key: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(self.base + path, headers={"Authorization": f"Bearer {key}"}, json=body, timeout=10)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`transactive serve` on a free loopback port, SQLite in a fresh data directory, clock x120 (one per module)."""
    port = free_port()
    data_dir = tmp_path_factory.mktemp("serve")
    log = data_dir / "serve.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with open(log, "ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "transactive.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--data-dir", str(data_dir), "--admin-key", ADMIN_KEY, "--accelerate", str(ACCELERATE)],
            env=env, stdout=sink, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process, log)
        yield Served(base, {"Authorization": f"Bearer {ADMIN_KEY}"}, data_dir)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A page of a fresh Chromium profile (its own user-data dir), one per module."""
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (scripts/setup-system.sh installs Debian's chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (the dev extra)")
        raise AssertionError("unreachable") from None
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        try:
            page = context.pages[0] if context.pages else context.new_page()
            yield page
        finally:
            context.close()


def market_now(served: Served) -> datetime:
    """The service's market clock (accelerated)."""
    return datetime.fromisoformat(served.get("/health", ADMIN_KEY).json()["now"])


def sign_in(page: Any, key: str) -> None:
    """Keyboard only: focus the key field, type, press Enter; wait until every panel has loaded."""
    page.get_by_label("API key").focus()
    page.keyboard.type(key)
    page.keyboard.press("Enter")
    page.wait_for_selector("body[data-ready=true]")


def open_tab(page: Any, name: str) -> None:
    """Open one of the prosumer page's task tabs ("Trade now", "My money", "My history", "My settings")."""
    tab = page.get_by_role("tab", name=name)
    tab.click()
    assert tab.get_attribute("aria-selected") == "true"


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_selector("#login:not([hidden])")


def fill_order(order: Any, *, side: str | None = None, slot: str | None = None, energy_kwh: object = None,
               price_per_kwh: object = None, distance_m: object = None) -> None:
    """Fill the "Place an order" form's fields that are given, in the form's order (side, slot, energy, price,
    distance preference); a field left None is not touched. Submitting is the caller's (click, double click or
    Enter)."""
    if side is not None:
        order.get_by_label("Side").select_option(side)
    if slot is not None:
        order.get_by_label("Slot start (UTC)").select_option(slot)
    for label, value in (("Energy (kWh)", energy_kwh), ("Price per kWh", price_per_kwh),
                         ("How far you like to trade (m)", distance_m)):
        if value is not None:
            order.get_by_label(label).fill(str(value))


def field_error(page: Any, field: Any, text: str, *, focused: bool = False) -> Any:
    """The API's error shown beside ``field`` (its ``<id>-error`` element): wait until it contains ``text``,
    check the field is marked ``aria-invalid`` (and, with ``focused``, that it has the focus); the error's
    locator."""
    error = page.locator(f"#{field.get_attribute('id')}-error")
    error.filter(has_text=text).wait_for()
    assert field.get_attribute("aria-invalid") == "true"
    if focused:
        assert field.evaluate("el => el === document.activeElement")
    return error


def unlabelled_controls(page: Any) -> list[str]:
    """Visible inputs, selects and text areas without a label (must be none)."""
    return list(page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(el => el.offsetParent !== null && el.labels.length === 0 && !el.getAttribute('aria-label'))
        .map(el => el.outerHTML)"""))


def watch_problems(page: Any) -> list[str]:
    """Collect uncaught script errors and console errors (CSP violations are console errors) from now on; a
    failed fetch (e.g. the 404 of a slot without a result) is expected and left out."""
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: problems.append(f"console: {message.text}")
            if message.type == "error" and not message.text.startswith("Failed to load resource") else None)
    return problems


AXE_SCRIPT = ROOT / "scripts" / "setup-axe.sh"
BAD_IMPACTS = ("serious", "critical")


def axe_source() -> str:
    """axe-core's browser script, installed by the project's setup (scripts/setup-axe.sh: npm, into .axe/)."""
    found = ROOT / ".axe" / "node_modules" / "axe-core" / "axe.min.js"
    if not found.exists():
        try:
            subprocess.run(["bash", str(AXE_SCRIPT)], check=True, capture_output=True, timeout=300)
        except (OSError, subprocess.SubprocessError) as exc:
            unavailable(f"axe-core is not installed and scripts/setup-axe.sh failed: {exc}")
    return found.read_text(encoding="utf-8")


def axe_problems(page: Any, source: str) -> list[str]:
    """The serious and critical accessibility violations axe-core finds in what the page shows now (hidden
    tab panels are not checked; call once per tab). axe is evaluated through the DevTools protocol, which the
    page's Content-Security-Policy does not govern, so the policy stays on for everything else."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(source)
    found = page.evaluate("""async () => {
        const out = await axe.run(document, { resultTypes: ["violations"] });
        return out.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ")) }));
    }""")
    return [f"{v['impact']} {v['id']}: {v['help']} ({', '.join(v['nodes'])})" for v in found
            if v["impact"] in BAD_IMPACTS]


def overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the viewport (0: no horizontal scrolling)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def wide(page: Any) -> str:
    """The innermost visible elements reaching past the right edge of the viewport (what makes a page too wide)."""
    return str(page.evaluate("""() => [...document.querySelectorAll("body *")].filter(el => {
            const r = el.getBoundingClientRect();
            return r.width && r.right > window.innerWidth + 1 && ![...el.children].some(c =>
                c.getBoundingClientRect().right > window.innerWidth + 1);
        }).slice(0, 4).map(el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
            + (el.className && typeof el.className === "string" ? "." + el.className.split(" ").join(".") : ""))
          .join(", ")"""))


def check_tabs(page: Any, names: list[str], source: str, *, widths: tuple[int, ...] = (1280, 375)) -> list[str]:
    """For each width and each task tab: no serious or critical axe violation (at the first width) and no
    horizontal overflow. Returns the problems found (empty: all fine); leaves the first tab open at 1280 px."""
    problems: list[str] = []
    for width in widths:
        page.set_viewport_size({"width": width, "height": 900})
        for name in names or [""]:
            if name:
                page.get_by_role("tab", name=name, exact=True).click()
            page.wait_for_timeout(50)
            if width == widths[0]:
                problems += [f"{name or 'page'} at {width} px: {p}" for p in axe_problems(page, source)]
            extra = overflow(page)
            if extra > 0:
                problems.append(f"{name or 'page'} at {width} px: {extra} px wider than the screen ({wide(page)})")
    page.set_viewport_size({"width": 1280, "height": 900})
    if names:
        page.get_by_role("tab", name=names[0], exact=True).click()
    return problems
