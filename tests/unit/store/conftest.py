"""The same storage suite runs on SQLite (a file) and on a real PostgreSQL on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service_support import postgres_url  # noqa: F401 - a fixture
from transactive.store import SqlStore, open_store
from transactive.store import _tables as tables


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    if request.param == "sqlite":
        s = open_store(data_dir=tmp_path)
        yield s
        s.close()
        return
    url: str = request.getfixturevalue("postgres_url")
    s = open_store(url=url)
    try:
        yield s
    finally:
        tables.metadata.drop_all(s.engine)
        s.close()
