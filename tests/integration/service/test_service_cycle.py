"""End to end on an accelerated clock: `transactive serve` clears a slot by itself when quotation closes."""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from test_service_crash import ADMIN, start

from service_support import free_port
from transactive.market import iso, slot_containing


def test_accelerated_service_clears_slots_itself(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start(tmp_path, port, "--accelerate", "120")  # a 1-minute slot in 0.5 s
    try:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        httpx.post(f"{base}/admin/communities", headers=admin,
                   json={"name": "c", "mechanism": "uniform", "slot_minutes": 1}).raise_for_status()
        keys = {}
        for name in ("s", "b"):
            r = httpx.post(f"{base}/admin/communities/c/members", headers=admin, json={"id": name, "role": "prosumer"})
            keys[name] = {"Authorization": f"Bearer {r.json()['api_key']}"}
        now = datetime.fromisoformat(httpx.get(f"{base}/health").json()["now"])
        slot = iso(slot_containing(now, 1) + timedelta(minutes=20))  # ~10 s of real time ahead
        for who, side, price in (("s", "sell", 1.0), ("b", "buy", 3.0)):
            r = httpx.post(f"{base}/communities/c/orders", headers=keys[who], json={
                "side": side, "slot_start": slot, "idempotency_key": "x", "energy_kwh": 2, "price_per_kwh": price})
            assert r.status_code == 201, r.text
        deadline = time.monotonic() + 60
        result = None
        while time.monotonic() < deadline:
            r = httpx.get(f"{base}/communities/c/slots/{slot}/result", headers=keys["s"])
            if r.status_code == 200:
                result = r.json()
                break
            time.sleep(0.2)
        assert result is not None, "the slot was not cleared"
        assert result["price_per_kwh"] == 2.0
        assert result["sellers"] == [{"id": "s", "energy_kwh": 2.0, "payment": 4.0}]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
