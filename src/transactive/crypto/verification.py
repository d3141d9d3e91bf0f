"""Signatures with a claimed signer, verified in batches against public keys seen before (issue 13).

A signed order names its trader; its signature is accepted iff it *recovers* to that address
(:func:`~transactive.crypto.signing.recover_address_bytes`, ~44 µs per signature here). When the trader's
public key ``Q`` is already known -- ``keccak256(Q)[12:]`` is the address --, the same verdict costs a few
microseconds in a batch: ``(r, s, v)`` over the digest ``z`` recovers to ``Q`` iff ``s·R = z·G + r·Q``, ``R``
the curve point with ``x = r`` and ``y`` of parity ``v − 27``; with random 128-bit coefficients ``a_i``
(``os.urandom``) a batch is valid iff

    ``Σ a_i·R_i − Σ (a_i r_i / s_i)·Q_i − (Σ a_i z_i / s_i)·G = O``

one multi-scalar multiplication (libsecp256k1's Pippenger, ``secp256k1_ecmult_pippenger_wnaf``) in the C
module ``_secp256k1_batch`` (built by ``scripts/setup-secp256k1-batch.sh``). A failing batch is searched by
group testing down to single signatures (each single check exact; with many bad ones the failing groups are
left undetermined), and every signature not found valid is recovered, so the result per signature is
exactly what recovery gives (a forged batch passes with probability at most about 2^-127).
The checks of recovery hold on both paths: ``0 < r < n``, ``0 < s <= n/2`` (low s), ``v`` 27 or 28, ``R``
on the curve.

Where the keys come from: a per-process cache address -> ``Q`` (:func:`remember_public_keys`), filled by
every recovery this module makes (a member's key is recovered at its first signed order; every later batch
of it is batch-verified). The cache lives in the calling process (a validator); workers of a
:class:`~transactive.crypto.signing.WorkerPool` receive the keys with their chunk and send back the keys
they recovered. Without the C module (a plain pip install, no compiler) every signature is recovered:
same results, recovery's speed.

Example:
    >>> from transactive.crypto.signing import Signer
    >>> signer = Signer(bytes(31) + b"\\x05")
    >>> rows = [(bytes(32), signer.sign_digest(bytes(32)), signer.address_bytes)]
    >>> verify_signers(rows) == [signer.address_bytes]  # first sight: recovered, the key remembered
    True
    >>> known_public_key(signer.address_bytes) is not None
    True
    >>> verify_signers(rows) == [signer.address_bytes]  # then batch-verified (when the module is built)
    True
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from types import ModuleType

from transactive.crypto.encoding import keccak256
from transactive.crypto.signing import (
    SignatureError,
    WorkerPool,
    _buffers,
    recover_public_key,
    run_chunks,
)

_native: ModuleType | None
try:
    from transactive.crypto import _secp256k1_batch as _native
except ImportError:  # pragma: no cover - the module is built by `make`; CI fails a test without it
    _native = None

PUBLIC_KEYS_MAX = 1 << 18
"""Keys the per-process cache holds (~180 bytes each); it is cleared when full."""
CHUNKS_PER_WORKER = 2
"""Chunks per worker of a pool: a Pippenger multiplication gets cheaper per point up to ~16k points."""

_PUBLIC_KEYS: dict[bytes, bytes] = {}
_ENABLED = [True]
_nothing: dict[bytes, bytes] = {}

Row = tuple[bytes, bytes, bytes]
"""``(32-byte digest, 65-byte signature, claimed 20-byte address)``."""
Item = tuple[bytes, bytes, bytes, bytes | None]
"""A row and the claimed address's 64-byte public key when known: what :func:`verify_chunk` checks."""
Outcome = tuple[bytes | None, bytes | None]
"""The 20-byte address the signature recovers to (None: invalid), and its key when it was recovered."""


def batch_verifier_available() -> bool:
    """True when the C batch verifier is built (otherwise every signature is recovered)."""
    return _native is not None


def use_batch_verifier(enabled: bool) -> None:
    """Turn the batch check on (the default) or off in this process (benchmarks: recovery alone, same
    verdicts); the keys recovered are remembered either way."""
    _ENABLED[0] = enabled


