"""Batch verification against known public keys (issue 13): per signature exactly what recovery gives.

The oracle is ``recover_address_bytes`` (libsecp256k1's recovery through coincurve, plus the strict rules);
the public keys come from coincurve key objects, independently of the code under test."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

import pytest
from coincurve import PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.crypto import verification
from transactive.crypto.encoding import keccak256
from transactive.crypto.signing import (
    HALF_N,
    SECP256K1_N,
    SignatureError,
    WorkerPool,
    recover_address_bytes,
    sign_chunk,
)
from transactive.crypto.verification import (
    batch_verifier_available,
    forget_public_keys,
    known_public_key,
    remember_public_keys,
    verify_chunk,
    verify_signers,
)

P = 2**256 - 2**32 - 977  # the field prime
_RNG = random.Random(13)
KEYS = [_RNG.randrange(1, SECP256K1_N).to_bytes(32, "big") for _ in range(6)]
PUBLIC = [PrivateKey(k).public_key.format(compressed=False)[1:] for k in KEYS]
ADDRESSES = [keccak256(q)[12:] for q in PUBLIC]
STRANGER = b"\x99" * 20  # an address whose key is never known

needs_module = pytest.mark.skipif(not batch_verifier_available() and not os.environ.get("CI"),
                                  reason="the C batch verifier is not built (make builds it)")


def _on_curve(x: int) -> bool:
    c = (pow(x, 3, P) + 7) % P
    return pow(c, (P - 1) // 2, P) == 1


NOT_ON_CURVE_R = next(x for x in range(1, 100) if not _on_curve(x))


def _mutate(signature: bytes, kind: str) -> bytes:
    r, s, v = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"), signature[64]
    match kind:
        case "valid":
            pass
        case "flip_v":
            v ^= 27 ^ 28
        case "s_plus_1":
            s += 1
        case "high_s":
            s = SECP256K1_N - s
        case "high_s_twin":  # the malleable twin: valid for plain ECDSA, rejected by the low-s rule
            s, v = SECP256K1_N - s, v ^ (27 ^ 28)
        case "s_zero":
            s = 0
        case "r_zero":
            r = 0
        case "r_n":
            r = SECP256K1_N
        case "r_n_plus_1":
            r = SECP256K1_N + 1
        case "r_max":
            r = 2**256 - 1
        case "r_off_curve":
            r = NOT_ON_CURVE_R
        case "v_0":
            v = 0
        case "v_29":
            v = 29
        case "short":
            return signature[:64]
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((v,))


KINDS = ["valid", "valid", "valid", "flip_v", "s_plus_1", "high_s", "high_s_twin", "s_zero", "r_zero", "r_n",
         "r_n_plus_1", "r_max", "r_off_curve", "v_0", "v_29", "short", "wrong_digest", "wrong_key", "unknown_key"]


def _oracle(digest: bytes, signature: bytes) -> bytes | None:
    try:
        return recover_address_bytes(digest, signature)
    except SignatureError:
        return None


def _rows(cases: list[tuple[int, bytes, str]]) -> list[tuple[bytes, bytes, bytes]]:
    """One row per case ``(signer, digest, kind)``: the signature mutated as ``kind`` says, the claimed
    address the signer's (another known signer's for ``wrong_key``, a never-seen one for ``unknown_key``)."""
    signatures = sign_chunk([(KEYS[who], digest) for who, digest, _ in cases])
    rows = []
    for (who, signed, kind), signature in zip(cases, signatures, strict=True):
        claimed, digest = ADDRESSES[who], signed
        if kind == "wrong_digest":
            digest = keccak256(signed)
        elif kind == "wrong_key":
            claimed = ADDRESSES[(who + 1) % len(KEYS)]
        elif kind == "unknown_key":
            claimed = STRANGER
        rows.append((digest, _mutate(signature, kind), claimed))
    return rows


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    forget_public_keys()
    yield
    forget_public_keys()


def test_the_module_is_built_under_ci() -> None:
    """`make` builds it; under CI its absence is a failure (the recovery path would hide it)."""
    if not os.environ.get("CI") and not batch_verifier_available():
        pytest.skip("not built here (make builds it)")
    assert batch_verifier_available()


cases = st.lists(st.tuples(st.integers(0, len(KEYS) - 1), st.binary(min_size=32, max_size=32),
                           st.sampled_from(KINDS)), min_size=1, max_size=24)


@needs_module
@settings(max_examples=80, deadline=None)
@given(cases=cases)
def test_the_c_check_accepts_exactly_what_recovers_to_the_key(cases: list[tuple[int, bytes, str]]) -> None:
    """Status 0 iff recovery gives the key's address, on every mix of valid and broken signatures."""
    native = verification._native
    assert native is not None
    rows = [row for row in _rows(cases) if len(row[1]) == 65 and row[2] != STRANGER]
    if not rows:
        return
    keys = [PUBLIC[ADDRESSES.index(claimed)] for _, _, claimed in rows]
    status = native.verify(b"".join(s for _, s, _ in rows), b"".join(d for d, _, _ in rows), b"".join(keys),
                           os.urandom(16 * len(rows)))
    assert [st_ == 0 for st_ in status] == [_oracle(d, s) == a for d, s, a in rows]


