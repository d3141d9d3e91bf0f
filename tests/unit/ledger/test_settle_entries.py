"""``settle_entries``: a batch-mode slot's entries balance exactly as ``MarketSlots.settle_batch`` demands."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.ledger.messages.commitments import ResultEntry, RewardShares, settle_entries

ACCOUNTS = ["0x" + f"{i:02x}" * 20 for i in range(1, 9)]


@settings(max_examples=150, deadline=None)
@given(
    amounts=st.lists(st.integers(-10**9, 10**9), min_size=1, max_size=8),
    shares=st.tuples(st.integers(0, 500_000), st.integers(0, 500_000)),
)
def test_credits_plus_rewards_equal_debits(amounts: list[int], shares: tuple[int, int]) -> None:
    entries = [ResultEntry(a, 7 * i, m) for i, (a, m) in enumerate(zip(ACCOUNTS, amounts, strict=False))]
    if any(m < 0 for m in amounts) and not any(m > 0 for m in amounts):
        with pytest.raises(ValueError, match="no account is credited"):
            settle_entries(entries, RewardShares(*shares))
        return
    out = settle_entries(entries, RewardShares(*shares))
    debits = -sum(m for m in amounts if m < 0)
    # the contract's rule, written out independently: floor(D * ppm / 1e6) each
    rewards = debits * shares[0] // 1_000_000 + debits * shares[1] // 1_000_000
    assert sum(e.amount_micro for e in out if e.amount_micro > 0) + rewards == debits
    for before, after in zip(entries, out, strict=True):
        assert (after.account, after.energy_wh) == (before.account, before.energy_wh)
        if before.amount_micro <= 0:
            assert after.amount_micro == before.amount_micro
        else:
            assert after.amount_micro >= 0
    credited = [e.amount_micro for e in entries if e.amount_micro > 0]
    if credited:  # pro rata within one micro-token
        target = debits - rewards
        for before, after in zip(entries, out, strict=True):
            if before.amount_micro > 0:
                assert abs(after.amount_micro - target * before.amount_micro / sum(credited)) < 1


def test_seed_case_study_rates() -> None:
    """1% + 1% of 600,000 paid: 6,000 each; the sellers share 588,000 in the ratio 5:1."""
    entries = [ResultEntry(ACCOUNTS[0], -3, -600_000), ResultEntry(ACCOUNTS[1], 2, 500_000),
               ResultEntry(ACCOUNTS[2], 1, 100_000)]
    out = settle_entries(entries, RewardShares(10_000, 10_000))
    assert [e.amount_micro for e in out] == [-600_000, 490_000, 98_000]


def test_shares_are_validated() -> None:
    with pytest.raises(ValueError):
        RewardShares(600_000, 500_000)
    with pytest.raises(ValueError):
        RewardShares(-1, 0)
