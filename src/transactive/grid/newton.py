"""A prepared balanced power flow: Newton-Raphson on an admittance matrix built once (the DSO's reviews).

:class:`FlowModel` holds what a balanced AC power flow of a network needs and what does not change from
slot to slot: the bus admittance matrix ``Y`` (pu on ``base_mva``), the line branches' from/to admittance
rows ``Y_f``, ``Y_t``, the slack bus voltage, the base injections, the line current limits. It is taken once
from pandapower's own model of the network (:meth:`FlowModel.from_network`: one ``runpp`` without trades,
then its internal ``ppci`` -- the same ``Y`` pandapower solves), and for the default feeder it ships in
``transactive/data`` (:func:`flow_model`; a test checks it still equals pandapower's), so the DSO's review
needs neither pandapower's import (~2 s) nor its network object.

:meth:`FlowModel.solve` is pandapower's ``newtonpf`` (polar Newton-Raphson, the mismatch
``F = [Re, Im](V ∘ conj(Y V) − S)`` on the PQ buses, converged when ``max |F| < 1e-8`` pu, at most 10
iterations, as ``runpp``'s defaults), started from the network's solution without trades. The results
are pandapower's formulas: ``vm_pu = |V|``; a line's current ``i_ka = max(|Y_f V|, |Y_t V|) · base_mva /
(√3 · vn_kv)`` and ``loading_percent = 100 · i_ka / (max_i_ka · df · parallel)``. A test compares them with
``pandapower.runpp`` on random injection sets (|Δvm| ≤ 1e-7 pu, |Δloading| ≤ 1e-5 %-points).

Supported networks: one or more slack buses (external grids), PQ buses only (no voltage-controlled
generators), constant-power injections, no FACTS or DC elements; :meth:`FlowModel.from_network` answers
``None`` for anything else and the caller uses ``pandapower.runpp``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from transactive.grid.errors import GridError
from transactive.orders import FloatArray, IntArray

TOLERANCE_PU = 1e-8  # pandapower runpp's tolerance_mva, applied (as pandapower does) to the pu mismatch
MAX_ITERATIONS = 10  # runpp's max_iteration for Newton-Raphson
_BUNDLED = {"ieee_european_lv": "ieee_european_lv_flow.npz"}
_MODELS: dict[str, FlowModel] = {}
_ARRAYS = ("bus_to_int", "ref", "pq", "v0", "sbus0", "line_row", "line_i_base_ka", "line_i_max_ka",
           "line_fixed_percent")
_MATRICES = ("ybus", "yf", "yt")


@dataclass(frozen=True, eq=False)
class FlowModel:
    """A network prepared for balanced power flows (see the module docstring). Buses and lines are in the
    network's table order; ``bus_to_int[k]`` is bus ``k``'s row of ``ybus`` (-1: out of service, NaN
    results), ``line_row[k]`` line ``k``'s row of ``yf``/``yt`` (-1: out of service; its loading is
    ``line_fixed_percent[k]``, what pandapower reports for it)."""

    name: str
    bus_names: tuple[str, ...]
    line_names: tuple[str, ...]
    base_mva: float
    ybus: Any  # scipy CSR, complex, pu
    yf: Any
    yt: Any
    bus_to_int: IntArray
    ref: IntArray
    pq: IntArray
    v0: Any  # complex pu: the solution without trades (the slack buses' entries are their set points)
    sbus0: Any  # complex pu: the network's own injections (0 without its loads)
    line_row: IntArray
    line_i_base_ka: FloatArray  # base_mva / (√3 · vn_kv of the line's from bus)
    line_i_max_ka: FloatArray  # max_i_ka · df · parallel
    line_fixed_percent: FloatArray

    @cached_property
    def index_of(self) -> dict[str, int]:
        """Bus name -> position in :attr:`bus_names`."""
        return {b: k for k, b in enumerate(self.bus_names)}

    # ------------------------------------------------------------------------------ building
    @classmethod
    def from_network(cls, net: Any, name: str, *, base_load: bool = False) -> FlowModel | None:
        """The model of pandapower network ``net`` (not modified: a copy is run once), its own loads and
        generators off unless ``base_load``; ``None`` when the network is outside what :meth:`solve` covers
        (voltage-controlled generators, voltage-dependent loads, FACTS, DC) or its flow does not converge."""
        import copy
        import warnings

        import pandapower as pp
        from pandapower.pypower.idx_brch import F_BUS
        from pandapower.pypower.idx_bus import BASE_KV
        from pandapower.pypower.makeSbus import makeSbus

        from transactive.grid.feeder import _bus_labels

        net = copy.deepcopy(net)
        for table in ("load", "asymmetric_load", "sgen", "asymmetric_sgen"):  # as check_trades' pandapower path
            if table in net and len(net[table]) and not base_load:
                net[table]["in_service"] = False
        if base_load and len(net.load):  # voltage-dependent loads (constant impedance or current shares)
            shares = net.load[[c for c in net.load.columns if c.startswith(("const_z", "const_i"))]]
            if bool((shares.to_numpy(dtype=np.float64) != 0)[net.load["in_service"].to_numpy(dtype=bool)].any()):
                return None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pp.runpp(net, numba=False)
        except Exception:  # pandapower raises LoadflowNotConverged (and others)
            return None
        ppci = net._ppc["internal"]
        if len(ppci["pv"]) or any(len(ppci.get(k, ())) for k in ("bus_dc", "svc", "tcsc", "ssc", "vsc")):
            return None
        lookups = net._pd2ppc_lookups
        n_int = ppci["bus"].shape[0]
        to_int = np.asarray(lookups["bus"], dtype=np.int64)[net.bus.index.to_numpy()]
        to_int = np.where((to_int >= 0) & (to_int < n_int) & net.bus["in_service"].to_numpy(), to_int, -1)
        branch_is = np.asarray(ppci["branch_is"], dtype=bool)
        ppci_row = np.cumsum(branch_is) - 1
        first, last = lookups["branch"].get("line", (0, 0))
        rows = np.arange(first, last)
        line_row = np.where(branch_is[rows], ppci_row[rows], -1) if len(rows) else np.empty(0, np.int64)
        from_bus = ppci["branch"][:, F_BUS].real.astype(np.int64)
        line_base_kv = np.ones(len(net.line))
        on = line_row >= 0
        line_base_kv[on] = ppci["bus"][from_bus[line_row[on]], BASE_KV]
        base_mva = float(ppci["baseMVA"])
        lines = net.line
        ybus = sp.csr_matrix(ppci["Ybus"])
        yf, yt = sp.csr_matrix(ppci["Yf"]), sp.csr_matrix(ppci["Yt"])
        return cls(
            name=name, bus_names=tuple(_bus_labels(net)),
            line_names=tuple(str(n) if n else str(i) for i, n in zip(lines.index, lines["name"], strict=True)),
            base_mva=base_mva, ybus=ybus, yf=yf, yt=yt, bus_to_int=to_int,
            ref=np.asarray(ppci["ref"], dtype=np.int64), pq=np.asarray(ppci["pq"], dtype=np.int64),
            v0=np.asarray(ppci["V"], dtype=np.complex128),
            sbus0=np.asarray(makeSbus(base_mva, ppci["bus"], ppci["gen"]), dtype=np.complex128),
            line_row=line_row.astype(np.int64), line_i_base_ka=base_mva / (np.sqrt(3) * line_base_kv),
            line_i_max_ka=(lines["max_i_ka"] * lines["df"] * lines["parallel"]).to_numpy(dtype=np.float64),
            line_fixed_percent=np.where(on, 0.0, net.res_line["loading_percent"].to_numpy(dtype=np.float64)))

    def to_npz(self) -> bytes:
        """The model as an ``.npz`` file's bytes (exact: binary floats)."""
        out = io.BytesIO()
        matrices = {}
        for m in _MATRICES:
            csr = getattr(self, m)
            matrices.update({f"{m}_data": csr.data, f"{m}_indices": csr.indices, f"{m}_indptr": csr.indptr,
                             f"{m}_shape": np.array(csr.shape)})
        np.savez_compressed(out, name=np.array(self.name), bus_names=np.array(self.bus_names),
                            line_names=np.array(self.line_names), base_mva=np.array(self.base_mva),
                            **{a: getattr(self, a) for a in _ARRAYS}, **matrices)
        return out.getvalue()

    @classmethod
    def from_npz(cls, data: bytes) -> FlowModel:
        """The inverse of :meth:`to_npz`."""
        with np.load(io.BytesIO(data), allow_pickle=False) as f:
            matrices = {m: sp.csr_matrix((f[f"{m}_data"], f[f"{m}_indices"], f[f"{m}_indptr"]),
                                         shape=tuple(f[f"{m}_shape"])) for m in _MATRICES}
            return cls(name=str(f["name"]), bus_names=tuple(str(b) for b in f["bus_names"]),
                       line_names=tuple(str(b) for b in f["line_names"]), base_mva=float(f["base_mva"]),
                       **{a: f[a] for a in _ARRAYS}, **matrices)

    # ------------------------------------------------------------------------------ solving
    def injections(self, bus: IntArray, p_mw: FloatArray) -> Any:
        """The complex pu injection vector: the base injections plus ``p_mw[k]`` MW (> 0 generation,
        unity power factor) at network bus position ``bus[k]``; at an out-of-service bus (no internal bus) it
        injects nothing, as pandapower ignores the elements of such a bus."""
        s = self.sbus0.copy()
        internal = self.bus_to_int[bus]
        live = internal >= 0  # -1: out of service (a negative index would hit the last internal bus)
        np.add.at(s, internal[live], np.asarray(p_mw, dtype=np.float64)[live] / self.base_mva)
        return s

    def solve(self, sbus: Any) -> tuple[bool, FloatArray, FloatArray]:
        """Newton-Raphson for injections ``sbus`` (complex pu per internal bus): (converged, ``vm_pu`` per
        network bus, ``loading_percent`` per line); NaN results when it does not converge. The unknowns
        (angle, magnitude) and mismatches (P, Q) are interleaved per bus, a permutation of newtonpf's system
        that keeps the Jacobian's sparsity that of ``Y`` (faster to factorise)."""
        y, pq, ref = self.ybus, self.pq, self.ref
        jac = self._jacobian
        v = self.v0.copy()
        vm, va = np.abs(v), np.angle(v)
        f = np.empty(2 * len(pq))
        converged = False
        for iteration in range(MAX_ITERATIONS + 1):
            current = y @ v
            mis = v[pq] * np.conj(current[pq]) - sbus[pq]
            f[0::2], f[1::2] = mis.real, mis.imag
            if not np.all(np.isfinite(f)):
                break
            if np.max(np.abs(f), initial=0.0) < TOLERANCE_PU:
                converged = True
                break
            if iteration == MAX_ITERATIONS:
                break
            try:
                dx = splu(jac.matrix(v, current), permc_spec="MMD_AT_PLUS_A").solve(-f)
            except RuntimeError:  # a singular Jacobian: no solution from here
                break
            va[pq] += dx[0::2]
            vm[pq] += dx[1::2]
            v = vm * np.exp(1j * va)
            v[ref] = self.v0[ref]
        n_bus, n_line = len(self.bus_names), len(self.line_names)
        if not converged:
            return False, np.full(n_bus, np.nan), np.full(n_line, np.nan)
        on = self.bus_to_int >= 0
        vm_bus = np.full(n_bus, np.nan)
        vm_bus[on] = np.abs(v[self.bus_to_int[on]])
        loading = self.line_fixed_percent.copy()
        lon, yf, yt = self._lines
        i_ka = np.maximum(np.abs(yf @ v), np.abs(yt @ v)) * self.line_i_base_ka[lon]
        i_max = self.line_i_max_ka[lon]
        with np.errstate(divide="ignore", invalid="ignore"):
            loading[lon] = np.where(i_max != 0, i_ka / np.where(i_max != 0, i_max, 1.0), np.inf) * 100
        return True, vm_bus, loading

    @cached_property
    def _jacobian(self) -> _Jacobian:
        return _Jacobian(self.ybus, self.pq)

    @cached_property
    def _lines(self) -> tuple[Any, Any, Any]:
        lon = self.line_row >= 0
        return lon, self.yf[self.line_row[lon]], self.yt[self.line_row[lon]]


