"""Seed 001's case study (AlAshery et al. 2021, §IV): 20 peers, 24 hourly auctions, the five schemes of Fig. 7.

Schemes (per hour, on the same bids, :mod:`transactive.studies.alashery_peers`):

1. ``feed_in``: every block trades with the grid operator if the tariff suits it: a sell block whose price is
   ``<=`` the feed-in tariff (0.015) sells at it, a buy block whose price is ``>=`` the retail rate (0.1) buys
   at it; any other block is not executed.
2. ``wholesale``: each block is bid into the wholesale market through the auctioneer
   (:func:`transactive.settlement.grid_trading.settle_with_grid`, fee 0.025 added to buys and subtracted from
   sells); a block clears there when it gains after the fee (our choice: its limit is shifted by the fee);
   what does not clear falls back to the tariffs as in scheme 1 ("wholesale market, and feed-in tariff for
   the uncleared bids"). The auctioneer's surplus is the fees.
3.-5. ``uniform``, ``vcg``, ``balanced_budget``: the double auction
   (:func:`transactive.mechanisms.double_auction_vcg.clear_double_auction_vcg`, ``X^A = X^M`` = the config's
   ``share``, 0.01 by default); the uncleared rest of each block then trades with the grid as in scheme 1
   (§III-D: peers balance their uncleared bids with the main grid).

Per scheme and hour: the requested energy (every block's energy) and the cleared energy (every executed
block's energy, sell and buy blocks alike, so an auction trade of ``q`` kWh counts ``2q``; ``delivered_kwh``
is the other counting, ``q`` once), the participants' welfare ``Σ (value − paid) + Σ (received − cost)``
over executed blocks (tokens) and per cleared kWh, and for
schemes 2-5 the auctioneer's surplus (``details.surplus`` of the mechanism: payments − receipts − rewards;
the fees for scheme 2) and budget (payments − receipts, before the rewards). The P2P schemes are also run
with zero shares (rows with ``share == 0``): the mechanism's theorems are stated for that case.

Market fund (SEED-NOTES §8): VCG surpluses accumulate in a fund that pays the deficits; where the fund cannot
cover an hour's deficit (or a participant would not be individually rational), that hour is priced by the
balanced-budget rule. The study settles each hour's VCG clearing by **the platform's one fund rule**
(:func:`transactive.settlement.fund.settle_auction`, in micro-tokens, the rewards ``floor(ME·X)`` paid by the
fund) twice: with an unbounded fund (every VCG surplus and deficit) and with the fund's balance so far
(:attr:`StudyResult.fund`); :func:`fund_balances` gives both balances hour by hour over the days.

Example:
    >>> r = run_study(StudyConfig(seed=3, days=1, hours=2, profiles="synthetic"))
    >>> sorted({h.scheme for h in r.hours}) == sorted(SCHEMES), len(r.hours)
    (True, 16)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from transactive.mechanisms.double_auction_vcg import DoubleAuctionParams, clear_double_auction_vcg
from transactive.orders import Orders
from transactive.result import ClearingResult
from transactive.settlement.auction_entries import PPM
from transactive.settlement.fund import settle_auction
from transactive.settlement.grid_trading import GridTariff, settle_with_grid
from transactive.sim.profiles import FloatArray, day_profiles
from transactive.studies import StudyError
from transactive.studies.alashery_peers import (
    HOURS,
    N_PEERS,
    Bid,
    HourBids,
    day_bids,
    draw_fleet,
    wholesale_prices,
)
from transactive.units import MICRO_PER_TOKEN, WH_PER_KWH, energy_to_wh

SCHEMES = ("feed_in", "wholesale", "uniform", "vcg", "balanced_budget")
P2P = ("uniform", "vcg", "balanced_budget")
PAPER_SHARE = 0.01  # X^A = X^M, seed 001 §IV-A
SIMBENCH_START = date(2016, 6, 1)  # day 0 of a SimBench study (a summer day: PV matters)
IR_TOLERANCE = 0.5e-6  # half a micro-token


@dataclass(frozen=True)
class StudyConfig:
    """What to run: ``days`` days from ``seed``; ``hours`` per day (24; fewer for quick tests);
    ``share`` = ``X^A = X^M``; ``profiles`` ``auto`` (SimBench if installed) / ``simbench`` / ``synthetic``."""

    seed: int = 1
    days: int = 1
    hours: int = HOURS
    share: float = PAPER_SHARE
    profiles: str = "auto"
    tariff: GridTariff = field(default_factory=GridTariff)

    def __post_init__(self) -> None:
        for name, low, high in (("seed", 0, 2**32 - 1), ("days", 1, 366), ("hours", 1, HOURS)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise StudyError(name, f"must be an integer in [{low}, {high}]")
        if not isinstance(self.share, (int, float)) or not math.isfinite(self.share) or not 0 <= self.share < 0.5:
            raise StudyError("share", "must be a number in [0, 0.5)")
        if self.profiles not in ("auto", "simbench", "synthetic"):
            raise StudyError("profiles", "must be auto, simbench or synthetic")


@dataclass(frozen=True)
class SchemeHour:
    """One scheme's outcome in one hour (tokens, kWh); ``surplus``/``budget`` NaN for ``feed_in``."""

    day: int
    hour: int
    scheme: str
    share: float
    wholesale_per_kwh: float
    requested_kwh: float
    cleared_kwh: float
    auction_kwh: float
    welfare: float
    surplus: float
    budget: float
    reward_each: float
    uniform_price_per_kwh: float
    ir_violations: int
    better_than_uniform: int

    @property
    def welfare_per_kwh(self) -> float:
        return self.welfare / self.cleared_kwh if self.cleared_kwh > 0 else 0.0

    @property
    def delivered_kwh(self) -> float:
        """The other counting: energy that changes hands, an auction trade of ``q`` kWh counted once."""
        return self.cleared_kwh - self.auction_kwh / 2 if self.scheme in P2P else self.cleared_kwh

    @property
    def welfare_per_delivered_kwh(self) -> float:
        return self.welfare / self.delivered_kwh if self.delivered_kwh > 0 else 0.0

    @property
    def surplus_per_kwh(self) -> float:
        """Normalised surplus: per kWh of cleared blocks of the scheme's market (auction or wholesale)."""
        return self.surplus / self.auction_kwh if self.auction_kwh > 0 else 0.0


