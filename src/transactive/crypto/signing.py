"""Keys, recoverable secp256k1 ECDSA signatures (Ethereum style) and parallel batch recovery.

A signature is 65 bytes ``r ‖ s ‖ v`` with ``v ∈ {27, 28}`` -- what Solidity / Vyper ``ecrecover`` and
eth-account use. Signatures are produced and recovered with ``coincurve`` (libsecp256k1), and checked
strictly: ``1 <= r, s < n``, **low s** (``s <= n/2``, EIP-2, as OpenZeppelin ``ECDSA.recover`` requires;
libsecp256k1 only ever produces low-s signatures), ``v`` 27 or 28. An address is the last 20 bytes of the
keccak of the uncompressed public key.

Batch recovery (:func:`recover_batch`, :class:`WorkerPool`) splits large batches over a process pool (one
worker per available core) or over threads of this process (``WorkerPool(threads=True)``: libsecp256k1 runs
without the GIL, so the threads use every core without pickling anything), and runs small ones in-process.
Batch signing (:func:`sign_digests`) calls libsecp256k1 directly, per key only its 32 bytes: no key object.

Example:
    >>> signer = Signer(bytes(31) + b"\\x01")
    >>> signer.address
    '0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf'
    >>> recover_address(bytes(32), signer.sign_digest(bytes(32))) == signer.address
    True
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import random
import secrets
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, TypeVar

from coincurve._libsecp256k1 import ffi as _ffi  # type: ignore[import-not-found]  # cffi module, no stubs
from coincurve._libsecp256k1 import lib as _lib
from coincurve.context import GLOBAL_CONTEXT

from transactive.crypto.encoding import fixed_bytes, keccak256, to_checksum_address

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HALF_N = SECP256K1_N // 2
DEFAULT_PARALLEL_THRESHOLD = 2048
"""Batches smaller than this are verified in-process (a pool round trip costs a few milliseconds)."""
THREAD_PARALLEL_THRESHOLD = 256
"""The same for a pool of threads (handing a chunk to a thread costs tens of microseconds)."""

_CTX = GLOBAL_CONTEXT.ctx
T = TypeVar("T")
R = TypeVar("R")


class SignatureError(ValueError):
    """A malformed or non-canonical signature, or one that recovers to no key."""


def new_private_key(rng: random.Random | None = None) -> bytes:
    """A fresh 32-byte secp256k1 private key; from ``rng`` when given (reproducible demos and tests)."""
    while True:
        raw = rng.randbytes(32) if rng is not None else secrets.token_bytes(32)
        if 0 < int.from_bytes(raw, "big") < SECP256K1_N:
            return raw


def _check_private_key(private_key: bytes) -> None:
    if len(private_key) != 32 or not 0 < int.from_bytes(private_key, "big") < SECP256K1_N:
        raise ValueError("a private key is 32 bytes in [1, n-1]")


_ADDRESSES: dict[bytes, bytes] = {}
"""BLAKE2b-160 of a private key -> its 20-byte address, memoised (custodial keys sign every slot; the keys
themselves are not kept); cleared when it holds ``_ADDRESSES_MAX`` keys."""
_ADDRESSES_MAX = 1 << 18


def address_chunk(private_keys: Sequence[bytes]) -> list[bytes]:
    """The 20-byte address ``keccak256(X ‖ Y)[12:]`` of each private key's public key (libsecp256k1's
    ``secp256k1_ec_pubkey_create``, ~20 µs, without the GIL; module level: a :class:`WorkerPool` runs it)."""
    public = _ffi.new("secp256k1_pubkey *")
    out, size = _ffi.new("unsigned char[65]"), _ffi.new("size_t *", 65)
    addresses = []
    for key in private_keys:
        _check_private_key(key)
        if not _lib.secp256k1_ec_pubkey_create(_CTX, public, key):  # pragma: no cover - key checked above
            raise ValueError("a private key is 32 bytes in [1, n-1]")
        size[0] = 65
        _lib.secp256k1_ec_pubkey_serialize(_CTX, out, size, public, _lib.SECP256K1_EC_UNCOMPRESSED)
        addresses.append(keccak256(_ffi.buffer(out, 65)[1:])[12:])
    return addresses


def addresses_of(private_keys: Sequence[bytes], *, pool: WorkerPool | None = None) -> list[bytes]:
    """:func:`address_chunk` of each key, memoised per process; the keys not seen before are derived on
    ``pool`` (default: threads of this process). ``ValueError`` for a key not 32 bytes in [1, n-1]."""
    ids = [_key_id(k) for k in private_keys]
    missing = {i: k for i, k in zip(ids, private_keys, strict=True) if i not in _ADDRESSES}
    if missing:
        if len(_ADDRESSES) + len(missing) > _ADDRESSES_MAX:
            _ADDRESSES.clear()
        _ADDRESSES.update(zip(missing, run_chunks(address_chunk, list(missing.values()), pool=pool), strict=True))
    found = [_ADDRESSES.get(i) for i in ids]
    return [a if a is not None else address_chunk((k,))[0] for a, k in zip(found, private_keys, strict=True)]


def _key_id(private_key: bytes) -> bytes:
    return hashlib.blake2b(private_key, digest_size=20).digest()


def address_bytes_of(private_key: bytes) -> bytes:
    """The 20-byte address of one 32-byte private key (see :func:`addresses_of`)."""
    return addresses_of((bytes(private_key),))[0]


class Signer:
    """A private key kept ready for signing many digests (its address derived once)."""

    def __init__(self, private_key: bytes) -> None:
        self._key = bytes(private_key)
        self.address_bytes = address_bytes_of(self._key)
        self.address = to_checksum_address(self.address_bytes)

    def sign_digest(self, digest: bytes) -> bytes:
        """65-byte ``r ‖ s ‖ v`` signature of a 32-byte digest (deterministic RFC 6979 nonce)."""
        return sign_chunk(((self._key, digest),))[0]


def address_of(private_key: bytes) -> str:
    """EIP-55 address of a private key."""
    return to_checksum_address(address_bytes_of(bytes(private_key)))


def sign_digest(private_key: bytes, digest: bytes) -> bytes:
    """Sign a 32-byte digest with a 32-byte private key (see :meth:`Signer.sign_digest`)."""
    return sign_chunk(((bytes(private_key), digest),))[0]


_V = (b"\x1b", b"\x1c")  # v = 27 + recovery id (libsecp256k1 signs with recovery id 0 or 1 only)


def sign_chunk(items: Sequence[tuple[bytes, bytes]]) -> list[bytes]:
    """The 65-byte ``r ‖ s ‖ v`` signature of each ``(private key, digest)`` pair: libsecp256k1's
    ``secp256k1_ecdsa_sign_recoverable`` with its default nonce function (RFC 6979, no extra data: what
    coincurve's ``sign_recoverable`` and eth-account's ``unsafe_sign_hash`` call), buffers reused over the
    chunk (module level: a :class:`WorkerPool` runs it; it releases the GIL, so threads run it in parallel).
    ``ValueError`` for a key that is not 32 bytes in [1, n-1] or a digest that is not 32 bytes."""
    recoverable = _ffi.new("secp256k1_ecdsa_recoverable_signature *")
    out, recid = _ffi.new("unsigned char[64]"), _ffi.new("int *")
    sign, serialize, ctx, null, buffer = (_lib.secp256k1_ecdsa_sign_recoverable,
                                          _lib.secp256k1_ecdsa_recoverable_signature_serialize_compact,
                                          _CTX, _ffi.NULL, _ffi.buffer)
    signatures = []
    for key, given in items:
        digest = fixed_bytes(given, 32, "digest")  # a bytearray as bytes; else an EncodingError (a ValueError)
        if len(key) != 32 or not sign(ctx, recoverable, digest, key, null, null):  # 0: key 0 or >= n
            raise ValueError("a private key is 32 bytes in [1, n-1]")
        serialize(ctx, out, recid, recoverable)
        signatures.append(buffer(out, 64)[:] + _V[recid[0]])
    return signatures


def sign_digests(private_keys: Sequence[bytes], digests: Sequence[bytes], *, pool: WorkerPool | None = None,
                 threads: int | None = None) -> list[bytes]:
    """:func:`sign_chunk` over ``zip(private_keys, digests)``: on ``pool``, else on threads of this process
    (``threads``, default one per available core; small batches in the calling thread)."""
    if len(private_keys) != len(digests):
        raise ValueError("one private key per digest")
    items = list(zip(private_keys, digests, strict=True))
    return run_chunks(sign_chunk, items, pool=pool, workers=threads)


_N_BYTES = SECP256K1_N.to_bytes(32, "big")
_HALF_N_BYTES = HALF_N.to_bytes(32, "big")
_ZERO32 = bytes(32)


def recover_address_bytes(digest: bytes, signature: bytes, buffers: tuple[Any, Any, Any, Any] | None = None
                          ) -> bytes:
    """The 20-byte address whose key made ``signature`` over ``digest``; :class:`SignatureError` if none:
    ``keccak256(Q)[12:]`` of :func:`recover_public_key`'s ``Q``."""
    return keccak256(recover_public_key(digest, signature, buffers))[12:]


