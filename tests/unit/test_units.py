from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from transactive.units import apportion, energy_to_wh, money_to_micro


def test_rounding_is_nearest_ties_to_even() -> None:
    assert energy_to_wh(1.2345) == 1234  # 1234.5 in binary is just below: nearest
    assert energy_to_wh(0.0025) == 2  # 2.5 -> 2 (ties to even)
    assert money_to_micro(16.5) == 16_500_000


@given(
    st.integers(min_value=-10**12, max_value=10**12),
    st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=30),
)
def test_apportion_sums_exactly_and_stays_within_one_unit(total: int, weights: list[float]) -> None:
    parts = apportion(total, weights)
    assert sum(parts) == total
    weight_sum = math.fsum(weights)
    if weight_sum > 0:
        for part, w in zip(parts, weights, strict=True):
            assert abs(part - total * w / weight_sum) < 1 + 1e-6 * abs(total)
