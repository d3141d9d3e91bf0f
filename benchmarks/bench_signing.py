"""Benchmark: signed-order verification (hash + recover) and Merkle commitments.

Rows:
* verification rate of signed orders: eth-account's plain path (``encode_typed_data`` +
  ``Account.recover_message``, the baseline) vs Transactive's fast path (fixed-layout EIP-712 hashing +
  coincurve recovery) on one core and on all cores (process pool, warm and including pool start-up);
* Merkle commitment of n orders: order tree root and every proof, fast path vs a straightforward reference
  (eth-abi encoding, eth-utils keccak, node-by-node recursion with memoisation).

Run: ``/work/venv/bin/python benchmarks/bench_signing.py [--quick]``.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

from eth_abi import encode as eth_abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak as eth_utils_keccak

from transactive.crypto.eip712 import DOMAIN_FIELDS, ORDER_FIELDS, Domain
from transactive.crypto.merkle import MerkleTree, verify
from transactive.crypto.signing import Signer, WorkerPool, available_cores, new_private_key
from transactive.ledger.messages.commitments import order_tree
from transactive.ledger.messages.nonces import InMemoryNonceStore
from transactive.ledger.messages.orders import (
    OrderMessage,
    SignedOrder,
    recover_order_signers,
    sign_order,
    verify_orders,
)

DOMAIN = Domain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")
EIP712_TYPES = {
    name: [{"name": f, "type": t} for f, t in fields]
    for name, fields in (("EIP712Domain", DOMAIN_FIELDS), ("Order", ORDER_FIELDS))
}


def _timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _cpu_seconds() -> float:
    """CPU time of this process plus its finished children (worker pools that were shut down)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def make_messages(n: int, signers: list[Signer], rng: random.Random) -> list[OrderMessage]:
    return [
        OrderMessage(
            signers[k % len(signers)].address,
            slot=rng.randint(0, 35_135),
            side=k % 2,
            energy_wh=rng.randint(1, 50_000),
            price_micro_per_kwh=rng.randint(0, 500_000),
            nonce=k,
        )
        for k in range(n)
    ]


def eth_account_recover(orders: list[SignedOrder]) -> list[str]:
    """Baseline: the library's plain path, one order at a time."""
    out = []
    for o in orders:
        signable = encode_typed_data(
            full_message={
                "types": EIP712_TYPES,
                "primaryType": "Order",
                "domain": DOMAIN.as_dict(),
                "message": o.message.as_eip712(),
            }
        )
        out.append(Account.recover_message(signable, signature=o.signature))
    return out


