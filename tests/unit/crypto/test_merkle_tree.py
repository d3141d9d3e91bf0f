"""Merkle trees against OpenZeppelin's published vector and an independent slow reference."""

from __future__ import annotations

import random

import pytest
from eth_abi import encode as eth_abi_encode
from eth_utils import keccak as eth_utils_keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.crypto.merkle import EMPTY_ROOT, MerkleTree, leaf_hash, process_proof, verify


# ---------------------------------------------------------------- independent reference (OZ spec, slow)
def ref_leaf(types: list[str], values: tuple) -> bytes:
    return eth_utils_keccak(eth_utils_keccak(eth_abi_encode(types, list(values))))


def ref_node(a: bytes, b: bytes) -> bytes:
    lo, hi = sorted([a, b])
    return eth_utils_keccak(lo + hi)


def ref_root_and_proofs(leaves: list[bytes], sort_leaves: bool) -> tuple[bytes, list[list[bytes]]]:
    """OZ's layout computed top-down by recursion: node i of a (2n-1)-array, leaf j (in laid-out order) at
    index 2n-2-j; children 2i+1, 2i+2. Proofs by walking the parent chain with explicit siblings."""
    n = len(leaves)
    order = sorted(range(n), key=lambda k: leaves[k]) if sort_leaves else list(range(n))
    size = 2 * n - 1
    position = {k: size - 1 - j for j, k in enumerate(order)}
    at = {size - 1 - j: leaves[k] for j, k in enumerate(order)}

    def node(i: int) -> bytes:
        return at[i] if i in at else ref_node(node(2 * i + 1), node(2 * i + 2))

    proofs = []
    for k in range(n):
        i, path = position[k], []
        while i != 0:
            parent = (i - 1) // 2
            sibling = 2 * parent + 2 if i == 2 * parent + 1 else 2 * parent + 1
            path.append(node(sibling))
            i = parent
        proofs.append(path)
    return node(0), proofs


def ref_verify(root: bytes, leaf: bytes, proof: list[bytes]) -> bool:
    computed = leaf
    for p in proof:
        computed = ref_node(computed, p)
    return computed == root


# ---------------------------------------------------------------- tests
def test_openzeppelin_readme_vector() -> None:
    values = [
        ("0x1111111111111111111111111111111111111111", 5000000000000000000),
        ("0x2222222222222222222222222222222222222222", 2500000000000000000),
    ]
    tree = MerkleTree.of(values, ("address", "uint256"))
    assert [x.hex() for x in tree.nodes] == [
        "d4dee0beab2d53f2cc83e567171bd2820e49898130a22622b10ead383e90bd77",
        "eb02c421cfa48976e66dfb29120745909ea3a0f843456c263cf8f1253483e283",
        "b92c48e9d7abe27fd8dfd6b5dfdbfb1c9a463f80c712b66f3a5180a090cccafc",
    ]
    assert tree.leaf(0).hex() == "eb02c421cfa48976e66dfb29120745909ea3a0f843456c263cf8f1253483e283"
    assert [p.hex() for p in tree.proof(0)] == [
        "b92c48e9d7abe27fd8dfd6b5dfdbfb1c9a463f80c712b66f3a5180a090cccafc"
    ]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 33])
@pytest.mark.parametrize("sort_leaves", [True, False])
def test_root_and_proofs_equal_reference(n: int, sort_leaves: bool) -> None:
    rng = random.Random(n)
    types = ["address", "int256"]
    values = [("0x" + rng.randbytes(20).hex(), rng.randint(-(10**12), 10**12)) for _ in range(n)]
    tree = MerkleTree.of(values, types, sort_leaves=sort_leaves)
    leaves = [ref_leaf(types, v) for v in values]
    assert [tree.leaf(k) for k in range(n)] == leaves
    root, proofs = ref_root_and_proofs(leaves, sort_leaves)
    assert tree.root == root
    assert tree.proofs() == proofs
    for k in range(n):
        assert verify(tree.root, tree.leaf(k), tree.proof(k))
        assert ref_verify(root, leaves[k], tree.proof(k))


