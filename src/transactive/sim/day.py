"""A full simulated day: the IEEE European LV feeder's prosumers trade slot by slot through the service.

:func:`run_day` plays ``DayConfig.n_slots`` slots (default 96 × 15 min) for the feeder's 55 loads through the
desks ``transactive serve`` runs, in process on a manual clock (:class:`transactive.sim.day_service.DayService`:
the operator, the multi-settlement desk, the negawatt desk and the ledger desk; ``docs/day.md``). This module
decides what the members do; the service clears, anchors and settles:

1. **profiles** -- ``DayConfig.profiles``: ``"simbench"`` (SimBench's measured household load and PV,
   :mod:`transactive.sim.simbench_profiles`), ``"synthetic"`` (:mod:`transactive.sim.profiles`) or ``"auto"``
   (SimBench when installed, else synthetic). Contracts, listings and demand-response offers are planned on
   the *forecast*; meter readings are the *metered* values (minus any demand-response reduction);
2. **before the day** -- every prosumer becomes a member (id = its address, its feeder bus), registers its
   address, and the two firm bilateral contracts are proposed and countersigned (EIP-712, the chain's
   domain); the aggregator announces one ``knapsack_vcg`` demand-response event over the evening peak
   (:func:`_dr_plan`; offers close at noon the day before), the ``dr_offerers`` households offer, and it
   clears; every offerer then reduces its metered load by what it offered, except the first winner, which
   delivers only 40 % of what it sold (so the secondary market runs);
3. **each slot** -- listings (the largest forecast surpluses after the contracts) and listing orders (the
   largest deficits), each order decided by the DSO by power flow on the feeder (``dso_power_flow``); one
   auction order per member with a metered residual after its contracts and accepted listing orders (priced
   by ``DayConfig.strategy`` from the member's welfare parameters, :mod:`transactive.sim.strategy`; grid
   attributes, :func:`prosumer_attributes`, for a grid-aware ``mechanism``); the operator clears the slot,
   the ledger desk anchors it (Proof of Clearance), every member sends its meter reading, and the ledger
   desk settles the slot: one MarketSlots settlement slot whose
   postings (bilateral, listings, the anchored clearing against the meters, the grid) 4 validators recompute
   and endorse; the miner submits their root and pays the postings in the same transaction
   (``MarketSlots.submit_and_settle``: batch mode, no dispute window). After the event window the DSO reports
   the offerers' meter data and the aggregator settles the event (its tokens move by ``EnergyToken.settle``);
4. **audit** -- with a folder, :func:`transactive.ledger.audit.audit.verify_archive` over ``OUT/ledger`` (what
   ``transactive ledger verify OUT/ledger`` runs), and every account's on-chain balance against its starting
   tokens plus its statements (:mod:`transactive.sim.day_summary`: the settled slots and the day's digest).

Grid stage (``DayConfig.grid``): ``"tariffs"`` (feed-in / retail) or ``"wholesale"`` -- the community's
``wholesale`` parameter (:mod:`transactive.settlement.wholesale`: the synthetic series for the seed or a price
file, ``DayConfig.wholesale_prices``), so the auctioneer trades each residual in the wholesale market for the
0.025 fee where that beats the tariffs (seed 001 §IV-A). The members' auction bids then take the slot's grid
alternatives, ``max(FiT, λ_w − fee)`` and ``min(retail, λ_w + fee)``, as the grid's prices.

Money accounts (micro-tokens, > 0 received): ``prosumers`` (their sum), the settlement's ``dso`` (penalties,
grid charges, imbalance), ``board`` and ``grid`` (the tariffs' and the wholesale market's counterparty; all
paid to the DSO's account on chain), ``auctioneer`` (the wholesale fees, paid to each settlement slot's
auctioneer validator), and ``aggregator`` and ``balancing`` from the event. Every slot balances to 0, the
event's postings sum to 0.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from transactive.errors import FieldError, MarketError
from transactive.settlement.bilateral import BilateralContract
from transactive.settlement.grid_trading import GridTariff
from transactive.settlement.listings import Board, Listing, ListingOrder
from transactive.settlement.negawatt import NegawattEvent, from_document
from transactive.settlement.wholesale import COMMUNITY_KEY, SYNTHETIC, WholesaleSeries, series_from_spec
from transactive.sim.day_service import COMMUNITY, DayService, is_day_ledger
from transactive.sim.day_summary import DaySlot, chain_summary, summarise
from transactive.sim.profiles import DayProfiles, FloatArray, day_profiles
from transactive.sim.strategy import DEFAULT_STRATEGY, STRATEGIES, limit_prices
from transactive.units import (
    MICRO_PER_TOKEN,
    WH_PER_KWH,
    at_batch_resolution,
    energy_to_wh,
    entry_at_batch_resolution,
    wh_to_kwh,
)

HISTORY_DAYS = 10
PROFILE_SOURCES = ("synthetic", "simbench", "auto")
GRID_OPTIONS = ("tariffs", "wholesale")


class DayConfigError(FieldError):
    """An invalid :class:`DayConfig` field."""


@dataclass(frozen=True)
class DayConfig:
    """The simulated day (validated on construction; :class:`DayConfigError` names the field). ``on_chain``
    False: the ledger desk runs on a chain in memory and nothing is archived or audited."""

    seed: int = 7
    n_slots: int = 96
    slot_minutes: int = 15
    date: str = "2026-06-22"
    n_prosumers: int | None = None  # None: every load of the feeder (55)
    pv_share: float = 0.6
    mechanism: str = "dpda_matched"
    n_listings: int = 3
    listing_price_per_kwh: float = 0.05
    dr_slots: int = 4
    dr_offerers: int = 8
    dr_reserve_per_kwh: float = 0.2
    dso_power_flow: bool = True
    on_chain: bool = True
    profiles: str = "synthetic"  # "synthetic", "simbench" or "auto" (SimBench when installed)
    strategy: str = DEFAULT_STRATEGY  # how members price auction orders (sim/strategy.py): zic, cost-plus, grid
    params: Mapping[str, Any] = field(default_factory=dict)  # the mechanism's params, as in a market file
    grid: str = "tariffs"  # the grid stage: "tariffs" (feed-in / retail) or "wholesale" (through the auctioneer)
    wholesale_prices: str = SYNTHETIC  # with grid="wholesale": "synthetic" (for the seed) or a price file

    def wholesale_series(self) -> WholesaleSeries | None:
        """The community's wholesale series (settlement/wholesale.py) with ``grid="wholesale"``, else None;
        ``DayConfigError`` naming ``wholesale_prices`` for a file that is unreadable or not one day."""
        if self.grid != "wholesale":
            return None
        try:
            return series_from_spec(self.wholesale_prices, seed=self.seed)
        except MarketError as exc:
            raise DayConfigError("wholesale_prices", exc.message if exc.field == "wholesale_prices"
                                 else f"{exc.field}: {exc.message}") from None

    def community_params(self) -> dict[str, Any]:
        """The community's parameters: the mechanism's, plus ``wholesale`` with ``grid="wholesale"``."""
        series = self.wholesale_series()
        return {**self.params, **({} if series is None else {COMMUNITY_KEY: series.to_json()})}

    def mechanism_params(self) -> Any:
        """The mechanism's parameters from ``params`` (the market file's parsing; ``DayConfigError`` naming
        ``params.<name>``); ``None`` for a mechanism the registry does not know (refused later)."""
        from transactive.marketfile import MarketFileError, parse_params
        from transactive.registry import full_registry

        mech = full_registry().get(self.mechanism)
        if mech is None:
            return None
        try:
            return parse_params(mech, dict(self.params))
        except MarketFileError as exc:
            raise DayConfigError(exc.field, exc.message) from None

    def __post_init__(self) -> None:
        for name in ("seed", "n_slots", "slot_minutes", "n_listings", "dr_slots", "dr_offerers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise DayConfigError(name, "must be an integer >= 0")
        if self.slot_minutes == 0 or 1440 % self.slot_minutes:
            raise DayConfigError("slot_minutes", "must divide a day (e.g. 15, 30, 60)")
        if not 1 <= self.n_slots <= 1440 // self.slot_minutes:
            raise DayConfigError("n_slots", f"must be from 1 to {1440 // self.slot_minutes} (one day)")
        try:
            datetime.strptime(self.date, "%Y-%m-%d")
        except (TypeError, ValueError):
            raise DayConfigError("date", "must be YYYY-MM-DD") from None
        if self.n_prosumers is not None and not 4 <= self.n_prosumers <= 55:
            raise DayConfigError("n_prosumers", "must be from 4 to 55 (the feeder's loads) or null")
        if not 0.0 <= self.pv_share <= 1.0:
            raise DayConfigError("pv_share", "must be in [0, 1]")
        if self.profiles not in PROFILE_SOURCES:
            raise DayConfigError("profiles", f"must be one of {', '.join(PROFILE_SOURCES)}")
        if self.strategy not in STRATEGIES:
            raise DayConfigError("strategy", f"must be one of {', '.join(STRATEGIES)}")
        if self.grid not in GRID_OPTIONS:
            raise DayConfigError("grid", f"must be one of {', '.join(GRID_OPTIONS)}")
        if COMMUNITY_KEY in self.params:
            raise DayConfigError("params.wholesale", "is the grid stage's: use grid=\"wholesale\" (--grid wholesale)")
        self.wholesale_series()
        for name in ("listing_price_per_kwh", "dr_reserve_per_kwh"):
            if not 0.0 <= getattr(self, name) < 1e6:
                raise DayConfigError(name, "must be >= 0")
        self.mechanism_params()

    @property
    def slot_hours(self) -> float:
        return self.slot_minutes / 60.0

    @property
    def day0(self) -> datetime:
        """Midnight (UTC) of the day."""
        return datetime.strptime(self.date, "%Y-%m-%d").replace(tzinfo=UTC)

    @property
    def dr_window(self) -> tuple[int, int]:
        """The event's slots ``[start, end)``: from 18:00 when the day reaches 19:00, else the last slots."""
        length = min(self.dr_slots, self.n_slots)
        evening = 18 * 60 // self.slot_minutes
        start = evening if evening + length <= self.n_slots else self.n_slots - length
        return start, start + length


