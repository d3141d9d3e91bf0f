"""The report of ``transactive study alashery-2021``: CSV data, PNG figures and ``index.html``.

Files: ``hours.csv`` (every scheme × hour, both share settings), ``prices.csv`` (each participant's average
price per hour under uniform/VCG/BB), ``bids.csv`` (every block), ``table2.csv``, ``claims.csv``,
``fund.csv``; figures ``fig5_profiles.png``, ``fig8_prices.png``, ``fig9_energy.png``,
``fig10_welfare.png``, ``fig11_surplus.png``, ``fund.png``. Figures 8-11 show day 0 (the paper shows one
day); the fund and the claims cover every day.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from transactive.studies import alashery_peers as peers
from transactive.studies._report import html_table, page, pyplot, save, write_csv, write_files
from transactive.studies.alashery_2021 import SCHEMES, StudyResult, fund_balances
from transactive.studies.alashery_claims import PAPER_TABLE_II, claims, daily_totals, table_ii

FIGURES = ("fig5_profiles.png", "fig8_prices.png", "fig9_energy.png", "fig10_welfare.png",
           "fig11_surplus.png", "fund.png")
CSVS = ("hours.csv", "prices.csv", "bids.csv", "table2.csv", "claims.csv", "fund.csv")
LABEL = {"feed_in": "1 feed-in tariff", "wholesale": "2 wholesale + feed-in", "uniform": "3 P2P uniform",
         "vcg": "4 P2P VCG", "balanced_budget": "5 P2P balanced budget"}
TABLE_ROWS = ("wholesale", "vcg", "balanced_budget")


def _csvs(result: StudyResult, out: Path) -> None:
    write_csv(out / "hours.csv",
              ("day", "hour", "scheme", "share", "wholesale_per_kwh", "requested_kwh", "cleared_kwh",
               "market_kwh", "delivered_kwh", "welfare", "welfare_per_kwh", "surplus", "surplus_per_kwh", "budget",
               "reward_each", "uniform_price_per_kwh", "ir_violations", "better_than_uniform"),
              ((h.day, h.hour, h.scheme, h.share, h.wholesale_per_kwh, h.requested_kwh, h.cleared_kwh,
                h.auction_kwh, h.delivered_kwh, h.welfare, h.welfare_per_kwh, h.surplus, h.surplus_per_kwh, h.budget,
                h.reward_each, h.uniform_price_per_kwh, h.ir_violations, h.better_than_uniform) for h in result.hours))
    write_csv(out / "prices.csv", ("day", "hour", "scheme", "peer", "side", "energy_kwh", "price_per_kwh"),
              ((p.day, p.hour, p.scheme, p.peer, p.side, p.energy_kwh, p.price_per_kwh) for p in result.prices))
    write_csv(out / "bids.csv", ("day", "hour", "peer", "side", "apparatus", "energy_kwh", "price_per_kwh"),
              ((d, hb.hour, b.peer, b.side, b.apparatus, b.energy_kwh, b.price_per_kwh)
               for d, hb in result.bids for b in hb.bids))
    rows = []
    for scheme in TABLE_ROWS:
        ours = table_ii(tuple(r for r in result.rows(scheme) if r.day == 0))
        paper = PAPER_TABLE_II[scheme]
        for unit, o, p in (("$", ours[0], paper[0]), ("$/kWh", ours[1], paper[1])):
            rows.append((scheme, unit, *o, *p))
    write_csv(out / "table2.csv", ("scheme", "unit", "min", "max", "average", "daily_total", "paper_min",
                                   "paper_max", "paper_average", "paper_daily_total"), rows)
    write_csv(out / "claims.csv", ("claim", "paper", "ours", "holds", "why"),
              ((c.key, c.paper, c.ours, "" if c.holds is None else c.holds, c.why) for c in claims(result)))
    plain, backed, used = fund_balances(result)
    vcg = result.rows("vcg")
    write_csv(out / "fund.csv", ("day", "hour", "vcg_surplus", "fund_unbounded", "fund_paying_what_it_holds", "rule"),
              ((r.day, r.hour, r.surplus, a, b, u) for r, a, b, u in zip(vcg, plain, backed, used, strict=True)))


def _figures(result: StudyResult, out: Path) -> None:
    plt = pyplot()
    tariff = result.config.tariff
    day0 = [hb for d, hb in result.bids if d == 0]
    hours = np.array([hb.hour for hb in day0]) + 1
    lam = np.array([hb.wholesale_per_kwh for hb in day0])

    fig, ax = plt.subplots(figsize=(9, 4))
    for app, side, style in (("PL", "buy", "-"), ("CL", "buy", "--"), ("EV", "buy", ":"), ("ES", "buy", "-."),
                             ("PV", "sell", "-"), ("G", "sell", "--"), ("ES", "sell", ":")):
        e = [sum(b.energy_kwh for b in hb.bids if b.apparatus == app and b.side == side) for hb in day0]
        if any(e):
            ax.plot(hours, e, style, label=f"{app} {'demand' if side == 'buy' else 'supply'} bid")
    ax.set(xlabel="hour", ylabel="kWh per hour (after behind-the-meter PV)",
           title=f"Bids by apparatus, day 0 ({result.profile_source} profiles)")
    twin = ax.twinx()
    twin.plot(hours, lam, "k", lw=2, label="wholesale price (right)")
    twin.set_ylabel("tokens/kWh")
    ax.legend(fontsize=7, loc="upper left")
    twin.legend(fontsize=7, loc="upper right")
    save(fig, out / "fig5_profiles.png")

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for ax, scheme in zip(axes, ("vcg", "balanced_budget"), strict=True):
        ax.axhline(tariff.feed_in_per_kwh, color="grey", ls="--", label="feed-in (sell)")
        ax.axhline(tariff.retail_per_kwh, color="grey", ls=":", label="retail (buy)")
        ax.plot(hours, lam - tariff.wholesale_fee_per_kwh, "c-", label="wholesale − fee (sell)")
        ax.plot(hours, lam + tariff.wholesale_fee_per_kwh, "b-", label="wholesale + fee (buy)")
        uni = [r.uniform_price_per_kwh for r in result.rows("uniform") if r.day == 0]
        ax.plot(hours, uni, "k-o", ms=3, label="P2P uniform")
        for side, marker, colour in (("sell", "^", "tab:green"), ("buy", "v", "tab:red")):
            pts = [(p.hour + 1, p.price_per_kwh) for p in result.prices
                   if p.day == 0 and p.scheme == scheme and p.side == side]
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.scatter(xs, ys, marker=marker, s=14, alpha=0.6, color=colour,
                           label=f"{LABEL[scheme][6:]}: {'seller receives' if side == 'sell' else 'buyer pays'}")
        ax.set(xlabel="hour", title=f"Prices per kWh, {LABEL[scheme]} (day 0)")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("tokens/kWh")
    save(fig, out / "fig8_prices.png")

    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(hours, [r.requested_kwh for r in result.rows("feed_in") if r.day == 0], "k--", label="requested (all bids)")
    for scheme, label in (("feed_in", LABEL["feed_in"]), ("wholesale", LABEL["wholesale"]),
                          ("uniform", "3-5 P2P auction + tariffs for the rest")):
        ax.plot(hours, [r.cleared_kwh for r in result.rows(scheme) if r.day == 0], "-o", ms=3, label=label)
    ax.plot(hours, [r.auction_kwh for r in result.rows("uniform") if r.day == 0], ":", label="3-5 P2P auction alone")
    ax.set(xlabel="hour", ylabel="kWh (sell + buy blocks executed)", title="Cleared vs requested energy (day 0)")
    ax.legend(fontsize=8)
    save(fig, out / "fig9_energy.png")

    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for scheme in SCHEMES:
        rows = [r for r in result.rows(scheme) if r.day == 0]
        axes[0].plot(hours, [r.welfare for r in rows], "-o", ms=3, label=LABEL[scheme])
        axes[1].plot(hours, [r.welfare_per_kwh for r in rows], "-o", ms=3, label=LABEL[scheme])
    once = axes[1].plot(hours, [r.welfare_per_delivered_kwh for r in result.rows("uniform") if r.day == 0], "g--",
                        label="3-5 P2P per kWh delivered (a trade counted once)")
    axes[1].set_ylim(bottom=-0.02)  # room for the legend below the lines
    axes[1].legend(handles=once, fontsize=7, loc="lower left")  # colours as on the left
    axes[0].set(xlabel="hour", ylabel="tokens", title="Participants' social welfare (day 0)")
    axes[1].set(xlabel="hour", ylabel="tokens per cleared kWh", title="Normalised social welfare (day 0)")
    axes[0].legend(fontsize=8)
    save(fig, out / "fig10_welfare.png")

    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for scheme in TABLE_ROWS:
        rows = [r for r in result.rows(scheme) if r.day == 0]
        axes[0].plot(hours, [r.surplus for r in rows], "-o", ms=3, label=LABEL[scheme])
        axes[1].plot(hours, [r.surplus_per_kwh for r in rows], "-o", ms=3, label=LABEL[scheme])
    for ax, unit in zip(axes, ("tokens", "tokens per kWh of the market's cleared blocks"), strict=True):
        ax.axhline(0, color="grey", lw=0.8)
        ax.set(xlabel="hour", ylabel=unit, title=f"Market surplus (+) / deficiency (−), X = {result.config.share}")
        ax.legend(fontsize=8)
    save(fig, out / "fig11_surplus.png")

    plain, backed, _ = fund_balances(result)
    n = len(plain)
    fig, ax = plt.subplots(figsize=(9, 4))
    t = (np.arange(n) + 1) / result.config.hours
    ax.plot(t, plain, label="VCG every hour (unbounded fund)")
    ax.plot(t, backed, label="the fund pays what it holds: balanced budget where it cannot cover the deficit")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(xlabel="days", ylabel="tokens", title=f"Market fund balance over {result.config.days} day(s)")
    ax.legend(fontsize=8)
    save(fig, out / "fund.png")


def _fmt(values: tuple[float, ...]) -> str:
    return " / ".join(f"{v:.4g}" for v in values)


def _html(result: StudyResult, out: Path, runtime_s: float) -> str:
    c = result.config
    cl = claims(result)
    verdict = {None: "—", True: '<b class="yes">holds</b>', False: '<b class="no">does not hold</b>'}
    claim_rows = [(html.escape(x.key), html.escape(x.paper), html.escape(x.ours), verdict[x.holds],
                   html.escape(x.why)) for x in cl]
    t2 = []
    for scheme in TABLE_ROWS:
        ours = table_ii(tuple(r for r in result.rows(scheme) if r.day == 0))
        paper = PAPER_TABLE_II[scheme]
        t2.append((LABEL[scheme], "$", _fmt(paper[0]), _fmt(ours[0])))
        t2.append((LABEL[scheme], "$/kWh", _fmt(paper[1]), _fmt(ours[1])))
    days = daily_totals(result, "vcg")
    plain, backed, used = fund_balances(result)

    def fig(name: str, paper: str, differ: str) -> str:
        return (f'<div class="fig"><img src="{name}" alt="{name}"><div><p><b>Paper:</b> {paper}</p>'
                f"<p><b>Here, and why it differs:</b> {differ}</p></div></div>")

    by = {x.key: x for x in cl}
    day_list = ", ".join(f"{d:.1f}" for d in days[:14]) + (" ..." if len(days) > 14 else "")
    profile_text = ("SimBench's measured 2016 household and PV profiles, from 1 June" if "simbench" in
                    result.profile_source else "the project's synthetic household and PV shapes; install the "
                    "<code>profiles</code> extra for SimBench's measured ones")
    body = f"""
