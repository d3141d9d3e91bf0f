from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from transactive.grid.charges import quotes, split_charge_micro, trade_charge


def test_trade_charge_is_charge_per_km_times_km() -> None:
    assert float(trade_charge(1500.0, 0.002)) == pytest.approx(0.003)
    assert float(trade_charge(0.0, 0.002)) == 0.0


def test_quotes_add_half_the_charge_to_buyers_and_subtract_it_from_sellers() -> None:
    # buyer 0 buys 10 kWh from seller 0 (charge 0.4) and 5 kWh from seller 1 (charge 0.2); p0 = 2
    bill, income = quotes(
        2.0,
        trade_buyer=np.array([0, 0]),
        trade_seller=np.array([0, 1]),
        trade_energy_kwh=np.array([10.0, 5.0]),
        trade_charge_tokens=np.array([0.4, 0.2]),
        n_buyers=2,
        n_sellers=2,
    )
    np.testing.assert_allclose(bill, [30.0 + 0.3, 0.0])
    np.testing.assert_allclose(income, [20.0 - 0.2, 10.0 - 0.1])
    assert bill.sum() - income.sum() == pytest.approx(0.6)  # the DSO's charges


@given(st.integers(0, 10**12))
def test_charge_split_adds_up_and_differs_by_at_most_one(charge: int) -> None:
    b, s = split_charge_micro(charge)
    assert b + s == charge and 0 <= b - s <= 1
