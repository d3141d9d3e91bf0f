"""The jing-2021 study: SEED-NOTES §6's fixtures (Tables I-IV) through the study's code path, determinism, and
the rules' properties on the sweep checked against independent values (eq. (1) by hand, a brute-force least
cost, the fixed price)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from transactive.studies import StudyError
from transactive.studies.jing_2021 import (
    TOL,
    StudyConfig,
    StudyResult,
    draw_buildings,
    least_cost,
    market,
    run_study,
    worked_cases,
)
from transactive.studies.jing_report import CSVS, FIGURES, PAPER_BALANCES, claims, write_report


@pytest.fixture(scope="module")
def small() -> StudyResult:
    return run_study(StudyConfig(seed=2, seeds=3, buildings=6, requests_kwh=(10.0, 60.0, 150.0, 400.0)))


def test_tables_i_to_iv_through_the_study() -> None:
    t1, t2, t2x = worked_cases()
    assert t1.price_per_kwh == 10 and t1.traded_kwh == (0, 40, 38, 0, 22)
    assert t1.balance_after == (500, 900, 880, 500, 720)
    assert t1.unsold_kwh == (10, 0, 0, 5, 3) and t1.unmet_kwh == (0,) and t1.total_paid == 1000
    assert t2.price_per_kwh == pytest.approx(191 / 23)  # (10·20 + 40·8 + 5·7 + 10·15 + 50·5) / 115
    assert t2.traded_kwh == (0, 40, 0, 0, 30, 0, 70)
    assert t2.balance_after == pytest.approx((600, 932.17, 600, 600, 849.13, 600, 18.70), abs=0.005)
    assert t2.unmet_kwh == (50, 0) and t2.total_paid == pytest.approx(581.30, abs=0.005)
    assert t2x.traded_kwh == t2.traded_kwh  # b1 and b4, above the MCP, sell nothing either way
    for case in (t1, t2):  # tokens are conserved: what the buyers lose the sellers gain
        before = 500.0 if case.mechanism == "dra_fixed_price" else 600.0
        assert sum(case.balance_after) - before * len(case.ids) == pytest.approx(
            case.total_paid if case.mechanism == "dra_fixed_price" else 0.0)
    assert set(PAPER_BALANCES) == {t1.name, t2.name}


def test_same_seed_same_study_other_seed_other_study() -> None:
    config = StudyConfig(seed=5, seeds=2, requests_kwh=(20.0, 80.0))
    a, b = run_study(config), run_study(config)
    assert a.runs == b.runs and repr(a.runs) == repr(b.runs)
    assert run_study(StudyConfig(seed=6, seeds=2, requests_kwh=(20.0, 80.0))).runs != a.runs
    assert len(a.runs) == 4


def test_least_cost_is_the_brute_force_minimum() -> None:
    b = draw_buildings(9, 5)
    for target in (7.0, 33.0, 90.0):
        best = float("inf")
        for order in itertools.permutations(range(b.n)):  # any fill order; the cheapest is the least cost
            left, cost = target, 0.0
            for k in order:
                take = min(left, float(b.energy_kwh[k]))
                cost += take * float(b.price_per_kwh[k])
                left -= take
            best = min(best, cost)
        assert least_cost(b, target) == pytest.approx(best)


def test_rules_on_every_market(small: StudyResult) -> None:
    c = small.config
    for r in small.runs:
        b = draw_buildings(r.seed, c.buildings)
        mcp = float(np.dot(b.energy_kwh, b.price_per_kwh) / b.energy_kwh.sum())  # eq. (1) by hand
        assert r.type_2.price_per_kwh == pytest.approx(mcp)
        assert r.type_1.price_per_kwh == c.dra_price_per_kwh
        assert r.type_1.paid == pytest.approx(r.type_1.served_kwh * c.dra_price_per_kwh)
        assert r.type_1.served_kwh == pytest.approx(min(r.request_kwh, r.capacity_kwh))
        assert r.type_1.served_kwh + r.type_1.unmet_kwh == pytest.approx(r.request_kwh)
        assert r.type_2.served_kwh + r.type_2.unmet_kwh == pytest.approx(r.request_kwh)
        assert r.type_2_exclude.below_ask_sellers == 0 and r.cheapest.below_ask_sellers == 0
        assert r.type_2_exclude.served_kwh <= r.type_2.served_kwh + TOL
        for o in (r.type_1, r.type_2, r.type_2_exclude, r.cheapest):
            assert o.social_cost >= o.least_cost - 1e-6
        assert r.cheapest.social_cost == pytest.approx(r.cheapest.least_cost)
    for s in {r.seed for r in small.runs}:  # the MCP does not move with the request
        assert len({r.type_2.price_per_kwh for r in small.runs if r.seed == s}) == 1


def test_a_seller_above_the_mcp_is_forced_below_its_ask() -> None:
    run = market(1, 250.0, StudyConfig())
    assert run.type_2.below_ask_sellers > 0 and run.type_2_exclude.below_ask_sellers == 0


def test_claims_and_report(small: StudyResult, tmp_path: Path) -> None:
    by_key = {c.key: c for c in claims(small)}
    assert by_key["type_1_table_2"].holds == "5 of 5" and by_key["type_2_tables_3_4"].holds == "7 of 7"
    assert by_key["type_2_price_ignores_request"].holds == "3 of 3"
    assert by_key["below_ask_type_2_exclude"].holds == f"0 of {len(small.runs)}"
    index = write_report(small, tmp_path, 0.1)
    page = index.read_text()
    assert "Paper vs here" in page
    for name in FIGURES:
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG" and f'src="{name}"' in page
    for name in CSVS:
        assert len((tmp_path / name).read_text().splitlines()) > 1
    assert len((tmp_path / "runs.csv").read_text().splitlines()) == 1 + len(small.runs)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"seeds": 0}, "seeds"), ({"buildings": 0}, "buildings"), ({"requests_kwh": (50.0, 10.0)}, "requests_kwh"),
    ({"requests_kwh": (0.0,)}, "requests_kwh"), ({"dra_price_per_kwh": -1.0}, "dra_price_per_kwh"),
    ({"buyer_price_per_kwh": float("nan")}, "buyer_price_per_kwh"),
])
def test_bad_config_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(StudyError) as exc:
        StudyConfig(**kwargs)  # type: ignore[arg-type]
    assert exc.value.field == field
