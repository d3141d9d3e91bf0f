"""The grid-aware mechanisms' location checks on columns: the first offending participant is named (side,
index, field) exactly as the rule per participant (``unknown_location_field``) finds it, at any position."""

from __future__ import annotations

import numpy as np
import pytest

from transactive.grid.errors import GridError
from transactive.grid.feeder import load_feeder
from transactive.matching.mechanisms import NO_FEEDER, distances_for, unknown_location_field
from transactive.orders import Orders


def _side(n: int, buses: list[str], **extra: np.ndarray) -> Orders:
    return Orders.single([f"p{i}" for i in range(n)], np.ones(n), np.full(n, 0.1),
                         bus=np.array(buses, dtype=object), distance_pref_m=np.zeros(n), **extra)


def _first_offender(orders: Orders, side: str, feeder: str) -> str | None:
    """The rule applied participant by participant (the reference)."""
    names = [n for n in ("bus", "x_m", "y_m") if n in orders.attributes]
    for k in range(orders.n):
        found = unknown_location_field(feeder, {n: orders.attributes[n][k].item() if hasattr(
            orders.attributes[n][k], "item") else orders.attributes[n][k] for n in names})
        if found is not None:
            return f"{side}[{k}].{found[0]}"
    return None


@pytest.mark.parametrize("seed", range(12))
def test_the_first_offender_is_named_as_the_rule_per_participant_finds_it(seed: int) -> None:
    rng = np.random.default_rng(seed)
    feeder = load_feeder()
    on_feeder = seed % 2 == 0
    n_s, n_b = int(rng.integers(1, 300)), int(rng.integers(1, 300))
    load = list(feeder.load_buses)
    def side(n: int) -> Orders:
        x = np.full(n, np.nan)
        y = np.full(n, np.nan)
        buses = [load[int(i)] for i in rng.integers(0, len(load), n)] if on_feeder else [""] * n
        if not on_feeder:
            x, y = rng.uniform(0, 100, n), rng.uniform(0, 100, n)
        for _ in range(int(rng.integers(0, 3))):  # plant offenders anywhere
            k = int(rng.integers(0, n))
            if on_feeder:
                (x if rng.random() < 0.5 else y)[k] = 1.0
            else:
                buses[k] = load[0]
        return _side(n, buses, x_m=x, y_m=y)
    sellers, buyers = side(n_s), side(n_b)
    name = "ieee_european_lv" if on_feeder else NO_FEEDER
    want = _first_offender(sellers, "sellers", name) or _first_offender(buyers, "buyers", name)
    if want is None:
        source = distances_for(sellers, buyers, name)
        assert tuple(source.shape) == (n_b, n_s)
        if on_feeder:  # every pair's distance is the feeder's between the two buses
            j, i = int(rng.integers(0, n_b)), int(rng.integers(0, n_s))
            expected = feeder_distance(name, buyers.attributes["bus"][j], sellers.attributes["bus"][i])
            assert float(source.pairs(np.array([j]), np.array([i]))[0]) == expected
        return
    with pytest.raises(GridError) as err:
        distances_for(sellers, buyers, name)
    assert err.value.field == want


def feeder_distance(name: str, a: str, b: str) -> float:
    from transactive.grid.distance import distance_oracle

    feeder = load_feeder(name)
    return float(distance_oracle(feeder).between([a, b])[0, 1])


def test_an_unknown_bus_is_named_at_its_first_user() -> None:
    load = list(load_feeder().load_buses)
    buyers = _side(4, [load[0], load[1], "nope", "nope"])
    sellers = _side(3, [load[2], "", load[0]])
    with pytest.raises(GridError) as err:
        distances_for(sellers, buyers, "ieee_european_lv")
    assert err.value.field.startswith("buyers[2].bus")
