"""Benchmark ``transactive study alashery-2021``: where its time goes (the hourly clearings vs the report).

No naive baseline for a study; each size is timed in two parts side by side: ``run_study`` (days × 24 hours ×
five schemes, the P2P ones also at zero shares) and ``write_report`` (CSVs, six PNG figures, index.html); the
ratio column is the report's time over the run's. Goal (issue 10): the default study (7 days) in < 2 minutes.

Run: .venv/bin/python benchmarks/bench_study.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from transactive.studies.alashery_2021 import StudyConfig, run_study
from transactive.studies.alashery_report import write_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one day only")
    args = parser.parse_args()
    sizes = (1,) if args.quick else (1, 7, 30)
    print(f"{'days':>5} {'profiles':<10} {'run s':>8} {'report s':>9} {'total s':>8} {'ratio':>6}")
    for days in sizes:
        started = time.perf_counter()
        result = run_study(StudyConfig(seed=1, days=days))
        ran = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            write_report(result, Path(folder), ran)
            reported = time.perf_counter() - started
        print(f"{days:>5} {result.profile_source:<10} {ran:>8.2f} {reported:>9.2f} {ran + reported:>8.2f} "
              f"{reported / ran:>6.2f}")


if __name__ == "__main__":
    main()
