"""Benchmark: custodial signing and signed-order verification, the code before issue 13's signing work and
this code side by side, and this code's verification by recovery and by batch verification (issue 13).

For n traders (10^3, 10^4, 10^5; one order each, with grid attributes as ``dpda_matched`` needs, one signature
per trader covering both):

* **sign**: the desk's custodial signing of the slot's orders (``market.ledger.batch.sign_rows`` on
  ``(key hex, trader, ...)`` rows), wall and CPU seconds (all threads): *cold* is the first slot of a process
  (the keys' addresses not yet derived), *warm* the next slot with the same keys;
* **verify**: ``audit_batch`` (= ``verify_batch``: digests, signature checks, the rest) on the signed batch:
  with a ``WorkerPool(workers=1)`` (one thread: one core), with ``WorkerPool(threads=True)`` (one process, a
  thread per core) and with a warm ``WorkerPool(workers=2)`` (two processes), as orders/s by the wall clock
  and orders per CPU-second of all processes. This code runs it three ways: *recovery* (the batch verifier
  turned off: one libsecp256k1 recovery per order, as main before it), *first sight* (the verifier on, no
  trader's key known yet: every order recovered and its key remembered -- a member's first signed order)
  and *keys known* (the traders' keys remembered from an earlier slot: every order batch-verified -- every
  later slot of a member).

Each side runs in its own subprocess (own imports, own pools); the parent checks that both produced
byte-identical signatures. The old side is ``--baseline-src`` (a ``src`` folder) or, by default, git revision
``--baseline-rev`` (main when the work started) exported with ``git archive`` into a temporary folder.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/bench_signing.py [--sizes 1000,10000,100000]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

SLOT = 9
CHAIN_ID = 31337
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
HERE = Path(__file__).resolve().parents[1]
BASELINE_REV = "5e0d6e4"
"""main at the start of issue 13's signing work (its child prints the older format: ``_old_verify``)."""


# --------------------------------------------------------------------------- child: one code base
def _rows(n: int) -> tuple[list[tuple[Any, ...]], list[Any]]:
    """The desk's sign rows for n traders (keys 1..n) and their attributes records (set-up, untimed; the
    traders' addresses are derived with coincurve key objects, outside the code under test)."""
    from coincurve import PrivateKey

    from transactive.crypto.encoding import keccak256, to_checksum_address
    from transactive.ledger.messages.attributes import ParticipantAttributes

    rows, records = [], []
    for k in range(n):
        key = (k + 1).to_bytes(32, "big")
        trader = to_checksum_address(keccak256(PrivateKey(key).public_key.format(compressed=False)[1:])[12:])
        record = ParticipantAttributes(trader, SLOT, str(k % 900 + 1), 100_000 + k, 10_000_000, 10**9, 5 * 10**8)
        records.append(record)
        rows.append((key.hex(), trader, SLOT, k % 2, 1000 + k % 5000, 150_000 + k % 1000, 0, CHAIN_ID, CONTRACT,
                     record.struct_hash()))
    return rows, records


def _sign(rows: list[tuple[Any, ...]]) -> tuple[list[Any], float, float]:
    from transactive.market.ledger.batch import sign_rows

    w0, c0 = time.perf_counter(), time.process_time()
    signed = sign_rows(rows)  # type: ignore[arg-type]
    return signed, time.perf_counter() - w0, time.process_time() - c0


MODES = ("recovery", "first sight", "keys known")
"""This code's verification modes (the old code has only recovery)."""


