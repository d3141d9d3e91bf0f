"""The prepared network reused across check_trades calls computes, bit for bit, what a fresh copy computes
(``solver="pandapower"``; the default Newton-Raphson solver is checked against pandapower in test_grid_newton.py).

Oracle: pandapower's public API on a fresh deep copy per slot (the feeder's loads off, one ``create_sgen`` and
one ``create_load`` per trade, ``runpp(numba=False)``), the way every check ran before networks were prepared.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd
import pytest

from grid_support import fresh_flow
from transactive.grid.feeder import _bus_labels, load_feeder, load_network
from transactive.grid.powerflow import GridTrade, NetworkCheck, _prepared, check_trades

NET = load_network()
LOADS = load_feeder().load_buses


def _random_slots(seed: int, n: int) -> list[list[GridTrade]]:
    rng = np.random.default_rng(seed)
    slots = []
    for _ in range(n):
        k = int(rng.integers(0, 6))
        big = rng.random() < 0.4  # some slots overload the feeder (curtailment, violations)
        slots.append([GridTrade(LOADS[int(rng.integers(len(LOADS)))], LOADS[int(rng.integers(len(LOADS)))],
                                float(rng.uniform(5.0, 60.0) if big else rng.uniform(0.001, 4.0)),
                                float(rng.integers(0, 3))) for _ in range(k)])
        if rng.random() < 0.1:  # a flow that does not converge
            slots[-1].append(GridTrade(LOADS[0], LOADS[-1], 1000.0, 0.5))
    return slots


def _same_state(a: Any, b: Any) -> bool:
    return (a.converged == b.converged and a.violations == b.violations
            and np.array_equal(a.vm_pu, b.vm_pu, equal_nan=True)
            and np.array_equal(a.line_loading_percent, b.line_loading_percent, equal_nan=True))


def _same_check(a: NetworkCheck, b: NetworkCheck) -> bool:
    return (a.accepted == b.accepted and a.curtailed == b.curtailed and a.bus_names == b.bus_names
            and a.line_names == b.line_names and _same_state(a.initial, b.initial) and _same_state(a.final, b.final))


@pytest.mark.parametrize("seed", [1, 2])
def test_reused_network_flows_equal_fresh_pandapower_flows_bit_for_bit(seed: int) -> None:
    net = copy.deepcopy(NET)  # its own prepared copy, reused across the slots below
    for trades in _random_slots(seed, 25):
        check = check_trades(net, trades, solver="pandapower")
        expected = fresh_flow(net, [(t.seller_bus, t.buyer_bus, t.energy_kwh / 0.25 / 1000.0) for t in trades])
        if expected is None:
            assert not check.initial.converged
            continue
        assert np.array_equal(check.initial.vm_pu, expected[0])
        assert np.array_equal(check.initial.line_loading_percent, expected[1])


def test_every_decision_equals_a_check_on_a_fresh_network() -> None:
    """Curtailment and partial bisection (many flows per slot) on the reused copy == on a new network object."""
    net = copy.deepcopy(NET)
    for k, trades in enumerate(_random_slots(3, 30)):
        partial = k % 2 == 0
        reused = check_trades(net, trades, partial=partial)
        fresh = check_trades(copy.deepcopy(NET), trades, partial=partial)
        assert _same_check(reused, fresh)


def test_the_prepared_rows_equal_a_fresh_copys_rows() -> None:
    """After slots of other sizes and buses, the generator and load tables are those a fresh copy gets
    (slots where nothing is curtailed)."""
    import pandapower as pp

    net = copy.deepcopy(NET)
    slots = _random_slots(4, 12)
    for trades in slots:
        if check_trades(net, trades, solver="pandapower").curtailed:  # the curtailed trades' rows are off (power 0)
            continue
        prepared = _prepared(net, "balanced", False)
        fresh = copy.deepcopy(NET)
        index_of = dict(zip(_bus_labels(fresh), fresh.bus.index.tolist(), strict=True))
        for k, t in enumerate(trades):
            p_mw = t.energy_kwh / 0.25 / 1000.0
            pp.create_sgen(fresh, index_of[t.seller_bus], p_mw=p_mw, name=f"trade{k}")
            pp.create_load(fresh, index_of[t.buyer_bus], p_mw=p_mw, name=f"trade{k}")
        for table in ("sgen", "load"):
            pd.testing.assert_frame_equal(prepared.net[table], fresh[table], check_exact=True)


def test_a_changed_network_is_prepared_again_and_the_callers_network_is_untouched() -> None:
    net = copy.deepcopy(NET)
    trades = [GridTrade(LOADS[0], LOADS[-1], 10.0, 1.0)]
    before = check_trades(net, trades)
    assert before.accepted == (0,)
    assert len(net.sgen) == len(net.load) == 0 and not net.asymmetric_load["in_service"].eq(False).all()
    net.line["max_i_ka"] = net.line["max_i_ka"] / 20  # the same object, changed: every line 20 x weaker
    after = check_trades(net, trades)
    assert _same_check(after, check_trades(copy.deepcopy(net), trades))
    assert not after.initial.feasible and after.accepted == ()


def test_three_phase_reuse_equals_fresh() -> None:
    net = copy.deepcopy(NET)
    for trades in _random_slots(5, 4):
        reused = check_trades(net, trades[:2], method="three_phase")
        assert _same_check(reused, check_trades(copy.deepcopy(NET), trades[:2], method="three_phase"))


def test_concurrent_checks_on_one_network_equal_checks_on_fresh_networks() -> None:
    """Threads sharing one network (one prepared copy) get what each would get on its own copy."""
    from concurrent.futures import ThreadPoolExecutor

    net = copy.deepcopy(NET)
    slots = [s for s in _random_slots(6, 12) if not any(t.energy_kwh >= 1000 for t in s)]
    with ThreadPoolExecutor(4) as pool:
        shared = list(pool.map(lambda trades: check_trades(net, trades), slots))
    for trades, got in zip(slots, shared, strict=True):
        assert _same_check(got, check_trades(copy.deepcopy(NET), trades))


def test_checks_leave_the_shared_network_as_it_was() -> None:
    """``shared_network`` (what sim/slot.py hands check_trades) is read only: checks, curtailments and
    partial bisections on it change none of its tables, and they equal checks on a private copy."""
    from transactive.grid.feeder import shared_network
    from transactive.grid.powerflow import _fingerprint

    shared = shared_network()
    before = _fingerprint(shared)
    res_before = shared.res_bus.copy()
    for k, trades in enumerate(_random_slots(7, 6)):
        assert _same_check(check_trades(shared, trades, partial=k % 2 == 0),
                           check_trades(copy.deepcopy(NET), trades, partial=k % 2 == 0))
    assert _fingerprint(shared) == before
    pd.testing.assert_frame_equal(shared.res_bus, res_before, check_exact=True)
    assert len(shared.sgen) == len(shared.load) == 0
