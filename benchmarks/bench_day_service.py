"""Measure the simulated day through the service's own operator and desks, in process (``transactive day``).

Since issue 12 part B the day *is* the service's path (:class:`transactive.sim.day_service.DayService`): this
prints the wall and CPU seconds of :func:`transactive.sim.day.run_day` for ``--slots`` slots of the feeder's
55 prosumers (synthetic profiles, the DSO's power-flow review, the demand-response event, the audit), and the
ledger's figures. ``benchmarks/bench_day.py`` compares variants (without power flow, without an archive).

Run: PYTHONPATH=src .venv/bin/python benchmarks/bench_day_service.py [--slots 16] [--out DIR]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from transactive.sim.day import DayConfig, run_day


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=16)
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: a temporary one)")
    args = parser.parse_args()
    folder = args.out or Path(tempfile.mkdtemp(prefix="bench-day-service-"))
    try:
        started, cpu = time.perf_counter(), time.process_time()
        result = run_day(DayConfig(n_slots=args.slots, profiles="synthetic"), folder)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        if args.out is None:
            shutil.rmtree(folder, ignore_errors=True)
    ledger = result.summary["ledger"]
    print(f"{args.slots} slots: {wall:.1f} s wall, {cpu:.1f} s CPU (this process); audit {ledger['audit']}; "
          f"{ledger['slots_anchored']} anchored, {ledger['slots_settled']} settlement slots")


if __name__ == "__main__":
    main()
