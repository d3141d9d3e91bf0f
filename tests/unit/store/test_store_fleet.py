"""A fleet's processes on one PostgreSQL: at their first start they open the empty database at once (the schema
is created once, under an advisory lock) and bootstrap the same admin key (the one that loses the race reads
the winner's admin instead of failing); an intake batch PostgreSQL picks as a deadlock's victim (rolled back)
is run again, its orders stored once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from psycopg.errors import DeadlockDetected
from sqlalchemy.exc import OperationalError

from service_support import own_database
from transactive.market import ManualClock, Operator
from transactive.market.operator import hash_key
from transactive.store import Community, Member, OrderRecord, Outcome, SqlStore, open_store
from transactive.store import _tables as tables


@pytest.fixture
def empty_db(postgres_url: str) -> Iterator[str]:
    with own_database(postgres_url, "start") as url:
        yield url


def test_processes_opening_an_empty_database_at_once_create_its_schema_once(empty_db: str) -> None:
    n = 6
    barrier = threading.Barrier(n)
    opened: list[SqlStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        barrier.wait()
        try:
            opened.append(SqlStore.open(empty_db))  # an engine (a pool of sessions) of its own: a process
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == [] and len(opened) == n
        with opened[0].engine.connect() as conn:  # one version row: the schema was created once
            rows = conn.execute(sa.text("SELECT count(*) FROM schema_version")).scalar_one()
        assert rows == 1
    finally:
        for store in opened:
            store.close()


class _LateStore:
    """A store whose first look-up of a key misses an admin another process stores right then."""

    def __init__(self, inner: SqlStore, other: Operator, key: str) -> None:
        self.inner, self.other, self.key, self.raced = inner, other, key, False

    def member_by_key_hash(self, digest: str) -> Member | None:
        if not self.raced:
            self.raced = True
            self.other.ensure_admin(self.key)  # the other process bootstraps the same key meanwhile
            return None
        return self.inner.member_by_key_hash(digest)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_two_processes_bootstrapping_the_same_admin_key_both_start(tmp_path: Path) -> None:
    store = open_store(data_dir=tmp_path)
    clock = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
    key = "tk_admin_race"
    other = Operator(store, clock)
    late: Any = _LateStore(store, other, key)
    admin = Operator(late, clock).ensure_admin(key)
    assert late.raced and admin.role == "admin" and admin.api_key_hash == hash_key(key)
    assert store.member_by_key_hash(hash_key(key)) == admin  # one admin, stored once


def test_an_intake_batch_chosen_as_a_deadlock_victim_is_run_again(postgres_url: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(url=postgres_url)
    try:
        store.create_community(Community("c", "uniform", {}, 15, "2026-03-01T00:00:00Z"))
        store.add_member(Member("m", "c", "prosumer", "digest-m"))
        orders = [OrderRecord(f"o{k}", "c", f"2026-03-01T1{k}:00:00Z", "m", "sellers",
                              {"energy_kwh": 1.0, "price_per_kwh": 0.1}, f"k{k}", "2026-03-01T00:00:00Z")
                  for k in (2, 1)]  # two new slots, not in key order
        once = store._put_orders_once
        calls: list[int] = []

        def victim(batch: list[OrderRecord]) -> list[tuple[Outcome, OrderRecord]]:
            calls.append(len(batch))
            if len(calls) == 1:  # what psycopg raises when PostgreSQL breaks a deadlock by aborting this one
                raise OperationalError("INSERT INTO slots ...", {}, DeadlockDetected("deadlock detected"))
            return once(batch)

        monkeypatch.setattr(store, "_put_orders_once", victim)
        answers = store.put_orders(orders)
        assert calls == [2, 2] and [o for o, _ in answers] == [Outcome.CREATED, Outcome.CREATED]
        assert [o.id for s in ("2026-03-01T11:00:00Z", "2026-03-01T12:00:00Z")
                for o in store.orders_in_slot("c", s)] == ["o1", "o2"]
    finally:
        tables.metadata.drop_all(store.engine)
        store.close()
