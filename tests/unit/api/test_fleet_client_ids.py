"""The processes of a fleet on one PostgreSQL claim their MQTT client ids under leases: each its own
``<prefix>-<i>``, and the id of a process that stopped (or died: PostgreSQL frees its lease) goes to the next one,
which so takes over that broker session. Without a fleet (SQLite) the id is the one given."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service_support import postgres_url  # noqa: F401 - fixture
from transactive.api import Service, Settings
from transactive.store import _tables as tables


@pytest.fixture
def services(postgres_url: str) -> Iterator[list[Service]]:  # noqa: F811 - the fixture
    started: list[Service] = []
    yield started
    for service in started:
        service.stop()
    if started:
        from transactive.store import open_store

        store = open_store(url=postgres_url)
        tables.metadata.drop_all(store.engine)
        store.close()


def _service(tmp_path: Path, db_url: str | None, name: str) -> Service:
    return Service(Settings(data_dir=tmp_path / name, db_url=db_url, admin_key="tk_admin_ids",
                            mqtt_client_id="gw", mqtt_claim_client_id=True, run_cycle=False))


def test_each_process_claims_its_own_id_and_a_freed_one_is_taken_over(
        tmp_path: Path, postgres_url: str, services: list[Service]) -> None:  # noqa: F811 - the fixture
    services += [_service(tmp_path, postgres_url, n) for n in ("a", "b", "c")]
    assert [s.mqtt_client_id for s in services] == ["gw-0", "gw-1", "gw-2"]
    services.pop(1).stop()  # its lease is released (a killed process's by PostgreSQL)
    services.append(_service(tmp_path, postgres_url, "d"))
    assert services[-1].mqtt_client_id == "gw-1"  # the replacement takes over gw-1's broker session


def test_without_a_fleet_the_client_id_is_the_one_given(tmp_path: Path) -> None:
    service = _service(tmp_path, None, "sqlite")
    try:
        assert service.mqtt_client_id == "gw"
    finally:
        service.stop()
