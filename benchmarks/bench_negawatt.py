"""Benchmark: the high X of Y baseline (vectorised) against a plain-Python loop, and a whole negawatt event.

Baseline: one customer, ``days`` days of 96 quarter-hour intervals, high ``days/2`` of ``days`` with a
multiplicative same-day adjustment; the naive version loops over days and intervals in Python. The results
are asserted equal. Event: ``n`` offers clear with ``knapsack_vcg`` and settle with 10 % of the winners
delivering 60 % (each opens a secondary market over the others' spare capacity).

Usage: ``python benchmarks/bench_negawatt.py [--quick]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

if __package__ is None:  # run as a script from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from transactive.settlement.baseline import high_x_of_y
from transactive.settlement.negawatt import add_offer, announce, clear, parse_spec, settle

WINDOW = slice(68, 72)  # 17:00-18:00
ADJUST = slice(52, 64)  # 13:00-16:00


def naive_baseline(history: list[list[float]], today: list[float], x: int, cap: float) -> list[float]:
    """The same rule with Python loops (all days eligible)."""
    days = list(range(len(history) - 1, -1, -1))
    sums = [(sum(history[d][WINDOW]), -k, d) for k, d in enumerate(days)]
    chosen = [d for _, _, d in sorted(sums, reverse=True)[:x]]
    base = [sum(history[d][i] for d in chosen) / x for i in range(len(today))]
    factor = sum(today[ADJUST]) / sum(base[ADJUST])
    factor = min(max(factor, 1 - cap), 1 + cap)
    return [b * factor for b in base]


def best_of(fn: Any, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _one_baseline(days: int) -> tuple[float, float]:
    rng = np.random.default_rng(days)
    history = rng.uniform(0.1, 3.0, (days, 96))
    today = rng.uniform(0.1, 3.0, 96)
    x = days // 2
    eligible = np.ones(days, dtype=bool)

    def fast() -> Any:
        return high_x_of_y(history, eligible, WINDOW, x_days=x, y_days=days, event_day_kwh=today,
                           adjustment_window=ADJUST, adjustment="multiplicative", cap=0.2)

    rows, today_list = history.tolist(), today.tolist()
    np.testing.assert_allclose(fast().baseline_kwh, naive_baseline(rows, today_list, x, 0.2), rtol=1e-9)
    return best_of(fast, 5), best_of(lambda: naive_baseline(rows, today_list, x, 0.2), 2)


def bench_baseline(sizes: list[int]) -> None:
    print(f"{'days':>6} {'vectorised s':>13} {'naive s':>10} {'ratio':>8}")
    for days in sizes:
        t_fast, t_naive = _one_baseline(days)
        print(f"{days:>6} {t_fast:>13.5f} {t_naive:>10.5f} {t_naive / t_fast:>7.0f}x")


def bench_event(sizes: list[int]) -> None:
    print(f"\n{'offers':>7} {'shortfalls':>11} {'offer+clear s':>14} {'settle s':>9}")
    for n in sizes:
        rng = np.random.default_rng(n)
        energy = rng.uniform(0.5, 10.0, n)
        price = np.round(rng.uniform(1.0, 10.0, n), 2)
        spec = parse_spec({"id": "b", "target_kwh": float(energy.sum() / 3), "price_per_kwh": 8,
                           "offers_close": "2026-03-01T08:00:00Z", "window_start": "2026-03-01T17:00:00Z",
                           "window_end": "2026-03-01T18:00:00Z"}, "dsra", now="2026-03-01T07:00:00Z")
        t0 = time.perf_counter()
        event = announce(spec)
        for k in range(n):
            event = add_offer(event, f"p{k}", {"energy_kwh": float(energy[k]), "price_per_kwh": float(price[k])},
                              now="2026-03-01T07:30:00Z")
        event = clear(event, now="2026-03-01T08:00:00Z")
        t_clear = time.perf_counter() - t0
        assert event.clearing is not None
        sold = {r["id"]: r["energy_kwh"] for r in event.clearing["sellers"]}
        winners = [m for m, e in sold.items() if e > 0]
        short = set(winners[:: 10])
        delivered = {m: (0.6 * sold[m] if m in short else float(energy[int(m[1:])])) for m in sold}
        t0 = time.perf_counter()
        settled = settle(event, delivered, now="2026-03-01T19:00:00Z")
        t_settle = time.perf_counter() - t0
        assert settled.settlement is not None
        assert sum(p["amount_micro"] for p in settled.settlement["postings"]) == 0
        print(f"{n:>7} {len(short):>11} {t_clear:>14.3f} {t_settle:>9.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    quick = parser.parse_args().quick
    bench_baseline([10, 60] if quick else [10, 60, 365, 3650])
    bench_event([100, 300] if quick else [100, 1000, 3000])


if __name__ == "__main__":
    main()
