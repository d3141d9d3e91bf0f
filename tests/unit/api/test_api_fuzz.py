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
schema = schemathesis.openapi.from_asgi("/openapi.json", _app)


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
