"""SimBench's measured 15-minute household load and PV profiles for the simulated day (optional extra ``profiles``).

SimBench (package ``simbench``, ~90 MB download, ~380 MB installed; ``pip install 'transactive[profiles]'``,
which ``make demo`` does) ships one year (2016, 35,136 quarter hours) of normalised profiles in
``simbench/networks/1-complete_data-mixed-all-0-sw/``: ``LoadProfile.csv`` (``<profile>_pload``, p.u. of the
profile's peak) and ``RESProfile.csv`` (``PV1`` ... ``PV8``, p.u. of the installed peak power). We read the
two CSV files directly (columns below) rather than building a SimBench grid.

Mapping (:func:`simbench_day`; our choice, the seeds are silent):

* households keep the synthetic model's load scale and PV size (:func:`transactive.sim.profiles.households`:
  same seed, same households);
* prosumer ``k`` gets household profile ``LOAD_PROFILES[k mod 5]`` (H0-A, H0-B, H0-C, H0-G, H0-L; H0-H is left
  out, its year is nearly flat, mean 66 % of its peak, unlike a household) scaled so that its **annual mean is
  ``ANNUAL_MEAN_KW`` (0.4 kW, 3,500 kWh a year) × the household's load scale**; and, when it has PV, profile
  ``PV{1 + k mod 8}`` × its kWp;
* the day is the configured date's month and day in 2016; energy per slot is the sum of the quarter hours
  (slots of 15, 30, 60 ... minutes);
* **metered** = the profile of the day; **forecast** = persistence: the same slot one week earlier for the load,
  one day earlier for PV (the market plans on it, so forecast errors are real, not drawn noise);
* demand-response **history**: the ten previous days of the same load profile (wrapping around the year).

When the package is not installed, :func:`load_simbench_frames` raises :class:`SimbenchUnavailable` and the
day uses the synthetic profiles (:mod:`transactive.sim.profiles`); the summary says which were used.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import numpy as np

from transactive.sim.profiles import DayProfiles, FloatArray, households

LOAD_PROFILES = ("H0-A", "H0-B", "H0-C", "H0-G", "H0-L")
PV_PROFILES = tuple(f"PV{i}" for i in range(1, 9))
ANNUAL_MEAN_KW = 0.4
QUARTERS_PER_DAY = 96
SIMBENCH_YEAR = 2016
DATASET = "1-complete_data-mixed-all-0-sw"
HISTORY_DAYS = 10


class SimbenchUnavailable(RuntimeError):
    """SimBench's profiles cannot be read here (package not installed, or a file or column missing)."""


def simbench_dataset_dir() -> Path:
    """The folder of SimBench's complete data set, without importing the package (which imports pandapower)."""
    spec = importlib.util.find_spec("simbench")
    if spec is None or not spec.submodule_search_locations:
        raise SimbenchUnavailable("the simbench package is not installed (pip install 'transactive[profiles]')")
    folder = Path(next(iter(spec.submodule_search_locations))) / "networks" / DATASET
    if not folder.is_dir():
        raise SimbenchUnavailable(f"no SimBench data set in {folder}")
    return folder


def load_simbench_frames() -> tuple[dict[str, FloatArray], dict[str, FloatArray]]:
    """SimBench's household load (``H0-*``, p.u.) and PV (``PV1``-``PV8``, p.u.) columns for the year, one value
    per quarter hour."""
    import pandas as pd

    folder = simbench_dataset_dir()
    try:
        load = pd.read_csv(folder / "LoadProfile.csv", sep=";", usecols=[f"{p}_pload" for p in LOAD_PROFILES],
                           dtype="float64")
        pv = pd.read_csv(folder / "RESProfile.csv", sep=";", usecols=list(PV_PROFILES), dtype="float64")
    except (OSError, ValueError) as exc:
        raise SimbenchUnavailable(f"cannot read SimBench's profiles in {folder}: {exc}") from exc
    return ({p: load[f"{p}_pload"].to_numpy() for p in LOAD_PROFILES},
            {p: pv[p].to_numpy() for p in PV_PROFILES})


