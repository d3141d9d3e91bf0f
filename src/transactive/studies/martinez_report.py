"""The report of ``transactive study martinez-trejo-2022``: CSV data, PNG figures and ``index.html``.

Files: ``runs.csv`` (every size × behaviour × seed × auction), ``participants.csv`` (each participant of the
examples at the first seed: offered, auction and matched energy, bill or income, welfare), ``claims.csv``,
``timing.csv`` (wall-clock seconds, not deterministic); figures :data:`FIGURES`. Figures of the thesis's
shape put the non-cooperative case in panel (a) and the cooperative one in (b), as the thesis does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from transactive.grid.distance import distance_oracle
from transactive.grid.feeder import load_feeder
from transactive.studies._report import html_table, page, pyplot, save, write_csv, write_files
from transactive.studies.martinez_2022 import AUCTIONS, StudyResult
from transactive.studies.martinez_claims import THESIS_SECONDS_P55, claims, sweep_means, timing

FIGURES = ("fig3_13_15_curves.png", "fig3_16_traders.png", "fig3_17_unsold.png", "fig3_18_per_seller.png",
           "fig3_19_cumulative.png", "fig3_20_price.png", "fig4_7_distances.png", "fig4_8_10_distance.png",
           "fig4_11_12_participants_trades.png", "fig4_13_15_costs.png", "fig4_16_17_participants.png",
           "fig4_18_time.png", "welfare.png", "sweep_distance_pref.png")
CSVS = ("runs.csv", "participants.csv", "claims.csv", "timing.csv", "sweep.csv")
RUN_FIELDS = ("size", "behaviour", "seed", "auction", "n_sellers", "n_buyers", "offered_kwh", "demanded_kwh",
              "price_per_kwh", "case", "chosen_sellers", "chosen_buyers", "sold_kwh", "bought_kwh", "unsold_kwh",
              "per_seller_unsold_kwh", "unserved_kwh", "excess_kwh", "matched_kwh", "trades", "mean_distance_m",
              "mean_charge", "min_charge", "max_charge", "total_charge", "seller_welfare", "buyer_welfare",
              "ir_violations")
PANELS = (("non_cooperative", "a) without cooperation"), ("cooperative", "b) with cooperation"))
NAME = {"dpda": "DPDA", "mcafee": "DAM (McAfee)"}
EXAMPLES = (("P-30", "non_cooperative", "Fig. 4.16"), ("P-50", "cooperative", "Fig. 4.17"))


def _participants(result: StudyResult) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for (size, behaviour, auction), out in sorted(result.examples.items()):
        m, sc = out.matched, out.scenario
        assert m.auction is not None
        for side, orders, alloc, matched, money, welfare in (
                ("seller", sc.sellers, m.auction.sellers, m.seller_energy_kwh, m.seller_income, m.seller_welfare),
                ("buyer", sc.buyers, m.auction.buyers, m.buyer_energy_kwh, m.buyer_bill, m.buyer_welfare)):
            for k, pid in enumerate(orders.ids):
                rows.append((size, behaviour, auction, side, pid, str(orders.attributes["bus"][k]),
                             float(orders.energy_kwh[k]), float(orders.price_per_kwh[k]),
                             float(alloc.energy_kwh[k]), float(matched[k]), float(money[k]), float(welfare[k])))
    return rows


def _csvs(result: StudyResult, out: Path) -> None:
    write_csv(out / "runs.csv", RUN_FIELDS,
              ([("" if getattr(r, f) is None else getattr(r, f)) for f in RUN_FIELDS] for r in result.runs))
    write_csv(out / "participants.csv", ("size", "behaviour", "auction", "side", "id", "bus", "offered_kwh",
                                         "price_per_kwh", "auction_kwh", "matched_kwh", "bill_or_income",
                                         "welfare"), _participants(result))
    write_csv(out / "claims.csv", ("claim", "paper", "ours", "holds", "why"),
              ((c.key, c.paper, c.ours, c.holds or "", c.why) for c in claims(result)))
    write_csv(out / "sweep.csv", ("size", "distance_pref_m", "seed", "auction", "trades", "mean_distance_m",
                                  "within_pref", "total_charge"),
              ((result.sweep_size, r.distance_pref_m, r.seed, r.auction, r.trades, r.mean_distance_m, r.within_pref,
                r.total_charge) for r in result.sweep))
    write_csv(out / "timing.csv", ("size", "behaviour", "seed", "auction", "seconds"),
              ((r.size, r.behaviour, r.seed, r.auction, s) for r, s in zip(result.runs, result.seconds, strict=True)))


def _stat(result: StudyResult, behaviour: str, auction: str, value: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per size: mean and standard deviation of ``value(run)`` over the seeds (NaN values skipped)."""
    means, sds = [], []
    for size in result.config.sizes:
        v = np.array([value(r) for r in result.select(size=size, behaviour=behaviour, auction=auction)], dtype=float)
        v = v[np.isfinite(v)]
        means.append(v.mean() if v.size else np.nan)
        sds.append(v.std() if v.size else np.nan)
    return np.array(means), np.array(sds)


