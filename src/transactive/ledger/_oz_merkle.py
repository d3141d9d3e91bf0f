"""OpenZeppelin StandardMerkleTree over settlement rows (the layout MarketSlots.settle_batch rebuilds).

Leaf: ``keccak256(keccak256(abi.encode(uint256 slot, address account, int256 energyWh,
int256 amountMicro)))``;
internal node: keccak256 of the two children sorted as 32-byte big-endian numbers. Leaves are sorted by
hash; the tree is the array of ``2n - 1`` nodes with leaf ``i`` (in sorted order) at ``2n - 2 - i`` and
node ``k`` = hash(node ``2k + 1``, node ``2k + 2``), the root at 0 (StandardMerkleTree's ``makeMerkleTree``).

Example:
    >>> rows = [(1, "0x" + "11" * 20, 5, -7), (1, "0x" + "22" * 20, -5, 7)]
    >>> tree = SettlementTree.build(rows)
    >>> all(tree.verify(r, tree.proof(r)) for r in rows)
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

Row = tuple[int, str, int, int]  # (slot, account, energy_wh, amount_micro)


def leaf_hash(row: Row) -> bytes:
    """Double-keccak StandardMerkleTree leaf of one settlement row."""
    slot, account, energy_wh, amount_micro = row
    encoded = abi_encode(["uint256", "address", "int256", "int256"], [slot, account, energy_wh, amount_micro])
    return keccak(keccak(encoded))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """keccak256 of the sorted pair."""
    return keccak(a + b) if a < b else keccak(b + a)


@dataclass(frozen=True)
class SettlementTree:
    """A StandardMerkleTree over settlement rows; ``rows`` are in leaf-hash order."""

    rows: tuple[Row, ...]
    nodes: tuple[bytes, ...]

    @classmethod
    def build(cls, rows: Sequence[Row]) -> SettlementTree:
        if not rows:
            raise ValueError("a settlement tree needs at least one row")
        keyed = sorted(((leaf_hash(r), r) for r in rows), key=lambda item: item[0])
        for (h1, _), (h2, _) in pairwise(keyed):
            if h1 == h2:
                raise ValueError("duplicate settlement row")
        n = len(keyed)
        nodes: list[bytes] = [b""] * (2 * n - 1)
        for i, (h, _) in enumerate(keyed):
            nodes[2 * n - 2 - i] = h
        for k in range(n - 2, -1, -1):
            nodes[k] = hash_pair(nodes[2 * k + 1], nodes[2 * k + 2])
        canonical = tuple((s, to_checksum_address(a), e, m) for _, (s, a, e, m) in keyed)
        return cls(rows=canonical, nodes=tuple(nodes))

    @property
    def root(self) -> bytes:
        return self.nodes[0]

    def proof(self, row: Row) -> list[bytes]:
        """Sibling hashes from the row's leaf up to the root."""
        h = leaf_hash(row)
        n = len(self.rows)
        try:
            k = self.nodes.index(h, n - 1)
        except ValueError as exc:
            raise KeyError("row not in the tree") from exc
        out: list[bytes] = []
        while k > 0:
            sibling = k - 1 if k % 2 == 0 else k + 1
            out.append(self.nodes[sibling])
            k = (k - 1) // 2
        return out

    def verify(self, row: Row, proof: Sequence[bytes]) -> bool:
        node = leaf_hash(row)
        for p in proof:
            node = hash_pair(node, p)
        return node == self.root