class _Jacobian:
    """newtonpf's Jacobian on the PQ buses, interleaved (row ``2i``: P of PQ bus ``i``, ``2i+1``: its Q;
    column ``2j``: the angle of PQ bus ``j``, ``2j+1``: its magnitude), assembled from ``Y``'s entries:
    ``∂S_r/∂θ_c = j V_r (δ_rc conj(I_r) − conj(Y_rc V_c))``, ``∂S_r/∂|V_c| = V_r conj(Y_rc V_c/|V_c|) +
    δ_rc conj(I_r) V_r/|V_r|`` (MATPOWER's dSbus_dV)."""

    def __init__(self, ybus: Any, pq: IntArray) -> None:
        sub = sp.coo_matrix(ybus[pq][:, pq])
        self.n = len(pq)
        self.pq = pq
        self.r, self.c, self.y = pq[sub.row], pq[sub.col], sub.data
        rr, cc, d = sub.row, sub.col, np.arange(self.n)
        self.rows = np.concatenate([2 * rr, 2 * rr, 2 * rr + 1, 2 * rr + 1, 2 * d, 2 * d, 2 * d + 1, 2 * d + 1])
        self.cols = np.concatenate([2 * cc, 2 * cc + 1, 2 * cc, 2 * cc + 1, 2 * d, 2 * d + 1, 2 * d, 2 * d + 1])

    def matrix(self, v: Any, current: Any) -> Any:
        """The Jacobian (CSC) at voltages ``v`` with bus currents ``current = Y v``."""
        pq = self.pq
        vn = v / np.abs(v)
        yv = self.y * v[self.c]
        d_va = -1j * v[self.r] * np.conj(yv)
        d_vm = v[self.r] * np.conj(yv / np.abs(v[self.c]))
        ci = np.conj(current[pq])
        diag_va = 1j * v[pq] * ci
        diag_vm = ci * vn[pq]
        data = np.concatenate([d_va.real, d_vm.real, d_va.imag, d_vm.imag,
                               diag_va.real, diag_vm.real, diag_va.imag, diag_vm.imag])
        return sp.csc_matrix((data, (self.rows, self.cols)), shape=(2 * self.n, 2 * self.n))