@dataclass(frozen=True, eq=False)
class DayResult:
    """Everything the day produced; ``summary`` is the JSON-able digest printed and reported."""

    config: DayConfig
    peers: tuple[str, ...]
    buses: tuple[str, ...]
    profiles: DayProfiles
    metered_load_kwh: FloatArray
    slots: tuple[DaySlot, ...]
    event: NegawattEvent | None
    dr_baseline_kwh: dict[str, list[float]]
    summary: dict[str, Any]
    runtime_s: float
    out_dir: Path | None

    @property
    def net_kwh(self) -> FloatArray:
        """Metered net positions per prosumer and slot (after demand response), kWh (> 0 surplus)."""
        result: FloatArray = self.profiles.pv_kwh[:, : self.config.n_slots] - self.metered_load_kwh
        return result


def _peer_keys(seed: int, n: int) -> list[bytes]:
    return [hashlib.sha256(f"transactive-day/{seed}/{i}".encode()).digest() for i in range(n)]


def _role_keys(seed: int) -> tuple[bytes, bytes]:
    """The DSO's and the aggregator's custodial keys, drawn from the seed like the prosumers' (so that the same
    seed gives the same addresses, and the same ``summary.json``, on every run and machine)."""
    return (hashlib.sha256(f"transactive-day/{seed}/dso".encode()).digest(),
            hashlib.sha256(f"transactive-day/{seed}/aggregator".encode()).digest())


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------------------ demand response
@dataclass(frozen=True)
class DrPlan:
    """The event the aggregator announces and the offers the households make (prosumer index -> (kWh,
    tokens/kWh)), at batch resolution."""

    spec: dict[str, Any]
    offers: dict[int, tuple[float, float]]
    announced: datetime


