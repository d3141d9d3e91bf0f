"""``settle_entries``: a batch-mode slot's entries balance exactly as ``MarketSlots.settle_batch`` demands,
the rewards ``floor(ME x)`` of the committed market exchange (seed 001 eq. 2-4) coming out of the fund's row,
never out of a participant's entry."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.ledger.messages.commitments import (
    FUND_LEAF,
    ME_LEAF,
    MINER_LEAF,
    ResultEntry,
    RewardShares,
    settle_entries,
)

ACCOUNTS = ["0x" + f"{i:02x}" * 20 for i in range(16, 24)]


@settings(max_examples=150, deadline=None)
@given(
    amounts=st.lists(st.integers(-10**9, 10**9), min_size=1, max_size=8),
    exchange=st.integers(0, 10**10),
    shares=st.tuples(st.integers(0, 500_000), st.integers(0, 500_000)),
)
def test_credits_plus_rewards_equal_debits(amounts: list[int], exchange: int, shares: tuple[int, int]) -> None:
    entries = [ResultEntry(a, 7 * i, m) for i, (a, m) in enumerate(zip(ACCOUNTS, amounts, strict=False))]
    fund = -sum(amounts)  # the fund's row balances the participants (result_entries' rule)
    entries += [ResultEntry(FUND_LEAF, 0, fund), ResultEntry(ME_LEAF, 0, exchange)]
    out = settle_entries(entries, RewardShares(*shares))
    # the contract's rule, written out independently: floor(ME * ppm / 1e6) each; ME is not a credit
    rewards = exchange * shares[0] // 1_000_000 + exchange * shares[1] // 1_000_000
    rows = [e for e in out if e.account != ME_LEAF]
    assert sum(e.amount_micro for e in rows if e.amount_micro > 0) + rewards == -sum(
        e.amount_micro for e in rows if e.amount_micro < 0)
    assert out[: len(amounts)] == entries[: len(amounts)]  # no participant's entry changes
    assert next(e for e in out if e.account == FUND_LEAF).amount_micro == fund - rewards


def test_seed_case_study_rates() -> None:
    """Issue 12 finding 1: ME = 1.5 tokens at 1 % + 1 %: 15,000 each, from the fund (deficit 0.54 in all)."""
    entries = [ResultEntry(ACCOUNTS[0], 10_000, 990_000), ResultEntry(ACCOUNTS[1], -10_000, -480_000),
               ResultEntry(FUND_LEAF, 0, -510_000), ResultEntry(ME_LEAF, 0, 1_500_000)]
    out = settle_entries(entries, RewardShares(10_000, 10_000))
    assert [e.amount_micro for e in out] == [990_000, -480_000, -540_000, 1_500_000]
    claims = settle_entries(entries, RewardShares(10_000, 10_000, auctioneer=ACCOUNTS[2]))
    assert [(e.account, e.amount_micro) for e in claims[4:]] == [
        (claims[4].account, 15_000), (MINER_LEAF, 15_000)]


def test_shares_are_validated() -> None:
    with pytest.raises(ValueError):
        RewardShares(600_000, 500_000)
    with pytest.raises(ValueError):
        RewardShares(-1, 0)