def _verify(batch: Any, pool_args: dict[str, Any], repeat: int, mode: str) -> tuple[float, float]:
    """``(best wall s, CPU s of that run, all processes)`` of ``audit_batch`` with a warm pool, in ``mode``
    (this code; ``""`` for the old code)."""
    from transactive.crypto.signing import WorkerPool
    from transactive.ledger.audit.proofs import audit_batch

    verification: Any = None
    if mode:
        from transactive.crypto import verification

        verification.use_batch_verifier(mode != "recovery")
    with WorkerPool(**pool_args) as pool:
        small = type(batch)(batch.domain, batch.slot, batch.orders[:4096], attributes=batch.attributes[:4096])
        audit_batch(small, pool=pool)  # the workers are started and have imported the code
        if mode == "keys known":
            audit_batch(batch, pool=pool)  # an earlier slot of the same members: their keys remembered
        best = (float("inf"), 0.0)
        for _ in range(repeat):
            if mode == "first sight":
                verification.forget_public_keys()
            c0 = time.process_time() + pool.cpu_seconds()
            w0 = time.perf_counter()
            problems = audit_batch(batch, pool=pool)
            wall = time.perf_counter() - w0
            cpu = time.process_time() + pool.cpu_seconds() - c0
            assert problems == [], problems[:3]
            best = min(best, (wall, cpu))
    if mode:
        verification.use_batch_verifier(True)
    return best


def child(sizes: list[int]) -> None:
    import importlib.util
    import inspect

    from transactive.crypto.eip712 import Domain
    from transactive.crypto.signing import WorkerPool
    from transactive.ledger.audit.proofs import SlotBatch
    from transactive.ledger.messages.attributes import SignedAttributes

    threads = "threads" in inspect.signature(WorkerPool).parameters
    modes = MODES if importlib.util.find_spec("transactive.crypto.verification") else ("",)
    if modes != ("",):
        from transactive.crypto.verification import batch_verifier_available

        if not batch_verifier_available():
            raise SystemExit("the batch verifier is not built: run scripts/setup-secp256k1-batch.sh (make does)")
    domain = Domain(chain_id=CHAIN_ID, verifying_contract=CONTRACT)
    for n in sizes:
        rows, records = _rows(n)
        signed, cold_wall, cold_cpu = _sign(rows)
        _, warm_wall, warm_cpu = _sign(rows)  # the next slot: the same keys
        batch = SlotBatch(domain, SLOT, tuple(signed), attributes=tuple(SignedAttributes(r) for r in records))
        repeat = 1 if n >= 100_000 else 2
        verify = {}
        for mode in modes:
            one = _verify(batch, {"workers": 1}, repeat, mode)
            in_process = _verify(batch, {"threads": True}, repeat, mode) if threads else None
            two = _verify(batch, {"workers": 2}, repeat, mode)
            verify[mode] = [list(one), None if in_process is None else list(in_process), list(two)]
        digest = hashlib.sha256(b"".join(o.signature for o in signed)).hexdigest()
        print(json.dumps({"n": n, "sign": [cold_wall, cold_cpu, warm_wall, warm_cpu], "verify": verify,
                          "signatures": digest}), flush=True)


