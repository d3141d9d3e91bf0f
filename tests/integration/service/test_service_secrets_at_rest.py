"""Secrets at rest (issue 9, finding 9): the data directory is 0700; the SQLite store (custodial keys), the
embedded chain's database and admin.key are 0600, created so (checked under umask 000, where a file created with
the default mode would be 0666/0644); an existing data directory open to others is tightened on start."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from transactive.api import Service, Settings
from transactive.market.ledger.desk import LedgerConfig
from transactive.store.sql import SQLITE_FILE


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def no_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def start(data: Path) -> Service:
    service = Service(Settings(data_dir=data, run_cycle=False,
                               ledger=LedgerConfig(chain_dir=data / "chain", archive_dir=data, validators=1,
                                                   threshold=1)))
    service.operator.create_community("c", "uniform", {}, 15)
    service.operator.add_member("c", "alice", "prosumer")  # a custodial key in the store
    return service


def test_a_new_data_directory_is_private(tmp_path: Path, no_umask: None) -> None:
    data = tmp_path / "deep" / "data"
    service = start(data)
    try:
        assert service.store.chain_account("alice") is not None
        assert mode(data) == 0o700
        assert mode(data / "chain") == 0o700
        files = [data / SQLITE_FILE, data / "chain" / "chain.sqlite", data / "admin.key"]
        files += [p for p in data.glob(SQLITE_FILE + "-*")]  # -wal, -shm: SQLite copies the database's mode
        assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
    finally:
        service.stop()


def test_an_existing_open_data_directory_is_tightened(tmp_path: Path, no_umask: None) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    sqlite3.connect(data / SQLITE_FILE).close()
    (data / SQLITE_FILE).chmod(0o644)
    service = start(data)
    try:
        assert mode(data) == 0o700 and mode(data / SQLITE_FILE) == 0o600
    finally:
        service.stop()
