"""The claims and report of ``transactive study jing-2021``: CSVs, PNGs and ``index.html``.

Files: ``cases.csv`` (each worked case per building: traded kWh, balance after), ``runs.csv`` (every seed ×
request under Type I, Type II faithful and excluding sellers above the MCP, and cheapest first),
``claims.csv`` (paper vs here); figures :data:`FIGURES`.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

import numpy as np

from transactive.studies._report import Claim, html_table, page, pyplot, save, write_csv, write_files
from transactive.studies.jing_2021 import TOL, Outcome, Run, StudyResult

FIGURES = ("cases.png", "sweep_prices.png")
CSVS = ("cases.csv", "runs.csv", "claims.csv")
RULES = (("type_1", "Type I (DRA, fixed price)"), ("type_2", "Type II (P2P, MCP)"),
         ("type_2_exclude", "Type II, sellers above MCP excluded"), ("cheapest", "cheapest first (competitive)"))
OUTCOME_FIELDS = tuple(f.name for f in fields(Outcome))
PAPER_BALANCES: dict[str, dict[str, float]] = {  # Tables II and IV: balance after, per building
    "type_1_table_2": {"b1": 500, "b2": 900, "b3": 880, "b4": 500, "b5": 720},
    "type_2_tables_3_4": {"b1": 600, "b2": 932.17, "b3": 600, "b4": 600, "b5": 849.13, "b6": 600, "b7": 18.70},
}


def _frac(hit: int, total: int) -> str:
    return f"{hit} of {total}"


def _count(runs: list[Run], test: Callable[[Run], bool]) -> tuple[int, int]:
    return sum(1 for r in runs if test(r)), len(runs)


def _rule(run: Run, rule: str) -> Outcome:
    out: Outcome = getattr(run, rule)
    return out


def _case_claims(result: StudyResult) -> list[Claim]:
    out = []
    for case in result.cases:
        ours = ", ".join(f"{i} {b:.2f}" for i, b in zip(case.ids, case.balance_after, strict=True))
        price = "—" if case.price_per_kwh is None else f"{case.price_per_kwh:.4f}"
        paper = PAPER_BALANCES.get(case.name)
        if paper is None:
            out.append(Claim(case.name, "(not in the paper: SEED-NOTES §6's option)",
                             f"price {price}; balances {ours}", None,
                             "b1 (β 20) and b4 (β 15) are above the MCP but sell nothing in the faithful run either"))
            continue
        hits = sum(1 for i, b in zip(case.ids, case.balance_after, strict=True) if abs(b - paper[i]) < 0.005)
        text = ", ".join(f"{i} {b:g}" for i, b in paper.items())
        extra = ("unsold b1 10, b4 5, b5 3; DRA pays 1000" if case.mechanism == "dra_fixed_price"
                 else "MCP 8.30; b6 unmet 50; b7 pays 581.30")
        out.append(Claim(case.name, f"balances {text}; {extra}",
                         f"price {price}; balances {ours}; unsold {list(case.unsold_kwh)}; unmet "
                         f"{list(case.unmet_kwh)}; paid {case.total_paid:.2f}",
                         _frac(hits, len(paper)), f"through the library's {case.mechanism}"))
    return out


def claims(result: StudyResult) -> list[Claim]:
    """The paper's worked numbers and the sweep's counts."""
    out = _case_claims(result)
    runs = list(result.runs)
    c = result.config
    seeds = sorted({r.seed for r in runs})
    flat = sum(1 for s in seeds if len({r.type_2.price_per_kwh for r in runs if r.seed == s}) == 1)
    first, last = c.requests_kwh[0], c.requests_kwh[-1]

    def mean_price(request: float, rule: str) -> float:
        return statistics.fmean(_rule(r, rule).price_per_kwh or 0.0 for r in result.at(request))

    out.append(Claim("type_2_price_ignores_request", "MCP = Σ β_i kW_i / Σ kW_i over all sellers (eq. 1)",
                     f"the MCP is the same at every request in {_frac(flat, len(seeds))} seeds (mean "
                     f"{mean_price(first, 'type_2'):.2f}); the competitive price rises from "
                     f"{mean_price(first, 'cheapest'):.2f} at {first:g} kW to {mean_price(last, 'cheapest'):.2f} "
                     f"at {last:g} kW", _frac(flat, len(seeds)),
                     "eq. (1) averages every offer, taken or not, so neither network's price answers scarcity"))
    higher = sum(1 for s in seeds if (next(r for r in runs if r.seed == s).type_2.price_per_kwh or 0.0)
                 > c.dra_price_per_kwh)
    out.append(Claim("type_2_above_type_1", f"Type I pays the DRA's price ({c.dra_price_per_kwh:g}); Type II the MCP "
                     "(8.30 in Table III)", f"MCP above the DRA's price in {_frac(higher, len(seeds))} seeds",
                     _frac(higher, len(seeds)), "our β are U(5, 20), mean 12.5; Table III's average is pulled "
                     "down by b5's 50 kW at 5"))
    for rule, label in RULES[:3]:
        hit, n = _count(runs, lambda r: _rule(r, rule).below_ask_sellers > 0)  # noqa: B023 (called at once)
        kwh = statistics.fmean(_rule(r, rule).below_ask_kwh for r in runs)
        out.append(Claim(f"below_ask_{rule}", "a seller asking more than the price can be forced to sell below its "
                         "ask (SEED-NOTES §6; Type I ignores the asks)",
                         f"{label}: some seller paid below its β in {_frac(hit, n)} markets; mean {kwh:.1f} kW so "
                         "sold", _frac(hit, n),
                         "Type I takes the largest offers whatever they cost, Type II sorts by kW·β (dearest "
                         "first); excluding sellers above the MCP removes it"))
    for rule, label in RULES[:3]:
        pairs = [r for r in runs if _rule(r, rule).served_kwh > TOL]
        hit, n = _count(pairs, lambda r: _rule(r, rule).social_cost > _rule(r, rule).least_cost + TOL)  # noqa: B023
        excess = statistics.fmean((_rule(r, rule).social_cost - _rule(r, rule).least_cost) / _rule(r, rule).served_kwh
                                  for r in pairs) if pairs else 0.0
        out.append(Claim(f"social_cost_{rule}", "(the paper does not weigh the cost of the negawatts; future work: "
                         "double auctions taking both sides' offers)",
                         f"{label}: the kW it buys cost more than the cheapest-first cut of the same kW in "
                         f"{_frac(hit, n)} markets that trade; mean excess {excess:.2f} tokens/kW", _frac(hit, n),
                         "neither rule sorts by ask (Type I: largest first; Type II: kW·β descending, the dearest "
                         "large offers first); equal when every offer is needed"))
    out_hit, n = _count(runs, lambda r: r.type_2.served_kwh <= TOL)
    out.append(Claim("type_2_priced_out", "only buyers with OfferPrice ≥ MCP take part (b6 at 5 is left out)",
                     f"the buyer at {c.buyer_price_per_kwh:g} is priced out in {_frac(out_hit, n)} markets", None,
                     "the MCP does not depend on the buyer, so a buyer below it never trades"))
    less, n = _count(runs, lambda r: r.type_2_exclude.served_kwh < r.type_2.served_kwh - TOL)
    out.append(Claim("exclusion_serves_less", "(option, SEED-NOTES §6: exclude sellers above the MCP)",
                     f"serves less than the faithful rule in {_frac(less, n)} markets (mean "
                     f"{statistics.fmean(r.type_2_exclude.served_kwh for r in runs):.0f} against "
                     f"{statistics.fmean(r.type_2.served_kwh for r in runs):.0f} kW)", None,
                     "individual rationality costs the buyer the kW of the excluded sellers"))
    return out


def _csvs(result: StudyResult, out: Path) -> None:
    write_csv(out / "cases.csv", ("case", "mechanism", "id", "price_per_kwh", "traded_kwh", "balance_after"),
              ((c.name, c.mechanism, i, "" if c.price_per_kwh is None else c.price_per_kwh, t, b)
               for c in result.cases for i, t, b in zip(c.ids, c.traded_kwh, c.balance_after, strict=True)))
    head = ("seed", "request_kwh", "capacity_kwh", *(f"{rule}_{f}" for rule, _ in RULES for f in OUTCOME_FIELDS))
    write_csv(out / "runs.csv", head, ((r.seed, r.request_kwh, r.capacity_kwh,
                                        *(("" if v is None else v) for rule, _ in RULES
                                          for v in (getattr(_rule(r, rule), f) for f in OUTCOME_FIELDS)))
                                       for r in result.runs))
    write_csv(out / "claims.csv", ("claim", "paper", "ours", "holds", "why"),
              ((c.key, c.paper, c.ours, c.holds or "", c.why) for c in claims(result)))


def _cases_figure(result: StudyResult, out: Path) -> None:
    plt = pyplot()
    shown = [c for c in result.cases if c.name in PAPER_BALANCES]
    fig, axes = plt.subplots(1, len(shown), figsize=(11, 3.6))
    for ax, case in zip(axes, shown, strict=True):
        x = np.arange(len(case.ids))
        before = 500.0 if case.mechanism == "dra_fixed_price" else 600.0
        ax.bar(x - 0.27, [before] * len(x), 0.27, label="before")
        ax.bar(x, case.balance_after, 0.27, label="after (here)")
        ax.bar(x + 0.27, [PAPER_BALANCES[case.name][i] for i in case.ids], 0.27, label="after (paper)")
        ax.set_xticks(x, case.ids)
        ax.set_title(f"{case.name}: {case.mechanism}", fontsize=9)
    axes[0].set_ylabel("tokens")
    axes[0].legend(fontsize=7)
    fig.suptitle("Seed 003's worked cases: token balances", fontsize=10)
    save(fig, out / "cases.png")


def _sweep_figure(result: StudyResult, out: Path) -> None:
    plt = pyplot()
    req = np.array(result.config.requests_kwh)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))

    def stat(value: Callable[[Run], float]) -> tuple[np.ndarray, np.ndarray]:
        v = [np.array([value(r) for r in result.at(q)], dtype=float) for q in req]
        v = [x[np.isfinite(x)] for x in v]
        return (np.array([x.mean() if x.size else np.nan for x in v]),
                np.array([x.std() if x.size else np.nan for x in v]))

    def price(o: Outcome) -> float:
        return np.nan if o.price_per_kwh is None else o.price_per_kwh

    def excess(o: Outcome) -> float:
        return (o.social_cost - o.least_cost) / o.served_kwh if o.served_kwh > TOL else np.nan

    for colour, (rule, label) in enumerate(RULES):
        style = {"color": f"C{colour}", "label": label}
        if rule != "type_2_exclude":  # the same MCP as the faithful Type II
            m, sd = stat(lambda r: price(_rule(r, rule)))  # noqa: B023 (called at once)
            axes[0].errorbar(req, m, yerr=sd, fmt="-o", capsize=3, **style)
        axes[1].plot(req, stat(lambda r: excess(_rule(r, rule)))[0], "-o", **style)  # noqa: B023
        axes[2].plot(req, stat(lambda r: _rule(r, rule).below_ask_sellers)[0], "-o", **style)  # noqa: B023
    capacity = statistics.fmean(r.capacity_kwh for r in result.runs)
    for ax in axes:
        ax.axvline(capacity, color="k", ls=":", lw=0.8)
        ax.set_xlabel("request, kW (dotted: mean capacity)")
    axes[0].set(ylabel="tokens/kW", title="price paid per kW")
    axes[1].set(ylabel="tokens/kW", title="cost above the cheapest cut of the same kW, per kW")
    axes[2].set(ylabel="sellers", title="sellers paid below their β")
    axes[0].legend(fontsize=7)
    axes[2].legend(fontsize=7)
    c = result.config
    fig.suptitle(f"Type I against Type II as the request grows: {c.buildings} buildings, {c.seeds} seeds from "
                 f"{c.seed} (means)", fontsize=10)
    save(fig, out / "sweep_prices.png")


def _html(result: StudyResult, runtime_s: float) -> str:
    c = result.config
    rows = [(x.key, x.paper, x.ours, x.holds or "—", x.why) for x in claims(result)]

    def fig(name: str, text: str) -> str:
        return f'<div class="fig"><img src="{name}" alt="{name}"><div><p>{text}</p></div></div>'

    body = f"""
