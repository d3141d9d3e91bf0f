"""Reproducible case studies of the seeds' papers (``transactive study NAME``; ``docs/studies.md``).

A study drives the library's mechanisms and market rules (it re-implements no clearing or pricing) and writes
CSV data, PNG figures and an ``index.html`` that sets each figure beside what the paper reports. Each study is
a :class:`Study` in :data:`STUDIES`; its ``run`` is ``(out, seed, days, progress) -> index path``.

A study may take named options (``Study.options``; ``transactive study NAME --set KEY=VALUE``), passed to
``run`` as a mapping of strings; ``days`` is what the study repeats (days for alashery-2021, seeds per scenario
for martinez-trejo-2022, rahmani-negawatt and jing-2021: ``Study.days_mean``).

Example:
    >>> sorted(STUDIES)
    ['alashery-2021', 'day-strategies', 'jing-2021', 'martinez-trejo-2022', 'rahmani-negawatt']
    >>> STUDIES["martinez-trejo-2022"].options
    ('calibration',)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import cast

from transactive.errors import FieldError

Progress = Callable[[int, int], None]


class StudyError(FieldError):
    """Invalid study input; ``field`` names it (``seed``, ``days``, ...; the CLI exits 2 naming ``--field``)."""


Options = Mapping[str, str]


@dataclass(frozen=True)
class Study:
    """A study: its name, the paper it reproduces, defaults, the function that runs it, the options it takes
    and what its ``days`` count."""

    name: str
    source: str
    default_seed: int
    default_days: int
    run: Callable[[Path, int, int, Progress | None, Options], Path]
    options: tuple[str, ...] = ()
    days_mean: str = "days"


def _alashery(out: Path, seed: int, days: int, progress: Progress | None, options: Options) -> Path:
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


def _martinez(out: Path, seed: int, days: int, progress: Progress | None, options: Options) -> Path:
    from transactive.studies.martinez_2022 import SWEEP_PREFS_M, StudyConfig, run_study
    from transactive.studies.martinez_report import write_report

    def draws(done: int, total: int) -> None:  # the report counts as one more step
        if progress is not None:
            progress(done, total + 1)

    try:
        config = StudyConfig(seed=seed, seeds=days, calibration=options.get("calibration", "table"))
    except StudyError as exc:
        raise StudyError("days", exc.message) if exc.field == "seeds" else exc from None
    start = time.perf_counter()
    result = run_study(config, draws)
    index = write_report(result, out, time.perf_counter() - start)
    if progress is not None:
        steps = (len(config.sizes) * 2 + len(SWEEP_PREFS_M)) * config.seeds + 1
        progress(steps, steps)
    return index


def _numbers(options: Options) -> dict[str, float]:
    """Numeric ``--set`` options (the CLI has checked the names)."""
    numbers: dict[str, float] = {}
    for key, text in options.items():
        try:
            numbers[key] = float(text)
        except ValueError:
            raise StudyError(key, f"must be a number, not {text!r}") from None
    return numbers


def _seed_sweep(study: str, report: str, out: Path, *, seed: int, days: int, progress: Progress | None,
                options: Options) -> Path:
    """A study swept over ``days`` seeds (its ``StudyConfig.seeds``): module ``study`` runs it, ``report`` writes it."""
    import importlib

    studied, reporting = importlib.import_module(study), importlib.import_module(report)
    try:
        config = studied.StudyConfig(seed=seed, seeds=days, **_numbers(options))
    except StudyError as exc:
        raise StudyError("days", exc.message) if exc.field == "seeds" else exc from None
    start = time.perf_counter()
    result = studied.run_study(config, progress)
    return cast(Path, reporting.write_report(result, out, time.perf_counter() - start))


def _rahmani(out: Path, seed: int, days: int, progress: Progress | None, options: Options) -> Path:
    return _seed_sweep("transactive.studies.rahmani_negawatt", "transactive.studies.rahmani_report",
                       out, seed=seed, days=days, progress=progress, options=options)


def _jing(out: Path, seed: int, days: int, progress: Progress | None, options: Options) -> Path:
    return _seed_sweep("transactive.studies.jing_2021", "transactive.studies.jing_report",
                       out, seed=seed, days=days, progress=progress, options=options)


def _day_strategies(out: Path, seed: int, days: int, progress: Progress | None, options: Options) -> Path:
    from transactive.studies.day_strategies import StudyConfig, parse_options, run_study, write_report

    config = StudyConfig(seed=seed, days=days, **parse_options(options))  # type: ignore[arg-type]
    start = time.perf_counter()
    result = run_study(config, progress)
    return write_report(result, out, time.perf_counter() - start)


STUDIES: Mapping[str, Study] = MappingProxyType({
    "alashery-2021": Study("alashery-2021", "seed 001 (AlAshery et al. 2021) §IV: 20 peers, five schemes",
                           1, 7, _alashery),
    "martinez-trejo-2022": Study("martinez-trejo-2022", "seed 004 (Martinez-Trejo 2022) ch. 3-4: P-10 … P-55, "
                                 "DPDA against McAfee, score matching on the LV feeder", 1, 20, _martinez,
                                 ("calibration",), "seeds per scenario"),
    "rahmani-negawatt": Study("rahmani-negawatt", "seed 000 (Rahmani) negawatt reverse auction: the worked "
                              "cases, VCG against a flat payment as offers grow", 0, 20, _rahmani,
                              ("target_kwh", "reserve_price_per_kwh"), "seeds per market size"),
    "jing-2021": Study("jing-2021", "seed 003 (Jing et al. 2021) Tables I-IV: Type I (DRA) and Type II (P2P) "
                       "negawatt networks, their prices as the request grows", 1, 20, _jing,
                       ("dra_price_per_kwh", "buyer_price_per_kwh"), "seeds"),
    "day-strategies": Study("day-strategies", "issue 10: the simulated day once per bidding strategy (zic, "
                            "cost-plus, grid): price paths, volumes and the gain over the grid side by side", 3, 1,
                            _day_strategies, ("strategies", "slots", "prosumers", "mechanism", "grid"), "days"),
})
