"""Benchmark the ledger on the embedded py-evm chain.

Rows:
- commit + endorse one slot of N orders (off chain: order Merkle tree, k-of-n EIP-712 signatures; on chain:
  open_slot, commit_orders, submit_result). Goal: <= 2 s for 10,000 orders. Naive baseline: one
  transaction per order (an ERC-20 approve, i.e. one storage write, stands in for "store an order"),
  timed on a sample and extrapolated linearly to N.
- settle a P-prosumer slot in one batch transaction (settle_batch). Goal: <= 1 s for 55 prosumers.
  Naive baseline: one token transfer transaction per prosumer, run side by side.
- gas of every operation, and the Merkle claim gas per account for trees of 55 and 10,000 leaves.

Run: .venv/bin/python benchmarks/bench_chain.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from eth_utils import keccak

from transactive.ledger.chain.base import Chain
from transactive.ledger.chain.connect import ENGINES, open_local_chain
from transactive.ledger.chain.constants import PYEVM
from transactive.ledger.messages.commitments import ME_LEAF, SettlementTree
from transactive.ledger.testing import (
    MODE_BATCH,
    MODE_CLAIMS,
    ROLE_PROSUMER,
    Deployment,
    bus,
    deploy_suite,
    sign_endorsement,
)

MAX_UINT = 2**256 - 1


def _order_tree(n_orders: int, slot: int) -> SettlementTree:
    """A stand-in order batch: n leaves of (slot, owner, energy, price) as a StandardMerkleTree."""
    owners = [f"0x{(i % 55) + 1:040x}" for i in range(n_orders)]
    return SettlementTree.build([(slot, owners[i], 100 + i, 200_000 + 37 * i) for i in range(n_orders)])


def bench_commit_endorse(dep: Deployment, n_orders: int, slot: int) -> dict[str, float]:
    c = dep.chain
    t0 = time.perf_counter()
    order_root = _order_tree(n_orders, slot).root
    t_tree = time.perf_counter() - t0
    auctioneer = str(c.call(dep.slots, "auctioneer_of", slot))
    r_open = c.transact(dep.slots, "open_slot", slot, MODE_BATCH, sender=auctioneer)
    r_commit = c.transact(dep.slots, "commit_orders", slot, order_root, n_orders, sender=auctioneer)
    result_root = keccak(text=f"result-{slot}")
    sigs = [sign_endorsement(c.private_key(v), c.chain_id, dep.slots.address, slot, order_root, result_root)
            for v in dep.validators[:3]]
    r_submit = c.transact(dep.slots, "submit_result", slot, result_root, sigs, sender=dep.validators[0])
    total = time.perf_counter() - t0
    # the same open and commit as one transaction, on the next slot of the same auctioneer (n = 4 validators)
    r_both = c.transact(dep.slots, "open_and_commit", slot + 4, MODE_BATCH, order_root, n_orders, sender=auctioneer)
    return {"time_s": total, "tree_s": t_tree, "gas_open": r_open.gas_used, "gas_commit": r_commit.gas_used,
            "gas_submit": r_submit.gas_used, "gas_open_and_commit": r_both.gas_used}


def bench_naive_orders(dep: Deployment, sample: int) -> float:
    c = dep.chain
    t0 = time.perf_counter()
    for i in range(sample):
        owner = dep.prosumers[i % len(dep.prosumers)]
        c.transact(dep.token, "approve", dep.slots.address, i + 1, sender=owner)
    return (time.perf_counter() - t0) / sample


def add_prosumers(dep: Deployment, chain: Chain, count: int) -> list[str]:
    extra = list(chain.accounts[12:12 + count])
    for i, account in enumerate(extra):
        chain.transact(dep.registry, "set_member", account, ROLE_PROSUMER, bus(f"lv-{i}"))
        chain.transact(dep.token, "mint", account, 1_000 * 10**6)
        chain.transact(dep.token, "approve", dep.slots.address, MAX_UINT, sender=account)
    return extra


def settlement_rows(slot: int, prosumers: list[str], dso: str) -> list[tuple[int, str, int, int]]:
    """Half buy, half sell; debits D = ME, rewards 1% + 1% of ME; the DSO's grid charge takes what the sellers
    do not."""
    buyers, sellers = prosumers[: len(prosumers) // 2], prosumers[len(prosumers) // 2:]
    rows = [(slot, b, 1_000 + i, -(150_000 + 1_000 * i)) for i, b in enumerate(buyers)]
    debits = -sum(r[3] for r in rows)
    credits_total = debits - 2 * (debits * 10_000 // 1_000_000)
    per_seller = credits_total * 9 // 10 // len(sellers)
    rows += [(slot, s, -(900 + i), per_seller) for i, s in enumerate(sellers)]
    rows.append((slot, dso, 0, credits_total - per_seller * len(sellers)))
    rows.append((slot, ME_LEAF, 0, debits))  # the market exchange ME, the rewards' base (moves no token)
    return rows


def bench_settle(dep: Deployment, prosumers: list[str], slot: int) -> dict[str, float]:
    c = dep.chain
    rows = settlement_rows(slot, prosumers, dep.dso)
    auctioneer = str(c.call(dep.slots, "auctioneer_of", slot))
    c.transact(dep.slots, "open_slot", slot, MODE_BATCH, sender=auctioneer)
    c.transact(dep.slots, "commit_orders", slot, keccak(text="orders"), len(rows), sender=auctioneer)
    tree = SettlementTree.build(rows)
    sigs = [sign_endorsement(c.private_key(v), c.chain_id, dep.slots.address, slot, keccak(text="orders"),
                             tree.root) for v in dep.validators[:3]]
    c.transact(dep.slots, "submit_result", slot, tree.root, sigs, sender=dep.validators[0])
    t0 = time.perf_counter()
    tree = SettlementTree.build(rows)
    receipt = c.transact(dep.slots, "settle_batch", slot, [(a, e, m) for _, a, e, m in tree.rows])
    return {"time_s": time.perf_counter() - t0, "gas": receipt.gas_used, "rows": len(rows)}


def bench_settle_max_rows(dep: Deployment, prosumers: list[str], slot: int) -> dict[str, float]:
    """A batch at the MAX_ROWS limit: the 55-prosumer rows plus zero rows (accounts that did not trade)."""
    c = dep.chain
    rows = settlement_rows(slot, prosumers, dep.dso)
    rows += [(slot, f"0x{i + 1:040x}", 0, 0) for i in range(128 - len(rows))]
    auctioneer = str(c.call(dep.slots, "auctioneer_of", slot))
    c.transact(dep.slots, "open_slot", slot, MODE_BATCH, sender=auctioneer)
    c.transact(dep.slots, "commit_orders", slot, keccak(text="orders"), len(rows), sender=auctioneer)
    tree = SettlementTree.build(rows)
    sigs = [sign_endorsement(c.private_key(v), c.chain_id, dep.slots.address, slot, keccak(text="orders"),
                             tree.root) for v in dep.validators[:3]]
    c.transact(dep.slots, "submit_result", slot, tree.root, sigs, sender=dep.validators[0])
    t0 = time.perf_counter()
    receipt = c.transact(dep.slots, "settle_batch", slot, [(a, e, m) for _, a, e, m in tree.rows])
    return {"time_s": time.perf_counter() - t0, "gas": receipt.gas_used, "rows": len(rows)}


def bench_naive_transfers(dep: Deployment, prosumers: list[str]) -> float:
    c = dep.chain
    t0 = time.perf_counter()
    for i, p in enumerate(prosumers):
        c.transact(dep.token, "transfer", prosumers[(i + 1) % len(prosumers)], 1_000, sender=p)
    return time.perf_counter() - t0


def bench_claims(dep: Deployment, prosumers: list[str], n_leaves: int, slot: int) -> dict[str, float]:
    """A claims-mode slot whose tree has n_leaves (padding leaves for accounts that never claim)."""
    c = dep.chain
    buyer, seller = prosumers[0], prosumers[1]
    auctioneer = str(c.call(dep.slots, "auctioneer_of", slot))
    c.transact(dep.slots, "open_slot", slot, MODE_CLAIMS, sender=auctioneer)
    c.transact(dep.slots, "deposit_escrow", slot, 500_000, sender=buyer)
    c.transact(dep.slots, "commit_orders", slot, keccak(text="orders"), n_leaves, sender=auctioneer)
    rows = [(slot, buyer, 1_000, -400_000), (slot, seller, -1_000, 400_000)]
    rows += [(slot, f"0x{i + 1:040x}", 0, 0) for i in range(n_leaves - 2)]
    tree = SettlementTree.build(rows)
    sigs = [sign_endorsement(c.private_key(v), c.chain_id, dep.slots.address, slot, keccak(text="orders"),
                             tree.root) for v in dep.validators[:3]]
    c.transact(dep.slots, "submit_result", slot, tree.root, sigs, sender=dep.validators[0])
    gas = []
    t0 = time.perf_counter()
    for row in rows[:2]:
        gas.append(c.transact(dep.slots, "claim", *row, tree.proof(row)).gas_used)
    return {"time_s": (time.perf_counter() - t0) / 2, "gas_debit": gas[0], "gas_credit": gas[1],
            "depth": len(tree.proof(rows[0]))}


def bench_negawatt(dep: Deployment, n_offers: int) -> dict[str, float]:
    """Gas and time of NegawattAuction.clear sent as a transaction (worst case: every offer wins)."""
    offers = [(1_000 + 37 * i, 1_000_000 + 10_000 * ((i * 7919) % n_offers)) for i in range(n_offers)]
    target = sum(e for e, _ in offers) - 500
    t0 = time.perf_counter()
    receipt = dep.chain.transact(dep.auction, "clear", target, 10**9, offers)
    return {"time_s": time.perf_counter() - t0, "gas": receipt.gas_used}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--engine", choices=ENGINES, default=PYEVM, help="the in-process chain engine (default pyevm)")
    args = parser.parse_args(argv)
    order_sizes = [1_000] if args.quick else [1_000, 10_000]
    n_prosumers = 10 if args.quick else 55
    claim_sizes = [55] if args.quick else [55, 10_000]
    naive_sample = 20 if args.quick else 100

    chain = open_local_chain(engine=args.engine, n_accounts=12 + n_prosumers)
    dep = deploy_suite(chain)
    extra = add_prosumers(dep, chain, n_prosumers)

    print("commit + endorse one slot (embedded chain, k = 3 of n = 4)")
    print(f"{'orders':>8} {'time s':>8} {'tree s':>8} {'naive s (extrap.)':>18} {'ratio':>8}")
    per_order = bench_naive_orders(dep, naive_sample)
    for slot, n in zip(range(100, 200, 8), order_sizes, strict=False):
        r = bench_commit_endorse(dep, n, slot)
        naive = per_order * n
        print(f"{n:>8} {r['time_s']:>8.3f} {r['tree_s']:>8.3f} {naive:>18.1f} {naive / r['time_s']:>8.0f}")
    print(f"gas: open_slot {r['gas_open']:,}  commit_orders {r['gas_commit']:,}  (or open_and_commit "
          f"{r['gas_open_and_commit']:,})  submit_result {r['gas_submit']:,} (3 signatures)")

    print(f"\nsettle one slot in a batch ({n_prosumers} prosumers + DSO)")
    s = bench_settle(dep, extra, 200)
    naive_t = bench_naive_transfers(dep, extra)
    print(f"{'rows':>8} {'time s':>8} {'gas':>12} {'gas/row':>8} {'naive s':>8} {'ratio':>8}")
    print(f"{s['rows']:>8} {s['time_s']:>8.3f} {s['gas']:>12,} {s['gas'] // s['rows']:>8,} {naive_t:>8.3f} "
          f"{naive_t / s['time_s']:>8.1f}")

    m = bench_settle_max_rows(dep, extra, 201)
    print(f"{m['rows']:>8} {m['time_s']:>8.3f} {m['gas']:>12,} {m['gas'] // m['rows']:>8,} {'-':>8} {'-':>8}"
          "  (MAX_ROWS: padded with zero rows)")

    print("\nMerkle claims (per account)")
    print(f"{'leaves':>8} {'depth':>6} {'gas debit':>10} {'gas credit':>11} {'time s':>8}")
    for slot, n in enumerate(claim_sizes, start=300):
        cl = bench_claims(dep, extra, n, slot)
        print(f"{n:>8} {cl['depth']:>6} {cl['gas_debit']:>10,} {cl['gas_credit']:>11,} {cl['time_s']:>8.3f}")

    print("\non-chain negawatt auction (knapsack + VCG), every offer a winner")
    print(f"{'offers':>8} {'gas':>12} {'time s':>8}")
    for n in [8, 64] if not args.quick else [8]:
        ng = bench_negawatt(dep, n)
        print(f"{n:>8} {ng['gas']:>12,} {ng['time_s']:>8.3f}")


if __name__ == "__main__":
    main()
