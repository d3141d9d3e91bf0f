"""Seed 000's study (Rahmani, negawatt reverse auction: fractional knapsack + VCG; SEED-NOTES §1): the worked
cases, then the sweep the slides discuss but do not tabulate (VCG against a flat payment as offers grow).

**Worked cases** (:data:`CASES`): SEED-NOTES §1's fixtures, each cleared by the library's
:func:`transactive.mechanisms.knapsack_vcg.clear_knapsack_vcg` (the slides' second example also with
``fallback="shortfall_only"``, the slides' rule).

**Sweep** (:func:`sweep`): for each seed, one draw of ``max(n_offers)`` offers (energy ~ U(5, 45) kWh, unit
ask ~ U(1, 6) tokens/kWh, rounded to 0.1 kWh and 0.01 tokens; Case 1's ranges widened so that some asks
exceed ``r``); the market with ``n`` offers takes the first ``n`` (nested, so a seed's markets differ only by
the added competitors). Target ``T`` and reserve ``r`` default to Case 1's 100 kWh and 5 tokens/kWh. Asks are
truthful (the offers' costs). Three payment rules on each market:

* ``vcg``: ``knapsack_vcg`` (``competes``); the aggregator pays Σ pay_i + fallback kWh · r;
* ``pay_as_bid``: the same allocation, each winner paid its ask x_i b_i (the cost of the chosen offers;
  truthful asks are not a best response under it, :func:`shading_gain`);
* ``flat``: "the shop used to pay the same amount to everyone": the library's ``dra_fixed_price`` (seed 003's
  Type I rule: largest offers first, everyone paid ``r`` per kWh) on the offers whose ask is at most ``r``
  (the others decline); what it leaves unmet is bought from the fallback at ``r``.

Social cost = the true cost of the energy bought (Σ taken kWh · ask + fallback kWh · r).

Example:
    >>> r = run_study(StudyConfig(seed=0, seeds=2, n_offers=(2, 5)))
    >>> [(c.name, c.total_payment) for c in r.cases][:2]
    [('fractional', 220.0), ('vcg_example_1', 26.0)]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from transactive.mechanisms.dra_fixed_price import DraParams, clear_dra_fixed_price
from transactive.mechanisms.knapsack_vcg import FallbackRule, KnapsackParams, clear_knapsack_vcg
from transactive.orders import Orders
from transactive.result import ClearingResult
from transactive.studies import StudyError

N_OFFERS = (2, 3, 5, 8, 12, 20, 30, 50)
ENERGY_RANGE_KWH = (5.0, 45.0)
PRICE_RANGE_PER_KWH = (1.0, 6.0)
SHADING_FACTORS = (0.8, 0.9, 1.1, 1.25, 1.5, 2.0)  # a winner's misreports: ask × factor
TOL = 1e-9


@dataclass(frozen=True)
class Case:
    """One worked case of the slides: offers (kWh, tokens/kWh), T, r, the fallback rule, and the slides' and
    SEED-NOTES' numbers (payments per winner by id, total paid; None where the slides print none)."""

    name: str
    ids: tuple[str, ...]
    energy_kwh: tuple[float, ...]
    price_per_kwh: tuple[float, ...]
    target_kwh: float
    reserve_price_per_kwh: float | None
    fallback: FallbackRule
    paper: str
    canonical: str


