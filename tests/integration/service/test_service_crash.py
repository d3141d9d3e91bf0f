"""Reliability: `transactive serve` killed with SIGKILL while taking orders loses no acknowledged order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from service_support import ROOT, free_port, wait_healthy

ADMIN = "tk_admin_crash_test"


def start(data_dir: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    log = data_dir / "serve.log"
    with open(log, "ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "transactive.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--data-dir", str(data_dir), "--admin-key", ADMIN, *extra],
            env=env, stdout=sink, stderr=subprocess.STDOUT)
    wait_healthy(f"http://127.0.0.1:{port}", process, log)
    return process


def test_acknowledged_orders_survive_kill_9(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    admin = {"Authorization": f"Bearer {ADMIN}"}
    process = start(tmp_path, port)
    try:
        assert httpx.post(f"{base}/admin/communities", headers=admin,
                          json={"name": "c", "mechanism": "uniform", "slot_minutes": 15}).status_code == 201
        keys = {}
        for i in range(8):
            r = httpx.post(f"{base}/admin/communities/c/members", headers=admin, json={"id": f"m{i}",
                                                                                       "role": "prosumer"})
            keys[f"m{i}"] = r.json()["api_key"]
        # future slots (orders are taken up to 7 days ahead): one order per member per slot
        first = (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
        slots = [(first + timedelta(minutes=15 * k)).strftime("%Y-%m-%dT%H:%M:%SZ") for k in range(400)]
        acked: dict[str, list[str]] = {m: [] for m in keys}
        stop = threading.Event()

        def client(member: str) -> None:
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {keys[member]}"},
                              timeout=10) as http:
                for slot in slots:
                    if stop.is_set():
                        return
                    try:
                        r = http.post("/communities/c/orders", json={
                            "side": "sell", "slot_start": slot, "idempotency_key": f"{member}-{slot}",
                            "energy_kwh": 1.5, "price_per_kwh": 0.2})
                    except httpx.TransportError:
                        return  # the server died mid-request: not acknowledged
                    if r.status_code == 201:
                        acked[member].append(r.json()["id"])

        threads = [threading.Thread(target=client, args=(m,)) for m in keys]
        for th in threads:
            th.start()
        deadline = time.monotonic() + 60
        while sum(map(len, acked.values())) < 200 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)  # mid-stream
        process.wait()
        stop.set()
        for th in threads:
            th.join()
        total = sum(map(len, acked.values()))
        assert total >= 200
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    process = start(tmp_path, port)
    try:
        for member, ids in acked.items():
            r = httpx.get(f"{base}/communities/c/orders", headers={"Authorization": f"Bearer {keys[member]}"})
            stored = {o["id"] for o in r.json()}
            missing = set(ids) - stored
            assert not missing, f"{member}: {len(missing)} acknowledged orders lost"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
