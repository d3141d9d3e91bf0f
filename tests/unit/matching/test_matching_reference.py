"""The score matching against results stored before its columnar rewrite (issue 13): the same trades (buyer,
seller, energy, distance, charge, score to the bit), energies and payments, on generated markets -- the slot
benchmark's market (every pair covered, one distance preference) and varied ones (preferences, costs,
utilities and prices drawn so that uncovered pairs, exceeded and kept preferences all occur) -- through both
``dpda_matched`` and ``mcafee_matched``, large enough for the candidate windows (>= 3,000 chosen sellers).

The stored digests (``tests/fixtures/matching/reference.json``) were computed by the implementation at main
``5e0d6e4`` (itself checked against the literal loop of eq. 4.5); regenerate them only from that tree:
``PYTHONPATH=OLD/src python tests/unit/matching/test_matching_reference.py``."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from transactive.grid.feeder import load_feeder
from transactive.matching.mechanisms import DpdaMatchedParams, MatchedParams, clear_dpda_matched, clear_mcafee_matched
from transactive.orders import Orders
from transactive.result import ClearingResult

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "matching" / "reference.json"
CASES = [  # (mechanism, prosumers, seed, varied)
    ("dpda_matched", 400, 1, False),
    ("dpda_matched", 3000, 2, True),
    ("mcafee_matched", 3000, 3, True),
    ("dpda_matched", 20000, 4, False),
    ("dpda_matched", 20000, 5, True),
    ("mcafee_matched", 20000, 6, True),
]


def market(n: int, seed: int, varied: bool) -> tuple[Orders, Orders]:
    """Half sellers, half buyers at the IEEE European LV feeder's load buses (the slot benchmark's market when
    not ``varied``)."""
    rng = np.random.default_rng(seed)
    buses = np.asarray(load_feeder().load_buses, dtype=object)
    n_s, n_b = (n + 1) // 2, n // 2
    energy = rng.uniform(0.5, 5.0, n).round(3)
    if varied:
        prices = np.r_[rng.choice([0.08, 0.10, 0.12, 0.15, 0.18], n_s), rng.choice([0.12, 0.15, 0.18, 0.2, 0.22], n_b)]
        prices += rng.choice([0.0, 0.0001, 0.0003], n)
        pref_s, pref_b = rng.choice([0.0, 100.0, 150.0, 300.0, 1000.0], (2, n))
    else:
        prices = np.r_[rng.uniform(0.05, 0.20, n_s), rng.uniform(0.10, 0.30, n_b)].round(4)
        pref_s = pref_b = np.full(n, 150.0)
    cost = rng.choice([0.0, 0.01, 0.05], (3, n_s)) if varied else np.tile([[0.01], [1.0], [0.5]], n_s)
    util = np.stack((rng.choice([30.0, 60.0], n_b), rng.choice([0.1, 0.2, 0.5], n_b))) if varied else \
        np.tile([[60.0], [0.2]], n_b)
    at = rng.choice(buses, n) if varied else buses[np.arange(n) % len(buses)]
    sellers = Orders.single([f"s{i}" for i in range(n_s)], energy[:n_s], prices[:n_s], bus=at[:n_s],
                            distance_pref_m=pref_s[:n_s], a=cost[0], b=cost[1], c=cost[2])
    buyers = Orders.single([f"b{i}" for i in range(n_b)], energy[n_s:], prices[n_s:], bus=at[n_s:],
                           distance_pref_m=pref_b[n_s:], omega=util[0], alpha=util[1])
    return sellers, buyers


def clear(mechanism: str, n: int, seed: int, varied: bool) -> ClearingResult:
    sellers, buyers = market(n, seed, varied)
    if mechanism == "dpda_matched":
        return clear_dpda_matched(sellers, buyers, DpdaMatchedParams())
    return clear_mcafee_matched(sellers, buyers, MatchedParams())


def digest(result: ClearingResult) -> dict[str, Any]:
    """The trades (every float by its repr, i.e. to the bit) and the per-participant arrays, hashed."""
    h = hashlib.sha256(json.dumps(result.details["trades"]).encode())
    for array in (result.sellers.energy_kwh, result.sellers.payment, result.buyers.energy_kwh, result.buyers.payment):
        h.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    return {"trades": len(result.details["trades"]), "price_per_kwh": result.price_per_kwh, "sha256": h.hexdigest()}


def _key(case: tuple[str, int, int, bool]) -> str:
    return "{}/{}/{}/{}".format(*case)


@pytest.mark.parametrize("case", CASES, ids=_key)
def test_matching_equals_the_stored_reference(case: tuple[str, int, int, bool]) -> None:
    want = json.loads(FIXTURE.read_text())[_key(case)]
    got = digest(clear(*case))
    assert got == want
    assert want["trades"] > 0


if __name__ == "__main__":  # regenerate from the reference tree (see the module docstring)
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps({_key(c): digest(clear(*c)) for c in CASES}, indent=1) + "\n")
    sys.exit(0)