# --------------------------------------------------------------------------- parent: both, side by side
def _run_child(src: Path, sizes: list[int]) -> list[dict[str, Any]]:
    args = [sys.executable, __file__, "--child", ",".join(map(str, sizes))]
    done = subprocess.run(args, env=dict(os.environ, PYTHONPATH=str(src)), capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"benchmark child failed ({src}):\n{done.stderr}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def _export(rev: str, into: Path) -> Path:
    """``src/`` of git revision ``rev`` of this repository, extracted under ``into``."""
    archive = subprocess.run(["git", "-C", str(HERE), "archive", rev, "src"], capture_output=True, check=True)
    with tempfile.TemporaryFile() as raw:
        raw.write(archive.stdout)
        raw.seek(0)
        with tarfile.open(fileobj=raw) as tar:
            tar.extractall(into, filter="data")
    return into / "src"


def _old_verify(r: dict[str, Any]) -> list[list[float] | None]:
    """The old side's verification figures (either of this benchmark's two output formats)."""
    if "verify" in r:
        return list(r["verify"][""])
    return [r["verify1"], r["verify_threads"], r["verify2"]]


def _rates(n: int, r: list[float] | None) -> str:
    return f"{'-':>9}{'-':>10}" if r is None else f"{n / r[0]:>9,.0f}{n / r[1]:>10,.0f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="numbers of traders (comma-separated)")
    parser.add_argument("--baseline-src", default=None, help="the code before the change (a src folder)")
    parser.add_argument("--baseline-rev", default=BASELINE_REV, help="else: this git revision, exported")
    parser.add_argument("--quick", action="store_true", help="1,000 traders only (run_all.py --quick)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        child([int(x) for x in args.child.split(",")])
        return
    sizes = [1000] if args.quick else [int(x) for x in args.sizes.split(",")]
    load0 = os.getloadavg()
    print(f"custodial signing and signed-order verification, {os.cpu_count()} cores, load average "
          f"{load0[0]:.1f} / {load0[1]:.1f} / {load0[2]:.1f} (1/5/15 min) at start")
    with tempfile.TemporaryDirectory() as tmp:
        old_src = Path(args.baseline_src) if args.baseline_src else _export(args.baseline_rev, Path(tmp))
        print(f"old = {args.baseline_src or 'git ' + args.baseline_rev}; new = {HERE / 'src'}")
        old = new = None
        old = _run_child(old_src, sizes)
        new = _run_child(HERE / "src", sizes)
    print("sign: sign_rows, s wall / CPU (cold: first slot of the process; warm: the same keys again)")
    print(f"{'traders':>8} {'path':<4}{'cold s':>8}{'CPU s':>7}{'warm s':>8}{'CPU s':>7}")
    for o, w in zip(old, new, strict=True):
        assert o["signatures"] == w["signatures"], f"signatures differ at n = {o['n']}"
        n = o["n"]
        for name, r in (("old", o), ("new", w)):
            print(f"{n:>8} {name:<4}{r['sign'][0]:>8.2f}{r['sign'][1]:>7.2f}{r['sign'][2]:>8.2f}{r['sign'][3]:>7.2f}")
        ratios = [o["sign"][i] / w["sign"][i] for i in range(4)]
        print(f"{n:>8} {'x':<4}" + "".join(f"{x:>8.2f}{y:>7.2f}" for x, y in (ratios[:2], ratios[2:])))
    print("x: old / new (the speed-up); signatures byte-identical old and new at every size")
    print()
    print("verify (audit_batch): orders/s by the wall clock and per CPU-second of all processes and threads")
    print(f"{'traders':>8} {'path':<22}{'1 thread':>9}{'per CPU':>10}{'1 proc':>9}{'per CPU':>10}"
          f"{'2 procs':>9}{'per CPU':>10}")
    for o, w in zip(old, new, strict=True):
        n = o["n"]
        rows = [("old: recovery", _old_verify(o))] + [(f"new: {mode}", w["verify"][mode]) for mode in MODES]
        for name, (one, threads, two) in rows:
            print(f"{n:>8} {name:<22}{_rates(n, one)}{_rates(n, threads)}{_rates(n, two)}")
        base, fast = w["verify"]["recovery"], w["verify"]["keys known"]
        print(f"{n:>8} {'x keys known/recovery':<22}" + "".join(
            f"{b[0] / f[0]:>9.2f}{b[1] / f[1]:>10.2f}" for b, f in zip(base, fast, strict=True)))
    print("recovery: one libsecp256k1 recovery per order (the batch verifier off); first sight: the verifier "
          "on, no key known yet (every order recovered, its key remembered); keys known: the traders' keys "
          "remembered from an earlier slot (every order batch-verified); x: speed-up of keys known over "
          "recovery (wall, per CPU)")
    load1 = os.getloadavg()
    print(f"load average at end {load1[0]:.1f} / {load1[1]:.1f} / {load1[2]:.1f}: other jobs share the 2 cores, so "
          "wall rates drop with load; the per-CPU-second rates much less")


if __name__ == "__main__":
    main()