def _bars(result: StudyResult, path: Path, ylabel: str, title: str, value: Any, *,
          series: tuple[tuple[str, str], ...] | None = None, paper: dict[tuple[str, str], float] | None = None,
          points: bool = False) -> None:
    """Two panels (non-cooperative, cooperative), grouped bars per size (``points``: markers, for values far
    from 0): mean ± s.d. over the seeds."""
    plt = pyplot()
    sizes = result.config.sizes
    series = series or tuple((a, NAME[a]) for a in AUCTIONS)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    x = np.arange(len(sizes))
    width = 0.8 / len(series)
    for ax, (behaviour, label) in zip(axes, PANELS, strict=True):
        for k, (auction, name) in enumerate(series):
            mean, sd = _stat(result, behaviour, auction, value)
            at = x + (k - (len(series) - 1) / 2) * width
            if points:
                ax.errorbar(at, mean, yerr=sd, fmt="o", capsize=3, label=name)
            else:
                ax.bar(at, mean, width, yerr=sd, capsize=2, label=name)
        if paper:
            pts = [(i, paper[(s, behaviour)]) for i, s in enumerate(sizes) if (s, behaviour) in paper]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], "k*", ms=10, label="thesis")
        ax.set_xticks(x, sizes)
        ax.set_title(label, fontsize=10)
        if not points:
            ax.axhline(0, color="k", lw=0.5)
    axes[0].set_ylabel(ylabel)
    axes[1].legend(fontsize=7)
    fig.suptitle(f"{title} (mean ± s.d. over {result.config.seeds} seeds)", fontsize=10)
    save(fig, path)


def _curves(result: StudyResult, out: Path) -> None:
    plt = pyplot()
    sizes = [s for s in result.config.sizes if s != "P-55"] or list(result.config.sizes)
    fig, axes = plt.subplots(2, len(sizes), figsize=(3.2 * len(sizes), 6.4), squeeze=False)
    for row, (behaviour, label) in enumerate(PANELS):
        for col, size in enumerate(sizes):
            ax = axes[row][col]
            o = result.examples[(size, behaviour, "dpda")]
            a = o.matched.auction
            assert a is not None
            for orders, alloc, desc, colour in ((o.scenario.sellers, a.sellers, False, "tab:red"),
                                                (o.scenario.buyers, a.buyers, True, "tab:blue")):
                order = np.argsort(-orders.price_per_kwh if desc else orders.price_per_kwh, kind="stable")
                e = orders.energy_kwh[order]
                p = orders.price_per_kwh[order]
                left = np.concatenate(([0.0], np.cumsum(e)[:-1]))
                for x0, w, price, chosen in zip(left, e, p, alloc.energy_kwh[order] > 0, strict=True):
                    ax.plot([x0, x0 + w], [price, price], color=colour, lw=3 if chosen else 1,
                            alpha=1.0 if chosen else 0.4)
            if a.price_per_kwh is not None:
                ax.axhline(a.price_per_kwh, color="k", ls="--", lw=0.8)
            ax.set_title(f"{size} {label[:2]} case {a.details['case']}", fontsize=9)
            ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("£/kWh (a: non-coop.)")
    axes[1][0].set_ylabel("£/kWh (b: coop.)")
    fig.suptitle(f"Figs. 3.13/3.15: DPDA supply (red) and demand (blue), seed {result.config.seed}; thick = chosen, "
                 "dashed = p0; x: cumulative kWh", fontsize=10)
    save(fig, out / "fig3_13_15_curves.png")


