"""Shared helpers of the ledger integration tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from transactive.ledger.chain import ChainRevert
from transactive.ledger.commitments import SettlementTree
from transactive.ledger.testing import MODE_BATCH, Deployment, sign_endorsement

ORDER_ROOT = bytes.fromhex("ab" * 32)


def observed_state(dep: Deployment) -> dict[str, Any]:
    """Chain head and every balance, slot and escrow figure the tests touch."""
    c = dep.chain
    accounts = (*c.accounts, dep.slots.address, dep.auction.address)
    return {
        "block": c.block_number(),
        "root": c.state_root(),
        "supply": c.call(dep.token, "totalSupply"),
        "balances": [c.call(dep.token, "balanceOf", a) for a in accounts],
        "slots": [c.call(dep.slots, "slots", s) for s in range(8)],
        "members": [c.call(dep.registry, "roles", a) for a in accounts],
        "threshold": c.call(dep.registry, "threshold"),
    }


def assert_rejected(dep: Deployment, action: Callable[[], object], reason: str | None = None) -> None:
    """The action reverts (with ``reason`` in the message if given) and changes nothing."""
    before = observed_state(dep)
    with pytest.raises(ChainRevert) as info:
        action()
    if reason is not None:
        assert reason in info.value.reason
    assert observed_state(dep) == before


def open_and_commit(dep: Deployment, slot: int, mode: int = MODE_BATCH,
                    order_root: bytes = ORDER_ROOT) -> str:
    """Open ``slot`` and commit its order root, as its auctioneer; returns the auctioneer."""
    c = dep.chain
    auctioneer = str(c.call(dep.slots, "auctioneer_of", slot))
    c.transact(dep.slots, "open_slot", slot, mode, sender=auctioneer)
    c.transact(dep.slots, "commit_orders", slot, order_root, 10_000, sender=auctioneer)
    return auctioneer


def endorse(dep: Deployment, slot: int, result_root: bytes, signers: Sequence[str],
            order_root: bytes = ORDER_ROOT) -> list[bytes]:
    c = dep.chain
    return [
        sign_endorsement(c.private_key(s), c.chain_id, dep.slots.address, slot, order_root, result_root)
        for s in signers
    ]


def balanced_rows(dep: Deployment, slot: int) -> list[tuple[int, str, int, int]]:
    """A balanced slot result with X^A = X^M = 1%: debits 600,000; rewards 6,000 + 6,000; credits 588,000."""
    p = dep.prosumers
    return [
        (slot, p[0], 2_000, -400_000),
        (slot, p[1], 1_000, -200_000),
        (slot, p[2], -3_000, 500_000),
        (slot, dep.dso, 0, 88_000),
        (slot, p[3], 0, 0),
    ]


def cleared_batch_slot(dep: Deployment, slot: int,
                       rows: Sequence[tuple[int, str, int, int]]) -> SettlementTree:
    """Open, commit, endorse (validators 0-2, miner validator 3) a batch slot with result ``rows``."""
    tree = SettlementTree.build(rows)
    open_and_commit(dep, slot)
    sigs = endorse(dep, slot, tree.root, dep.validators[:3])
    dep.chain.transact(dep.slots, "submit_result", slot, tree.root, sigs, sender=dep.validators[3])
    return tree


def batch_args(tree: SettlementTree) -> list[tuple[str, int, int]]:
    return [(a, e, m) for _, a, e, m in tree.rows]