def _slots(values: FloatArray, day: int, slot_minutes: int) -> FloatArray:
    """Mean power (p.u.) per slot of day ``day`` (0-based day of the year, wrapping) from quarter-hour values."""
    n_days = len(values) // QUARTERS_PER_DAY
    start = (day % n_days) * QUARTERS_PER_DAY
    quarters = values[start: start + QUARTERS_PER_DAY]
    result: FloatArray = quarters.reshape(-1, slot_minutes // 15).mean(axis=1)
    return result


def simbench_day(
    load_frame: Mapping[str, FloatArray],
    pv_frame: Mapping[str, FloatArray],
    *,
    n_prosumers: int,
    date: str,
    slot_minutes: int = 15,
    seed: int = 0,
    pv_share: float = 0.6,
) -> DayProfiles:
    """The day's profiles from SimBench-shaped columns (see the module docstring): ``load_frame`` maps each of
    :data:`LOAD_PROFILES` and ``pv_frame`` each of :data:`PV_PROFILES` to a year of quarter-hour p.u. values
    (any whole number of days). ``ValueError`` for a slot length that is not a multiple of 15 minutes or a
    missing column."""
    if slot_minutes % 15 or 1440 % slot_minutes:
        raise ValueError("slot_minutes: SimBench profiles are quarter-hourly; use a multiple of 15 dividing a day")
    for name, frame, columns in (("load", load_frame, LOAD_PROFILES), ("PV", pv_frame, PV_PROFILES)):
        missing = [c for c in columns if c not in frame]
        if missing:
            raise ValueError(f"{name} profiles: missing column(s) {missing}")
        lengths = {len(frame[c]) for c in columns}
        if len(lengths) != 1 or next(iter(lengths)) % QUARTERS_PER_DAY or not next(iter(lengths)):
            raise ValueError(f"{name} profiles: columns must hold the same whole number of days")
    moment = datetime.strptime(date, "%Y-%m-%d")
    day = datetime(SIMBENCH_YEAR, moment.month, moment.day).timetuple().tm_yday - 1
    hours = slot_minutes / 60.0
    load_scale, pv_kwp = households(n_prosumers, seed, pv_share)
    load_of = [LOAD_PROFILES[k % len(LOAD_PROFILES)] for k in range(n_prosumers)]
    pv_of = [PV_PROFILES[k % len(PV_PROFILES)] for k in range(n_prosumers)]
    kw_per_pu = {p: ANNUAL_MEAN_KW / max(float(np.mean(load_frame[p])), 1e-12) for p in LOAD_PROFILES}

    def load_kwh(offset: int) -> FloatArray:
        rows = [load_scale[k] * kw_per_pu[p] * np.maximum(_slots(load_frame[p], day + offset, slot_minutes), 0.0)
                for k, p in enumerate(load_of)]
        return np.asarray(rows, dtype=np.float64) * hours

    def pv_kwh(offset: int) -> FloatArray:
        rows = [pv_kwp[k] * np.maximum(_slots(pv_frame[p], day + offset, slot_minutes), 0.0)
                for k, p in enumerate(pv_of)]
        return np.asarray(rows, dtype=np.float64) * hours

    assignment = tuple(f"{load_of[k]}" + (f" + {pv_of[k]}" if pv_kwp[k] > 0 else "") for k in range(n_prosumers))
    return DayProfiles(
        load_forecast_kwh=load_kwh(-7), load_kwh=load_kwh(0), pv_forecast_kwh=pv_kwh(-1), pv_kwh=pv_kwh(0),
        pv_kwp=pv_kwp, load_scale=load_scale, source="simbench",
        history_load_kwh=tuple(load_kwh(-d) for d in range(HISTORY_DAYS, 0, -1)), assignment=assignment,
    )
