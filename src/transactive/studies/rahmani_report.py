"""The claims and report of ``transactive study rahmani-negawatt``: CSVs, PNGs and ``index.html``.

Files: ``cases.csv`` (each worked case's offers, taken kWh and VCG payments), ``runs.csv`` (every seed × market
size under VCG, pay-as-bid and the flat payment), ``claims.csv`` (paper vs here); figures :data:`FIGURES`.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import fields
from itertools import pairwise
from pathlib import Path

import numpy as np

from transactive.studies._report import Claim, html_table, page, pyplot, save, write_csv, write_files
from transactive.studies.rahmani_negawatt import CASES, SHADING_FACTORS, TOL, Run, StudyResult

FIGURES = ("cases.png", "sweep_payments.png")
CSVS = ("cases.csv", "runs.csv", "claims.csv")
RUN_FIELDS = (*(f.name for f in fields(Run)), "premium")


def _frac(hit: int, total: int) -> str:
    return f"{hit} of {total}"


def _count(runs: list[Run], test: Callable[[Run], bool]) -> tuple[int, int]:
    return sum(1 for r in runs if test(r)), len(runs)


def premium_steps(result: StudyResult) -> tuple[int, int]:
    """Pairs (same seed, consecutive market sizes) where VCG's premium over cost does not rise as offers are
    added: (holds, pairs)."""
    by = {(r.seed, r.n_offers): r for r in result.runs}
    sizes = result.config.n_offers
    pairs = [(by[(s, a)], by[(s, b)]) for s in {r.seed for r in result.runs} for a, b in pairwise(sizes)]
    return sum(1 for a, b in pairs if b.premium <= a.premium + TOL), len(pairs)


def claims(result: StudyResult) -> list[Claim]:
    """The slides' claims and worked numbers with ours (counts over the sweep's markets)."""
    out = []
    for case, got in zip(CASES, result.cases, strict=True):
        pays = ", ".join(f"{i} {x:g} kWh paid {p:g}"
                         for i, x, p in zip(got.ids, got.taken_kwh, got.payment, strict=True) if x > 0)
        out.append(Claim(case.name, case.paper, f"{pays}; cost {got.cost:g}; total paid {got.total_payment:g}",
                         None, f"SEED-NOTES §1: {case.canonical}"))
    runs = list(result.runs)
    hit, n = _count(runs, lambda r: r.vcg_payment >= r.vcg_chosen_cost - TOL)
    out.append(Claim("vcg_covers_cost", "VCG pays the winners at least the cost of the chosen offers",
                     f"Σ pay ≥ Σ x_i b_i in {_frac(hit, n)} markets; mean premium "
                     f"{100 * statistics.fmean(r.premium for r in runs):.0f} %", _frac(hit, n),
                     "each Clarke pivot is the residual curve's cost of the winner's kWh, at prices ≥ its ask"))
    hit, n = _count(runs, lambda r: r.ir_violations == 0)
    out.append(Claim("individual_rationality", "no participant loses by taking part (VCG, 'fair rewards')",
                     f"no winner paid below its ask in {_frac(hit, n)} markets "
                     f"({sum(r.ir_violations for r in runs)} winners in all)", _frac(hit, n),
                     "the canonical 'competes' fallback; 'shortfall_only' can break it (SEED-NOTES §1)"))
    hit, n = premium_steps(result)
    means = ", ".join(f"{k}: {100 * statistics.fmean(r.premium for r in result.at(k)):.0f} %"
                      for k in result.config.n_offers)
    out.append(Claim("premium_falls", "payments fall toward cost as competition grows (the slides discuss it, "
                     "no table)", f"premium not higher with more offers in {_frac(hit, n)} steps (same seed, "
                     f"offers added); mean premium by offers {means}", _frac(hit, n),
                     "more offers make each winner's residual curve cheaper; a step can rise when an added offer "
                     "is cheaper than the winners' average ask: it lowers their cost more than their payments, "
                     "which the offers left out still set"))
    hit, n = _count(runs, lambda r: r.vcg_social_cost <= r.flat_social_cost + TOL)
    strict, _ = _count(runs, lambda r: r.vcg_social_cost < r.flat_social_cost - TOL)
    out.append(Claim("lower_social_cost", "lower social cost than the flat payment ('simulation shows lower "
                     "social cost')", f"VCG ≤ flat in {_frac(hit, n)} markets, strictly lower in {strict}",
                     _frac(hit, n), "the knapsack takes the cheapest kWh; the flat rule takes the largest offers "
                     "whatever they cost (equal when every accepting offer is needed)"))
    hit, n = _count(runs, lambda r: r.vcg_paid <= r.flat_paid + TOL)
    strict, _ = _count(runs, lambda r: r.vcg_paid < r.flat_paid - TOL)
    ratio = statistics.fmean(r.vcg_paid / r.flat_paid for r in runs)
    out.append(Claim("shop_saves", "the shop saved tokens compared to before (a flat payment)",
                     f"VCG's outlay ≤ flat's (r per kWh) in {_frac(hit, n)} markets, strictly in {strict}; mean "
                     f"ratio {ratio:.2f}", _frac(hit, n),
                     "a VCG payment never exceeds r per kWh with the competing fallback; equal when few offers "
                     "leave the fallback setting every pivot"))
    checked = [r for r in runs if not np.isnan(r.shading_gain_vcg)]
    hit, n = _count(checked, lambda r: r.shading_gain_vcg <= TOL)
    pab, _ = _count(checked, lambda r: r.shading_gain_pay_as_bid > TOL)
    factors = ", ".join(f"{f:g}" for f in SHADING_FACTORS)
    out.append(Claim("truthful", "truthful offers led to best results (VCG is truthful)",
                     f"no offer gains by asking its cost × {{{factors}}} in {_frac(hit, n)} markets; under "
                     f"pay-as-bid some offer gains in {pab}", _frac(hit, n),
                     "VCG's payment does not depend on the winner's own ask; pay-as-bid rewards raising it"))
    return out


def _csvs(result: StudyResult, out: Path) -> None:
    write_csv(out / "cases.csv", ("case", "id", "offered_kwh", "ask_per_kwh", "target_kwh", "reserve_per_kwh",
                                  "fallback", "taken_kwh", "payment"),
              ((c.name, i, e, p, c.target_kwh, "" if c.reserve_price_per_kwh is None else c.reserve_price_per_kwh,
                c.fallback, x, pay)
               for c, got in zip(CASES, result.cases, strict=True)
               for i, e, p, x, pay in zip(c.ids, c.energy_kwh, c.price_per_kwh, got.taken_kwh, got.payment,
                                          strict=True)))
    write_csv(out / "runs.csv", RUN_FIELDS, ([getattr(r, f) for f in RUN_FIELDS] for r in result.runs))
    write_csv(out / "claims.csv", ("claim", "paper", "ours", "holds", "why"),
              ((c.key, c.paper, c.ours, c.holds or "", c.why) for c in claims(result)))


def _cases_figure(result: StudyResult, out: Path) -> None:
    plt = pyplot()
    fig, grid = plt.subplots(2, (len(CASES) + 1) // 2, figsize=(11, 6), squeeze=False)
    axes = list(grid.flat)
    for ax, case, got in zip(axes, CASES, result.cases, strict=False):
        x = np.arange(len(case.ids))
        cost = np.array(got.taken_kwh) * np.array(case.price_per_kwh)
        ax.bar(x - 0.2, cost, 0.4, label="cost of taken kWh (ask)")
        ax.bar(x + 0.2, got.payment, 0.4, label="VCG payment")
        ax.set_xticks(x, case.ids, fontsize=7)
        ax.set_title(f"{case.name}\nT={case.target_kwh:g}, r={case.reserve_price_per_kwh}", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in grid[:, 0]:
        ax.set_ylabel("tokens")
    axes[0].legend(fontsize=7)
    fig.suptitle("Seed 000's worked cases through knapsack_vcg", fontsize=10)
    save(fig, out / "cases.png")


def _sweep_figure(result: StudyResult, out: Path) -> None:
    plt = pyplot()
    c = result.config
    sizes = c.n_offers
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    series: tuple[tuple[str, Callable[[Run], float], str], ...] = (
        ("VCG: aggregator pays", lambda r: r.vcg_paid, "-o"),
        ("pay-as-bid (= cost of VCG's choice)", lambda r: r.pay_as_bid_paid, "-s"),
        ("flat payment r per kWh", lambda r: r.flat_paid, "-^"),
        ("social cost, flat rule's choice", lambda r: r.flat_social_cost, "--^"))
    for label, value, style in series:
        ax.plot(sizes, [statistics.fmean(value(r) / c.target_kwh for r in result.at(k)) for k in sizes], style,
                label=label)
    ax.set(xlabel="offers", ylabel="tokens per kWh of T (mean over seeds)",
           title=f"T = {c.target_kwh:g} kWh, r = {c.reserve_price_per_kwh:g}")
    ax.legend(fontsize=7)
    for a in (ax, bx):
        a.set_xscale("log")
        a.set_xticks(sizes, [str(k) for k in sizes])
        a.minorticks_off()
    prem = [np.array([100 * r.premium for r in result.at(k)]) for k in sizes]
    bx.errorbar(sizes, [p.mean() for p in prem], yerr=[p.std() for p in prem], fmt="-o", capsize=3)
    bx.set(xlabel="offers", ylabel="%", title="VCG payment over the winners' cost (mean ± s.d.)")
    bx.axhline(0, color="k", lw=0.5)
    fig.suptitle(f"Negawatt reverse auction as offers grow: {c.seeds} seeds from {c.seed}", fontsize=10)
    save(fig, out / "sweep_payments.png")


def _html(result: StudyResult, runtime_s: float) -> str:
    c = result.config
    rows = [(x.key, x.paper, x.ours, x.holds or "—", x.why) for x in claims(result)]

    def fig(name: str, text: str) -> str:
        return f'<div class="fig"><img src="{name}" alt="{name}"><div><p>{text}</p></div></div>'

    body = f"""