def _dr_plan(config: DayConfig, peers: Sequence[str], profiles: DayProfiles) -> DrPlan | None:
    """The event over ``config.dr_window`` (offers close at noon the day before: a day-ahead event, so the
    reductions are known before the window's slots take orders) and the ``dr_offerers`` households with the
    highest forecast load in the window, each offering 40 % of it at a seeded price; target 60 % of the offers."""
    w0, w1 = config.dr_window
    if config.dr_offerers == 0 or w1 <= w0:
        return None
    day0 = datetime.strptime(config.date, "%Y-%m-%d").replace(tzinfo=UTC)
    minutes = config.slot_minutes
    start, end = day0 + timedelta(minutes=w0 * minutes), day0 + timedelta(minutes=w1 * minutes)
    window_forecast = profiles.load_forecast_kwh[:, w0:w1].sum(axis=1)
    count = min(config.dr_offerers, len(peers) - 1)
    offerers = [int(i) for i in np.argsort(-window_forecast, kind="stable")[:count]]
    rng = np.random.default_rng([config.seed, 2])
    offers = {i: (at_batch_resolution(0.4 * float(window_forecast[i]), WH_PER_KWH),
                  at_batch_resolution(float(rng.uniform(0.05, 0.15)), MICRO_PER_TOKEN)) for i in offerers}
    target_kwh = at_batch_resolution(0.6 * sum(e for e, _ in offers.values()), WH_PER_KWH)
    spec = {"id": f"dr-{config.date}", "target_kwh": target_kwh, "price_per_kwh": config.dr_reserve_per_kwh,
            "offers_close": _iso(day0 - timedelta(hours=12)), "window_start": _iso(start), "window_end": _iso(end),
            "interval_minutes": minutes}
    return DrPlan(spec, offers, day0 - timedelta(days=1))


