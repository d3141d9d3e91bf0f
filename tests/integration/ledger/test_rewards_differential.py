"""Differential: ``MarketSlots.settle_batch`` computes the rewards ``floor(ME x)`` of the committed market
exchange (seed 001 eq. 2-4) and balances ``credits + rewards == debits`` with the community fund's row
exactly as the Python rule (``settlement.auction_entries.rewards_micro``, ``commitments.settle_entries``)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_helpers import batch_args, cleared_batch_slot

from transactive.ledger.messages.commitments import FUND_LEAF, ME_LEAF, ResultEntry, RewardShares, settle_entries
from transactive.ledger.testing import Deployment
from transactive.settlement.auction_entries import rewards_micro


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(paid=st.integers(1, 10**8), received=st.integers(0, 10**8), exchange=st.integers(0, 10**9),
       ppm=st.tuples(st.integers(0, 100_000), st.integers(0, 100_000)))
def test_contract_rewards_equal_the_python_rule(
    dep: Deployment, paid: int, received: int, exchange: int, ppm: tuple[int, int]
) -> None:
    c = dep.chain
    snap = c.snapshot()
    try:
        c.transact(dep.slots, "set_rewards", *ppm)
        c.transact(dep.token, "mint", dep.admin, 10**10)  # the fund can cover any deficit here
        buyer, seller = dep.prosumers[0], dep.prosumers[1]
        entries = [ResultEntry(seller, 1_000, received), ResultEntry(buyer, -1_000, -paid),
                   ResultEntry(FUND_LEAF, 0, paid - received), ResultEntry(ME_LEAF, 0, exchange)]
        entries = settle_entries(entries, RewardShares(*ppm))
        slot = 40
        tree = cleared_batch_slot(dep, slot, [(slot, *e.values(slot)[1:]) for e in entries])
        auctioneer = str(c.call(dep.slots, "auctioneer_of", slot))
        miner = str(c.call(dep.slots, "slots", slot)[3])
        watched = [auctioneer, miner, dep.admin, buyer, seller]
        before = {a: int(c.call(dep.token, "balanceOf", a)) for a in watched}
        c.transact(dep.slots, "settle_batch", slot, batch_args(tree))
        after = {a: int(c.call(dep.token, "balanceOf", a)) for a in watched}
        reward_a, reward_m = rewards_micro(exchange, *ppm)
        expected = dict.fromkeys(watched, 0)
        expected[auctioneer] += reward_a
        expected[miner] += reward_m
        expected[dep.admin] += paid - received - reward_a - reward_m  # the fund's row
        expected[buyer] -= paid
        expected[seller] += received
        assert {a: after[a] - before[a] for a in watched} == expected
    finally:
        c.revert(snap)