@settings(max_examples=120)
@given(
    leaves=st.lists(st.binary(min_size=32, max_size=32).filter(any), min_size=1, max_size=40),
    sort_leaves=st.booleans(),
    data=st.data(),
)
def test_random_leaf_sets(leaves: list[bytes], sort_leaves: bool, data: st.DataObject) -> None:
    tree = MerkleTree(leaves, sort_leaves=sort_leaves)
    root, proofs = ref_root_and_proofs(leaves, sort_leaves)
    assert tree.root == root
    k = data.draw(st.integers(0, len(leaves) - 1))
    proof = tree.proof(k)
    assert proof == proofs[k]
    assert verify(tree.root, leaves[k], proof)
    # A leaf that is not in the set never verifies with this proof.
    flip = data.draw(st.integers(0, 255))
    tampered = bytes([leaves[k][0] ^ (flip or 1)]) + leaves[k][1:]
    if tampered not in leaves:
        assert not verify(tree.root, tampered, proof)
    if proof:
        j = data.draw(st.integers(0, len(proof) - 1))
        bad = [*proof]
        bad[j] = bytes([bad[j][0] ^ 1]) + bad[j][1:]
        assert not verify(tree.root, leaves[k], bad)
        assert not verify(tree.root, leaves[k], proof[:-1])  # stops one level below the root


def test_tampered_leaf_value_fails() -> None:
    types = ["uint256", "address", "int256", "int256"]
    values = [(7, "0x" + f"{i:040x}", -1000 * i, 250 * i) for i in range(1, 12)]
    tree = MerkleTree.of(values, types)
    for k, (slot, account, energy, amount) in enumerate(values):
        assert verify(tree.root, leaf_hash(types, (slot, account, energy, amount)), tree.proof(k))
        assert not verify(tree.root, leaf_hash(types, (slot, account, energy, amount + 1)), tree.proof(k))
        assert not verify(tree.root, leaf_hash(types, (slot + 1, account, energy, amount)), tree.proof(k))


def test_sorted_root_is_order_independent_and_deterministic() -> None:
    rng = random.Random(3)
    leaves = [rng.randbytes(32) for _ in range(25)]
    shuffled = leaves[:]
    rng.shuffle(shuffled)
    assert MerkleTree(leaves).root == MerkleTree(shuffled).root == MerkleTree(list(leaves)).root
    assert MerkleTree(leaves, sort_leaves=False).root == MerkleTree(leaves, sort_leaves=False).root
    # Input order matters without sorting (leaf 0 and leaf 2 are not siblings in a 3-leaf tree).
    three = leaves[:3]
    assert MerkleTree(three, sort_leaves=False).root != MerkleTree(three[::-1], sort_leaves=False).root


def test_empty_tree_and_bad_inputs() -> None:
    tree = MerkleTree([])
    assert tree.root == EMPTY_ROOT == bytes(32)
    assert len(tree) == 0 and tree.proofs() == []
    with pytest.raises(IndexError):
        tree.proof(0)
    assert not verify(EMPTY_ROOT, bytes(32), [])
    with pytest.raises(ValueError):
        MerkleTree([b"short"])
    one = MerkleTree([b"\x05" * 32])
    assert one.root == b"\x05" * 32 and one.proof(0) == []
    assert process_proof(b"\x05" * 32, []) == one.root


def test_duplicate_leaves_each_get_a_valid_proof() -> None:
    leaves = [b"\x01" * 32, b"\x02" * 32, b"\x01" * 32]
    tree = MerkleTree(leaves)
    assert tree.tree_index(0) != tree.tree_index(2)
    for k in range(3):
        assert verify(tree.root, leaves[k], tree.proof(k))
