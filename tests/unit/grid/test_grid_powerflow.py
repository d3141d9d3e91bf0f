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


def test_partial_curtailment_keeps_part_of_the_marginal_trade() -> None:
    big = GridTrade(LOADS[0], LOADS[-1], 40.0, score=1.0)
    whole = check_trades(NET, [big], slot_hours=0.25)
    part = check_trades(NET, [big], slot_hours=0.25, partial=True)
    assert whole.accepted == part.accepted == () and whole.curtailed[0].kept_kwh == 0.0
    kept = part.curtailed[0].kept_kwh
    assert 0.0 < kept < 40.0 and part.feasible
    # independent check: the kept energy as a whole trade is feasible, 1/128 more of the trade is not
    assert check_trades(NET, [GridTrade(big.buyer_bus, big.seller_bus, kept, 1.0)]).accepted == (0,)
    more = GridTrade(big.buyer_bus, big.seller_bus, kept + 40.0 / 128, 1.0)
    assert check_trades(NET, [more]).accepted == ()


def test_curtailment_stops_at_the_first_feasible_slot() -> None:
    from transactive.sim.scenario import generate_scenario
    from transactive.sim.slot import run_slot

    out = run_slot(generate_scenario("P-40", seed=4, energy_range_kwh=(20.0, 80.0)))
    check = out.network
    assert check is not None and check.feasible and check.curtailed
    trades = out.matched.trades
    scores = [t.score for t in trades]
    # the curtailed ones are exactly the lowest-scored
    assert max(scores[c.trade] for c in check.curtailed) <= min(scores[k] for k in check.accepted)

    def grid_trade(k: int) -> GridTrade:
        return GridTrade(out.buyer_bus[k], out.seller_bus[k], trades[k].energy_kwh, trades[k].score)

    # the accepted set on its own is feasible; with the last curtailed trade back, it is not
    assert check_trades(NET, [grid_trade(k) for k in check.accepted]).initial.feasible
    back = [*check.accepted, check.curtailed[-1].trade]
    assert not check_trades(NET, [grid_trade(k) for k in back]).initial.feasible


@pytest.mark.parametrize("solver", ["newton", "pandapower"])
def test_violations_name_the_worst_as_printed_ties_in_table_order(solver: str) -> None:
    """Lines in series carry the same current: among equal printed loadings the first lines of the table are
    named (before, float noise at 1e-12 chose among them, so two correct solvers named different lines)."""
    policy = DsoPolicy(v_min_pu=0.5, v_max_pu=2.0)  # only the lines' loadings
    check = check_trades(NET, [GridTrade(LOADS[0], LOADS[-1], 100.0, 1.0)], policy=policy,
                         solver=solver)  # type: ignore[arg-type]
    state = check.initial
    over = [k for k, p in enumerate(state.line_loading_percent) if p > 100.0]
    assert len(over) > 3
    worst = sorted(over, key=lambda k: (-round(float(state.line_loading_percent[k]), 1), k))[:3]
    named = [v for v in state.violations if v.startswith("line ")]
    assert named == [f"line {check.line_names[k]} loading {state.line_loading_percent[k]:.1f} % > 100.0"
                     for k in worst]
