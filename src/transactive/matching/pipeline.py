"""The score matching pipeline (seed 004 ch. 4), pure: auction → welfare → scores → greedy matching → trades
→ quotes.

Inputs are two :class:`~transactive.orders.Orders` (one block per participant) whose ``attributes`` hold:

* both sides: ``distance_pref_m`` (metres, finite, >= 0), the distance preference D of Alg. 4;
* sellers: ``a``, ``b``, ``c`` (finite, >= 0), the cost function of (2.8);
* buyers: ``omega`` (finite, >= 0) and ``alpha`` (finite, > 0), the utility of (2.9);

and a :class:`DistanceSource` giving the distance (metres) between any buyer and seller: a precomputed
matrix (:class:`DistanceMatrix`), points in a plane (:class:`Coordinates`, straight-line distance), or buses
with a bus-to-bus matrix (:class:`BusDistances`, built from a feeder by
:mod:`transactive.matching.mechanisms`). No I/O happens here.

Steps:

1. an auction (DPDA or McAfee; any ``clear(sellers, buyers) -> ClearingResult``) gives the price p0 and each
   participant's energy (E'(S) for sellers after the oversupply reduction, E(B) for buyers);
2. the participants with energy > 0 are *chosen* and only they are matched;
3. welfare (2.8)-(2.9) at p0 and the chosen energies; scores (Alg. 4); greedy matching (4.5);
4. each trade gets its distance and charge ``C_d·d`` (:mod:`transactive.grid.charges`); quotes (4.6)-(4.7).

Grid charges never make a trade irrational: a pair is matched only if its charge is 0 or each side's half of
it is at most that side's gains from the trade, ``C_d·d/2 <= (P(B) − p0)·e`` and ``C_d·d/2 <= (p0 − P(S))·e``
(:func:`charge_admissible`); otherwise the greedy loop refuses the pair and carries on. The charge stays
split half and half as (4.6)-(4.7) print it. ``individually_rational`` is then computed from the result:
every participant's quote against its own price times its matched energy (:func:`rational_participants`).

The matched energy of a participant can be less than its auction energy (e.g. DPDA's ``max(0, ·)`` clipping
leaves supply above demand, McAfee's θ < 0 leaves the last buyer short); the result reports matched energy
and quotes, and the auction's own allocation in ``auction``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from transactive.grid.charges import DEFAULT_CHARGE_PER_KM, quotes, trade_charge
from transactive.matching.candidates import TopCandidates
from transactive.matching.errors import MatchingError
from transactive.matching.greedy import SMALL_MARKET_PAIRS, Matches, match
from transactive.matching.score import BusScores, scores
from transactive.matching.welfare import buyer_welfare, seller_welfare
from transactive.orders import FloatArray, IntArray, Orders
from transactive.result import Allocation, ClearingResult
from transactive.units import energy_to_units, units_to_energy

SELLER_FIELDS = ("distance_pref_m", "a", "b", "c")
BUYER_FIELDS = ("distance_pref_m", "omega", "alpha")
RATIONAL_TOLERANCE_TOKENS = 1e-9
"""Slack of the individual-rationality test, tokens (relative to ``max(1, |price × energy|)``): float residue
only, a thousandth of the micro-token settlement pays in."""
BUS_TABLE_MAX_CELLS = 8_000_000
"""Largest per-bus score tables (distinct buyer buses x sellers) :class:`BusScores` builds (64 MB each)."""
WINDOW_MIN_SELLERS = 3_000
"""From this many chosen sellers on, rows at buses take their batches from candidate windows
(:mod:`transactive.matching.candidates`; the same batches): below it whole rows are as fast or faster
(measured on the slot benchmark's market with per-class windows, CPU s whole rows / windows: 0.29 / 0.49 at
4,000 prosumers (~1,400 chosen sellers), 0.7 / 0.77 at 7,000 (~2,450), 1.25 / 1.05 at 10,000 (~3,500); at
100,000 windows take several times less)."""
Auction = Callable[[Orders, Orders], ClearingResult]


# ---------------------------------------------------------------------- distance sources
class DistanceSource(Protocol):
    """Distances in metres between buyers and sellers (indices into the full ``Orders``)."""

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_buyers, n_sellers)`` the source covers."""
        ...

    def block(self, buyers: IntArray, sellers: IntArray) -> FloatArray:
        """Shape ``(len(buyers), len(sellers))``; ``inf`` where no path exists."""
        ...

    def pairs(self, buyers: IntArray, sellers: IntArray) -> FloatArray:
        """Distances of the pairs ``(buyers[k], sellers[k])``, shape ``(len(buyers),)``."""
        ...


