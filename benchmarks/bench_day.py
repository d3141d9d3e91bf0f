"""Benchmark the simulated day (``transactive.sim.day.run_day``): where the time of a day goes.

There is no naive baseline for an orchestration; instead each size is run four ways side by side in the same
process: the service's desks without the power-flow review and with the chain in memory (``on_chain=False``:
no archive, no audit), + the DSO's power-flow review of listings, + the archive on disk and the final audit,
and everything, then
everything with SimBench's profiles (``auto``: synthetic when simbench is not installed; the source column
says which). The ratio column is each variant's time over "in memory". Goal: the full 96-slot day in
<= 2 minutes (``transactive demo`` adds the seed examples, a few seconds).

``--compare OLD_SRC`` instead times the whole ``transactive day --profiles synthetic`` (96 slots, 55 prosumers,
the chain and the audit) of another checkout's ``src`` against this one's, as two subprocesses run alternately
``--rounds`` times each (old, new, old, new, ...), and prints their wall and user CPU seconds side by side with
the 1-minute load average before each run (the machine is shared: compare runs at similar load).

``--phases`` runs the whole day once in this process (96 slots, synthetic profiles, the chain, the audit and
the report) and prints the CPU seconds of each phase (the service's desks per slot, the final audit, the
report) and which heavy packages were imported (pandapower should not be: the DSO's reviews run on the
bundled flow model, docs/grid.md).

Run: PYTHONPATH=src .venv/bin/python benchmarks/bench_day.py [--quick]
     PYTHONPATH=src .venv/bin/python benchmarks/bench_day.py --compare ../old-checkout/src [--rounds 2] [--slots 96]
     PYTHONPATH=src .venv/bin/python benchmarks/bench_day.py --phases [--slots 96]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
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


def _day_subprocess(src: Path, n_slots: int) -> tuple[float, float]:
    """Wall and user CPU seconds of ``transactive day --profiles synthetic`` run from checkout ``src``."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    with tempfile.TemporaryDirectory() as folder:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "transactive.cli", "day", "--profiles", "synthetic",
                        "--slots", str(n_slots), "--out", folder], env=env, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before


def compare(old_src: Path, rounds: int, n_slots: int) -> None:
    """Old and new checkouts' whole day, alternately, side by side."""
    new_src = Path(__file__).resolve().parents[1] / "src"
    runs: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
    print(f"{'run':<6} {'load1':>6} {'wall s':>8} {'user s':>8}")
    for k in range(rounds):
        for name, src in (("old", old_src), ("new", new_src)):
            load = os.getloadavg()[0]
            wall, user = _day_subprocess(src, n_slots)
            runs[name].append((wall, user))
            print(f"{name} {k + 1:<2} {load:>6.2f} {wall:>8.1f} {user:>8.1f}", flush=True)
    print(f"{'':<6} {'':>6} {'wall s':>8} {'user s':>8}   (min over {rounds} runs)")
    for name, values in runs.items():
        print(f"{name:<6} {'':>6} {min(w for w, _ in values):>8.1f} {min(u for _, u in values):>8.1f}")


def phases(n_slots: int) -> None:
    """The day in process with the CPU seconds of each phase (the wrapped methods' own process time)."""
    from transactive.ledger.audit import audit
    from transactive.sim import day_service, report

    spent: dict[str, float] = {}

    def timed(owner: object, name: str, label: str) -> None:
        original = getattr(owner, name)

        def wrapper(*args: object, **kwargs: object) -> object:
            started = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.process_time() - started

        setattr(owner, name, wrapper)

    service = day_service.DayService
    for name, label in (("__init__", "service set-up (contracts)"), ("enrol", "enrolment"),
                        ("list_and_review", "listings + power-flow reviews"), ("bid", "auction orders"),
                        ("clear_and_anchor", "clearing + anchoring"), ("read_meters", "meter readings"),
                        ("settle", "settlement"), ("dso_income", "DSO income read")):
        timed(service, name, label)
    timed(audit, "verify_archive", "final audit")
    timed(report, "write_report", "report (summary, plots, page)")
    cpu, started = time.process_time(), time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        result = run_day(DayConfig(n_slots=n_slots, profiles="synthetic"), folder)
        report.write_report(result, folder)
    total, wall = time.process_time() - cpu, time.perf_counter() - started
    print(f"{'phase':<34} {'CPU s':>7}")
    for label, seconds in spent.items():
        print(f"{label:<34} {seconds:>7.2f}")
    print(f"{'rest (summary, profiles, ...)':<34} {total - sum(spent.values()):>7.2f}")
    print(f"{'day + report in process':<34} {total:>7.2f}   ({wall:.1f} s wall, load {os.getloadavg()[0]:.1f})")
    heavy = [m for m in ("pandapower", "matplotlib", "pandas", "scipy") if m in sys.modules]
    print(f"imported: {', '.join(heavy) or 'none of pandapower, matplotlib, pandas, scipy'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 slots only")
    parser.add_argument("--compare", type=Path, metavar="OLD_SRC", help="time the day of this src against ours")
    parser.add_argument("--rounds", type=int, default=2, help="with --compare: runs of each (alternately)")
    parser.add_argument("--slots", type=int, default=96, help="with --compare or --phases: slots of the day")
    parser.add_argument("--phases", action="store_true", help="the day in process, CPU seconds per phase")
    args = parser.parse_args()
    if args.phases:
        phases(args.slots)
        return
    if args.compare is not None:
        compare(args.compare, args.rounds, args.slots)
        return
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