CASES = (
    Case("fractional", ("A", "B", "C", "D", "E"), (20, 15, 10, 10, 10), (2, 3, 2, 5, 1.5), 50, None, "competes",
         "take E, A, C fully and 10/15 of B; cost 105", "E, A, C full, B 10 kWh; cost 105"),
    Case("vcg_example_1", ("Alice", "Bob", "Charlie"), (3, 2, 2), (3, 3, 5), 5, 6, "competes",
         "Alice paid 7, Bob 4 (erratum: subtracts the total cost)", "Alice 16, Bob 10, Charlie 0; cost 15"),
    Case("vcg_example_2", ("Alice", "Bob", "Charlie"), (3, 2, 2), (2, 4, 7.5), 5, 6, "competes",
         "Alice 21, Bob 15 (the slides' shortfall_only rule)", "competes: Alice 18, Bob 12"),
    Case("vcg_example_2_slides", ("Alice", "Bob", "Charlie"), (3, 2, 2), (2, 4, 7.5), 5, 6, "shortfall_only",
         "Alice 21, Bob 15", "shortfall_only: Alice 21, Bob 15"),
    Case("case_1_primary", ("C1", "C2", "C3", "C4", "C5"), (30, 25, 45, 10, 20), (4, 4, 150 / 45, 2, 3), 100, 5,
         "competes", "443 tokens paid (erratum: not reproducible)",
         "C4 10, C5 20, C3 45, C1 25; cost 330; VCG C4 40, C5 80, C3 195, C1 100; total 415"),
    Case("case_2_secondary", ("C1", "C2"), (5, 25), (4, 4), 18, 5, "competes",
         "87 tokens paid (erratum: not reproducible)", "C1 5, C2 13; cost 72; VCG C1 20, C2 65; total 85 ≤ 90"),
)


@dataclass(frozen=True)
class CaseResult:
    """A worked case cleared by ``knapsack_vcg``: per offer (input order) taken kWh and payment; totals."""

    name: str
    ids: tuple[str, ...]
    taken_kwh: tuple[float, ...]
    payment: tuple[float, ...]
    cost: float
    total_payment: float
    fallback_kwh: float


