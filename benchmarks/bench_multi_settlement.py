"""Benchmark one slot through the four settlements (bilateral -> listings -> DPDA auction -> main grid).

A slot of N prosumers (half surplus, half deficit), N/4 bilateral contracts and N/4 listings with one order
each (the DSO check accepts everything: the power flow is benchmarked in bench_grid.py).

Rows per N:
- ``book``: building the listing board with ``list_all`` / ``place_all`` (one pass) and the DSO review;
  naive baseline: the same board built with ``list`` / ``place`` one at a time (each call copies the board
  and rescans the orders: quadratic), run side by side (up to N = 4,000; beyond that it is skipped);
- ``settle``: ``settle_slot`` on that board (no baseline: it is linear plus the mechanism's sort).

Run: .venv/bin/python benchmarks/bench_multi_settlement.py [--quick]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from transactive.crypto.encoding import to_checksum_address
from transactive.settlement.bilateral import BilateralContract
from transactive.settlement.listings import Board, Listing, ListingOrder
from transactive.settlement.stages import Prosumer, settle_slot

NAIVE_LIMIT = 4000


def _case(n: int, seed: int = 1) -> tuple[list[Prosumer], list[BilateralContract], list[Listing], list[ListingOrder]]:
    rng = random.Random(seed)
    peers = [to_checksum_address(k.to_bytes(20, "big")) for k in range(1, n + 1)]
    prosumers = [
        Prosumer(p, (1 if k % 2 == 0 else -1) * rng.randint(100, 8000) / 1000, round(rng.uniform(0.02, 0.09), 4))
        for k, p in enumerate(peers)
    ]
    contracts = [
        BilateralContract(f"k{k}", peers[2 * k], peers[2 * k + 1], (0,), rng.randint(1, 2000) / 1000, 0.05)
        for k in range(n // 4)
    ]
    listings = [Listing(f"L{k}", peers[(2 * k + 2) % n], 0, 1.0, 0.06) for k in range(n // 4)]
    orders = [ListingOrder(f"o{k}", f"L{k}", peers[(2 * k + 5) % n], 0.5) for k in range(n // 4)]
    return prosumers, contracts, listings, orders


def _timed(fn: object) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()  # type: ignore[operator]
    return time.perf_counter() - start, out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    args = parser.parse_args(argv)
    sizes = [100, 400, 1000] if args.quick else [100, 1000, 4000, 20000]
    header = f"{'prosumers':>9} {'orders':>7} {'book s':>9} {'naive s':>9} {'ratio':>7} {'settle s':>9}"
    settle_slot(0, [Prosumer("a", 1.0), Prosumer("b", -1.0)])  # warm-up: imports the registry
    print(header)
    print("-" * len(header))
    for n in sizes:
        prosumers, contracts, listings, orders = _case(n)

        def bulk(listings: list[Listing] = listings, orders: list[ListingOrder] = orders) -> Board:
            return Board().list_all(listings).place_all(orders).review(lambda trades: ())

        def naive(listings: list[Listing] = listings, orders: list[ListingOrder] = orders) -> Board:
            board = Board()
            for item in listings:
                board = board.list(item)
            for o in orders:
                board = board.place(o)
            return board.review(lambda trades: ())

        t_bulk, built = _timed(bulk)
        board: Board = built  # type: ignore[assignment]
        if n <= NAIVE_LIMIT:
            t_naive, board_naive = _timed(naive)
            assert board_naive == board  # type: ignore[comparison-overlap]
            naive_text, ratio_text = f"{t_naive:9.4f}", f"{t_naive / t_bulk:7.1f}"
        else:
            naive_text, ratio_text = f"{'-':>9}", f"{'-':>7}"
        def settle(
            prosumers: list[Prosumer] = prosumers, contracts: list[BilateralContract] = contracts, board: Board = board
        ) -> object:
            return settle_slot(0, prosumers, contracts=contracts, board=board)

        t_settle, result = _timed(settle)
        assert result.balance_micro == 0  # type: ignore[attr-defined]
        print(f"{n:>9} {len(orders):>7} {t_bulk:9.4f} {naive_text} {ratio_text} {t_settle:9.4f}", flush=True)


if __name__ == "__main__":
    main()
