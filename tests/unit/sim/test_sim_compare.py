from __future__ import annotations

import pytest

from transactive.sim.compare import compare_auctions
from transactive.sim.scenario import SCENARIO_SIZES


def test_rows_cover_every_combination_and_are_consistent() -> None:
    rows = compare_auctions(["P-10", "P-20"], seeds=[0, 1])
    assert len(rows) == 2 * 2 * 2 * 2
    for r in rows:
        n_s, n_b = SCENARIO_SIZES[r.size]
        assert 0 <= r.chosen_sellers <= n_s and 0 <= r.chosen_buyers <= n_b
        assert r.trades <= max(r.chosen_buyers + r.chosen_sellers - 1, 0)
        assert r.total_charge == pytest.approx(0.002 * r.mean_distance_m / 1000 * r.trades)
        if r.price_per_kwh is None:  # a price with no trade: every pair refused, its charge > its gains
            assert r.trades == 0
