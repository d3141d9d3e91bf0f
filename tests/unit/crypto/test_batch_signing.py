"""Batch signing and batch recovery (issue 13): byte-identical to coincurve's key objects and eth-account, on
threads and processes alike; exactly eth-account's recovery plus the strict rules (low s, v 27/28)."""

from __future__ import annotations

import random

import pytest
from coincurve import PrivateKey
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.crypto import signing
from transactive.crypto.signing import (
    HALF_N,
    SECP256K1_N,
    WorkerPool,
    address_chunk,
    addresses_of,
    recover_batch,
    sign_chunk,
    sign_digests,
)

private_keys = st.integers(1, SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big"))
digests = st.binary(min_size=32, max_size=32)


def _coincurve_signature(key: bytes, digest: bytes) -> bytes:
    """The path before issue 13: a coincurve key object, ``sign_recoverable``, v = 27 + recovery id."""
    raw = PrivateKey(key).sign_recoverable(digest, hasher=None)
    return raw[:64] + bytes((raw[64] + 27,))


@settings(max_examples=60)
@given(pairs=st.lists(st.tuples(private_keys, digests), min_size=1, max_size=6))
def test_sign_chunk_is_byte_identical_to_key_objects_and_eth_account(pairs: list[tuple[bytes, bytes]]) -> None:
    ours = sign_chunk(pairs)
    assert ours == [_coincurve_signature(k, d) for k, d in pairs]
    assert ours == [bytes(Account.from_key(k).unsafe_sign_hash(d).signature) for k, d in pairs]
    assert address_chunk([k for k, _ in pairs]) == [bytes.fromhex(Account.from_key(k).address[2:]) for k, _ in pairs]


def test_sign_digests_on_threads_and_processes_equal_one_thread() -> None:
    rng = random.Random(13)
    keys = [(rng.randrange(1, SECP256K1_N)).to_bytes(32, "big") for _ in range(40)]
    ds = [rng.randbytes(32) for _ in range(300)]
    ks = [keys[i % len(keys)] for i in range(300)]
    serial = sign_chunk(list(zip(ks, ds, strict=True)))
    assert sign_digests(ks, ds) == serial  # temporary threads (above their threshold)
    with WorkerPool(workers=2, parallel_threshold=10, threads=True) as threads:
        assert sign_digests(ks, ds, pool=threads) == serial
        assert addresses_of(ks, pool=threads) == address_chunk(ks)
    assert not set(ks) & set(signing._ADDRESSES)  # memoised by a hash of the key, never the key itself
    with WorkerPool(workers=2, parallel_threshold=10) as processes:
        assert sign_digests(ks, ds, pool=processes) == serial


@pytest.mark.parametrize("key", [bytes(32), SECP256K1_N.to_bytes(32, "big"), b"\x01" * 31, b"\xff" * 32])
def test_invalid_private_keys_are_refused(key: bytes) -> None:
    with pytest.raises(ValueError, match="private key"):
        sign_chunk([(key, bytes(32))])
    with pytest.raises(ValueError, match="private key"):
        addresses_of([key])


def test_digest_length_and_pairing_are_checked() -> None:
    with pytest.raises(ValueError, match="digest"):
        sign_chunk([((1).to_bytes(32, "big"), bytes(31))])
    with pytest.raises(ValueError, match="one private key per digest"):
        sign_digests([(1).to_bytes(32, "big")], [])


# --------------------------------------------------------------------------- accepted set of the recovery
def _oracle(digest: bytes, signature: bytes) -> bytes | None:
    """Independently: eth-account's recovery, with the strict rules (1 <= r < n, 1 <= s <= n/2, v 27/28)."""
    r, s, v = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"), signature[64]
    if not (0 < r < SECP256K1_N and 0 < s <= HALF_N and v in (27, 28)):
        return None
    try:
        return bytes.fromhex(Account._recover_hash(digest, signature=signature)[2:])
    except Exception:  # eth-keys: no point with that x, or a point at infinity
        return None


def _variants(key: bytes, other: bytes, digest: bytes, tweak: int) -> list[tuple[bytes, bytes]]:
    """A valid signature and its malleated / wrong forms, as ``(digest, signature)``."""
    good = sign_chunk([(key, digest)])[0]
    r, s, v = good[:32], int.from_bytes(good[32:64], "big"), good[64]
    other_digest = bytes([digest[0] ^ 1]) + digest[1:]
    return [
        (digest, good),
        (digest, r + (SECP256K1_N - s).to_bytes(32, "big") + bytes((55 - v,))),  # high-s twin (valid ECDSA)
        (digest, r + (SECP256K1_N - s).to_bytes(32, "big") + bytes((v,))),  # high s, same v
        (digest, good[:64] + bytes((55 - v,))),  # flipped v: another key
        (digest, good[:64] + bytes((v - 27,))),  # v 0/1 (not accepted)
        (other_digest, good),  # wrong message
        (digest, sign_chunk([(other, digest)])[0]),  # wrong signer
        (digest, good[:32] + ((s + tweak) % SECP256K1_N).to_bytes(32, "big") + bytes((v,))),  # tampered s
        (digest, ((int.from_bytes(r, "big") + tweak) % SECP256K1_N).to_bytes(32, "big") + good[32:]),  # r
    ]


@settings(max_examples=40, deadline=None)
@given(key=private_keys, other=private_keys, digest=digests, tweak=st.integers(1, 2**16))
def test_recovery_accepts_exactly_what_the_strict_oracle_accepts(key: bytes, other: bytes, digest: bytes,
                                                                 tweak: int) -> None:
    pairs = _variants(key, other, digest, tweak)
    expected = [_oracle(d, sig) for d, sig in pairs]
    address = address_chunk([key])[0]
    assert expected[0] == address and expected[1] is None and expected[3] != address  # the oracle is sound
    with WorkerPool(workers=2, parallel_threshold=4, threads=True) as threads:
        assert recover_batch([d for d, _ in pairs], [sig for _, sig in pairs], pool=threads) == expected
    assert recover_batch([d for d, _ in pairs], [sig for _, sig in pairs], workers=1) == expected
