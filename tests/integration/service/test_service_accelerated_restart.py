"""`transactive serve --accelerate`: market time does not jump back at a restart (issue 9, finding 11)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import httpx

from service_support import ROOT, free_port, wait_healthy


def serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    log = data_dir.parent / "serve.log"
    with open(log, "ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "transactive.cli", "serve", "--port", str(port), "--data-dir", str(data_dir),
             "--admin-key", "tk_admin_clock", "--no-chain", "--accelerate", "3600"],
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, stdout=sink, stderr=subprocess.STDOUT)
    wait_healthy(f"http://127.0.0.1:{port}", process, log)
    return process


def market_now(port: int) -> datetime:
    return datetime.fromisoformat(httpx.get(f"http://127.0.0.1:{port}/health").json()["now"])


def test_market_time_goes_on_across_a_restart(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    process = serve(data, port)
    try:
        before = market_now(port)
    finally:
        process.terminate()
        process.wait(30)
    process = serve(data, port)
    try:
        after = market_now(port)
    finally:
        process.terminate()
        process.wait(30)
    assert after > before  # used to restart at the wall clock's time, hours of market time earlier
    assert (data / "clock.json").exists()
