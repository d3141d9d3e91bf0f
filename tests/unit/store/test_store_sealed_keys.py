"""Custodial keys sealed at rest (issue 9, finding 9) on SQLite and PostgreSQL: the stored column holds
``aes256gcm:...`` and never the key; an older store's plaintext keys are sealed when it opens (on PostgreSQL the
``VARCHAR(66)`` column of schema 6 is widened first); on SQLite no byte of the file or its WAL keeps the key."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from transactive.store import ChainAccount, Community, Member, SqlStore
from transactive.store import _tables as t
from transactive.store.sealing import SEALED_PREFIX
from transactive.store.sql import SQLITE_FILE

T = "2026-03-01T10:00:00.000000Z"
KEY_1, KEY_2 = "a1" * 32, "b2" * 32


def _setup(store: SqlStore) -> None:
    assert store.create_community(Community("c", "dpda", {}, 15, T))
    for member in ("m1", "m2"):
        assert store.add_member(Member(member, "c", "prosumer", f"h-{member}"))


def _stored(store: SqlStore) -> dict[str, str | None]:
    with store.engine.connect() as conn:
        return dict(conn.execute(sa.select(t.chain_accounts.c.member, t.chain_accounts.c.private_key)).all())


def test_keys_are_stored_sealed_and_read_back(store: SqlStore) -> None:
    _setup(store)
    assert store.put_chain_account(ChainAccount("m1", "0x" + "11" * 20, KEY_1))
    assert store.put_chain_account(ChainAccount("m2", "0x" + "22" * 20, None))  # not custodial: nothing to seal
    stored = _stored(store)
    assert str(stored["m1"]).startswith(SEALED_PREFIX) and KEY_1 not in str(stored["m1"]) and stored["m2"] is None
    account = store.chain_account("m1")
    assert account is not None and account.private_key_hex == KEY_1


def test_an_older_stores_plaintext_keys_are_sealed_when_it_opens(store: SqlStore, tmp_path: Path) -> None:
    _setup(store)
    with store.engine.begin() as conn:  # what schema 6 wrote: hex keys in a VARCHAR(66) column
        if store.dialect == "postgresql":
            conn.exec_driver_sql("ALTER TABLE chain_accounts ALTER COLUMN private_key TYPE VARCHAR(66)")
        conn.execute(t.chain_accounts.insert(), [
            {"member": "m1", "address": "0x" + "11" * 20, "private_key": KEY_1, "enrolled": True},
            {"member": "m2", "address": "0x" + "22" * 20, "private_key": KEY_2, "enrolled": False}])
        conn.execute(t.schema_version.delete())
        conn.execute(t.schema_version.insert().values(version=6, applied_at=T))
    reopened = SqlStore(store.engine)  # opening migrates
    assert reopened.schema_version() == t.SCHEMA_VERSION
    stored = _stored(reopened)
    assert all(str(v).startswith(SEALED_PREFIX) for v in stored.values()), stored
    assert [(a.member, a.private_key_hex, a.enrolled) for a in reopened.chain_accounts()] == [
        ("m1", KEY_1, True), ("m2", KEY_2, False)]
    assert reopened.seal_plaintext_keys() == 0  # done once
    if store.dialect == "sqlite":  # the old plaintext pages are gone from the file and its WAL
        for path in tmp_path.glob(SQLITE_FILE + "*"):
            raw = path.read_bytes()
            assert KEY_1.encode() not in raw and KEY_2.encode() not in raw, path
