"""Turning the ledger on over an existing database: the cycle anchors and settles only slots that start at or
after the ledger's start (stored in the ledger metadata at first deployment); an older cleared slot is left
alone (no penalty for readings nobody was asked to send) until an admin backfills it explicitly."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from pathlib import Path

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from transactive.api import Settings, create_app
from transactive.market import ManualClock
from transactive.market.ledger.desk import LedgerConfig, LedgerDesk

ADMIN = "tk_admin_ledger_start"
H = {"Authorization": f"Bearer {ADMIN}"}
OLD, NEW = "2026-03-01T10:15:00Z", "2026-03-01T11:15:00Z"


def _orders(client: TestClient, keys: dict[str, dict[str, str]], slot: str) -> None:
    for who, side, kwh, price in [("s1", "sell", 3, 0.10), ("b1", "buy", 2.5, 0.2)]:
        r = client.post("/communities/green/orders", headers=keys[who], json={
            "side": side, "slot_start": slot, "idempotency_key": slot, "energy_kwh": kwh, "price_per_kwh": price})
        assert r.status_code == 201, r.text


def test_old_cleared_slots_are_left_alone_until_backfilled(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    keys: dict[str, dict[str, str]] = {}
    # a service without the ledger clears a slot; nobody is asked for meter readings
    with TestClient(create_app(Settings(data_dir=tmp_path, admin_key=ADMIN, clock=clock, run_cycle=False))) as c:
        assert c.post("/admin/communities", headers=H, json={"name": "green", "mechanism": "dpda"}).status_code == 201
        for name, role in [("s1", "prosumer"), ("b1", "prosumer"), ("grid", "dso")]:
            r = c.post("/admin/communities/green/members", headers=H, json={"id": name, "role": role, "bus": "34"})
            keys[name] = {"Authorization": f"Bearer {r.json()['api_key']}"}
        _orders(c, keys, OLD)
        clock.set(datetime(2026, 3, 1, 10, 19, tzinfo=UTC))
        assert c.post(f"/admin/communities/green/slots/{OLD}/clear", headers=H).json()["state"] == "cleared"

    # the ledger is turned on at 11:00, long after the old slot's settlement deadline (10:43)
    clock.set(datetime(2026, 3, 1, 11, 0, tzinfo=UTC))
    app = create_app(Settings(data_dir=tmp_path, admin_key=ADMIN, clock=clock, run_cycle=False,
                              ledger=LedgerConfig(chain_dir=tmp_path / "chain")))
    with TestClient(app) as c:
        desk: LedgerDesk = app.state.service.ledger
        assert desk.store.ledger_meta("start") == "2026-03-01T11:00:00Z" == desk.start
        address = {m: c.get("/communities/green/account", headers=keys[m]).json()["address"] for m in keys}

        def money() -> dict[str, int]:
            return {m: desk.balance_micro(a) for m, a in address.items()}

        before = money()
        assert desk.process_due(clock.now()) == []  # neither anchored nor settled (no 0-kWh penalties)
        assert c.get(f"/communities/green/slots/{OLD}/ledger", headers=H).json() | {"slot_start": None} == \
            {"community": "green", "slot_start": None, "clearing": None, "settlement": None}
        assert money() == before

        # a slot after the ledger's start goes through the cycle as usual
        _orders(c, keys, NEW)
        clock.set(datetime(2026, 3, 1, 11, 19, tzinfo=UTC))
        assert c.post(f"/admin/communities/green/slots/{NEW}/clear", headers=H).json()["state"] == "cleared"
        desk.process_due(clock.now())
        assert c.get(f"/communities/green/slots/{NEW}/ledger", headers=H).json()["clearing"]["state"] == "anchored"

        # the explicit backfill: anchored on request; the cycle still never settles it by itself
        r = c.post(f"/admin/communities/green/slots/{OLD}/anchor", headers=H)
        assert r.status_code == 200 and r.json()["clearing"]["state"] == "anchored", r.text
        clock.set(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))  # past both deadlines, no readings at all
        done = desk.process_due(clock.now())
        assert [(x.slot_start, x.kind) for x in done] == [(NEW, "settlement")]
        assert desk.store.get_ledger_slot("green", OLD, "settlement") is None
        r = c.post(f"/admin/communities/green/slots/{OLD}/settle", headers=H)  # only when asked
        assert r.status_code == 200 and r.json()["settlement"]["state"] == "settled", r.text

    # the stored start survives a restart at a later time
    clock.set(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    app = create_app(Settings(data_dir=tmp_path, admin_key=ADMIN, clock=clock, run_cycle=False,
                              ledger=LedgerConfig(chain_dir=tmp_path / "chain")))
    with TestClient(app):
        assert app.state.service.ledger.start == "2026-03-01T11:00:00Z"


def test_a_slot_cleared_late_with_an_old_start_is_found_by_the_next_full_scan(tmp_path: Path) -> None:
    """Between full scans the cycle looks only at the last day of market time (and what was pending); a slot
    cleared late with an older start is anchored by the next full scan (every FULL_SCAN_S seconds)."""
    from transactive.market import Operator
    from transactive.store import open_store

    store = open_store(data_dir=tmp_path)
    clock = ManualClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    op = Operator(store, clock)
    desk = LedgerDesk(store, LedgerConfig(chain_dir=tmp_path / "chain"), started=clock.now())
    op.ledger = desk
    op.create_community("green", "dpda", {}, 15)
    late, recent = "2026-03-01T10:15:00Z", "2026-03-03T10:15:00Z"
    for who, side, kwh, price in [("s1", "sell", 3, 0.10), ("s2", "sell", 2, 0.12), ("b1", "buy", 2.5, 0.2),
                                  ("b2", "buy", 2, 0.18)]:
        member, _ = op.add_member("green", who, "prosumer", "34")
        for slot in (late, recent):
            op.submit_order(member, "green", {"side": side, "slot_start": slot, "idempotency_key": slot,
                                              "energy_kwh": kwh, "price_per_kwh": price})
    clock.set(datetime(2026, 3, 3, 10, 19, tzinfo=UTC))
    assert op.clear_slot("green", datetime.fromisoformat(recent)).state.value == "cleared"
    assert [(r.slot_start, r.state) for r in desk.process_due(clock.now())] == [(recent, "anchored")]  # full scan
    assert op.clear_slot("green", datetime.fromisoformat(late)).state.value == "cleared"  # two days late
    assert desk.process_due(clock.now()) == []  # not in the last day
    desk._full_scan_at = 0.0  # FULL_SCAN_S later
    # anchored, then settled at once: it started after the ledger's start and its settlement deadline passed
    assert [(r.slot_start, r.kind, r.state) for r in desk.process_due(clock.now())] == \
        [(late, "clearing", "anchored"), (late, "settlement", "settled")]
    desk.close()
    store.close()
