"""Seed 004's studies (Martinez-Trejo 2022, ch. 3.5 and 4.5): P-10 … P-50 and P-55, cooperative and
non-cooperative, DPDA against McAfee (the thesis's "DAM"), then score matching on the IEEE European LV feeder.

Every run draws a scenario with :func:`transactive.sim.scenario.generate_scenario` (sizes of Table 3.2; the
non-cooperative draw is the generator's: σ 0.02 / 0.045 around £0.2023) and clears and matches it with
:func:`transactive.sim.slot.run_slot` (``check_network=False``: the thesis's ch. 3-4 results have no power
flow), which is the same pipeline as the registered ``dpda_matched`` / ``mcafee_matched`` (the tests check
that they agree). Nothing here clears or matches.

Energy calibration (the thesis gives two readings, ``StudyConfig.calibration``):

* ``"table"`` (default): Table 3.2's totals. The generator draws the energies (30-200 kWh) and each side is
  scaled so that Σ E(S) and Σ E(B) equal the table's (P-10: 155 / 163 kWh … P-50: 1003 / 1003), i.e.
  ~31-40 kWh per participant; P-55 (no row in the table) is scaled to the table's mean, 38.43 kWh per
  participant (5764 kWh / 150). Scaled energies are rounded to 0.01 kWh; the last participant of each side
  takes the rounding remainder, so the totals are exact.
* ``"text"``: the text's "30kWh to 200kWh" per participant, the generator's draws unchanged (~115 kWh each,
  three times the table's totals).

Scaling keeps the draw's prices, buses, preferences and welfare parameters; a buyer's ``alpha`` was drawn for
the unscaled energy, so the scaled demand lies further below its saturation point ω/(2α) (still below).

Per run (:class:`Run`): the price, the auction's case and chosen sets, the energies the chosen sellers cannot
trade (the thesis's Figs. 3.17-3.18: for DPDA the oversupply each chosen seller gives up, for McAfee θ, whose
negative values are the buyers' shortfall), the matched trades, their distances and grid charges ``C_d·d``,
the welfare (2.8)-(2.9) of the chosen participants, individual rationality at p0, and the wall-clock time of
the clearing and matching (kept apart from the deterministic data).

The distance-preference sweep (§4.5 says the preference was varied but prints no result): the largest of
Table 3.2's sizes, cooperative, every participant given the same D in :data:`SWEEP_PREFS_M` (the generator's
other draws unchanged), both auctions, every seed: trades, mean distance per trade, the share of trades no
longer than D, and the charges.

Example:
    >>> r = run_study(StudyConfig(seed=1, seeds=1, sizes=("P-10",)))
    >>> sorted({(x.behaviour, x.auction) for x in r.runs})[:2]
    [('cooperative', 'dpda'), ('cooperative', 'mcafee')]
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from transactive.grid.charges import DEFAULT_CHARGE_PER_KM
from transactive.orders import Orders
from transactive.sim.scenario import BEHAVIOUR_SIGMA, SCENARIO_SIZES, Scenario, generate_scenario
from transactive.sim.slot import SlotOutcome, run_slot
from transactive.studies import StudyError

SIZES = ("P-10", "P-20", "P-30", "P-40", "P-50", "P-55")
BEHAVIOURS = tuple(BEHAVIOUR_SIGMA)  # ("cooperative", "non_cooperative")
AUCTIONS = ("dpda", "mcafee")
CALIBRATIONS = ("table", "text")
TABLE_3_2_KWH: dict[str, tuple[float, float]] = {  # Σ E(S), Σ E(B), seed 004 Table 3.2
    "P-10": (155.0, 163.0),
    "P-20": (382.0, 322.0),
    "P-30": (524.0, 658.0),
    "P-40": (841.0, 713.0),
    "P-50": (1003.0, 1003.0),
}
TABLE_MEAN_KWH = sum(s + b for s, b in TABLE_3_2_KWH.values()) / sum(
    s + b for s, b in SCENARIO_SIZES.values()
)  # 5764 kWh / 150 participants = 38.43 kWh, used for P-55
IR_TOLERANCE = 1e-9  # £/kWh
SWEEP_PREFS_M = (0.0, 25.0, 50.0, 75.0, 100.0, 150.0, 200.0, 300.0, 500.0)  # D for everyone, metres
Auction = Literal["dpda", "mcafee"]


@dataclass(frozen=True)
class StudyConfig:
    """``seeds`` draws from ``seed`` on (``seed``, ``seed + 1``, …) per size and behaviour; ``calibration``
    ``"table"`` (Table 3.2's totals) or ``"text"`` (30-200 kWh each); C_d in £/km."""

    seed: int = 1
    seeds: int = 20
    sizes: tuple[str, ...] = SIZES
    calibration: str = "table"
    charge_per_km: float = DEFAULT_CHARGE_PER_KM

    def __post_init__(self) -> None:
        for name, low, high in (("seed", 0, 2**32 - 1000), ("seeds", 1, 1000)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise StudyError(name, f"must be an integer in [{low}, {high}]")
        if not self.sizes or any(s not in SIZES for s in self.sizes) or len(set(self.sizes)) != len(self.sizes):
            raise StudyError("sizes", f"must be distinct names among {', '.join(SIZES)}")
        if self.calibration not in CALIBRATIONS:
            raise StudyError("calibration", f"must be one of {', '.join(CALIBRATIONS)}")
        c = self.charge_per_km
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c) or c < 0:
            raise StudyError("charge_per_km", "must be a finite number >= 0")


@dataclass(frozen=True)
class Run:
    """One (size, behaviour, seed, auction) outcome; £ (tokens), kWh, metres.

    ``unsold_kwh``: Σ over chosen sellers of offered − sold at the auction (what the chosen sellers cannot
    trade); ``per_seller_unsold_kwh``: DPDA's oversupply per chosen seller, McAfee's θ (negative: the last
    chosen buyers are short by −θ, ``unserved_kwh``). Charges are per trade, C_d·d. ``ir_violations``: chosen
    participants whose p0 is outside their reserved price."""

    size: str
    behaviour: str
    seed: int
    auction: str
    n_sellers: int
    n_buyers: int
    offered_kwh: float
    demanded_kwh: float
    price_per_kwh: float | None
    case: int
    chosen_sellers: int
    chosen_buyers: int
    sold_kwh: float
    bought_kwh: float
    unsold_kwh: float
    per_seller_unsold_kwh: float
    unserved_kwh: float
    excess_kwh: float
    matched_kwh: float
    trades: int
    mean_distance_m: float
    mean_charge: float
    min_charge: float
    max_charge: float
    total_charge: float
    seller_welfare: float
    buyer_welfare: float
    ir_violations: int

    @property
    def traders(self) -> int:
        return self.chosen_sellers + self.chosen_buyers

    @property
    def welfare(self) -> float:
        return self.seller_welfare + self.buyer_welfare


@dataclass(frozen=True)
class SweepRun:
    """One run of the distance-preference sweep (§4.5): every participant's D = ``distance_pref_m``."""

    distance_pref_m: float
    seed: int
    auction: str
    trades: int
    mean_distance_m: float
    within_pref: float  # share of trades no longer than D
    total_charge: float


@dataclass(frozen=True, eq=False)
class StudyResult:
    """All runs, each size's example outcomes at ``config.seed`` (for the per-participant figures), the
    clearing + matching wall-clock seconds per run (not deterministic; same order as ``runs``), and the
    distance-preference sweep on ``sweep_size``, cooperative."""

    config: StudyConfig
    runs: tuple[Run, ...]
    examples: dict[tuple[str, str, str], SlotOutcome] = field(repr=False)
    seconds: tuple[float, ...] = field(repr=False)
    sweep: tuple[SweepRun, ...] = ()
    sweep_size: str = ""

    def select(self, *, size: str | None = None, behaviour: str | None = None,
               auction: str | None = None) -> tuple[Run, ...]:
        return tuple(r for r in self.runs if (size is None or r.size == size)
                     and (behaviour is None or r.behaviour == behaviour) and (auction is None or r.auction == auction))


def _scale(orders: Orders, total_kwh: float) -> Orders:
    """``orders`` with energies scaled to ``total_kwh`` (0.01 kWh; the last one takes the remainder)."""
    e = orders.energy_kwh
    scaled = np.round(e * (total_kwh / float(e.sum())), 2)
    scaled[-1] = round(total_kwh - float(scaled[:-1].sum()), 2)
    if scaled[-1] <= 0:  # cannot happen with the table's totals and 30-200 kWh draws; kept as a guard
        raise StudyError("calibration", f"cannot scale {orders.n} participants to {total_kwh} kWh")
    return Orders.single(list(orders.ids), scaled, orders.price_per_kwh, **orders.attributes)


def scenario_for(size: str, behaviour: str, seed: int, calibration: str,
                 distance_pref_m: float | None = None) -> Scenario:
    """The generator's scenario, with its energies calibrated (module docstring); ``distance_pref_m`` gives
    every participant that distance preference D (the other draws are unchanged)."""
    n: int | str = int(size[2:]) if size not in SCENARIO_SIZES else size
    if distance_pref_m is None:
        s = generate_scenario(n, behaviour, seed)
    else:
        s = generate_scenario(n, behaviour, seed, distance_pref_range_m=(distance_pref_m, distance_pref_m))
    if calibration == "text":
        return s
    if size in TABLE_3_2_KWH:
        total_s, total_b = TABLE_3_2_KWH[size]
    else:
        drawn_s, drawn_b = float(s.sellers.energy_kwh.sum()), float(s.buyers.energy_kwh.sum())
        total = TABLE_MEAN_KWH * (s.sellers.n + s.buyers.n)
        total_s = round(total * drawn_s / (drawn_s + drawn_b), 2)
        total_b = round(total - total_s, 2)
    return Scenario(s.name, s.behaviour, s.seed, s.feeder, _scale(s.sellers, total_s), _scale(s.buyers, total_b))


def _ir_violations(scenario: Scenario, out: SlotOutcome) -> int:
    auction = out.matched.auction
    if auction is None or auction.price_per_kwh is None:
        return 0
    p0 = auction.price_per_kwh
    sold = auction.sellers.energy_kwh > 0
    bought = auction.buyers.energy_kwh > 0
    return int(np.sum(scenario.sellers.price_per_kwh[sold] > p0 + IR_TOLERANCE)
               + np.sum(scenario.buyers.price_per_kwh[bought] < p0 - IR_TOLERANCE))


def summarise(scenario: Scenario, auction: str, out: SlotOutcome) -> Run:
    """A :class:`Run` from one slot outcome (figures read from the auction's and matching's results)."""
    m = out.matched
    a = m.auction
    assert a is not None
    d = a.details
    ids_s, ids_b = set(d["chosen_sellers"]), set(d["chosen_buyers"])
    s_idx = [k for k, pid in enumerate(scenario.sellers.ids) if pid in ids_s]
    b_idx = [k for k, pid in enumerate(scenario.buyers.ids) if pid in ids_b]
    offered_chosen = float(scenario.sellers.energy_kwh[s_idx].sum())
    demanded_chosen = float(scenario.buyers.energy_kwh[b_idx].sum())
    sold = float(a.sellers.energy_kwh.sum())
    bought = float(a.buyers.energy_kwh.sum())
    per_seller = float(d["oversupply_kwh"]) if auction == "dpda" else float(d["theta_kwh"])
    charges = np.array([t.charge for t in m.trades])
    dist = np.array([t.distance_m for t in m.trades])
    return Run(
        scenario.name, scenario.behaviour, scenario.seed, auction,
        scenario.sellers.n, scenario.buyers.n,
        float(scenario.sellers.energy_kwh.sum()), float(scenario.buyers.energy_kwh.sum()),
        a.price_per_kwh, int(d["case"]), len(s_idx), len(b_idx),
        sold, bought, offered_chosen - sold if s_idx else 0.0, per_seller,
        demanded_chosen - bought if b_idx else 0.0, float(d.get("excess_kwh", 0.0)),
        float(sum(t.energy_kwh for t in m.trades)), len(m.trades),
        float(dist.mean()) if dist.size else 0.0,
        float(charges.mean()) if charges.size else 0.0,
        float(charges.min()) if charges.size else 0.0,
        float(charges.max()) if charges.size else 0.0,
        m.total_charge,
        float(np.nansum(m.seller_welfare)), float(np.nansum(m.buyer_welfare)),
        _ir_violations(scenario, out),
    )


def clear_run(scenario: Scenario, auction: Auction, charge_per_km: float) -> tuple[SlotOutcome, float]:
    """Clear and match ``scenario`` on its feeder (no power flow); the outcome and the seconds it took."""
    start = time.perf_counter()
    out = run_slot(scenario, auction=auction, charge_per_km=charge_per_km, check_network=False)
    return out, time.perf_counter() - start


def distance_sweep(config: StudyConfig, size: str) -> tuple[SweepRun, ...]:
    """§4.5's distance-preference analysis (the thesis gives no results): ``size``, cooperative, every
    participant with the same D from :data:`SWEEP_PREFS_M`, each seed and auction."""
    rows = []
    for pref in SWEEP_PREFS_M:
        for seed in range(config.seed, config.seed + config.seeds):
            scenario = scenario_for(size, "cooperative", seed, config.calibration, pref)
            for auction in AUCTIONS:
                m = clear_run(scenario, auction, config.charge_per_km)[0].matched  # type: ignore[arg-type]
                d = np.array([t.distance_m for t in m.trades])
                rows.append(SweepRun(pref, seed, auction, len(m.trades), float(d.mean()) if d.size else 0.0,
                                     float((d <= pref).mean()) if d.size else 0.0, m.total_charge))
    return tuple(rows)


def run_study(config: StudyConfig, progress: Callable[[int, int], None] | None = None) -> StudyResult:
    """Every size × behaviour × seed × auction, then the distance-preference sweep on the largest of Table
    3.2's sizes in ``config.sizes`` (P-55 when alone); ``progress(done, total)`` after each scenario."""
    runs: list[Run] = []
    seconds: list[float] = []
    examples: dict[tuple[str, str, str], SlotOutcome] = {}
    total = (len(config.sizes) * len(BEHAVIOURS) + len(SWEEP_PREFS_M)) * config.seeds
    done = 0
    for size in config.sizes:
        for behaviour in BEHAVIOURS:
            for seed in range(config.seed, config.seed + config.seeds):
                scenario = scenario_for(size, behaviour, seed, config.calibration)
                for auction in AUCTIONS:
                    out, took = clear_run(scenario, auction, config.charge_per_km)  # type: ignore[arg-type]
                    runs.append(summarise(scenario, auction, out))
                    seconds.append(took)
                    if seed == config.seed:
                        examples[(size, behaviour, auction)] = out
                done += 1
                if progress is not None:
                    progress(done, total)
    sweep_size = [s for s in config.sizes if s in TABLE_3_2_KWH][-1:] or [config.sizes[-1]]
    sweep = distance_sweep(config, sweep_size[0])
    if progress is not None:
        progress(total, total)
    return StudyResult(config, tuple(runs), examples, tuple(seconds), sweep, sweep_size[0])