def _dr_clear(service: DayService, plan: DrPlan, peers: Sequence[str], *, profiles: DayProfiles,
              load: FloatArray, config: DayConfig) -> None:
    """The aggregator announces, the offerers offer and the event clears, through the negawatt desk; then
    ``load`` (metered, in place) drops by what each offerer delivers: what it offered, spread like its forecast
    over the window, except the first winner, which delivers only 40 % of what it sold."""
    service.clock.set(plan.announced)
    desk, event_id = service.negawatt, str(plan.spec["id"])
    desk.announce(service.aggregator, COMMUNITY, plan.spec)
    service.clock.set(plan.announced + timedelta(hours=1))
    for i, (energy_kwh, price) in plan.offers.items():
        desk.offer(service.members[peers[i]], COMMUNITY, event_id, {"energy_kwh": energy_kwh, "price_per_kwh": price})
    service.clock.set(datetime.fromisoformat(str(plan.spec["offers_close"])))
    cleared = desk.clear(service.aggregator, COMMUNITY, event_id)
    sold = {str(row["id"]): float(row["energy_kwh"]) for row in cleared["clearing"]["sellers"]}
    winners = [p for p in (peers[i] for i in plan.offers) if sold.get(p, 0.0) > 0]
    short = winners[0] if winners else None
    w0, w1 = config.dr_window
    window_forecast = profiles.load_forecast_kwh[:, w0:w1].sum(axis=1)
    for i, (offered_kwh, _) in plan.offers.items():
        reduction_kwh = 0.4 * sold[peers[i]] if peers[i] == short else offered_kwh
        shares = profiles.load_forecast_kwh[i, w0:w1] / max(float(window_forecast[i]), 1e-12)
        load[i, w0:w1] = np.maximum(load[i, w0:w1] - reduction_kwh * shares, 0.0)


