"""``transactive study NAME [--out DIR] [--seed S] [--days N]``: run one of the papers' case studies.

Writes CSV data, PNG figures and ``OUT/index.html`` (``docs/studies.md``). A progress bar on stderr when it is
a terminal, nothing otherwise. Exit 2 naming the argument for a bad name, seed or day count.
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
    study.add_argument("--days", type=int, help="number of simulated days (default the study's)")
    study.set_defaults(run=run_study_command)


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def run_study_command(args: argparse.Namespace) -> int:
    from transactive.studies import STUDIES, StudyError

    study = STUDIES.get(args.name)
    if study is None:
        return _error(f"name: unknown study {args.name!r} (one of {', '.join(sorted(STUDIES))})")
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
            index = study.run(out, seed, days, lambda done, total: bar.update(task, completed=done, total=total))
    except StudyError as exc:  # the study validates its own inputs; name the command-line argument
        flag = f"--{exc.field}" if exc.field in ("seed", "days", "out") else exc.field
        return _error(f"{flag}: {exc.message}")
    print(f"{study.name}: report {index}")
    return 0