def recover_public_key(digest: bytes, signature: bytes, buffers: tuple[Any, Any, Any, Any] | None = None
                       ) -> bytes:
    """The 64-byte public key ``X ‖ Y`` that made ``signature`` over ``digest``; :class:`SignatureError` if
    none (the one signature check: every other path agrees with it).

    The bounds on ``r`` and ``s`` are compared as 32-byte big-endian strings (the same order as the
    integers) and the recovery calls libsecp256k1 directly through coincurve's bindings: per signature the
    cost is the recovery itself (no Python key objects). ``buffers``: from :func:`_buffers`, reused over a
    chunk (one thread)."""
    if len(digest) != 32:
        raise SignatureError("a digest is 32 bytes")
    if len(signature) != 65:
        raise SignatureError(f"a signature is 65 bytes (r ‖ s ‖ v), got {len(signature)}")
    r = signature[:32]
    s = signature[32:64]
    v = signature[64]
    if not _ZERO32 < r < _N_BYTES:
        raise SignatureError("r out of range")
    if not _ZERO32 < s <= _HALF_N_BYTES:
        raise SignatureError("s out of range (only low-s signatures are accepted)")
    if v not in (27, 28):
        raise SignatureError(f"v must be 27 or 28, got {v}")
    recoverable, public, out, size = buffers if buffers is not None else _buffers()
    size[0] = 65
    if not (_lib.secp256k1_ecdsa_recoverable_signature_parse_compact(_CTX, recoverable, signature, v - 27)
            and _lib.secp256k1_ecdsa_recover(_CTX, public, recoverable, digest)):
        raise SignatureError("signature does not recover to a key")
    _lib.secp256k1_ec_pubkey_serialize(_CTX, out, size, public, _lib.SECP256K1_EC_UNCOMPRESSED)
    key: bytes = _ffi.buffer(out, 65)[1:]
    return key


