"""Signing and recovery: known addresses, agreement with eth-account, strict signature checks, batches."""

from __future__ import annotations

import random

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.crypto.signing import (
    SECP256K1_N,
    SignatureError,
    Signer,
    WorkerPool,
    address_of,
    new_private_key,
    recover_address,
    recover_address_bytes,
    recover_batch,
    sign_digest,
    verify_signature,
)

private_keys = st.integers(1, SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big"))
digests = st.binary(min_size=32, max_size=32)


def test_well_known_addresses() -> None:
    # Private key 1 and the first hardhat / anvil development account.
    assert address_of((1).to_bytes(32, "big")) == "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
    hardhat0 = bytes.fromhex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
    assert address_of(hardhat0) == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


@settings(max_examples=60)
@given(key=private_keys, digest=digests)
def test_coincurve_path_equals_eth_account(key: bytes, digest: bytes) -> None:
    account = Account.from_key(key)
    assert address_of(key) == account.address
    ours = sign_digest(key, digest)
    theirs = account.unsafe_sign_hash(digest)
    assert ours == bytes(theirs.signature)  # RFC 6979 deterministic nonce: byte-identical
    assert recover_address(digest, ours) == account.address
    assert Account._recover_hash(digest, signature=ours) == account.address


def test_signature_recovers_to_signer(signers: list[Signer]) -> None:
    rng = random.Random(1)
    for signer in signers:
        digest = rng.randbytes(32)
        signature = signer.sign_digest(digest)
        assert signature[64] in (27, 28)
        assert recover_address(digest, signature) == signer.address
        assert verify_signature(digest, signature, signer.address_bytes)
        other = bytes(32) if digest != bytes(32) else b"\x01" * 32
        assert not verify_signature(other, signature, signer.address_bytes)


def _with_s(signature: bytes, s: int, v: int) -> bytes:
    return signature[:32] + s.to_bytes(32, "big") + bytes((v,))


def test_high_s_and_malformed_signatures_are_rejected(signers: list[Signer]) -> None:
    digest = bytes(range(32))
    signature = signers[0].sign_digest(digest)
    s = int.from_bytes(signature[32:64], "big")
    # The malleable twin (n - s, other parity) is a valid ECDSA signature of the same key, but not canonical.
    twin = _with_s(signature, SECP256K1_N - s, 55 - signature[64])
    assert Account._recover_hash(digest, signature=twin) == signers[0].address  # mathematically valid
    with pytest.raises(SignatureError, match="low-s"):
        recover_address_bytes(digest, twin)
    for bad in (
        signature[:64] + b"\x00",  # v must be 27/28
        signature[:64] + b"\x1d",
        signature[:64],  # too short
        bytes(32) + signature[32:],  # r = 0
        _with_s(signature, 0, signature[64]),  # s = 0
    ):
        with pytest.raises(SignatureError):
            recover_address_bytes(digest, bad)
        assert not verify_signature(digest, bad, signers[0].address_bytes)


def test_new_private_key_is_reproducible_and_valid() -> None:
    a = new_private_key(random.Random(5))
    b = new_private_key(random.Random(5))
    assert a == b and 0 < int.from_bytes(a, "big") < SECP256K1_N
    assert new_private_key() != new_private_key()
    with pytest.raises(ValueError):
        Signer(bytes(32))
    with pytest.raises(ValueError):
        Signer(SECP256K1_N.to_bytes(32, "big"))


def test_batch_recovery_in_pool_equals_serial(signers: list[Signer]) -> None:
    rng = random.Random(7)
    ds = [rng.randbytes(32) for _ in range(60)]
    sigs = [signers[k % len(signers)].sign_digest(d) for k, d in enumerate(ds)]
    sigs[5] = sigs[5][:64] + b"\x00"  # invalid -> None
    expected = [signers[k % len(signers)].address_bytes for k in range(60)]
    expected[5] = None
    assert recover_batch(ds, sigs, workers=1) == expected
    with WorkerPool(workers=2, parallel_threshold=10) as pool:
        assert recover_batch(ds, sigs, pool=pool) == expected
        assert recover_batch(ds[:5], sigs[:5], pool=pool) == expected[:5]  # small: in-process
    with WorkerPool(workers=2, parallel_threshold=10, start_method="spawn") as pool:
        assert recover_batch(ds, sigs, pool=pool) == expected
    with pytest.raises(ValueError):
        recover_batch(ds, sigs[:-1])