def _cumulative(result: StudyResult, out: Path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    sizes = result.config.sizes
    for ax, (behaviour, label) in zip(axes, PANELS, strict=True):
        for name, auction, value in (("offered by sellers", "dpda", lambda r: r.offered_kwh),
                                     ("asked by buyers", "dpda", lambda r: r.demanded_kwh),
                                     ("sold, DAM", "mcafee", lambda r: r.sold_kwh),
                                     ("sold, DPDA", "dpda", lambda r: r.sold_kwh),
                                     ("bought, DPDA", "dpda", lambda r: r.bought_kwh)):
            mean, _ = _stat(result, behaviour, auction, value)
            ax.plot(sizes, np.cumsum(mean), marker="o", label=name)
        ax.set_title(label, fontsize=10)
    axes[0].set_ylabel("cumulative kWh over the scenarios")
    axes[1].legend(fontsize=7)
    fig.suptitle("Fig. 3.19: cumulative energy to sell and sold (means over seeds)", fontsize=10)
    save(fig, out / "fig3_19_cumulative.png")


def _distances(result: StudyResult, out: Path) -> None:
    plt = pyplot()
    feeder = load_feeder(next(iter(result.examples.values())).scenario.feeder)
    buses = list(feeder.load_buses)
    d = distance_oracle(feeder).between(buses)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    im = ax.imshow(d, cmap="viridis")
    fig.colorbar(im, ax=ax, label="m")
    ax.set(title=f"Fig. 4.7: distance along the feeder between its {len(buses)} load buses",
           xlabel="load bus", ylabel="load bus")
    bx.hist(d[np.triu_indices(len(buses), 1)], bins=30)
    bx.set(xlabel="m", ylabel="bus pairs", title="their distribution")
    save(fig, out / "fig4_7_distances.png")


def _examples(result: StudyResult, out: Path) -> None:
    plt = pyplot()
    shown = [(s, b, f) for s, b, f in EXAMPLES if (s, b, "dpda") in result.examples]
    if not shown:
        shown = [(result.config.sizes[-1], "cooperative", "")]
    fig, axes = plt.subplots(len(shown), 2, figsize=(12, 3.6 * len(shown)), squeeze=False)
    for row, (size, behaviour, figure) in enumerate(shown):
        for col, side in enumerate(("buyer", "seller")):
            ax = axes[row][col]
            ids: list[str] = []
            for k, auction in enumerate(AUCTIONS):
                m = result.examples[(size, behaviour, auction)].matched
                orders = result.examples[(size, behaviour, auction)].scenario
                o = orders.buyers if side == "buyer" else orders.sellers
                money = m.buyer_bill if side == "buyer" else m.seller_income
                ids = list(o.ids)
                ax.bar(np.arange(len(ids)) + (k - 0.5) * 0.4, money, 0.4, label=NAME[auction])
            ax.set_xticks(np.arange(len(ids)), ids, rotation=90, fontsize=6)
            ax.set(ylabel="£ (bill)" if side == "buyer" else "£ (income)",
                   title=f"{figure} {size} {behaviour.replace('_', '-')}, seed {result.config.seed}: {side}s")
            ax.legend(fontsize=7)
    save(fig, out / "fig4_16_17_participants.png")


def _costs(result: StudyResult, out: Path) -> None:
    plt = pyplot()
    sizes = result.config.sizes
    x = np.arange(len(sizes))
    fig, axes = plt.subplots(3, 2, figsize=(11, 9), sharex=True)
    for row, (figure, label, value) in enumerate((
            ("4.13", "average", lambda r: r.mean_charge if r.trades else np.nan),
            ("4.14", "maximum", lambda r: r.max_charge if r.trades else np.nan),
            ("4.15", "minimum", lambda r: r.min_charge if r.trades else np.nan))):
        for col, (behaviour, title) in enumerate(PANELS):
            ax = axes[row][col]
            for k, auction in enumerate(AUCTIONS):
                mean, sd = _stat(result, behaviour, auction, value)
                ax.bar(x + (k - 0.5) * 0.4, mean * 1000, 0.4, yerr=sd * 1000, capsize=2, label=NAME[auction])
            ax.set_title(f"Fig. {figure}: {label} cost per trade, {title}", fontsize=9)
            ax.set_ylabel("grid charge C_d·d, m£")
            ax.set_xticks(x, sizes)
    axes[0][1].legend(fontsize=7)
    save(fig, out / "fig4_13_15_costs.png")


def _time(result: StudyResult, out: Path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for ax, (behaviour, label) in zip(axes, PANELS, strict=True):
        for auction in AUCTIONS:
            pts = [(r.n_sellers + r.n_buyers, s * 1000) for r, s in zip(result.runs, result.seconds, strict=True)
                   if r.behaviour == behaviour and r.auction == auction]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], ".", alpha=0.5, label=NAME[auction])
        ax.plot([55], [THESIS_SECONDS_P55 * 1000], "k*", ms=12, label="thesis, 55 participants")
        ax.set(xlabel="participants", title=label)
    axes[0].set_ylabel("clearing + matching, ms (wall clock)")
    axes[1].legend(fontsize=7)
    fig.suptitle("Fig. 4.18: time against participants", fontsize=10)
    save(fig, out / "fig4_18_time.png")