def _dr_settle(service: DayService, plan: DrPlan, peers: Sequence[str], *, profiles: DayProfiles,
               load: FloatArray, config: DayConfig) -> tuple[NegawattEvent, dict[str, list[float]]]:
    """After the window: the DSO reports each offerer's meter data (ten history days of its consumption and
    the event day), the desk verifies it against the baseline, and the aggregator settles the event (its
    tokens move on chain, ``EnergyToken.settle``). Answers the settled event and each offerer's baseline."""
    w0, w1 = config.dr_window
    history = list(profiles.history_load_kwh) or [
        day_profiles(len(peers), config.slot_minutes, config.seed, pv_share=config.pv_share, day=-d).load_kwh
        for d in range(HISTORY_DAYS, 0, -1)]
    desk, event_id = service.negawatt, str(plan.spec["id"])
    baselines: dict[str, list[float]] = {}
    for i in plan.offers:
        day_kwh = profiles.load_kwh[i].copy()
        day_kwh[w0:w1] = load[i, w0:w1]
        _, reported = desk.report_delivery(service.dso, COMMUNITY, event_id, {
            "member": peers[i], "history_kwh": [[float(x) for x in h[i]] for h in history],
            "eligible": [True] * len(history), "event_day_kwh": [float(x) for x in day_kwh]})
        baselines[peers[i]] = [float(x) for x in reported["baseline"]["baseline_kwh"][w0:w1]]
    settled = desk.settle(service.aggregator, COMMUNITY, event_id)
    return from_document({k: v for k, v in settled.items() if k != "view"}), baselines


# ------------------------------------------------------------------------------------------ per-slot markets
def _contracts(config: DayConfig, peers: Sequence[str], profiles: DayProfiles) -> list[BilateralContract]:
    by_pv = [int(i) for i in np.argsort(-profiles.pv_kwp, kind="stable")]
    by_load = [int(i) for i in np.argsort(-profiles.load_scale, kind="stable") if int(i) not in by_pv[:2]]
    all_slots = tuple(range(config.n_slots))
    midday = tuple(s for s in all_slots if 10 * 60 <= s * config.slot_minutes < 15 * 60) or all_slots
    return [
        BilateralContract("c-baseload", peers[by_pv[0]], peers[by_load[0]], all_slots, 0.2, 0.06, nonce=config.seed),
        BilateralContract("c-midday", peers[by_pv[1]], peers[by_load[1]], midday, 0.5, 0.05, nonce=config.seed),
    ]


