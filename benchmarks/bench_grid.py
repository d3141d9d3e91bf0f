"""Grid layer benchmarks: feeder distances, the score matching pipeline, and 10,000 participants.

Run: ``.venv/bin/python benchmarks/bench_grid.py [--quick]``. Prints three tables:

1. distances among the IEEE European LV feeder's 55 load buses after the feeder is loaded (goal <= 50 ms),
   against networkx's all-pairs Dijkstra on the same graph (the baseline);
2. the whole pipeline (DPDA + welfare + scores + greedy matching + quotes) for 55 prosumers against the
   thesis's reported 0.007639 s (C++ chaincode) and against the literal global-argmax loop of (4.5);
3. DPDA + matching for up to 10,000 participants at synthetic positions (goal <= 10 s), against the literal
   loop where it is affordable;
4. the DSO's power-flow check of a slot's listing trades (``check_trades``, CPU ms per check): pandapower on
   its prepared copy of the network (``solver="pandapower"``) and the prepared Newton-Raphson model (the
   default, ``grid/newton.py``) against what every check did before: a fresh deep copy, a generator and a
   load row per trade, ``pandapower.runpp`` (the prepared copy: the same voltages and loadings bit for bit;
   the Newton model: within 1e-6 pu / 1e-3 %-points, docs/grid.md).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import networkx as nx
import numpy as np

from transactive.grid.distance import clear_distance_cache, distance_matrix
from transactive.grid.feeder import load_feeder
from transactive.matching.greedy import match_naive
from transactive.matching.mechanisms import distances_for
from transactive.matching.pipeline import Coordinates, match_orders
from transactive.matching.score import scores
from transactive.matching.welfare import buyer_welfare, seller_welfare
from transactive.mechanisms.dpda import DpdaParams, clear_dpda
from transactive.orders import Orders
from transactive.sim.scenario import generate_scenario

THESIS_55_S = 0.007639


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``repeat`` runs, seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def dpda(s: Orders, b: Orders):  # type: ignore[no-untyped-def]
    return clear_dpda(s, b, DpdaParams())


def bench_distances(repeat: int) -> None:
    feeder = load_feeder()
    loads = list(feeder.load_buses)
    graph = nx.Graph()
    for f, t, w in zip(feeder.from_bus.tolist(), feeder.to_bus.tolist(), feeder.length_m.tolist(), strict=True):
        if not graph.has_edge(f, t) or graph[f][t]["weight"] > w:
            graph.add_edge(f, t, weight=w)
    idx = feeder.index_of(loads)

    def ours() -> None:
        clear_distance_cache()  # cold: a fresh oracle every run
        distance_matrix(feeder, loads)

    def baseline() -> None:
        allp = dict(nx.all_pairs_dijkstra_path_length(graph, weight="weight"))
        [[allp[a][b] for b in idx] for a in idx]

    t_ours = timed(ours, repeat)
    t_base = timed(baseline, max(1, repeat // 5))
    clear_distance_cache()
    distance_matrix(feeder, loads)
    t_warm = timed(lambda: distance_matrix(feeder, loads), repeat)
    print("\n1. Distances among the 55 load buses (feeder loaded; 907 buses)")
    print(f"{'method':<44}{'time (ms)':>12}{'vs ours':>10}")
    print(f"{'ours: contracted graph + scipy Dijkstra, cold':<44}{t_ours * 1e3:>12.2f}{1.0:>10.1f}")
    print(f"{'ours: warm (cached per topology hash)':<44}{t_warm * 1e3:>12.3f}{t_warm / t_ours:>10.3f}")
    print(f"{'networkx all_pairs_dijkstra (baseline)':<44}{t_base * 1e3:>12.2f}{t_base / t_ours:>10.1f}")
    print(f"goal <= 50 ms: {'met' if t_ours <= 0.05 else 'MISSED'}")


def naive_pipeline(sellers: Orders, buyers: Orders, dist: np.ndarray) -> None:
    """DPDA + welfare + the full score matrix + the literal argmax loop (the baseline)."""
    r = dpda(sellers, buyers)
    p0 = r.price_per_kwh
    assert p0 is not None
    e_s, e_b = r.sellers.energy_kwh, r.buyers.energy_kwh
    cs, cb = np.flatnonzero(e_s), np.flatnonzero(e_b)
    sa, ba = sellers.attributes, buyers.attributes
    ws = seller_welfare(p0, e_s[cs], sa["a"][cs], sa["b"][cs], sa["c"][cs])
    wb = buyer_welfare(p0, e_b[cb], ba["omega"][cb], ba["alpha"][cb])
    s = scores(
        buyers.price_per_kwh[cb],
        seller_price_per_kwh=sellers.price_per_kwh[cs],
        distance_m=dist[np.ix_(cb, cs)],
        buyer_pref_m=ba["distance_pref_m"][cb],
        seller_pref_m=sa["distance_pref_m"][cs],
        buyer_welfare=wb,
        seller_welfare=ws,
        charge_per_km=0.002,
    )
    match_naive(s, e_b[cb], e_s[cs])


def bench_pipeline_55(repeat: int) -> None:
    sc = generate_scenario(55, "cooperative", seed=1)
    source = distances_for(sc.sellers, sc.buyers, sc.feeder)  # warm the feeder and the distance cache
    dist = source.block(np.arange(sc.buyers.n), np.arange(sc.sellers.n))
    out = match_orders(sc.sellers, sc.buyers, dpda, source)
    t_ours = timed(lambda: match_orders(sc.sellers, sc.buyers, dpda, source), repeat)
    t_full = timed(lambda: match_orders(sc.sellers, sc.buyers, dpda, distances_for(sc.sellers, sc.buyers, sc.feeder)),
                   repeat)
    t_naive = timed(lambda: naive_pipeline(sc.sellers, sc.buyers, dist), repeat)
    print(f"\n2. Whole pipeline, 55 prosumers on the feeder ({len(out.trades)} trades)")
    print(f"{'method':<52}{'time (ms)':>12}{'ratio':>10}")
    print(f"{'ours (distances precomputed)':<52}{t_ours * 1e3:>12.3f}{1.0:>10.2f}")
    print(f"{'ours incl. bus lookup + cached feeder distances':<52}{t_full * 1e3:>12.3f}{t_full / t_ours:>10.2f}")
    print(f"{'literal loop of (4.5), full matrix, no records':<52}{t_naive * 1e3:>12.3f}{t_naive / t_ours:>10.2f}")
    print(f"{'thesis (C++ chaincode), reported':<52}{THESIS_55_S * 1e3:>12.3f}{THESIS_55_S / t_ours:>10.2f}")


def synthetic(n: int, seed: int) -> tuple[Orders, Orders, Coordinates]:
    sc = generate_scenario(n, "cooperative", seed=seed, buses=["x"])
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0.0, 2000.0, (n, 2))  # a 2 km square
    return sc.sellers, sc.buyers, Coordinates(xy[sc.sellers.n :], xy[: sc.sellers.n])


def bench_large(sizes: list[int], naive_limit: int) -> None:
    print("\n3. DPDA + score matching at synthetic positions (straight-line distances)")
    print(f"{'participants':>12}{'chosen b x s':>16}{'trades':>8}{'ours (s)':>10}{'literal (s)':>13}{'ratio':>8}")
    for n in sizes:
        sellers, buyers, coords = synthetic(n, seed=n)
        r = dpda(sellers, buyers)
        chosen = f"{int((r.buyers.energy_kwh > 0).sum())} x {int((r.sellers.energy_kwh > 0).sum())}"
        start = time.perf_counter()
        out = match_orders(sellers, buyers, dpda, coords)
        t_ours = time.perf_counter() - start
        if n <= naive_limit:
            dist = coords.block(np.arange(buyers.n), np.arange(sellers.n))
            start = time.perf_counter()
            naive_pipeline(sellers, buyers, dist)
            t_naive = time.perf_counter() - start
            naive, ratio = f"{t_naive:>13.3f}", f"{t_naive / t_ours:>8.1f}"
        else:
            naive, ratio = f"{'-':>13}", f"{'-':>8}"
        print(f"{n:>12}{chosen:>16}{len(out.trades):>8}{t_ours:>10.3f}{naive}{ratio}")
    print("goal: 10,000 participants <= 10 s")


def bench_power_flow(n_checks: int) -> None:
    import copy
    import warnings

    import pandapower as pp

    from transactive.grid.feeder import _bus_labels, load_network
    from transactive.grid.powerflow import GridTrade, check_trades

    net, loads = load_network(), load_feeder().load_buses
    index_of = dict(zip(_bus_labels(net), net.bus.index.tolist(), strict=True))
    rng = np.random.default_rng(3)
    slots = [[GridTrade(loads[int(rng.integers(55))], loads[int(rng.integers(55))], float(rng.uniform(0.01, 0.3)),
                        1.0) for _ in range(int(rng.integers(1, 5)))] for _ in range(n_checks)]
    check_trades(net, slots[0])  # the first check prepares the copy (and imports pandapower)

    def fresh_copy(trades: list[GridTrade]) -> None:
        """What every check did before: a deep copy, the feeder's loads off, a row per trade, runpp."""
        fresh = copy.deepcopy(net)
        fresh.asymmetric_load["in_service"] = False
        for k, t in enumerate(trades):
            pp.create_sgen(fresh, index_of[t.seller_bus], p_mw=t.energy_kwh / 0.25 / 1000, name=f"trade{k}")
            pp.create_load(fresh, index_of[t.buyer_bus], p_mw=t.energy_kwh / 0.25 / 1000, name=f"trade{k}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pp.runpp(fresh, numba=False)

    def cpu_ms(fn: Callable[[list[GridTrade]], object]) -> float:
        start = time.process_time()
        for trades in slots:
            fn(trades)
        return (time.process_time() - start) / len(slots) * 1000

    from transactive.grid.newton import flow_model

    model = flow_model("ieee_european_lv")
    check_trades(net, slots[0], solver="pandapower")
    fresh = cpu_ms(fresh_copy)
    reused = cpu_ms(lambda trades: check_trades(net, trades, solver="pandapower"))
    newton = cpu_ms(lambda trades: check_trades(model, trades))
    print(f"\n4. power-flow check of 1-4 listing trades, {n_checks} checks (CPU ms per check)")
    print(f"   {'fresh copy per check (before)':<40}{fresh:>8.1f}")
    print(f"   {'check_trades, runpp on a prepared copy':<40}{reused:>8.1f}   ({fresh / reused:.1f}x)")
    print(f"   {'check_trades, prepared Newton model':<40}{newton:>8.2f}   ({fresh / newton:.1f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repetitions")
    args = parser.parse_args()
    repeat = 5 if args.quick else 30
    bench_distances(repeat)
    bench_pipeline_55(repeat)
    bench_large([500, 1000] if args.quick else [1000, 2000, 5000, 10_000], naive_limit=1000 if args.quick else 2000)
    bench_power_flow(20 if args.quick else 100)


if __name__ == "__main__":
    main()
