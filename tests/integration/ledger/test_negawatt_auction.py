"""NegawattAuction on both engines: seed 000 fixtures and an exhaustive integer reference on random instances.

The reference is independent of the contract's greedy: the optimal cost is the minimum over every set S
of fully-taken offers plus the remainder bought from one other offer or the fallback (a fractional
knapsack has an optimum with at most one partial item), in exact integers (nano-tokens = Wh x micro/kWh).
VCG payment: pay_i = C(-i) - (C - x_i b_i), floored to micro-tokens.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_helpers import assert_rejected

from transactive.ledger.testing import Deployment

TOKEN = 1_000_000  # micro-tokens per token
KWH = 1_000  # Wh per kWh


def brute_cost_nano(target_wh: int, reserve: int, offers: Sequence[tuple[int, int]]) -> int:
    """Minimum cost (nano-tokens) to buy target_wh from offers (Wh, micro/kWh) and the fallback."""
    best: int | None = None
    idx = range(len(offers))
    for size in range(len(offers) + 1):
        for full in itertools.combinations(idx, size):
            taken = sum(offers[i][0] for i in full)
            if taken > target_wh:
                continue
            base = sum(offers[i][0] * offers[i][1] for i in full)
            rest = target_wh - taken
            options = [rest * reserve]
            options += [rest * offers[j][1] for j in idx if j not in full and offers[j][0] >= rest]
            cost = base + min(options)
            best = cost if best is None else min(best, cost)
    assert best is not None
    return best


def clear(dep: Deployment, target_wh: int, reserve: int,
          offers: Sequence[tuple[int, int]]) -> tuple[list[int], list[int], int, int]:
    alloc, pay, cost, fallback = dep.chain.call(dep.auction, "clear", target_wh, reserve, list(offers))
    return list(alloc), list(pay), int(cost), int(fallback)


def test_vcg_example_1(dep: Deployment) -> None:
    alloc, pay, cost, fallback = clear(dep, 5 * KWH, 6 * TOKEN, [(3 * KWH, 3 * TOKEN), (2 * KWH, 3 * TOKEN),
                                                              (2 * KWH, 5 * TOKEN)])
    assert alloc == [3 * KWH, 2 * KWH, 0]
    assert pay == [16 * TOKEN, 10 * TOKEN, 0]
    assert cost == 15 * TOKEN and fallback == 0


def test_vcg_example_2_competes(dep: Deployment) -> None:
    alloc, pay, _, _ = clear(dep, 5 * KWH, 6 * TOKEN, [(3 * KWH, 2 * TOKEN), (2 * KWH, 4 * TOKEN),
                                                      (2 * KWH, 15 * TOKEN // 2)])
    assert alloc == [3 * KWH, 2 * KWH, 0]
    assert pay == [18 * TOKEN, 12 * TOKEN, 0]


def test_case_1_primary(dep: Deployment) -> None:
    # totals per offer: C1 30 kW/120, C2 25/100, C3 45/150, C4 10/20, C5 20/60; r = 5 per kW
    offers = [(30 * KWH, 4 * TOKEN), (25 * KWH, 4 * TOKEN), (45 * KWH, 150 * TOKEN // 45),
              (10 * KWH, 2 * TOKEN), (20 * KWH, 3 * TOKEN)]
    alloc, pay, cost, fallback = clear(dep, 100 * KWH, 5 * TOKEN, offers)
    assert alloc == [25 * KWH, 0, 45 * KWH, 10 * KWH, 20 * KWH]
    assert pay == [100 * TOKEN, 0, 195 * TOKEN, 40 * TOKEN, 80 * TOKEN]
    assert sum(pay) == 415 * TOKEN
    # C3's unit price 150/45 is floored to 3,333,333 micro/kWh: the cost is 330 tokens minus 15 micro
    assert cost == 330 * TOKEN - 15 and fallback == 0


def test_case_2_secondary(dep: Deployment) -> None:
    alloc, pay, cost, _ = clear(dep, 18 * KWH, 5 * TOKEN, [(5 * KWH, 4 * TOKEN), (25 * KWH, 4 * TOKEN)])
    assert alloc == [5 * KWH, 13 * KWH]
    assert pay == [20 * TOKEN, 65 * TOKEN]
    assert cost == 72 * TOKEN


def test_fractional_example_without_binding_fallback(dep: Deployment) -> None:
    offers = [(20 * KWH, 2 * TOKEN), (15 * KWH, 3 * TOKEN), (10 * KWH, 2 * TOKEN), (10 * KWH, 5 * TOKEN),
              (10 * KWH, 3 * TOKEN // 2)]
    alloc, _, cost, fallback = clear(dep, 50 * KWH, 100 * TOKEN, offers)
    assert alloc == [20 * KWH, 10 * KWH, 10 * KWH, 0, 10 * KWH]
    assert cost == 105 * TOKEN and fallback == 0


def test_offer_above_reserve_is_never_taken(dep: Deployment) -> None:
    alloc, pay, cost, fallback = clear(dep, 5 * KWH, 6 * TOKEN, [(10 * KWH, 7 * TOKEN), (1 * KWH, 1 * TOKEN)])
    assert alloc == [0, 1 * KWH]
    assert fallback == 4 * KWH
    assert cost == 1 * TOKEN + 24 * TOKEN
    assert pay == [0, 6 * TOKEN]  # without it the fallback fills at r


offers_strategy = st.lists(
    st.tuples(st.integers(1, 5_000), st.integers(0, 9) .map(lambda k: k * 500_000)), min_size=0, max_size=6
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target_wh=st.integers(1, 15_000), reserve=st.integers(0, 9).map(lambda k: k * 500_000 + 250_000),
       offers=offers_strategy)
def test_random_instances_match_exhaustive_reference(dep: Deployment, target_wh: int, reserve: int,
                                                     offers: list[tuple[int, int]]) -> None:
    alloc, pay, cost, fallback = clear(dep, target_wh, reserve, offers)
    c_nano = brute_cost_nano(target_wh, reserve, offers)
    # feasible, and optimal
    assert sum(alloc) + fallback == target_wh
    assert all(0 <= x <= e for x, (e, _) in zip(alloc, offers, strict=True))
    assert all(x == 0 for x, (_, p) in zip(alloc, offers, strict=True) if p > reserve)
    used_nano = sum(x * p for x, (_, p) in zip(alloc, offers, strict=True)) + fallback * reserve
    assert used_nano == c_nano
    assert cost == c_nano // 1000
    for i, (x, (_, p)) in enumerate(zip(alloc, offers, strict=True)):
        if x == 0:
            assert pay[i] == 0
            continue
        without = brute_cost_nano(target_wh, reserve, offers[:i] + offers[i + 1:])
        exact = without - (c_nano - x * p)
        assert pay[i] == exact // 1000
        assert exact >= x * p  # individual rationality (exact payment covers the ask)


def test_event_flow_clears_and_pays_on_chain(dep: Deployment) -> None:
    c = dep.chain
    p = dep.prosumers
    event_id = c.call(dep.auction, "event_count")
    c.transact(dep.auction, "open_event", 5 * KWH, 6 * TOKEN, sender=dep.aggregator)
    for seller, (e, price) in zip(p[:3], [(3 * KWH, 3 * TOKEN), (2 * KWH, 3 * TOKEN), (2 * KWH, 5 * TOKEN)],
                                  strict=True):
        c.transact(dep.auction, "submit_offer", event_id, e, price, sender=seller)
    before = [c.call(dep.token, "balanceOf", a) for a in (*p[:3], dep.aggregator)]
    c.transact(dep.auction, "close_event", event_id, sender=dep.aggregator)
    assert c.call(dep.auction, "awarded_wh", event_id, p[0]) == 3 * KWH
    assert c.call(dep.auction, "payment_micro", event_id, p[1]) == 10 * TOKEN
    c.transact(dep.auction, "settle_event", event_id, sender=dep.aggregator)
    after = [c.call(dep.token, "balanceOf", a) for a in (*p[:3], dep.aggregator)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [16 * TOKEN, 10 * TOKEN, 0, -26 * TOKEN]


def test_event_flow_rejections(dep: Deployment) -> None:
    c = dep.chain
    p = dep.prosumers
    event_id = c.call(dep.auction, "event_count")
    assert_rejected(dep, lambda: c.transact(dep.auction, "open_event", 1, 1, sender=p[0]),
                    "not an aggregator")
    c.transact(dep.auction, "open_event", 5 * KWH, 6 * TOKEN, sender=dep.aggregator)
    c.transact(dep.auction, "submit_offer", event_id, KWH, TOKEN, sender=p[0])
    assert_rejected(dep, lambda: c.transact(dep.auction, "submit_offer", event_id, KWH, TOKEN, sender=p[0]),
                    "already offered")
    assert_rejected(
        dep, lambda: c.transact(dep.auction, "submit_offer", event_id, KWH, TOKEN, sender=dep.dso),
                    "not a prosumer")
    assert_rejected(dep, lambda: c.transact(dep.auction, "submit_offer", event_id, 2**64, TOKEN, sender=p[1]),
                    "bad offer")
    assert_rejected(dep, lambda: c.transact(dep.auction, "close_event", event_id, sender=p[0]),
                    "not the event")
    assert_rejected(dep, lambda: c.transact(dep.auction, "settle_event", event_id, sender=dep.aggregator),
                    "not closed")
    c.transact(dep.auction, "close_event", event_id, sender=dep.aggregator)
    c.transact(dep.auction, "settle_event", event_id, sender=dep.aggregator)
    assert_rejected(dep, lambda: c.transact(dep.auction, "settle_event", event_id, sender=dep.aggregator),
                    "not closed")
