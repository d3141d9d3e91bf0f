"""The SimBench loader's mapping (sim.simbench_profiles.simbench_day) on small synthetic frames of SimBench's
shape: which profile each prosumer gets, the annual-mean scaling, the day, the persistence forecasts, the
history days and slot aggregation. Needs no simbench install."""

from __future__ import annotations

import numpy as np
import pytest

from transactive.sim.profiles import households
from transactive.sim.simbench_profiles import ANNUAL_MEAN_KW, LOAD_PROFILES, PV_PROFILES, simbench_day

DAYS = 21
Q = 96


def _frames(load_days: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Load column n: (n + 1) x (day + 1), doubled in quarter hour n of every day (so the profile and the day
    can be read back); PV column j: (j + 1) / 10 during quarters 40-59 of every day, 0 otherwise."""
    day_of_row = np.repeat(np.arange(DAYS), Q) if load_days is None else load_days
    quarter = np.tile(np.arange(Q), DAYS)
    load = {p: (n + 1.0) * (day_of_row + 1.0) * (1.0 + (quarter == n)) for n, p in enumerate(LOAD_PROFILES)}
    pv = {p: np.where((quarter >= 40) & (quarter < 60), (j + 1) / 10, 0.0) for j, p in enumerate(PV_PROFILES)}
    return load, pv


def test_each_prosumer_gets_its_profiles_scaled_to_the_annual_mean() -> None:
    load, pv = _frames()
    n = 12
    p = simbench_day(load, pv, n_prosumers=n, date="2026-01-15", seed=5)  # day 14 of the year
    scale, kwp = households(n, 5)
    assert np.array_equal(p.load_scale, scale) and np.array_equal(p.pv_kwp, kwp)
    assert p.source == "simbench" and len(p.history_load_kwh) == 10
    mean_factor = np.mean(np.arange(1, DAYS + 1)) * (1 + 1 / Q)  # a column's annual mean is (n + 1) x this
    for k in range(n):
        profile = LOAD_PROFILES[k % 5]
        shape = 1.0 + (np.arange(Q) == k % 5)  # the spike of profile k mod 5
        expected_kw = scale[k] * ANNUAL_MEAN_KW * 15.0 / mean_factor * shape  # day 14 has factor 15
        assert p.load_kwh[k] == pytest.approx(expected_kw * 0.25)
        # forecast: one week earlier (day 7, factor 8); history: days 4 ... 13
        assert p.load_forecast_kwh[k] == pytest.approx(expected_kw * 8 / 15 * 0.25)
        assert [h[k][9] for h in p.history_load_kwh] == pytest.approx(
            [expected_kw[9] * f / 15 * 0.25 for f in range(5, 15)])
        pv_name = PV_PROFILES[k % 8]
        assert p.assignment[k] == (f"{profile} + {pv_name}" if kwp[k] > 0 else profile)
        expected_pv = np.where((np.arange(Q) >= 40) & (np.arange(Q) < 60), kwp[k] * (k % 8 + 1) / 10 * 0.25, 0.0)
        assert p.pv_kwh[k] == pytest.approx(expected_pv)
        assert p.pv_forecast_kwh[k] == pytest.approx(expected_pv)  # every day has the same sun here
    assert any(kwp == 0) and any(kwp > 0)


def test_early_dates_take_history_from_the_end_of_the_year() -> None:
    load, pv = _frames()
    p = simbench_day(load, pv, n_prosumers=5, date="2026-01-03", seed=1)  # day 2; forecast day 2 - 7 → day 16
    scale, _ = households(5, 1)
    unit = ANNUAL_MEAN_KW / (np.mean(np.arange(1, DAYS + 1)) * (1 + 1 / Q)) * 0.25
    assert p.load_kwh[0][9] == pytest.approx(scale[0] * unit * 3)
    assert p.load_forecast_kwh[0][9] == pytest.approx(scale[0] * unit * 17)
    assert p.history_load_kwh[0][0][9] == pytest.approx(scale[0] * unit * 14)  # day 2 - 10 → day 13


def test_longer_slots_sum_the_quarter_hours() -> None:
    load, pv = _frames()
    quarter = simbench_day(load, pv, n_prosumers=6, date="2026-01-10", slot_minutes=15, seed=2)
    hourly = simbench_day(load, pv, n_prosumers=6, date="2026-01-10", slot_minutes=60, seed=2)
    assert hourly.pv_kwh.shape == (6, 24)
    assert hourly.pv_kwh == pytest.approx(quarter.pv_kwh.reshape(6, 24, 4).sum(axis=2))
    assert hourly.load_kwh == pytest.approx(quarter.load_kwh.reshape(6, 24, 4).sum(axis=2))


def test_frames_of_the_wrong_shape_are_rejected_by_name() -> None:
    load, pv = _frames()
    with pytest.raises(ValueError, match="slot_minutes"):
        simbench_day(load, pv, n_prosumers=4, date="2026-01-10", slot_minutes=10)
    del load["H0-C"]
    with pytest.raises(ValueError, match=r"load profiles: missing column\(s\) \['H0-C'\]"):
        simbench_day(load, pv, n_prosumers=4, date="2026-01-10")
    load, pv = _frames()
    pv["PV2"] = pv["PV2"][:-5]
    with pytest.raises(ValueError, match="PV profiles: columns must hold the same whole number of days"):
        simbench_day(load, pv, n_prosumers=4, date="2026-01-10")


def test_the_day_takes_simbench_when_installed_and_names_the_field_when_not() -> None:
    from transactive.sim.day import DayConfig, DayConfigError, make_profiles
    from transactive.sim.simbench_profiles import SimbenchUnavailable, simbench_dataset_dir

    synthetic, note = make_profiles(DayConfig(profiles="synthetic"), 6)
    assert synthetic.source == "synthetic" and synthetic.assignment == () and "synthetic" in note
    try:
        simbench_dataset_dir()
    except SimbenchUnavailable:
        with pytest.raises(DayConfigError) as caught:
            make_profiles(DayConfig(profiles="simbench"), 6)
        assert caught.value.field == "profiles"
        assert make_profiles(DayConfig(profiles="auto"), 6)[0].source == "synthetic"
        return
    measured, note = make_profiles(DayConfig(profiles="simbench"), 6)
    assert measured.source == "simbench" and "SimBench" in note
    assert measured.assignment[:5] == tuple(
        p + (f" + PV{k + 1}" if measured.pv_kwp[k] > 0 else "") for k, p in enumerate(LOAD_PROFILES))
    assert np.array_equal(measured.pv_kwp, synthetic.pv_kwp)  # same households
    assert measured.pv_kwh[:, :16].sum() == 0 and measured.pv_kwh.sum() > 0  # no sun before 04:00 in June
    annual_mean_kwh = ANNUAL_MEAN_KW * 24 * measured.load_scale
    assert np.all(measured.load_kwh.sum(axis=1) < 3 * annual_mean_kwh)  # a plausible household day
