"""Greedy score matching (seed 004, ch. 4.3.2, eq. 4.5).

Repeatedly take the highest remaining score among pairs whose buyer still needs energy and whose seller
still has energy; trade ``min(remaining buyer, remaining seller)``; equal scores are taken by buyer, then
seller, submission order (lower index first). Energies are held at the clearing resolution (1e-9 kWh,
:func:`transactive.units.at_energy_resolution`): remainders are kept in integer units of it
(:func:`transactive.units.energy_to_units`), so a participant is exhausted when its remainder is 0 and the
trades of a participant add up to its energy exactly. Pairs scoring ``-inf`` are never matched.

An optional ``admissible(buyer, seller, energy_kwh)`` test refuses a pair when it would trade ``energy_kwh``:
the pair is skipped for good and matching carries on with the next best pair. (The pipeline refuses a trade
whose grid charge would make it irrational; a pair's trade only shrinks as remainders fall, so a refused
pair stays refused, and the fast path below and the literal loop refuse the same pairs.)

Algorithm (no n_buyers × n_sellers matrix is kept, so 5,000 × 5,000 fits easily): every buyer row is
scored once (vectorised, in chunks of rows); each row keeps only its next ``batch`` (64) best sellers, in the
order (score descending, seller index ascending); a heap holds each live row's best live candidate keyed
by ``(−score, buyer, seller)``. Every trade exhausts a buyer or a seller, so there are at most
``n_b + n_s − 1`` trades; a row whose current candidate has been exhausted advances (vectorised) to its
next live candidate; a row whose batch runs out pushes a *placeholder* keyed by the last candidate it took
(a lower bound of its next entry in the heap order), and when a placeholder reaches the top every pending
row is refilled in one vectorised call (grouped by bus with candidate windows, together with the rows of
those buses whose batch is all dead and whose entry is near the top: they need a refill as soon as they pop).
Rows are NumPy columns, not Python objects: every row's batch sits in one ``(n_b, batch)`` array of sellers
and one of scores, with its length, current position and last candidate in ``n_b`` vectors; batches of many rows
come from one vectorised call (:func:`~transactive.matching.candidates.select_top`: the first ``batch`` in the
order above, exactly, ties at the cut broken by seller index). The order of trades is exactly that of the
naive global-argmax loop, which is used as such for small markets
(n_b·n_s <= ``small``, 4096), where it is faster. With participants at buses a row's batch comes from exact
candidate windows instead of its whole row (``top``, :mod:`transactive.matching.candidates`): the same
batches, far fewer cells scored.

Example (seed 004 Appendix B, Table B.2):
    >>> import numpy as np
    >>> s = np.array([[976.531, 1683.731, 669.259, 4586.524],
    ...               [-1309.318, -848.397, -2820.745, 2759.977],
    ...               [-851.3, 13.120, -3017.459, 3440.873]])
    >>> m = match_matrix(s, np.array([16, 70, 60.]), np.array([24.25, 39.25, 13.25, 69.25]))
    >>> [(int(b), int(s_), float(e)) for b, s_, e in zip(m.buyer, m.seller, m.energy_kwh)][:3]
    [(0, 3, 16.0), (2, 3, 53.25), (2, 1, 6.75)]
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from transactive.matching.candidates import TopCandidates, after_last, select_top
from transactive.orders import FloatArray, IntArray
from transactive.units import ENERGY_UNITS_PER_KWH, energy_to_units, units_to_energy

ScoreRows = Callable[[IntArray], FloatArray]
Admissible = Callable[[int, int, float], bool]
NEAR = 0.01
"""Rows whose batch is all dead and whose heap entry scores within this fraction of the top are refilled with
the pending rows of their bus (:func:`match`): 0.01 took the fewest CPU seconds on the slot benchmark's
100,000-prosumer market (0.003: more calls; 0.05, 0.25: rows refilled again before they pop)."""
BATCH = 64
"""Candidates a row keeps (its next best sellers): 64 took the fewest CPU seconds on the slot benchmark's
100,000-prosumer market with per-class candidate windows (16: 7.2, 32: 6.9, 64: 6.7-7.4, 128: 8-9, 256: 9.7 s;
load average ~6) and the same at 10,000 with whole rows."""
SMALL_MARKET_PAIRS = 4096
"""Up to this many (buyer, seller) pairs the full matrix and the literal loop are faster than the batches."""


@dataclass(frozen=True, eq=False)
class Matches:
    """Matched pairs in the order they were made (indices into the buyer and seller vectors)."""

    buyer: IntArray
    seller: IntArray
    energy_kwh: FloatArray
    score: FloatArray

    def __len__(self) -> int:
        return len(self.buyer)


def match(
    score_rows: ScoreRows,
    buyer_kwh: FloatArray,
    seller_kwh: FloatArray,
    *,
    batch: int = BATCH,
    chunk_rows: int = 256,
    small: int = SMALL_MARKET_PAIRS,
    admissible: Admissible | None = None,
    top: TopCandidates | None = None,
) -> Matches:
    """Greedy matching; ``score_rows(rows)`` gives the scores of those buyer rows, ``(len(rows), n_s)``.

    ``top``: the same market's exact candidate windows (:mod:`transactive.matching.candidates`); rows then
    take their batches from it instead of scoring every seller (the same batches, so the same trades)."""
    n_b, n_s = len(buyer_kwh), len(seller_kwh)
    if n_b * n_s <= small:  # a small market: the full matrix and the literal loop are faster
        full = score_rows(np.arange(n_b, dtype=np.int64)).reshape(n_b, n_s)
        return match_naive(full, buyer_kwh, seller_kwh, admissible)
    rem_b = energy_to_units(buyer_kwh)  # integer units of 1e-9 kWh
    rem_s = energy_to_units(seller_kwh)
    alive_s = rem_s > 0
    heap: list[tuple[float, int, int, int]] = []  # (−score, buyer, seller, 1 for a placeholder)
    live_rows = np.flatnonzero(rem_b > 0).astype(np.int64)
    step = chunk_rows if top is None else 4096
    columns = np.arange(batch)

    # per buyer row (columns, no per-row objects): its batch of candidates, in the order (score desc, seller asc)
    cand = np.zeros((n_b, batch), dtype=np.int64)
    cand_score = np.zeros((n_b, batch))
    n_cand = np.zeros(n_b, dtype=np.int64)
    pos = np.zeros(n_b, dtype=np.int64)  # the current candidate
    last_score = np.full(n_b, np.inf)  # the last candidate taken into a batch (+inf: none yet)
    last_seller = np.full(n_b, -1, dtype=np.int64)
    before_score = np.full(n_b, np.inf)  # what the current batch was taken after (+inf: from the top)
    before_seller = np.full(n_b, -1, dtype=np.int64)
    entry_score = np.full(n_b, -np.inf)  # per row with a real heap entry: its score (-inf: none)
    rows_at: dict[int, IntArray] = {}  # buyer bus -> its rows (candidate windows only)
    if top is not None:
        by_bus = np.argsort(top.row_bus, kind="stable")
        cuts = np.flatnonzero(np.diff(top.row_bus[by_bus])) + 1
        rows_at = {int(top.row_bus[g[0]]): g for g in np.split(by_bus, cuts) if len(g)}

    def batches(chunk: IntArray, after_score: FloatArray, after_seller: IntArray) -> tuple[IntArray, FloatArray,
                                                                                         IntArray]:
        """The next ``batch`` live candidates of rows ``chunk`` after ``(after_score, after_seller)``."""
        if top is not None:
            return top.batches(chunk, alive_s, batch, after_score, after_seller)
        block = score_rows(chunk)
        sellers = np.arange(n_s, dtype=np.int64)
        eligible = alive_s[None, :] & (block > -np.inf) & after_last(block, sellers, after_score, after_seller)
        return select_top(sellers, np.where(eligible, block, -np.inf), batch)

    def take(rows: IntArray, found: tuple[IntArray, FloatArray, IntArray], after_score: FloatArray,
             after_seller: IntArray) -> IntArray:
        """Rows' new batches (taken after ``after_*``); returns the rows that got at least one candidate."""
        idx, sc, count = found
        cand[rows], cand_score[rows], n_cand[rows] = idx, sc, count
        pos[rows] = 0
        before_score[rows], before_seller[rows] = after_score, after_seller
        got = count > 0
        filled, at = rows[got], count[got] - 1
        last_score[filled], last_seller[filled] = sc[got, at], idx[got, at]
        return filled

    def push_first(rows: IntArray) -> None:
        """Push each row's first candidate (live: batches are taken from live sellers)."""
        first_score = cand_score[rows, 0]
        entry_score[rows] = first_score
        for j, sc, i in zip(rows.tolist(), first_score.tolist(), cand[rows, 0].tolist(), strict=True):
            heapq.heappush(heap, (-sc, j, i, 0))

    pending: dict[int, tuple[float, int]] = {}  # row -> its placeholder's (−score, seller): the row needs a refill

    def refill_pending(frontier: float) -> None:
        """Every pending row's next batch (after the last candidate it took) in one call, then its next entry.

        With candidate windows, rows at the same buses whose batch is all dead and whose heap entry is within
        ``NEAR`` of the ``frontier`` (the placeholder's score: nothing scores more now) are refilled in the same
        call, after the candidate before their current one (their heap entry stays valid): they would need it
        as soon as their entry pops, and one call scores many rows of a bus at once."""
        todo = np.fromiter(pending, dtype=np.int64, count=len(pending))
        pending.clear()
        after_score, after_seller = last_score[todo], last_seller[todo]
        early = np.zeros(0, dtype=np.int64)
        if top is not None:
            floor = frontier - NEAR * (abs(frontier) + 1.0)
            at = np.concatenate([rows_at[p] for p in np.unique(top.row_bus[todo]).tolist()])
            at = at[(entry_score[at] >= floor) & (n_cand[at] >= batch)]
            if len(at):
                live = alive_s[cand[at]] & (columns[None, :] >= pos[at][:, None])
                early = at[~live.any(axis=1)]
        if len(early):
            p_early = pos[early]
            prev = np.maximum(p_early - 1, 0)
            at_top = p_early == 0
            todo = np.concatenate((todo, early))
            after_score = np.concatenate((after_score, np.where(at_top, before_score[early],
                                                                cand_score[early, prev])))
            after_seller = np.concatenate((after_seller, np.where(at_top, before_seller[early], cand[early, prev])))
        was_early = np.r_[np.zeros(len(todo) - len(early), dtype=bool), np.ones(len(early), dtype=bool)]
        order = np.argsort(todo, kind="stable")
        todo, after_score, after_seller = todo[order], after_score[order], after_seller[order]
        was_early = was_early[order]
        for start in range(0, len(todo), step):
            part = slice(start, start + step)
            chunk = todo[part]
            found = batches(chunk, after_score[part], after_seller[part])
            take(chunk, found, after_score[part], after_seller[part])
            # an early row keeps its heap entry (the batch's first candidate, if still live): pos 0 stays
            push_first(chunk[(found[2] > 0) & ~was_early[part]])

    def advance(j: int) -> bool:
        """Advance row j to its next live candidate in its batch and push it; False when the batch is spent."""
        p, n = pos[j], n_cand[j]
        if p < n:
            live = alive_s[cand[j, p:n]]
            q = live.argmax()
            if live[q]:
                p += q
                pos[j] = p
                score = cand_score[j, p]
                entry_score[j] = score
                heapq.heappush(heap, (-float(score), j, int(cand[j, p]), 0))
                return True
            pos[j] = n
        return False

    def push_next(j: int) -> None:
        """Advance row j to its next live candidate and push it; when its batch is spent, push a placeholder
        keyed by the last candidate it took instead: a lower bound of the row's next entry in the heap order
        (its next candidate scores at most as much, and comes after it on equal scores), so the row is
        refilled only when the placeholder reaches the top -- together with every other pending row."""
        if not advance(j):
            key = (-float(last_score[j]), int(last_seller[j]))
            pending[j] = key
            heapq.heappush(heap, (key[0], j, key[1], 1))

    if n_s and alive_s.any():
        for start in range(0, len(live_rows), step):
            chunk = live_rows[start : start + step]
            none_score, none_seller = np.full(len(chunk), np.inf), np.full(len(chunk), -1, dtype=np.int64)
            push_first(take(chunk, batches(chunk, none_score, none_seller), none_score, none_seller))

    out_b: list[int] = []
    out_s: list[int] = []
    out_e: list[int] = []
    out_sc: list[float] = []
    left_b, left_s = rem_b.tolist(), rem_s.tolist()  # Python ints: the loop reads and writes them one at a time
    while heap:
        neg, j, i, placeholder = heapq.heappop(heap)
        if placeholder:  # refill every pending row (a stale placeholder, of a row refilled since, is dropped)
            if pending.get(j) == (neg, i):
                refill_pending(-neg)
            continue
        entry_score[j] = -np.inf  # off the heap until pushed again
        if not alive_s[i]:
            push_next(j)
            continue
        need, have = left_b[j], left_s[i]
        e = need if need < have else have
        if admissible is not None and not admissible(j, i, e / ENERGY_UNITS_PER_KWH):
            pos[j] += 1  # refused for good: on to the row's next candidate
            push_next(j)
            continue
        out_b.append(j)
        out_s.append(i)
        out_e.append(e)
        out_sc.append(-neg)
        left_b[j] = need - e
        left_s[i] = have - e
        if have <= e:
            alive_s[i] = False
        if need > e:
            push_next(j)
    return Matches(
        np.array(out_b, dtype=np.int64),
        np.array(out_s, dtype=np.int64),
        units_to_energy(np.array(out_e, dtype=np.int64)),
        np.array(out_sc, dtype=np.float64),
    )


