from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given
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


def _apportion_per_figure(total: int, weights: list[float]) -> list[int]:
    """The largest-remainder rule figure by figure (the pre-array implementation), the oracle."""
    if not weights:
        return []
    weight_sum = math.fsum(weights)
    if weight_sum == 0:
        return [total] + [0] * (len(weights) - 1)
    sign = 1 if total >= 0 else -1
    magnitude = abs(total)
    quotas = [magnitude * w / weight_sum for w in weights]
    floors = [math.floor(q) for q in quotas]
    left = magnitude - sum(floors)
    for k in sorted(range(len(weights)), key=lambda k: (-(quotas[k] - floors[k]), k))[:left]:
        floors[k] += 1
    return [sign * f for f in floors]


_WEIGHTS = st.lists(
    st.one_of(  # repeated small weights make equal remainders (ties), huge ones large quotas
        st.sampled_from([0.0, 1.0, 2.0, 3.0, 0.1, 1 / 3, 1e-300]),
        st.floats(min_value=0, max_value=1e12, allow_nan=False),
    ),
    max_size=40,
)


@given(st.one_of(st.integers(-10**12, 10**12), st.integers(-2**53 + 1, 2**53 - 1), st.sampled_from([0, 1, -1, 7])),
       _WEIGHTS)
def test_apportion_on_arrays_gives_the_per_figure_integers(total: int, weights: list[float]) -> None:
    if not weights:
        total = 0
    assert apportion(total, weights) == _apportion_per_figure(total, weights)


@given(st.integers(1, 50), st.integers(0, 10**6))
def test_apportion_equal_weights_gives_the_remainder_to_the_lowest_indices(n: int, total: int) -> None:
    parts = apportion(total, [2.5] * n)
    assert parts == [total // n + (1 if k < total % n else 0) for k in range(n)]


def _exact_largest_remainder(total: int, weights: Sequence[float]) -> list[int]:
    """The largest-remainder rule in exact rational arithmetic (every float and int is a rational): the oracle."""
    if not weights:
        return []
    exact = [Fraction(w) for w in weights]
    weight_sum = sum(exact, Fraction(0))
    if weight_sum == 0:
        return [total] + [0] * (len(weights) - 1)
    magnitude = abs(total)
    quotas = [magnitude * w / weight_sum for w in exact]
    floors = [math.floor(q) for q in quotas]
    for k in sorted(range(len(weights)), key=lambda k: (floors[k] - quotas[k], k))[:magnitude - sum(floors)]:
        floors[k] += 1
    return floors if total >= 0 else [-f for f in floors]


_TOTALS = st.one_of(st.integers(-10**12, 10**12), st.integers(-10**40, 10**40), st.sampled_from([0, 1, -1, 7]))
_INT_WEIGHTS = st.lists(
    st.one_of(  # above 2^53 an int has no float64; equal small ones make equal remainders (ties)
        st.sampled_from([0, 1, 2, 3, 2**53 + 1, 2**60 + 1, 2**60, 2**60 - 1]),
        st.integers(0, 2**53), st.integers(0, 10**30)),
    min_size=1, max_size=30)


@given(_TOTALS, _INT_WEIGHTS)
@example(1, [2**60, 2**60 + 1])  # float64 sees both as 2^60: equal remainders, the unit went to index 0
@example(10**30 + 1, [3, 1, 2**70])
def test_apportion_of_int_weights_is_the_exact_rule(total: int, weights: list[int]) -> None:
    assert apportion(total, weights) == _exact_largest_remainder(total, weights)
    assert apportion(total, np.array(weights, dtype=object)) == _exact_largest_remainder(total, weights)


@given(_TOTALS, st.lists(st.integers(0, 2**62), min_size=1, max_size=30))
@example(1, [2**60, 2**60 + 1])
def test_apportion_of_an_int64_array_is_the_exact_rule(total: int, weights: list[int]) -> None:
    assert apportion(total, np.array(weights, dtype=np.int64)) == _exact_largest_remainder(total, weights)


@given(st.one_of(st.integers(2**53, 10**40), st.integers(-10**40, -2**53)), _WEIGHTS.filter(bool))
@example(2**53 + 3, [1.0, 1.0, 1.0])  # float64 quotas floor to 3 x 3002399751580332: one unit above the total
def test_apportion_of_a_total_beyond_float64_integers_is_the_exact_rule(total: int, weights: list[float]) -> None:
    """Beyond 2^53 float64 quotas lose units (their floors could sum above the total): the exact rule."""
    parts = apportion(total, weights)
    assert parts == _exact_largest_remainder(total, weights)
    assert sum(parts) == total


def test_apportion_of_huge_ints_matches_the_worked_example() -> None:
    # float64 sees 2^60 + 1 as 2^60: equal remainders, the lower index got the unit
    assert apportion(3, [2**60 + 1, 2**60, 2**60 - 1]) == [1, 1, 1]
    assert apportion(2, [2**60 + 1, 2**60, 2**60 - 1]) == [1, 1, 0]
    assert apportion(1, [2**60, 2**60 + 1]) == [0, 1]  # the larger weight, not the lower index
    assert apportion(2**53 + 3, [1.0]) == [2**53 + 3]


def test_apportion_refuses_negative_or_non_finite_weights_on_both_paths() -> None:
    for total in (5, 2**60):
        for weights in ([1, -1], [1.0, -1.0], [2**60, float("nan")], [1.0, float("inf")]):
            with pytest.raises(ValueError, match="finite and non-negative"):
                apportion(total, weights)
    with pytest.raises(ValueError, match="no weights"):
        apportion(2**60, [])
