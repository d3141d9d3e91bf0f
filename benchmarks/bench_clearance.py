"""Benchmark one Proof-of-Clearance round (seed 001 Fig. 4) on the embedded chain.

A slot of N signed single-block orders (N distinct traders, random sides and prices, mechanism ``uniform``)
goes through: the auctioneer opens the slot and commits the order root; each of the 4 validators
recomputes the clearing from the batch (re-verify every order signature, convert, clear, build the
result root) and signs the endorsement; the roots are compared (k = 3 of n = 4); the miner submits the
result with 3 signatures. Time per step (one validator's recomputation is shown, the 4 in-process
validators run one after the other).

Naive baseline, side by side: one validator's recomputation with every order signature checked by
eth-account (``encode_typed_data`` + ``Account.recover_message``, timed on a sample and extrapolated
linearly to N) instead of the fixed-layout fast path; the ratio is naive / fast for one validator.

Grid-aware case (``dpda_matched`` on the IEEE European LV feeder): a generated community (55 prosumers, one
per load bus, and N = 10,000 with prosumers sharing buses) signs orders *and* attributes
(:mod:`transactive.ledger.messages.attributes`), the DSO is named; the same round is timed side by side with the
same orders cleared by ``uniform`` without attributes (the baseline), and the ratio is grid / uniform.
"commit + endorse" = the auctioneer's steps + the 4 validators + the comparison + ``submit_result``.

Run: .venv/bin/python benchmarks/bench_clearance.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from eth_account import Account
from eth_account.messages import encode_typed_data

from transactive.crypto.eip712 import Domain
from transactive.crypto.signing import Signer, WorkerPool, new_private_key
from transactive.ledger.audit.proofs import SlotBatch
from transactive.ledger.chain.base import Chain
from transactive.ledger.chain.connect import open_local_chain
from transactive.ledger.clearance.protocol import Validator, collect, domain_of, recompute, submit
from transactive.ledger.messages.batch import at_batch_resolution, signed_market_batch
from transactive.ledger.messages.commitments import result_tree
from transactive.ledger.messages.orders import OrderMessage, SignedOrder, sign_order
from transactive.ledger.testing import MODE_BATCH, Deployment, deploy_suite
from transactive.marketfile import parse_market
from transactive.sim.scenario import generate_scenario

K = 3


def make_batch(n: int, domain: Domain, slot: int) -> SlotBatch:
    rng = random.Random(n)
    orders = []
    for j in range(n):
        s = Signer(new_private_key(rng))
        side = rng.randint(0, 1)
        msg = OrderMessage(s.address, slot, side, rng.randint(100, 5_000), rng.randint(50_000, 300_000), j)
        orders.append(sign_order(s, msg, domain))
    return SlotBatch(domain, slot, tuple(orders), mechanism="uniform", params={})


def eth_account_verify(orders: list[SignedOrder], batch: SlotBatch) -> float:
    """Seconds to check ``orders`` with eth-account's plain EIP-712 path."""
    t0 = time.perf_counter()
    for o in orders:
        typed = o.message.typed_data(batch.domain)
        signable = encode_typed_data(full_message=typed)
        assert Account.recover_message(signable, signature=o.signature) == o.message.trader
    return time.perf_counter() - t0


