"""Batch settlement invariants on both engines: conservation on random balanced results, the row limit."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_helpers import assert_rejected, batch_args, cleared_batch_slot

from transactive.ledger.messages.commitments import ME_LEAF
from transactive.ledger.testing import SETTLED, Deployment

_slots = itertools.count(1_000)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(debits=st.lists(st.integers(1, 2_000_000), min_size=1, max_size=5),
       weights=st.lists(st.integers(0, 100), min_size=1, max_size=4))
def test_random_balanced_settlement_conserves_tokens(dep: Deployment, debits: list[int],
                                                     weights: list[int]) -> None:
    c = dep.chain
    slot = next(_slots)
    buyers = list(dep.prosumers[: len(debits)])
    sellers = [dep.dso, *dep.validators[: len(weights) - 1]]
    total = sum(debits)
    rewards = 2 * (total * 10_000 // 1_000_000)
    credit_total = total - rewards
    # split the credits by weight; the last seller takes the remainder so the rows balance exactly
    wsum = sum(weights) or 1
    credits = [credit_total * w // wsum for w in weights[:-1]]
    credits.append(credit_total - sum(credits))
    rows = [(slot, b, 1, -d) for b, d in zip(buyers, debits, strict=True)]
    rows += [(slot, s, -1, m) for s, m in zip(sellers, credits, strict=True)]
    # merge rows of the same account (one leaf per account)
    merged: dict[str, int] = {}
    for _, a, _, m in rows:
        merged[a] = merged.get(a, 0) + m
    rows = [(slot, a, 0, m) for a, m in merged.items()]
    rows.append((slot, ME_LEAF, 0, total))  # the market exchange the rewards are taken on (here: the debits)
    tree = cleared_batch_slot(dep, slot, rows)
    auctioneer, miner = str(c.call(dep.slots, "auctioneer_of", slot)), dep.validators[3]
    watch = sorted({*merged, auctioneer, miner, dep.slots.address})
    before = {a: c.call(dep.token, "balanceOf", a) for a in watch}
    supply = c.call(dep.token, "totalSupply")
    c.transact(dep.slots, "settle_batch", slot, batch_args(tree))
    after = {a: c.call(dep.token, "balanceOf", a) for a in watch}
    expected = {a: merged.get(a, 0) for a in watch}
    expected[auctioneer] += total * 10_000 // 1_000_000
    expected[miner] += total * 10_000 // 1_000_000
    assert {a: after[a] - before[a] for a in watch} == expected
    assert sum(after.values()) == sum(before.values())
    assert c.call(dep.token, "totalSupply") == supply
    assert c.call(dep.slots, "slot_state", slot) == SETTLED


def test_batch_row_limit(dep: Deployment) -> None:
    slot = 11
    p = dep.prosumers
    padding = [(slot, f"0x{i + 1:040x}", 0, 0) for i in range(126)]
    rows = [(slot, p[0], 1_000, -98), (slot, p[1], -1_000, 98), *padding]  # 98 * 1% floors to 0 rewards
    tree = cleared_batch_slot(dep, slot, rows)
    assert len(tree.rows) == 128
    receipt = dep.chain.transact(dep.slots, "settle_batch", slot, batch_args(tree))
    assert receipt.gas_used < 30_000_000
    slot = 15
    rows = [(slot, p[0], 1_000, -98), (slot, p[1], -1_000, 98),
            *[(slot, a, e, m) for _, a, e, m in padding], (slot, "0x" + "77" * 20, 0, 0)]
    tree = cleared_batch_slot(dep, slot, rows)
    assert_rejected(dep, lambda: dep.chain.transact(dep.slots, "settle_batch", slot, batch_args(tree)))
