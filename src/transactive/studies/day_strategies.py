"""``transactive study day-strategies``: the simulated day once per bidding strategy, side by side (issue 10).

Each strategy of :mod:`transactive.sim.strategy` (``zic``, ``cost-plus``, ``grid``) plays the same day --
same seed, profiles, contracts, listings and demand-response event -- through :func:`transactive.sim.day.run_day`
(the service's desks, in memory: no chain, no power flow, hourly slots; a reduced day by default: 24 hourly
slots, 30 prosumers), so only the auction orders' prices differ. ``days`` repeats it for seeds ``seed``,
``seed + 1``, ... Per strategy and slot it records (from the settled statements):

* the **auction price** (``None``: the slot did not clear) against the feed-in and retail prices;
* **volumes**: kWh sold in the auction, exported to and imported from the grid stage;
* **welfare** (our measure; the seeds define none for a metered day): the prosumers' **gain over the grid**,
  ``Σ (auction + grid money) − Σ grid-only money`` of the same energies (tokens), where the grid-only money
  is the grid stage's rule on each member's net energy of the two stages (feed-in / retail, or the wholesale
  market with ``grid=wholesale``). The metered
  energies are the same under every strategy, so the members' utilities and costs of them are too; what a
  strategy changes is the money, and the gain is what local trade earns the prosumers over the grid (the
  rest of the difference goes to the DSO's charges and penalties and the community fund).

Files: ``slots.csv`` (day, strategy, slot, price, volumes, gain), ``strategies.csv`` (per strategy: slots
cleared, price min/mean/max and its spread over the day, volumes, gain), ``prices.png`` (the price paths over
day 0 with the PV), ``volumes.png`` and ``welfare.png``, ``index.html``. Deterministic for a seed.

Example:
    >>> StudyConfig(strategies=("grid",), slots=2, prosumers=4).strategies
    ('grid',)
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from transactive.settlement.grid_trading import GridTariff, settle_with_grid
from transactive.sim.day import DayConfig, DayConfigError, DayResult, run_day
from transactive.sim.strategy import STRATEGIES
from transactive.studies import StudyError
from transactive.studies._report import html_table, page, pyplot, save, write_csv, write_files

FIGURES = ("prices.png", "volumes.png", "welfare.png")
CSVS = ("slots.csv", "strategies.csv")


@dataclass(frozen=True)
class StudyConfig:
    """``days`` days (seeds ``seed``…) of ``slots`` hourly slots for ``prosumers`` members, once per strategy
    in ``strategies``, cleared by ``mechanism``, the grid stage ``grid`` (``tariffs`` / ``wholesale``)."""

    seed: int = 3
    days: int = 1
    strategies: tuple[str, ...] = STRATEGIES
    slots: int = 24
    prosumers: int = 30
    mechanism: str = "dpda"
    grid: str = "tariffs"

    def __post_init__(self) -> None:
        if not self.strategies or any(s not in STRATEGIES for s in self.strategies) \
                or len(set(self.strategies)) != len(self.strategies):
            raise StudyError("strategies", f"must be distinct names among {', '.join(STRATEGIES)}")
        for name, low, high in (("seed", 0, 2**31 - 1), ("days", 1, 30)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise StudyError(name, f"must be an integer in [{low}, {high}]")
        self.day_config(self.strategies[0], 0)  # the day's own checks (slots, prosumers, mechanism, grid)

    def day_config(self, strategy: str, day: int) -> DayConfig:
        try:
            return DayConfig(seed=self.seed + day, n_slots=self.slots, slot_minutes=60,
                             n_prosumers=self.prosumers, mechanism=self.mechanism, strategy=strategy,
                             grid=self.grid, on_chain=False, dso_power_flow=False, profiles="synthetic")
        except DayConfigError as exc:
            field = {"n_slots": "slots", "n_prosumers": "prosumers"}.get(exc.field, exc.field)
            raise StudyError(field, exc.message) from None


@dataclass(frozen=True)
class SlotRow:
    """One strategy's slot: its auction price (None: void), kWh sold in the auction, exported and imported by
    the grid stage, and the prosumers' gain over the grid (micro-tokens)."""

    day: int
    strategy: str
    slot: int
    price_per_kwh: float | None
    auction_kwh: float
    grid_export_kwh: float
    grid_import_kwh: float
    gain_micro: int


@dataclass(frozen=True)
class StudyResult:
    config: StudyConfig
    rows: tuple[SlotRow, ...]
    pv_kwh: tuple[float, ...]  # day 0's community PV per slot
    checks: Mapping[str, bool]  # every day's conservation checks held, per strategy

    def of(self, strategy: str, day: int | None = None) -> list[SlotRow]:
        return [r for r in self.rows if r.strategy == strategy and (day is None or r.day == day)]


