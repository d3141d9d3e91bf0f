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
row is refilled in one vectorised call (grouped by bus with candidate windows, together with the rows of
those buses whose batch is all dead and whose entry is near the top: they need a refill as soon as they pop).
The order of trades is exactly that of the naive global-argmax loop, which is used as such for small markets
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

from transactive.matching.candidates import TopCandidates, best_of
from transactive.orders import FloatArray, IntArray
from transactive.units import ENERGY_UNITS_PER_KWH, energy_to_units, units_to_energy

ScoreRows = Callable[[IntArray], FloatArray]
Admissible = Callable[[int, int, float], bool]
NEAR = 0.01
"""Rows whose batch is all dead and whose heap entry scores within this fraction of the top are refilled with
the pending rows of their bus (:func:`match`): 0.01 took the fewest CPU seconds on the slot benchmark's
100,000-prosumer market (0.003: more calls; 0.05, 0.25: rows refilled again before they pop)."""
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
    __slots__ = ("before", "cand", "cand_score", "last", "pos")

    def __init__(self) -> None:
        self.cand: IntArray = np.zeros(0, dtype=np.int64)
        self.cand_score: FloatArray = np.zeros(0)
        self.pos = 0
        self.last: tuple[float, int] | None = None  # (score, seller) of the last candidate taken into a batch
        self.before: tuple[float, int] | None = None  # what the batch was taken after (None: from the top)


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

    entry_score = np.full(n_b, -np.inf)  # per row with a real heap entry: its score (-inf: none)
    whole_batch = np.zeros(n_b, dtype=bool)  # per row: its batch was a whole ``batch`` (more candidates may follow it)
    at_pos = np.zeros(n_b, dtype=np.int64)  # per row: its ``pos`` (candidate windows only)
    batches_of = np.zeros((n_b if top is not None else 0, batch), dtype=np.int64)  # per row: its batch
    rows_at: dict[int, IntArray] = {}  # buyer bus -> its rows (candidate windows only)
    if top is not None:
        by_bus = np.argsort(top.row_bus, kind="stable")
        cuts = np.flatnonzero(np.diff(top.row_bus[by_bus])) + 1
        rows_at = {int(top.row_bus[g[0]]): g for g in np.split(by_bus, cuts) if len(g)}

    def take(j: int, cand: IntArray, cand_score: FloatArray, before: tuple[float, int] | None = None) -> bool:
        row = rows[j]
        row.cand, row.cand_score = cand, cand_score
        row.pos = 0
        row.before = before
        whole_batch[j] = len(cand) >= batch
        if top is not None and whole_batch[j]:
            batches_of[j] = cand[:batch]
        if len(row.cand) == 0:
            return False
        row.last = (float(row.cand_score[-1]), int(row.cand[-1]))
        return True

    pending: dict[int, tuple[float, int]] = {}  # row -> its placeholder's (−score, seller): the row needs a refill

    def refill_pending(frontier: float) -> None:
        """Every pending row's next batch (after the last candidate it took) in one call, then its next entry.

        With candidate windows, rows at the same buses whose batch is all dead and whose heap entry is within
        ``NEAR`` of the ``frontier`` (the placeholder's score: nothing scores more now) are refilled in the same
        call, after the candidate before their current one (their heap entry stays valid): they would need it
        as soon as their entry pops, and one call scores many rows of a bus at once."""
        todo = sorted(pending)
        pending.clear()
        lasts: list[tuple[float, int] | None] = [rows[j].last for j in todo]
        early: set[int] = set()
        if top is not None:
            floor = frontier - NEAR * (abs(frontier) + 1.0)
            for p in np.unique(top.row_bus[todo]).tolist():
                at = rows_at[p]
                at = at[(entry_score[at] >= floor) & whole_batch[at]]
                if not len(at):
                    continue
                live = alive_s[batches_of[at]] & (np.arange(batch)[None, :] >= at_pos[at][:, None])
                for j in at[~live.any(axis=1)].tolist():
                    row = rows[j]
                    early.add(j)
                    todo.append(j)
                    lasts.append(row.before if row.pos == 0 else
                                 (float(row.cand_score[row.pos - 1]), int(row.cand[row.pos - 1])))
        order = np.argsort(np.asarray(todo, dtype=np.int64), kind="stable")
        todo_arr = np.asarray(todo, dtype=np.int64)[order]
        lasts = [lasts[k] for k in order.tolist()]
        step = chunk_rows if top is None else 4096
        for start in range(0, len(todo_arr), step):
            chunk = todo_arr[start : start + step]
            chunk_lasts = lasts[start : start + step]
            if top is not None:
                batches = top.batches(chunk, alive_s, batch, chunk_lasts)
            else:
                block = score_rows(chunk)
                ls = np.array([last[0] for last in chunk_lasts if last is not None])[:, None]
                li = np.array([last[1] for last in chunk_lasts if last is not None])[:, None]
                after = (block < ls) | ((block == ls) & (np.arange(n_s)[None, :] > li))
                batches = [_batch(block[k], alive_s & after[k], batch) for k in range(len(chunk))]
            for j, found, before in zip(chunk.tolist(), batches, chunk_lasts, strict=True):
                if j in early:  # its heap entry (the batch's first candidate, if still live) stays
                    take(j, *found, before)
                    at_pos[j] = 0
                elif take(j, *found, before):
                    advance(j)

    def advance(j: int) -> bool:
        """Advance row j to its next live candidate in its batch and push it; False when the batch is spent."""
        row = rows[j]
        if row.pos < len(row.cand):
            live = alive_s[row.cand[row.pos :]]
            if live.any():
                row.pos += int(np.argmax(live))
                at_pos[j] = row.pos
                score = float(row.cand_score[row.pos])
                entry_score[j] = score
                heapq.heappush(heap, (-score, j, int(row.cand[row.pos]), 0))
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
                    entry_score[j] = float(rows[j].cand_score[0])
                    heapq.heappush(heap, (-float(rows[j].cand_score[0]), j, int(rows[j].cand[0]), 0))

    out_b: list[int] = []
    out_s: list[int] = []
    out_e: list[int] = []
    out_sc: list[float] = []
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
