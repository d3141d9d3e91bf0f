"""Helpers of the storage tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from transactive.store import SqlStore, open_store
from transactive.store import _tables as tables
from transactive.store.sql import SQLITE_FILE


@contextmanager
def upgraded_from(data_dir: Path, version: int, later_tables: Sequence[str]) -> Iterator[SqlStore]:
    """The SQLite store in ``data_dir`` (created if missing) made a version-``version`` database, as an older
    release left it: ``later_tables`` (the tables of the later versions) dropped and the ``schema_version``
    rows after ``version`` replaced by one of ``version``. Yields it opened again, upgraded in place to the
    current version (asserted), and closes it afterwards."""
    open_store(data_dir=data_dir).close()
    with sqlite3.connect(data_dir / SQLITE_FILE) as conn:
        for name in later_tables:
            conn.execute(f"DROP TABLE {name}")
        conn.execute("DELETE FROM schema_version WHERE version > ?", (version,))
        conn.execute("INSERT INTO schema_version VALUES (?, 'earlier')", (version,))
    assert version < tables.SCHEMA_VERSION
    upgraded = open_store(data_dir=data_dir)
    try:
        assert upgraded.schema_version() == tables.SCHEMA_VERSION
        yield upgraded
    finally:
        upgraded.close()