@dataclass(frozen=True)
class ParticipantPrice:
    """A participant's average price in an hour's auction (Fig. 8's scatter): received or paid per kWh."""

    day: int
    hour: int
    scheme: str
    peer: int
    side: str
    energy_kwh: float
    price_per_kwh: float


@dataclass(frozen=True)
class FundHour:
    """The market fund in one hour of the VCG scheme, settled by :func:`~transactive.settlement.fund.settle_auction`
    (micro-tokens, > 0 the fund grows): ``unbounded_micro`` the hour's movement with an unbounded fund,
    ``balance_micro`` the fund's balance after the hour when it pays only what it holds, and ``rule`` what
    settled the hour then (``vcg``, or the policy applied: ``balanced_budget`` / ``no_trade``)."""

    day: int
    hour: int
    unbounded_micro: int
    balance_micro: int
    rule: str


@dataclass(frozen=True)
class StudyResult:
    """Every hour's rows, the participants' prices, the bids, which profiles were used, and the market fund
    hour by hour (:class:`FundHour`)."""

    config: StudyConfig
    profile_source: str
    hours: tuple[SchemeHour, ...]
    prices: tuple[ParticipantPrice, ...]
    bids: tuple[tuple[int, HourBids], ...]
    fund: tuple[FundHour, ...] = ()

    def rows(self, scheme: str, share: float | None = None) -> tuple[SchemeHour, ...]:
        """The rows of ``scheme`` (at ``share``, default the config's), ordered by day and hour."""
        want = self.config.share if share is None else share
        return tuple(h for h in self.hours if h.scheme == scheme and h.share == want)


