"""Merkle trees compatible with OpenZeppelin's ``StandardMerkleTree`` and ``MerkleProof.verify``.

Conventions (``@openzeppelin/merkle-tree``):

* leaf hash ``= keccak256(keccak256(abi.encode(values...)))`` (double hashing: a leaf can never be
  mistaken for an internal node);
* internal node ``= keccak256(min(a, b) ‖ max(a, b))`` (commutative: proofs carry no left/right bits);
* the tree is a complete binary tree stored as an array of ``2n - 1`` nodes: node ``i`` has children
  ``2i + 1`` and ``2i + 2``, the root is node 0, and leaf ``k`` (in leaf order) sits at ``2n - 2 - k``;
* a proof is the list of sibling hashes from the leaf up to (excluding) the root;
  :func:`process_proof` folds it exactly like Solidity's ``MerkleProof.processProof``.

Leaf order: by default (``sort_leaves=True``, OpenZeppelin's default) the leaf hashes are sorted
ascending (stably, so equal leaves keep their input order) before they are laid out, which makes the root
a function of the *set* of leaves only, whatever order they were collected in. ``sort_leaves=False`` keeps
the input order (OpenZeppelin's ``{sortLeaves: false}``). Either way, with commutative pair hashing a root
never pins the order of the leaves completely (swapping two sibling leaves keeps it), so an order that
matters must be carried by the data itself. Positions in this API (``leaf(k)``, ``proof(k)``) always refer
to the input order. The empty tree's root is ``bytes32(0)`` (OpenZeppelin refuses an empty tree); nothing
verifies against it.

Example (the ``@openzeppelin/merkle-tree`` README values):
    >>> values = [("0x1111111111111111111111111111111111111111", 5000000000000000000),
    ...           ("0x2222222222222222222222222222222222222222", 2500000000000000000)]
    >>> tree = MerkleTree.of(values, ("address", "uint256"))
    >>> tree.root.hex()[:12]
    'd4dee0beab2d'
    >>> verify(tree.root, tree.leaf(0), tree.proof(0))
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_abi.abi import encode as abi_encode

from transactive.crypto.encoding import ZERO32, EncodingError, fixed_bytes, keccak256

EMPTY_ROOT = ZERO32


def leaf_hash(types: Sequence[str], values: Sequence[Any]) -> bytes:
    """``keccak256(keccak256(abi.encode(values)))`` for ABI ``types`` such as ``("address", "uint256")``."""
    try:
        encoded = abi_encode(list(types), list(values))
    except Exception as exc:  # eth-abi raises several types for bad values
        raise EncodingError(f"cannot ABI-encode {values!r} as {tuple(types)}: {exc}") from exc
    return keccak256(keccak256(encoded))


def leaf_hash_of_encoded(encoded: bytes) -> bytes:
    """Leaf hash of an already ABI-encoded value tuple (the fast path for fixed layouts)."""
    return keccak256(keccak256(encoded))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """Commutative internal node: keccak of the two children in ascending byte order."""
    return keccak256(a + b if a <= b else b + a)


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root obtained by folding ``proof`` into ``leaf`` (``MerkleProof.processProof``)."""
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node


def verify(root: bytes, leaf: bytes, proof: Sequence[bytes]) -> bool:
    """``MerkleProof.verify``: does ``proof`` lead from ``leaf`` to ``root``? (never for the empty root)"""
    if root == EMPTY_ROOT or not _is_word(leaf) or not all(_is_word(p) for p in proof):
        return False
    return process_proof(leaf, proof) == root


def _is_word(value: object) -> bool:
    return isinstance(value, bytes | bytearray) and len(value) == 32


class MerkleTree:
    """A built tree over 32-byte leaf hashes; positions refer to the **input** order of the leaves.

    Attributes:
        nodes: the ``2n - 1`` node array (root first), as in OpenZeppelin's ``dump().tree``.
        root: ``nodes[0]``, or ``bytes32(0)`` for an empty tree.
    """

    def __init__(self, leaves: Sequence[bytes], *, sort_leaves: bool = True) -> None:
        n = len(leaves)
        self._leaves = list(leaves)
        for k, leaf in enumerate(self._leaves):
            if type(leaf) is not bytes or len(leaf) != 32:  # a bytearray as bytes, else an EncodingError
                self._leaves[k] = fixed_bytes(leaf, 32, f"leaf {k}")
        order = sorted(range(n), key=self._leaves.__getitem__) if sort_leaves else range(n)
        size = 2 * n - 1 if n else 0
        nodes: list[bytes] = [ZERO32] * size
        self._tree_index = [0] * n
        for position, k in enumerate(order):
            tree_index = size - 1 - position
            nodes[tree_index] = self._leaves[k]
            self._tree_index[k] = tree_index
        for i in range(size - 1 - n, -1, -1):
            a, b = nodes[2 * i + 1], nodes[2 * i + 2]
            nodes[i] = keccak256(a + b if a <= b else b + a)
        self.nodes: tuple[bytes, ...] = tuple(nodes)
        self.root: bytes = nodes[0] if n else EMPTY_ROOT

    @classmethod
    def of(
        cls, values: Sequence[Sequence[Any]], types: Sequence[str], *, sort_leaves: bool = True
    ) -> MerkleTree:
        """Tree over ABI value tuples (``StandardMerkleTree.of(values, types)``)."""
        return cls([leaf_hash(types, v) for v in values], sort_leaves=sort_leaves)

    def __len__(self) -> int:
        return len(self._leaves)

    def leaf(self, k: int) -> bytes:
        """Leaf hash of the ``k``-th input value."""
        return self._leaves[k]

    def tree_index(self, k: int) -> int:
        """Index in :attr:`nodes` of the ``k``-th input leaf."""
        return self._tree_index[k]

    def proof(self, k: int) -> list[bytes]:
        """Sibling hashes from the ``k``-th input leaf up to the root (``getProof``)."""
        if not 0 <= k < len(self._leaves):
            raise IndexError(f"leaf {k} out of range for a tree of {len(self._leaves)}")
        nodes = self.nodes
        i = self._tree_index[k]
        out: list[bytes] = []
        while i > 0:
            out.append(nodes[i + 1] if i % 2 else nodes[i - 1])
            i = (i - 1) // 2
        return out

    def proofs(self) -> list[list[bytes]]:
        """Every leaf's proof, in input order."""
        return [self.proof(k) for k in range(len(self._leaves))]