def match_matrix(scores: FloatArray, buyer_kwh: FloatArray, seller_kwh: FloatArray) -> Matches:
    """:func:`match` over a full score matrix ``scores[j, i]`` (buyer j, seller i)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != (len(buyer_kwh), len(seller_kwh)):
        raise ValueError("scores must have shape (n_buyers, n_sellers)")
    return match(
        lambda rows: s[rows],
        np.asarray(buyer_kwh, dtype=np.float64),
        np.asarray(seller_kwh, dtype=np.float64),
    )


def match_naive(
    scores: FloatArray, buyer_kwh: FloatArray, seller_kwh: FloatArray, admissible: Admissible | None = None
) -> Matches:
    """The literal loop of (4.5) over a full matrix (global argmax with masking): the reference for tests."""
    s = np.array(scores, dtype=np.float64)
    rem_b = energy_to_units(buyer_kwh)  # integer units of 1e-9 kWh
    rem_s = energy_to_units(seller_kwh)
    out: list[tuple[int, int, int, float]] = []
    while True:
        mask = (rem_b > 0)[:, None] & (rem_s > 0)[None, :] & (s > -np.inf)
        if not mask.any():
            break
        masked = np.where(mask, s, -np.inf)
        flat = int(np.argmax(masked))  # first maximum in row-major order: lowest buyer, then seller
        j, i = divmod(flat, s.shape[1])
        e = min(int(rem_b[j]), int(rem_s[i]))
        if admissible is not None and not admissible(j, i, e / ENERGY_UNITS_PER_KWH):
            s[j, i] = -np.inf  # refused for good
            continue
        out.append((j, i, e, float(s[j, i])))
        rem_b[j] -= e
        rem_s[i] -= e
    if not out:
        return Matches(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
    b, sel, e_, sc = zip(*out, strict=True)
    return Matches(np.array(b, np.int64), np.array(sel, np.int64), units_to_energy(np.array(e_, np.int64)),
                   np.array(sc))
