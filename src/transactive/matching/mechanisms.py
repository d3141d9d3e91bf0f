"""Registered grid-aware mechanisms: ``dpda_matched`` and ``mcafee_matched`` (seed 004 ch. 4).

Each clears the market with DPDA (Alg. 2) or McAfee (Alg. 1, the thesis's DAM comparison), then runs the
score matching pipeline (:mod:`transactive.matching.pipeline`): welfare (2.8)-(2.9), scores (Alg. 4),
greedy matching (4.5), trades with distances and charges, quotes (4.6)-(4.7).

The core mechanisms stay pure and never import the grid; this module is the layer above that joins them.

Market file (``transactive.market/1``):

* params: ``feeder`` (default ``"ieee_european_lv"``; any :func:`~transactive.grid.feeder.load_feeder` name
  or path, or ``"none"`` for straight-line distances between the participants' ``x_m``/``y_m``),
  ``charge_per_km`` (default 0.002, tokens/km, C_d), and for ``dpda_matched`` ``exact_oversupply``
  (default false, as ``dpda``);
* every participant: ``bus`` (a bus name of the feeder, e.g. ``"34"``; required unless ``feeder`` is
  ``"none"``), ``x_m``, ``y_m`` (only with ``feeder: "none"``), ``distance_pref_m`` (required, >= 0);
* sellers: ``a``, ``b``, ``c`` (required, >= 0): cost ``aE² + bE + c``; buyers: ``omega`` (>= 0) and
  ``alpha`` (> 0): utility ``ωE − αE²`` saturating at ``ω²/(4α)``.

Result: ``energy_kwh`` is the matched energy, ``payment`` the quote (bill for buyers, income for sellers,
charges included); ``details`` carries the auction's details (``case``, ``x``, ``y``, ``oversupply_kwh``,
``chosen_sellers``, ``chosen_buyers``, ...) plus ``trades`` (buyer, seller, energy_kwh, distance_m,
charge, score, in match order), ``total_charge`` (the DSO's income) and ``charge_per_km``.

Reading a feeder is deterministic: the default one ships with the package (no pandapower needed); others
are cached per process (:mod:`transactive.grid.feeder`) and distances per topology hash.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from transactive.grid.charges import DEFAULT_CHARGE_PER_KM
from transactive.grid.distance import distance_oracle
from transactive.grid.errors import GridError
from transactive.grid.feeder import DEFAULT_FEEDER, load_feeder
from transactive.matching.pipeline import (
    BusDistances,
    Coordinates,
    DistanceSource,
    MatchedOutcome,
    match_orders,
)
from transactive.mechanisms._registry import Mechanism, NoParams, ParamError, ParticipantField
from transactive.mechanisms.dpda import DpdaParams, clear_dpda
from transactive.mechanisms.mcafee import clear_mcafee
from transactive.orders import Orders
from transactive.result import ClearingResult

NO_FEEDER = "none"


def _check_common(feeder: str, charge_per_km: float) -> None:
    if not isinstance(feeder, str) or not feeder.strip():
        raise ParamError("feeder", "must be a network name, a path, or 'none'")
    if isinstance(charge_per_km, bool) or not isinstance(charge_per_km, (int, float)):
        raise ParamError("charge_per_km", "must be a number")
    if not math.isfinite(charge_per_km) or charge_per_km < 0:
        raise ParamError("charge_per_km", "must be a finite number >= 0")


@dataclass(frozen=True)
class MatchedParams:
    """Parameters of ``mcafee_matched``: the feeder (or ``"none"``) and C_d in tokens per km."""

    feeder: str = DEFAULT_FEEDER
    charge_per_km: float = DEFAULT_CHARGE_PER_KM

    def __post_init__(self) -> None:
        _check_common(self.feeder, self.charge_per_km)


@dataclass(frozen=True)
class DpdaMatchedParams:
    """Parameters of ``dpda_matched``: as :class:`MatchedParams` plus DPDA's ``exact_oversupply``."""

    feeder: str = DEFAULT_FEEDER
    charge_per_km: float = DEFAULT_CHARGE_PER_KM
    exact_oversupply: bool = False

    def __post_init__(self) -> None:
        _check_common(self.feeder, self.charge_per_km)
        DpdaParams(self.exact_oversupply)


