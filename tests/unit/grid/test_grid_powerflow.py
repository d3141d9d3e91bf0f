from __future__ import annotations

import numpy as np
import pytest

from transactive.grid.errors import GridError
from transactive.grid.feeder import load_feeder, load_network
from transactive.grid.powerflow import DsoPolicy, GridTrade, check_trades

NET = load_network()
LOADS = load_feeder().load_buses


def test_feasible_slot_is_untouched() -> None:
    trades = [GridTrade(LOADS[0], LOADS[10], 0.5, 3.0), GridTrade(LOADS[20], LOADS[30], 0.5, 2.0)]
    check = check_trades(NET, trades, slot_hours=0.25)
    assert check.accepted == (0, 1) and check.curtailed == ()
    assert check.initial.feasible and check.final.feasible
    assert DsoPolicy().v_min_pu <= check.final.min_vm_pu <= check.final.max_vm_pu <= DsoPolicy().v_max_pu


def test_overloaded_slot_curtails_the_lowest_score_trades_until_feasible() -> None:
    big = GridTrade(LOADS[0], LOADS[-1], 40.0, score=1.0)  # 160 kW over 15 min across the feeder
    small = [GridTrade(LOADS[k], LOADS[k + 1], 0.5, score=10.0 + k) for k in (2, 4)]
    check = check_trades(NET, [small[0], big, small[1]], slot_hours=0.25)
    assert not check.initial.feasible
    assert [c.trade for c in check.curtailed] == [1]  # the big trade has the lowest score
    assert check.curtailed[0].reason == check.initial.violations and check.curtailed[0].reason
    assert check.accepted == (0, 2) and check.feasible
    # an independent check of the final state: every voltage and loading within the policy
    assert np.nanmax(check.final.line_loading_percent) <= 100.0
    assert check.final.min_vm_pu >= 0.9 and check.final.max_vm_pu <= 1.1


def test_curtailment_order_is_by_score_not_by_size() -> None:
    big = GridTrade(LOADS[0], LOADS[-1], 40.0, score=100.0)
    small = [GridTrade(LOADS[k], LOADS[k + 1], 0.5, score=float(k)) for k in (2, 4)]
    check = check_trades(NET, [*small, big], slot_hours=0.25)
    # lower scores go first (they do not fix the violation), then the big one
    assert [c.trade for c in check.curtailed] == [0, 1, 2]
    assert check.accepted == () and check.feasible


def test_a_stricter_policy_curtails_more() -> None:
    trades = [GridTrade(LOADS[0], LOADS[-1], 10.0, 1.0)]
    assert check_trades(NET, trades).accepted == (0,)
    strict = DsoPolicy(max_line_loading_percent=5.0)
    assert check_trades(NET, trades, policy=strict).accepted == ()


def test_three_phase_flow_on_a_small_slot() -> None:
    check = check_trades(NET, [GridTrade(LOADS[0], LOADS[10], 0.5, 1.0)], method="three_phase")
    assert check.final.converged and check.accepted == (0,)


def test_policy_and_input_validation() -> None:
    with pytest.raises(GridError) as err:
        DsoPolicy(v_min_pu=1.2, v_max_pu=1.1)
    assert err.value.field == "policy.v_min_pu"
    with pytest.raises(GridError) as err:
        check_trades(NET, [GridTrade("nope", LOADS[0], 1.0, 1.0)])
    assert err.value.field == "trades[0].buyer_bus"
    with pytest.raises(GridError) as err:
        check_trades(NET, [GridTrade(LOADS[1], LOADS[0], -1.0, 1.0)])
    assert err.value.field == "trades[0].energy_kwh"
    with pytest.raises(GridError) as err:
        check_trades(NET, [], slot_hours=0.0)
    assert err.value.field == "slot_hours"


def test_bisection_search_agrees_with_the_literal_procedure() -> None:
    trades = [GridTrade(LOADS[k], LOADS[-1 - k], 6.0 + k, score=float(k % 5)) for k in range(12)]
    linear = check_trades(NET, trades, slot_hours=0.25)
    fast = check_trades(NET, trades, slot_hours=0.25, search="bisect")
    assert len(linear.curtailed) > 1  # the case is worth bisecting
    assert fast.accepted == linear.accepted and fast.feasible
    assert [c.trade for c in fast.curtailed] == [c.trade for c in linear.curtailed]
    assert fast.curtailed[0].reason == linear.curtailed[0].reason
