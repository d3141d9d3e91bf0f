"""``transactive study NAME [--out DIR] [--seed S] [--days N] [--set KEY=VALUE ...]``: run one of the papers'
case studies.

Writes CSV data, PNG figures and ``OUT/index.html`` (``docs/studies.md``). A progress bar on stderr when it is
a terminal, nothing otherwise. ``--days`` counts what the study repeats (days, or seeds per scenario);
``--set`` passes a study's named option (e.g. ``--set calibration=text`` for martinez-trejo-2022). Exit 2
naming the argument for a bad name, seed, count or option.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def register(sub: Any) -> None:
    from transactive.studies import STUDIES

    study = sub.add_parser("study", help="run a paper's case study and write its report (CSV, PNG, index.html)")
    study.add_argument("name", help=f"the study: {', '.join(sorted(STUDIES))}")
    study.add_argument("--out", metavar="DIR", help="report folder (default: a new temporary folder)")
    study.add_argument("--seed", type=int, help="random seed (same seed → same study; default the study's)")
    study.add_argument("--days", type=int, help="number of simulated days, or of seeds (per scenario or market "
                       "size) for martinez-trejo-2022, rahmani-negawatt and jing-2021 (default the study's)")
    study.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="a study's option, e.g. calibration=text (martinez-trejo-2022: table or text), "
                       "target_kwh=60 (rahmani-negawatt), dra_price_per_kwh=12 (jing-2021), "
                       "strategies=zic,cost-plus slots=12 prosumers=20 mechanism=dpda grid=wholesale "
                       "(day-strategies)")
    study.set_defaults(run=run_study_command)


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def run_study_command(args: argparse.Namespace) -> int:
    from transactive.studies import STUDIES, StudyError

    study = STUDIES.get(args.name)
    if study is None:
        return _error(f"name: unknown study {args.name!r} (one of {', '.join(sorted(STUDIES))})")
    options: dict[str, str] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            return _error(f"--set: {item!r} is not KEY=VALUE")
        if key not in study.options:
            known = ", ".join(study.options) or "none"
            return _error(f"--set: unknown option {key!r} for {study.name} (options: {known})")
        options[key] = value
    seed = study.default_seed if args.seed is None else args.seed
    days = study.default_days if args.days is None else args.days
    out = Path(args.out or tempfile.mkdtemp(prefix=f"transactive-study-{study.name}-"))
    if out.exists() and not out.is_dir():
        return _error(f"--out: {out} exists and is not a folder")
    console = Console(stderr=True)
    try:
        with Progress(TextColumn(f"[bold]{study.name}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, disable=not console.is_terminal) as bar:
            task = bar.add_task("hours", total=None)
            index = study.run(out, seed, days, lambda done, total: bar.update(task, completed=done, total=total),
                              options)
    except StudyError as exc:  # the study validates its own inputs; name the command-line argument
        flag = f"--{exc.field}" if exc.field in ("seed", "days", "out") else (
            f"--set {exc.field}" if exc.field in study.options else exc.field)
        return _error(f"{flag}: {exc.message}")
    print(f"{study.name}: report {index}")
    return 0