def remember_public_keys(pairs: Iterable[tuple[bytes, bytes]]) -> int:
    """Add ``(20-byte address, 64-byte public key X ‖ Y)`` pairs to the cache, each only when
    ``keccak256(key)[12:]`` is the address; returns how many were added."""
    added = 0
    for address, key in pairs:
        if len(key) == 64 and keccak256(key)[12:] == address:
            _remember(address, bytes(key))
            added += 1
    return added


def _remember(address: bytes, key: bytes) -> None:
    if len(_PUBLIC_KEYS) >= PUBLIC_KEYS_MAX:
        _PUBLIC_KEYS.clear()
    _PUBLIC_KEYS[address] = key


def known_public_key(address: bytes) -> bytes | None:
    """The cached 64-byte public key of a 20-byte address, if any."""
    return _PUBLIC_KEYS.get(address)


def forget_public_keys() -> None:
    """Empty the cache (benchmarks: the first sight of every key again)."""
    _PUBLIC_KEYS.clear()


def verify_chunk(items: Sequence[Item]) -> list[Outcome]:
    """Worker (module level: a :class:`~transactive.crypto.signing.WorkerPool` runs it on a chunk): the
    :data:`Outcome` of each item. Items with a key are checked in one C call (without the GIL), the rest
    and every one that fails there recovered. The keys must be the claimed addresses' (from the cache)."""
    out: list[Outcome] = []
    fast: list[int] = []
    status = b""
    native = _native
    if native is not None:
        fast = [k for k, (digest, signature, _, key) in enumerate(items)
                if key is not None and len(signature) == 65 and len(digest) == 32]
        if fast:
            status = native.verify(b"".join([items[k][1] for k in fast]), b"".join([items[k][0] for k in fast]),
                                   b"".join([items[k][3] or b"" for k in fast]), os.urandom(16 * len(fast)))
    if len(fast) == len(items) and status.count(0) == len(status):
        return [(item[2], None) for item in items]  # every signature valid: the common case
    valid = {k for k, st in zip(fast, status, strict=True) if st == 0}
    buffers = _buffers()
    for k, (digest, signature, address, _) in enumerate(items):
        if k in valid:
            out.append((address, None))
            continue
        try:
            key = recover_public_key(digest, signature, buffers)
        except SignatureError:
            out.append((None, None))
        else:
            out.append((keccak256(key)[12:], key))
    return out


def _items(rows: Sequence[Row]) -> list[Item]:
    """The rows with their claimed addresses' keys when known (none when the batch check is off here)."""
    known = _PUBLIC_KEYS.get if _ENABLED[0] and _native is not None else _nothing.get
    return [(digest, signature, address, known(address)) for digest, signature, address in rows]


def _signers(outcomes: list[Outcome]) -> list[bytes | None]:
    """The signers; the keys recovered are remembered."""
    for signer, key in outcomes:
        if key is not None:
            _remember(signer, key)  # type: ignore[arg-type]  # a recovered key has its signer
    return [signer for signer, _ in outcomes]


def verify_signers(rows: Sequence[Row], *, pool: WorkerPool | None = None, workers: int | None = None
                   ) -> list[bytes | None]:
    """The 20-byte address each row's signature recovers to (None where invalid) -- exactly what
    :func:`~transactive.crypto.signing.recover_batch` gives --, batch-verified where the claimed address's key
    is known; on ``pool``, else on ``workers`` threads of this process (default one per core)."""
    return _signers(run_chunks(verify_chunk, _items(rows), pool=pool, workers=workers,
                               chunks_per_worker=CHUNKS_PER_WORKER))


def start_verifying_signers(rows: Sequence[Row], pool: WorkerPool) -> Callable[[], list[bytes | None]]:
    """:func:`verify_signers` started on ``pool``: returns a function that waits for the signers."""
    wait = pool.submit_chunks(verify_chunk, _items(rows), chunks_per_worker=CHUNKS_PER_WORKER)
    return lambda: _signers(wait())
