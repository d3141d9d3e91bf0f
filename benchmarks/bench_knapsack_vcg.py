"""Benchmark: knapsack_vcg's O(n log n) VCG payments against the naive n+1 greedy re-solves.

Random seeded instances (energies 0.5-10 kWh, unit prices 1-10 tokens/kWh on a 0.01 grid so there are ties,
reserve price 6) with a **binding fallback**: the target is 1.2 x the energy offered at or below the reserve,
so every offer at or below it wins and the fallback supplies the rest. Payments of the two methods are
asserted equal (1e-9 relative) wherever the naive baseline runs.

Usage: ``python benchmarks/bench_knapsack_vcg.py [--quick]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

if __package__ is None:  # run as a script from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from transactive.mechanisms._knapsack import naive_vcg_payments
from transactive.mechanisms.knapsack_vcg import KnapsackParams, clear_knapsack_vcg
from transactive.orders import FloatArray, Orders

RESERVE_PER_KWH = 6.0


def instance(n: int, seed: int = 2026) -> tuple[Orders, KnapsackParams]:
    """A random instance of ``n`` offers with a binding fallback."""
    rng = np.random.default_rng(seed + n)
    energy = rng.uniform(0.5, 10.0, n)
    price = np.round(rng.uniform(1.0, 10.0, n), 2)
    target = 1.2 * float(energy[price <= RESERVE_PER_KWH].sum())
    ids = [f"s{i}" for i in range(n)]
    return Orders.single(ids, energy, price), KnapsackParams(target, RESERVE_PER_KWH, "competes")


def time_fast(sellers: Orders, params: KnapsackParams, repeats: int) -> float:
    """Smallest wall time of ``repeats`` clearings (sort, greedy fill, every VCG payment), seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        clear_knapsack_vcg(sellers, Orders.empty(), params)
        times.append(time.perf_counter() - start)
    return min(times)


def time_naive(sellers: Orders, params: KnapsackParams) -> tuple[float, FloatArray]:
    """Wall time of the n+1 greedy re-solves, seconds, and their payments."""
    start = time.perf_counter()
    _, payments = naive_vcg_payments(sellers.energy_kwh, sellers.price_per_kwh, params.target_kwh,
                                     params.reserve_price_per_kwh, params.fallback)
    return time.perf_counter() - start, payments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    args = parser.parse_args()
    with_naive = (10**2, 10**3) if args.quick else (10**3, 10**4)
    fast_only = (10**4,) if args.quick else (10**5, 10**6)

    print(f"{'n offers':>10} {'winners':>9} {'fallback kWh':>13} {'fast s':>9} {'naive s':>9} {'ratio':>9}")
    for n in (*with_naive, *fast_only):
        sellers, params = instance(n)
        result = clear_knapsack_vcg(sellers, Orders.empty(), params)
        fast_s = time_fast(sellers, params, 3 if n <= 10**5 else 2)
        winners = int(np.count_nonzero(result.sellers.energy_kwh))
        naive_col = ratio_col = "-"
        if n in with_naive:
            naive_s, naive = time_naive(sellers, params)
            np.testing.assert_allclose(result.sellers.payment, naive, rtol=1e-9, atol=1e-9)
            naive_col, ratio_col = f"{naive_s:9.3f}", f"{naive_s / fast_s:8.0f}x"
        print(f"{n:>10} {winners:>9} {result.details['fallback_kwh']:>13.1f} {fast_s:>9.4f} "
              f"{naive_col:>9} {ratio_col:>9}")
    print("fast = clear_knapsack_vcg (sort, greedy fill, all VCG payments); "
          "naive = n+1 greedy re-solves; payments asserted equal")


if __name__ == "__main__":
    main()
