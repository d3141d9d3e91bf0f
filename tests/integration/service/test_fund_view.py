"""The community market fund is visible to the DSO and the admin (issue 12): ``GET /communities/{c}/fund``
shows the fund's chain account, its balance and its row of every anchored clearing. On a ``pay_as_bid``
community the fund's row is the spread the buyers pay above the sellers' asks (``docs/settlement.md``),
checked against ``transactive clear`` of the same market (independent of the service)."""

from __future__ import annotations

import json
import math
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from transactive.api import Settings, create_app
from transactive.cli import main
from transactive.market import ManualClock
from transactive.market.ledger.desk import LedgerConfig
from transactive.units import money_to_micro

ADMIN = "tk_admin_fund_view"
SLOT = "2026-03-01T10:15:00Z"
ORDERS = [("s1", "sell", 3.0, 0.10), ("s2", "sell", 2.0, 0.12), ("b1", "buy", 2.5, 0.20), ("b2", "buy", 2.0, 0.18)]


def _cleared_spread_micro(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> int:
    """Σ buyers' payments − Σ sellers' receipts of ``transactive clear`` on the same orders, micro-tokens."""
    doc = {"format": "transactive.market/1", "mechanism": "pay_as_bid",
           "sellers": [{"id": w, "energy_kwh": e, "price_per_kwh": p} for w, s, e, p in ORDERS if s == "sell"],
           "buyers": [{"id": w, "energy_kwh": e, "price_per_kwh": p} for w, s, e, p in ORDERS if s == "buy"]}
    path = tmp_path / "market.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    capsys.readouterr()
    assert main(["clear", str(path)]) == 0
    result = json.loads(capsys.readouterr().out)
    paid = money_to_micro(math.fsum(float(b["payment"]) for b in result["buyers"]))
    received = money_to_micro(math.fsum(float(s["payment"]) for s in result["sellers"]))
    return paid - received


def test_the_dso_sees_the_funds_row_of_a_cleared_slot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spread = _cleared_spread_micro(tmp_path, capsys)
    assert spread > 0  # pay-as-bid: buyers pay their bids, sellers receive their asks
    data_dir = tmp_path / "data"
    clock = ManualClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    app = create_app(Settings(data_dir=data_dir, admin_key=ADMIN, clock=clock, run_cycle=False,
                              ledger=LedgerConfig(chain_dir=data_dir / "chain", archive_dir=data_dir)))
    with TestClient(app) as client:
        keys = {"admin": {"Authorization": f"Bearer {ADMIN}"}}
        assert client.post("/admin/communities", json={"name": "green", "mechanism": "pay_as_bid",
                                                        "slot_minutes": 15}, headers=keys["admin"]).status_code == 201
        for name, role in [("s1", "prosumer"), ("s2", "prosumer"), ("b1", "prosumer"), ("b2", "prosumer"),
                           ("grid", "dso")]:
            r = client.post("/admin/communities/green/members", json={"id": name, "role": role, "bus": "34"},
                            headers=keys["admin"])
            keys[name] = {"Authorization": f"Bearer {r.json()['api_key']}"}
        empty = client.get("/communities/green/fund", headers=keys["grid"])
        assert empty.status_code == 200 and empty.json()["slots"] == [] and empty.json()["total_micro"] == 0
        for who, side, kwh, price in ORDERS:
            r = client.post("/communities/green/orders", json={"side": side, "slot_start": SLOT, "idempotency_key": "k",
                                                               "energy_kwh": kwh, "price_per_kwh": price},
                            headers=keys[who])
            assert r.status_code == 201, r.text
        clock.set(datetime(2026, 3, 1, 10, 19, tzinfo=UTC))
        assert client.post(f"/admin/communities/green/slots/{SLOT}/clear", headers=keys["admin"]).status_code == 200
        app.state.service.ledger.process_due(clock.now())
        view = client.get("/communities/green/fund", headers=keys["grid"])
        assert view.status_code == 200, view.text
        body = view.json()
        assert [(row["slot_start"], row["fund_micro"], row["energy_wh"]) for row in body["slots"]] == [
            (SLOT, spread, 0)]
        assert body["total_micro"] == spread and isinstance(body["balance_micro"], int)
        assert body["account"].startswith("0x") and len(body["account"]) == 42
        assert client.get("/communities/green/fund", headers=keys["admin"]).json()["slots"] == body["slots"]
        refused = client.get("/communities/green/fund", headers=keys["b1"])
        assert refused.status_code == 403 and refused.json()["error"]["field"]
