"""An in-process API on a manual clock and a SQLite file, with an admin, a community and some members."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

with warnings.catch_warnings():  # starlette >= 1.x prefers another client package; httpx still works
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from transactive.api import Settings, create_app
from transactive.market import ManualClock

ADMIN = "tk_admin_for_tests"
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
SLOT = "2026-03-01T10:15:00Z"


@dataclass
class Api:
    client: TestClient
    clock: ManualClock
    keys: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    clock = ManualClock(T0)
    app = create_app(Settings(data_dir=tmp_path, admin_key=ADMIN, clock=clock, run_cycle=False))
    with TestClient(app) as client:
        keys = {"admin": ADMIN}
        admin = {"Authorization": f"Bearer {ADMIN}"}
        r = client.post("/admin/communities", json={"name": "green", "mechanism": "uniform", "slot_minutes": 15},
                        headers=admin)
        assert r.status_code == 201, r.text
        for name, role in [("alice", "prosumer"), ("bob", "prosumer"), ("carol", "aggregator"), ("grid", "dso"),
                           ("val", "validator")]:
            r = client.post("/admin/communities/green/members", json={"id": name, "role": role, "bus": f"b-{name}"},
                            headers=admin)
            assert r.status_code == 201, r.text
            keys[name] = r.json()["api_key"]
        yield Api(client, clock, keys)
