"""A full simulated day: the IEEE European LV feeder's prosumers trade slot by slot through every market.

:func:`run_day` plays ``DayConfig.n_slots`` slots (default 96 × 15 min) for the feeder's 55 loads
(``docs/day.md``):

1. **profiles** -- ``DayConfig.profiles``: ``"simbench"`` (SimBench's measured household load and PV,
   :mod:`transactive.sim.simbench_profiles`, optional extra ``profiles``), ``"synthetic"``
   (:mod:`transactive.sim.profiles`) or ``"auto"`` (SimBench when installed, else synthetic). Contracts,
   listings and demand-response offers are planned on the *forecast* (synthetic: noise-free; SimBench:
   persistence); settlement uses the *metered* values (minus any demand-response reduction), so forecast
   errors show up as listing shortfalls (penalised) and grid imbalance;
2. **demand response** -- one ``knapsack_vcg`` event (:mod:`transactive.settlement.negawatt`) over
   ``dr_slots`` slots of the evening peak (18:00 on a whole day; the last ``dr_slots`` slots of a shorter day):
   the ``dr_offerers`` households with the highest forecast load in the window offer 40 % of it at seeded
   prices; every offerer reduces its metered load by what it offered, except the first winner, which
   delivers only 40 % of what it sold, so the secondary market runs. Delivery is verified against a high
   10-of-10 baseline from ten history days of the household's consumption (the profiles' history days);
3. **each slot** -- :func:`~transactive.settlement.stages.settle_slot`: two firm bilateral contracts
   (largest PV to largest loads), listings (the ``n_listings`` largest forecast surpluses list half of it;
   the largest forecast deficits order from them; the DSO reviews every order by power flow on the feeder
   when ``dso_power_flow``), the community auction (``mechanism``, default ``dpda_matched``: DPDA and score
   matching on the feeder with each prosumer's :func:`prosumer_attributes`, grid charges to the DSO; settled
   as the validators endorse it, with the reward shares ``auctioneer_reward_ppm`` / ``miner_reward_ppm``)
   and the grid;
4. **ledger** -- with an output folder (and ``on_chain``), :class:`transactive.sim.day_ledger.DayLedger` on an
   embedded chain in ``OUT/ledger``: the prosumers, DSO, aggregator and market accounts are Registry members
   funded with starting tokens; every slot's auction stage is signed by the prosumers and cleared by Proof of
   Clearance (4 in-process validators, threshold 3); every slot's settlement (bilateral, listings and grid
   from the statements, the auction from the endorsed result entries and rewards, which equal the
   statements) and the demand-response event's are posted as balanced token batches
   (``EnergyToken.settle``); at the end the archive is audited (:func:`transactive.ledger.audit.audit.verify_archive`:
   the Proof of Clearance, every account's balance = starting balance + its statement sum to the micro-token,
   token supply conserved).

Money accounts (micro-tokens, > 0 received): ``prosumers`` (their sum), ``dso`` (penalties and grid charges),
``board``, ``auctioneer``, ``grid``, ``auctioneer_reward`` and ``miner_reward`` (from :func:`settle_slot`),
``aggregator`` and ``balancing`` (from the demand-response event).
Conservation: every slot balances to 0, the event's postings sum to 0, so the day's accounts sum to 0.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from transactive.errors import FieldError
from transactive.settlement.bilateral import BilateralContract
from transactive.settlement.listings import Board, Listing, ListingOrder, OrderCheck
from transactive.settlement.negawatt import (
    NegawattEvent,
    add_offer,
    announce,
    clear,
    parse_spec,
    settle,
    verify_delivery,
)
from transactive.settlement.stages import (
    ACCOUNTS,
    REWARD_ACCOUNTS,
    STAGES,
    Prosumer,
    RewardRates,
    SlotSettlement,
    settle_slot,
)
from transactive.sim.profiles import DayProfiles, FloatArray, day_profiles
from transactive.units import (
    MICRO_PER_TOKEN,
    WH_PER_KWH,
    at_batch_resolution,
    energy_to_wh,
    entry_at_batch_resolution,
    wh_to_kwh,
)

if TYPE_CHECKING:
    from transactive.sim.day_ledger import DayLedger

DAY_ACCOUNTS = (*(a for a in ACCOUNTS if a not in REWARD_ACCOUNTS), "aggregator", "balancing")
HISTORY_DAYS = 10
PROFILE_SOURCES = ("synthetic", "simbench", "auto")
AGGREGATOR = "aggregator"


class DayConfigError(FieldError):
    """An invalid :class:`DayConfig` field."""


@dataclass(frozen=True)
class DayConfig:
    """The simulated day (validated on construction; :class:`DayConfigError` names the field)."""

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
    auctioneer_reward_ppm: int = 10_000  # X^A, seed 001 eq. 2 (its case study: 1 %)
    miner_reward_ppm: int = 10_000  # X^M, seed 001 eq. 3
    params: Mapping[str, Any] = field(default_factory=dict)  # the mechanism's params, as in a market file

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

    @property
    def rewards(self) -> RewardRates:
        """The Proof-of-Clearance reward shares the auction stage is settled with (on chain: the shares
        ``MarketSlots`` is deployed with, so the statements equal the endorsed result)."""
        return RewardRates(self.auctioneer_reward_ppm, self.miner_reward_ppm)

    def __post_init__(self) -> None:
        ints = ("seed", "n_slots", "slot_minutes", "n_listings", "dr_slots", "dr_offerers", "auctioneer_reward_ppm",
                "miner_reward_ppm")
        for name in ints:
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
        if self.auctioneer_reward_ppm + self.miner_reward_ppm > 1_000_000:
            raise DayConfigError("miner_reward_ppm", "the two reward shares must add up to at most 1,000,000 ppm")
        if self.profiles not in PROFILE_SOURCES:
            raise DayConfigError("profiles", f"must be one of {', '.join(PROFILE_SOURCES)}")
        for name in ("listing_price_per_kwh", "dr_reserve_per_kwh"):
            if not 0.0 <= getattr(self, name) < 1e6:
                raise DayConfigError(name, "must be >= 0")
        self.mechanism_params()

    @property
    def slot_hours(self) -> float:
        return self.slot_minutes / 60.0

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
    settlements: tuple[SlotSettlement, ...]
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


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------------------ demand response
def _demand_response(
    config: DayConfig, peers: Sequence[str], profiles: DayProfiles, load: FloatArray
) -> tuple[NegawattEvent | None, dict[str, list[float]]]:
    """Run the event; reduce ``load`` (metered, in place) by what each offerer delivers."""
    w0, w1 = config.dr_window
    if config.dr_offerers == 0 or w1 <= w0:
        return None, {}
    day0 = datetime.strptime(config.date, "%Y-%m-%d").replace(tzinfo=UTC)
    minutes = config.slot_minutes
    start, end = day0 + timedelta(minutes=w0 * minutes), day0 + timedelta(minutes=w1 * minutes)
    announced = day0 - timedelta(days=1)
    spec = parse_spec(
        {"id": f"dr-{config.date}", "target_kwh": 1.0, "price_per_kwh": config.dr_reserve_per_kwh,
         "offers_close": _iso(start), "window_start": _iso(start), "window_end": _iso(end),
         "interval_minutes": minutes},
        AGGREGATOR, now=_iso(announced),
    )
    window_forecast = profiles.load_forecast_kwh[:, w0:w1].sum(axis=1)
    count = min(config.dr_offerers, len(peers) - 1)
    offerers = [int(i) for i in np.argsort(-window_forecast, kind="stable")[:count]]
    rng = np.random.default_rng([config.seed, 2])
    offers = {i: (at_batch_resolution(0.4 * float(window_forecast[i]), WH_PER_KWH),
                  at_batch_resolution(float(rng.uniform(0.05, 0.15)), MICRO_PER_TOKEN)) for i in offerers}
    target_kwh = at_batch_resolution(0.6 * sum(e for e, _ in offers.values()), WH_PER_KWH)
    spec = parse_spec(
        {"id": spec.id, "target_kwh": target_kwh, "price_per_kwh": config.dr_reserve_per_kwh,
         "offers_close": spec.offers_close, "window_start": spec.window_start, "window_end": spec.window_end,
         "interval_minutes": minutes},
        AGGREGATOR, now=_iso(announced),
    )
    event = announce(spec)
    offer_time = _iso(announced + timedelta(hours=1))
    for i in offerers:
        energy_kwh, price = offers[i]
        event = add_offer(event, peers[i], {"energy_kwh": energy_kwh, "price_per_kwh": price}, now=offer_time)
    event = clear(event, now=spec.offers_close)
    assert event.clearing is not None
    sold = {row["id"]: float(row["energy_kwh"]) for row in event.clearing["sellers"]}
    winners = [p for p in (peers[i] for i in offerers) if sold.get(p, 0.0) > 0]
    short = winners[0] if winners else None
    history = list(profiles.history_load_kwh) or [
        day_profiles(len(peers), minutes, config.seed, pv_share=config.pv_share, day=-d).load_kwh
        for d in range(HISTORY_DAYS, 0, -1)]
    delivered: dict[str, float] = {}
    baselines: dict[str, list[float]] = {}
    for i in offerers:
        peer = peers[i]
        reduction_kwh = 0.4 * sold[peer] if peer == short else offers[i][0]
        shares = profiles.load_forecast_kwh[i, w0:w1] / max(float(window_forecast[i]), 1e-12)
        load[i, w0:w1] = np.maximum(load[i, w0:w1] - reduction_kwh * shares, 0.0)
        day_kwh = profiles.load_kwh[i].copy()
        day_kwh[w0:w1] = load[i, w0:w1]
        figure, baseline = verify_delivery(spec, [h[i] for h in history], [True] * HISTORY_DAYS, day_kwh)
        delivered[peer] = figure
        baselines[peer] = [float(x) for x in baseline.baseline_kwh[w0:w1]]
    event = settle(event, delivered, now=spec.window_end)
    return event, baselines


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


def _board(  # noqa: PLR0917 - private, the slot's inputs
    config: DayConfig, slot: int, peers: Sequence[str], forecast_wh: Sequence[int], check: OrderCheck | None,
    contracts: Sequence[BilateralContract],
) -> Board:
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
    board = Board().list_all(listings).place_all(orders)
    return board.review(check if check is not None else (lambda trades: ()))


def prosumer_attributes(seed: int, buses: Sequence[str]) -> list[dict[str, str | float]]:
    """Each prosumer's grid-aware auction attributes (``dpda_matched`` / ``mcafee_matched``, seed 004 eq.
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
def run_day(
    config: DayConfig, out_dir: str | Path | None = None, *, progress: Callable[[int], None] | None = None
) -> DayResult:
    """Play the day (see the module docstring). ``progress(slot)`` is called after each slot. The ledger runs
    only with an ``out_dir`` (and ``config.on_chain``); its archive is ``out_dir/ledger``."""
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
    event, baselines = _demand_response(config, peers, profiles, load)
    net = profiles.pv_kwh[:, : config.n_slots] - load
    forecast = profiles.net_forecast_kwh
    contracts = _contracts(config, peers, profiles)
    check: OrderCheck | None = None
    if config.dso_power_flow:
        from transactive.grid.feeder import load_network
        from transactive.settlement.listings import power_flow_check

        check = power_flow_check(load_network(), dict(zip(peers, buses, strict=True)), slot_hours=config.slot_hours)
    folder = Path(out_dir) if out_dir is not None else None
    ledger = None
    if folder is not None and config.on_chain:
        from transactive.sim.day_ledger import DAY_MARKER, DayLedger, is_day_ledger

        previous = folder / "ledger"
        if previous.exists():  # a previous day's ledger folder (it has the day's marker): start from a fresh chain
            if not is_day_ledger(previous):
                raise DayConfigError("out_dir", f"{previous} exists and is not a simulated day's ledger (no "
                                     f"{DAY_MARKER}); nothing was deleted, choose another folder")
            shutil.rmtree(previous)
        ledger = DayLedger(folder / "ledger", keys, buses, config.rewards)
    settlements = []
    tokens: dict[str, Any] = {}
    attributes = prosumer_attributes(config.seed, buses) if grid_aware(config.mechanism) else None
    # the auction stage is settled as the validators endorse it (with or without the chain), rewards included
    rewards = ledger.rewards if ledger is not None else config.rewards
    params = config.mechanism_params()
    try:
        for slot in range(config.n_slots):
            forecast_wh = [energy_to_wh(float(x)) for x in forecast[:, slot]]
            board = _board(config, slot, peers, forecast_wh, check, contracts)
            prosumers = [Prosumer(p, float(net[k, slot]), None, None if attributes is None else attributes[k])
                         for k, p in enumerate(peers)]
            settled = settle_slot(slot, prosumers, contracts=contracts, board=board, mechanism=config.mechanism,
                                  params=params, rewards=rewards)
            settlements.append(settled)
            if ledger is not None:
                cleared = ledger.clear_slot(settled, config.mechanism, attributes, config.params)
                ledger.settle_slot(settled, cleared)
                if event is not None and slot == config.dr_window[1] - 1:
                    ledger.settle_event(event)
            if progress is not None:
                progress(slot)
        if ledger is not None:
            peer_money, money = statement_sums(peers, settlements, event)
            tokens = ledger.finish({**peer_money, **money})
    except BaseException:
        if ledger is not None:
            ledger.chain.close()
        raise
    summary = summarise(config, peers, settlements, event, ledger, tokens)
    summary["profiles"] = {"source": profiles.source, "description": profiles_note,
                           "assignment": dict(zip(peers, profiles.assignment, strict=True)) if profiles.assignment
                           else {}}
    return DayResult(config, peers, buses, profiles, load, tuple(settlements), event, baselines, summary,
                     time.perf_counter() - started, folder)