def _check_distances(values: FloatArray, field: str) -> None:
    bad = np.argwhere(np.isnan(values) | (values < 0))
    if bad.size:
        where = ",".join(str(int(v)) for v in bad[0])
        raise MatchingError(f"{field}[{where}]", "distance must be >= 0 (inf for no path), not NaN")


@dataclass(frozen=True, eq=False)
class DistanceMatrix:
    """A precomputed matrix ``distance_m[j, i]`` between buyer j and seller i (all participants)."""

    distance_m: FloatArray

    def __post_init__(self) -> None:
        d = np.array(self.distance_m, dtype=np.float64, copy=True)
        if d.ndim != 2:
            raise MatchingError("distance_m", "must be a 2-D matrix (n_buyers, n_sellers)")
        _check_distances(d, "distance_m")
        d.setflags(write=False)
        object.__setattr__(self, "distance_m", d)

    @property
    def shape(self) -> tuple[int, int]:
        rows, cols = self.distance_m.shape
        return int(rows), int(cols)

    def block(self, buyers: IntArray, sellers: IntArray) -> FloatArray:
        return self.distance_m[np.ix_(buyers, sellers)]

    def pairs(self, buyers: IntArray, sellers: IntArray) -> FloatArray:
        return self.distance_m[buyers, sellers]


@dataclass(frozen=True, eq=False)
class Coordinates:
    """Participants at points (metres); distance is the straight line between them."""

    buyer_xy_m: FloatArray
    seller_xy_m: FloatArray

    def __post_init__(self) -> None:
        for name in ("buyer_xy_m", "seller_xy_m"):
            xy = np.array(getattr(self, name), dtype=np.float64, copy=True).reshape(-1, 2)
            bad = np.argwhere(~np.isfinite(xy))
            if bad.size:
                side = "buyers" if name.startswith("buyer") else "sellers"
                raise MatchingError(f"{side}[{int(bad[0][0])}].{'xy'[int(bad[0][1])]}_m", "coordinate must be finite")
            xy.setflags(write=False)
            object.__setattr__(self, name, xy)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.buyer_xy_m), len(self.seller_xy_m)

    def block(self, buyers: IntArray, sellers: IntArray) -> FloatArray:
        b = self.buyer_xy_m[buyers]
        s = self.seller_xy_m[sellers]
        return np.hypot(b[:, 0:1] - s[None, :, 0], b[:, 1:2] - s[None, :, 1])

    def pairs(self, buyers: IntArray, sellers: IntArray) -> FloatArray:
        b = self.buyer_xy_m[buyers]
        s = self.seller_xy_m[sellers]
        return np.hypot(b[:, 0] - s[:, 0], b[:, 1] - s[:, 1])


@dataclass(frozen=True, eq=False)
class BusDistances:
    """Participants at buses: ``bus_distance_m[p, q]`` between bus positions (metres), and each
    participant's bus position."""

    bus_distance_m: FloatArray
    buyer_bus: IntArray
    seller_bus: IntArray

    def __post_init__(self) -> None:
        d = np.array(self.bus_distance_m, dtype=np.float64, copy=True)
        if d.ndim != 2 or d.shape[0] != d.shape[1]:
            raise MatchingError("bus_distance_m", "must be a square matrix")
        _check_distances(d, "bus_distance_m")
        d.setflags(write=False)
        object.__setattr__(self, "bus_distance_m", d)
        for name in ("buyer_bus", "seller_bus"):
            idx = np.array(getattr(self, name), dtype=np.int64, copy=True)
            if idx.size and (idx.min() < 0 or idx.max() >= d.shape[0]):
                raise MatchingError(name, "bus position out of range")
            idx.setflags(write=False)
            object.__setattr__(self, name, idx)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.buyer_bus), len(self.seller_bus)

    def block(self, buyers: IntArray, sellers: IntArray) -> FloatArray:
        return self.bus_distance_m[np.ix_(self.buyer_bus[buyers], self.seller_bus[sellers])]

    def pairs(self, buyers: IntArray, sellers: IntArray) -> FloatArray:
        return self.bus_distance_m[self.buyer_bus[buyers], self.seller_bus[sellers]]