def distances_for(sellers: Orders, buyers: Orders, feeder_name: str) -> DistanceSource:
    """The distance source for a market: the feeder's shortest paths between the participants' buses, or
    straight lines between ``x_m``/``y_m`` when ``feeder_name`` is ``"none"``."""
    if feeder_name == NO_FEEDER:
        _reject_other_locations(sellers, buyers, feeder_name)

        def xy(orders: Orders, side: str) -> np.ndarray:
            cols = []
            for name in ("x_m", "y_m"):
                if name not in orders.attributes:
                    raise GridError(f"{side}.{name}", "required when params.feeder is 'none'")
                cols.append(np.asarray(orders.attributes[name], dtype=np.float64))
            return np.stack(cols, axis=1) if cols[0].size else np.zeros((0, 2))

        return Coordinates(xy(buyers, "buyers"), xy(sellers, "sellers"))
    try:
        feeder = load_feeder(feeder_name)
    except GridError as exc:
        raise GridError("params.feeder", exc.message) from None
    _reject_other_locations(sellers, buyers, feeder_name)
    positions: dict[str, int] = {}  # bus name -> column of the distance matrix, in order of first appearance
    index: dict[str, np.ndarray] = {}
    for side, orders in (("buyers", buyers), ("sellers", sellers)):
        if "bus" not in orders.attributes:
            raise GridError(f"{side}.bus", "required with a feeder")
        names = np.asarray([str(bus) for bus in orders.attributes["bus"].tolist()], dtype=object)
        distinct, first, inverse = np.unique(names, return_index=True, return_inverse=True)
        column = np.empty(len(distinct), dtype=np.int64)
        for u in np.argsort(first, kind="stable").tolist():  # each distinct bus once, the first user named
            name, k = str(distinct[u]), int(first[u])
            if name not in positions:
                if not name:
                    raise GridError(f"{side}[{k}].bus", f"required with a feeder ({feeder_name!r})")
                feeder.index_of([name], f"{side}[{k}].bus")
            column[u] = positions.setdefault(name, len(positions))
        index[side] = column[inverse.reshape(-1)] if len(names) else np.zeros(0, dtype=np.int64)
    buses = list(positions)
    matrix = distance_oracle(feeder).between(buses) if buses else np.zeros((0, 0))
    return BusDistances(matrix, index["buyers"], index["sellers"])


def unknown_location_field(feeder_name: str, attributes: Mapping[str, object]) -> tuple[str, str] | None:
    """A participant locates itself one way: ``bus`` on a feeder, ``x_m``/``y_m`` with ``feeder: "none"``. The
    ``(field, message)`` of a location field the other way (unknown there, instead of silently ignored), or None.
    ``attributes`` as parsed (a missing ``bus`` is ``""``, a missing ``x_m``/``y_m`` NaN)."""
    if feeder_name == NO_FEEDER:
        if str(attributes.get("bus", "")):
            return "bus", "unknown field with params.feeder 'none' (give x_m, y_m)"
        return None
    for name in ("x_m", "y_m"):
        value = attributes.get(name)
        if isinstance(value, int | float) and not math.isnan(value):
            return name, f"unknown field with a feeder ({feeder_name!r}; give bus)"
    return None