def flow_model(name: str) -> FlowModel | None:
    """The prepared model of feeder ``name`` without its own loads: the bundled file for the default feeder
    (no pandapower import), else built from :func:`transactive.grid.feeder.shared_network` (None when
    unsupported). Cached in-process."""
    if name not in _MODELS:
        if name in _BUNDLED:
            data = resources.files("transactive").joinpath("data", _BUNDLED[name]).read_bytes()
            _MODELS[name] = FlowModel.from_npz(data)
        else:
            from transactive.grid.feeder import shared_network

            model = FlowModel.from_network(shared_network(name), name)
            if model is None:
                return None
            _MODELS[name] = model
    return _MODELS[name]


def bundled_model_bytes(name: str) -> bytes:
    """What the bundled file of ``name`` holds, rebuilt from pandapower (``python -m transactive.grid.newton``
    writes it; a test compares it with the shipped file)."""
    from transactive.grid.feeder import _network_function, shared_network

    if name not in _BUNDLED:
        raise GridError("feeder", f"{name!r} has no bundled flow model")
    model = FlowModel.from_network(shared_network(name), name)
    if model is None:  # pragma: no cover - the bundled feeders are supported
        raise GridError("feeder", f"{_network_function(name)} is not supported by the prepared solver")
    return model.to_npz()


if __name__ == "__main__":  # pragma: no cover - regenerates the bundled files
    from pathlib import Path

    for feeder_name, file_name in _BUNDLED.items():
        target = Path(__file__).resolve().parents[1] / "data" / file_name
        target.write_bytes(bundled_model_bytes(feeder_name))
        print(f"wrote {target}")
