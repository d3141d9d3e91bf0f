"""Reproducible case studies of the seeds' papers (``transactive study NAME``; ``docs/studies.md``).

A study drives the library's mechanisms and market rules (it re-implements no clearing or pricing) and writes
CSV data, PNG figures and an ``index.html`` that sets each figure beside what the paper reports. Each study is
a :class:`Study` in :data:`STUDIES`; its ``run`` is ``(out, seed, days, progress) -> index path``.

Example:
    >>> sorted(STUDIES)
    ['alashery-2021']
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from transactive.errors import FieldError

Progress = Callable[[int, int], None]


class StudyError(FieldError):
    """Invalid study input; ``field`` names it (``seed``, ``days``, ...; the CLI exits 2 naming ``--field``)."""


@dataclass(frozen=True)
class Study:
    """A study: its name, the paper it reproduces, defaults and the function that runs it."""

    name: str
    source: str
    default_seed: int
    default_days: int
    run: Callable[[Path, int, int, Progress | None], Path]


def _alashery(out: Path, seed: int, days: int, progress: Progress | None) -> Path:
    from transactive.studies.alashery_2021 import StudyConfig, run_study
    from transactive.studies.alashery_report import write_report

    def hours(done: int, total: int) -> None:  # the report counts as one more step (it takes a few seconds)
        if progress is not None:
            progress(done, total + 1)

    start = time.perf_counter()
    result = run_study(StudyConfig(seed=seed, days=days), hours)
    index = write_report(result, out, time.perf_counter() - start)
    if progress is not None:
        progress(days * 24 + 1, days * 24 + 1)
    return index


STUDIES: Mapping[str, Study] = MappingProxyType({
    "alashery-2021": Study("alashery-2021", "seed 001 (AlAshery et al. 2021) §IV: 20 peers, five schemes",
                           1, 7, _alashery),
})
