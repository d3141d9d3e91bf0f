"""Benchmark: ``dpda_matched`` clearing (DPDA, then score matching) of one slot, old tree vs this one, side by side.

The market is the slot benchmark's (``bench_slot_pipeline.py --mechanism dpda_matched``): N prosumers, every
even one a seller, on the IEEE European LV feeder's 55 load buses in turn, energies 0.5-5 kWh, asks 0.05-0.20,
bids 0.10-0.30, distance preference 150 m, sellers' cost ``0.01E² + E + 0.5``, buyers' utility ``60E − 0.2E²``.
Each size is cleared by the old tree and by this one, each in a fresh process (the tree chosen by its
``src/`` on ``sys.path``), alternately, ``--repeat`` times; the table shows the CPU seconds of the clearing
(``time.process_time``, building the ``Orders`` excluded; the best of the repeats), the wall seconds, the number of
trades and whether the trades (every float by its repr), energies and payments of the two trees are identical.

The old tree defaults to main ``5e0d6e4`` (before the columnar matching of issue 13), exported with ``git archive``
into a temporary folder; ``--baseline-src OLD/src`` takes another.

    python benchmarks/bench_matching.py [--sizes 1000,10000,100000] [--repeat 1] [--baseline-src OLD/src]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BASELINE_REF = "5e0d6e4"


def market(n: int, seed: int = 1) -> tuple[Any, Any]:
    """The slot benchmark's ``dpda_matched`` market as ``(sellers, buyers)`` Orders."""
    from transactive.grid.feeder import load_feeder
    from transactive.orders import Orders

    buses = list(load_feeder().load_buses)
    rng = random.Random(seed)
    sides: dict[bool, dict[str, list[Any]]] = {
        sell: {k: [] for k in ("ids", "energy", "price", "bus")} for sell in (True, False)}
    for i in range(n):
        sell = i % 2 == 0
        side = sides[sell]
        side["ids"].append(f"p{i}")
        side["energy"].append(round(rng.uniform(0.5, 5.0), 3))
        side["price"].append(round(rng.uniform(0.05, 0.20) if sell else rng.uniform(0.10, 0.30), 4))
        side["bus"].append(buses[i % len(buses)])
    s, b = sides[True], sides[False]
    ns, nb = len(s["ids"]), len(b["ids"])
    sellers = Orders.single(s["ids"], s["energy"], s["price"], bus=s["bus"], distance_pref_m=[150.0] * ns,
                            a=[0.01] * ns, b=[1.0] * ns, c=[0.5] * ns)
    buyers = Orders.single(b["ids"], b["energy"], b["price"], bus=b["bus"], distance_pref_m=[150.0] * nb,
                           omega=[60.0] * nb, alpha=[0.2] * nb)
    return sellers, buyers


def child(n: int) -> int:
    """One clearing in this process (its tree is on ``sys.path``); one JSON line."""
    import numpy as np

    from transactive.matching.mechanisms import DpdaMatchedParams, clear_dpda_matched

    sellers, buyers = market(n)
    clear_dpda_matched(*market(200), DpdaMatchedParams())  # imports and the feeder's distances, not timed
    t0, c0 = time.perf_counter(), time.process_time()
    result = clear_dpda_matched(sellers, buyers, DpdaMatchedParams())
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    digest = hashlib.sha256(json.dumps(result.details["trades"]).encode())
    for array in (result.sellers.energy_kwh, result.sellers.payment, result.buyers.energy_kwh, result.buyers.payment):
        digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    print(json.dumps({"cpu_s": cpu, "wall_s": wall, "trades": len(result.details["trades"]),
                      "digest": digest.hexdigest()}))
    return 0


def run(src: str, n: int) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=src)
    out = subprocess.run([sys.executable, __file__, "--child", str(n)], env=env, capture_output=True, text=True,
                         check=True)
    row: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return row


def baseline_tree(folder: str) -> str:
    """``BASELINE_REF``'s ``src/`` exported into ``folder``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", BASELINE_REF, "src"], capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
    return str(Path(folder) / "src")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="prosumers per slot, comma-separated")
    parser.add_argument("--repeat", type=int, default=1, help="runs per tree and size (the best CPU is shown)")
    parser.add_argument("--baseline-src", default=None, help=f"the old tree's src/ (default: main {BASELINE_REF})")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        return child(args.child)
    sizes = [int(v) for v in args.sizes.split(",") if v]
    with tempfile.TemporaryDirectory(prefix="bench-matching-") as tmp:
        old_src = args.baseline_src or baseline_tree(tmp)
        trees = (("old", old_src), ("new", str(ROOT / "src")))
        print(f"old: {old_src}\nnew: {trees[1][1]}\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
              "(CPU seconds are the figure to compare; wall seconds scale with the load)")
        print(f"{'prosumers':>10} {'old CPU s':>10} {'new CPU s':>10} {'speed-up':>9} {'old wall':>9} {'new wall':>9}"
              f" {'trades':>8}  identical")
        for n in sizes:
            best: dict[str, dict[str, Any]] = {}
            for _ in range(args.repeat):
                for label, src in trees:  # alternately, so both see the same load
                    row = run(src, n)
                    if label not in best or row["cpu_s"] < best[label]["cpu_s"]:
                        best[label] = row
            old, new = best["old"], best["new"]
            same = old["digest"] == new["digest"] and old["trades"] == new["trades"]
            print(f"{n:>10,} {old['cpu_s']:>10.2f} {new['cpu_s']:>10.2f} {old['cpu_s'] / new['cpu_s']:>8.1f}x"
                  f" {old['wall_s']:>9.2f} {new['wall_s']:>9.2f} {new['trades']:>8,}  {'yes' if same else 'NO'}",
                  flush=True)
            if not same:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
