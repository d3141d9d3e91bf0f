"""The ledger desk in a fleet. A process dies in the middle of a member's enrolment (right after minting its
tokens); the surviving process, which is not restarted, finishes that enrolment in its ledger cycle: the member is
enrolled, its tokens minted once, and the archive audits clean (a single service did this only at its next
start). A balance is read while another process of the fleet holds the chain-writer lease (a long anchoring):
the read does not wait for it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import sqlalchemy as sa
from test_ledger_crash_points import T0, DyingChain

from transactive.ledger.audit.audit import SlotArchive, verify_archive
from transactive.ledger.chain.base import Chain
from transactive.ledger.chain.connect import open_local_chain
from transactive.market import ManualClock, Operator
from transactive.market.ledger.desk import LedgerConfig, LedgerDesk
from transactive.store import _tables as tables
from transactive.store import open_store
from transactive.store.leases import Leases
from transactive.store.sql import _normalise_url


def test_a_survivor_finishes_an_enrolment_its_dead_peer_left_half_done(tmp_path: Path) -> None:
    store = open_store(data_dir=tmp_path)
    config = LedgerConfig(chain_dir=tmp_path / "chain", archive_dir=tmp_path)
    chain = open_local_chain(config.chain_dir, engine=config.chain_engine)
    # the two processes of the fleet: one chain, one store; the first one dies right after the batch enrolment's
    # mint (``mint_batch``; the service's own account is funded by a plain ``mint`` at deployment)
    dying = LedgerDesk(store, config, chain=cast(Chain, DyingChain(chain, "mint_batch", nth=1)), started=T0)
    survivor = LedgerDesk(store, config, chain=chain, started=T0)
    op = Operator(store, ManualClock(T0))
    op.ledger = dying
    op.create_community("c", "dpda", {}, 15)
    op.add_member("c", "p1", "prosumer", "34")  # the enrolment dies after the mint (logged)
    account = store.chain_account("p1")
    assert account is not None and not account.enrolled
    assert survivor.balance_micro(account.address) == 1_000 * 10**6  # minted on chain

    survivor.process_due(datetime(2026, 3, 1, 10, 1, tzinfo=UTC))  # its cycle, no restart
    account = store.chain_account("p1")
    assert account is not None and account.enrolled
    assert survivor.balance_micro(account.address) == 1_000 * 10**6  # not minted twice
    supply = int(chain.call(survivor.token, "totalSupply"))
    assert SlotArchive(tmp_path).manifest()["mintedMicro"] == supply == 2 * 1_000 * 10**6
    assert verify_archive(tmp_path, chain=chain) is None
    survivor.close()
    store.close()


def test_a_balance_read_does_not_wait_for_another_processs_chain_writes(tmp_path: Path, postgres_url: str) -> None:
    store = open_store(url=postgres_url)
    other = sa.create_engine(_normalise_url(postgres_url))  # another process's session
    try:
        leases = Leases(store.engine)
        desk = LedgerDesk(store, LedgerConfig(chain_dir=tmp_path / "chain", archive_dir=tmp_path), started=T0,
                          leases=leases, lock=leases.fleet_lock("ledger/chain"))
        op = Operator(store, ManualClock(T0))  # a member not enrolled yet (no ledger in this operator)
        op.create_community("c", "dpda", {}, 15)
        member, _ = op.add_member("c", "p1", "prosumer", "34")
        answers: list[int] = []
        with Leases(other).fleet_lock("ledger/chain"):  # the other process is anchoring a slot
            reader = threading.Thread(target=lambda: answers.append(desk.balance_micro(desk.admin)))
            reader.start()
            reader.join(20)
            assert answers == [1_000 * 10**6]  # answered while the other holds the chain
            writer = threading.Thread(target=desk.enrol, args=(member,))
            writer.start()
            writer.join(0.5)
            assert writer.is_alive()  # whereas a chain write waits for it
        writer.join(20)
        assert not writer.is_alive() and store.chain_account("p1").enrolled  # type: ignore[union-attr]
        desk.close()
    finally:
        other.dispose()
        tables.metadata.drop_all(store.engine)
        store.close()