@settings(max_examples=80, deadline=None)
@given(cases=cases, known=st.booleans())
def test_verify_signers_equals_recovery(cases: list[tuple[int, bytes, str]], known: bool) -> None:
    """The signers are recovery's, whether the keys are known (batch check) or not (recovery)."""
    forget_public_keys()
    if known:
        assert remember_public_keys(zip(ADDRESSES, PUBLIC, strict=True)) == len(KEYS)
    rows = _rows(cases)
    expected = [_oracle(d, s) for d, s, _ in rows]
    assert verify_signers(rows, workers=1) == expected
    assert [signer for signer, _ in verify_chunk(verification._items(rows))] == expected
    assert verify_signers(rows, workers=1) == expected  # again, with what the first pass learnt


def test_a_key_whose_keccak_is_not_the_address_is_never_trusted() -> None:
    """A key is cached only under its own address: signer 1's signature claiming signer 0 stays rejected."""
    assert remember_public_keys([(ADDRESSES[0], PUBLIC[1]), (ADDRESSES[1], PUBLIC[1][:63])]) == 0
    assert known_public_key(ADDRESSES[0]) is None and known_public_key(ADDRESSES[1]) is None
    digest = bytes(range(32))
    forged = (digest, sign_chunk([(KEYS[1], digest)])[0], ADDRESSES[0])
    assert verify_signers([forged], workers=1) == [ADDRESSES[1]]  # recovered: another key than claimed
    assert known_public_key(ADDRESSES[1]) == PUBLIC[1]  # learnt from the recovery, under its own address
    assert known_public_key(ADDRESSES[0]) is None
    assert verify_signers([forged], workers=1) == [ADDRESSES[1]]


@needs_module
def test_one_bad_signature_in_a_large_batch_is_found_exactly() -> None:
    """Group testing marks exactly the broken ones, wherever they are; when many are broken it leaves the
    failing groups undetermined (4), and verification recovers those: still recovery's signers."""
    native = verification._native
    assert native is not None
    rng = random.Random(5)
    n = 3000
    who = [rng.randrange(len(KEYS)) for _ in range(n)]
    digests = [rng.randbytes(32) for _ in range(n)]
    signatures = sign_chunk([(KEYS[w], d) for w, d in zip(who, digests, strict=True)])
    keys = b"".join(PUBLIC[w] for w in who)
    remember_public_keys(zip(ADDRESSES, PUBLIC, strict=True))
    for bad in ([rng.randrange(n)], [0, n - 1], rng.sample(range(n), 3), rng.sample(range(n), 300)):
        broken = list(signatures)
        for k in bad:
            s = int.from_bytes(broken[k][32:64], "big")
            broken[k] = broken[k][:32] + (s + 1 if s < HALF_N else s - 1).to_bytes(32, "big") + broken[k][64:]
        status = native.verify(b"".join(broken), b"".join(digests), keys, os.urandom(16 * n))
        if len(bad) <= 3:
            assert sorted(k for k, st_ in enumerate(status) if st_) == sorted(bad)
            assert {status[k] for k in bad} == {3}  # well formed, another key
        else:
            assert {k for k, st_ in enumerate(status) if st_ == 3} <= set(bad)
            assert {k for k, st_ in enumerate(status) if st_} >= set(bad)
            assert set(status) <= {0, 3, 4}
        rows = list(zip(digests, broken, [ADDRESSES[w] for w in who], strict=True))
        assert verify_signers(rows, workers=1) == [_oracle(d, s) for d, s, _ in rows]


