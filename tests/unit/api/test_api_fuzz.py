"""Schemathesis fuzzes the OpenAPI in-process (ASGI): no input, however odd, gets a 5xx; errors are 4xx JSON."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from datetime import UTC, datetime
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings

from transactive.api import Settings, create_app
from transactive.market import ManualClock
from transactive.market.ledger.desk import LedgerConfig

ADMIN = "tk_admin_fuzz"
_data = tempfile.mkdtemp(prefix="transactive-fuzz-")
atexit.register(shutil.rmtree, _data, True)
_app = create_app(Settings(data_dir=_data, admin_key=ADMIN,
                           clock=ManualClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC)), run_cycle=False,
                           ledger=LedgerConfig()))  # the ledger routes too (an in-memory embedded chain)
_op = _app.state.service.operator
_op.create_community("green", "uniform", {}, 15)
_, PROSUMER = _op.add_member("green", "alice", "prosumer")
# the live-update stream never ends, so a call cannot wait for its whole answer: its errors (401, 403, 404, 429)
# are checked in test_prosumer_api.py and its stream in tests/integration/service/test_service_standing_events.py
schema = schemathesis.openapi.from_asgi("/openapi.json", _app).exclude(path="/communities/{community}/events")


def _check(case: Any, key: str) -> None:
    response = case.call(headers={"Authorization": f"Bearer {key}"})
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"} and set(body["error"]) == {"field", "message"}, body


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_5xx_as_admin(case: Any) -> None:
    _check(case, ADMIN)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_5xx_as_prosumer(case: Any) -> None:
    _check(case, PROSUMER)


def test_a_body_nested_100000_deep_is_a_422() -> None:
    """Issue 9, finding 1: refused before any JSON parser sees it (it used to overflow the C stack)."""
    from fastapi.testclient import TestClient

    deep = b"[" * 100_000 + b"]" * 100_000
    with TestClient(_app) as client:
        for headers in ({}, {"Authorization": f"Bearer {PROSUMER}"}):
            r = client.post("/communities/green/orders", content=deep,
                            headers={**headers, "Content-Type": "application/json"})
            assert r.status_code == 422
            assert r.json() == {"error": {"field": "(body)", "message": "nested deeper than 32 levels"}}


def test_a_chunked_body_over_1_mb_is_a_413() -> None:
    """Issue 9, finding 8: no Content-Length; the body is counted as it arrives."""
    from fastapi.testclient import TestClient

    def body() -> Any:
        for _ in range(40):
            yield b" " * 50_000

    with TestClient(_app) as client:
        r = client.post("/communities/green/orders", content=body(),
                        headers={"Authorization": f"Bearer {PROSUMER}", "Content-Type": "application/json"})
        assert "content-length" not in {k.lower() for k in r.request.headers}
        assert r.status_code == 413
        assert r.json() == {"error": {"field": "(body)", "message": "larger than 1000000 bytes"}}