def _reject_other_locations(sellers: Orders, buyers: Orders, feeder_name: str) -> None:
    """:func:`unknown_location_field` for every participant; the first one found is an error naming it."""
    for side, orders in (("sellers", sellers), ("buyers", buyers)):
        names = [n for n in ("bus", "x_m", "y_m") if n in orders.attributes]
        columns = {n: np.asarray(orders.attributes[n]) for n in names}
        suspect = np.zeros(orders.n, dtype=bool)  # a cheap superset of the offenders, checked one by one below
        for name, col in columns.items():
            if name == "bus":
                suspect |= feeder_name == NO_FEEDER and np.asarray([bool(str(b)) for b in col.tolist()], dtype=bool)
            elif feeder_name != NO_FEEDER:
                suspect |= ~np.isnan(col) if col.dtype.kind == "f" else True
        for k in np.flatnonzero(suspect).tolist():
            found = unknown_location_field(feeder_name, {n: col[k : k + 1].tolist()[0] for n, col in columns.items()})
            if found is not None:
                raise GridError(f"{side}[{k}].{found[0]}", found[1])


def _fix_index_error(exc: GridError) -> GridError:
    # index_of names "<side>[k].bus[0]" for a one-element lookup: drop the trailing "[0]"
    field = exc.field[:-3] if exc.field.endswith("[0]") else exc.field
    return GridError(field, exc.message)


def _run(
    sellers: Orders,
    buyers: Orders,
    *,
    feeder: str,
    charge_per_km: float,
    auction: str,
    exact_oversupply: bool = False,
) -> MatchedOutcome:
    try:
        distances = distances_for(sellers, buyers, feeder)
    except GridError as exc:
        raise _fix_index_error(exc) from None
    if auction == "dpda":
        params = DpdaParams(exact_oversupply)
        return match_orders(
            sellers, buyers, lambda s, b: clear_dpda(s, b, params), distances, charge_per_km=charge_per_km
        )
    return match_orders(
        sellers, buyers, lambda s, b: clear_mcafee(s, b, NoParams()), distances, charge_per_km=charge_per_km
    )


def clear_dpda_matched(sellers: Orders, buyers: Orders, params: DpdaMatchedParams) -> ClearingResult:
    """DPDA, then score matching on the feeder (or plane)."""
    outcome = _run(
        sellers,
        buyers,
        feeder=params.feeder,
        charge_per_km=params.charge_per_km,
        auction="dpda",
        exact_oversupply=params.exact_oversupply,
    )
    return outcome.to_clearing_result("dpda_matched")


def clear_mcafee_matched(sellers: Orders, buyers: Orders, params: MatchedParams) -> ClearingResult:
    """McAfee, then score matching on the feeder (or plane)."""
    outcome = _run(sellers, buyers, feeder=params.feeder, charge_per_km=params.charge_per_km, auction="mcafee")
    return outcome.to_clearing_result("mcafee_matched")


PARTICIPANT_FIELDS = (
    ParticipantField("bus", str, default=""),
    ParticipantField("x_m", float, default=float("nan")),
    ParticipantField("y_m", float, default=float("nan")),
    ParticipantField("distance_pref_m", float, minimum=0.0),
    ParticipantField("a", float, sides=("sellers",), minimum=0.0),
    ParticipantField("b", float, sides=("sellers",), minimum=0.0),
    ParticipantField("c", float, sides=("sellers",), minimum=0.0),
    ParticipantField("omega", float, sides=("buyers",), minimum=0.0),
    ParticipantField("alpha", float, sides=("buyers",), minimum=0.0, exclusive_minimum=True),  # U peaks at ω/(2α)
)

MECHANISMS = (
    Mechanism(
        "dpda_matched",
        "DPDA, then score matching along the feeder (welfare, distance, grid charges)",
        DpdaMatchedParams,
        clear_dpda_matched,
        participant_fields=PARTICIPANT_FIELDS,
        source="seed 004: Alg. 2 (DPDA), eq. 2.8-2.9, Alg. 3-4, eq. 4.5-4.7, Alg. 6 (distances)",
    ),
    Mechanism(
        "mcafee_matched",
        "McAfee double auction, then score matching along the feeder (the thesis's DAM comparison)",
        MatchedParams,
        clear_mcafee_matched,
        participant_fields=PARTICIPANT_FIELDS,
        source="seed 004: Alg. 1 (McAfee), eq. 2.8-2.9, Alg. 3-4, eq. 4.5-4.7, Alg. 6 (distances)",
    ),
)
