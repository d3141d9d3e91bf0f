"""The shared double-auction core: fast crossing, priority order, prefix fill and water-filling."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures import seed004
from fixtures.book_strategies import books, fractions, orders
from fixtures.double_auction_reference import walk
from fixtures.merge_walk import merge_walk_intersect
from transactive.mechanisms._curves import ascending, descending, intersect
from transactive.mechanisms._curves import fill as fill_prefix
from transactive.mechanisms._double_auction_core import build_book, water_fill
from transactive.orders import Orders, OrdersError

float_sides = st.lists(
    st.tuples(st.floats(0, 50, allow_nan=False), st.floats(-5, 5, allow_nan=False)), min_size=0, max_size=12
)


def _sorted_columns(side: list[tuple[float, float]], sellers: bool) -> tuple[np.ndarray, np.ndarray]:
    e = np.array([v for v, _ in side], dtype=float)
    p = np.array([v for _, v in side], dtype=float)
    order = ascending(p) if sellers else descending(p)
    return e[order], p[order]


@settings(max_examples=200)
@given(float_sides, float_sides)
def test_intersect_equals_the_merge_based_walk(supply: list, demand: list) -> None:
    se, sp = _sorted_columns(supply, True)
    de, dp = _sorted_columns(demand, False)
    assert intersect(se, sp, de, dp) == merge_walk_intersect(se, sp, de, dp)


@settings(max_examples=200)
@given(books)
def test_book_intersection_matches_a_block_by_block_walk(book: tuple) -> None:
    s_side, b_side = book
    built = build_book(orders(s_side, "s"), orders(b_side, "b"))
    se, sp = fractions(s_side)
    be, bp = fractions(b_side)
    so = sorted(range(len(sp)), key=lambda i: (sp[i], i))
    bo = sorted(range(len(bp)), key=lambda i: (-bp[i], i))
    x, y = walk([se[i] for i in so], [sp[i] for i in so], [be[i] for i in bo], [bp[i] for i in bo])
    assert (built.x, built.y) == (x, y)
    assert built.seller_order.tolist() == so
    assert built.buyer_order.tolist() == bo


def test_table_2_2_book() -> None:
    t = seed004.TABLE_2_2
    book = build_book(
        Orders.single(t.seller_ids, t.seller_energy_kwh, t.seller_price_per_kwh),
        Orders.single(t.buyer_ids, t.buyer_energy_kwh, t.buyer_price_per_kwh),
    )
    # the thesis's sorted price lists (section 2.2.3, step 1)
    assert book.seller_price_per_kwh.tolist() == [2, 5, 7, 10, 16, 16, 20, 25]
    assert book.buyer_price_per_kwh.tolist() == [30, 28, 23, 17, 15, 8, 6]
    # equal prices 16: seller "11" (submitted 3rd) before "13" (5th)
    assert [t.seller_ids[i] for i in book.seller_order[4:6]] == ["11", "13"]
    assert (book.x, book.y) == (4, 5)
    assert (book.supply_kwh(4), book.demand_kwh(3)) == (149.0, 146.0)
    assert book.seller_price(9) is None and book.buyer_price(0) is None
    assert not book.case1_condition()  # 15.5 not in [16, 17]


def test_multi_block_orders_are_rejected() -> None:
    blocks = Orders.from_blocks(["g"], [[(1.0, 1.0), (2.0, 2.0)]])
    single = Orders.single(["b"], [1.0], [5.0])
    with pytest.raises(OrdersError) as err:
        build_book(blocks, single)
    assert err.value.field == "sellers.blocks"


def test_fill_prefix_carries_a_large_reduction_up_the_priority_order() -> None:
    assert fill_prefix(np.array([5.0, 3.0, 2.0]), 6.0).tolist() == [5.0, 1.0, 0.0]
    assert fill_prefix(np.array([5.0, 3.0, 2.0]), 20.0).tolist() == [5.0, 3.0, 2.0]


@settings(max_examples=200)
@given(st.lists(st.integers(0, 20), min_size=1, max_size=10), st.integers(1, 200))
def test_water_fill_meets_the_target_with_one_common_level(energy: list[int], target: int) -> None:
    total = sum(energy)
    if total == 0:
        return
    demand = Fraction(min(target, total * 4), 4)  # 0 < demand <= total, quarter kWh
    reduced, level = water_fill(np.array(energy, dtype=float), float(demand))
    assert reduced.sum() == pytest.approx(float(demand), abs=1e-9)
    assert np.all(reduced >= 0)
    # one level: every seller still selling gave up exactly `level`, every other had at most `level`
    for e, r in zip(energy, reduced, strict=True):
        if r > 1e-12:
            assert e - r == pytest.approx(level, abs=1e-9)
        else:
            assert e <= level + 1e-9