def _board(
    config: DayConfig, slot: int, peers: Sequence[str], forecast_wh: Sequence[int],
    contracts: Sequence[BilateralContract],
) -> Board:
    """The slot's listings and listing orders as planned on the forecast (the DSO reviews them in the
    service): the ``n_listings`` largest surpluses after the contracts list half of it, the largest deficits
    order from them."""
    residual = list(forecast_wh)
    index = {p: k for k, p in enumerate(peers)}
    for c in contracts:
        residual[index[c.seller]] -= c.delivery_wh(slot)
        residual[index[c.buyer]] += c.delivery_wh(slot)
    sellers = [k for k in sorted(range(len(peers)), key=lambda k: (-residual[k], k)) if residual[k] >= 2]
    buyers = [k for k in sorted(range(len(peers)), key=lambda k: (residual[k], k)) if residual[k] < 0]
    listings = [Listing(f"l{slot}-{n}", peers[k], slot, wh_to_kwh(residual[k] // 2), config.listing_price_per_kwh)
                for n, k in enumerate(sellers[: config.n_listings])]
    orders = []
    for n, (listing, k) in enumerate(zip(listings, buyers, strict=False)):
        energy_wh = min(energy_to_wh(listing.energy_kwh), -residual[k])
        if energy_wh > 0:
            orders.append(ListingOrder(f"o{slot}-{n}", listing.listing_id, peers[k], wh_to_kwh(energy_wh)))
    return Board().list_all(listings).place_all(orders)


def prosumer_attributes(seed: int, buses: Sequence[str]) -> list[dict[str, str | float]]:
    """Each prosumer's welfare parameters (its bids, :mod:`transactive.sim.strategy`) and grid-aware auction
    attributes (``dpda_matched`` / ``mcafee_matched``, seed 004 eq.
    2.8-2.9; our choices, the seeds give no household figures): its feeder ``bus`` (the Registry's), a
    distance preference uniform in [50, 500] m (as the scenario generator, ch. 3.3), seller cost
    ``aE² + bE + c`` with a in [1e-4, 1e-3] tokens/kWh², b in [0.005, 0.015] tokens/kWh (around the feed-in
    tariff), c = 0 (a slot has no fixed cost), and buyer utility ``ωE − αE²`` with ω in [0.15, 0.25]
    tokens/kWh (above retail 0.1) and α = ω / (2 × [2, 4] kWh) (saturating beyond a slot's largest deficit).
    Fixed for the day (a prosumer sells in some slots and buys in others), seeded, and already at batch
    resolution (mm, 1e-9 units), so the off-chain clearing and the validators' see the same floats."""
    rng = np.random.default_rng([seed, 5])
    out: list[dict[str, str | float]] = []
    for bus in buses:
        pref_m, a, b, omega, sat_kwh = (rng.uniform(50.0, 500.0), rng.uniform(1e-4, 1e-3),
                                         rng.uniform(0.005, 0.015), rng.uniform(0.15, 0.25), rng.uniform(2.0, 4.0))
        out.append(entry_at_batch_resolution({"bus": bus, "distance_pref_m": pref_m, "a": a, "b": b, "c": 0.0,
                                              "omega": omega, "alpha": omega / (2 * sat_kwh)}))
    return out


def grid_aware(mechanism: str) -> bool:
    """Whether ``mechanism`` reads per-participant grid attributes (``bus``, ...), e.g. ``dpda_matched``."""
    from transactive.registry import full_registry

    found = full_registry().get(mechanism)
    return found is not None and bool(found.participant_fields)


# ------------------------------------------------------------------------------------------ profiles
def make_profiles(config: DayConfig, n_prosumers: int) -> tuple[DayProfiles, str]:
    """The day's profiles by ``config.profiles`` and a note on what was used (and why, on a fallback).
    ``"simbench"`` raises :class:`DayConfigError` when SimBench cannot be read; ``"auto"`` falls back."""
    if config.profiles != "synthetic":
        from transactive.sim.simbench_profiles import SimbenchUnavailable, load_simbench_frames, simbench_day

        try:
            load_frame, pv_frame = load_simbench_frames()
            profiles = simbench_day(load_frame, pv_frame, n_prosumers=n_prosumers, date=config.date,
                                    slot_minutes=config.slot_minutes, seed=config.seed, pv_share=config.pv_share)
            return profiles, ("SimBench measured household load (H0-A/B/C/G/L) and PV (PV1-8) profiles of "
                              f"{config.date[5:]} 2016, persistence forecasts")
        except (SimbenchUnavailable, ValueError) as exc:
            if config.profiles == "simbench":
                raise DayConfigError("profiles", str(exc)) from None
            reason = str(exc)
    else:
        reason = "synthetic profiles requested"
    profiles = day_profiles(n_prosumers, config.slot_minutes, config.seed, pv_share=config.pv_share)
    return profiles, f"synthetic stand-ins for SimBench profiles ({reason})"


# ------------------------------------------------------------------------------------------ the day
def _ledger_folder(out_dir: Path | None, on_chain: bool) -> Path | None:
    """``OUT/ledger`` (a previous day's, with the day's marker, is replaced; any other is refused)."""
    if out_dir is None or not on_chain:
        return None
    folder = out_dir / "ledger"
    if folder.exists():
        if not is_day_ledger(folder):
            raise DayConfigError("out_dir", f"{folder} exists and is not a simulated day's ledger (no "
                                 "transactive-day.json); nothing was deleted, choose another folder")
        shutil.rmtree(folder)
    return folder


def run_day(
    config: DayConfig, out_dir: str | Path | None = None, *, progress: Callable[[int], None] | None = None
) -> DayResult:
    """Play the day through the service's desks (see the module docstring). ``progress(slot)`` is called
    after each slot. The ledger's archive and chain are ``out_dir/ledger`` (with ``config.on_chain``)."""
    started = time.perf_counter()
    from transactive.crypto.signing import Signer
    from transactive.grid.feeder import load_feeder

    feeder = load_feeder()
    n = config.n_prosumers or len(feeder.load_buses)
    buses = tuple(feeder.load_buses[:n])
    keys = _peer_keys(config.seed, n)
    peers = tuple(Signer(k).address for k in keys)
    profiles, profiles_note = make_profiles(config, n)
    load = profiles.load_kwh[:, : config.n_slots].copy()
    contracts = _contracts(config, peers, profiles)
    plan = _dr_plan(config, peers, profiles)
    folder = Path(out_dir) if out_dir is not None else None
    ledger_folder = _ledger_folder(folder, config.on_chain)
    day0 = config.day0
    starts = [day0 + timedelta(minutes=config.slot_minutes * s) for s in range(config.n_slots)]
    # one seeded draw of every prosumer's welfare parameters: the strategy's costs and values, and the grid
    # attributes a grid-aware mechanism reads
    welfare = dict(zip(peers, prosumer_attributes(config.seed, buses), strict=True))
    attributes = welfare if grid_aware(config.mechanism) else None
    tariff = GridTariff()
    series = config.wholesale_series()
    service = DayService(config.mechanism, config.slot_minutes, day0 - timedelta(days=1), ledger_folder,
                         config.community_params(), role_keys=_role_keys(config.seed))
    slots: list[DaySlot] = []
    event: NegawattEvent | None = None
    baselines: dict[str, list[float]] = {}
    try:
        validators_start = sum(service.balance_micro(v.address) for v in service.ledger.validators)
        service.enrol(keys, buses)
        service.sign_contracts(contracts, dict(zip(peers, keys, strict=True)), starts)
        if plan is not None:
            _dr_clear(service, plan, peers, profiles=profiles, load=load, config=config)
        net = profiles.pv_kwh[:, : config.n_slots] - load
        for slot, start in enumerate(starts):
            forecast_wh = [energy_to_wh(float(x)) for x in profiles.net_forecast_kwh[:, slot]]
            board = _board(config, slot, peers, forecast_wh, contracts)
            accepted = set(service.list_and_review(start, board, config.dso_power_flow))
            residual = {p: energy_to_wh(float(net[k, slot])) for k, p in enumerate(peers)}
            for c in contracts:
                residual[c.seller] -= c.delivery_wh(slot)
                residual[c.buyer] += c.delivery_wh(slot)
            for o in board.orders:
                if o.order_id in accepted:
                    wh = energy_to_wh(o.energy_kwh)
                    residual[board.listing(o.listing_id).seller] -= wh
                    residual[o.buyer] += wh
            seen = tariff.seen_at(None if series is None else series.price_at(start))  # the grid alternatives
            service.bid(start, limit_prices(config.strategy, residual, welfare, seen,
                                            np.random.default_rng([config.seed, 11, slot])), attributes)
            cleared = service.clear_and_anchor(start)
            service.read_meters(start, {p: float(net[k, slot]) for k, p in enumerate(peers)})
            doc = service.settle(start, cleared)
            income = service.dso_income(start)
            slots.append(DaySlot.from_document(slot, _iso(start), doc, int(income.get("tariffs_micro", 0)),
                                               cleared))
            if plan is not None and slot == config.dr_window[1] - 1:
                event, baselines = _dr_settle(service, plan, peers, profiles=profiles, load=load,
                                               config=config)
            if progress is not None:
                progress(slot)
        chain = chain_summary(service, peers, slots, event, ledger_folder, validators_start)
    finally:
        service.close()
    summary = summarise(config, peers, slots, event, chain, net)
    summary["pv_kwh_per_slot"] = [float(x) for x in profiles.pv_kwh[:, : config.n_slots].sum(axis=0)]
    summary["profiles"] = {"source": profiles.source, "description": profiles_note,
                           "assignment": dict(zip(peers, profiles.assignment, strict=True)) if profiles.assignment
                           else {}}
    return DayResult(config, peers, buses, profiles, load, tuple(slots), event, baselines, summary,
                     time.perf_counter() - started, folder)
