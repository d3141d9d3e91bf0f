from __future__ import annotations

import numpy as np
import pytest

from transactive.grid.feeder import load_feeder
from transactive.sim.scenario import LOCAL_PRICE_PER_KWH, ScenarioError, generate_scenario

LOADS = set(load_feeder().load_buses)


@pytest.mark.parametrize(
    ("size", "split"), [("P-10", (5, 5)), ("P-20", (11, 9)), ("P-30", (14, 16)), ("P-40", (22, 18)), ("P-50", (25, 25))]
)
def test_table_3_2_sizes(size: str, split: tuple[int, int]) -> None:
    s = generate_scenario(size, seed=0)
    assert (s.sellers.n, s.buyers.n) == split


def test_reproducible_and_seed_dependent() -> None:
    a, b, c = generate_scenario(30, seed=5), generate_scenario(30, seed=5), generate_scenario(30, seed=6)
    for side in ("sellers", "buyers"):
        x, y, z = getattr(a, side), getattr(b, side), getattr(c, side)
        np.testing.assert_array_equal(x.price_per_kwh, y.price_per_kwh)
        np.testing.assert_array_equal(x.energy_kwh, y.energy_kwh)
        assert list(x.attributes["bus"]) == list(y.attributes["bus"])
        assert not np.array_equal(x.price_per_kwh, z.price_per_kwh)


def test_prosumers_sit_at_distinct_load_buses_when_possible() -> None:
    s = generate_scenario(55, seed=1)
    buses = [*s.sellers.attributes["bus"], *s.buyers.attributes["bus"]]
    assert len(set(buses)) == 55 and set(buses) == LOADS
    many = generate_scenario(200, seed=1)
    assert set(many.sellers.attributes["bus"]) | set(many.buyers.attributes["bus"]) <= LOADS


@pytest.mark.parametrize(
    ("behaviour", "sd_b", "sd_s"), [("cooperative", 0.01, 0.025), ("non_cooperative", 0.02, 0.045)]
)
def test_price_spread_matches_the_behaviour(behaviour: str, sd_b: float, sd_s: float) -> None:
    s = generate_scenario(4000, behaviour, seed=2)
    # sample statistics of 2000 normal draws: within a few standard errors
    assert abs(s.buyers.price_per_kwh.mean() - LOCAL_PRICE_PER_KWH) < 5 * sd_b / np.sqrt(2000)
    assert s.buyers.price_per_kwh.std() == pytest.approx(sd_b, rel=0.1)
    assert s.sellers.price_per_kwh.std() == pytest.approx(sd_s, rel=0.1)


def test_non_cooperative_has_more_sellers_beyond_15_percent() -> None:
    def share(behaviour: str) -> float:
        p = generate_scenario(2000, behaviour, seed=3).sellers.price_per_kwh
        return float((p > 1.15 * LOCAL_PRICE_PER_KWH).mean())

    assert share("non_cooperative") > 2 * share("cooperative")


def test_energies_and_welfare_parameters() -> None:
    s = generate_scenario(100, seed=4)
    for side in (s.sellers, s.buyers):
        assert side.energy_kwh.min() >= 30 and side.energy_kwh.max() <= 200
        assert np.all(side.attributes["distance_pref_m"] >= 50)
    om, al = s.buyers.attributes["omega"], s.buyers.attributes["alpha"]
    assert np.all(s.buyers.energy_kwh <= om / (2 * al) + 1e-9)  # demand below saturation
    assert all(np.all(s.sellers.attributes[k] > 0) for k in "abc")


def test_market_document_roundtrip() -> None:
    from transactive.marketfile import parse_market

    doc = generate_scenario("P-10", seed=1).to_market()
    market = parse_market(doc)
    assert market.mechanism.name == "dpda_matched" and market.sellers.n == 5


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n": 1}, "n"),
        ({"n": "P-60"}, "n"),
        ({"n": 10, "behaviour": "selfish"}, "behaviour"),
        ({"n": 10, "energy_range_kwh": (5.0, 1.0)}, "energy_range_kwh"),
    ],
)
def test_bad_requests(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ScenarioError) as err:
        generate_scenario(**kwargs)  # type: ignore[arg-type]
    assert err.value.field == field


def test_behaviours_are_paired_by_seed() -> None:
    a = generate_scenario(40, "cooperative", seed=9)
    b = generate_scenario(40, "non_cooperative", seed=9)
    np.testing.assert_array_equal(a.sellers.energy_kwh, b.sellers.energy_kwh)
    assert list(a.buyers.attributes["bus"]) == list(b.buyers.attributes["bus"])
    # prices are local + sigma * z with the same z: the deviations scale by the ratio of the sigmas
    za = (a.sellers.price_per_kwh - LOCAL_PRICE_PER_KWH) / 0.025
    zb = (b.sellers.price_per_kwh - LOCAL_PRICE_PER_KWH) / 0.045
    np.testing.assert_allclose(za, zb, atol=0.0001 / 0.025)
