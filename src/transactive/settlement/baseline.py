"""Customer baseline load ("high X of Y") with a same-day adjustment, and the negawatts delivered against it.

The method follows the CAISO / NYISO customer baseline (CBL) practice; seed 003 defines a negawatt as the
baseline load minus the measured load over the event hour (SEED-NOTES section 1 and 6).

Inputs are interval energies in kWh: ``history_kwh`` has one row per past day (oldest first, the day before
the event last) and one column per interval of the day; ``eligible`` marks the days that may serve as
baseline days (the caller excludes event days, holidays and, as configured, weekends).

1. **Candidate days:** the ``y_days`` most recent eligible days (fewer if the history is short; at least
   ``x_days`` are required).
2. **High X:** of those, the ``x_days`` with the highest energy over the event window (ties: the more recent
   day first).
3. **Unadjusted baseline:** the interval-wise mean of the selected days (kWh per interval).
4. **Same-day adjustment** over the adjustment window (intervals of the event day before the event, e.g.
   the hours from 4 h to 1 h before it, given by the caller):

   * ``multiplicative``: factor ``f = Σ actual / Σ baseline`` over the adjustment window, capped to
     ``[1 − cap, 1 + cap]`` (``f = 1`` if the baseline there is 0); baseline ×= ``f``;
   * ``additive``: offset ``d = mean(actual − baseline)`` over the adjustment window, capped to
     ``±cap · mean(baseline)`` there; baseline += ``d``, floored at 0 per interval;
   * ``none``: no adjustment.

Negawatts delivered over the event window = ``max(Σ baseline − Σ metered, 0)`` (kWh): a reduction in one
interval is offset by over-consumption in another, and a negative performance counts as 0 (no penalty here;
a shortfall against the sold quantity is settled by :mod:`transactive.settlement.negawatt`).

Example:
    >>> import numpy as np
    >>> history = np.array([[1.0, 2.0], [3.0, 4.0], [2.0, 2.0]])
    >>> b = high_x_of_y(history, np.ones(3, dtype=bool), window=slice(1, 2), x_days=2, y_days=3)
    >>> b.days, b.baseline_kwh.tolist()
    ([1, 2], [2.5, 3.0])
    >>> delivered_kwh(b.baseline_kwh[1:2], np.array([1.0]))
    2.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from transactive.errors import FieldError

Adjustment = Literal["none", "multiplicative", "additive"]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class BaselineError(FieldError):
    """Invalid baseline input; ``field`` names it (e.g. ``history_kwh``, ``x_days``)."""


@dataclass(frozen=True, eq=False)
class Baseline:
    """A computed baseline.

    Attributes:
        baseline_kwh: adjusted baseline per interval of the day, kWh.
        unadjusted_kwh: the mean of the selected days before the adjustment, kWh per interval.
        days: indices (rows of ``history_kwh``) of the selected days, highest window energy first.
        factor: the multiplicative factor applied (1.0 unless ``multiplicative``).
        offset_kwh: the additive offset per interval applied (0.0 unless ``additive``).
    """

    baseline_kwh: FloatArray
    unadjusted_kwh: FloatArray
    days: list[int]
    factor: float
    offset_kwh: float


def _as_matrix(history_kwh: npt.ArrayLike) -> FloatArray:
    history = np.asarray(history_kwh, dtype=np.float64)
    if history.ndim != 2 or history.shape[1] == 0:
        raise BaselineError("history_kwh", "must be a 2-D array: days × intervals")
    if not np.all(np.isfinite(history)) or np.any(history < 0):
        raise BaselineError("history_kwh", "must be finite and >= 0")
    return history


def high_x_of_y(
    history_kwh: npt.ArrayLike,
    eligible: npt.ArrayLike,
    window: slice,
    *,
    x_days: int = 5,
    y_days: int = 10,
    event_day_kwh: npt.ArrayLike | None = None,
    adjustment_window: slice | None = None,
    adjustment: Adjustment = "none",
    cap: float = 0.2,
) -> Baseline:
    """The "high ``x_days`` of ``y_days``" baseline, with an optional capped same-day adjustment.

    ``window`` selects the event intervals (ranking days); ``event_day_kwh`` (the event day's metered
    intervals) and ``adjustment_window`` are required for an adjustment other than ``none``.
    """
    history = _as_matrix(history_kwh)
    mask = np.asarray(eligible, dtype=bool)
    if mask.shape != (history.shape[0],):
        raise BaselineError("eligible", "must have one flag per day of history_kwh")
    if isinstance(x_days, bool) or not isinstance(x_days, int) or x_days < 1:
        raise BaselineError("x_days", "must be an integer >= 1")
    if isinstance(y_days, bool) or not isinstance(y_days, int) or y_days < x_days:
        raise BaselineError("y_days", "must be an integer >= x_days")
    if not math.isfinite(cap) or not 0 <= cap < 1:
        raise BaselineError("cap", "must be in [0, 1)")
    if len(range(*window.indices(history.shape[1]))) == 0:
        raise BaselineError("window", "selects no interval")
    candidates = np.flatnonzero(mask)[::-1][:y_days]  # most recent first
    if candidates.size < x_days:
        raise BaselineError("eligible", f"needs at least {x_days} eligible days, got {candidates.size}")
    window_kwh = history[candidates, window].sum(axis=1)
    order = np.argsort(-window_kwh, kind="stable")  # ties: more recent first (candidates are recent-first)
    chosen = candidates[order[:x_days]]
    unadjusted = history[chosen].mean(axis=0)
    factor, offset = 1.0, 0.0
    baseline = unadjusted.copy()
    if adjustment != "none":
        if adjustment not in ("multiplicative", "additive"):
            raise BaselineError("adjustment", "must be 'none', 'multiplicative' or 'additive'")
        if event_day_kwh is None or adjustment_window is None:
            raise BaselineError("adjustment_window", "an adjustment needs event_day_kwh and adjustment_window")
        today = np.asarray(event_day_kwh, dtype=np.float64)
        if today.shape != (history.shape[1],) or not np.all(np.isfinite(today)) or np.any(today < 0):
            raise BaselineError("event_day_kwh", "must be finite, >= 0, one value per interval")
        actual_adj = today[adjustment_window]
        base_adj = unadjusted[adjustment_window]
        if actual_adj.size == 0:
            raise BaselineError("adjustment_window", "selects no interval")
        if adjustment == "multiplicative":
            base_sum = math.fsum(base_adj.tolist())
            if base_sum > 0:
                factor = min(max(math.fsum(actual_adj.tolist()) / base_sum, 1.0 - cap), 1.0 + cap)
            baseline = unadjusted * factor
        else:
            limit = cap * float(base_adj.mean())
            offset = min(max(float((actual_adj - base_adj).mean()), -limit), limit)
            baseline = np.maximum(unadjusted + offset, 0.0)
    return Baseline(baseline, unadjusted, [int(d) for d in chosen], factor, offset)


def delivered_kwh(baseline_kwh: npt.ArrayLike, metered_kwh: npt.ArrayLike) -> float:
    """Negawatts delivered over an event window: ``max(Σ baseline − Σ metered, 0)``, kWh."""
    base = np.asarray(baseline_kwh, dtype=np.float64)
    metered = np.asarray(metered_kwh, dtype=np.float64)
    if base.shape != metered.shape:
        raise BaselineError("metered_kwh", "must have one value per baseline interval")
    if not np.all(np.isfinite(metered)) or np.any(metered < 0):
        raise BaselineError("metered_kwh", "must be finite and >= 0")
    return max(math.fsum(base.tolist()) - math.fsum(metered.tolist()), 0.0)
