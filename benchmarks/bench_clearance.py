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

Run: /work/venv/bin/python benchmarks/bench_clearance.py [--quick]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from eth_account import Account
from eth_account.messages import encode_typed_data

from transactive.ledger.clearance import Validator, collect, domain_of, recompute, submit
from transactive.ledger.commitments import result_tree
from transactive.ledger.eip712 import Domain
from transactive.ledger.embedded import EmbeddedChain
from transactive.ledger.orders_codec import OrderMessage, SignedOrder, sign_order
from transactive.ledger.proofs import SlotBatch
from transactive.ledger.signing import Signer, new_private_key
from transactive.ledger.testing import MODE_BATCH, deploy_suite

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


def run(n: int, slot: int, naive_sample: int) -> None:
    chain = EmbeddedChain()
    dep = deploy_suite(chain)
    batch = make_batch(n, domain_of(chain, dep.slots), slot)
    recompute(make_batch(20, batch.domain, slot))  # warm-up: imports the mechanism registry once
    validators = [Validator(chain.private_key(v)) for v in dep.validators]
    times: dict[str, float] = {}

    t0 = time.perf_counter()
    auctioneer = validators[slot % len(validators)].address
    chain.transact(dep.slots, "open_slot", slot, MODE_BATCH, sender=auctioneer)
    order_root = batch.order_root
    chain.transact(dep.slots, "commit_orders", slot, order_root, n, sender=auctioneer)
    times["auctioneer: order root + open + commit"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    entries = recompute(batch)
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
    assert chain.call(dep.slots, "slots", slot)[6] == collected.result_root

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
    chain.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    args = parser.parse_args(argv)
    sizes = [1_000] if args.quick else [1_000, 10_000]
    for slot, n in enumerate(sizes, start=40):
        run(n, slot, naive_sample=200 if args.quick else 500)


if __name__ == "__main__":
    main()