def _buffers() -> tuple[Any, Any, Any, Any]:
    """libsecp256k1 output buffers for one recovery at a time (a chunk reuses one set)."""
    return (_ffi.new("secp256k1_ecdsa_recoverable_signature *"), _ffi.new("secp256k1_pubkey *"),
            _ffi.new("unsigned char[65]"), _ffi.new("size_t *", 65))


def recover_address(digest: bytes, signature: bytes) -> str:
    """EIP-55 address recovered from ``signature`` over ``digest``."""
    return to_checksum_address(recover_address_bytes(digest, signature))


def verify_signature(digest: bytes, signature: bytes, address: bytes) -> bool:
    """True when ``signature`` over ``digest`` is canonical and recovers to the 20-byte ``address``."""
    try:
        return recover_address_bytes(digest, signature) == address
    except SignatureError:
        return False


def recover_chunk(items: Sequence[tuple[bytes, bytes]]) -> list[bytes | None]:
    """Worker: the 20-byte signer of each ``(digest, signature)`` pair, None where invalid (module level, so
    that a :class:`WorkerPool` can run it on a chunk)."""
    out: list[bytes | None] = []
    buffers = _buffers()
    for digest, signature in items:
        try:
            out.append(recover_address_bytes(digest, signature, buffers))
        except SignatureError:
            out.append(None)
    return out


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class WorkerPool:
    """A reusable process pool for batch verification; in-process for small batches or one worker.

    ``start_method`` is a :mod:`multiprocessing` start method (default: the platform's); a threaded
    server should pass ``"forkserver"`` or ``"spawn"``. ``threads``: the workers are threads of this process
    instead, for functions that spend their time in C without the GIL (:func:`recover_chunk`,
    :func:`sign_chunk`): no start-up, nothing pickled, but a thread waits for the GIL while this process runs
    Python (a validator clearing meanwhile), so a process pool is the one to overlap with other work.

    Use as a context manager (the pool starts lazily on the first large batch and stops on exit)::

        with WorkerPool() as pool:
            addresses = recover_batch(digests, signatures, pool=pool)
    """

    def __init__(
        self,
        workers: int | None = None,
        parallel_threshold: int | None = None,
        *,
        start_method: str | None = None,
        threads: bool = False,
    ) -> None:
        self.workers = available_cores() if workers is None else max(1, workers)
        self.start_method = start_method
        self.threads = threads
        default = THREAD_PARALLEL_THRESHOLD if threads else DEFAULT_PARALLEL_THRESHOLD
        self.parallel_threshold = default if parallel_threshold is None else parallel_threshold
        self.chunks_per_worker = 4
        self._executor: Executor | None = None

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker processes (if any were started)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) the live worker processes have used so far (Linux ``/proc``; 0 where
        unavailable): benchmarks add it to the calling process's own ``time.process_time()``."""
        return processes_cpu_seconds(self._executor)

    def start(self) -> None:
        """Start the worker processes now (otherwise they start on the first large batch)."""
        if self._executor is None and self.workers > 1:
            if self.threads:
                self._executor = ThreadPoolExecutor(max_workers=self.workers)
                return
            context = multiprocessing.get_context(self.start_method)
            self._executor = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)

    def map_chunks(self, fn: Callable[[Sequence[T]], list[R]], items: Sequence[T], *,
                   chunks_per_worker: int | None = None) -> list[R]:
        """``fn`` over contiguous chunks of ``items``, results concatenated in order.

        ``chunks_per_worker`` chunks per worker (default the pool's, 4) keep both cores busy when one is
        slowed by other load. ``fn`` must be a module-level function (it is pickled to the worker processes).
        """
        return self.submit_chunks(fn, items, chunks_per_worker=chunks_per_worker)()

    def submit_chunks(self, fn: Callable[[Sequence[T]], list[R]], items: Sequence[T], *,
                      chunks_per_worker: int | None = None) -> Callable[[], list[R]]:
        """Start :meth:`map_chunks` and return a function that waits for its result (the caller can compute
        something else meanwhile, e.g. a validator clears the slot while the workers check its signatures).
        A batch below ``parallel_threshold`` (or with one worker) is computed in-process right away."""
        n = len(items)
        if self.workers <= 1 or n < self.parallel_threshold:
            done = fn(items)
            return lambda: done
        self.start()
        assert self._executor is not None
        per_worker = self.chunks_per_worker if chunks_per_worker is None else max(1, chunks_per_worker)
        size = max(256, -(-n // (self.workers * per_worker)))
        futures = [self._executor.submit(fn, items[i : i + size]) for i in range(0, n, size)]

        def wait() -> list[R]:
            out: list[R] = []
            for future in futures:
                out.extend(future.result())
            return out

        return wait


def processes_cpu_seconds(executor: Executor | None) -> float:
    """CPU seconds (user + system) used so far by the live worker processes of a ``ProcessPoolExecutor``
    (read from Linux ``/proc``; 0 for anything else)."""
    processes = getattr(executor, "_processes", None) or {}
    total = 0.0
    for pid in list(processes):
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return total


def run_chunks(
    fn: Callable[[Sequence[T]], list[R]],
    items: Sequence[T],
    *,
    pool: WorkerPool | None = None,
    workers: int | None = None,
    chunks_per_worker: int | None = None,
) -> list[R]:
    """Run ``fn`` over ``items`` with ``pool``, or with a temporary pool of threads (``fn`` releases the GIL:
    :func:`recover_chunk`, :func:`sign_chunk`; only started for large batches)."""
    if pool is not None:
        return pool.map_chunks(fn, items, chunks_per_worker=chunks_per_worker)
    with WorkerPool(workers, threads=True) as temporary:
        return temporary.map_chunks(fn, items, chunks_per_worker=chunks_per_worker)


def recover_batch(
    digests: Sequence[bytes],
    signatures: Sequence[bytes],
    *,
    pool: WorkerPool | None = None,
    workers: int | None = None,
) -> list[bytes | None]:
    """Recover the 20-byte signer of each ``(digest, signature)`` pair; ``None`` where invalid."""
    if len(digests) != len(signatures):
        raise ValueError("one signature per digest")
    return run_chunks(recover_chunk, list(zip(digests, signatures, strict=True)), pool=pool, workers=workers)
