"""`transactive serve` runs the ledger by itself: on an accelerated clock a slot is cleared, anchored, and
settled against its meter readings by the cycle, with the money on the persisted embedded chain; a restart
reopens the same contracts and balances. Bad ledger options exit 2 naming the option."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from test_service_crash import ADMIN, start

from service_support import ROOT, free_port
from transactive.market import iso, slot_containing


def _poll(fetch: Any, done: Any, what: str, timeout_s: float = 90) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = fetch()
        if done(answer):
            return answer
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: {answer}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_serve_anchors_and_settles_slots_itself_and_reopens_its_chain(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    admin = {"Authorization": f"Bearer {ADMIN}"}
    # 5-minute slots in 5 s: the readings have the 4.3 s until the next slot's settlement phase to arrive
    process = start(tmp_path, port, "--accelerate", "60")
    try:
        httpx.post(f"{base}/admin/communities", headers=admin,
                   json={"name": "c", "mechanism": "uniform", "slot_minutes": 5}).raise_for_status()
        keys = {}
        for name, role in (("s", "prosumer"), ("b", "prosumer"), ("grid", "dso")):
            r = httpx.post(f"{base}/admin/communities/c/members", headers=admin, json={"id": name, "role": role},
                           timeout=30)
            keys[name] = {"Authorization": f"Bearer {r.json()['api_key']}"}
        accounts = {m: httpx.get(f"{base}/communities/c/account", headers=keys[m]).json() for m in keys}
        assert all(a["enrolled"] and a["balance_micro"] == 1_000 * 10**6 for a in accounts.values())
        now = datetime.fromisoformat(httpx.get(f"{base}/health").json()["now"])
        slot = iso(slot_containing(now, 5) + timedelta(minutes=10))  # 5-10 s of real time ahead
        for who, side, price in (("s", "sell", 1.0), ("b", "buy", 3.0)):
            r = httpx.post(f"{base}/communities/c/orders", headers=keys[who], json={
                "side": side, "slot_start": slot, "idempotency_key": "x", "energy_kwh": 2, "price_per_kwh": price})
            assert r.status_code == 201, r.text
        ledger = _poll(lambda: httpx.get(f"{base}/communities/c/slots/{slot}/ledger", headers=keys["b"]).json(),
                       lambda v: (v.get("clearing") or {}).get("state") == "anchored", "the anchoring")
        for who, kwh in (("s", 2.0), ("b", -2.0)):
            _poll(lambda who=who, kwh=kwh: httpx.post(  # type: ignore[misc]
                f"{base}/communities/c/meter-readings", headers=keys[who],
                json={"slot_start": slot, "energy_kwh": kwh}).status_code,
                lambda code: code in (200, 201), "the slot's end")
        settled = _poll(lambda: httpx.get(f"{base}/communities/c/slots/{slot}/ledger", headers=keys["b"]).json(),
                        lambda v: (v.get("settlement") or {}).get("state") == "settled", "the settlement")
        assert settled["clearing"] == ledger["clearing"] and settled["settlement"]["mode"] == "batch"
        # uniform price 2.0; 2 kWh each way; network charge 0.01/kWh -> 20,000 micro, half each; no deviation
        after = {m: httpx.get(f"{base}/communities/c/account", headers=keys[m]).json()["balance_micro"]
                 for m in keys}
        assert after == {"s": 10**9 + 4_000_000 - 10_000, "b": 10**9 - 4_000_000 - 10_000, "grid": 10**9 + 20_000}
        statement = httpx.get(f"{base}/communities/c/statements", headers=keys["b"]).json()
        assert [x["balance_change_micro"] for x in statement] == [-4_010_000]
    finally:
        _stop(process)

    process = start(tmp_path, port)  # restart: the same contracts, accounts and balances
    try:
        again = httpx.get(f"{base}/communities/c/slots/{slot}/ledger", headers=keys["b"]).json()
        assert again == settled
        assert {m: httpx.get(f"{base}/communities/c/account", headers=keys[m]).json() for m in keys} == \
            {m: {**accounts[m], "balance_micro": after[m]} for m in keys}
        r = httpx.post(f"{base}/admin/communities/c/slots/{slot}/settle", headers=admin)
        assert r.status_code == 409 and r.json()["error"]["field"] == "slot_start"
    finally:
        _stop(process)
    audit = subprocess.run([sys.executable, "-m", "transactive.cli", "ledger", "verify", str(tmp_path)],
                           check=False, capture_output=True, text=True, timeout=120,
                           env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert audit.returncode == 0, audit.stdout + audit.stderr  # the service's data directory audits clean


def test_bad_ledger_options_exit_2_naming_the_option(tmp_path: Path) -> None:
    for extra, option in ((["--no-chain", "--chain-url", "http://127.0.0.1:1"], "--chain-url"),
                          (["--threshold", "5"], "--threshold"), (["--chain-engine", "geth"], "--chain-engine")):
        done = subprocess.run([sys.executable, "-m", "transactive.cli", "serve", "--data-dir", str(tmp_path), *extra],
                              check=False, capture_output=True, text=True, timeout=120, cwd=ROOT,
                              env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
        assert done.returncode == 2, (extra, done.stderr)
        assert option in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert not (tmp_path / "chain").exists()  # nothing started