def reference_tree(struct_hashes: list[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """Straightforward OZ StandardMerkleTree (sorted leaves): eth-abi + eth-utils, recursive nodes."""
    leaves = [eth_utils_keccak(eth_utils_keccak(eth_abi_encode(["bytes32"], [h]))) for h in struct_hashes]
    n = len(leaves)
    order = sorted(range(n), key=lambda k: leaves[k])
    size = 2 * n - 1
    at = {size - 1 - j: leaves[k] for j, k in enumerate(order)}
    position = {k: size - 1 - j for j, k in enumerate(order)}

    @functools.cache
    def node(i: int) -> bytes:
        if i in at:
            return at[i]
        a, b = sorted([node(2 * i + 1), node(2 * i + 2)])
        return eth_utils_keccak(a + b)

    for i in range(size - 1, -1, -1):  # bottom-up warm-up keeps the recursion shallow
        node(i)
    proofs = []
    for k in range(n):
        i, path = position[k], []
        while i:
            path.append(node(i + 1 if i % 2 else i - 1))
            i = (i - 1) // 2
        proofs.append(path)
    return node(0), proofs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a few seconds)")
    args = parser.parse_args(argv)
    rng = random.Random(2026)
    signers = [Signer(new_private_key(rng)) for _ in range(200)]
    cores = available_cores()

    n_verify = 4_000 if args.quick else 20_000
    n_baseline = 200 if args.quick else 1_000
    messages = make_messages(n_verify, signers, rng)
    by_address = {s.address: s for s in signers}
    orders = [sign_order(by_address[m.trader], m, DOMAIN) for m in messages]

    load = os.getloadavg()[0]
    print(f"signed-order verification (hash + recover), {cores} core(s), load average {load:.1f} at start")
    print(
        f"{'path':<44}{'orders':>8}{'wall s':>9}{'orders/s':>11}{'x base':>8}"
        f"{'orders/CPU-s':>14}{'x base':>8}"
    )
    c0 = _cpu_seconds()
    t_base, recovered = _timed(lambda: eth_account_recover(orders[:n_baseline]))
    cpu_base = _cpu_seconds() - c0
    assert recovered == [o.message.trader for o in orders[:n_baseline]]
    base_rate = n_baseline / t_base
    base_per_cpu = n_baseline / cpu_base

    def row(name: str, n: int, seconds: float, cpu: float | None) -> None:
        rate = n / seconds
        per_cpu = f"{n / cpu:>14,.0f}{n / cpu / base_per_cpu:>8.1f}" if cpu else ""
        print(f"{name:<44}{n:>8}{seconds:>9.3f}{rate:>11,.0f}{rate / base_rate:>8.1f}{per_cpu}")

    row("eth-account encode_typed_data + recover", n_baseline, t_base, cpu_base)
    expected = [o.message.trader_bytes for o in orders]
    c0 = _cpu_seconds()
    t1, got = _timed(lambda: recover_order_signers(orders, DOMAIN, workers=1))
    cpu1 = _cpu_seconds() - c0
    assert got == expected
    row("fast path, 1 process", n_verify, t1, cpu1)
    c0 = _cpu_seconds()
    t_cold, got = _timed(lambda: recover_order_signers(orders, DOMAIN, workers=cores))
    cpu_cold = _cpu_seconds() - c0  # includes the workers (the temporary pool has exited)
    assert got == expected
    row(f"fast path, {cores} processes (incl. pool start)", n_verify, t_cold, cpu_cold)
    with WorkerPool(workers=cores) as pool:
        pool.start()
        recover_order_signers(orders[: pool.parallel_threshold * 2], DOMAIN, pool=pool)  # warm the workers
        t_warm, got = _timed(lambda: recover_order_signers(orders, DOMAIN, pool=pool), repeat=3)
        assert got == expected
        row(f"fast path, {cores} processes (warm pool, best of 3)", n_verify, t_warm, None)
        t_full, batch = _timed(
            lambda: verify_orders(orders, DOMAIN, slot=None, nonce_store=InMemoryNonceStore(), pool=pool)
        )
        assert len(batch.accepted) == n_verify
        row(f"verify_orders + nonce store, {cores} proc.", n_verify, t_full, None)
    t1b, _ = _timed(lambda: recover_order_signers(orders, DOMAIN, workers=1))
    row("fast path, 1 process (again, load drift)", n_verify, t1b, None)
    print(f"load average at end {os.getloadavg()[0]:.1f} (other jobs share the cores: wall rates vary)")

    print()
    print("Merkle commitment of n orders (order tree root + every proof)")
    print(f"{'n':>8}{'leaves+root s':>15}{'all proofs s':>14}{'total s':>10}{'reference s':>13}{'x ref':>8}")
    sizes = [1_000, 10_000] if args.quick else [10_000, 100_000]
    for n in sizes:
        msgs = make_messages(n, signers, rng)
        t_root, tree = _timed(lambda msgs=msgs: order_tree(msgs))
        t_proofs, proofs = _timed(tree.proofs)
        total = t_root + t_proofs
        struct_hashes = [m.struct_hash() for m in msgs]
        t_ref, (ref_root, ref_proofs) = _timed(lambda sh=struct_hashes: reference_tree(sh))
        assert ref_root == tree.root and ref_proofs == proofs
        check = rng.sample(range(n), 100)
        assert all(verify(tree.root, tree.leaf(k), proofs[k]) for k in check)
        assert isinstance(tree, MerkleTree)
        print(f"{n:>8}{t_root:>15.3f}{t_proofs:>14.3f}{total:>10.3f}{t_ref:>13.3f}{t_ref / total:>8.1f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
