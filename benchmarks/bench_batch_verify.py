"""Micro-benchmark: the C batch check per signature against one recovery per signature (issue 13).

For batches of 256 ... 16,384 valid signatures (distinct keys, keys known), one thread: CPU µs per signature
of ``_secp256k1_batch.verify`` (one call: the per-signature checks and square root of ``R``, then one
Pippenger multi-scalar multiplication) and of ``signing.recover_chunk`` (one libsecp256k1 recovery and one
keccak per signature, what verification cost before), run alternately, best of ``--repeat``; then the same
batch with one bad signature (the group testing's extra cost) and with 1% bad.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/bench_batch_verify.py [--sizes 256,1024,4096,16384]``.
"""

from __future__ import annotations

import argparse
import os
import random
import time


def _cpu_us(fn: object, n: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        c0 = time.thread_time()
        fn()  # type: ignore[operator]
        best = min(best, time.thread_time() - c0)
    return best / n * 1e6


def main(argv: list[str] | None = None) -> None:
    from transactive.crypto import verification
    from transactive.crypto.signing import SECP256K1_N, address_chunk, recover_chunk, sign_chunk

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,1024,4096,16384")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="batches of 256 and 1,024 (run_all.py --quick)")
    args = parser.parse_args(argv)
    native = verification._native
    if native is None:
        raise SystemExit("the batch verifier is not built: run scripts/setup-secp256k1-batch.sh (make does)")
    native.verify(b"", b"", b"", b"")  # builds libsecp256k1's tables (~30 ms, once per process): untimed
    sizes = [256, 1024] if args.quick else [int(x) for x in args.sizes.split(",")]
    rng = random.Random(13)
    n_max = max(sizes)
    keys = [rng.randrange(1, SECP256K1_N).to_bytes(32, "big") for _ in range(n_max)]
    digests = [rng.randbytes(32) for _ in range(n_max)]
    signatures = sign_chunk(list(zip(keys, digests, strict=True)))
    rows = list(zip(digests, signatures, address_chunk(keys), strict=True))
    verification.forget_public_keys()
    verification.verify_signers(rows, workers=1)  # recovered once: the keys are known from here on
    public = [verification.known_public_key(a) or b"" for _, _, a in rows]
    load = os.getloadavg()
    print(f"one thread, CPU µs per signature (best of {args.repeat}); load average {load[0]:.1f} / {load[1]:.1f}")
    print(f"{'batch':>7}{'recovery':>10}{'batch check':>13}{'x':>7}{'1 bad':>9}{'1% bad':>9}")
    for n in sizes:
        sig, dig, pub = b"".join(signatures[:n]), b"".join(digests[:n]), b"".join(public[:n])
        pairs = list(zip(digests[:n], signatures[:n], strict=True))
        recovery = _cpu_us(lambda pairs=pairs: recover_chunk(pairs), n, args.repeat)
        batch = _cpu_us(lambda s=sig, d=dig, q=pub, n=n: native.verify(s, d, q, os.urandom(16 * n)), n,
                        args.repeat)
        bad_rates = []
        for bad in (1, max(1, n // 100)):
            broken = bytearray(sig)
            chosen = set(rng.sample(range(n), bad))
            for k in chosen:
                broken[65 * k + 40] ^= 1
            blob = bytes(broken)
            status = native.verify(blob, dig, pub, os.urandom(16 * n))
            assert {k for k, x in enumerate(status) if x == 3} <= chosen  # found exactly, or
            assert {k for k, x in enumerate(status) if x} >= chosen  # left undetermined (4): recovered
            bad_rates.append(_cpu_us(lambda b=blob, d=dig, q=pub, n=n: native.verify(b, d, q, os.urandom(16 * n)),
                                     n, args.repeat))
        print(f"{n:>7}{recovery:>10.1f}{batch:>13.1f}{recovery / batch:>7.2f}{bad_rates[0]:>9.1f}{bad_rates[1]:>9.1f}")
    print("recovery: signing.recover_chunk (secp256k1_ecdsa_recover + keccak, Python around it); batch check: "
          "_secp256k1_batch.verify (C only); 1 bad / 1% bad: the batch check with that many bad signatures "
          "(group testing), before the bad or undetermined ones are recovered (per signature of the batch)")


if __name__ == "__main__":
    main()
