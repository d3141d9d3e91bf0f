"""The settlement tree against an independent pairwise construction and the proofs' soundness."""

from __future__ import annotations

from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.crypto.merkle import hash_pair
from transactive.ledger.messages.commitments import SettlementTree
from transactive.ledger.messages.commitments import settlement_leaf as leaf_hash

ACCOUNTS = [f"0x{i:040x}" for i in range(1, 300)]


def _rows(n: int, slot: int = 3) -> list[tuple[int, str, int, int]]:
    return [(slot, ACCOUNTS[i], i * 7 - 50, (i - n // 2) * 1_000) for i in range(n)]


def _root_from_proof(row: tuple[int, str, int, int], proof: list[bytes]) -> bytes:
    node = leaf_hash(row)
    for p in proof:
        node = hash_pair(node, p)
    return node


def test_single_leaf_root_is_the_leaf() -> None:
    rows = _rows(1)
    assert SettlementTree.build(rows).root == leaf_hash(rows[0])


def test_two_leaves() -> None:
    rows = _rows(2)
    a, b = sorted(leaf_hash(r) for r in rows)
    assert SettlementTree.build(rows).root == keccak(a + b)


def test_power_of_two_tree_equals_level_by_level_pairing() -> None:
    # with 2^k leaves, StandardMerkleTree's array layout is the plain complete binary tree over the
    # leaves in reverse sorted order
    rows = _rows(8)
    level = sorted((leaf_hash(r) for r in rows), reverse=True)
    while len(level) > 1:
        level = [hash_pair(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    assert SettlementTree.build(rows).root == level[0]


@settings(max_examples=40)
@given(n=st.integers(1, 130))
def test_every_proof_verifies_and_a_changed_amount_does_not(n: int) -> None:
    rows = _rows(n)
    tree = SettlementTree.build(rows)
    for row in rows:
        proof = tree.proof(row)
        assert _root_from_proof(row, proof) == tree.root
        forged = (row[0], row[1], row[2], row[3] + 1)
        assert _root_from_proof(forged, proof) != tree.root
        assert len(proof) <= n.bit_length()
