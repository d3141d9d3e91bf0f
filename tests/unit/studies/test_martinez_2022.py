"""The martinez-trejo-2022 study: determinism, the calibrations, the mechanisms' theorems on the study's runs,
SEED-NOTES §3-§4's fixtures through the study's code path, and agreement with the registered mechanisms."""

from __future__ import annotations

import numpy as np
import pytest

from transactive.grid.feeder import DEFAULT_FEEDER, load_feeder
from transactive.matching.mechanisms import DpdaMatchedParams, MatchedParams
from transactive.orders import Orders
from transactive.registry import full_registry
from transactive.sim.scenario import Scenario, generate_scenario
from transactive.studies import StudyError
from transactive.studies.martinez_2022 import (
    AUCTIONS,
    SWEEP_PREFS_M,
    TABLE_3_2_KWH,
    TABLE_MEAN_KWH,
    StudyConfig,
    StudyResult,
    clear_run,
    run_study,
    scenario_for,
    summarise,
)
from transactive.studies.martinez_claims import behaviour_pairs, claims

TOL = 1e-9


@pytest.fixture(scope="module")
def small() -> StudyResult:
    return run_study(StudyConfig(seed=5, seeds=4, sizes=("P-10", "P-30", "P-55")))


def test_same_seed_same_study_other_seed_other_study() -> None:
    config = StudyConfig(seed=2, seeds=2, sizes=("P-10", "P-20"))
    a, b = run_study(config), run_study(config)
    c = run_study(StudyConfig(seed=3, seeds=2, sizes=("P-10", "P-20")))
    assert a.runs == b.runs and repr(a.runs) == repr(b.runs)
    for key, out in a.examples.items():
        assert out.matched.trades == b.examples[key].matched.trades
    assert a.runs != c.runs
    assert len(a.runs) == 2 * 2 * 2 * 2  # sizes × behaviours × seeds × auctions


def test_table_calibration_hits_table_3_2_and_keeps_the_draw() -> None:
    for size, (e_s, e_b) in TABLE_3_2_KWH.items():
        for behaviour in ("cooperative", "non_cooperative"):
            table = scenario_for(size, behaviour, 7, "table")
            text = scenario_for(size, behaviour, 7, "text")
            assert round(float(table.sellers.energy_kwh.sum()), 6) == e_s
            assert round(float(table.buyers.energy_kwh.sum()), 6) == e_b
            assert (table.sellers.energy_kwh > 0).all() and (table.buyers.energy_kwh > 0).all()
            np.testing.assert_array_equal(table.sellers.price_per_kwh, text.sellers.price_per_kwh)
            np.testing.assert_array_equal(table.buyers.attributes["bus"], text.buyers.attributes["bus"])
            # the text's reading is the generator's draw, 30-200 kWh each
            assert ((text.buyers.energy_kwh >= 30) & (text.buyers.energy_kwh <= 200)).all()
            assert text.sellers.energy_kwh.tolist() == generate_scenario(size, behaviour, 7).sellers.energy_kwh.tolist()
    p55 = scenario_for("P-55", "cooperative", 7, "table")
    total = float(p55.sellers.energy_kwh.sum() + p55.buyers.energy_kwh.sum())
    assert (p55.sellers.n, p55.buyers.n) == (27, 28)
    assert total == pytest.approx(55 * TABLE_MEAN_KWH, abs=0.01)
    assert round(TABLE_MEAN_KWH * 150) == 5764


def test_sold_equals_bought_and_dpda_serves_every_chosen_buyer(small: StudyResult) -> None:
    for run in small.runs:
        assert run.matched_kwh <= run.bought_kwh + TOL
        if run.auction == "mcafee":
            assert run.sold_kwh == pytest.approx(run.bought_kwh, abs=TOL)
        else:  # DPDA: the sellers deliver the demand plus the clipping's excess (to the DSO)
            assert run.sold_kwh - run.bought_kwh == pytest.approx(run.excess_kwh, abs=1e-6)
            assert run.unserved_kwh == pytest.approx(0.0, abs=TOL)
    for (_, _, auction), out in small.examples.items():
        m = out.matched
        assert m.auction is not None
        assert m.seller_energy_kwh.sum() == pytest.approx(m.buyer_energy_kwh.sum(), abs=1e-6)
        assert sum(t.energy_kwh for t in m.trades) == pytest.approx(m.buyer_energy_kwh.sum(), abs=1e-6)
        if auction == "dpda":  # demand priority: chosen buyers get all they asked at the auction; score matching
            # then serves at most that (it refuses a pair whose grid charge would make a side irrational, docs/grid.md)
            chosen = m.auction.buyers.energy_kwh > 0
            np.testing.assert_allclose(m.auction.buyers.energy_kwh[chosen], out.scenario.buyers.energy_kwh[chosen])
            assert np.all(m.buyer_energy_kwh[chosen] <= out.scenario.buyers.energy_kwh[chosen] + 1e-6)