def _sweep(result: StudyResult, out: Path) -> None:
    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 3.8))
    for auction, style in (("dpda", "-o"), ("mcafee", "--s")):
        means = sweep_means(result, auction)
        ax.plot(list(means), list(means.values()), style, label=NAME[auction])
        within: dict[float, list[float]] = {}
        for r in result.sweep:
            if r.auction == auction and r.trades:
                within.setdefault(r.distance_pref_m, []).append(r.within_pref)
        bx.plot(list(within), [100 * float(np.mean(v)) for v in within.values()], style, label=NAME[auction])
    ax.set(xlabel="distance preference D of every participant, m", ylabel="m", title="mean distance per trade")
    bx.set(xlabel="distance preference D of every participant, m", ylabel="%",
           title="trades no longer than D")
    ax.legend(fontsize=7)
    fig.suptitle(f"§4.5 distance-preference sweep: {result.sweep_size} cooperative, {result.config.seeds} seeds "
                 "(means)", fontsize=10)
    save(fig, out / "sweep_distance_pref.png")


def _figures(result: StudyResult, out: Path) -> None:
    _curves(result, out)
    # two series from one value function: the McAfee runs stand for "all participants" (same scenarios)
    _bars(result, out / "fig3_16_traders.png", "participants", "Fig. 3.16: all participants and DPDA's traders",
          lambda r: r.traders if r.auction == "dpda" else r.n_sellers + r.n_buyers,
          series=(("mcafee", "all participants"), ("dpda", "DPDA traders")))
    _bars(result, out / "fig3_17_unsold.png", "kWh", "Fig. 3.17: energy the chosen sellers cannot trade "
          "(DAM: θ, negative = buyers short; DPDA: total oversupply)",
          lambda r: r.per_seller_unsold_kwh if r.auction == "mcafee" else r.unsold_kwh)
    _bars(result, out / "fig3_18_per_seller.png", "kWh per chosen seller",
          "Fig. 3.18: DPDA's oversupply per chosen seller", lambda r: r.per_seller_unsold_kwh if r.chosen_sellers
          else np.nan, series=(("dpda", "DPDA"),), paper={("P-50", "cooperative"): 3.438})
    _cumulative(result, out)
    _bars(result, out / "fig3_20_price.png", "£/kWh", "Fig. 3.20: settled price p0",
          lambda r: np.nan if r.price_per_kwh is None else r.price_per_kwh,
          paper={("P-50", "cooperative"): 0.199, ("P-50", "non_cooperative"): 0.204}, points=True)
    _distances(result, out)
    _bars(result, out / "fig4_8_10_distance.png", "m", "Figs. 4.8-4.10: average distance per trade",
          lambda r: r.mean_distance_m if r.trades else np.nan)
    _two(result, out)
    _costs(result, out)
    _examples(result, out)
    _time(result, out)
    _bars(result, out / "welfare.png", "£", "Welfare (2.8)+(2.9) of the chosen participants", lambda r: r.welfare)
    if result.sweep:
        _sweep(result, out)


def _two(result: StudyResult, out: Path) -> None:
    plt = pyplot()
    sizes = result.config.sizes
    x = np.arange(len(sizes))
    fig, axes = plt.subplots(2, 2, figsize=(11, 6.5), sharex=True)
    for row, (label, value) in enumerate((("Fig. 4.11: participants trading", lambda r: r.traders),
                                          ("Fig. 4.12: trades", lambda r: r.trades))):
        for col, (behaviour, title) in enumerate(PANELS):
            ax = axes[row][col]
            for k, auction in enumerate(AUCTIONS):
                mean, sd = _stat(result, behaviour, auction, value)
                ax.bar(x + (k - 0.5) * 0.4, mean, 0.4, yerr=sd, capsize=2, label=NAME[auction])
            ax.set_title(f"{label}, {title}", fontsize=9)
            ax.set_xticks(x, sizes)
    axes[0][1].legend(fontsize=7)
    save(fig, out / "fig4_11_12_participants_trades.png")


