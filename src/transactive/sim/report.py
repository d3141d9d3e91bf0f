"""The simulated day's report: ``summary.json``, six PNG plots (matplotlib, Agg) and ``index.html``.

Plots: ``net_load.png`` (community load, PV and metered net load per slot, kWh), ``prices.png`` (the
auction's clearing price per slot against the feed-in tariff and retail rate, tokens/kWh),
``price_formation.png`` (the same price against the community's PV per slot: the members' bids, ``--strategy``),
``energy_by_stage.png`` (energy traded per slot in each stage, kWh; grid import and export separately),
``dso_income.png`` (the DSO's income from the auction's grid charges per slot and cumulated, tokens) and
``dr_event.png`` (each demand-response offerer's sold and verified-delivered negawatts, kWh). Everything is
read from the service's settled slots (:class:`~transactive.sim.day_summary.DaySlot`: the multi-settlement desk's stored
statements) and the day's audit (``transactive ledger verify`` over ``DIR/ledger``).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from transactive.settlement.grid_trading import GridTariff
from transactive.settlement.stages import STAGES
from transactive.sim.day import DayResult

PLOTS = ("net_load.png", "prices.png", "price_formation.png", "energy_by_stage.png", "dso_income.png", "dr_event.png")


def _hours(result: DayResult) -> Any:
    return (np.arange(result.config.n_slots) + 0.5) * result.config.slot_hours


def _save(fig: Any, path: Path, *, right: float = 0.98, bottom: float = 0.12) -> None:
    """Write ``fig`` (9 × 4 in, 90 dpi) and close it. Fixed margins, not ``tight_layout`` (which measures
    every text item again: a third of a plot's time), ``right`` narrower with a second y-axis, ``bottom``
    higher with rotated tick labels."""
    import matplotlib.pyplot as plt

    fig.subplots_adjust(left=0.08, right=right, bottom=bottom, top=0.91)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _plots(result: DayResult, folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = _hours(result)
    n = result.config.n_slots
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(hours, result.metered_load_kwh.sum(axis=0), label="load (metered, after DR)")
    ax.plot(hours, result.profiles.pv_kwh[:, :n].sum(axis=0), label="PV")
    ax.plot(hours, -result.net_kwh.sum(axis=0), label="net load (load − PV)")
    w0, w1 = result.config.dr_window
    if result.event is not None:
        ax.axvspan(w0 * result.config.slot_hours, w1 * result.config.slot_hours, alpha=0.15, label="DR event")
    ax.set(xlabel="hour of day", ylabel="kWh per slot",
           title=f"Community energy per slot ({result.profiles.source} profiles)")
    ax.legend()
    _save(fig, folder / "net_load.png")

    tariff = GridTariff()
    prices = [np.nan if x.price_per_kwh is None else x.price_per_kwh for x in result.slots]
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(hours, prices, "o-", ms=3, label=f"auction price ({result.config.mechanism})")
    ax.axhline(tariff.feed_in_per_kwh, ls="--", color="grey", label="feed-in tariff")
    ax.axhline(tariff.retail_per_kwh, ls=":", color="grey", label="retail")
    ax.set(xlabel="hour of day", ylabel="tokens per kWh", title="Prices per slot")
    ax.legend()
    _save(fig, folder / "prices.png")

    fig, ax = plt.subplots(figsize=(9, 4))
    ax.step(hours, prices, where="mid", color="C3", label=f"auction price ({result.config.strategy} bids)")
    ax.plot(hours, prices, "o", ms=2, color="C3")  # a cleared slot between two void ones
    ax.axhline(tariff.feed_in_per_kwh, ls="--", color="grey", label="feed-in tariff")
    ax.axhline(tariff.retail_per_kwh, ls=":", color="grey", label="retail")
    wholesale = result.summary["prices_per_kwh"].get("wholesale")
    if wholesale is not None:  # --grid wholesale: the auctioneer's wholesale price (± its fee)
        fee = float(result.summary["grid"]["wholesale_fee_per_kwh"])
        ax.step(hours, wholesale, where="mid", color="C0", label=f"wholesale price (± the {fee} fee: dashed)")
        for sign in (-1, 1):
            ax.step(hours, [p + sign * fee for p in wholesale], where="mid", color="C0", ls="--", lw=0.7)
    ax.set(xlabel="hour of day", ylabel="tokens per kWh", ylim=(0, tariff.retail_per_kwh * 1.1),
           title="Price formation: the auction price against the grid's prices and the PV")
    pv = ax.twinx()
    pv.fill_between(hours, result.profiles.pv_kwh[:, :n].sum(axis=0), color="gold", alpha=0.3, label="PV")
    pv.set_ylabel("community PV, kWh per slot")
    ax.set_zorder(pv.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.legend(loc="upper left")
    pv.legend(loc="upper right")
    _save(fig, folder / "price_formation.png", right=0.92)

    fig, ax = plt.subplots(figsize=(9, 4))
    bottom = np.zeros(n)
    for stage in STAGES[:3]:
        values = np.array([sum(s.stages[stage].sold_wh for s in x.statements) for x in result.slots]) / 1e3
        ax.bar(hours, values, width=result.config.slot_hours * 0.9, bottom=bottom, label=stage)
        bottom += values
    export = np.array([sum(s.stages["grid"].sold_wh for s in x.statements) for x in result.slots]) / 1e3
    imported = np.array([sum(s.stages["grid"].bought_wh for s in x.statements) for x in result.slots]) / 1e3
    ax.bar(hours, export, width=result.config.slot_hours * 0.9, bottom=bottom, label="grid export")
    ax.bar(hours, -imported, width=result.config.slot_hours * 0.9, label="grid import (negative)")
    ax.set(xlabel="hour of day", ylabel="kWh per slot", title="Energy by stage")
    ax.legend()
    _save(fig, folder / "energy_by_stage.png")

    charges = np.array(result.summary["grid_charges_micro"]["per_slot"], dtype=float) / 1e6
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.bar(hours, charges, width=result.config.slot_hours * 0.9, label="grid charges per slot")
    ax.set(xlabel="hour of day", ylabel="tokens per slot",
           title=f"DSO income from the auction's grid charges ({result.config.mechanism}; "
                 f"total {charges.sum():,.6f} tokens)")
    total = ax.twinx()
    total.plot(hours, np.cumsum(charges), color="black", lw=1, label="cumulative (right axis)")
    total.set_ylabel("tokens, cumulative")
    ax.legend(loc="upper left")
    total.legend(loc="upper right")
    _save(fig, folder / "dso_income.png", right=0.92)

    fig, ax = plt.subplots(figsize=(9, 4))
    rows = result.summary["demand_response"].get("verification", [])
    labels = [r["id"][:8] for r in rows]
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r["sold_kwh"] for r in rows], 0.4, label="sold (primary)")
    ax.bar(x + 0.2, [r["delivered_kwh"] for r in rows], 0.4, label="delivered (verified vs baseline)")
    ax.set_xticks(x, labels, rotation=30)
    ax.set(ylabel="kWh", title="Demand-response event: sold and delivered negawatts")
    ax.legend()
    _save(fig, folder / "dr_event.png", bottom=0.2)


def _table(rows: list[tuple[str, str]], head: tuple[str, str]) -> str:
    body = "".join(f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td></tr>" for a, b in rows)
    return f"<table><tr><th>{head[0]}</th><th>{head[1]}</th></tr>{body}</table>"


def write_report(result: DayResult, folder: str | Path) -> Path:
    """Write ``summary.json``, the plots and ``index.html`` into ``folder``; returns the index path."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    summary = result.summary
    (out / "summary.json").write_text(json.dumps({**summary, "runtime_s": result.runtime_s}, indent=2,
                                                 default=str) + "\n")
    _plots(result, out)
    energy = [(k, f"{v:,.3f}") for k, v in summary["energy_kwh"].items()]
    money = [(k, f"{v / 1e6:,.6f}") for k, v in summary["money_micro"].items()]
    checks = [(k, "✓" if v else "✗ FAILED") for k, v in summary["checks"].items()]
    dr = summary["demand_response"]
    dr_rows = [("target kWh", str(dr.get("target_kwh"))), ("offers", str(dr.get("offers"))),
               ("winners", str(len(dr.get("winners", [])))),
               ("secondary trades", str(sum(len(s["bought"]) for s in dr.get("secondary", [])))),
               ("penalties", str(len(dr.get("penalties", []))))]
    ledger = [(k, str(v)) for k, v in summary["ledger"].items() if k not in ("addresses", "balances_micro")]
    audit = summary["ledger"]["audit"]
    tokens = [(f"{k} {a[:10]}…", f"{b[0] / 1e6:,.6f} → {b[1] / 1e6:,.6f}")
              for k, a in summary["ledger"].get("addresses", {}).items()
              for b in [summary["ledger"]["balances_micro"][a]]]
    token_section = "" if not tokens else (
        "<h2>Token balances on chain (tokens)</h2>"
        + _table(tokens, ("account", "starting → final")))
    assigned = summary["profiles"]["assignment"]
    assignment = "" if not assigned else (
        "<details><summary>profile of each prosumer</summary>"
        + _table([(p[:10] + "…", v) for p, v in assigned.items()], ("prosumer", "SimBench profile")) + "</details>")
    fund = summary.get("fund", {"balance_micro": 0, "slots": []})
    fund_rows = [(str(x["slot"]), f"{x['fund_micro'] / 1e6:,.6f}") for x in fund["slots"]]
    images = "".join(f'<h3>{name}</h3><img src="{name}" alt="{name}">' for name in PLOTS)
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Transactive simulated day {html.escape(summary["date"])}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:auto}}td,th{{border:1px solid #ccc;padding:2px 8px}}
table{{border-collapse:collapse;margin-bottom:1em}}img{{max-width:100%}}</style></head><body>
<h1>Simulated day {html.escape(summary["date"])}</h1>
<p>{summary["prosumers"]} prosumers of the IEEE European LV feeder, {summary["slots"]} slots of
{summary["slot_minutes"]} min, seed {summary["seed"]}, community auction <code>{summary["mechanism"]}</code>,
members' bids <code>{html.escape(summary["strategy"])}</code> (docs/day.md), runtime {result.runtime_s:.1f} s.</p>
<p><b>Profiles: {html.escape(summary["profiles"]["description"])}</b>; see docs/day.md.</p>
{assignment}
<h2>Energy by stage (kWh)</h2>{_table(energy, ("stage", "kWh"))}
<h2>Money by account (tokens; &gt; 0 received)</h2>{_table(money, ("account", "tokens"))}
<p>DSO income from the auction's grid charges (C_d × distance per trade, part of <code>dso</code>):
<b>{summary["grid_charges_micro"]["total"] / 1e6:,.6f} tokens</b> over
{sum(1 for c in summary["grid_charges_micro"]["per_slot"] if c)} slot(s); per slot in <code>dso_income.png</code>.</p>
<h2>Community market fund</h2><p>Balance change over the day: <b>{fund["balance_micro"] / 1e6:,.6f} tokens</b>
(surpluses and deficits of the auction, DPDA's excess sold at the feed-in tariff; docs/settlement.md).</p>
{_table(fund_rows, ("slot", "fund (tokens)"))}
<h2>Conservation checks</h2>{_table(checks, ("check", "result"))}
<h2>Demand-response event</h2>{_table(dr_rows, ("item", "value"))}
<h2>Ledger</h2>
<p>Audit (<code>transactive ledger verify DIR/ledger</code>, run at the end of the day):
<b>{html.escape(audit)}</b>.</p>
{_table(ledger, ("item", "value"))}
{token_section}
<h2>Plots</h2>{images}
</body></html>
"""
    index = out / "index.html"
    index.write_text(page)
    return index