def load_day(seed: int, day: int, profiles: str) -> tuple[FloatArray, FloatArray, str]:
    """Household load (kWh, 20 × 24) and PV per kWp (kWh/kWp, 20 × 24) of the study's ``day``, and the
    source: SimBench's measured profiles (from 2016-06-01 + ``day``) when available, else synthetic."""
    if profiles != "synthetic":
        from transactive.sim.simbench_profiles import SimbenchUnavailable, load_simbench_frames, simbench_day

        try:
            load_frame, pv_frame = load_simbench_frames()
        except SimbenchUnavailable as exc:
            if profiles == "simbench":
                raise StudyError("profiles", str(exc)) from exc
        else:
            when = (SIMBENCH_START + timedelta(days=day)).isoformat()
            p = simbench_day(load_frame, pv_frame, n_prosumers=N_PEERS, date=when, slot_minutes=60, seed=seed,
                             pv_share=1.0)
            return p.load_kwh, p.pv_kwh / p.pv_kwp[:, None], "simbench"
    p = day_profiles(N_PEERS, interval_minutes=60, seed=seed, pv_share=1.0, day=day)
    return p.load_kwh, p.pv_kwh / p.pv_kwp[:, None], "synthetic"


def _tariff_trade(bid: Bid, energy_kwh: float, tariff: GridTariff) -> tuple[float, float]:
    """``(kWh, welfare)`` of trading ``energy_kwh`` of ``bid`` at the tariffs, if the tariff suits the bid."""
    if energy_kwh <= 0:
        return 0.0, 0.0
    if bid.side == "sell" and bid.price_per_kwh <= tariff.feed_in_per_kwh:
        return energy_kwh, (tariff.feed_in_per_kwh - bid.price_per_kwh) * energy_kwh
    if bid.side == "buy" and bid.price_per_kwh >= tariff.retail_per_kwh:
        return energy_kwh, (bid.price_per_kwh - tariff.retail_per_kwh) * energy_kwh
    return 0.0, 0.0


def _fallback(bids: tuple[Bid, ...], cleared: list[float], tariff: GridTariff) -> tuple[float, float]:
    kwh = welfare = 0.0
    for bid, done in zip(bids, cleared, strict=True):
        k, w = _tariff_trade(bid, bid.energy_kwh - done, tariff)
        kwh, welfare = kwh + k, welfare + w
    return kwh, welfare


def _wholesale(hb: HourBids, tariff: GridTariff) -> tuple[float, float, float, float]:
    """Scheme 2: ``(cleared kWh, welfare, wholesale kWh, fees)``."""
    bids = hb.bids
    residual = {str(i): energy_to_wh(b.energy_kwh) * (1 if b.side == "sell" else -1) for i, b in enumerate(bids)}
    fee = tariff.wholesale_fee_per_kwh
    limits = {str(i): b.price_per_kwh + fee if b.side == "sell" else b.price_per_kwh - fee
              for i, b in enumerate(bids)}
    trades = settle_with_grid(residual, tariff=tariff, wholesale_price_per_kwh=hb.wholesale_per_kwh,
                              limit_price_per_kwh=limits)
    kwh = welfare = market_kwh = fees = 0.0
    for bid, trade in zip(bids, trades, strict=True):
        energy = abs(trade.energy_wh) / WH_PER_KWH
        if trade.route == "wholesale":
            money = trade.money_micro / 1e6  # signed: received > 0, paid < 0
            welfare += money - bid.price_per_kwh * energy if bid.side == "sell" else bid.price_per_kwh * energy + money
            kwh, market_kwh, fees = kwh + energy, market_kwh + energy, fees + trade.fee_micro / 1e6
        elif trade.route in ("feed_in", "retail"):
            k, w = _tariff_trade(bid, energy, tariff)
            kwh, welfare = kwh + k, welfare + w
    return kwh, welfare, market_kwh, fees


@dataclass(frozen=True, eq=False)
class _Auction:
    result: ClearingResult
    cost: FloatArray
    value: FloatArray
    seller_blocks: list[float]
    buyer_blocks: list[float]


