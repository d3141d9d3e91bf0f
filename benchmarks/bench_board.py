"""Benchmark the listing board's and negawatt events' intake per call: ``Board.list`` + ``Board.place`` and
``negawatt.add_offer``, N calls each (one listing or order or offer per call), today's O(1) path and the former
copying path side by side (the former ``listings.py`` loaded from git at commit 856401a, and the former
add_offer's scan and tuple copy: O(n) per call; the last ``--sample`` calls before N are timed and the total
extrapolated with the cost of call i ~ i, marked ``~``).

Run: PYTHONPATH=src .venv/bin/python benchmarks/bench_board.py [--sizes 1000 10000 100000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from transactive.settlement.listings import Board, Listing, ListingOrder
from transactive.settlement.negawatt import NegawattEvent, add_offer, announce, parse_offer, parse_spec

NOW = "2026-03-01T07:30:00Z"
OLD_COMMIT = "856401a"


def _event() -> NegawattEvent:
    body = {"id": "e1", "target_kwh": 100, "price_per_kwh": 5, "offers_close": "2026-03-01T08:00:00Z",
            "window_start": "2026-03-01T17:00:00Z", "window_end": "2026-03-01T18:00:00Z"}
    return announce(parse_spec(body, "dsra", now="2026-03-01T07:00:00Z"))


def board_new(n: int) -> float:
    t0 = time.perf_counter()
    board = Board()
    for i in range(n):
        board = board.list(Listing(f"L{i}", f"s{i}", 1, 2.0, 0.1)).place(ListingOrder(f"o{i}", f"L{i}", f"b{i}", 1.0))
    assert len(board.orders) == n
    return time.perf_counter() - t0


def _old_listings() -> Any:
    """The copying ``settlement/listings.py`` of commit 856401a (before AppendOnly), loaded from git."""
    source = subprocess.run(["git", "show", f"{OLD_COMMIT}:src/transactive/settlement/listings.py"], check=True,
                            capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1]).stdout
    module = types.ModuleType("old_listings")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, "old_listings.py", "exec"), module.__dict__)  # our own file at a commit
    return module


def board_old(n: int, sample: int) -> tuple[float, bool]:
    """The former Board (each call copies the tuples and rebuilds the id index / rescans the orders)."""
    old = _old_listings()
    k = min(n, sample)
    board = old.Board(listings=tuple(old.Listing(f"L{i}", f"s{i}", 1, 2.0, 0.1) for i in range(n - k)),
                      orders=tuple(old.ListingOrder(f"o{i}", f"L{i}", f"b{i}", 1.0) for i in range(n - k)))
    t0 = time.perf_counter()
    for i in range(n - k, n):
        board = board.list(old.Listing(f"L{i}", f"s{i}", 1, 2.0, 0.1)).place(
            old.ListingOrder(f"o{i}", f"L{i}", f"b{i}", 1.0))
    assert len(board.orders) == n
    return (time.perf_counter() - t0) * _scale(n, k), k < n


def offers_new(n: int) -> float:
    event = _event()
    t0 = time.perf_counter()
    for i in range(n):
        event = add_offer(event, f"p{i}", {"energy_kwh": 1, "price_per_kwh": 1}, NOW)
    assert len(event.offers) == n
    return time.perf_counter() - t0


def offers_old(n: int, sample: int) -> tuple[float, bool]:
    """The former add_offer: a linear duplicate scan and a copy of the offers tuple per call."""
    k = min(n, sample)
    event = _event()
    offers = tuple(parse_offer(event, f"p{i}", {"energy_kwh": 1, "price_per_kwh": 1}, NOW) for i in range(n - k))
    t0 = time.perf_counter()
    for i in range(n - k, n):
        offer = parse_offer(event, f"p{i}", {"energy_kwh": 1, "price_per_kwh": 1}, NOW)
        if any(o.member == offer.member for o in offers):
            raise AssertionError("duplicate")
        offers = (*offers, offer)
    return (time.perf_counter() - t0) * _scale(n, k), k < n


def _scale(n: int, k: int) -> float:
    """Calls 1..n when the last k were timed and call i costs ~i: sum(1..n) / sum(n-k+1..n)."""
    return (n * (n + 1) / 2) / (k * (2 * n - k + 1) / 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--sample", type=int, default=300)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (timings scale with it)")
    print(f"{'calls':>9} {'Board list+place, copying':>27} {'Board, O(1)':>12} {'add_offer, copying':>19} "
          f"{'add_offer, O(1)':>16}   (s; ~ = extrapolated)")
    for n in args.sizes:
        bo, bo_x = board_old(n, args.sample)
        oo, oo_x = offers_old(n, args.sample)
        cells = [f"{'~' if bo_x else ''}{bo:.2f}", f"{board_new(n):.2f}", f"{'~' if oo_x else ''}{oo:.2f}",
                 f"{offers_new(n):.2f}"]
        print(f"{n:>9,} {cells[0]:>27} {cells[1]:>12} {cells[2]:>19} {cells[3]:>16}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