<p>Seed 001 (AlAshery et al. 2021) §IV: 20 peers with Table I's apparatus, {c.hours} hourly auctions a day over
{c.days} day(s), seed {c.seed}, five trading schemes (Fig. 7), X<sup>A</sup> = X<sup>M</sup> = {c.share}, wholesale fee
{c.tariff.wholesale_fee_per_kwh}, feed-in {c.tariff.feed_in_per_kwh} / retail {c.tariff.retail_per_kwh} tokens per kWh.
Clearing time {runtime_s:.1f} s (the figures take a few seconds more).</p>
<p><b>Data.</b> The paper's GECAD profiles, costs and wholesale prices are not published with it. Loads and PV here:
<b>{html.escape(result.profile_source)}</b> profiles ({profile_text}), each peer a building of
{peers.HOUSEHOLDS_PER_PEER:g} households; the wholesale price is a <b>documented synthetic series</b>
(an Iberian-like day-ahead shape, 0.035-0.075 per kWh; no measured series ships with the project's packages).
Costs, valuations and sizes are ours: docs/studies.md lists every model and its constants. So numbers can only
agree in order of magnitude; the claims are what we check.</p>
<h2>Paper vs here: the claims</h2>
{html_table(("claim", "paper", "here", "verdict", "why they differ / why it holds"), claim_rows, raw=True)}
<h2>Table II (day 0): market surplus/deficiency, min / max / average / daily total</h2>
{html_table(("scheme", "unit", "paper", "here"), t2)}
<p>Normalised = per kWh of the market's executed blocks (sell and buy sides: the wholesale market's fee is then
exactly {c.tariff.wholesale_fee_per_kwh}/kWh, as in the paper); its daily total is the sum of the hourly values, as the
paper's 0.6 = 24 × 0.025 shows. VCG daily totals, per day: {day_list}.
</p>
<h2>Figures</h2>
{fig("fig5_profiles.png", "Fig. 5: aggregated load, renewable generation and wholesale price for one day (GECAD).",
     "our bids by apparatus after each peer's PV has served its own load, and the synthetic wholesale price.")}
{fig("fig8_prices.png", "Fig. 8: P2P prices are 'most often very competitive and more favorable than those of the "
     "wholesale market'; every cleared bid gets a price better than its own; some participants do better under VCG "
     "than uniform; BB prices are not the best for participants.",
     html.escape(f"{by['p2p_prices_favourable'].ours}; VCG better than uniform: {by['vcg_better_than_uniform'].ours}; "
                 f"individual rationality: {by['individually_rational'].ours}. {by['individually_rational'].why}"))}
{fig("fig9_energy.png", "Fig. 9: the P2P market clears more energy than feed-in alone and than wholesale + feed-in; "
     "the three pricing rules clear the same energy (the WDP does not depend on the pricing).",
     html.escape(f"{by['p2p_clears_more'].ours}. The three rules share one allocation by construction. "
                 "P2P includes the grid trades of uncleared blocks (§III-D); the dotted line is the auction alone."))}
{fig("fig10_welfare.png", "Fig. 10: higher (normalised) welfare in the P2P market; VCG >= BB every hour; uniform "
     "the highest unless VCG runs a deficit.",
     html.escape(f"welfare: {by['p2p_welfare_higher'].ours}. {by['p2p_welfare_higher'].why}. Per kWh: "
                 f"{by['p2p_normalised_welfare_higher'].ours}: {by['p2p_normalised_welfare_higher'].why}. "
                 f"VCG >= BB: {by['vcg_welfare_ge_bb'].ours}."))}
{fig("fig11_surplus.png", "Fig. 11 / Table II: wholesale surplus 5.7-13.5 (0.025/kWh); VCG -31.9 to +38.8, daily "
     "+52.7; BB 0 to 42.3, daily 212.8.",
     html.escape(f"{by['vcg_deficit_hours'].ours}. {by['vcg_deficit_hours'].why}. BB: {by['bb_never_deficit'].ours}. "
                 f"{by['bb_never_deficit'].why}"))}
{fig("fund.png", "'accumulating the market surpluses/deficiencies over time'; the same conclusion (VCG daily surplus) "
     "for all other simulated days.",
     html.escape(f"fund after {c.days} day(s): {plain[-1]:.2f} with VCG every hour (an unbounded fund); "
                 f"{backed[-1]:.2f} when it pays only what it holds, with the balanced-budget fallback (SEED-NOTES "
                 f"§8), used in {used.count('balanced_budget')} of {len(used)} hours. Both by the platform's own "
                 "fund rule (settlement/fund.py, in micro-tokens), which also re-prices an hour whose VCG "
                 "payments with rewards are not individually rational."))}
<h2>Data files</h2><p>{" ".join(f'<a href="{n}">{n}</a>' for n in CSVS)}</p>
"""
    return page("Study alashery-2021: seed 001 §IV, five trading schemes", body)


def write_report(result: StudyResult, out: Path, runtime_s: float) -> Path:
    """Write the CSVs, the figures and ``index.html`` into ``out``; returns the index path."""
    writers = [
        lambda o: _csvs(result, o),
        lambda o: _figures(result, o),
    ]
    return write_files(out, writers, lambda: _html(result, out, runtime_s))