<p>Seed 000 (Rahmani, negawatt reverse auction, SEED-NOTES §1): the worked cases cleared by the library's
<code>knapsack_vcg</code>, then {c.seeds} seeds from {c.seed} of random truthful offers (energy 5-45 kWh, ask 1-6
tokens/kWh), markets of {", ".join(map(str, c.n_offers))} offers (the first n of one draw per seed), target
T = {c.target_kwh:g} kWh, reserve r = {c.reserve_price_per_kwh:g} tokens/kWh: VCG against pay-as-bid (the same
allocation, each paid its ask) and a flat payment (<code>dra_fixed_price</code> at r on the offers asking at
most r; any shortfall from the fallback at r). The run took {runtime_s:.1f} s.</p>
<p>The slides print the worked cases only; the sweep counts how often each of their claims holds.</p>
<h2>Paper vs here</h2>
{html_table(("claim", "paper", "here", "holds", "why"), rows)}
<h2>Figures</h2>
{fig("cases.png", "Each worked case: the cost of each winner's taken kWh at its ask against its VCG payment.")}
{fig("sweep_payments.png", "Left: what the aggregator pays per kWh under each rule, and the flat rule's social "
     "cost (VCG's social cost is the pay-as-bid line). Right: VCG's premium over the winners' cost.")}
<h2>Data files</h2><p>{" ".join(f'<a href="{n}">{n}</a>' for n in CSVS)}</p>
"""
    return page("Study rahmani-negawatt: seed 000, fractional knapsack + VCG against a flat payment", body)


def write_report(result: StudyResult, out: Path, runtime_s: float) -> Path:
    """Write the CSVs, the figures and ``index.html`` into ``out``; returns the index path."""
    writers = [
        lambda o: _csvs(result, o),
        lambda o: _cases_figure(result, o),
        lambda o: _sweep_figure(result, o),
    ]
    return write_files(out, writers, lambda: _html(result, runtime_s))
