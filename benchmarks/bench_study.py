"""Benchmark ``transactive study``: where each study's time goes (its runs vs the report).

No naive baseline for a study; each size is timed in two parts side by side: ``run_study`` and
``write_report`` (CSVs, PNG figures, index.html); the ratio column is the report's time over the run's.
Goal (issue 10): each default study (alashery-2021: 7 days; martinez-trejo-2022: 20 seeds per scenario;
rahmani-negawatt: 20 seeds per market size; jing-2021: 20 seeds) in < 2 minutes.

* alashery-2021: days × 24 hours × five schemes, the P2P ones also at zero shares;
* martinez-trejo-2022: seeds × six sizes × two behaviours × two auctions, each cleared and matched on the feeder;
* rahmani-negawatt: the worked cases, then seeds × eight market sizes under VCG, pay-as-bid and the flat payment
  (plus 6 misreports per offer at the sizes up to 12 offers);
* jing-2021: Tables I-IV, then seeds × nine requests under Type I, Type II (twice) and the cheapest-first cut.

Run: .venv/bin/python benchmarks/bench_study.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from transactive.studies import (
    alashery_2021,
    alashery_report,
    jing_2021,
    jing_report,
    martinez_2022,
    martinez_report,
    rahmani_negawatt,
    rahmani_report,
)


def _time(label: str, size: int, run: Callable[[], Any], report: Callable[[Any, Path, float], Path]) -> None:
    started = time.perf_counter()
    result = run()
    ran = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        report(result, Path(folder), ran)
        reported = time.perf_counter() - started
    print(f"{label:<32} {size:>6} {ran:>8.2f} {reported:>9.2f} {ran + reported:>8.2f} {reported / ran:>6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the smallest size of each study only")
    args = parser.parse_args()
    print(f"{'study':<32} {'size':>6} {'run s':>8} {'report s':>9} {'total s':>8} {'ratio':>6}")
    for days in (1,) if args.quick else (1, 7, 30):
        probe = alashery_2021.run_study(alashery_2021.StudyConfig(seed=1, days=1, hours=1))
        _time(f"alashery-2021 days ({probe.profile_source})", days,
              partial(alashery_2021.run_study, alashery_2021.StudyConfig(seed=1, days=days)),
              alashery_report.write_report)
    for seeds in (2,) if args.quick else (2, 20, 100):
        _time("martinez-trejo-2022 seeds", seeds,
              partial(martinez_2022.run_study, martinez_2022.StudyConfig(seed=1, seeds=seeds)),
              martinez_report.write_report)
    for seeds in (2,) if args.quick else (2, 20, 100):
        _time("rahmani-negawatt seeds", seeds,
              partial(rahmani_negawatt.run_study, rahmani_negawatt.StudyConfig(seed=0, seeds=seeds)),
              rahmani_report.write_report)
    for seeds in (2,) if args.quick else (2, 20, 100):
        _time("jing-2021 seeds", seeds, partial(jing_2021.run_study, jing_2021.StudyConfig(seed=1, seeds=seeds)),
              jing_report.write_report)


if __name__ == "__main__":
    main()
