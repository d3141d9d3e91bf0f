"""Network check of a slot's trades (Elecbay's DSO acceptance, seed 002; seed 004's DSO channel).

Each trade of ``e`` kWh over a slot of ``h`` hours is modelled as a constant ``e/h`` kW injection at the
seller's bus and the same withdrawal at the buyer's bus (unity power factor; losses are supplied by the
external grid). The feeder's own loads are off unless ``base_load=True``.

* ``method="balanced"``: ``pandapower.runpp`` (positive sequence; the power is spread over three phases);
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

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from transactive.grid.errors import GridError
from transactive.grid.feeder import _bus_labels
from transactive.orders import FloatArray

Method = Literal["balanced", "three_phase"]


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
    out: list[str] = []
    low = np.flatnonzero(state_vm < policy.v_min_pu)
    for k in low[np.argsort(state_vm[low], kind="stable")][:limit]:
        out.append(f"bus {labels[k]} voltage {state_vm[k]:.4f} pu < {policy.v_min_pu}")
    high = np.flatnonzero(state_vmax > policy.v_max_pu)
    for k in high[np.argsort(-state_vmax[high], kind="stable")][:limit]:
        out.append(f"bus {labels[k]} voltage {state_vmax[k]:.4f} pu > {policy.v_max_pu}")
    over = np.flatnonzero(loading > policy.max_line_loading_percent)
    for k in over[np.argsort(-loading[over], kind="stable")][:limit]:
        out.append(f"line {line_names[k]} loading {loading[k]:.1f} % > {policy.max_line_loading_percent}")
    return tuple(out)


class _Slot:
    """A private copy of the network with one generator and one load element per trade."""

    def __init__(self, net: Any, trades: Sequence[GridTrade], slot_hours: float, method: Method, base_load: bool):
        import pandapower as pp

        self.pp = pp
        self.net = net
        self.method = method
        self.labels = _bus_labels(net)
        self.line_names = tuple(str(n) if n else str(i) for i, n in zip(net.line.index, net.line["name"], strict=True))
        index_of = {b: i for b, i in zip(self.labels, net.bus.index.tolist(), strict=True)}
        for table in ("load", "asymmetric_load", "sgen", "asymmetric_sgen"):
            if table in net and len(net[table]) and not base_load:
                net[table]["in_service"] = False
        phase = self._phases(net)
        self.gen_rows: list[int] = []
        self.load_rows: list[int] = []
        self.p_mw: list[float] = []
        self.gen_col: list[str] = []
        self.load_col: list[str] = []
        for k, t in enumerate(trades):
            for name, role in ((t.seller_bus, "seller"), (t.buyer_bus, "buyer")):
                if name not in index_of:
                    raise GridError(f"trades[{k}].{role}_bus", f"unknown bus {name!r}")
            p_mw = t.energy_kwh / slot_hours / 1000.0
            sb, bb = index_of[t.seller_bus], index_of[t.buyer_bus]
            self.p_mw.append(p_mw)
            self.gen_col.append("p_mw" if method == "balanced" else f"p_{phase.get(sb, 'a')}_mw")
            self.load_col.append("p_mw" if method == "balanced" else f"p_{phase.get(bb, 'a')}_mw")
            if method == "balanced":
                self.gen_rows.append(pp.create_sgen(net, sb, p_mw=p_mw, name=f"trade{k}"))
                self.load_rows.append(pp.create_load(net, bb, p_mw=p_mw, name=f"trade{k}"))
            else:
                self.gen_rows.append(pp.create_asymmetric_sgen(net, sb, **{f"p_{phase.get(sb, 'a')}_mw": p_mw}))
                self.load_rows.append(pp.create_asymmetric_load(net, bb, **{f"p_{phase.get(bb, 'a')}_mw": p_mw}))

    @staticmethod
    def _phases(net: Any) -> dict[int, str]:
        out: dict[int, str] = {}
        if "asymmetric_load" in net and len(net.asymmetric_load):
            al = net.asymmetric_load
            for bus, pa, pb, pc in zip(al["bus"], al["p_a_mw"], al["p_b_mw"], al["p_c_mw"], strict=True):
                out.setdefault(int(bus), "abc"[int(np.argmax([pa, pb, pc]))])
        return out

    def run(self, fraction: Sequence[float], policy: DsoPolicy) -> NetworkState:
        """Run with each trade at ``fraction[k]`` of its power (0: out of service)."""
        gen_table = "sgen" if self.method == "balanced" else "asymmetric_sgen"
        load_table = "load" if self.method == "balanced" else "asymmetric_load"
        gen, load = self.net[gen_table], self.net[load_table]
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
                    self.pp.runpp(self.net, numba=False)
                else:
                    self.pp.runpp_3ph(self.net, numba=False)
        except Exception:  # pandapower raises LoadflowNotConverged (and others) on divergence
            return NetworkState(False, nan_bus, nan_bus, nan_line, ("power flow did not converge",))
        if self.method == "balanced":
            vm = self.net.res_bus["vm_pu"].to_numpy(dtype=np.float64)
            vmax = vm
            loading = self.net.res_line["loading_percent"].to_numpy(dtype=np.float64)
        else:
            phases = self.net.res_bus_3ph[["vm_a_pu", "vm_b_pu", "vm_c_pu"]].to_numpy(dtype=np.float64)
            vm, vmax = phases.min(axis=1), phases.max(axis=1)
            loading = self.net.res_line_3ph["loading_percent"].to_numpy(dtype=np.float64)
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
) -> NetworkCheck:
    """Run the slot's power flow and curtail the lowest-score trades until it is feasible.

    ``net`` is a pandapower network (it is copied, never modified), e.g. from
    :func:`transactive.grid.feeder.load_network`. With a feasible slot nothing is curtailed. If the network
    is infeasible even without trades (base load), every trade is curtailed and ``feasible`` is False.

    One flow per curtailed trade: feasibility is **not** monotone in the number of curtailed trades (removing
    a trade can remove a counter-flow that was relieving a line or holding a voltage up; seen on this
    feeder), so no bisection shortcut is offered.

    ``partial=True``: once feasible, the last trade curtailed (the best-scored of them) gets back the largest
    fraction of its energy that keeps the slot feasible, to 1/256 (bisection, 8 more flows); it stays in
    ``curtailed`` with ``kept_kwh`` > 0.
    """
    import copy

    policy = policy or DsoPolicy()
    if not np.isfinite(slot_hours) or slot_hours <= 0:
        raise GridError("slot_hours", "must be a finite number > 0")
    if method not in ("balanced", "three_phase"):
        raise GridError("method", "must be 'balanced' or 'three_phase'")
    for k, t in enumerate(trades):
        if not np.isfinite(t.energy_kwh) or t.energy_kwh < 0:
            raise GridError(f"trades[{k}].energy_kwh", "must be a finite number >= 0")
        if np.isnan(t.score):
            raise GridError(f"trades[{k}].score", "must not be NaN")
    slot = _Slot(copy.deepcopy(net), trades, slot_hours, method, base_load)
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
    return NetworkCheck(accepted, tuple(curtailed), initial, state, tuple(slot.labels), slot.line_names, method, policy)
