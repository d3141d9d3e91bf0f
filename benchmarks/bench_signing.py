"""Benchmark: one signature per trader per slot against two, side by side (issue 13).

For n traders (10^3, 10^4, 10^5; one block each, with grid attributes as ``dpda_matched`` needs):

* **two signatures** (today's path before issue 13): each trader signs its ``Order`` and, separately, its
  ``Attributes``; verified by that code's ``audit_batch`` (orders, then attributes);
* **one signature** (version 2): the ``Order`` carries ``attributesHash``, one signature per trader; verified
  by ``audit_batch`` = ``verify_batch`` (digests precomputed, signatures recovered in chunks on the pool's
  processes, 20-byte addresses compared).

Columns: signing (wall and CPU s, one process), verification in 1 process and in 2 (a warm
:class:`WorkerPool`, the desk's kind): orders/s by the wall clock and orders per CPU-second (all processes),
and the ratio new / old. The old path runs from the code before the change when ``--baseline-src`` (default
``/work/main/src``) still holds it; once merged, the two-signature column is the version-1 path of this code
(what reading an older archive costs). Each side runs in its own subprocess (own imports, own pools).

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/bench_signing.py [--sizes 1000,10000,100000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SLOT = 9
CHAIN_ID = 31337
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
HERE_SRC = Path(__file__).resolve().parents[1] / "src"


# --------------------------------------------------------------------------- child: one code base
def _signed(n: int, two_signatures: bool) -> tuple[Any, float, float]:
    """``(batch, signing wall s, signing CPU s)`` for n traders (keys 1..n), messages built and signed."""
    from transactive.crypto.eip712 import Domain
    from transactive.crypto.signing import Signer
    from transactive.ledger.audit.proofs import SlotBatch
    from transactive.ledger.messages.attributes import ParticipantAttributes, SignedAttributes, sign_attributes
    from transactive.ledger.messages.orders import OrderMessage, sign_order

    domain = Domain(chain_id=CHAIN_ID, verifying_contract=CONTRACT)
    signers = [Signer((k + 1).to_bytes(32, "big")) for k in range(n)]  # key set-up is not signing: untimed
    w0, c0 = time.perf_counter(), time.process_time()
    orders, attributes = [], []
    for k, s in enumerate(signers):
        record = ParticipantAttributes(s.address, SLOT, str(k % 900 + 1), 100_000 + k, 10_000_000, 10**9, 5 * 10**8)
        if two_signatures:
            fields = (s.address, SLOT, k % 2, 1000 + k % 5000, 150_000 + k % 1000, 0)
            if hasattr(OrderMessage, "version"):  # this code: the version-1 message of older archives
                fields = (*fields, None)  # type: ignore[assignment]
            orders.append(sign_order(s, OrderMessage(*fields), domain))
            attributes.append(sign_attributes(s, record, domain))
        else:
            message = OrderMessage(s.address, SLOT, k % 2, 1000 + k % 5000, 150_000 + k % 1000, 0,
                                   record.struct_hash())
            orders.append(sign_order(s, message, domain))
            attributes.append(SignedAttributes(record))
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return SlotBatch(domain, SLOT, tuple(orders), attributes=tuple(attributes)), wall, cpu


def _verify(batch: Any, workers: int, repeat: int) -> tuple[float, float]:
    """``(best wall s, CPU s of that run, all processes)`` of ``audit_batch`` with a warm pool."""
    from transactive.crypto.signing import WorkerPool
    from transactive.ledger.audit.proofs import audit_batch

    with WorkerPool(workers=workers) as pool:
        if workers > 1:
            pool.start()
            small = type(batch)(batch.domain, batch.slot, batch.orders[:4096], attributes=batch.attributes[:4096])
            audit_batch(small, pool=pool)  # the workers import the code and are warm
        best = (float("inf"), 0.0)
        for _ in range(repeat):
            c0 = time.process_time() + pool.cpu_seconds()
            w0 = time.perf_counter()
            problems = audit_batch(batch, pool=pool)
            wall = time.perf_counter() - w0
            cpu = time.process_time() + pool.cpu_seconds() - c0
            assert problems == [], problems[:3]
            best = min(best, (wall, cpu))
    return best


def child(sizes: list[int], two_signatures: bool) -> None:
    for n in sizes:
        batch, sign_wall, sign_cpu = _signed(n, two_signatures)
        repeat = 1 if n >= 100_000 else 2
        one = _verify(batch, 1, repeat)
        two = _verify(batch, 2, repeat)
        print(json.dumps({"n": n, "signatures": len(batch.orders) + sum(a.signature is not None
                                                                         for a in batch.attributes),
                          "sign": [sign_wall, sign_cpu], "verify1": list(one), "verify2": list(two)}), flush=True)


# --------------------------------------------------------------------------- parent: both, side by side
def _run_child(src: Path, sizes: list[int], two_signatures: bool) -> list[dict[str, Any]]:
    args = [sys.executable, __file__, "--child", ",".join(map(str, sizes))]
    if two_signatures:
        args.append("--two-signatures")
    env = dict(os.environ, PYTHONPATH=str(src))
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"benchmark child failed ({src}):\n{done.stderr}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def _has_version_2(src: Path) -> bool:
    return "ORDER_V1_FIELDS" in (src / "transactive" / "crypto" / "eip712.py").read_text(encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="numbers of traders (comma-separated)")
    parser.add_argument("--baseline-src", default="/work/main/src", help="the code before the change (src dir)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--two-signatures", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",")]
    if args.child is not None:
        child([int(x) for x in args.child.split(",")], args.two_signatures)
        return
    baseline = Path(args.baseline_src)
    if baseline.is_dir() and not _has_version_2(baseline):
        old_src, old_label = baseline, f"two signatures: the code before the change ({baseline})"
    else:
        old_src, old_label = HERE_SRC, "two signatures: version-1 messages through this code"
    load0 = os.getloadavg()
    print(f"signing and signed-order verification, {os.cpu_count()} cores, load average "
          f"{load0[0]:.1f} / {load0[1]:.1f} / {load0[2]:.1f} (1/5/15 min) at start")
    print(f"old = {old_label}\nnew = one signature per trader (version 2, {HERE_SRC})")
    old = _run_child(old_src, sizes, two_signatures=True)
    new = _run_child(HERE_SRC, sizes, two_signatures=False)
    head = (f"{'traders':>8} {'path':<4}{'sigs':>8}{'sign s':>8}{'sign CPU':>9}"
            f"{'1 proc/s':>10}{'per CPU-s':>10}{'2 proc/s':>10}{'per CPU-s':>10}")
    print(head)
    for o, w in zip(old, new, strict=True):
        for name, r in (("old", o), ("new", w)):
            n = r["n"]
            print(f"{n:>8} {name:<4}{r['signatures']:>8}{r['sign'][0]:>8.2f}{r['sign'][1]:>9.2f}"
                  f"{n / r['verify1'][0]:>10,.0f}{n / r['verify1'][1]:>10,.0f}"
                  f"{n / r['verify2'][0]:>10,.0f}{n / r['verify2'][1]:>10,.0f}")
        print(f"{o['n']:>8} {'x':<4}{w['signatures'] / o['signatures']:>8.2f}{w['sign'][0] / o['sign'][0]:>8.2f}"
              f"{w['sign'][1] / o['sign'][1]:>9.2f}{o['verify1'][0] / w['verify1'][0]:>10.2f}"
              f"{o['verify1'][1] / w['verify1'][1]:>10.2f}{o['verify2'][0] / w['verify2'][0]:>10.2f}"
              f"{o['verify2'][1] / w['verify2'][1]:>10.2f}")
    load1 = os.getloadavg()
    print("x: new / old for signatures and signing time, old / new time (the speed-up) for verification")
    print(f"load average at end {load1[0]:.1f} / {load1[1]:.1f} / {load1[2]:.1f}: other jobs share the 2 cores, so "
          "wall rates drop with load; the per-CPU-second rates do not")


if __name__ == "__main__":
    main()
