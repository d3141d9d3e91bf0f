"""result_entries and result_tree on random clearings, against their definition: the auction stage's rows
(settlement.auction_entries), the DSO's charges on its own row or a new one, the fund's row, the ME row; the
root against eth_abi's encoding of every leaf. The traders' 20 bytes given up front (``addresses``, as
recompute passes the batch's) change nothing."""

from __future__ import annotations

import pickle
from dataclasses import replace

from eth_abi import encode as eth_abi_encode
from eth_utils import keccak as eth_utils_keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.crypto.encoding import canonical_address
from transactive.crypto.merkle import MerkleTree
from transactive.ledger.messages.commitments import (
    FUND_LEAF,
    ME_LEAF,
    RESULT_LEAF_TYPES,
    ResultEntry,
    result_entries,
    result_tree,
)
from transactive.mechanisms._registry import NoParams
from transactive.mechanisms.uniform import clear_uniform
from transactive.orders import Orders
from transactive.settlement.auction_entries import auction_stage

POOL = [f"0x{k:040x}" for k in range(0xABC0, 0xABC0 + 12)]  # hex letters: the EIP-55 form differs in case


def expected_entries(result, sellers: Orders, buyers: Orders, dso: str | None) -> list[tuple[str, int, int]]:
    """The definition (result_entries' docstring), written out with the auction stage's public rows."""
    ids = [canonical_address(p)[0] for p in (*sellers.ids, *buyers.ids)]
    stage = auction_stage(result, ids[: sellers.n], ids[sellers.n :], auctioneer_ppm=0, miner_ppm=0)
    rows = {a: [wh, m] for a, wh, m in stage.rows}
    if stage.dso_micro:
        assert dso is not None
        rows.setdefault(canonical_address(dso)[0], [0, 0])[1] += stage.dso_micro
    if stage.fund_wh or stage.fund_micro:
        rows[FUND_LEAF] = [-stage.fund_wh, stage.fund_micro]
    if stage.exchange_micro:
        rows[ME_LEAF] = [0, stage.exchange_micro]
    return [(a, wh, m) for a, (wh, m) in rows.items()]


@settings(max_examples=60, deadline=None)
@given(
    asks=st.lists(st.tuples(st.sampled_from(POOL), st.integers(1, 9_000), st.integers(0, 300_000)), min_size=1,
                  max_size=6, unique_by=lambda t: t[0]),
    bids=st.lists(st.tuples(st.sampled_from(POOL), st.integers(1, 9_000), st.integers(0, 300_000)), min_size=1,
                  max_size=6, unique_by=lambda t: t[0]),
    checksummed=st.booleans(),
    charge=st.sampled_from([0.0, 0.0123456, 1.5]),
    dso=st.sampled_from([None, "trader", "0x" + "d5" * 20]),
    rewarded=st.booleans(),
)
def test_entries_and_root_follow_their_definition(asks, bids, checksummed, charge, dso, rewarded) -> None:  # noqa: PLR0917
    def ident(address: str) -> str:
        return canonical_address(address)[0] if checksummed else address

    sellers = Orders.single([ident(a) for a, _, _ in asks], [e / 1000 for _, e, _ in asks],
                            [p / 1e6 for _, _, p in asks])
    buyers = Orders.single([ident(a) for a, _, _ in bids], [e / 1000 for _, e, _ in bids],
                           [p / 1e6 for _, _, p in bids])
    result = clear_uniform(sellers, buyers, NoParams())
    details = dict(result.details)
    if charge:
        details["trades"] = [{"charge": charge}]
    if rewarded:
        details |= {"market_exchange": 1.25, "auctioneer_reward": 0.01, "miner_reward": 0.02}
    result = replace(result, details=details)
    dso_account = asks[0][0] if dso == "trader" else dso
    if charge and dso_account is None:
        dso_account = "0x" + "d5" * 20
    expected = expected_entries(result, sellers, buyers, dso_account)
    plain = result_entries(result, sellers, buyers, dso=dso_account)
    known = {canonical_address(a)[0]: canonical_address(a)[1] for a in POOL}
    hinted = result_entries(result, sellers, buyers, dso=dso_account, addresses=known if checksummed else {})
    assert [(e.account, e.energy_wh, e.amount_micro) for e in plain] == expected
    assert hinted == plain
    assert [e.account_bytes for e in hinted] == [canonical_address(a)[1] for a, _, _ in expected]
    assert hash(tuple(hinted)) == hash(tuple(ResultEntry(a, wh, m) for a, wh, m in expected))
    assert pickle.loads(pickle.dumps(hinted)) == plain
    slot = 7
    oracle = MerkleTree([eth_utils_keccak(eth_utils_keccak(eth_abi_encode(list(RESULT_LEAF_TYPES), [slot, a, wh, m])))
                         for a, wh, m in expected])
    assert result_tree(slot, hinted).root == oracle.root == result_tree(slot, plain).root
