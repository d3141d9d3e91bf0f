"""The fixed-layout fast paths (EIP-55 checksums, ABI address words, the ``Order`` and ``Endorsement`` struct
hashes, the typed-data digest, signing a digest, a Merkle tree over leaf hashes) take what the generic EIP-712
path takes as bytes (``bytes`` or ``bytearray``, with the same hash) and refuse the rest as it does: an
:class:`EncodingError` naming the field, never a ``TypeError`` (nor a checksum of a list of ints)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transactive.crypto.eip712 import (
    TRANSACTIVE_TYPES,
    digest_of,
    endorsement_struct_hash,
    hash_struct,
    order_struct_hash,
)
from transactive.crypto.encoding import EncodingError, address_word, keccak256, to_checksum_address
from transactive.crypto.merkle import MerkleTree, verify
from transactive.crypto.signing import sign_chunk, sign_digest

ADDRESS = bytes(range(1, 21))
HASH = keccak256(b"attributes")


def not_bytes(raw: bytes) -> list[Any]:
    """Values that are no byte string although each has the right length (or none): a list and a tuple of the
    ints, the hex as text, a memoryview, a number, None."""
    return [list(raw), tuple(raw), raw.hex()[: len(raw)], memoryview(raw), 7, None]


def kind(value: Any) -> str:
    """A test id: the type and length (a memoryview's repr differs between processes)."""
    return f"{type(value).__name__}-{len(value) if hasattr(value, '__len__') else value}"


def order_reference(trader: Any, attributes_hash: Any) -> bytes:
    """``hashStruct(Order)`` by the generic EIP-712 path (the reference)."""
    return hash_struct("Order", TRANSACTIVE_TYPES, {"trader": trader, "slot": 3, "side": 1, "energyWh": 1500,
                                                    "priceMicroPerKwh": 200_000, "nonce": 9,
                                                    "attributesHash": attributes_hash})


@pytest.mark.parametrize("account", [*not_bytes(ADDRESS), ADDRESS[:19], ADDRESS + b"\x00"], ids=kind)
def test_an_account_that_is_not_20_bytes_is_an_encoding_error(account: Any) -> None:
    for fast in (to_checksum_address, address_word, lambda a: order_struct_hash(a, 3, 1, 1500, 200_000, 9, HASH)):
        with pytest.raises(EncodingError, match=r"^address: expected 20 bytes"):
            fast(account)
    if not isinstance(account, str):  # (the reference reads a str as hex: no bytes to compare)
        with pytest.raises(EncodingError):
            order_reference(account, HASH)


@pytest.mark.parametrize("value", [*not_bytes(HASH), HASH[:31]], ids=kind)
def test_a_hash_that_is_not_32_bytes_is_an_encoding_error(value: Any) -> None:
    if value is not None:  # (None: the version-1 order, without the field)
        with pytest.raises(EncodingError, match=r"^attributesHash: expected 32 bytes"):
            order_struct_hash(ADDRESS, 3, 1, 1500, 200_000, 9, value)
    with pytest.raises(EncodingError, match=r"^orderRoot: expected 32 bytes"):
        endorsement_struct_hash(3, value, HASH)
    with pytest.raises(EncodingError, match=r"^resultRoot: expected 32 bytes"):
        endorsement_struct_hash(3, HASH, value)
    with pytest.raises(EncodingError, match=r"^structHash: expected 32 bytes"):
        digest_of(HASH, value)
    with pytest.raises(EncodingError, match=r"^digest: expected 32 bytes"):
        sign_digest(bytes([7]) * 32, value)
    with pytest.raises(EncodingError, match=r"^leaf 1: expected 32 bytes"):
        MerkleTree([HASH, value])
    tree = MerkleTree([HASH, keccak256(HASH)])
    assert not verify(tree.root, value, tree.proof(0))  # a predicate: False, as for a wrong length
    assert not verify(tree.root, HASH, [value])
    if not isinstance(value, str):
        with pytest.raises(EncodingError):
            order_reference(ADDRESS, value)


@given(st.binary(min_size=20, max_size=20), st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_a_bytearray_is_hashed_as_its_bytes_on_every_path(trader: bytes, word: bytes, root: bytes) -> None:
    assert to_checksum_address(bytearray(trader)) == to_checksum_address(trader)
    assert address_word(bytearray(trader)) == address_word(trader)
    fast = order_struct_hash(bytearray(trader), 3, 1, 1500, 200_000, 9, bytearray(word))
    assert fast == order_struct_hash(trader, 3, 1, 1500, 200_000, 9, word) == order_reference(trader, word)
    endorsement = endorsement_struct_hash(5, bytearray(word), bytearray(root))
    assert endorsement == endorsement_struct_hash(5, word, root) == hash_struct(
        "Endorsement", TRANSACTIVE_TYPES, {"slot": 5, "orderRoot": word, "resultRoot": root})
    assert digest_of(bytearray(root), bytearray(word)) == digest_of(root, word) == keccak256(b"\x19\x01" + root + word)
    key = keccak256(trader)  # a valid key but with negligible probability
    assert sign_chunk([(key, bytearray(word))]) == sign_chunk([(key, word)])
    tree = MerkleTree([bytearray(word), bytearray(root)])
    assert tree.root == MerkleTree([word, root]).root and type(tree.root) is bytes
    assert verify(tree.root, bytearray(word), [bytearray(root)])