def statement_sums(
    peers: Sequence[str], settlements: Sequence[SlotSettlement], event: NegawattEvent | None
) -> tuple[dict[str, int], dict[str, int]]:
    """Every prosumer's and every account's (``DAY_ACCOUNTS``, plus ``auctioneer_reward`` and
    ``miner_reward`` -- the validators' Proof-of-Clearance rewards -- when the day ran on chain) statement
    sum over the day, micro-tokens (> 0 received): the slots' statements and accounts plus the
    demand-response event's postings."""
    money = dict.fromkeys(DAY_ACCOUNTS, 0)
    peer_money = dict.fromkeys(peers, 0)
    for x in settlements:
        for s in x.statements:
            peer_money[s.peer] += s.money_micro
        for account, value in x.accounts.items():
            money[account] = money.get(account, 0) + value
    if event is not None and event.settlement is not None:
        for p in event.settlement["postings"]:
            account, value = str(p["account"]), int(p["amount_micro"])
            if account.startswith("member:"):
                peer_money[account.removeprefix("member:")] += value
            elif account.startswith("aggregator:"):
                money["aggregator"] += value
            else:
                money["balancing"] += value
    return peer_money, money


def summarise(  # noqa: PLR0917 - the day's parts
    config: DayConfig, peers: Sequence[str], settlements: Sequence[SlotSettlement], event: NegawattEvent | None,
    ledger: DayLedger | None, tokens: Mapping[str, Any],
) -> dict[str, Any]:
    """The day's digest: energy by stage, money by account, conservation checks, the event, the ledger
    (``tokens``: :meth:`DayLedger.finish`'s figures)."""
    energy: dict[str, float] = {}
    for stage in STAGES:
        sold = sum(s.stages[stage].sold_wh for x in settlements for s in x.statements)
        bought = sum(s.stages[stage].bought_wh for x in settlements for s in x.statements)
        if stage == "grid":
            energy["grid export"], energy["grid import"] = wh_to_kwh(sold), wh_to_kwh(bought)
        else:
            energy[stage] = wh_to_kwh(sold)
    peer_money, accounts = statement_sums(peers, settlements, event)
    money = {"prosumers": sum(peer_money.values()), **accounts}
    dr: dict[str, Any] = {"ran": False}
    if event is not None and event.settlement is not None and event.clearing is not None:
        postings = {p["account"]: int(p["amount_micro"]) for p in event.settlement["postings"]}
        window = config.dr_window
        dr = {
            "ran": True, "window_slots": list(window), "target_kwh": event.spec.target_kwh,
            "reserve_per_kwh": event.spec.price_per_kwh, "offers": len(event.offers),
            "winners": [{"id": r["id"], "sold_kwh": r["energy_kwh"], "payment": r["payment"]}
                        for r in event.clearing["sellers"] if r["energy_kwh"] > 0],
            "fallback_kwh": float(event.clearing["details"].get("fallback_kwh", 0.0)),
            "verification": list(event.settlement["verification"]),
            "secondary": list(event.settlement["secondary"]),
            "penalties": list(event.settlement["penalties"]),
            "postings_sum_micro": sum(postings.values()),
        }
    checks = {
        "every slot balances to 0 micro-tokens": all(x.balance_micro == 0 for x in settlements),
        "day's money sums to 0 micro-tokens": sum(money.values()) == 0,
        "every prosumer's trades equal its net position (Wh)": all(
            s.traded_wh == s.net_wh for x in settlements for s in x.statements),
        "bilateral, listings and auction each sell what they buy (Wh)": all(
            sum(s.stages[g].sold_wh for s in x.statements) == sum(s.stages[g].bought_wh for s in x.statements)
            for x in settlements for g in ("bilateral", "listings", "auction")),
    }
    prices = [x.auction.price_per_kwh for x in settlements if x.auction is not None]
    charges = [x.grid_charge_micro for x in settlements]
    chain: dict[str, Any] = {"audit": tokens.get("audit", "not run (no ledger)")}
    if ledger is not None:
        checks["every slot's endorsed result on chain equals its auction-stage statements (Wh, micro-token)"] = (
            ledger.matches == ledger.committed)
        checks["DSO's grid-charge income equals its endorsed result entries on chain (micro-token)"] = (
            sum(charges) == ledger.dso_entries_micro)
        checks["on-chain token balances equal starting balance + statements (micro-token)"] = (
            tokens["balances_equal_statements"] == tokens["accounts_checked"])
        checks["token supply conserved on chain"] = tokens["final_supply_micro"] == tokens["starting_supply_micro"]
        chain.update({
            "slots_committed": ledger.committed, "slots_without_orders": ledger.skipped,
            "slots_where_endorsed_result_equals_auction_statements": ledger.matches,
            "slots_where_they_differ": list(ledger.mismatched),
            "reward_shares_ppm": {"auctioneer": ledger.rewards.auctioneer_ppm, "miner": ledger.rewards.miner_ppm},
            **{k: v for k, v in tokens.items() if k != "audit"},
            "on_chain": "per slot: the auction stage's signed orders and attributes (order root), the validators' "
                        "recomputed result root and 3-of-4 endorsements (Proof of Clearance); every slot's "
                        "bilateral, listing and grid money from the statements and its auction money from the "
                        "endorsed result entries plus the rewards, and the demand-response event's, as token "
                        "transfers (EnergyToken.settle batches by the operator)",
            "off_chain": "the statements (integer micro-tokens) the transfers settle; the audit checks every "
                         "account's balance against them",
        })
    return {
        "date": config.date, "slots": config.n_slots, "slot_minutes": config.slot_minutes, "seed": config.seed,
        "prosumers": len(peers), "mechanism": config.mechanism,
        "energy_kwh": energy, "money_micro": money, "checks": checks, "demand_response": dr, "ledger": chain,
        "grid_charges_micro": {"total": sum(charges), "per_slot": charges},
        "auction_slots": len(prices),
        "mean_auction_price_per_kwh": float(np.mean([p for p in prices if p is not None])) if any(
            p is not None for p in prices) else None,
        "peer_money_micro": peer_money,
        "params": dict(config.params),
        # the community market fund (docs/settlement.md): its balance and per-slot history
        "fund": {"balance_micro": sum(x.fund_micro for x in settlements),
                 "slots": [{"slot": x.slot, "fund_micro": x.fund_micro, "policy_applied": x.policy_applied,
                            "policy_reason": x.policy_reason}
                           for x in settlements if x.fund_micro or x.policy_applied]},
    }
