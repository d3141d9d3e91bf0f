"""The ledger works in its own thread: while a ledger step is stuck (here: the chain is held by another step),
the market cycle still clears the next slot; once the chain is free, the worker anchors both."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from transactive.api import Settings, create_app
from transactive.market import ManualClock
from transactive.market.ledger.desk import LedgerConfig, LedgerDesk

ADMIN = "tk_admin_ledger_worker"
H = {"Authorization": f"Bearer {ADMIN}"}
SLOTS = ("2026-03-01T10:00:00Z", "2026-03-01T10:05:00Z")


def _wait(what: str, check: Callable[[], Any], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_clearing_goes_on_while_the_ledger_is_busy(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 3, 1, 9, 59, tzinfo=UTC))
    app = create_app(Settings(data_dir=tmp_path, admin_key=ADMIN, clock=clock, cycle_poll_s=0.05,
                              ledger=LedgerConfig(chain_dir=tmp_path / "chain")))
    with TestClient(app) as c:
        desk: LedgerDesk = app.state.service.ledger
        r = c.post("/admin/communities", headers=H, json={"name": "green", "mechanism": "uniform", "slot_minutes": 5})
        assert r.status_code == 201, r.text
        keys = {}
        for name in ("s", "b"):
            r = c.post("/admin/communities/green/members", headers=H, json={"id": name, "role": "prosumer"})
            keys[name] = {"Authorization": f"Bearer {r.json()['api_key']}"}
        for slot in SLOTS:
            for who, side, kwh, price in (("s", "sell", 2, 0.1), ("b", "buy", 1, 0.2)):
                r = c.post("/communities/green/orders", headers=keys[who], json={
                    "side": side, "slot_start": slot, "idempotency_key": slot, "energy_kwh": kwh,
                    "price_per_kwh": price})
                assert r.status_code == 201, r.text

        def state(slot: str) -> str:
            return str(c.get(f"/communities/green/slots/{slot}", headers=H).json()["state"])

        def clearing(slot: str) -> str | None:
            rec = desk.store.get_ledger_slot("green", slot, "clearing")
            return None if rec is None else rec.state

        with desk.lock:  # another ledger step holds the chain
            clock.set(datetime(2026, 3, 1, 10, 1, tzinfo=UTC))  # the first slot's quotation closed
            _wait("the first slot cleared", lambda: state(SLOTS[0]) == "cleared")
            clock.set(datetime(2026, 3, 1, 10, 6, tzinfo=UTC))
            _wait("the second slot cleared while the ledger is stuck", lambda: state(SLOTS[1]) == "cleared")
            assert clearing(SLOTS[0]) is None and clearing(SLOTS[1]) is None
        _wait("both anchored", lambda: [clearing(s) for s in SLOTS] == ["anchored", "anchored"])