def slot_rows(result: DayResult, strategy: str, day: int) -> list[SlotRow]:
    """The day's slots as :class:`SlotRow` (from the settled statements). The grid-only money is the grid
    stage's own rule (:func:`~transactive.settlement.grid_trading.settle_with_grid`, with the slot's wholesale
    price when the day trades wholesale) on each member's net energy of the auction and grid stages."""
    series = result.config.wholesale_series()
    tariff = GridTariff() if series is None else GridTariff(wholesale_fee_per_kwh=series.fee_per_kwh)
    rows = []
    for x in result.slots:
        sold = sum(s.stages["auction"].sold_wh for s in x.statements)
        export = sum(s.stages["grid"].sold_wh for s in x.statements)
        imported = sum(s.stages["grid"].bought_wh for s in x.statements)
        stages = [(s.stages["auction"], s.stages["grid"]) for s in x.statements]
        nets = {str(k): a.sold_wh - a.bought_wh + g.sold_wh - g.bought_wh for k, (a, g) in enumerate(stages)}
        price = None if series is None else series.price_at_minute(x.slot * result.config.slot_minutes)
        alone = settle_with_grid(nets, tariff=tariff, wholesale_price_per_kwh=price)
        gain = sum(a.money_micro + g.money_micro for a, g in stages) - sum(t.money_micro for t in alone)
        rows.append(SlotRow(day, strategy, x.slot, x.price_per_kwh, sold / 1000, export / 1000, imported / 1000,
                            gain))
    return rows


def run_study(config: StudyConfig, progress: Callable[[int, int], None] | None = None) -> StudyResult:
    """Every strategy's day(s); ``progress(done, total)`` after each day. Deterministic for ``config``."""
    rows: list[SlotRow] = []
    checks: dict[str, bool] = {}
    pv: tuple[float, ...] = ()
    total = config.days * len(config.strategies)
    done = 0
    for day in range(config.days):
        for strategy in config.strategies:
            result = run_day(config.day_config(strategy, day))
            rows.extend(slot_rows(result, strategy, day))
            checks[strategy] = checks.get(strategy, True) and all(result.summary["checks"].values())
            if day == 0 and not pv:
                pv = tuple(float(x) for x in result.summary["pv_kwh_per_slot"])
            done += 1
            if progress is not None:
                progress(done, total)
    return StudyResult(config, tuple(rows), pv, checks)


def summary_row(rows: Sequence[SlotRow]) -> dict[str, float | int | str]:
    """One strategy's totals: slots cleared, price min/mean/max and standard deviation over the cleared slots
    (tokens/kWh; NaN without any), volumes (kWh) and the gain over the grid (tokens)."""
    prices = [r.price_per_kwh for r in rows if r.price_per_kwh is not None]
    nan = math.nan
    return {
        "slots": len(rows), "cleared": len(prices),
        "price_min": min(prices) if prices else nan, "price_mean": float(np.mean(prices)) if prices else nan,
        "price_max": max(prices) if prices else nan, "price_std": float(np.std(prices)) if prices else nan,
        "auction_kwh": math.fsum(r.auction_kwh for r in rows),
        "grid_export_kwh": math.fsum(r.grid_export_kwh for r in rows),
        "grid_import_kwh": math.fsum(r.grid_import_kwh for r in rows),
        "gain_tokens": sum(r.gain_micro for r in rows) / 1e6,
    }


def _figures(result: StudyResult, out: Path) -> None:
    plt = pyplot()
    tariff = GridTariff()
    hours = np.arange(result.config.slots) + 0.5
    fig, ax = plt.subplots(figsize=(9, 4))
    for k, strategy in enumerate(result.config.strategies):
        prices = [np.nan if r.price_per_kwh is None else r.price_per_kwh for r in result.of(strategy, 0)]
        ax.step(hours, prices, where="mid", color=f"C{k}", label=strategy)
        ax.plot(hours, prices, "o", ms=3, color=f"C{k}")
    ax.axhline(tariff.feed_in_per_kwh, ls="--", color="grey", label="feed-in")
    ax.axhline(tariff.retail_per_kwh, ls=":", color="grey", label="retail")
    ax.set(xlabel="hour of day", ylabel="tokens per kWh", ylim=(0, tariff.retail_per_kwh * 1.1),
           title=f"Auction price per strategy (day 0, seed {result.config.seed}, {result.config.mechanism})")
    pv = ax.twinx()
    pv.fill_between(hours, result.pv_kwh, color="gold", alpha=0.3, label="PV")
    pv.set_ylabel("community PV, kWh per slot")
    ax.set_zorder(pv.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.legend(loc="upper left", fontsize=8)
    save(fig, out / "prices.png")

    totals = {s: summary_row(result.of(s)) for s in result.config.strategies}
    names = list(totals)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(7, 4))
    for k, (key, label) in enumerate((("auction_kwh", "auction"), ("grid_export_kwh", "grid export"),
                                      ("grid_import_kwh", "grid import"))):
        ax.bar(x + (k - 1) * 0.27, [float(totals[n][key]) for n in names], width=0.27, label=label)
    ax.set_xticks(x, names)
    ax.set(ylabel="kWh", title=f"Volumes over {result.config.days} day(s)")
    ax.legend(fontsize=8)
    save(fig, out / "volumes.png")

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(x, [float(totals[n]["gain_tokens"]) for n in names], color=[f"C{k}" for k in range(len(names))])
    ax.set_xticks(x, names)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(ylabel="tokens", title="Prosumers' gain over the grid (auction + grid stages)")
    save(fig, out / "welfare.png")


