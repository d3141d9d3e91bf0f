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
