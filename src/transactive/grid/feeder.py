"""Feeders: the line graph of a distribution network (buses, lines with lengths in metres, load buses).

The default network is the **IEEE European Low Voltage Test Feeder** (seed 004, ch. 4.5; pandapower's
``pandapower.networks.ieee_european_lv_asymmetric``: 906 LV buses plus the 11 kV source bus, 905 lines,
~1.43 km of line, 55 single-phase loads). Prosumers sit at its 55 load buses.

A :class:`Feeder` is a small frozen value: what distances and drawings need, nothing pandapower-specific.
Bus identifiers are the pandapower bus **names** (for the IEEE feeder the node numbers "1" … "906", the
numbers of the thesis's Table 4.3); a network whose names are missing or not unique uses the bus index as
a string instead.

Loading (:func:`load_feeder`):

* ``"ieee_european_lv"`` (default) reads the edge list shipped in ``transactive/data`` (extracted from
  pandapower; a test checks it still equals pandapower's network), so matching needs neither pandapower nor
  disk access beyond the package, and every validator gets byte-identical distances;
* any other name is a function of ``pandapower.networks`` (e.g. ``"mv_oberrhein"``), a path ending in
  ``.json`` is a pandapower JSON file (``pandapower.to_json``) or a feeder edge-list file
  (:meth:`Feeder.to_json`).

Results are cached in-process (keyed by name, or by path and file modification time) and, when
``cache_dir`` is given, on disk as feeder JSON (``feeder-<sha256 of the key>.json``), so the second
process does not import pandapower at all.

Topology: lines in service (length ``length_km * 1000`` m, parallel lines count once), transformers in
service and closed bus-bus switches (length 0 m). Out-of-service elements are not edges.

Example:
    >>> feeder = load_feeder()
    >>> len(feeder.load_buses), round(float(feeder.length_m[feeder.length_m > 0].sum()))
    (55, 1432)
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from transactive.grid.errors import GridError
from transactive.orders import FloatArray, IntArray

DEFAULT_FEEDER = "ieee_european_lv"
FEEDER_FORMAT = "transactive.feeder/1"
_BUNDLED = {DEFAULT_FEEDER: ("ieee_european_lv_feeder.json", "ieee_european_lv_asymmetric")}


def _frozen(values: Any, dtype: type) -> Any:
    array: Any = np.array(values, dtype=dtype, copy=True)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Feeder:
    """A distribution network as a graph.

    Attributes:
        name: where it came from (a network name or a path).
        bus_names: bus identifiers (strings), one per bus.
        from_bus, to_bus: edge endpoints, indices into ``bus_names``.
        length_m: edge lengths, metres (>= 0; 0 for transformers and switches).
        load_buses: names of the buses that carry a load (prosumer locations), in load order, unique.
        x_m, y_m: bus coordinates (metres in the network's projection; NaN when unknown).
        source_bus: name of the bus of the external grid, if any.
    """

    name: str
    bus_names: tuple[str, ...]
    from_bus: IntArray
    to_bus: IntArray
    length_m: FloatArray
    load_buses: tuple[str, ...]
    x_m: FloatArray
    y_m: FloatArray
    source_bus: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "bus_names", tuple(str(b) for b in self.bus_names))
        object.__setattr__(self, "load_buses", tuple(str(b) for b in self.load_buses))
        for name in ("from_bus", "to_bus"):
            object.__setattr__(self, name, _frozen(getattr(self, name), np.int64))
        for name in ("length_m", "x_m", "y_m"):
            object.__setattr__(self, name, _frozen(getattr(self, name), np.float64))
        n = len(self.bus_names)
        if len(set(self.bus_names)) != n:
            raise GridError("bus_names", "must be unique")
        m = len(self.length_m)
        if self.from_bus.shape != (m,) or self.to_bus.shape != (m,):
            raise GridError("edges", "from_bus, to_bus and length_m must have equal length")
        if m and (min(self.from_bus.min(), self.to_bus.min()) < 0 or max(self.from_bus.max(), self.to_bus.max()) >= n):
            raise GridError("edges", "edge endpoint out of range")
        if np.any(~np.isfinite(self.length_m) | (self.length_m < 0)):
            raise GridError("length_m", "must be finite and >= 0")
        if self.x_m.shape != (n,) or self.y_m.shape != (n,):
            raise GridError("coordinates", "one x_m and y_m per bus")
        self.index_of(self.load_buses, "load_buses")
        if self.source_bus is not None:
            self.index_of([self.source_bus], "source_bus")

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {b: k for k, b in enumerate(self.bus_names)}

    def index_of(self, buses: Sequence[str], field: str = "bus") -> IntArray:
        """Indices of ``buses``; an unknown bus raises :class:`GridError` naming ``field[k]``."""
        pos = self._positions
        out = np.empty(len(buses), dtype=np.int64)
        for k, bus in enumerate(buses):
            found = pos.get(str(bus))
            if found is None:
                raise GridError(f"{field}[{k}]", f"unknown bus {bus!r} in feeder {self.name!r}")
            out[k] = found
        return out

    @cached_property
    def topology_hash(self) -> str:
        """SHA-256 of the bus names and the (undirected, sorted) edge list with lengths in mm.

        Only what distances depend on enters the hash, so a change of coordinates or loads keeps it.
        """
        lo = np.minimum(self.from_bus, self.to_bus)
        hi = np.maximum(self.from_bus, self.to_bus)
        length_mm = np.round(self.length_m * 1000.0).astype(np.int64)
        order = np.lexsort((length_mm, hi, lo))
        digest = hashlib.sha256()
        digest.update("\x1f".join(self.bus_names).encode())
        digest.update(np.ascontiguousarray(np.stack((lo[order], hi[order], length_mm[order]))).astype("<i8").tobytes())
        return digest.hexdigest()

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (format ``transactive.feeder/1``)."""

        def coord(values: FloatArray) -> list[float | None]:
            return [None if not np.isfinite(v) else float(v) for v in values]

        return {
            "format": FEEDER_FORMAT,
            "name": self.name,
            "source_bus": self.source_bus,
            "bus_names": list(self.bus_names),
            "x_m": coord(self.x_m),
            "y_m": coord(self.y_m),
            "load_buses": list(self.load_buses),
            "edges": [
                [int(f), int(t), float(d)] for f, t, d in zip(self.from_bus, self.to_bus, self.length_m, strict=True)
            ],
        }

    def to_json(self, path: str | os.PathLike[str]) -> None:
        """Write the feeder as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), separators=(",", ":")))

    @classmethod
    def from_dict(cls, data: dict[str, Any], name: str | None = None) -> Feeder:
        """Inverse of :meth:`to_dict`."""
        if data.get("format") != FEEDER_FORMAT:
            raise GridError("format", f"expected {FEEDER_FORMAT!r}")
        edges = np.array(data["edges"], dtype=np.float64).reshape(-1, 3)

        def coord(values: list[float | None]) -> FloatArray:
            return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

        return cls(
            name or str(data["name"]),
            tuple(data["bus_names"]),
            edges[:, 0].astype(np.int64),
            edges[:, 1].astype(np.int64),
            edges[:, 2],
            tuple(data["load_buses"]),
            coord(data["x_m"]),
            coord(data["y_m"]),
            data.get("source_bus"),
        )


# ---------------------------------------------------------------------- from pandapower
def _bus_labels(net: Any) -> list[str]:
    names = [str(n) if n is not None else "" for n in net.bus["name"].tolist()]
    if all(names) and len(set(names)) == len(names):
        return names
    return [str(i) for i in net.bus.index.tolist()]


def _geo_xy(net: Any) -> tuple[FloatArray, FloatArray]:
    n = len(net.bus)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    if "geo" in net.bus.columns:
        for k, geo in enumerate(net.bus["geo"].tolist()):
            if isinstance(geo, str) and geo:
                coords = json.loads(geo).get("coordinates")
                if isinstance(coords, list) and len(coords) == 2:
                    x[k], y[k] = float(coords[0]), float(coords[1])
    elif "bus_geodata" in net and len(net.bus_geodata):
        pos = {b: k for k, b in enumerate(net.bus.index.tolist())}
        for b, row in net.bus_geodata.iterrows():
            if b in pos:
                x[pos[b]], y[pos[b]] = float(row["x"]), float(row["y"])
    return x, y


def feeder_from_network(net: Any, name: str = "network") -> Feeder:
    """Extract the line graph of a pandapower network (see the module docstring for what is an edge)."""
    labels = _bus_labels(net)
    pos = {b: k for k, b in enumerate(net.bus.index.tolist())}
    src: list[int] = []
    dst: list[int] = []
    length: list[float] = []
    lines = net.line[net.line["in_service"].astype(bool)]
    for f, t, km in zip(lines["from_bus"].tolist(), lines["to_bus"].tolist(), lines["length_km"].tolist(), strict=True):
        src.append(pos[f])
        dst.append(pos[t])
        length.append(float(km) * 1000.0)
    for table, a, b in (
        ("trafo", "hv_bus", "lv_bus"),
        ("trafo3w", "hv_bus", "lv_bus"),
        ("trafo3w", "hv_bus", "mv_bus"),
    ):
        if table in net and len(net[table]):
            live = net[table][net[table]["in_service"].astype(bool)]
            for f, t in zip(live[a].tolist(), live[b].tolist(), strict=True):
                src.append(pos[f])
                dst.append(pos[t])
                length.append(0.0)
    if "switch" in net and len(net.switch):
        sw = net.switch[(net.switch["et"] == "b") & net.switch["closed"].astype(bool)]
        for f, t in zip(sw["bus"].tolist(), sw["element"].tolist(), strict=True):
            src.append(pos[f])
            dst.append(pos[int(t)])
            length.append(0.0)
    load_buses: list[str] = []
    for table in ("asymmetric_load", "load"):
        if table in net and len(net[table]):
            for b in net[table]["bus"].tolist():
                label = labels[pos[b]]
                if label not in load_buses:
                    load_buses.append(label)
    source = None
    if "ext_grid" in net and len(net.ext_grid):
        source = labels[pos[net.ext_grid["bus"].iloc[0]]]
    x, y = _geo_xy(net)
    return Feeder(name, tuple(labels), np.array(src), np.array(dst), np.array(length), tuple(load_buses), x, y, source)


# ---------------------------------------------------------------------- loading with caches
_NETWORKS: dict[str, Any] = {}
_FEEDERS: dict[str, Feeder] = {}


def _is_path(name: str) -> bool:
    return name.endswith(".json") or os.sep in name or "/" in name


def _network_function(name: str) -> str:
    return _BUNDLED[name][1] if name in _BUNDLED else name


def load_network(name: str = DEFAULT_FEEDER) -> Any:
    """The pandapower network for ``name`` (a ``pandapower.networks`` function or a pandapower JSON path).

    Cached in-process; returns a deep copy, so callers may modify it.
    """
    import copy

    return copy.deepcopy(shared_network(name))


def shared_network(name: str = DEFAULT_FEEDER) -> Any:
    """The in-process cached network of :func:`load_network` itself, not a copy: **read only** (never modify
    it). For :func:`transactive.grid.powerflow.check_trades`, which copies a network once and reuses that
    copy while the network object is unchanged."""
    if name not in _NETWORKS:
        import pandapower as pp
        import pandapower.networks as pn

        if _is_path(name):
            if not Path(name).is_file():
                raise GridError("feeder", f"no such file {name!r}")
            try:
                network = pp.from_json(name)
            except Exception as exc:  # pandapower raises whatever its reader meets
                raise GridError("feeder", f"{name!r} is not a pandapower network ({type(exc).__name__})") from None
            if not isinstance(network, pp.pandapowerNet):
                raise GridError("feeder", f"{name!r} is neither a pandapower network nor a {FEEDER_FORMAT} file")
            _NETWORKS[name] = network
        else:
            func = getattr(pn, _network_function(name), None)
            if func is None or not callable(func):
                raise GridError("feeder", f"unknown network {name!r} (not a pandapower.networks function)")
            _NETWORKS[name] = func()
    return _NETWORKS[name]


def _cache_key(name: str) -> str:
    if _is_path(name):
        path = Path(name)
        try:
            stat = path.stat()
        except OSError as exc:
            raise GridError("feeder", f"no such file {name!r}") from exc
        return f"path:{path.resolve()}:{stat.st_mtime_ns}:{stat.st_size}"
    return f"name:{name}"


def load_feeder(name: str = DEFAULT_FEEDER, *, cache_dir: str | os.PathLike[str] | None = None) -> Feeder:
    """The feeder called ``name`` (see the module docstring), cached in-process and optionally on disk."""
    if not isinstance(name, str) or not name:
        raise GridError("feeder", "must be a non-empty network name or path")
    key = _cache_key(name)
    if key in _FEEDERS:
        return _FEEDERS[key]
    feeder: Feeder | None = None
    disk: Path | None = None
    if name in _BUNDLED:
        text = resources.files("transactive").joinpath("data", _BUNDLED[name][0]).read_text()
        feeder = Feeder.from_dict(json.loads(text), name)
    elif cache_dir is not None:
        disk = Path(cache_dir) / f"feeder-{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"
        if disk.is_file():
            feeder = Feeder.from_dict(json.loads(disk.read_text()), name)
    if feeder is None and _is_path(name):
        if not Path(name).is_file():
            raise GridError("feeder", f"{name!r} is not a file")
        try:
            data = json.loads(Path(name).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise GridError("feeder", f"{name!r} is not a JSON file ({type(exc).__name__})") from None
        if isinstance(data, dict) and data.get("format") == FEEDER_FORMAT:
            feeder = Feeder.from_dict(data, name)
    if feeder is None:
        feeder = feeder_from_network(load_network(name), name)
        if disk is not None:
            disk.parent.mkdir(parents=True, exist_ok=True)
            tmp = disk.with_suffix(".tmp")
            feeder.to_json(tmp)
            tmp.replace(disk)
    _FEEDERS[key] = feeder
    return feeder


def clear_caches() -> None:
    """Forget every cached network and feeder (for tests)."""
    _NETWORKS.clear()
    _FEEDERS.clear()


def thesis_vertex_map() -> dict[str, int]:
    """Seed 004 Table 4.3: IEEE European LV feeder node number (bus name) -> vertex id of the thesis's
    reduced tree (Figure 4.6); 117 vertices, the 55 load buses among them. For reference and reporting."""
    text = resources.files("transactive").joinpath("data", "ieee_european_lv_table_4_3.json").read_text()
    return {str(k): int(v) for k, v in json.loads(text)["node_to_vertex"].items()}