# ---------------------------------------------------------------------- validation
def _column(orders: Orders, side: str, name: str) -> FloatArray:
    if name not in orders.attributes:
        raise MatchingError(f"{side}.{name}", "required for score matching")
    try:
        col = np.asarray(orders.attributes[name], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MatchingError(f"{side}.{name}", "must be numbers") from exc
    minimum_exclusive = name == "alpha"
    bad = np.flatnonzero(~np.isfinite(col) | ((col <= 0) if minimum_exclusive else (col < 0)))
    if bad.size:
        rule = "> 0" if minimum_exclusive else ">= 0"
        raise MatchingError(f"{side}[{int(bad[0])}].{name}", f"must be a finite number {rule}")
    return col


def validate_orders(sellers: Orders, buyers: Orders) -> tuple[dict[str, FloatArray], dict[str, FloatArray]]:
    """Check single blocks and the matching attributes; return them as float columns per side."""
    for side, orders in (("sellers", sellers), ("buyers", buyers)):
        if not orders.is_single_block:
            raise MatchingError(f"{side}.blocks", "score matching takes one block per participant")
    s = {name: _column(sellers, "sellers", name) for name in SELLER_FIELDS}
    b = {name: _column(buyers, "buyers", name) for name in BUYER_FIELDS}
    return s, b


# ---------------------------------------------------------------------- results
@dataclass(frozen=True)
class Trade:
    """One matched trade: ``energy_kwh`` from ``seller`` to ``buyer`` over ``distance_m`` of line;
    ``charge`` in tokens (C_d·d, paid half by each side); ``score`` the Alg. 4 score that ranked it."""

    buyer: str
    seller: str
    energy_kwh: float
    distance_m: float
    charge: float
    score: float


@dataclass(frozen=True, eq=False)
class MatchedOutcome:
    """Everything the pipeline computed. Per-participant arrays are aligned with the input ``Orders``.

    Attributes:
        price_per_kwh: p0 (None when nothing trades).
        trades: in match order.
        trade_buyer, trade_seller: indices of each trade's participants.
        buyer_energy_kwh, seller_energy_kwh: matched energy per participant.
        buyer_bill, seller_income: quotes (4.6)-(4.7), tokens.
        buyer_welfare, seller_welfare: (2.9)/(2.8) for chosen participants, NaN for the others.
        auction: the auction's own result (None when energies were given).
        individually_rational: every participant's quote is within its own price × matched energy.
    """

    price_per_kwh: float | None
    trades: tuple[Trade, ...]
    trade_buyer: IntArray
    trade_seller: IntArray
    buyer_energy_kwh: FloatArray
    seller_energy_kwh: FloatArray
    buyer_bill: FloatArray
    seller_income: FloatArray
    buyer_welfare: FloatArray
    seller_welfare: FloatArray
    charge_per_km: float
    auction: ClearingResult | None = None
    individually_rational: bool = True

    @property
    def total_charge(self) -> float:
        """Σ charges, tokens: what the DSO receives."""
        return float(sum(t.charge for t in self.trades))

    def trades_json(self) -> list[dict[str, Any]]:
        """Trades as JSON-able dicts."""
        return [
            {
                "buyer": t.buyer,
                "seller": t.seller,
                "energy_kwh": t.energy_kwh,
                "distance_m": t.distance_m,
                "charge": t.charge,
                "score": t.score,
            }
            for t in self.trades
        ]

    def to_clearing_result(self, mechanism: str) -> ClearingResult:
        """As a :class:`ClearingResult`: matched energy, payment = bill (buyers) / income (sellers)."""
        details: dict[str, Any] = {}
        if self.auction is not None:
            details.update({k: v for k, v in self.auction.details.items() if k != "trades"})
            if "individually_rational" in self.auction.details:
                details["auction_individually_rational"] = self.auction.details["individually_rational"]
        details.update(
            {
                "individually_rational": self.individually_rational,
                "charge_per_km": self.charge_per_km,
                "total_charge": self.total_charge,
                "trades": self.trades_json(),
            }
        )
        return ClearingResult(
            mechanism,
            self.price_per_kwh,
            Allocation(self.seller_energy_kwh, self.seller_income),
            Allocation(self.buyer_energy_kwh, self.buyer_bill),
            details,
        )


# ---------------------------------------------------------------------- individual rationality
def charge_admissible(charge: float, buyer_margin: float, seller_margin: float, energy_kwh: float) -> bool:
    """True when a trade of ``energy_kwh`` carrying ``charge`` (tokens, half to each side, eq. 4.6-4.7) leaves
    both sides rational: the charge is 0, or each half is at most that side's gains from the trade,
    ``buyer_margin·e`` with ``buyer_margin = P(B) − p0`` and ``seller_margin·e`` with ``p0 − P(S)``."""
    half = 0.5 * charge
    return charge == 0 or (half <= buyer_margin * energy_kwh and half <= seller_margin * energy_kwh)


def rational_participants(
    orders: Orders, energy_kwh: FloatArray, payment: FloatArray, *, seller: bool
) -> npt.NDArray[np.bool_]:
    """Per participant: its quote is within its own price for its matched energy (a seller's income >=
    ``P(S)·E``, a buyer's bill <= ``P(B)·E``), up to :data:`RATIONAL_TOLERANCE_TOKENS` of float residue."""
    at_price = orders.price_per_kwh * energy_kwh
    gain = payment - at_price if seller else at_price - payment
    slack = RATIONAL_TOLERANCE_TOKENS * np.maximum(1.0, np.abs(at_price))
    ok: npt.NDArray[np.bool_] = gain >= -slack
    return ok


# ---------------------------------------------------------------------- the pipeline
def _per_participant(index: IntArray, energy_kwh: FloatArray, n: int) -> FloatArray:
    """Σ trade energy per participant, exact at the resolution: integer units of 1e-9 kWh, summed as doubles,
    which add whole numbers below 2^53 (9e6 kWh) exactly."""
    units = np.bincount(index, weights=energy_to_units(energy_kwh).astype(np.float64), minlength=n)
    return units_to_energy(units.astype(np.int64))


def match_energies(
    sellers: Orders,
    buyers: Orders,
    distances: DistanceSource,
    *,
    price_per_kwh: float | None,
    seller_kwh: npt.ArrayLike,
    buyer_kwh: npt.ArrayLike,
    charge_per_km: float = DEFAULT_CHARGE_PER_KM,
    auction: ClearingResult | None = None,
    validated: tuple[dict[str, FloatArray], dict[str, FloatArray]] | None = None,
) -> MatchedOutcome:
    """Steps 2-4 for given auction energies (E'(S) per seller, E(B) per buyer, kWh) and price p0.

    ``validated``: what :func:`validate_orders` returned for these orders, when the caller already ran it.
    """
    if not np.isfinite(charge_per_km) or charge_per_km < 0:
        raise MatchingError("charge_per_km", "must be a finite number >= 0")
    s_attr, b_attr = validate_orders(sellers, buyers) if validated is None else validated
    e_s = np.asarray(seller_kwh, dtype=np.float64)
    e_b = np.asarray(buyer_kwh, dtype=np.float64)
    if e_s.shape != (sellers.n,) or e_b.shape != (buyers.n,):
        raise MatchingError("energy_kwh", "one auction energy per participant is required")
    if tuple(distances.shape) != (buyers.n, sellers.n):
        raise MatchingError(
            "distance_m", f"covers {distances.shape} (buyers, sellers) but the market has {(buyers.n, sellers.n)}"
        )
    chosen_s = np.flatnonzero(e_s > 0)
    chosen_b = np.flatnonzero(e_b > 0)
    w_s = np.full(sellers.n, np.nan)
    w_b = np.full(buyers.n, np.nan)
    empty_i = np.zeros(0, dtype=np.int64)
    if price_per_kwh is None or len(chosen_s) == 0 or len(chosen_b) == 0:
        z_b, z_s = np.zeros(buyers.n), np.zeros(sellers.n)
        return MatchedOutcome(price_per_kwh, (), empty_i, empty_i, z_b, z_s, z_b, z_s, w_b, w_s, charge_per_km, auction)
    p0 = float(price_per_kwh)
    w_s[chosen_s] = seller_welfare(
        p0, e_s[chosen_s], s_attr["a"][chosen_s], s_attr["b"][chosen_s], s_attr["c"][chosen_s]
    )
    w_b[chosen_b] = buyer_welfare(p0, e_b[chosen_b], b_attr["omega"][chosen_b], b_attr["alpha"][chosen_b])
    pb = buyers.price_per_kwh[chosen_b]
    ps = sellers.price_per_kwh[chosen_s]
    db, ds = b_attr["distance_pref_m"][chosen_b], s_attr["distance_pref_m"][chosen_s]
    wb, ws = w_b[chosen_b], w_s[chosen_s]
    bus_scores: BusScores | None = None
    if isinstance(distances, BusDistances) and (
        BusScores.memory_cells(distances.buyer_bus[chosen_b], len(chosen_s)) <= BUS_TABLE_MAX_CELLS
    ):  # participants at buses: per-bus tables (the bus matrix was checked when the source was built)
        bus_scores = BusScores(
            distances.bus_distance_m,
            distances.buyer_bus[chosen_b],
            distances.seller_bus[chosen_s],
            buyer_price_per_kwh=pb,
            seller_price_per_kwh=ps,
            buyer_pref_m=db,
            seller_pref_m=ds,
            buyer_welfare=wb,
            seller_welfare=ws,
            charge_per_km=charge_per_km,
        )

    def score_rows(rows: IntArray) -> FloatArray:
        if bus_scores is not None:
            return bus_scores.rows(rows)
        d = distances.block(chosen_b[rows], chosen_s)
        _check_distances(d, "distance_m")
        return scores(
            pb[rows],
            seller_price_per_kwh=ps,
            distance_m=d,
            buyer_pref_m=db[rows],
            seller_pref_m=ds,
            buyer_welfare=wb[rows],
            seller_welfare=ws,
            charge_per_km=charge_per_km,
        )

    margin_b, margin_s = pb - p0, p0 - ps

    charges = None  # a small market: every pair's charge at once (the same floats as per pair)
    if len(chosen_b) * len(chosen_s) <= SMALL_MARKET_PAIRS:
        charges = trade_charge(distances.block(chosen_b, chosen_s), charge_per_km)

    # at buses: the per-bus table holds the same floats as trade_charge (d / 1000 x C_d) wherever d is finite
    table = None if bus_scores is None or bus_scores.infinite is not None else bus_scores.charge
    row_bus = [] if bus_scores is None else bus_scores.buyer_row_bus.tolist()
    over_b, over_s = margin_b.tolist(), margin_s.tolist()

    def admissible(j: int, i: int, energy_kwh: float) -> bool:
        if charges is not None:
            charge = float(charges[j, i])
        elif table is not None:
            charge = float(table[row_bus[j], i])
        else:
            pair = distances.pairs(chosen_b[j : j + 1], chosen_s[i : i + 1])
            charge = float(trade_charge(pair, charge_per_km).reshape(-1)[0])
        return charge_admissible(charge, over_b[j], over_s[i], energy_kwh)

    windows = bus_scores is not None and bus_scores.blended and len(chosen_s) >= WINDOW_MIN_SELLERS
    top = TopCandidates(bus_scores) if windows and bus_scores is not None else None
    m: Matches = match(
        score_rows, e_b[chosen_b], e_s[chosen_s], admissible=admissible if charge_per_km > 0 else None, top=top
    )
    t_b, t_s = chosen_b[m.buyer], chosen_s[m.seller]
    dist = np.asarray(distances.pairs(t_b, t_s), dtype=np.float64).reshape(len(t_b))
    charge = trade_charge(dist, charge_per_km)
    bill, income = quotes(
        p0,
        trade_buyer=t_b,
        trade_seller=t_s,
        trade_energy_kwh=m.energy_kwh,
        trade_charge_tokens=charge,
        n_buyers=buyers.n,
        n_sellers=sellers.n,
    )
    b_ids, s_ids = buyers.ids, sellers.ids  # columns to Python floats once (tolist), not one NumPy scalar a field
    trades = tuple(map(Trade, [b_ids[j] for j in t_b.tolist()], [s_ids[i] for i in t_s.tolist()],
                       m.energy_kwh.tolist(), dist.tolist(), charge.tolist(), m.score.tolist()))
    bought, sold = _per_participant(t_b, m.energy_kwh, buyers.n), _per_participant(t_s, m.energy_kwh, sellers.n)
    rational = bool(
        rational_participants(buyers, bought, bill, seller=False).all()
        and rational_participants(sellers, sold, income, seller=True).all()
    )
    return MatchedOutcome(
        p0, trades, t_b, t_s, bought, sold, bill, income, w_b, w_s, charge_per_km, auction, rational
    )


def match_orders(
    sellers: Orders,
    buyers: Orders,
    auction: Auction,
    distances: DistanceSource,
    *,
    charge_per_km: float = DEFAULT_CHARGE_PER_KM,
) -> MatchedOutcome:
    """The whole pipeline: ``auction(sellers, buyers)`` (DPDA or McAfee), then :func:`match_energies`."""
    validated = validate_orders(sellers, buyers)
    result = auction(sellers, buyers)
    return match_energies(
        sellers,
        buyers,
        distances,
        price_per_kwh=result.price_per_kwh,
        seller_kwh=result.sellers.energy_kwh,
        buyer_kwh=result.buyers.energy_kwh,
        charge_per_km=charge_per_km,
        auction=result,
        validated=validated,
    )
