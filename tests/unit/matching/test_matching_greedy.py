from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from transactive.matching.greedy import match, match_matrix, match_naive

# seed 004 Appendix B, Table B.2 (rows buyers 39, 9, 12; columns sellers 24, 20, 45, 4)
TABLE_B2 = np.array(
    [
        [976.531, 1683.731, 669.259, 4586.524],
        [-1309.318, -848.397, -2820.745, 2759.977],
        [-851.3, 13.120, -3017.459, 3440.873],
    ]
)
BUYERS = ["39", "9", "12"]
SELLERS = ["24", "20", "45", "4"]


def test_appendix_b_matching() -> None:
    m = match_matrix(TABLE_B2, np.array([16.0, 70.0, 60.0]), np.array([24.25, 39.25, 13.25, 69.25]))
    got = [(BUYERS[b], SELLERS[s], float(e)) for b, s, e in zip(m.buyer, m.seller, m.energy_kwh, strict=True)]
    assert got == [
        ("39", "4", 16.0),
        ("12", "4", 53.25),
        ("12", "20", 6.75),
        ("9", "20", 32.5),
        ("9", "24", 24.25),
        ("9", "45", 13.25),
    ]


def test_ties_go_to_the_lower_buyer_then_seller() -> None:
    s = np.array([[1.0, 5.0], [5.0, 5.0]])
    m = match_matrix(s, np.array([1.0, 1.0]), np.array([1.0, 1.0]))
    assert list(zip(m.buyer.tolist(), m.seller.tolist(), strict=True)) == [(0, 1), (1, 0)]


def test_exhausted_and_unreachable_participants_are_skipped() -> None:
    s = np.array([[3.0, -np.inf], [2.0, 1.0]])
    m = match_matrix(s, np.array([1.0, 2.0]), np.array([0.0, 5.0]))  # seller 0 has nothing
    assert list(zip(m.buyer.tolist(), m.seller.tolist(), m.energy_kwh.tolist(), strict=True)) == [(1, 1, 2.0)]


@settings(max_examples=200)
@given(
    st.integers(0, 9).flatmap(
        lambda nb: st.integers(0, 9).flatmap(
            lambda ns: st.tuples(
                hnp.arrays(np.float64, (nb, ns), elements=st.sampled_from([-np.inf, -2.0, 0.0, 1.0, 1.0, 3.5])),
                hnp.arrays(np.float64, nb, elements=st.sampled_from([0.0, 0.25, 1.0, 2.0, 3.75])),
                hnp.arrays(np.float64, ns, elements=st.sampled_from([0.0, 0.5, 1.0, 2.25, 4.0])),
                st.integers(1, 4),
            )
        )
    )
)
def test_fast_matching_equals_the_literal_loop(case: tuple[np.ndarray, np.ndarray, np.ndarray, int]) -> None:
    scores, eb, es, batch = case
    fast = match(lambda rows: scores[rows], eb, es, batch=batch, chunk_rows=3, small=0)
    slow = match_naive(scores, eb, es)
    assert fast.buyer.tolist() == slow.buyer.tolist()
    assert fast.seller.tolist() == slow.seller.tolist()
    assert fast.energy_kwh.tolist() == slow.energy_kwh.tolist()
    # conservation: nobody trades more than it has; the loop stops only when no live pair is left
    assert np.all(np.bincount(fast.buyer, fast.energy_kwh, len(eb)) <= eb + 1e-9)
    assert np.all(np.bincount(fast.seller, fast.energy_kwh, len(es)) <= es + 1e-9)


@settings(max_examples=200)
@given(
    st.integers(1, 12).flatmap(
        lambda nb: st.integers(1, 12).flatmap(
            lambda ns: st.tuples(
                hnp.arrays(np.float64, (nb, ns), elements=st.sampled_from([-np.inf, -2.0, 0.0, 1.0, 1.0, 3.5, 7.0])),
                hnp.arrays(np.float64, nb, elements=st.sampled_from([0.0, 0.25, 1.0, 2.0, 3.75])),
                hnp.arrays(np.float64, ns, elements=st.sampled_from([0.0, 0.5, 1.0, 2.25, 4.0])),
                st.integers(1, 3),
                st.sets(st.tuples(st.integers(0, nb - 1), st.integers(0, ns - 1)), max_size=6),
            )
        )
    )
)
def test_batched_refills_with_refused_pairs_equal_the_literal_loop(
    case: tuple[np.ndarray, np.ndarray, np.ndarray, int, set[tuple[int, int]]],
) -> None:
    """Tiny batches make rows run out again and again: their placeholders and the refills of every pending row
    at once (greedy.match) give the trades of the literal loop, refused pairs skipped for good in both."""
    scores, eb, es, batch, refused = case

    def admissible(j: int, i: int, energy_kwh: float) -> bool:
        return (j, i) not in refused and energy_kwh > 0

    fast = match(lambda rows: scores[rows], eb, es, batch=batch, chunk_rows=2, small=0, admissible=admissible)
    slow = match_naive(scores, eb, es, admissible)
    assert list(zip(fast.buyer.tolist(), fast.seller.tolist(), fast.energy_kwh.tolist(), strict=True)) == list(
        zip(slow.buyer.tolist(), slow.seller.tolist(), slow.energy_kwh.tolist(), strict=True))