<p>Seed 003 (Jing et al. 2021, SEED-NOTES §6): Tables I-IV through the library's <code>dra_fixed_price</code> (Type I)
and <code>p2p_average_price</code> (Type II), then {c.seeds} seeds from {c.seed} of {c.buildings} buildings (capacity
5-50 kW, bid price β 5-20 tokens/kW) with the request growing over {", ".join(f"{q:g}" for q in c.requests_kwh)} kW:
Type I at the DRA's {c.dra_price_per_kwh:g} tokens/kW, Type II with one buyer of the request at
{c.buyer_price_per_kwh:g} tokens/kW (faithful and excluding sellers above the MCP), and the cheapest-first fill
(<code>knapsack_vcg</code>'s allocation) as the competitive benchmark. The run took {runtime_s:.1f} s.</p>
<h2>Paper vs here</h2>
{html_table(("claim", "paper", "here", "holds", "why"), rows)}
<h2>Figures</h2>
{fig("cases.png", "Tables II and IV: balances before, after here, after in the paper.")}
{fig("sweep_prices.png", "Left: price per kW; neither network's price moves with the request, the competitive "
     "price does. Middle: what the kW bought cost beyond the cheapest way to cut as many. Right: sellers paid "
     "less than their β.")}
<h2>Data files</h2><p>{" ".join(f'<a href="{n}">{n}</a>' for n in CSVS)}</p>
"""
    return page("Study jing-2021: seed 003, Type I and Type II negawatt networks", body)


def write_report(result: StudyResult, out: Path, runtime_s: float) -> Path:
    """Write the CSVs, the figures and ``index.html`` into ``out``; returns the index path."""
    writers = [
        lambda o: _csvs(result, o),
        lambda o: _cases_figure(result, o),
        lambda o: _sweep_figure(result, o),
    ]
    return write_files(out, writers, lambda: _html(result, runtime_s))
