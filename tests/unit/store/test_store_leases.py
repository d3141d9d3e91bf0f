"""Leases (transactive.store.leases): PostgreSQL advisory locks shared by the processes of a fleet, taken over at
once when their holder is killed; process-local on SQLite, where a second service on a data directory is
refused; the clearing of a slot done once under its lease, resumed by another process after its holder died."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from service_support import ROOT
from transactive.market import ManualClock, Operator
from transactive.store import SlotState, open_store
from transactive.store import _tables as tables
from transactive.store.leases import DataDirBusy, Leases, hold_data_dir, lease_key
from transactive.store.sql import _normalise_url


@pytest.fixture
def engines(postgres_url: str) -> Iterator[tuple[Engine, Engine]]:
    """Two engines on one PostgreSQL: two processes of a fleet, as far as the server can tell (own sessions)."""
    a, b = (sa.create_engine(_normalise_url(postgres_url)) for _ in range(2))
    yield a, b
    a.dispose()
    b.dispose()


def _try(leases: Leases, name: str) -> bool:
    with leases.hold(name) as held:
        return held


def test_a_lease_is_held_by_one_session_of_the_fleet_at_a_time(engines: tuple[Engine, Engine]) -> None:
    first, second = Leases(engines[0]), Leases(engines[1])
    assert first.fleet and second.fleet
    with first.hold("clear/c/2026-01-01T00:00:00Z") as held:
        assert held
        assert not _try(second, "clear/c/2026-01-01T00:00:00Z")  # the other process skips it
        assert _try(second, "clear/c/2026-01-01T00:15:00Z")  # another slot's lease is free
        with engines[1].connect() as conn:  # as PostgreSQL sees it: one advisory lock, on its key
            keys = conn.execute(sa.text("SELECT (classid::bigint << 32) | objid::bigint FROM pg_locks "
                                        "WHERE locktype = 'advisory' AND granted")).scalars().all()
        assert lease_key("clear/c/2026-01-01T00:00:00Z") & 0xFFFFFFFFFFFFFFFF in [k & 0xFFFFFFFFFFFFFFFF for k in keys]
    assert _try(second, "clear/c/2026-01-01T00:00:00Z")  # released with the block


def test_a_killed_holders_lease_is_taken_over_at_once(postgres_url: str, engines: tuple[Engine, Engine]) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time, sqlalchemy as sa\n"
         "from transactive.store.leases import Leases\n"
         "from transactive.store.sql import _normalise_url\n"
         "leases = Leases(sa.create_engine(_normalise_url(sys.argv[1])))\n"
         "with leases.hold('settlement/c/s') as held:\n"
         "    print('held' if held else 'busy', flush=True)\n"
         "    time.sleep(600)\n", postgres_url],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        other = Leases(engines[0])
        assert not _try(other, "settlement/c/s")
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        deadline = time.monotonic() + 10
        while not _try(other, "settlement/c/s"):  # the server ends the dead session and frees its locks
            assert time.monotonic() < deadline, "the dead holder's lease was not released"
            time.sleep(0.05)
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def test_the_fleet_lock_is_reentrant_and_excludes_the_other_processes(engines: tuple[Engine, Engine]) -> None:
    mine, theirs = Leases(engines[0]).fleet_lock("ledger/chain"), Leases(engines[1]).fleet_lock("ledger/chain")
    got = threading.Event()

    def other() -> None:
        with theirs:
            got.set()

    with mine, mine:  # reentrant in this thread
        thread = threading.Thread(target=other)
        thread.start()
        assert not got.wait(0.5)  # the other process waits for the lease
        with mine:
            pass
        assert not got.is_set()
    assert got.wait(10)  # released with the outermost block
    thread.join()


def test_without_postgresql_a_lease_is_a_lock_of_this_process(tmp_path: Path) -> None:
    leases = Leases(open_store(data_dir=tmp_path).engine)
    assert not leases.fleet
    with leases.hold("clear/c/s") as held:
        assert held
        seen: list[bool] = []
        thread = threading.Thread(target=lambda: seen.append(_try(leases, "clear/c/s")))
        thread.start()
        thread.join()
        assert seen == [False]  # another thread of this process skips it
    assert _try(leases, "clear/c/s")


def test_a_second_service_on_a_sqlite_data_directory_is_refused(tmp_path: Path) -> None:
    held = hold_data_dir(tmp_path)
    try:
        with pytest.raises(DataDirBusy, match=f"pid {os.getpid()}"):
            hold_data_dir(tmp_path)
        done = subprocess.run([sys.executable, "-m", "transactive.cli", "serve", "--no-chain", "--data-dir",
                               str(tmp_path), "--port", "1"], check=False, capture_output=True, text=True,
                              timeout=120, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        assert done.returncode == 2, done.stderr
        assert "--data-dir" in done.stderr and "PostgreSQL" in done.stderr and "Traceback" not in done.stderr
    finally:
        held.close()
    again = hold_data_dir(tmp_path)  # free again once the holder is gone
    again.close()


def _orders(op: Operator, slot: str) -> None:
    op.create_community("c", "uniform", {}, 15)
    for who, side, price in (("s", "sell", 0.1), ("b", "buy", 0.3)):
        member, _ = op.add_member("c", who, "prosumer")
        op.submit_order(member, "c", {"side": side, "slot_start": slot, "idempotency_key": "k", "energy_kwh": 2,
                                      "price_per_kwh": price})


def test_a_slot_is_cleared_once_by_the_fleet_and_resumed_after_its_holder_died(postgres_url: str) -> None:
    slot = "2026-03-01T10:15:00Z"
    clock = ManualClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    stores = [open_store(url=postgres_url) for _ in range(2)]
    try:
        one, two = (Operator(s, clock, leases=Leases(s.engine)) for s in stores)
        _orders(one, slot)
        clock.set(datetime(2026, 3, 1, 10, 19, tzinfo=UTC))  # quotation closed
        with one.leases.hold(f"clear/c/{slot}") as held:  # process one is clearing it
            assert held
            assert two.clear_due() == []  # process two leaves it alone
            assert stores[1].get_slot("c", slot).state is SlotState.OPEN  # type: ignore[union-attr]
        # process one died after closing the slot, before storing its result: the slot stays closed
        assert stores[0].close_slot("c", slot, 15)
        (done,) = two.clear_due()
        assert done.state is SlotState.CLEARED
        assert one.clear_due() == [] and one.clear_slot("c", datetime.fromisoformat(slot)) == done
        result = stores[0].get_result("c", slot)
        assert result is not None and {r["id"] for r in [*result.document["sellers"], *result.document["buyers"]]
                                       } == {"s", "b"}
    finally:
        tables.metadata.drop_all(stores[0].engine)
        for s in stores:
            s.close()


def test_a_share_group_without_a_broker_exits_2_naming_the_option(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "transactive.cli", "serve", "--no-chain", "--data-dir",
                           str(tmp_path), "--mqtt-share-group", "fleet"], check=False, capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert done.returncode == 2 and "--mqtt-share-group" in done.stderr and "--mqtt-url" in done.stderr, done.stderr
    assert not (tmp_path / "serve.lock").exists()  # refused before anything started
