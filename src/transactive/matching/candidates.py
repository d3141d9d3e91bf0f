"""A buyer row's best sellers without scoring every seller (participants at buses): exact, on NumPy columns.

The greedy matching (:mod:`transactive.matching.greedy`) keeps, per buyer row, its next ``k`` best live sellers
in the order (score descending, seller index ascending). Scoring the whole row costs ``n_sellers`` cells per
refill, so a slot of 100,000 prosumers (tens of thousands of chosen buyers and sellers, each row refilled as
the popular sellers run out) would score billions of cells. Where participants sit at feeder buses
(:class:`~transactive.matching.score.BusScores`) a row need not look at most sellers:

For a buyer at bus ``p``, split the live sellers into *classes* by (seller bus ``q``, whether the seller's
distance preference is exceeded at ``d(p, q)``). Within a class the distance ``d``, the grid charge, the number
of exceeded preferences and ``D(B)/d`` are the same for every seller, so Alg. 4's score is
``s_p · (A + K_i) / cases`` with ``A = W_B/2 + [d > D(B)]·D(B)/d`` (the buyer's) and ``K_i = W_S,i/2 +
[d > D(S_i)]·D(S_i)/d`` (the seller's, the same for every buyer at ``p``), and ``s_p`` one of two values
(``P(B) − d_km·C_d`` for a covered seller, ``1.0`` for one whose ask exceeds the bid). Each class is sorted by
``K`` descending once per buyer bus; a row then scores only a window of the first ``w`` sellers of every class
(exactly, with :meth:`BusScores.rows` on those columns: the same floats as the whole row) and bounds every
seller it left out by the class's next ``K`` (and its smallest ``K``, for a negative ``s_p``), corner by corner,
padded by ``1e-9`` relative for float rounding. When the ``k``-th best eligible score found is strictly above
every bound, the window holds exactly the sellers :func:`~transactive.matching.greedy.best_of` would pick
from the whole row (ties at the cut included); otherwise the window grows fourfold, up to whole classes (then
every seller is scored and the answer is exact trivially). The result is therefore identical to scoring the
whole row, which is what the tests check on random books.

Dead sellers (exhausted) are skipped; a bus's classes are rebuilt without them once a fifth of them has died.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from transactive.matching.score import BusScores, blend
from transactive.orders import FloatArray, IntArray

BoolArray = npt.NDArray[np.bool_]
ROUNDING_PAD = 1e-9
"""Relative slack added to every bound: far above the few ulps Alg. 4's float steps can lose."""


def best_of(idx: IntArray, sc: FloatArray, k: int, cut: float | None = None) -> tuple[IntArray, FloatArray]:
    """The best ``k`` of sellers ``idx`` with scores ``sc`` (ties at the cut all included), sorted by
    (score descending, seller index ascending); ``cut``: the k-th best score when the caller knows it."""
    if len(idx) > k:
        if cut is None:
            cut = float(-np.partition(-sc, k - 1)[k - 1])
        keep = sc >= cut
        idx, sc = idx[keep], sc[keep]
    order = np.lexsort((idx, -sc))
    return idx[order].astype(np.int64), sc[order]


@dataclass(frozen=True)
class _Classes:
    """The live sellers seen from one buyer bus, sorted by (class, K descending, index)."""

    order: IntArray  # seller indices
    key: FloatArray  # their K
    columns: FloatArray  # (6, positions): P(S), W_S, d_km·C_d, d, safe d, [d > D(S)]·D(S)/d (one gather a window)
    out_pos: npt.NDArray[np.int8]  # per position: [d > D(S)]
    starts: IntArray  # per class: first position in ``order``
    ends: IntArray
    distance_m: FloatArray  # per class
    charge: FloatArray
    safe: FloatArray
    out_s: IntArray
    min_ps: FloatArray
    max_ps: FloatArray
    min_key: FloatArray
    alive: int  # live sellers when built
    first: IntArray  # per class: the first position not known to be dead (advances as sellers die)