def _auction(sellers: Orders, buyers: Orders, pricing: str, share: float) -> _Auction | None:
    if sellers.n == 0 or buyers.n == 0:
        return None
    params = DoubleAuctionParams(pricing=pricing, auctioneer_share=share, miner_share=share)  # type: ignore[arg-type]
    r = clear_double_auction_vcg(sellers, buyers, params)
    s_blocks = np.asarray(r.details["seller_block_energy_kwh"], dtype=np.float64)
    d_blocks = np.asarray(r.details["buyer_block_energy_kwh"], dtype=np.float64)
    return _Auction(r, sellers.per_participant(s_blocks * sellers.price_per_kwh),
                    buyers.per_participant(d_blocks * buyers.price_per_kwh), s_blocks.tolist(), d_blocks.tolist())


def clear_hour(
    day: int, hb: HourBids, share: float, tariff: GridTariff
) -> tuple[list[SchemeHour], list[ParticipantPrice]]:
    """The five schemes on one hour's bids at ``X^A = X^M = share`` (plus the P2P schemes at zero shares)."""
    rows, prices, _ = _clear_hour(day, hb, share, tariff)
    return rows, prices


def _clear_hour(
    day: int, hb: HourBids, share: float, tariff: GridTariff
) -> tuple[list[SchemeHour], list[ParticipantPrice], ClearingResult | None]:
    """:func:`clear_hour` and the hour's VCG clearing at ``share`` (None: one side empty), which the fund settles."""
    vcg: ClearingResult | None = None
    requested = sum(b.energy_kwh for b in hb.bids)
    nan = math.nan
    rows: list[SchemeHour] = []
    fit_kwh, fit_welfare = _fallback(hb.bids, [0.0] * len(hb.bids), tariff)
    rows.append(SchemeHour(day, hb.hour, "feed_in", share, hb.wholesale_per_kwh, requested, fit_kwh, 0.0,
                           fit_welfare, nan, nan, 0.0, nan, 0, 0))
    w_kwh, w_welfare, w_market, fees = _wholesale(hb, tariff)
    rows.append(SchemeHour(day, hb.hour, "wholesale", share, hb.wholesale_per_kwh, requested, w_kwh, w_market,
                           w_welfare, fees, fees, 0.0, nan, 0, 0))

    sell_bids, buy_bids = hb.side("sell"), hb.side("buy")
    sellers, buyers = hb.orders("sell"), hb.orders("buy")
    prices: list[ParticipantPrice] = []
    for x in (share, 0.0) if share else (0.0,):
        outcomes = {pricing: _auction(sellers, buyers, pricing, x) for pricing in P2P}
        uniform = outcomes["uniform"]
        for pricing, a in outcomes.items():
            if a is None:
                kwh, welfare = _fallback(hb.bids, [0.0] * len(hb.bids), tariff)
                rows.append(SchemeHour(day, hb.hour, pricing, x, hb.wholesale_per_kwh, requested, kwh, 0.0,
                                       welfare, 0.0, 0.0, 0.0, nan, 0, 0))
                continue
            received, paid = a.result.sellers.payment, a.result.buyers.payment
            k1, w1 = _fallback(sell_bids, a.seller_blocks, tariff)
            k2, w2 = _fallback(buy_bids, a.buyer_blocks, tariff)
            auction_kwh = float(a.result.sellers.energy_kwh.sum() + a.result.buyers.energy_kwh.sum())
            welfare = float((received - a.cost).sum() + (a.value - paid).sum())
            ir = int((received < a.cost - IR_TOLERANCE).sum() + (paid > a.value + IR_TOLERANCE).sum())
            better = 0
            if pricing == "vcg" and uniform is not None:
                better = int((received > uniform.result.sellers.payment + IR_TOLERANCE).sum()
                             + (paid < uniform.result.buyers.payment - IR_TOLERANCE).sum())
            lam = a.result.details["uniform_price_per_kwh"]
            rows.append(SchemeHour(
                day, hb.hour, pricing, x, hb.wholesale_per_kwh, requested, auction_kwh + k1 + k2, auction_kwh,
                welfare + w1 + w2, float(a.result.details["surplus"]), float(paid.sum() - received.sum()),
                float(a.result.details["auctioneer_reward"]), nan if lam is None else float(lam), ir, better))
            if x == share:
                if pricing == "vcg":
                    vcg = a.result
                for side, orders, alloc in (("sell", sellers, a.result.sellers), ("buy", buyers, a.result.buyers)):
                    for pid, e, money in zip(orders.ids, alloc.energy_kwh, alloc.payment, strict=True):
                        if e > 1e-9:
                            prices.append(ParticipantPrice(day, hb.hour, pricing, int(pid[1:]), side, float(e),
                                                           float(money / e)))
    return rows, prices, vcg