@dataclass(frozen=True)
class StudyConfig:
    """``seeds`` draws from ``seed`` on; markets of ``n_offers`` offers; T in kWh, r in tokens/kWh."""

    seed: int = 0
    seeds: int = 20
    n_offers: tuple[int, ...] = N_OFFERS
    target_kwh: float = 100.0
    reserve_price_per_kwh: float = 5.0

    def __post_init__(self) -> None:
        for name, low, high in (("seed", 0, 2**32 - 1000), ("seeds", 1, 1000)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise StudyError(name, f"must be an integer in [{low}, {high}]")
        n = self.n_offers
        if not n or any(isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 1000 for k in n) \
                or list(n) != sorted(set(n)):
            raise StudyError("n_offers", "must be increasing integers in [1, 1000]")
        for name in ("target_kwh", "reserve_price_per_kwh"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise StudyError(name, "must be a finite number > 0")


@dataclass(frozen=True)
class Run:
    """One market (seed, n offers) under the three rules; tokens, kWh. ``*_paid``: what the aggregator pays
    (fallback included); ``*_social_cost``: the true cost of what it buys; ``vcg_chosen_cost``: Σ x_i b_i of
    VCG's winners (= pay-as-bid's payment to them); ``ir_violations``: VCG winners paid below their ask."""

    seed: int
    n_offers: int
    winners: int
    fallback_kwh: float
    vcg_chosen_cost: float
    vcg_payment: float
    vcg_paid: float
    vcg_social_cost: float
    pay_as_bid_paid: float
    flat_paid: float
    flat_social_cost: float
    flat_unmet_kwh: float
    ir_violations: int
    shading_gain_vcg: float
    shading_gain_pay_as_bid: float

    @property
    def premium(self) -> float:
        """VCG's payment to its winners over their cost (0 with no winner)."""
        return self.vcg_payment / self.vcg_chosen_cost - 1.0 if self.vcg_chosen_cost > 0 else 0.0


@dataclass(frozen=True)
class StudyResult:
    config: StudyConfig
    cases: tuple[CaseResult, ...]
    runs: tuple[Run, ...]

    def at(self, n_offers: int) -> tuple[Run, ...]:
        return tuple(r for r in self.runs if r.n_offers == n_offers)


def clear_case(case: Case) -> CaseResult:
    """One worked case through ``knapsack_vcg``."""
    offers = Orders.single(list(case.ids), list(case.energy_kwh), list(case.price_per_kwh))
    r = clear_knapsack_vcg(offers, Orders.empty(),
                           KnapsackParams(case.target_kwh, case.reserve_price_per_kwh, case.fallback))
    return CaseResult(case.name, case.ids, tuple(float(x) for x in r.sellers.energy_kwh),
                      tuple(float(x) for x in r.sellers.payment), float(r.details["cost"]),
                      float(r.details["total_payment"]), float(r.details["fallback_kwh"]))


def draw_offers(seed: int, n: int) -> Orders:
    """``n`` offers of seed ``seed``: the first ``n`` of one draw (energy, ask ranges in the module docstring)."""
    u = np.random.default_rng(seed).random((n, 2))  # row by row: a smaller draw is a prefix of a larger one
    (e_low, e_high), (p_low, p_high) = ENERGY_RANGE_KWH, PRICE_RANGE_PER_KWH
    energy = np.round(e_low + (e_high - e_low) * u[:, 0], 1)
    price = np.round(p_low + (p_high - p_low) * u[:, 1], 2)
    return Orders.single([f"o{k + 1}" for k in range(n)], energy, price)


def _vcg(offers: Orders, config: StudyConfig) -> ClearingResult:
    return clear_knapsack_vcg(offers, Orders.empty(), KnapsackParams(config.target_kwh, config.reserve_price_per_kwh))


def shading_gain(offers: Orders, config: StudyConfig) -> tuple[float, float]:
    """The largest gain (tokens) any offer makes by asking ``ask × f`` (f in :data:`SHADING_FACTORS`) instead
    of its true ask, others truthful: under VCG (pay_i − true cost of x_i) and under pay-as-bid (x_i · (f − 1)
    · ask). VCG's is ≤ 0 (truthful); pay-as-bid's is usually > 0."""
    base = _vcg(offers, config)
    true = offers.price_per_kwh
    utility = base.sellers.payment - base.sellers.energy_kwh * true  # pay-as-bid's truthful utility is 0
    best_vcg = best_pab = 0.0
    for i in range(offers.n):
        for f in SHADING_FACTORS:
            ask = true.copy()
            ask[i] = true[i] * f
            r = _vcg(Orders.single(list(offers.ids), offers.energy_kwh, ask), config)
            x = float(r.sellers.energy_kwh[i])
            best_vcg = max(best_vcg, float(r.sellers.payment[i]) - x * float(true[i]) - float(utility[i]))
            best_pab = max(best_pab, x * float(ask[i] - true[i]))
    return best_vcg, best_pab


def market(seed: int, n: int, config: StudyConfig, deviations: bool) -> Run:
    """One market of the sweep under the three rules (module docstring)."""
    offers = draw_offers(seed, n)
    r_price = config.reserve_price_per_kwh
    v = _vcg(offers, config)
    x, pay, ask = v.sellers.energy_kwh, v.sellers.payment, offers.price_per_kwh
    chosen_cost = float(np.dot(x, ask))
    fallback = float(v.details["fallback_kwh"])
    accept = np.flatnonzero(ask <= r_price)
    if accept.size:
        f = clear_dra_fixed_price(Orders.single([offers.ids[k] for k in accept], offers.energy_kwh[accept],
                                                ask[accept]), Orders.empty(), DraParams(config.target_kwh, r_price))
        flat_cost = float(np.dot(f.sellers.energy_kwh, ask[accept]))
        flat_pay, unmet = float(f.details["total_payment"]), float(f.details["unmet_kwh"])
    else:
        flat_cost = flat_pay = 0.0
        unmet = config.target_kwh
    gains = shading_gain(offers, config) if deviations else (math.nan, math.nan)
    return Run(seed, n, int(np.sum(x > 0)), fallback, chosen_cost, float(pay.sum()),
               float(pay.sum()) + fallback * r_price, float(v.details["cost"]), chosen_cost + fallback * r_price,
               flat_pay + unmet * r_price, flat_cost + unmet * r_price, unmet,
               int(np.sum((x > 0) & (pay < x * ask - TOL))), *gains)


def run_study(config: StudyConfig, progress: Callable[[int, int], None] | None = None) -> StudyResult:
    """The worked cases, then every seed × market size (deviations checked at every size up to 12 offers);
    ``progress(done, total)`` after each seed."""
    cases = tuple(clear_case(c) for c in CASES)
    runs: list[Run] = []
    for k, seed in enumerate(range(config.seed, config.seed + config.seeds)):
        runs.extend(market(seed, n, config, n <= 12) for n in config.n_offers)
        if progress is not None:
            progress(k + 1, config.seeds)
    return StudyResult(config, cases, tuple(runs))
