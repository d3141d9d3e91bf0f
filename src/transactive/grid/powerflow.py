"""Network check of a slot's trades (Elecbay's DSO acceptance, seed 002; seed 004's DSO channel).

Each trade of ``e`` kWh over a slot of ``h`` hours is modelled as a constant ``e/h`` kW injection at the
seller's bus and the same withdrawal at the buyer's bus (unity power factor; losses are supplied by the
external grid). The feeder's own loads are off unless ``base_load=True``.

* ``method="balanced"``: a balanced AC power flow (positive sequence; the power is spread over three phases),
  by default ``solver="newton"``: :mod:`transactive.grid.newton`'s Newton-Raphson on the network's admittance
  matrix prepared once (pandapower's own model; the same voltages and loadings as ``pandapower.runpp``
  within 1e-6 pu / 1e-3 %-points, its convergence tolerance), or ``solver="pandapower"``: ``runpp`` itself
  (also where the prepared solver does not cover the network: voltage-controlled generators, ...);
* ``method="three_phase"``: ``pandapower.runpp_3ph``; each trade sits on the phase of its bus's own load
  (the IEEE feeder's loads are single-phase), phase A where a bus has no load. Phase voltages and line
  loadings are then checked, which is stricter for single-phase prosumers.

:class:`DsoPolicy` (documented defaults: 0.90 ≤ V ≤ 1.10 pu at every bus, line loading ≤ 100 %) decides
feasibility. :func:`check_trades` runs the slot; while it is infeasible (a violation, or no convergence),
the **lowest-score** trade still in (ties: the later trade first) is curtailed entirely and the flow run
again. The result lists the accepted trades, each curtailed trade with the violations that were present when
it was removed, and the network state before and after.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from transactive.grid.errors import GridError
from transactive.grid.feeder import _bus_labels, shared_network
from transactive.grid.newton import FlowModel
from transactive.orders import FloatArray

Method = Literal["balanced", "three_phase"]
Solver = Literal["newton", "pandapower"]


@dataclass(frozen=True)
class DsoPolicy:
    """The DSO's acceptance limits for a slot (defaults: EN 50160-like ±10 % voltage, no overloaded line)."""

    v_min_pu: float = 0.90
    v_max_pu: float = 1.10
    max_line_loading_percent: float = 100.0

    def __post_init__(self) -> None:
        for name in ("v_min_pu", "v_max_pu", "max_line_loading_percent"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
                raise GridError(f"policy.{name}", "must be a finite number > 0")
        if self.v_min_pu >= self.v_max_pu:
            raise GridError("policy.v_min_pu", "must be below v_max_pu")


@dataclass(frozen=True)
class GridTrade:
    """A trade as the network sees it: ``energy_kwh`` from ``seller_bus`` to ``buyer_bus``; ``score`` ranks it."""

    buyer_bus: str
    seller_bus: str
    energy_kwh: float
    score: float


@dataclass(frozen=True, eq=False)
class NetworkState:
    """Result of one power flow: voltages per bus (pu; the lowest phase for three-phase) and loadings per line."""

    converged: bool
    vm_pu: FloatArray
    vm_max_pu: FloatArray
    line_loading_percent: FloatArray
    violations: tuple[str, ...]

    @property
    def feasible(self) -> bool:
        return self.converged and not self.violations

    @property
    def min_vm_pu(self) -> float:
        return float(np.nanmin(self.vm_pu)) if self.converged else float("nan")

    @property
    def max_vm_pu(self) -> float:
        return float(np.nanmax(self.vm_max_pu)) if self.converged else float("nan")

    @property
    def max_line_loading_percent(self) -> float:
        return float(np.nanmax(self.line_loading_percent)) if self.converged else float("nan")


@dataclass(frozen=True)
class Curtailment:
    """A trade curtailed by the DSO: its index in the input, the violations that caused it, and the energy
    still accepted (0 unless ``partial`` restored part of it)."""

    trade: int
    reason: tuple[str, ...]
    kept_kwh: float = 0.0


@dataclass(frozen=True, eq=False)
class NetworkCheck:
    """Outcome of :func:`check_trades`."""

    accepted: tuple[int, ...]
    curtailed: tuple[Curtailment, ...]
    initial: NetworkState
    final: NetworkState
    bus_names: tuple[str, ...]
    line_names: tuple[str, ...]
    method: str
    policy: DsoPolicy = field(default_factory=DsoPolicy)

    @property
    def feasible(self) -> bool:
        return self.final.feasible


def _violations(
    state_vm: FloatArray,
    *,
    state_vmax: FloatArray,
    loading: FloatArray,
    labels: Sequence[str],
    line_names: Sequence[str],
    policy: DsoPolicy,
    limit: int = 3,
) -> tuple[str, ...]:
    """The ``limit`` worst violations of each kind, worst first as printed (voltages to 1e-4 pu, loadings to
    0.1 %), ties in table order: lines in series carry the same current and buses beyond the last load have
    the same voltage, so which of them is named must not depend on the solver's last digits."""
    out: list[str] = []
    low = np.flatnonzero(state_vm < policy.v_min_pu)
    for k in low[np.argsort(np.round(state_vm[low], 4), kind="stable")][:limit]:
        out.append(f"bus {labels[k]} voltage {state_vm[k]:.4f} pu < {policy.v_min_pu}")
    high = np.flatnonzero(state_vmax > policy.v_max_pu)
    for k in high[np.argsort(-np.round(state_vmax[high], 4), kind="stable")][:limit]:
        out.append(f"bus {labels[k]} voltage {state_vmax[k]:.4f} pu > {policy.v_max_pu}")
    over = np.flatnonzero(loading > policy.max_line_loading_percent)
    for k in over[np.argsort(-np.round(loading[over], 1), kind="stable")][:limit]:
        out.append(f"line {line_names[k]} loading {loading[k]:.1f} % > {policy.max_line_loading_percent}")
    return tuple(out)


class _Prepared:
    """A private copy of a network for the power flows of many slots (:func:`_prepared`): the feeder's own
    loads off (unless ``base_load``), and the trade rows of the last slot kept for the next. Row ``k`` of the
    generator and the load table is trade ``k``, exactly as on a fresh copy (the rows beyond a slot's trades
    are dropped, the others get the slot's buses), so a flow here computes what it computes on a fresh copy
    of ``net``, bit for bit; only the deep copy, the row creation and pandapower's option parsing are saved."""

    def __init__(self, net: Any, method: Method, base_load: bool) -> None:
        import copy

        import pandapower as pp

        self.pp = pp
        self.net = net = copy.deepcopy(net)
        self.method = method
        self.labels = _bus_labels(net)
        self.line_names = tuple(str(n) if n else str(i) for i, n in zip(net.line.index, net.line["name"], strict=True))
        self.index_of = {b: i for b, i in zip(self.labels, net.bus.index.tolist(), strict=True)}
        for table in ("load", "asymmetric_load", "sgen", "asymmetric_sgen"):
            if table in net and len(net[table]) and not base_load:
                net[table]["in_service"] = False
        self.phase = self._phases(net)
        self.gen_table = "sgen" if method == "balanced" else "asymmetric_sgen"
        self.load_table = "load" if method == "balanced" else "asymmetric_load"
        self.gen_rows: list[int] = []  # the trade rows present, trade k's at position k
        self.load_rows: list[int] = []
        self.options: dict[str, Any] | None = None  # runpp's options for this network (balanced)
        self.lock = threading.Lock()

    def column(self, bus: int) -> str:
        """The power column of a trade's row at ``bus``."""
        return "p_mw" if self.method == "balanced" else f"p_{self.phase.get(bus, 'a')}_mw"

    def place(self, buses: Sequence[tuple[int, int]]) -> None:
        """Trade ``k`` as generator row ``gen_rows[k]`` at ``buses[k][0]`` (the seller's bus) and load row
        ``load_rows[k]`` at ``buses[k][1]``: the rows a fresh copy gets from ``create_sgen`` / ``create_load``
        (name ``trade{k}``), reused from the previous slot where present, created where missing, dropped
        beyond ``len(buses)``. The powers are :meth:`_Slot.run`'s."""
        pp, net = self.pp, self.net
        n = len(buses)
        if len(self.gen_rows) > n:
            net[self.gen_table].drop(index=self.gen_rows[n:], inplace=True)
            net[self.load_table].drop(index=self.load_rows[n:], inplace=True)
            del self.gen_rows[n:], self.load_rows[n:]
        gen, load = net[self.gen_table], net[self.load_table]
        for k, (sb, bb) in enumerate(buses[: len(self.gen_rows)]):
            for table, row, bus in ((gen, self.gen_rows[k], sb), (load, self.load_rows[k], bb)):
                if table.at[row, "bus"] != bus:
                    table.at[row, "bus"] = bus
                    if self.method != "balanced":  # the power sits on the new bus's phase, the others 0
                        for phase in "abc":
                            table.at[row, f"p_{phase}_mw"] = 0.0
        for k in range(len(self.gen_rows), n):
            sb, bb = buses[k]
            if self.method == "balanced":
                self.gen_rows.append(pp.create_sgen(net, sb, p_mw=0.0, name=f"trade{k}"))
                self.load_rows.append(pp.create_load(net, bb, p_mw=0.0, name=f"trade{k}"))
            else:
                self.gen_rows.append(pp.create_asymmetric_sgen(net, sb, **{self.column(sb): 0.0}))
                self.load_rows.append(pp.create_asymmetric_load(net, bb, **{self.column(bb): 0.0}))

    def runpp(self) -> None:
        """``pandapower.runpp(net, numba=False)``; its options (a function of the network, not of the trades'
        powers) are parsed on the first run and reused."""
        if self.options is None:
            try:
                self.pp.runpp(self.net, numba=False)
            finally:
                if self.net.get("_options"):
                    self.options = dict(self.net["_options"])
            return
        from pandapower.powerflow import _powerflow

        self.net["_options"] = dict(self.options)
        _powerflow(self.net, numba=False)

    @staticmethod
    def _phases(net: Any) -> dict[int, str]:
        out: dict[int, str] = {}
        if "asymmetric_load" in net and len(net.asymmetric_load):
            al = net.asymmetric_load
            for bus, pa, pb, pc in zip(al["bus"], al["p_a_mw"], al["p_b_mw"], al["p_c_mw"], strict=True):
                out.setdefault(int(bus), "abc"[int(np.argmax([pa, pb, pc]))])
        return out


_PREPARED: dict[tuple[int, str, bool], tuple[Any, bytes, Any]] = {}
_PREPARED_MAX = 8  # networks kept prepared (the service and the day use one)
_PREPARED_LOCK = threading.Lock()


def _fingerprint(net: Any) -> bytes:
    """A digest of every non-empty element table of ``net`` (index, columns, values; results excluded), so a
    network changed since it was prepared is prepared again (~3 ms for the IEEE feeder)."""
    import pandas as pd

    h = hashlib.blake2b(digest_size=16)
    for name, table in net.items():
        if name.startswith(("res_", "_")) or not isinstance(table, pd.DataFrame) or not len(table):
            continue
        h.update(f"{name}|{len(table)}|".encode())
        h.update(np.ascontiguousarray(table.index.to_numpy()).tobytes())
        for column in table.columns:
            values = table[column].to_numpy()
            h.update(f"|{column}|{values.dtype.str}|".encode())
            if values.dtype.kind in "biuf":
                h.update(np.ascontiguousarray(values).tobytes())
            else:
                h.update(repr(values.tolist()).encode())
    return h.digest()


def _cached(net: Any, kind: str, base_load: bool, build: Any) -> Any:
    """``build()`` for ``net`` (a pandapower network), kept per network object, ``kind`` and ``base_load``
    while the network's :func:`_fingerprint` is unchanged (a changed network is prepared afresh; ``net``
    itself is never modified)."""
    import weakref

    key = (id(net), kind, base_load)
    print_ = _fingerprint(net)
    with _PREPARED_LOCK:
        found = _PREPARED.get(key)
        if found is not None and found[0]() is net and found[1] == print_:
            return found[2]
        prepared = build()
        _PREPARED.pop(key, None)
        while len(_PREPARED) >= _PREPARED_MAX:
            del _PREPARED[next(iter(_PREPARED))]
        _PREPARED[key] = (weakref.ref(net), print_, prepared)
        return prepared


def _prepared(net: Any, method: Method, base_load: bool) -> _Prepared:
    """The :class:`_Prepared` copy of ``net`` for ``method`` and ``base_load`` (:func:`_cached`)."""
    prepared: _Prepared = _cached(net, method, base_load, lambda: _Prepared(net, method, base_load))
    return prepared


def _model(net: Any, base_load: bool) -> FlowModel | None:
    """The prepared Newton-Raphson model of ``net`` (a :class:`FlowModel` as given, or built from a pandapower
    network, :func:`_cached`); None where it does not cover the network."""
    if isinstance(net, FlowModel):
        if not base_load:
            return net
        net = shared_network(net.name)
    found: FlowModel | None = _cached(net, "newton", base_load,
                                      lambda: FlowModel.from_network(net, "network", base_load=base_load))
    return found


class _ModelSlot:
    """A slot's trades on a :class:`FlowModel`: trade ``k`` injects ``p_mw[k]`` at its seller's bus and
    withdraws it at its buyer's (unity power factor), as the pandapower rows of :class:`_Slot`."""

    method = "balanced"

    def __init__(self, model: FlowModel, trades: Sequence[GridTrade], slot_hours: float):
        self.model = model
        self.labels = model.bus_names
        self.line_names = model.line_names
        index_of = model.index_of
        buses: list[int] = []
        for k, t in enumerate(trades):
            for name, role in ((t.seller_bus, "seller"), (t.buyer_bus, "buyer")):
                if name not in index_of:
                    raise GridError(f"trades[{k}].{role}_bus", f"unknown bus {name!r}")
            buses += [index_of[t.seller_bus], index_of[t.buyer_bus]]
        self.buses = np.array(buses, dtype=np.int64)
        self.p_mw = np.array([t.energy_kwh / slot_hours / 1000.0 for t in trades], dtype=np.float64)

    def run(self, fraction: Sequence[float], policy: DsoPolicy) -> NetworkState:
        """Run with each trade at ``fraction[k]`` of its power."""
        p = self.p_mw * np.asarray(fraction, dtype=np.float64)
        injected = np.empty(2 * len(p))
        injected[0::2], injected[1::2] = p, -p
        converged, vm, loading = self.model.solve(self.model.injections(self.buses, injected))
        if not converged:
            return NetworkState(False, vm, vm, loading, ("power flow did not converge",))
        violations = _violations(
            vm, state_vmax=vm, loading=loading, labels=self.labels, line_names=self.line_names, policy=policy
        )
        return NetworkState(True, vm, vm, loading, violations)


class _Slot:
    """A slot's trades on a :class:`_Prepared` network: one generator and one load row per trade."""

    def __init__(self, prepared: _Prepared, trades: Sequence[GridTrade], slot_hours: float):
        self.prepared = prepared
        self.net = prepared.net
        self.method = prepared.method
        self.labels = prepared.labels
        self.line_names = prepared.line_names
        index_of = prepared.index_of
        buses: list[tuple[int, int]] = []
        self.p_mw: list[float] = []
        self.gen_col: list[str] = []
        self.load_col: list[str] = []
        for k, t in enumerate(trades):
            for name, role in ((t.seller_bus, "seller"), (t.buyer_bus, "buyer")):
                if name not in index_of:
                    raise GridError(f"trades[{k}].{role}_bus", f"unknown bus {name!r}")
            sb, bb = index_of[t.seller_bus], index_of[t.buyer_bus]
            buses.append((sb, bb))
            self.p_mw.append(t.energy_kwh / slot_hours / 1000.0)
            self.gen_col.append(prepared.column(sb))
            self.load_col.append(prepared.column(bb))
        prepared.place(buses)
        self.gen_rows = prepared.gen_rows
        self.load_rows = prepared.load_rows

    def run(self, fraction: Sequence[float], policy: DsoPolicy) -> NetworkState:
        """Run with each trade at ``fraction[k]`` of its power (0: out of service)."""
        gen, load = self.net[self.prepared.gen_table], self.net[self.prepared.load_table]
        for k, f in enumerate(fraction):
            on = float(f) > 0
            gen.at[self.gen_rows[k], "in_service"] = on
            load.at[self.load_rows[k], "in_service"] = on
            gen.at[self.gen_rows[k], self.gen_col[k]] = self.p_mw[k] * float(f)
            load.at[self.load_rows[k], self.load_col[k]] = self.p_mw[k] * float(f)
        n_bus, n_line = len(self.net.bus), len(self.net.line)
        nan_bus, nan_line = np.full(n_bus, np.nan), np.full(n_line, np.nan)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if self.method == "balanced":
                    self.prepared.runpp()
                else:
                    self.prepared.pp.runpp_3ph(self.net, numba=False)
        except Exception:  # pandapower raises LoadflowNotConverged (and others) on divergence
            return NetworkState(False, nan_bus, nan_bus, nan_line, ("power flow did not converge",))
        if self.method == "balanced":
            vm = self.net.res_bus["vm_pu"].to_numpy(dtype=np.float64, copy=True)
            vmax = vm
            loading = self.net.res_line["loading_percent"].to_numpy(dtype=np.float64, copy=True)
        else:
            phases = self.net.res_bus_3ph[["vm_a_pu", "vm_b_pu", "vm_c_pu"]].to_numpy(dtype=np.float64)
            vm, vmax = phases.min(axis=1), phases.max(axis=1)
            loading = self.net.res_line_3ph["loading_percent"].to_numpy(dtype=np.float64, copy=True)
        violations = _violations(
            vm, state_vmax=vmax, loading=loading, labels=self.labels, line_names=self.line_names, policy=policy
        )
        return NetworkState(True, vm, vmax, loading, violations)


def check_trades(
    net: Any,
    trades: Sequence[GridTrade],
    *,
    slot_hours: float = 0.25,
    policy: DsoPolicy | None = None,
    method: Method = "balanced",
    base_load: bool = False,
    partial: bool = False,
    solver: Solver = "newton",
) -> NetworkCheck:
    """Run the slot's power flow and curtail the lowest-score trades until it is feasible.

    ``net`` is a pandapower network (it is copied, never modified), e.g. from
    :func:`transactive.grid.feeder.load_network`, or a prepared :class:`transactive.grid.newton.FlowModel`
    (:func:`transactive.grid.newton.flow_model`: the default feeder without importing pandapower). A
    balanced flow with ``solver="newton"`` runs on the network's :class:`FlowModel` (built once per network
    object, :func:`_model`); otherwise (three-phase, ``solver="pandapower"`` or a network the model does not
    cover) pandapower runs on a copy made once per network object and reused by the next checks of the same,
    unchanged network (:func:`_prepared`; the results are those of a fresh copy, bit for bit). With a
    feasible slot nothing is curtailed. If the network
    is infeasible even without trades (base load), every trade is curtailed and ``feasible`` is False.

    One flow per curtailed trade: feasibility is **not** monotone in the number of curtailed trades (removing
    a trade can remove a counter-flow that was relieving a line or holding a voltage up; seen on this
    feeder), so no bisection shortcut is offered.

    ``partial=True``: once feasible, the last trade curtailed (the best-scored of them) gets back the largest
    fraction of its energy that keeps the slot feasible, to 1/256 (bisection, 8 more flows); it stays in
    ``curtailed`` with ``kept_kwh`` > 0.
    """
    policy = policy or DsoPolicy()
    if not np.isfinite(slot_hours) or slot_hours <= 0:
        raise GridError("slot_hours", "must be a finite number > 0")
    if method not in ("balanced", "three_phase"):
        raise GridError("method", "must be 'balanced' or 'three_phase'")
    if solver not in ("newton", "pandapower"):
        raise GridError("solver", "must be 'newton' or 'pandapower'")
    for k, t in enumerate(trades):
        if not np.isfinite(t.energy_kwh) or t.energy_kwh < 0:
            raise GridError(f"trades[{k}].energy_kwh", "must be a finite number >= 0")
        if np.isnan(t.score):
            raise GridError(f"trades[{k}].score", "must not be NaN")
    model = _model(net, base_load) if method == "balanced" and solver == "newton" else None
    if model is not None:
        return _curtail(_ModelSlot(model, trades, slot_hours), trades, policy, partial)
    prepared = _prepared(shared_network(net.name) if isinstance(net, FlowModel) else net, method, base_load)
    with prepared.lock:  # one check at a time on a prepared copy
        return _curtail(_Slot(prepared, trades, slot_hours), trades, policy, partial)


def _curtail(slot: _Slot | _ModelSlot, trades: Sequence[GridTrade], policy: DsoPolicy, partial: bool) -> NetworkCheck:
    """:func:`check_trades`' flows and curtailments on ``slot``."""
    active = [True] * len(trades)
    initial = state = slot.run([1.0] * len(trades), policy)
    # lowest score first; equal scores: the later trade first
    order = sorted(range(len(trades)), key=lambda k: (trades[k].score, -k))
    curtailed: list[Curtailment] = []
    for k in order:
        if state.feasible:
            break
        active[k] = False
        curtailed.append(Curtailment(k, state.violations))
        state = slot.run([1.0 if a else 0.0 for a in active], policy)
    if partial and curtailed and state.feasible:
        last = curtailed[-1]
        fraction = [1.0 if a else 0.0 for a in active]
        f_ok, f_bad = 0.0, 1.0  # feasible / infeasible fractions
        best: NetworkState | None = None
        for _ in range(8):
            f_mid = (f_ok + f_bad) / 2
            fraction[last.trade] = f_mid
            trial = slot.run(fraction, policy)
            if trial.feasible:
                f_ok, best = f_mid, trial
            else:
                f_bad = f_mid
        if best is not None:
            curtailed[-1] = Curtailment(last.trade, last.reason, f_ok * trades[last.trade].energy_kwh)
            state = best
    accepted = tuple(k for k in range(len(trades)) if active[k])
    return NetworkCheck(accepted, tuple(curtailed), initial, state, tuple(slot.labels), slot.line_names, slot.method,
                        policy)