def fund_hour(hb: HourBids, vcg: ClearingResult | None, share: float, balance_micro: int
              ) -> tuple[int, int, str]:
    """The fund in one hour by the platform's rule (:func:`~transactive.settlement.fund.settle_auction`, the
    slot's shares ``X^A = X^M = share`` in ppm): ``(movement with an unbounded fund, movement with
    balance_micro, the rule that settled the latter)``, micro-tokens."""
    if vcg is None:
        return 0, 0, "vcg"
    sellers, buyers = hb.orders("sell"), hb.orders("buy")
    ppm = round(share * PPM)
    movements: list[int] = []
    rule = "vcg"
    for fund in (None, balance_micro):
        settled = settle_auction(vcg, sellers, buyers, sellers.ids, buyers.ids, fund_micro=fund, ppm=(ppm, ppm))
        movements.append(0 if settled.stage is None else settled.stage.fund_micro)
        rule = settled.policy_applied or "vcg"
    return movements[0], movements[1], rule


def run_study(config: StudyConfig, progress: Callable[[int, int], None] | None = None) -> StudyResult:
    """Run the study: ``days × hours`` hourly auctions, each under the five schemes. ``progress(done, total)``
    is called after each hour. Deterministic for ``config``."""
    fleet = draw_fleet(config.seed)
    hours: list[SchemeHour] = []
    prices: list[ParticipantPrice] = []
    all_bids: list[tuple[int, HourBids]] = []
    sources: set[str] = set()
    fund: list[FundHour] = []
    balance = 0
    total = config.days * config.hours
    for day in range(config.days):
        load, pv_per_kwp, source = load_day(config.seed, day, config.profiles)
        sources.add(source)
        wholesale = wholesale_prices(config.seed, day)
        for hb in day_bids(fleet, load, pv_per_kwp, wholesale, seed=config.seed, day=day,
                           tariff=config.tariff)[: config.hours]:
            rows, ps, vcg = _clear_hour(day, hb, config.share, config.tariff)
            unbounded, moved, rule = fund_hour(hb, vcg, config.share, balance)
            balance += moved
            fund.append(FundHour(day, hb.hour, unbounded, balance, rule))
            hours.extend(rows)
            prices.extend(ps)
            all_bids.append((day, hb))
            if progress is not None:
                progress(day * config.hours + hb.hour + 1, total)
    return StudyResult(config, "+".join(sorted(sources)), tuple(hours), tuple(prices), tuple(all_bids), tuple(fund))


def fund_balances(result: StudyResult) -> tuple[list[float], list[float], list[str]]:
    """The market fund hour by hour (tokens, starting at 0), from :attr:`StudyResult.fund`: with an unbounded
    fund (every VCG surplus and deficit), and paying only what it holds (SEED-NOTES §8: an hour whose deficit
    it cannot cover is priced by the balanced-budget rule); and the rule used in each hour of the latter."""
    plain = np.cumsum([f.unbounded_micro for f in result.fund]) / MICRO_PER_TOKEN
    return plain.tolist(), [f.balance_micro / MICRO_PER_TOKEN for f in result.fund], [f.rule for f in result.fund]