def _html(result: StudyResult, runtime_s: float) -> str:
    c = result.config
    cl = claims(result)
    t = timing(result)
    rows = [(x.key, x.paper, x.ours, x.holds or "—", x.why) for x in cl + ([t] if t else [])]
    calibration = ("<b>Table 3.2's totals</b> (each side scaled to the table's Σ E(S), Σ E(B); ~31-40 kWh per "
                   "participant; P-55 at the table's mean 38.43 kWh)" if c.calibration == "table" else
                   "<b>the text's 30-200 kWh</b> per participant (the generator's draws unscaled; ~115 kWh each)")

    def fig(name: str, text: str) -> str:
        return f'<div class="fig"><img src="{name}" alt="{name}"><div><p>{text}</p></div></div>'

    body = f"""
<p>Seed 004 (Martinez-Trejo 2022) ch. 3.5 and 4.5: scenarios {", ".join(c.sizes)}, cooperative and non-cooperative
(the generator's paired draws, σ 0.01/0.025 and 0.02/0.045 around £0.2023/kWh), {c.seeds} seeds from {c.seed},
each cleared by DPDA and by McAfee (the thesis's DAM), then matched by score on the IEEE European LV feeder
(C_d = {c.charge_per_km} £/km, no power flow). Energies: {calibration}; the other reading is
<code>--set calibration={"text" if c.calibration == "table" else "table"}</code>. The runs took {runtime_s:.1f} s (the
figures a few seconds more).</p>
<p>The thesis shows <b>one draw</b> per scenario; we count, over {c.seeds} draws, how often each of its statements
holds. "k of n" counts paired runs (same size, seed and, where it applies, behaviour or auction).</p>
<h2>Paper vs here</h2>
{html_table(("claim", "thesis", "here", "holds", "why"), rows)}
<h2>Figures</h2>
{fig("fig3_13_15_curves.png", "Figs. 3.13/3.15: the thesis reports Case 3 for cooperative P-10/20/30 and Case 4 for "
     "P-40/50; see the case rows above for how often our draws agree.")}
{fig("fig3_16_traders.png", "Fig. 3.16: fewer prosumers trade without cooperation. Our paired draw mostly keeps "
     "the same traders (the books sort alike); see noncoop_fewer_traders.")}
{fig("fig3_17_unsold.png", "Fig. 3.17: DAM's θ (negative: the last chosen buyer is short) and DPDA's total "
     "oversupply, which no buyer pays for when clipping leaves an excess (it goes to the DSO).")}
{fig("fig3_18_per_seller.png", "Fig. 3.18: the thesis's 3.438 kWh per seller (P-50 cooperative) is the star.")}
{fig("fig3_19_cumulative.png", "Fig. 3.19: the thesis: DPDA's buyers get all they ask, DAM's sellers fall short "
     "except in cooperative P-10/20/30. Here both auctions sell about the same total (the lines overlap); DAM's "
     "shortfalls fall on single buyers (see dam_buyers_short).")}
{fig("fig3_20_price.png", "Fig. 3.20: stars are the thesis's P-50 prices (£0.199 cooperative, £0.204 not).")}
{fig("fig4_7_distances.png", "Fig. 4.7: distances along the feeder's lines between every pair of load buses.")}
{fig("fig4_8_10_distance.png", "Figs. 4.8-4.10: behaviour does not change the mean distance per trade.")}
{fig("fig4_11_12_participants_trades.png", "Figs. 4.11-4.12: participants trading and trades, DAM against DPDA.")}
{fig("fig4_13_15_costs.png", "Figs. 4.13-4.15: the cost of a trade read as its grid charge C_d·d (the thesis "
     "does not define it). The thesis's 19-63 % reductions are not borne out: see the cost rows.")}
{fig("fig4_16_17_participants.png", "Figs. 4.16-4.17: each buyer's bill and each seller's income (4.6)-(4.7), DAM "
     "against DPDA, for P-30 non-cooperative and P-50 cooperative at the first seed.")}
{fig("fig4_18_time.png", "Fig. 4.18: wall-clock time of one clearing + matching against the thesis's 0.007639 s.")}
{fig("welfare.png", "Welfare (2.8)+(2.9) of the chosen participants at p0 (the thesis gives no numbers).")}
{fig("sweep_distance_pref.png", "§4.5 varies the distance preference but prints no result. Here every "
     "participant gets the same D: see the distance_preference row.")}
<h2>Data files</h2><p>{" ".join(f'<a href="{n}">{n}</a>' for n in CSVS)}</p>
"""
    return page("Study martinez-trejo-2022: seed 004 ch. 3-4, DPDA against DAM on the LV feeder", body)


def write_report(result: StudyResult, out: Path, runtime_s: float) -> Path:
    """Write the CSVs, the figures and ``index.html`` into ``out``; returns the index path."""
    writers = [
        lambda o: _csvs(result, o),
        lambda o: _figures(result, o),
    ]
    return write_files(out, writers, lambda: _html(result, runtime_s))

