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
scored once (vectorised, in chunks of rows); each row keeps only its next ``batch`` (128) best sellers, in the
order (score descending, seller index ascending); a heap holds each live row's best live candidate keyed
by ``(−score, buyer, seller)``. Every trade exhausts a buyer or a seller, so there are at most
``n_b + n_s − 1`` trades; a row whose current candidate has been exhausted advances (vectorised) to its
next live candidate; a row whose batch runs out pushes a *placeholder* keyed by the last candidate it took
(a lower bound of its next entry in the heap order), and when a placeholder reaches the top every pending
row is refilled in one vectorised call (grouped by bus with candidate windows). The order of trades is exactly
that of the naive global-argmax loop, which is used as such for small markets (n_b·n_s <= ``small``, 4096),
where it is faster. With participants at buses a row's batch comes from exact candidate windows instead of
its whole row (``top``, :mod:`transactive.matching.candidates`): the same batches, far fewer cells scored.

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

from transactive.matching.candidates import TopCandidates, best_of
from transactive.orders import FloatArray, IntArray
from transactive.units import ENERGY_UNITS_PER_KWH, energy_to_units, units_to_energy

ScoreRows = Callable[[IntArray], FloatArray]
Admissible = Callable[[int, int, float], bool]
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


class _Row:
    __slots__ = ("cand", "cand_score", "last", "pos")

    def __init__(self) -> None:
        self.cand: IntArray = np.zeros(0, dtype=np.int64)
        self.cand_score: FloatArray = np.zeros(0)
        self.pos = 0
        self.last: tuple[float, int] | None = None  # (score, seller) of the last candidate taken into a batch


def _batch(row_scores: FloatArray, eligible: np.ndarray, k: int) -> tuple[IntArray, FloatArray]:
    """The best ``k`` eligible sellers of a whole scored row (ties at the cut all included), sorted by
    (−score, index)."""
    idx = np.flatnonzero(eligible & (row_scores > -np.inf))
    return best_of(idx.astype(np.int64), row_scores[idx], k)


def match(
    score_rows: ScoreRows,
    buyer_kwh: FloatArray,
    seller_kwh: FloatArray,
    *,
    batch: int = 128,
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
    rows = [_Row() for _ in range(n_b)]
    heap: list[tuple[float, int, int, int]] = []  # (−score, buyer, seller, 1 for a placeholder)
    live_rows = np.flatnonzero(rem_b > 0)

    def take(j: int, cand: IntArray, cand_score: FloatArray) -> bool:
        row = rows[j]
        row.cand, row.cand_score = cand, cand_score
        row.pos = 0
        if len(row.cand) == 0:
            return False
        row.last = (float(row.cand_score[-1]), int(row.cand[-1]))
        return True

    pending: dict[int, tuple[float, int]] = {}  # row -> its placeholder's (−score, seller): the row needs a refill

    def refill_pending() -> None:
        """Every pending row's next batch (after the last candidate it took) in one call, then its next entry."""
        todo = np.array(sorted(pending), dtype=np.int64)
        pending.clear()
        step = chunk_rows if top is None else 4096
        for start in range(0, len(todo), step):
            chunk = todo[start : start + step]
            lasts = [rows[j].last for j in chunk.tolist()]
            if top is not None:
                batches = top.batches(chunk, alive_s, batch, lasts)
            else:
                block = score_rows(chunk)
                ls = np.array([last[0] for last in lasts if last is not None])[:, None]
                li = np.array([last[1] for last in lasts if last is not None])[:, None]
                after = (block < ls) | ((block == ls) & (np.arange(n_s)[None, :] > li))
                batches = [_batch(block[k], alive_s & after[k], batch) for k in range(len(chunk))]
            for j, found in zip(chunk.tolist(), batches, strict=True):
                if take(j, *found):
                    advance(j)

    def advance(j: int) -> bool:
        """Advance row j to its next live candidate in its batch and push it; False when the batch is spent."""
        row = rows[j]
        if row.pos < len(row.cand):
            live = alive_s[row.cand[row.pos :]]
            if live.any():
                row.pos += int(np.argmax(live))
                heapq.heappush(heap, (-float(row.cand_score[row.pos]), j, int(row.cand[row.pos]), 0))
                return True
            row.pos = len(row.cand)
        return False

    def push_next(j: int) -> None:
        """Advance row j to its next live candidate and push it; when its batch is spent, push a placeholder
        keyed by the last candidate it took instead: a lower bound of the row's next entry in the heap order
        (its next candidate scores at most as much, and comes after it on equal scores), so the row is
        refilled only when the placeholder reaches the top -- together with every other pending row."""
        if not advance(j):
            last = rows[j].last
            assert last is not None
            pending[j] = (-last[0], last[1])
            heapq.heappush(heap, (-last[0], j, last[1], 1))

    if n_s and alive_s.any():
        for start in range(0, len(live_rows), chunk_rows if top is None else 4096):
            chunk = live_rows[start : start + (chunk_rows if top is None else 4096)].astype(np.int64)
            if top is not None:
                firsts = top.batches(chunk, alive_s, batch)
            else:
                block = score_rows(chunk)
                firsts = [_batch(block[k], alive_s, batch) for k in range(len(chunk))]
            for j, first in zip(chunk.tolist(), firsts, strict=True):
                if take(j, *first):
                    heapq.heappush(heap, (-float(rows[j].cand_score[0]), j, int(rows[j].cand[0]), 0))

    out_b: list[int] = []
    out_s: list[int] = []
    out_e: list[int] = []
    out_sc: list[float] = []
    while heap:
        neg, j, i, placeholder = heapq.heappop(heap)
        if placeholder:  # refill every pending row (a stale placeholder, of a row refilled since, is dropped)
            if pending.get(j) == (neg, i):
                refill_pending()
            continue
        if not alive_s[i]:
            push_next(j)
            continue
        e = min(int(rem_b[j]), int(rem_s[i]))
        if admissible is not None and not admissible(j, i, e / ENERGY_UNITS_PER_KWH):
            rows[j].pos += 1  # refused for good: on to the row's next candidate
            push_next(j)
            continue
        out_b.append(j)
        out_s.append(i)
        out_e.append(e)
        out_sc.append(-neg)
        rem_b[j] -= e
        rem_s[i] -= e
        if rem_s[i] <= 0:
            alive_s[i] = False
        if rem_b[j] > 0:
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
