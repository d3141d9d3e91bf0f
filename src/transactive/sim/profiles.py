"""Deterministic synthetic 15-minute household load and PV profiles (the fallback for SimBench's profiles).

The simulated day uses SimBench's measured profiles when the optional ``simbench`` package is installed
(:mod:`transactive.sim.simbench_profiles`) and these documented shapes otherwise (``docs/day.md``):

* **household load** (kW): a night base of 0.25 plus a morning peak (Gaussian, centre 07:30, width 1.2 h,
  height 0.9) and an evening peak (centre 19:00, width 1.8 h, height 1.6), scaled per household by a factor
  drawn uniformly in [0.6, 1.6], times multiplicative noise ``1 + N(0, 0.08)`` per interval (floored at 0);
* **PV** (kW): a bell ``cos²`` between 06:00 and 20:00 peaking at 13:00, times the household's peak power
  (drawn uniformly in [2, 6] kWp for the ``pv_share`` of households that have PV), times a per-day
  clearness drawn in [0.7, 1.0] and per-interval noise ``1 + N(0, 0.05)`` (floored at 0).

Energy per interval is power × interval hours. Everything is a pure function of the seed.

Example:
    >>> p = day_profiles(n_prosumers=3, interval_minutes=15, seed=1)
    >>> p.load_kwh.shape, bool((p.load_kwh > 0).all()), float(p.pv_kwh[:, :24].sum())  # no sun before 06:00
    ((3, 96), True, 0.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class DayProfiles:
    """Per prosumer (rows) and interval (columns), kWh: forecast and metered load and PV, and each prosumer's
    PV peak power (kWp, 0 without PV) and load scale; ``source`` (``"synthetic"`` or ``"simbench"``), the
    metered load of history days for demand-response baselines (oldest first; empty: synthetic history days)
    and each prosumer's profile assignment (e.g. ``"H0-A + PV3"``; empty for synthetic)."""

    load_forecast_kwh: FloatArray
    load_kwh: FloatArray
    pv_forecast_kwh: FloatArray
    pv_kwh: FloatArray
    pv_kwp: FloatArray
    load_scale: FloatArray
    source: str = "synthetic"
    history_load_kwh: tuple[FloatArray, ...] = ()
    assignment: tuple[str, ...] = ()

    @property
    def net_forecast_kwh(self) -> FloatArray:
        """Forecast net position (> 0 surplus)."""
        return self.pv_forecast_kwh - self.load_forecast_kwh

    @property
    def net_kwh(self) -> FloatArray:
        """Metered net position (> 0 surplus), before any demand response."""
        return self.pv_kwh - self.load_kwh


def load_shape_kw(hours: FloatArray) -> FloatArray:
    """The household load shape, kW at the given hours of the day (scale 1)."""
    morning = 0.9 * np.exp(-0.5 * ((hours - 7.5) / 1.2) ** 2)
    evening = 1.6 * np.exp(-0.5 * ((hours - 19.0) / 1.8) ** 2)
    result: FloatArray = 0.25 + morning + evening
    return result


def pv_shape(hours: FloatArray) -> FloatArray:
    """The PV bell, per kWp: ``cos²(π (h − 13) / 14)`` between 06:00 and 20:00, 0 outside."""
    bell = np.cos(np.pi * (hours - 13.0) / 14.0) ** 2
    result: FloatArray = np.where((hours > 6.0) & (hours < 20.0), bell, 0.0)
    return result


def households(n_prosumers: int, seed: int, pv_share: float = 0.6) -> tuple[FloatArray, FloatArray]:
    """The households of ``seed``: load scale (uniform in [0.6, 1.6]) and PV peak power (kWp, uniform in [2, 6]
    for the ``pv_share`` that have PV, else 0)."""
    homes = np.random.default_rng([seed, 0])
    load_scale = homes.uniform(0.6, 1.6, n_prosumers)
    has_pv = homes.random(n_prosumers) < pv_share
    pv_kwp: FloatArray = np.where(has_pv, homes.uniform(2.0, 6.0, n_prosumers), 0.0)
    return load_scale, pv_kwp


def day_profiles(
    n_prosumers: int, interval_minutes: int = 15, seed: int = 0, *, pv_share: float = 0.6, day: int = 0
) -> DayProfiles:
    """Profiles of one whole day (``1440 / interval_minutes`` intervals). Households (scale, PV size) depend on
    ``seed`` only; the weather and noise on ``(seed, day)``, so ``day = -1, -2, ...`` gives history days of the
    same households (for demand-response baselines)."""
    n_intervals = 1440 // interval_minutes
    hours: FloatArray = ((np.arange(n_intervals) + 0.5) * interval_minutes / 60.0).astype(np.float64)
    slot_hours = interval_minutes / 60.0
    load_scale, pv_kwp = households(n_prosumers, seed, pv_share)
    weather = np.random.default_rng([seed, 1, day + 10_000])
    clearness = weather.uniform(0.7, 1.0)
    load_forecast = np.outer(load_scale, load_shape_kw(hours)) * slot_hours
    pv_forecast = np.outer(pv_kwp, pv_shape(hours)) * clearness * slot_hours
    load = np.maximum(load_forecast * (1.0 + weather.normal(0.0, 0.08, load_forecast.shape)), 0.0)
    pv = np.maximum(pv_forecast * (1.0 + weather.normal(0.0, 0.05, pv_forecast.shape)), 0.0)
    return DayProfiles(load_forecast, load, pv_forecast, pv, pv_kwp, load_scale)
