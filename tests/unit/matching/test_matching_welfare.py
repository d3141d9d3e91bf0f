from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from transactive.matching.welfare import buyer_utility, buyer_welfare, seller_cost, seller_welfare


def test_seller_cost_and_welfare_by_hand() -> None:
    # C(10) = 0.1*100 + 1*10 + 2 = 22; W = 16.5*10 - 22 = 143
    assert float(seller_cost(10.0, 0.1, 1.0, 2.0)) == 22.0
    assert float(seller_welfare(16.5, 10.0, 0.1, 1.0, 2.0)) == 143.0


def test_buyer_utility_quadratic_then_saturated_at_omega2_over_4alpha() -> None:
    # omega 2, alpha 0.05: saturation at E = 20, U = 4/0.2 = 20
    assert float(buyer_utility(10.0, 2.0, 0.05)) == 15.0  # 20 - 5
    assert float(buyer_utility(20.0, 2.0, 0.05)) == 20.0
    assert float(buyer_utility(50.0, 2.0, 0.05)) == 20.0
    assert float(buyer_welfare(1.5, 10.0, 2.0, 0.05)) == 0.0  # 15 - 15


@given(st.floats(0.1, 100.0), st.floats(1e-3, 10.0))
def test_utility_is_continuous_and_non_decreasing(omega: float, alpha: float) -> None:
    sat = omega / (2 * alpha)
    below = float(buyer_utility(np.nextafter(sat, 0.0), omega, alpha))
    at = float(buyer_utility(sat, omega, alpha))
    assert abs(at - below) <= 1e-9 * max(1.0, at)
    grid = np.linspace(0.0, 2 * sat, 101)
    u = buyer_utility(grid, omega, alpha)
    assert np.all(np.diff(u) >= -1e-9 * max(1.0, at))
