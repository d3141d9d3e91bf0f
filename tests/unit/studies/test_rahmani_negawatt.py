"""The rahmani-negawatt study: SEED-NOTES §1's fixtures through the study's code path, determinism, the nested
draw, and the theorems behind the claims checked against a re-solve oracle and known values."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from transactive.mechanisms.knapsack_vcg import KnapsackParams, clear_knapsack_vcg
from transactive.orders import Orders
from transactive.studies import StudyError
from transactive.studies.rahmani_negawatt import (
    CASES,
    TOL,
    StudyConfig,
    StudyResult,
    clear_case,
    draw_offers,
    market,
    run_study,
)
from transactive.studies.rahmani_report import CSVS, FIGURES, claims, premium_steps, write_report

# SEED-NOTES §1, canonical results: case -> (taken kWh, VCG payments, cost), offers in input order
FIXTURES = {
    "fractional": ((20, 10, 10, 0, 10), None, 105),
    "vcg_example_1": ((3, 2, 0), (16, 10, 0), 15),
    "vcg_example_2": ((3, 2, 0), (18, 12, 0), 14),
    "vcg_example_2_slides": ((3, 2, 0), (21, 15, 0), 14),
    "case_1_primary": ((25, 0, 45, 10, 20), (100, 0, 195, 40, 80), 330),
    "case_2_secondary": ((5, 13), (20, 65), 72),
}


@pytest.fixture(scope="module")
def small() -> StudyResult:
    return run_study(StudyConfig(seed=4, seeds=3, n_offers=(2, 5, 12, 30)))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_seed_fixtures_through_the_study(case: object) -> None:
    got = clear_case(case)  # type: ignore[arg-type]
    taken, pays, cost = FIXTURES[got.name]
    assert got.taken_kwh == pytest.approx(taken, abs=TOL)
    assert got.cost == pytest.approx(cost, abs=TOL)
    if pays is not None:
        assert got.payment == pytest.approx(pays, abs=TOL)
        assert got.total_payment == pytest.approx(sum(pays), abs=TOL)
    assert got.fallback_kwh == 0.0
    assert len(CASES) == len(FIXTURES)


def test_case_2_stays_within_the_budget() -> None:
    got = clear_case(next(c for c in CASES if c.name == "case_2_secondary"))
    assert got.total_payment == pytest.approx(85) and got.total_payment <= 18 * 5  # budget 90 tokens


def test_same_seed_same_study_other_seed_other_study() -> None:
    config = StudyConfig(seed=7, seeds=2, n_offers=(3, 8))
    a, b = run_study(config), run_study(config)
    assert a.runs == b.runs and repr(a.runs) == repr(b.runs)
    assert run_study(StudyConfig(seed=8, seeds=2, n_offers=(3, 8))).runs != a.runs
    assert len(a.runs) == 2 * 2


def test_a_smaller_market_is_a_prefix_of_a_larger_one() -> None:
    big, few = draw_offers(11, 30), draw_offers(11, 5)
    np.testing.assert_array_equal(big.energy_kwh[:5], few.energy_kwh)
    np.testing.assert_array_equal(big.price_per_kwh[:5], few.price_per_kwh)
    assert ((big.energy_kwh >= 5) & (big.energy_kwh <= 45)).all()
    assert ((big.price_per_kwh >= 1) & (big.price_per_kwh <= 6)).all()


def test_vcg_payments_match_a_re_solve_without_each_winner() -> None:
    config = StudyConfig(seed=0, seeds=1, n_offers=(12,))
    offers = draw_offers(3, 12)
    params = KnapsackParams(config.target_kwh, config.reserve_price_per_kwh)
    r = clear_knapsack_vcg(offers, Orders.empty(), params)
    cost = r.details["cost"]
    for i in np.flatnonzero(r.sellers.energy_kwh > 0):
        keep = [k for k in range(offers.n) if k != i]
        without = clear_knapsack_vcg(Orders.single([offers.ids[k] for k in keep], offers.energy_kwh[keep],
                                                   offers.price_per_kwh[keep]), Orders.empty(), params)
        own = r.sellers.energy_kwh[i] * offers.price_per_kwh[i]
        assert r.sellers.payment[i] == pytest.approx(without.details["cost"] - (cost - own), abs=1e-6)
    run = market(3, 12, config, deviations=False)
    assert run.vcg_payment == pytest.approx(float(r.sellers.payment.sum()))
    assert run.vcg_social_cost == pytest.approx(cost)


def test_theorems_hold_on_every_market(small: StudyResult) -> None:
    c = small.config
    for r in small.runs:
        assert r.ir_violations == 0
        assert r.vcg_payment >= r.vcg_chosen_cost - TOL
        assert r.pay_as_bid_paid == pytest.approx(r.vcg_social_cost)  # truthful asks: pay-as-bid pays the cost
        assert r.flat_paid == pytest.approx(c.target_kwh * c.reserve_price_per_kwh)  # everyone at r, gap at r
        assert r.vcg_paid <= r.flat_paid + TOL  # no pivot exceeds r per kWh with the competing fallback
        assert r.vcg_social_cost <= r.flat_social_cost + TOL  # the knapsack is the cheapest way to buy T
        if r.n_offers <= 12:
            assert r.shading_gain_vcg <= TOL  # truthful
        else:
            assert math.isnan(r.shading_gain_vcg)


def test_pay_as_bid_rewards_raising_the_ask() -> None:
    run = market(1, 8, StudyConfig(), deviations=True)
    assert run.winners >= 1 and run.shading_gain_pay_as_bid > 0


def test_claims_count_every_market(small: StudyResult) -> None:
    by_key = {c.key: c for c in claims(small)}
    n = len(small.runs)
    for key in ("vcg_covers_cost", "individual_rationality", "lower_social_cost", "shop_saves"):
        assert by_key[key].holds == f"{n} of {n}"
    checked = sum(1 for r in small.runs if r.n_offers <= 12)
    assert by_key["truthful"].holds == f"{checked} of {checked}"
    hit, pairs = premium_steps(small)
    assert pairs == 3 * 3 and 0 <= hit <= pairs
    assert by_key["premium_falls"].holds == f"{hit} of {pairs}"


def test_report_writes_its_files(small: StudyResult, tmp_path: Path) -> None:
    index = write_report(small, tmp_path, 0.1)
    page = index.read_text()
    assert "Paper vs here" in page
    for name in FIGURES:
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG" and f'src="{name}"' in page
    for name in CSVS:
        assert len((tmp_path / name).read_text().splitlines()) > 1
    assert len((tmp_path / "runs.csv").read_text().splitlines()) == 1 + len(small.runs)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"seeds": 0}, "seeds"), ({"seed": -1}, "seed"), ({"n_offers": (5, 3)}, "n_offers"),
    ({"n_offers": ()}, "n_offers"), ({"target_kwh": 0.0}, "target_kwh"),
    ({"reserve_price_per_kwh": float("inf")}, "reserve_price_per_kwh"),
])
def test_bad_config_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(StudyError) as exc:
        StudyConfig(**kwargs)  # type: ignore[arg-type]
    assert exc.value.field == field