@needs_module
def test_repeated_points_in_one_multiplication() -> None:
    """One signature 600 times (a replay) and one key under 600 signatures: equal points meet in the
    multiplication's buckets (doublings, P + (-P)); the copies stay valid, a broken copy is found."""
    native = verification._native
    assert native is not None
    digest = bytes(range(32))
    signature = sign_chunk([(KEYS[2], digest)])[0]
    n = 600
    assert native.verify(signature * n, digest * n, PUBLIC[2] * n, os.urandom(16 * n)) == bytes(n)
    rng = random.Random(3)
    digests = [rng.randbytes(32) for _ in range(n)]
    signatures = sign_chunk([(KEYS[4], d) for d in digests])
    signatures[123] = signatures[124]  # a signature over another digest
    status = native.verify(b"".join(signatures), b"".join(digests), PUBLIC[4] * n, os.urandom(16 * n))
    assert [k for k, st_ in enumerate(status) if st_] == [123]


@needs_module
def test_malformed_inputs_and_bad_keys() -> None:
    native = verification._native
    assert native is not None
    digest = bytes(32)
    signature = sign_chunk([(KEYS[0], digest)])[0]
    off_curve_key = (1).to_bytes(32, "big") + (1).to_bytes(32, "big")
    status = native.verify(signature * 3, digest * 3, PUBLIC[0] + off_curve_key + b"\xff" * 64, bytes(48))
    assert status == bytes((0, 2, 2))  # a zero coefficient counts as 1: the signature is still checked
    assert native.verify(b"", b"", b"", b"") == b""
    with pytest.raises(ValueError, match="per signature"):
        native.verify(signature, digest, PUBLIC[0][:63], bytes(16))


@pytest.mark.parametrize("pool_args", [{"workers": 2, "parallel_threshold": 8, "threads": True},
                                       {"workers": 2, "parallel_threshold": 8}])
def test_pools_learn_the_keys_in_the_calling_process(pool_args: dict[str, object]) -> None:
    """Workers (threads or processes) get the known keys with their chunk and send back what they
    recovered: the caller's cache holds every signer after one pass; the results equal recovery's."""
    rng = random.Random(8)
    cases_ = [(k % len(KEYS), rng.randbytes(32), "valid" if k % 9 else "s_plus_1") for k in range(60)]
    rows = _rows(cases_)
    expected = [_oracle(d, s) for d, s, _ in rows]
    with WorkerPool(**pool_args) as pool:  # type: ignore[arg-type]
        assert verify_signers(rows, pool=pool) == expected
        assert [known_public_key(a) for a in ADDRESSES] == PUBLIC
        assert verification.start_verifying_signers(rows, pool)() == expected


def test_turned_off_it_recovers_every_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    """``use_batch_verifier(False)`` (benchmarks): no C check, the same signers, the keys still learnt."""
    calls: list[int] = []
    monkeypatch.setattr(verification, "_native", type("Counting", (), {
        "verify": staticmethod(lambda *args: calls.append(1) or bytes(len(args[0]) // 65))}))
    remember_public_keys(zip(ADDRESSES, PUBLIC, strict=True))
    rows = _rows([(k, bytes([k]) * 32, "valid") for k in range(len(KEYS))])
    verification.use_batch_verifier(False)
    try:
        assert verify_signers(rows, workers=1) == ADDRESSES
        assert calls == []
    finally:
        verification.use_batch_verifier(True)
    assert verify_signers(rows, workers=1) == ADDRESSES
    assert calls == [1]