def test_individual_rationality_where_the_mechanism_guarantees_it(small: StudyResult) -> None:
    for run in small.runs:
        if run.auction == "mcafee" or run.case in (1, 2, 3):
            assert run.ir_violations == 0, run
    for (_, _, auction), out in small.examples.items():
        a = out.matched.auction
        assert a is not None
        if a.price_per_kwh is None:
            continue
        p0 = a.price_per_kwh
        sellers_ok = out.scenario.sellers.price_per_kwh[a.sellers.energy_kwh > 0] <= p0 + TOL
        buyers_ok = out.scenario.buyers.price_per_kwh[a.buyers.energy_kwh > 0] >= p0 - TOL
        assert sellers_ok.all()  # sellers are always paid at least their ask (both auctions)
        if auction == "mcafee" or a.details["case"] != 4:
            assert buyers_ok.all()
        assert a.details["individually_rational"] == bool(buyers_ok.all())


Side = tuple[list[str], list[float], list[float]]


def _market(sellers_in: Side, buyers_in: Side) -> Scenario:
    """A seed fixture (ids, energies, prices per side) on the feeder's first load buses, with welfare
    parameters for the matching."""
    seller_ids, e_s, p_s = sellers_in
    buyer_ids, e_b, p_b = buyers_in
    buses = load_feeder(DEFAULT_FEEDER).load_buses
    ns, nb = len(seller_ids), len(buyer_ids)
    sellers = Orders.single(seller_ids, e_s, p_s, bus=np.array(buses[:ns]), distance_pref_m=np.full(ns, 200.0),
                            a=np.full(ns, 1e-4), b=np.full(ns, 0.05), c=np.full(ns, 0.1))
    buyers = Orders.single(buyer_ids, e_b, p_b, bus=np.array(buses[ns:ns + nb]), distance_pref_m=np.full(nb, 200.0),
                           omega=np.full(nb, 60.0), alpha=np.full(nb, 0.01))
    return Scenario("fixture", "cooperative", 0, DEFAULT_FEEDER, sellers, buyers)


TABLE_2_2: tuple[Side, Side] = (
    (["3", "24", "11", "20", "13", "6", "45", "4"], [30, 25, 18, 40, 50, 21, 14, 70], [20, 10, 16, 5, 16, 25, 7, 2]),
    (["16", "39", "10", "9", "5", "8", "12"], [20, 16, 50, 70, 24, 19, 60], [17, 28, 6, 30, 8, 15, 23]))
SCENARIO_10: tuple[Side, Side] = (
    (["3", "14", "11", "2", "13", "6", "15", "4"], [30, 25, 18, 40, 50, 21, 14, 70], [20, 10, 16, 5, 18, 25, 7, 2]),
    (["16", "1", "10", "9", "5", "8", "12"], [30, 45, 13, 27, 18, 39, 96], [15, 28, 6, 30, 8, 15, 23]))


def test_seed_fixtures_through_the_study() -> None:
    # SEED-NOTES §3, Table 2.2: McAfee Case 2, p0 16.5, seller 24 sells 22 of 25 (θ = 3)
    market = _market(*TABLE_2_2)
    out, _ = clear_run(market, "mcafee", 0.002)
    run = summarise(market, "mcafee", out)
    assert (run.case, run.price_per_kwh, run.per_seller_unsold_kwh) == (2, 16.5, 3.0)
    assert out.matched.auction is not None
    assert out.matched.auction.sellers.energy_kwh.tolist() == [0, 22, 0, 40, 0, 0, 14, 70]
    assert (run.chosen_sellers, run.chosen_buyers, run.unsold_kwh, run.sold_kwh) == (4, 3, 3.0, 146.0)
    # SEED-NOTES §4, Table 2.2 under DPDA: Case 3, p0 16.5, oversupply 0.75
    out, _ = clear_run(market, "dpda", 0.002)
    run = summarise(market, "dpda", out)
    assert (run.case, run.price_per_kwh, run.per_seller_unsold_kwh) == (3, 16.5, 0.75)
    assert out.matched.auction is not None
    assert out.matched.auction.sellers.energy_kwh.tolist() == [0, 24.25, 0, 39.25, 0, 0, 13.25, 69.25]
    assert run.unsold_kwh == pytest.approx(4 * 0.75) and run.bought_kwh == 146.0
    # SEED-NOTES §4, Scenario 10: Case 3, p0 20.5, oversupply 19, buyers 1 and 9, excess 6 to the DSO
    market = _market(*SCENARIO_10)
    out, _ = clear_run(market, "dpda", 0.002)
    run = summarise(market, "dpda", out)
    assert (run.case, run.price_per_kwh, run.per_seller_unsold_kwh, run.excess_kwh) == (3, 20.5, 19.0, 6.0)
    assert out.matched.auction is not None
    assert out.matched.auction.sellers.energy_kwh.tolist() == [0, 6, 0, 21, 0, 0, 0, 51]
    assert out.matched.auction.details["chosen_buyers"] == ["1", "9"] and run.chosen_buyers == 2
    assert run.matched_kwh == 72.0  # the buyers' 45 + 27; the excess has no buyer


