"""The prepared Newton-Raphson power flow (grid/newton.py) against pandapower, the oracle.

Oracle: ``pandapower.runpp(numba=False)`` on a fresh copy of the network per injection set (the feeder's loads
off, one ``create_sgen`` and one ``create_load`` per trade). Tolerance: pandapower's own convergence accuracy
(it stops once the power mismatch is below 1e-8 pu, so two correct solvers differ by ~1e-8 pu in voltage):
|Δvm| <= 1e-6 pu, |Δloading| <= 1e-3 %-points.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from grid_support import fresh_flow
from transactive.grid.errors import GridError
from transactive.grid.feeder import _bus_labels, load_feeder, load_network, shared_network
from transactive.grid.newton import FlowModel, flow_model
from transactive.grid.powerflow import GridTrade, check_trades

NET = load_network()
LOADS = load_feeder().load_buses
V_TOL_PU = 1e-6
LOADING_TOL = 1e-3


def _solve(model: FlowModel, injections: list[tuple[str, str, float]]) -> tuple[bool, Any, Any]:
    index_of = model.index_of
    buses = np.array([index_of[b] for s, bb, _ in injections for b in (s, bb)], dtype=np.int64)
    p = np.array([x for *_, p_mw in injections for x in (p_mw, -p_mw)], dtype=np.float64)
    return model.solve(model.injections(buses, p))


def _random_injections(rng: np.random.Generator) -> list[tuple[str, str, float]]:
    k = int(rng.integers(1, 10))
    scale = float(rng.choice([0.01, 0.05, 0.2]))  # light, heavy (overloads, low voltages), collapsing
    return [(str(rng.choice(LOADS)), str(rng.choice(LOADS)), float(rng.uniform(0.0, scale))) for _ in range(k)]


def test_the_bundled_model_is_the_one_built_from_pandapowers_network_now() -> None:
    """The shipped file (``python -m transactive.grid.newton`` writes it) equals the model built afresh."""
    bundled = flow_model("ieee_european_lv")
    assert bundled is not None
    built = FlowModel.from_network(shared_network("ieee_european_lv"), "ieee_european_lv")
    assert built is not None
    assert (bundled.name, bundled.bus_names, bundled.line_names, bundled.base_mva) == (
        built.name, built.bus_names, built.line_names, built.base_mva)
    assert bundled.bus_names == tuple(load_feeder().bus_names)
    for name in ("ybus", "yf", "yt"):
        assert (getattr(bundled, name) != getattr(built, name)).nnz == 0
    for name in ("bus_to_int", "ref", "pq", "v0", "sbus0", "line_row", "line_i_base_ka", "line_i_max_ka",
                 "line_fixed_percent"):
        assert np.array_equal(getattr(bundled, name), getattr(built, name)), name
    assert FlowModel.from_npz(built.to_npz()).ybus.nnz == built.ybus.nnz


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_voltages_and_loadings_equal_pandapowers_on_random_injections(seed: int) -> None:
    model = flow_model("ieee_european_lv")
    assert model is not None
    rng = np.random.default_rng(seed)
    diverged = 0
    for _ in range(20):
        injections = _random_injections(rng)
        converged, vm, loading = _solve(model, injections)
        expected = fresh_flow(NET, injections)
        assert converged == (expected is not None)
        if expected is None:
            diverged += 1
            assert np.isnan(vm).all() and np.isnan(loading).all()
            continue
        assert np.max(np.abs(vm - expected[0])) <= V_TOL_PU
        assert np.max(np.abs(loading - expected[1])) <= LOADING_TOL
    assert diverged < 20


def test_a_collapsing_flow_does_not_converge_as_in_pandapower() -> None:
    model = flow_model("ieee_european_lv")
    assert model is not None
    injections = [(LOADS[0], LOADS[-1], 4.0)]  # 4 MW across the LV feeder: no solution
    assert fresh_flow(NET, injections) is None
    assert not _solve(model, injections)[0]


def test_with_the_feeders_own_loads_equals_pandapower() -> None:
    model = FlowModel.from_network(NET, "ieee", base_load=True)
    assert model is not None and np.abs(model.sbus0).sum() > 0
    rng = np.random.default_rng(9)
    for _ in range(5):
        injections = _random_injections(rng)
        converged, vm, loading = _solve(model, injections)
        expected = fresh_flow(NET, injections, base_load=True)
        assert converged == (expected is not None)
        if expected is not None:
            assert np.max(np.abs(vm - expected[0])) <= V_TOL_PU
            assert np.max(np.abs(loading - expected[1])) <= LOADING_TOL


def _random_slots(seed: int, n: int) -> list[list[GridTrade]]:
    rng = np.random.default_rng(seed)
    slots = []
    for _ in range(n):
        big = rng.random() < 0.5  # some slots overload the feeder (curtailment, violations)
        slots.append([GridTrade(str(rng.choice(LOADS)), str(rng.choice(LOADS)),
                                float(rng.uniform(5.0, 60.0) if big else rng.uniform(0.001, 4.0)),
                                float(rng.integers(0, 3))) for _ in range(int(rng.integers(1, 7)))])
    return slots


@pytest.mark.parametrize("base_load", [False, True])
def test_check_trades_decides_as_with_pandapower(base_load: bool) -> None:
    """Accepted trades, curtailments with their reasons and the partial restore equal pandapower's."""
    curtailed = 0
    for k, trades in enumerate(_random_slots(11 + base_load, 20)):
        partial = k % 3 == 0
        ours = check_trades(NET, trades, partial=partial, base_load=base_load)
        theirs = check_trades(NET, trades, partial=partial, base_load=base_load, solver="pandapower")
        assert (ours.accepted, ours.curtailed) == (theirs.accepted, theirs.curtailed)
        assert ours.final.violations == theirs.final.violations
        assert np.allclose(ours.final.vm_pu, theirs.final.vm_pu, atol=V_TOL_PU, rtol=0, equal_nan=True)
        curtailed += len(ours.curtailed)
    assert curtailed > 0  # the slots exercise the curtailment