def write_report(result: StudyResult, out: Path, runtime_s: float) -> Path:
    """CSVs, figures and ``index.html`` into ``out``; returns the index path."""
    c = result.config
    totals = {s: summary_row(result.of(s)) for s in c.strategies}

    def csvs(folder: Path) -> None:
        write_csv(folder / "slots.csv", ("day", "strategy", "slot", "price_per_kwh", "auction_kwh",
                                         "grid_export_kwh", "grid_import_kwh", "gain_tokens"),
                  ((r.day, r.strategy, r.slot, "" if r.price_per_kwh is None else r.price_per_kwh, r.auction_kwh,
                    r.grid_export_kwh, r.grid_import_kwh, r.gain_micro / 1e6) for r in result.rows))
        head = ("strategy", *next(iter(totals.values())))
        write_csv(folder / "strategies.csv", head, ((s, *t.values()) for s, t in totals.items()))

    def index() -> str:
        def fmt(v: float | int | str) -> str:
            return f"{v:.4f}" if isinstance(v, float) else str(v)

        table = html_table(("strategy", *next(iter(totals.values()))),
                           [(s, *(fmt(v) for v in t.values())) for s, t in totals.items()])
        checks = ", ".join(f"{s}: {'all hold' if ok else 'FAILED'}" for s, ok in result.checks.items())
        body = f"""
<p>The simulated day (<code>transactive day</code>: the service's desks, in memory) once per bidding strategy:
seed {c.seed}{'' if c.days == 1 else f' to {c.seed + c.days - 1}'}, {c.slots} hourly slots, {c.prosumers}
prosumers, mechanism <code>{html.escape(c.mechanism)}</code>, grid stage <code>{html.escape(c.grid)}</code>.
Only the auction orders' prices differ between the runs (<code>sim/strategy.py</code>, docs/day.md).
Conservation checks of every day: {html.escape(checks)}. Runtime {runtime_s:.1f} s.</p>
{table}
<p><b>Welfare</b> here is the prosumers' gain over the grid: the money of their auction and grid stages minus
what the same net energies would earn or cost in the grid stage alone (tokens). The metered
energies are the same under every strategy, so a strategy changes only who gets the money.</p>
<div class="fig"><img src="prices.png" alt="prices"><div><p>The auction price per slot of day 0 against the
feed-in and retail prices and the PV. <code>grid</code> bids reproduce one price all day; <code>zic</code> and
<code>cost-plus</code> form prices from the members' costs and values.</p></div></div>
<div class="fig"><img src="volumes.png" alt="volumes"><div><p>kWh through the auction and the grid stage, all
days.</p></div></div>
<div class="fig"><img src="welfare.png" alt="welfare"><div><p>The gain over the grid per strategy, all
days.</p></div></div>
<h2>Data files</h2><p>{" ".join(f'<a href="{n}">{n}</a>' for n in CSVS)}</p>
"""
        return page("Bidding strategies in the simulated day", body)

    return write_files(out, (csvs, lambda folder: _figures(result, folder)), index)


def parse_options(options: Mapping[str, str]) -> dict[str, object]:
    """``--set`` options as :class:`StudyConfig` fields (``strategies=zic,grid``, ``slots=12``, ...)."""
    out: dict[str, object] = {}
    for key, text in options.items():
        if key == "strategies":
            out[key] = tuple(s.strip() for s in text.split(",") if s.strip())
        elif key in ("slots", "prosumers"):
            try:
                out[key] = int(text)
            except ValueError:
                raise StudyError(key, f"must be an integer, not {text!r}") from None
        else:
            out[key] = text
    return out
