"""Benchmark the simulated day (``transactive.sim.day.run_day``): where the time of a day goes.

There is no naive baseline for an orchestration; instead each size is run four ways side by side in the same
process: the service's desks without the power-flow review and with the chain in memory (``on_chain=False``:
no archive, no audit), + the DSO's power-flow review of listings, + the archive on disk and the final audit,
and everything, then
everything with SimBench's profiles (``auto``: synthetic when simbench is not installed; the source column
says which). The ratio column is each variant's time over "in memory". Goal: the full 96-slot day in
<= 2 minutes (``transactive demo`` adds the seed examples, a few seconds).

Run: /work/venv/bin/python benchmarks/bench_day.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from transactive.sim.day import DayConfig, run_day

VARIANTS = (("in memory", False, False, "synthetic"), ("+ power flow", True, False, "synthetic"),
            ("+ archive", False, True, "synthetic"), ("full", True, True, "synthetic"),
            ("full, auto", True, True, "auto"))


def _time(n_slots: int, power_flow: bool, chain: bool, profiles: str) -> tuple[float, str]:
    config = DayConfig(n_slots=n_slots, dso_power_flow=power_flow, on_chain=chain, profiles=profiles)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        result = run_day(config, folder)
        return time.perf_counter() - started, result.profiles.source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 slots only")
    args = parser.parse_args()
    sizes = (8,) if args.quick else (24, 96)
    print(f"{'slots':>5}  {'variant':<14} {'profiles':<10} {'time s':>8} {'ratio':>6}")
    for n_slots in sizes:
        base = None
        for name, power_flow, chain, profiles in VARIANTS:
            seconds, source = _time(n_slots, power_flow, chain, profiles)
            base = base or seconds
            print(f"{n_slots:>5}  {name:<14} {source:<10} {seconds:>8.2f} {seconds / base:>6.2f}")


if __name__ == "__main__":
    main()
