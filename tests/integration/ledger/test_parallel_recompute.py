"""Validators recomputing at the same time: signatures checked in worker processes while the clearing runs,
the auctioneer's own earlier clearing reused (its signatures still checked), validators in worker processes
(ParallelValidators), and the service's desk anchoring a grid-aware slot with them -- every root equal to a
plain one-process recomputation's, and a forged signature still refused on every path."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ledger_helpers import signed_market_document_batch

from transactive.crypto.eip712 import Domain
from transactive.crypto.signing import WorkerPool
from transactive.ledger.audit.proofs import SlotBatch
from transactive.ledger.clearance.parallel import ParallelValidators
from transactive.ledger.clearance.protocol import ClearanceError, clear_batch, recompute, slot_rewards
from transactive.ledger.messages.commitments import RewardShares, result_tree

DOMAIN = Domain(chain_id=1337, verifying_contract="0x" + "42" * 20)
DSO = "0x" + "11" * 20
SLOT = 77


def _chunk_sum(items: list[int]) -> list[int]:
    return [x * x for x in items]


@pytest.fixture(scope="module")
def batch() -> SlotBatch:
    return signed_market_document_batch(DOMAIN, SLOT, DSO)


def _forged(batch: SlotBatch) -> SlotBatch:
    """The batch with the last attributes record changed after its trader signed the order covering it."""
    record = batch.attributes[-1]
    altered = replace(record.message, distance_pref_mm=record.message.distance_pref_mm + 1)
    return replace(batch, attributes=(*batch.attributes[:-1], replace(record, message=altered)))


def test_submit_chunks_keeps_the_order_of_the_items() -> None:
    items = list(range(1_000))
    with WorkerPool(workers=2, parallel_threshold=10, start_method="forkserver") as pool:
        assert pool.submit_chunks(_chunk_sum, items)() == [x * x for x in items]
        assert pool.map_chunks(_chunk_sum, items[:5]) == [0, 1, 4, 9, 16]  # below the threshold: in-process
        assert pool.cpu_seconds() >= 0.0


def test_overlapped_verification_and_reused_clearing_give_the_plain_root(batch: SlotBatch) -> None:
    rewards = RewardShares(100, 100)
    with WorkerPool(workers=1) as one:  # the reference: everything in this process
        plain = recompute(batch, rewards=rewards, pool=one)
    with WorkerPool(workers=2, parallel_threshold=8, start_method="forkserver") as pool:
        assert recompute(batch, rewards=rewards, pool=pool) == plain
        cleared = clear_batch(batch, verify=False)
        assert recompute(batch, rewards=rewards, pool=pool, cleared=cleared) == plain
        forged = _forged(batch)
        for kwargs in ({}, {"cleared": clear_batch(forged, verify=False)}):  # the reused clearing is no bypass
            with pytest.raises(ClearanceError, match="attributes 19: signature"):
                recompute(forged, rewards=rewards, pool=pool, **kwargs)  # type: ignore[arg-type]


def test_parallel_validators_return_each_its_own_root(batch: SlotBatch) -> None:
    rewards = RewardShares(100, 100)
    expected = result_tree(SLOT, recompute(batch, rewards=rewards)).root
    with ParallelValidators(2, threshold=1) as validators:
        assert validators.worth_it(batch)
        assert validators.submit(batch, rewards, 3)() == [expected] * 3
        assert validators.cpu_seconds() > 0.0
        with pytest.raises(ClearanceError, match="signature"):
            validators.submit(_forged(batch), rewards, 2)()
    assert not ParallelValidators(1).worth_it(batch)  # 40 records are below the default 2,048


def test_desk_anchors_a_grid_slot_with_parallel_validators(tmp_path: Path) -> None:
    from transactive.grid.feeder import load_feeder
    from transactive.market import ManualClock, Operator
    from transactive.market.ledger.desk import LedgerConfig, LedgerDesk
    from transactive.store import OrderRecord, open_store
    from transactive.store import _tables as t

    buses = list(load_feeder().load_buses)
    store = open_store(data_dir=tmp_path)
    op = Operator(store, ManualClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC)))
    assert not LedgerConfig().parallel_validators  # opt-in
    desk = LedgerDesk(store, LedgerConfig(chain_dir=tmp_path / "chain", parallel_validators=True))
    try:
        op.ledger = desk
        assert desk.parallel_validators is not None
        desk.parallel_validators.threshold = 1  # a small slot through the worker processes
        op.create_community("c", "dpda_matched", {}, 15)
        rng = random.Random(3)
        members = [f"m{i}" for i in range(24)]
        with store.engine.begin() as conn:
            conn.execute(t.members.insert(), [{"id": m, "community": "c", "role": "prosumer",
                                               "api_key_hash": uuid.uuid4().hex * 2, "bus": buses[i]}
                                              for i, m in enumerate(members)])
        orders = []
        for i, m in enumerate(members):
            sell = i % 2 == 0
            entry = {"energy_kwh": round(rng.uniform(0.5, 5.0), 3), "bus": buses[i], "distance_pref_m": 150.0,
                     "price_per_kwh": round(rng.uniform(0.05, 0.2) if sell else rng.uniform(0.1, 0.3), 4)}
            entry |= {"a": 0.01, "b": 1.0, "c": 0.5} if sell else {"omega": 60.0, "alpha": 0.2}
            orders.append(OrderRecord(str(uuid.uuid4()), "c", "2026-03-01T10:15:00Z", m,
                                      "sellers" if sell else "buyers", entry, "k", "2026-03-01T10:00:00.000000Z"))
        store.put_orders(orders)
        op.clock.set(datetime(2026, 3, 1, 10, 19, tzinfo=UTC))  # type: ignore[attr-defined]
        op.clear_slot("c", datetime.fromisoformat("2026-03-01T10:15:00Z"))
        rec = desk.anchor("c", "2026-03-01T10:15:00Z")  # enrols the members on the way (custodial keys)
        assert rec.state == "anchored", rec.document
        assert desk.parallel_validators.cpu_seconds() > 0.0  # the workers did recompute
        anchored = SlotBatch.from_json(rec.document["batch"])
        assert len(anchored.attributes) == 24 and rec.document["dissenters"] == []
        rewards = slot_rewards(desk.chain, desk.slots, rec.chain_slot)
        plain = result_tree(rec.chain_slot, recompute(anchored, rewards=rewards)).root
        assert bytes(desk.chain.call(desk.slots, "slots", rec.chain_slot)[6]) == plain
    finally:
        desk.close()
        store.close()


def test_parallel_validators_start_afresh_after_a_worker_died(batch: SlotBatch) -> None:
    import os
    import signal
    from concurrent.futures.process import BrokenProcessPool

    expected = result_tree(SLOT, recompute(batch)).root
    with ParallelValidators(1, threshold=1) as validators:
        assert validators.submit(batch, None, 1)() == [expected]
        executor = validators._executor
        pid = next(iter(executor._processes))  # type: ignore[union-attr]
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(BrokenProcessPool):
            for _ in range(50):  # the pool notices the dead worker on its next use
                validators.submit(batch, None, 1)()
        assert validators.submit(batch, None, 1)() == [expected]  # a new worker


def _uniform_batch(n: int) -> SlotBatch:
    """``n`` single-block orders of ``n`` traders (half sellers), signed, for the uniform-price mechanism."""
    from transactive.crypto.signing import Signer, new_private_key
    from transactive.ledger.messages.orders import OrderMessage, sign_orders

    rng = random.Random(13)
    keys = [new_private_key(rng) for _ in range(n)]
    messages = [OrderMessage(Signer(k).address, SLOT, i % 2, rng.randrange(500, 5_000),
                             rng.randrange(50_000, 300_000), 0) for i, k in enumerate(keys)]
    return SlotBatch(DOMAIN, SLOT, tuple(sign_orders(keys, messages, [DOMAIN] * n)), mechanism="uniform", params={})


@pytest.mark.parametrize("forged_at", [None, 5, 700, 1_199])
def test_signatures_in_chunks_beside_the_clearing_verify_as_in_one_process(forged_at: int | None) -> None:
    """1,200 orders in 5 chunks of 256: the pool's one worker takes them from the front while this process
    clears, this process the rest when it asks; a forged signature in the first, a middle or the last chunk is
    refused with the message of the one-process check."""
    batch = _uniform_batch(1_200)
    if forged_at is not None:
        order = batch.orders[forged_at]
        other = batch.orders[(forged_at + 1) % len(batch.orders)]
        forged = replace(order, signature=other.signature)
        batch = replace(batch, orders=(*batch.orders[:forged_at], forged, *batch.orders[forged_at + 1 :]))
    outcomes = []
    for pool in (WorkerPool(workers=1), WorkerPool(workers=2, parallel_threshold=256, start_method="forkserver")):
        with pool:
            try:
                outcomes.append(recompute(batch, pool=pool, rewards=RewardShares(100, 100)))
            except ClearanceError as exc:
                outcomes.append(str(exc))
    assert outcomes[0] == outcomes[1]
    if forged_at is None:
        assert len(outcomes[0]) >= 1_200  # one entry per trader (and the fund's, the ME rows)
    else:
        assert isinstance(outcomes[0], str)
        assert outcomes[0].startswith(f"slot {SLOT}: order {forged_at}: signature: ")
