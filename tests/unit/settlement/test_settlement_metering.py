from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.settlement.metering import SettledTrade, SettlementError, settle
from transactive.units import money_to_micro


def test_equations_4_8_and_4_9_by_hand() -> None:
    trades = [SettledTrade("b1", "s1", 10.0, 0.004), SettledTrade("b1", "s2", 5.0, 0.002)]
    s = settle(2.0, trades, {"b1": 14.0}, {"s1": 10.0, "s2": 6.0}, penalty_per_kwh=0.5)
    lines = {(line.side, line.participant): line for line in s.lines}
    b1 = lines[("buyer", "b1")]
    # bill = 2*14 + (0.002 + 0.001) + |15-14|*0.5 = 28.503
    assert (b1.energy_micro, b1.tariff_micro, b1.credit_micro, b1.amount_micro) == (
        28_000_000,
        3000,
        500_000,
        28_503_000,
    )
    s1 = lines[("seller", "s1")]
    assert s1.amount_micro == 20_000_000 - 2000  # exact delivery: no credit
    s2 = lines[("seller", "s2")]
    # over-delivery is penalised too: 2*6 - 0.001 - 1*0.5
    assert s2.amount_micro == 12_000_000 - 1000 - 500_000
    # DSO: tariffs 6000 + penalties 1,000,000 + imbalance 2*(14 - 16) = -4,000,000
    assert (s.dso_tariffs_micro, s.dso_penalties_micro, s.dso_imbalance_micro) == (6000, 1_000_000, -4_000_000)
    assert s.balance_micro == 0
    assert dict((p.account, p.amount_micro) for p in s.postings)["dso"] == 6000 + 1_000_000 - 4_000_000


def test_missing_meter_and_bad_numbers_name_the_field() -> None:
    t = [SettledTrade("b", "s", 1.0, 0.0)]
    with pytest.raises(SettlementError) as err:
        settle(1.0, t, {"b": 1.0}, {}, penalty_per_kwh=1.0)
    assert err.value.field == "metered_kwh.sellers[s]"
    with pytest.raises(SettlementError) as err:
        settle(1.0, t, {"b": 1.0}, {"s": 1.0}, penalty_per_kwh=-1.0)
    assert err.value.field == "penalty_per_kwh"
    with pytest.raises(SettlementError) as err:
        settle(1.0, t, {"b": float("nan")}, {"s": 1.0}, penalty_per_kwh=1.0)
    assert err.value.field == "metered_kwh.buyers[b]"


amounts = st.floats(0, 500, allow_nan=False).map(lambda x: round(x, 3))


@settings(max_examples=150)
@given(
    st.floats(0.0, 50.0).map(lambda x: round(x, 4)),
    st.floats(0.0, 10.0),
    st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 4), amounts, st.floats(0, 5, allow_nan=False)),
        min_size=1,
        max_size=12,
    ),
    st.lists(amounts, min_size=5, max_size=5),
    st.lists(amounts, min_size=5, max_size=5),
)
def test_debits_equal_credits(
    p0: float,
    penalty: float,
    raw: list[tuple[int, int, float, float]],
    meter_b: list[float],
    meter_s: list[float],
) -> None:
    trades = [SettledTrade(f"b{b}", f"s{s}", e, c) for b, s, e, c in raw]
    s = settle(
        p0,
        trades,
        {f"b{k}": v for k, v in enumerate(meter_b)},
        {f"s{k}": v for k, v in enumerate(meter_s)},
        penalty_per_kwh=penalty,
    )
    debits = -sum(p.amount_micro for p in s.postings if p.amount_micro < 0)
    credits = sum(p.amount_micro for p in s.postings if p.amount_micro > 0)
    assert debits == credits
    assert s.dso_tariffs_micro == money_to_micro(math.fsum(t.charge for t in trades))  # once per slot
    for line in s.lines:
        sign = 1 if line.side == "buyer" else -1
        assert line.amount_micro == line.energy_micro + sign * (line.tariff_micro + line.credit_micro)
        assert abs(line.credit_micro - abs(line.agreed_wh - line.metered_wh) / 1000 * penalty * 1e6) <= 1
    assert sum(line.tariff_micro for line in s.lines) == s.dso_tariffs_micro
