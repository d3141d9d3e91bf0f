"""Benchmark: McAfee and DPDA clearing (vectorised NumPy) against a naive pure-Python walk.

Books are random: energies uniform in [1, 100] kWh (Wh resolution), prices around the thesis's local price
£0.2023/kWh (sellers sd 0.025, buyers sd 0.01, 0.1 p resolution so there are many ties). "n participants"
means **n/2 sellers and n/2 buyers**; the last rows use **n sellers and n buyers** (2n participants).

The naive baseline is the textbook implementation: Python ``sorted`` and a block-by-block ``while`` loop
over the two curves, then the case logic on Python lists. It is run side by side (same process, same
books; once only above 10^5 participants), its result is checked against the fast one, and the ratio
naive / fast shown (for the thesis formula; ``dpda exact`` has no naive counterpart).
Times are the best of ``--repeat`` runs (``time.perf_counter``), building the ``ClearingResult`` included,
building the ``Orders`` excluded.

    .venv/bin/python benchmarks/bench_mcafee_dpda.py [--quick] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # runnable from a checkout

from transactive.mechanisms._registry import NoParams
from transactive.mechanisms.dpda import DpdaParams, clear_dpda
from transactive.mechanisms.mcafee import clear_mcafee
from transactive.orders import Orders
from transactive.result import ClearingResult

Side = tuple[list[float], list[float]]


def make_book(n_sellers: int, n_buyers: int, seed: int = 0) -> tuple[Orders, Orders]:
    rng = np.random.default_rng(seed)
    sellers = Orders.single(
        [f"s{i}" for i in range(n_sellers)],
        rng.uniform(1, 100, n_sellers).round(3),
        rng.normal(0.2023, 0.025, n_sellers).round(3),
    )
    buyers = Orders.single(
        [f"b{i}" for i in range(n_buyers)],
        rng.uniform(1, 100, n_buyers).round(3),
        rng.normal(0.2023, 0.01, n_buyers).round(3),
    )
    return sellers, buyers


# ----------------------------------------------------------------------------- naive baseline
def _naive_book(sellers: Orders, buyers: Orders) -> tuple[list[int], list[int], list[float], list[float],
                                                          list[float], list[float], int, int]:
    se, sp = sellers.energy_kwh.tolist(), sellers.price_per_kwh.tolist()
    be, bp = buyers.energy_kwh.tolist(), buyers.price_per_kwh.tolist()
    so = sorted(range(len(sp)), key=lambda i: (sp[i], i))
    bo = sorted(range(len(bp)), key=lambda i: (-bp[i], i))
    s_e, s_p = [se[i] for i in so], [sp[i] for i in so]
    b_e, b_p = [be[i] for i in bo], [bp[i] for i in bo]
    rs, rb = list(s_e), list(b_e)
    i = j = 0
    x = y = 0
    while True:
        while i < len(rs) and rs[i] <= 0:
            i += 1
        while j < len(rb) and rb[j] <= 0:
            j += 1
        if i == len(rs) or j == len(rb) or b_p[j] < s_p[i]:
            break
        q = min(rs[i], rb[j])
        rs[i] -= q
        rb[j] -= q
        if rs[i] < 1e-9:
            rs[i] = 0.0
        if rb[j] < 1e-9:
            rb[j] = 0.0
        x, y = j + 1, i + 1
    return so, bo, s_e, s_p, b_e, b_p, x, y


def _cond(s_p: list[float], b_p: list[float], x: int, y: int) -> bool:
    if y + 1 > len(s_p) or x + 1 > len(b_p):
        return False
    p0 = (s_p[y] + b_p[x]) / 2
    return s_p[y - 1] <= p0 <= b_p[x - 1]


def naive_mcafee(sellers: Orders, buyers: Orders) -> tuple[float | None, list[float]]:
    """(p0, seller energies in submission order)."""
    so, _bo, s_e, s_p, b_e, b_p, x, y = _naive_book(sellers, buyers)
    sold = [0.0] * len(so)
    if x == 0:
        return None, sold
    if _cond(s_p, b_p, x, y):
        ns, nb, p0 = y, x, (s_p[y] + b_p[x]) / 2
    else:
        ns, nb, p0 = y - 1, x - 1, (s_p[y - 1] + b_p[x - 1]) / 2
    left = min(sum(s_e[:ns]), sum(b_e[:nb]))
    if ns == 0 or nb == 0 or left <= 0:
        return None, sold
    for k in range(ns):
        sold[so[k]] = min(s_e[k], left)
        left -= sold[so[k]]
    return p0, sold


def naive_dpda(sellers: Orders, buyers: Orders) -> tuple[float | None, list[float]]:
    """(p0, seller energies in submission order), thesis oversupply."""
    so, _bo, s_e, s_p, b_e, b_p, x, y = _naive_book(sellers, buyers)
    sold = [0.0] * len(so)
    if x == 0:
        return None, sold
    p_s: Callable[[int], float | None] = lambda k: s_p[k - 1] if 1 <= k <= len(s_p) else None  # noqa: E731
    p_b: Callable[[int], float | None] = lambda k: b_p[k - 1] if 1 <= k <= len(b_p) else None  # noqa: E731
    if _cond(s_p, b_p, x, y):
        if sum(b_e[:x]) <= sum(s_e[:y]):
            ns, nb, a, b = y, x, p_s(y + 1), p_b(x + 1)
        else:
            ns, nb, a, b = y - 1, x - 2, p_s(y), p_b(x - 1)
    elif sum(b_e[: x - 1]) <= sum(s_e[: y - 1]):
        ns, nb, a, b = y - 1, x - 1, p_s(y), p_b(x)
    else:
        nxt = p_s(y + 1)
        ns, nb, a, b = y, x - 1, (p_s(y) if nxt is None else nxt), p_b(x)
    chosen_b = b_e[: max(nb, 0)]
    while chosen_b and sum(chosen_b) > sum(s_e[:ns]):
        chosen_b.pop()
    demand = sum(chosen_b)
    if ns == 0 or not chosen_b or demand <= 0 or a is None or b is None:
        return None, sold
    over = (sum(s_e[:ns]) - demand) / ns
    for k in range(ns):
        sold[so[k]] = max(0.0, s_e[k] - over)
    return (a + b) / 2, sold


# ----------------------------------------------------------------------------- timing
def best_time(
    fn: Callable[[Orders, Orders], Any], sellers: Orders, buyers: Orders, repeat: int
) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn(sellers, buyers)
        best = min(best, time.perf_counter() - start)
    return best, out


def _agree(fast: ClearingResult, naive: tuple[float | None, list[float]]) -> bool:
    p0, sold = naive
    if p0 is None or fast.price_per_kwh is None:
        return p0 is None and fast.price_per_kwh is None
    return abs(p0 - fast.price_per_kwh) < 1e-9 and bool(
        np.allclose(fast.sellers.energy_kwh, sold, atol=1e-6)
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    # (sellers, buyers); the naive baseline runs at every size, once only above 10^5 participants
    if args.quick:
        layouts = [(500, 500), (5_000, 5_000), (50_000, 50_000)]
    else:
        layouts = [(5_000, 5_000), (50_000, 50_000), (500_000, 500_000), (1_000_000, 1_000_000)]
    mechanisms: list[tuple[str, Callable[[Orders, Orders], ClearingResult], Callable[..., Any]]] = [
        ("mcafee", lambda s, b: clear_mcafee(s, b, NoParams()), naive_mcafee),
        ("dpda", lambda s, b: clear_dpda(s, b, DpdaParams()), naive_dpda),
        ("dpda exact", lambda s, b: clear_dpda(s, b, DpdaParams(exact_oversupply=True)), None),
    ]
    header = f"{'sellers':>9} {'buyers':>9} {'participants':>12} {'mechanism':<11} {'case':>4} " \
             f"{'fast s':>8} {'naive s':>8} {'ratio':>7} agree"
    print(header)
    print("-" * len(header))
    for n_s, n_b in layouts:
        sellers, buyers = make_book(n_s, n_b)
        for name, fast, naive in mechanisms:
            t_fast, result = best_time(fast, sellers, buyers, args.repeat)
            naive_s = ratio = agree = ""
            if naive is not None:
                naive_repeat = args.repeat if n_s + n_b <= 100_000 else 1
                t_naive, out = best_time(naive, sellers, buyers, naive_repeat)
                naive_s, ratio = f"{t_naive:8.4f}", f"{t_naive / t_fast:6.1f}x"
                agree = "yes" if _agree(result, out) else "NO"
            print(f"{n_s:>9} {n_b:>9} {n_s + n_b:>12} {name:<11} {result.details['case']:>4} "
                  f"{t_fast:8.4f} {naive_s:>8} {ratio:>7} {agree}")


if __name__ == "__main__":
    main()