def test_a_flow_model_is_accepted_as_the_network_and_falls_back_for_three_phase() -> None:
    model = flow_model("ieee_european_lv")
    trades = [GridTrade(LOADS[3], LOADS[20], 2.0, 1.0), GridTrade(LOADS[7], LOADS[40], 30.0, 0.0)]
    assert (check_trades(model, trades).curtailed == check_trades(NET, trades, solver="pandapower").curtailed)
    three = check_trades(model, trades, method="three_phase")
    assert three.method == "three_phase"
    assert three.accepted == check_trades(NET, trades, method="three_phase").accepted


def test_networks_outside_the_model_fall_back_to_pandapower() -> None:
    """A voltage-controlled generator (a PV bus) is not covered: check_trades runs pandapower on it."""
    import pandapower.networks as pn

    net = pn.example_simple()
    assert FlowModel.from_network(net, "example_simple") is None
    buses = _bus_labels(net)
    trades = [GridTrade(buses[-1], buses[-2], 100.0, 1.0)]
    assert check_trades(net, trades) .final.vm_pu.tolist() == check_trades(
        net, trades, solver="pandapower").final.vm_pu.tolist()


def test_an_unknown_solver_or_bus_is_refused_by_field() -> None:
    with pytest.raises(GridError) as exc:
        check_trades(NET, [], solver="lu")  # type: ignore[arg-type]
    assert exc.value.field == "solver"
    with pytest.raises(GridError) as exc:
        check_trades(flow_model("ieee_european_lv"), [GridTrade("nope", LOADS[0], 1.0, 1.0)])
    assert exc.value.field == "trades[0].buyer_bus"


def test_the_jacobian_is_newtonpfs() -> None:
    """The interleaved Jacobian equals pandapower's dSbus_dV blocks (permuted) at a non-trivial point."""
    from pandapower.pypower.dSbus_dV import dSbus_dV

    model = flow_model("ieee_european_lv")
    assert model is not None
    rng = np.random.default_rng(4)
    v = model.v0 * (1 + 0.01 * rng.normal(size=len(model.v0))) * np.exp(0.01j * rng.normal(size=len(model.v0)))
    ours = model._jacobian.matrix(v, model.ybus @ v).toarray()
    dvm, dva = dSbus_dV(model.ybus, v)
    pq = model.pq
    a, m = sp.csr_matrix(dva)[pq][:, pq].toarray(), sp.csr_matrix(dvm)[pq][:, pq].toarray()
    assert np.allclose(ours[0::2, 0::2], a.real, atol=1e-9) and np.allclose(ours[0::2, 1::2], m.real, atol=1e-9)
    assert np.allclose(ours[1::2, 0::2], a.imag, atol=1e-9) and np.allclose(ours[1::2, 1::2], m.imag, atol=1e-9)


def test_a_trade_at_an_out_of_service_bus_injects_nothing_as_in_pandapower() -> None:
    """A bus out of service has no internal bus (index -1): its trade's power is dropped, as pandapower ignores
    the elements of such a bus -- not injected at the last internal bus (NumPy's -1)."""
    import pandapower as pp

    net = pp.create_empty_network()
    buses = [pp.create_bus(net, vn_kv=0.4, name=f"b{i}") for i in range(5)]
    pp.create_ext_grid(net, buses[0])
    for a, b in ((0, 1), (1, 2), (2, 3), (1, 4)):
        pp.create_line(net, buses[a], buses[b], length_km=0.1, std_type="NAYY 4x150 SE")
    net.bus.loc[buses[4], "in_service"] = False
    trades = [GridTrade(buyer_bus="b2", seller_bus="b4", energy_kwh=30.0, score=1.0)]
    own = check_trades(net, trades, slot_hours=1.0)
    oracle = check_trades(net, trades, slot_hours=1.0, solver="pandapower")
    live = list(range(4))  # the in-service buses (b4's voltage is NaN in both)
    assert np.allclose(np.asarray(own.initial.vm_pu)[live], np.asarray(oracle.initial.vm_pu)[live],
                       atol=V_TOL_PU, rtol=0)
    assert np.allclose(own.initial.line_loading_percent, oracle.initial.line_loading_percent,
                       atol=LOADING_TOL, rtol=0, equal_nan=True)
