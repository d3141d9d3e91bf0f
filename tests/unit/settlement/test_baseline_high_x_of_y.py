"""High X of Y baseline: hand-computed fixtures and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.settlement.baseline import BaselineError, delivered_kwh, high_x_of_y

# six days, four intervals; the event window is intervals 2-3, the adjustment window intervals 0-1
HISTORY = np.array([
    [1, 1, 9, 9],  # d0: highest window, but outside the 4 most recent eligible days
    [1, 1, 3, 3],  # d1: window 6
    [2, 2, 4, 4],  # d2: window 8
    [5, 5, 9, 9],  # d3: an earlier event day, excluded
    [1, 1, 2, 2],  # d4: window 4
    [3, 3, 5, 5],  # d5: window 10
], dtype=float)
ELIGIBLE = np.array([True, True, True, False, True, True])


def _base(**kw: object) -> object:
    return high_x_of_y(HISTORY, ELIGIBLE, slice(2, 4), x_days=2, y_days=4, adjustment_window=slice(0, 2), **kw)


def test_high_2_of_4_selects_by_window_energy_among_recent_eligible_days() -> None:
    b = high_x_of_y(HISTORY, ELIGIBLE, slice(2, 4), x_days=2, y_days=4)
    assert b.days == [5, 2]  # candidates d5, d4, d2, d1 (d3 excluded, d0 too old); top two by window energy
    np.testing.assert_allclose(b.baseline_kwh, [2.5, 2.5, 4.5, 4.5])
    assert b.factor == 1.0 and b.offset_kwh == 0.0


@pytest.mark.parametrize(("today", "factor", "expected"), [
    ([2.75, 2.75, 0, 0], 1.1, [2.75, 2.75, 4.95, 4.95]),  # 5.5 / 5 within the cap
    ([4.0, 4.0, 0, 0], 1.2, [3.0, 3.0, 5.4, 5.4]),        # 8 / 5 = 1.6 capped to 1.2
    ([1.0, 1.0, 0, 0], 0.8, [2.0, 2.0, 3.6, 3.6]),        # 2 / 5 = 0.4 capped to 0.8
])
def test_multiplicative_adjustment(today: list[float], factor: float, expected: list[float]) -> None:
    b = _base(event_day_kwh=np.array(today), adjustment="multiplicative")
    assert b.factor == pytest.approx(factor)
    np.testing.assert_allclose(b.baseline_kwh, expected)


@pytest.mark.parametrize(("today", "offset", "expected"), [
    ([2.7, 2.7, 0, 0], 0.2, [2.7, 2.7, 4.7, 4.7]),
    ([3.5, 3.5, 0, 0], 0.5, [3.0, 3.0, 5.0, 5.0]),    # +1.0 capped to 0.2 · 2.5
    ([0.0, 0.0, 0, 0], -0.5, [2.0, 2.0, 4.0, 4.0]),   # −2.5 capped to −0.5
])
def test_additive_adjustment(today: list[float], offset: float, expected: list[float]) -> None:
    b = _base(event_day_kwh=np.array(today), adjustment="additive")
    assert b.offset_kwh == pytest.approx(offset)
    np.testing.assert_allclose(b.baseline_kwh, expected)


def test_delivered_is_baseline_minus_metered_floored() -> None:
    assert delivered_kwh([5.0, 5.0], [4.0, 3.0]) == pytest.approx(3.0)
    assert delivered_kwh([5.0, 5.0], [6.0, 6.0]) == 0.0
    assert delivered_kwh([5.0, 5.0], [7.0, 1.0]) == pytest.approx(2.0)  # netted over the window


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"x_days": 0}, "x_days"), ({"y_days": 1, "x_days": 2}, "y_days"), ({"cap": 1.5}, "cap"),
    ({"x_days": 6, "y_days": 6}, "eligible"), ({"adjustment": "multiplicative"}, "adjustment_window"),
])
def test_invalid_inputs_name_the_field(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"x_days": 2, "y_days": 4} | kwargs
    with pytest.raises(BaselineError) as caught:
        high_x_of_y(HISTORY, ELIGIBLE, slice(2, 4), **args)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_negative_history_and_bad_metered_are_rejected() -> None:
    with pytest.raises(BaselineError, match="history_kwh"):
        high_x_of_y(-HISTORY, ELIGIBLE, slice(2, 4), x_days=2, y_days=4)
    with pytest.raises(BaselineError, match="metered_kwh"):
        delivered_kwh([1.0], [float("nan")])


days_st = st.integers(min_value=2, max_value=15)


@settings(max_examples=150, deadline=None)
@given(n_days=days_st, n_intervals=st.integers(1, 6), load=st.floats(0.0, 50.0),
       adjustment=st.sampled_from(["none", "multiplicative", "additive"]), data=st.data())
def test_constant_load_gives_that_load(n_days: int, n_intervals: int, load: float, adjustment: str,
                                       data: st.DataObject) -> None:
    x = data.draw(st.integers(1, n_days))
    y = data.draw(st.integers(x, n_days + 3))
    history = np.full((n_days, n_intervals), load)
    b = high_x_of_y(history, np.ones(n_days, dtype=bool), slice(0, n_intervals), x_days=x, y_days=y,
                    event_day_kwh=np.full(n_intervals, load), adjustment_window=slice(0, n_intervals),
                    adjustment=adjustment)  # type: ignore[arg-type]
    np.testing.assert_allclose(b.baseline_kwh, load, rtol=1e-12, atol=1e-12)
    assert delivered_kwh(b.baseline_kwh, np.full(n_intervals, load)) == pytest.approx(0.0, abs=1e-9)


finite = st.floats(0.0, 100.0, allow_nan=False)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), cap=st.floats(0.0, 0.9), adjustment=st.sampled_from(["multiplicative", "additive"]))
def test_selection_is_the_top_x_and_the_cap_holds(data: st.DataObject, cap: float, adjustment: str) -> None:
    n_days = data.draw(st.integers(2, 12))
    history = np.array(data.draw(st.lists(st.lists(finite, min_size=4, max_size=4), min_size=n_days,
                                          max_size=n_days)))
    eligible = np.array(data.draw(st.lists(st.booleans(), min_size=n_days, max_size=n_days)))
    x = data.draw(st.integers(1, 3))
    y = data.draw(st.integers(x, 6))
    today = np.array(data.draw(st.lists(finite, min_size=4, max_size=4)))
    if eligible.sum() < x:
        with pytest.raises(BaselineError):
            high_x_of_y(history, eligible, slice(2, 4), x_days=x, y_days=y)
        return
    b = high_x_of_y(history, eligible, slice(2, 4), x_days=x, y_days=y, event_day_kwh=today,
                    adjustment_window=slice(0, 2), adjustment=adjustment, cap=cap)  # type: ignore[arg-type]
    # oracle: the candidates are the y most recent eligible days; none left out beats a chosen one
    candidates = [d for d in range(n_days - 1, -1, -1) if eligible[d]][:y]
    assert len(b.days) == x and set(b.days) <= set(candidates)
    window = history[:, 2:4].sum(axis=1)
    assert min(window[b.days]) >= max([window[d] for d in candidates if d not in b.days], default=-1.0)
    np.testing.assert_allclose(b.unadjusted_kwh, history[b.days].mean(axis=0))
    assert 1 - cap - 1e-12 <= b.factor <= 1 + cap + 1e-12
    assert abs(b.offset_kwh) <= cap * b.unadjusted_kwh[0:2].mean() + 1e-12
    assert np.all(b.baseline_kwh >= 0)