def run(n: int, slot: int, naive_sample: int, pool: WorkerPool | None) -> None:
    chain = open_local_chain()
    dep = deploy_suite(chain)
    batch = make_batch(n, domain_of(chain, dep.slots), slot)
    recompute(make_batch(20, batch.domain, slot))  # warm-up: imports the mechanism registry once
    validators = [Validator(chain.private_key(v), pool=pool) for v in dep.validators]
    times: dict[str, float] = {}

    t0 = time.perf_counter()
    auctioneer = validators[slot % len(validators)].address
    chain.transact(dep.slots, "open_slot", slot, MODE_BATCH, sender=auctioneer)
    order_root = batch.order_root
    chain.transact(dep.slots, "commit_orders", slot, order_root, n, sender=auctioneer)
    times["auctioneer: order root + open + commit"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    entries = recompute(batch, pool=pool)
    times["1 validator: verify + clear"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    result_tree(slot, entries)
    times["1 validator: result root"] = time.perf_counter() - t0

    t0, c0 = time.perf_counter(), cpu_now(pool)
    answers = [v.endorse(batch) for v in validators]
    times["4 validators: recompute + root + sign"] = time.perf_counter() - t0
    validators_cpu = cpu_now(pool) - c0
    t0 = time.perf_counter()
    collected = collect(batch, answers, validators=dep.validators, k=K)
    times["compare roots (3-of-4)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    submit(chain, dep.slots, collected, [dep.validators[(slot + 1) % 4]], K)
    times["miner: submit_result"] = time.perf_counter() - t0
    assert chain.call(dep.slots, "slots", slot)[6] == collected.result_root
    commit_endorse = sum(v for k, v in times.items() if not k.startswith("1 validator"))

    fast_one = times["1 validator: verify + clear"] + times["1 validator: result root"]
    sample = list(batch.orders[:naive_sample])
    naive_verify = eth_account_verify(sample, batch) / len(sample) * n
    t0 = time.perf_counter()
    result_tree(slot, recompute(batch, verify=False))
    naive_one = naive_verify + (time.perf_counter() - t0)
    print(f"\n{n:,} orders, {len(entries):,} result entries")
    print(f"{'step':<42} {'time s':>8}")
    for step, seconds in times.items():
        print(f"{step:<42} {seconds:>8.3f}")
    print(f"{'one validator, naive (eth-account, extrap.)':<42} {naive_one:>8.3f}   ratio naive/fast "
          f"{naive_one / fast_one:.1f}")
    print(f"{'commit + endorse (auctioneer, 4 val., submit)':<42} {commit_endorse:>8.3f}   goal <= 2 s: "
          f"{'met' if commit_endorse <= 2.0 else 'NOT met'}; the 4 validators used {validators_cpu:.2f} CPU s "
          f"(this process + pool workers; /2 = {validators_cpu / 2:.2f} s on 2 free cores); load average "
          f"{os.getloadavg()[0]:.1f}")
    chain.close()


def grid_batch(n: int, domain: Domain, slot: int, dso: str) -> SlotBatch:
    """A signed dpda_matched batch of ``n`` generated prosumers on the IEEE LV feeder."""
    doc = at_batch_resolution(generate_scenario(n, "cooperative", seed=n).to_market("dpda_matched"))
    market = parse_market(doc)
    rng = random.Random(n)
    signers = {pid: Signer(new_private_key(rng)) for pid in (*market.sellers.ids, *market.buyers.ids)}
    return signed_market_batch(market, signers, domain=domain, slot=slot, params=doc["params"], dso=dso)


def round_times(chain: Chain, dep: Deployment, batch: SlotBatch, pool: WorkerPool | None
                ) -> tuple[dict[str, float], int]:
    """Seconds per step of one round of ``batch`` (fresh slot), and the number of result entries."""
    slot = batch.slot
    validators = [Validator(chain.private_key(v)) for v in dep.validators]
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    auctioneer = validators[slot % len(validators)].address
    chain.transact(dep.slots, "open_slot", slot, MODE_BATCH, sender=auctioneer)
    chain.transact(dep.slots, "commit_orders", slot, batch.order_root, len(batch.orders), sender=auctioneer)
    times["auctioneer: order root + open + commit"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    entries = recompute(batch, pool=pool)
    times["1 validator: verify + clear"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    result_tree(slot, entries)
    times["1 validator: result root"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    answers = [v.endorse(batch) for v in validators]
    times["4 validators: recompute + root + sign"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    collected = collect(batch, answers, validators=dep.validators, k=K)
    times["compare roots (3-of-4)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    submit(chain, dep.slots, collected, [dep.validators[(slot + 1) % 4]], K)
    times["miner: submit_result"] = time.perf_counter() - t0
    times["commit + endorse (all of the above but rows 2-3)"] = sum(
        v for k, v in times.items() if not k.startswith("1 validator"))
    return times, len(entries)


def run_grid(n: int, slot: int, pool: WorkerPool | None) -> None:
    chain = open_local_chain()
    dep = deploy_suite(chain)
    domain = domain_of(chain, dep.slots)
    grid = grid_batch(n, domain, slot, dep.dso)
    plain = replace(grid, slot=slot + 1000, mechanism="uniform", params={}, attributes=(), dso=None)
    # the uniform baseline needs its orders signed for its own slot number
    rng = random.Random(-n)
    resigned = []
    for o in grid.orders:
        s = Signer(new_private_key(rng))
        m = o.message
        resigned.append(sign_order(s, OrderMessage(s.address, plain.slot, m.side, m.energy_wh,
                                                   m.price_micro_per_kwh, m.nonce), domain))
    plain = replace(plain, orders=tuple(resigned))
    recompute(grid_batch(10, domain, slot, dep.dso))  # warm-up: registry, feeder, distances
    base, _ = round_times(chain, dep, plain, pool)
    times, n_entries = round_times(chain, dep, grid, pool)
    print(f"\ndpda_matched on the IEEE LV feeder: {n:,} prosumers, {len(grid.orders):,} orders + "
          f"{len(grid.attributes):,} attributes records, {n_entries:,} result entries (incl. the DSO)")
    print(f"{'step':<50} {'uniform s':>10} {'dpda_matched s':>15} {'ratio':>6}")
    for step, seconds in times.items():
        print(f"{step:<50} {base[step]:>10.3f} {seconds:>15.3f} {seconds / max(base[step], 1e-9):>6.1f}")
    chain.close()


def cpu_now(pool: WorkerPool | None) -> float:
    """CPU seconds used so far by this process and the pool's live workers (Linux ``/proc``)."""
    return time.process_time() + (pool.cpu_seconds() if pool is not None else 0.0)


def _noop(items: list[int]) -> list[int]:
    return items


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--temporary-pools", action="store_true",
                        help="the old way: every recomputation starts its own pool (no long-lived one)")
    args = parser.parse_args(argv)
    # one long-lived pool for every validator's signature checks, started before any timing (as in a
    # service: LedgerDesk keeps one); --temporary-pools: the old way, a pool started per recomputation
    pool = None if args.temporary_pools else WorkerPool(start_method="forkserver")
    if pool is not None:
        pool.map_chunks(_noop, list(range(pool.parallel_threshold)))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"{'temporary pools' if pool is None else 'one long-lived pool'} for signature checks")
    sizes = [1_000] if args.quick else [1_000, 10_000]
    for slot, n in enumerate(sizes, start=40):
        run(n, slot, naive_sample=200 if args.quick else 500, pool=pool)
    for slot, n in enumerate([55, 1_000] if args.quick else [55, 10_000], start=60):
        run_grid(n, slot, pool)
    if pool is not None:
        pool.close()


if __name__ == "__main__":
    main()
