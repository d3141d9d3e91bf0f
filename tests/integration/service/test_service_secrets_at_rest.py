"""Secrets at rest (issue 9, finding 9): the data directory is 0700; the SQLite store (custodial keys), the
embedded chain's database and admin.key are 0600, created so (checked under umask 000, where a file created with
the default mode would be 0666/0644); an existing data directory open to others is tightened on start. The
custodial keys are sealed (no file of the data directory holds one), reopen after a restart, and a wrong or
missing key-encryption key is an error naming it, before the chain is opened."""

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


def _settings(data: Path) -> Settings:
    return Settings(data_dir=data, run_cycle=False,
                    ledger=LedgerConfig(chain_dir=data / "chain", archive_dir=data, validators=1, threshold=1))


def start(data: Path) -> Service:
    service = Service(_settings(data))
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
        chain_files = list((data / "chain").glob("chain*.sqlite"))  # either engine's (docs/ledger.md, Engines)
        assert len(chain_files) == 1, chain_files
        files = [data / SQLITE_FILE, *chain_files, data / "admin.key"]
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


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def test_custodial_keys_are_sealed_on_disk_and_reopen_after_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    service = start(data)
    try:
        account = service.store.chain_account("alice")
        assert account is not None and account.private_key_hex is not None
        key = bytes.fromhex(account.private_key_hex)
        with sqlite3.connect(data / SQLITE_FILE) as db:
            (stored,) = db.execute("SELECT private_key FROM chain_accounts WHERE member = 'alice'").fetchone()
        assert stored.startswith("aes256gcm:")
    finally:
        service.stop()
    # no file of the data directory (store, WAL, chain, archive) holds the key, in hex or raw
    for path in _files(data):
        raw = path.read_bytes()
        assert key not in raw and key.hex().encode() not in raw and key.hex().upper().encode() not in raw, path
    again = Service(_settings(data))
    try:  # the restarted service opens the sealed key with the same key-encryption key
        reopened = again.store.chain_account("alice")
        assert reopened is not None and reopened.private_key_hex == key.hex()
    finally:
        again.stop()


def test_a_wrong_or_missing_key_encryption_key_is_a_clear_error(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from transactive.store.sealing import ENV_KEY, KeySealError

    data = tmp_path / "data"
    start(data).stop()
    settings = _settings(data)
    monkeypatch.setenv(ENV_KEY, "11" * 32)
    with pytest.raises(KeySealError) as wrong:
        Service(settings)
    assert wrong.value.field == ENV_KEY and "does not open the custodial key of 'alice'" in wrong.value.message
    monkeypatch.delenv(ENV_KEY)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "empty-config"))
    with pytest.raises(KeySealError) as missing:
        Service(settings)
    assert missing.value.field == ENV_KEY and "does not exist" in missing.value.message
    assert not (tmp_path / "empty-config").exists()  # opening never invents a key