@pytest.mark.parametrize("auction", AUCTIONS)
def test_the_study_path_is_the_registered_matched_mechanism(auction: str) -> None:
    scenario = scenario_for("P-30", "non_cooperative", 3, "table")
    out, _ = clear_run(scenario, auction, 0.002)  # type: ignore[arg-type]
    mech = full_registry()[f"{auction}_matched"]
    params = DpdaMatchedParams() if auction == "dpda" else MatchedParams()
    ref = mech.run(scenario.sellers, scenario.buyers, params)
    m = out.matched
    assert m.price_per_kwh == ref.price_per_kwh
    np.testing.assert_array_equal(m.buyer_energy_kwh, ref.buyers.energy_kwh)
    np.testing.assert_array_equal(m.seller_income, ref.sellers.payment)
    np.testing.assert_array_equal(m.buyer_bill, ref.buyers.payment)
    assert m.trades_json() == ref.details["trades"]


def test_claims_count_theorems_and_pairs(small: StudyResult) -> None:
    by = {c.key: c for c in claims(small)}
    n = len(small.select(auction="dpda"))
    assert by["dpda_no_buyer_deficit"].holds == f"{n} of {n}"
    pairs = behaviour_pairs(small, "dpda")
    higher = sum(1 for a, b in pairs if (a.price_per_kwh or 0.0) > (b.price_per_kwh or 0.0))  # both priced
    assert by["noncoop_price_higher"].holds == f"{higher} of {len(pairs)}"
    for a, b in pairs:  # a pair is the same draw: same size, seed and participants
        assert (a.size, a.seed, a.n_sellers, a.offered_kwh) == (b.size, b.seed, b.n_sellers, b.offered_kwh)
        assert (a.behaviour, b.behaviour) == ("non_cooperative", "cooperative")


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"seeds": 0}, "seeds"), ({"seed": -1}, "seed"), ({"calibration": "kWh"}, "calibration"),
    ({"sizes": ("P-60",)}, "sizes"), ({"sizes": ()}, "sizes"), ({"charge_per_km": float("nan")}, "charge_per_km"),
])
def test_bad_config_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(StudyError) as exc:
        StudyConfig(**kwargs)  # type: ignore[arg-type]
    assert exc.value.field == field


def test_distance_preference_sweep(small: StudyResult) -> None:
    assert small.sweep_size == "P-30"  # the largest of Table 3.2's sizes in the config
    by = {(r.distance_pref_m, r.seed, r.auction): r for r in small.sweep}
    assert len(by) == len(SWEEP_PREFS_M) * 4 * 2
    for (pref, _, _), r in by.items():
        if r.trades and pref == 0.0:
            assert r.within_pref == 0.0  # distinct buses: every trade is longer than 0 m
        if r.trades and pref >= 500.0:
            assert r.within_pref == 1.0  # the feeder's load buses are at most ~320 m apart
    # Alg. 4: with D = 0 every pair is outside both preferences (score W̄/3), with D beyond every distance
    # inside both (score W̄): the scores scale by one constant, so the greedy matching is the same
    for seed in range(5, 9):
        for auction in AUCTIONS:
            far, near = (scenario_for("P-30", "cooperative", seed, "table", d) for d in (0.0, 500.0))
            a = clear_run(far, auction, 0.002)[0]  # type: ignore[arg-type]
            b = clear_run(near, auction, 0.002)[0]  # type: ignore[arg-type]
            assert [(t.buyer, t.seller, t.energy_kwh) for t in a.matched.trades] == [
                (t.buyer, t.seller, t.energy_kwh) for t in b.matched.trades]
            assert by[(0.0, seed, auction)].mean_distance_m == by[(500.0, seed, auction)].mean_distance_m