class TopCandidates:
    """Exact per-row top-``k`` live sellers of a :class:`BusScores` market (see the module docstring)."""

    def __init__(self, bus_scores: BusScores, *, window: int = 8) -> None:
        if not bus_scores.blended:
            raise ValueError("the window bound needs BusScores' blended (finite) scores")
        self._bs = bus_scores
        self._window = window
        _, self._seller_class = np.unique(bus_scores.seller_bus, return_inverse=True)
        self._classes: dict[int, _Classes] = {}
        self._worked: dict[int, int] = {}  # per buyer bus: the window that settled its last rows

    @property
    def row_bus(self) -> IntArray:
        """Per buyer row: the index of its bus (rows at one bus share their candidate classes)."""
        return self._bs.buyer_row_bus

    def _classes_of(self, p: int, alive: BoolArray, n_alive: int) -> _Classes:
        have = self._classes.get(p)
        if have is not None and have.alive - n_alive <= max(32, have.alive // 5):
            return have
        bs = self._bs
        key = 0.5 * bs.seller_welfare + bs.seller_ratio[p]
        cls = self._seller_class * 2 + bs.seller_out[p]
        if have is None:  # sorted once per bus; later only the dead are dropped (the order stays sorted)
            live = alive if bs.infinite is None else alive & ~bs.infinite[p]
            sel = np.flatnonzero(live)
            order = sel[np.lexsort((sel, -key[sel], cls[sel]))]
        else:
            order = have.order[alive[have.order]]
        starts = np.flatnonzero(np.r_[True, np.diff(cls[order]) != 0]) if len(order) else np.zeros(0, np.int64)
        ends = np.r_[starts[1:], len(order)].astype(np.int64) if len(order) else starts
        first = order[starts]
        ps = bs.seller_price[order]
        columns = np.stack((ps, bs.seller_welfare[order], bs.charge[p, order], bs.distance[p, order],
                            bs.safe[p, order], bs.seller_ratio[p, order]))
        built = _Classes(
            order, key[order], columns, bs.seller_out[p, order], starts, ends, bs.distance[p, first],
            bs.charge[p, first], bs.safe[p, first], bs.seller_out[p, first].astype(np.int64),
            np.minimum.reduceat(ps, starts) if len(order) else ps,
            np.maximum.reduceat(ps, starts) if len(order) else ps,
            key[order][ends - 1], n_alive, starts.copy(),
        )
        self._classes[p] = built
        return built

    def batches(
        self, rows: IntArray, alive: BoolArray, k: int, lasts: Sequence[tuple[float, int] | None] | None = None
    ) -> list[tuple[IntArray, FloatArray]]:
        """For each buyer row: its best ``k`` live sellers after ``lasts[r]`` (``(score, seller)`` of the last
        candidate the row already took; ``None``: from the top), as ``best_of`` over the whole row would."""
        out: list[tuple[IntArray, FloatArray] | None] = [None] * len(rows)
        n_alive = int(np.count_nonzero(alive))
        buses = self._bs.buyer_row_bus[rows]
        for p in np.unique(buses).tolist() if len(rows) > 1 else buses.tolist():
            members = np.flatnonzero(buses == p) if len(rows) > 1 else np.zeros(1, dtype=np.int64)
            classes = self._classes_of(int(p), alive, n_alive)
            window = max(self._window, self._worked.get(int(p), 0) // 2)
            while len(members):
                members = self._try(classes, rows, members, alive, k, lasts, window, out)
                window *= 4
            self._worked[int(p)] = window // 4
        return [o if o is not None else (np.zeros(0, np.int64), np.zeros(0)) for o in out]

    def _try(  # noqa: PLR0917
        self,
        c: _Classes,
        rows: IntArray,
        members: IntArray,
        alive: BoolArray,
        k: int,
        lasts: Sequence[tuple[float, int] | None] | None,
        window: int,
        out: list[tuple[IntArray, FloatArray] | None],
    ) -> IntArray:
        """Score the window for ``rows[members]``; fill ``out`` for the rows it settles; return the others."""
        grid = c.first[:, None] + np.arange(window)[None, :]
        live = grid < c.ends[:, None]
        live[live] = alive[c.order[grid[live]]]
        pos = grid[live]
        cand = c.order[pos]
        nxt = c.first + window
        # skip the dead prefix of every class from now on (dead sellers never come back)
        c.first[:] = np.where(live.any(axis=1), c.first + np.argmax(live, axis=1), np.minimum(nxt, c.ends))
        excluded = nxt < c.ends
        r = rows[members]
        bs = self._bs
        ps, ws, charge, d, safe, rs = c.columns[:, pos][:, None, :]
        sc = blend(bs.buyer_price[r][:, None], bs.buyer_pref[r][:, None], bs.buyer_welfare[r][:, None], ps, ws,
                   charge, d, safe, rs, c.out_pos[pos][None, :], None)
        eligible = np.isfinite(sc)
        if lasts is not None:
            for m, row in enumerate(members.tolist()):
                last = lasts[row]
                if last is not None:
                    ls, li = last
                    eligible[m] &= (sc[m] < ls) | ((sc[m] == ls) & (cand > li))
        if excluded.any():
            masked = np.where(eligible, sc, -np.inf)  # the k-th best eligible score (-inf: fewer than k)
            enough = len(cand) >= k
            cut = -np.partition(-masked, k - 1, axis=1)[:, k - 1] if enough else np.full(len(r), -np.inf)
            settled = cut > self._bound(c, r, excluded, np.where(excluded, c.key[np.minimum(nxt, len(c.key) - 1)], 0))
        else:
            settled, cut = np.ones(len(r), dtype=bool), None
        for m in np.flatnonzero(settled).tolist():  # the k-th best eligible score is known when computed above
            out[int(members[m])] = best_of(cand[eligible[m]], sc[m][eligible[m]], k,
                                           None if cut is None else float(cut[m]))
        return members[~settled]

    def _bound(self, c: _Classes, r: IntArray, excluded: BoolArray, next_key: FloatArray) -> FloatArray:
        """Per row: an upper bound (padded) of every left-out seller's score (``-inf`` when none is left out)."""
        bs = self._bs
        pb = bs.buyer_price[r][:, None]
        db = bs.buyer_pref[r][:, None]
        a = 0.5 * bs.buyer_welfare[r][:, None] + np.where(c.distance_m[None, :] > db, db / c.safe[None, :], 0.0)
        cases = 1.0 + (c.distance_m[None, :] > db) + c.out_s[None, :]
        hi, lo = a + next_key[None, :], a + c.min_key[None, :]
        sp_covered = pb - c.charge[None, :]
        bound = np.where(c.min_ps[None, :] <= pb, np.maximum(sp_covered * hi, sp_covered * lo), -np.inf)
        bound = np.maximum(bound, np.where(c.max_ps[None, :] > pb, np.maximum(hi, lo), -np.inf))
        bound /= cases
        bound += ROUNDING_PAD * (np.abs(sp_covered) + 1.0) * (np.abs(a) + np.abs(next_key) + np.abs(c.min_key) + 1.0)
        bound = np.where(excluded[None, :], bound, -np.inf)
        out: FloatArray = bound.max(axis=1)
        return out
