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
(exactly: :func:`~transactive.matching.score.blend`'s steps on those columns, the same floats as the whole row) and
bounds every seller it left out by the class's next ``K`` (and its smallest ``K``, for a negative ``s_p``),
corner by corner, padded by ``1e-9`` relative for float rounding. When the ``k``-th best eligible score found is
strictly above every bound, the window holds exactly the first ``k`` sellers of the whole row in the order
(score descending, seller index ascending); otherwise the windows of the classes whose bound is not below it
grow fourfold (each class has its own window: the classes that rank high for a bus's rows grow, the others stay
small), up to whole classes (then every seller is scored and the answer is exact trivially). A bus starts from
the windows that settled its previous rows. The result is therefore identical to scoring the whole row, which
is what the tests check on random books.

All rows of one bus are handled at once on NumPy columns: the window's cells ``(rows, cells)``, the cut per
row (``np.partition``) and the first ``k`` per row (:func:`select_top`, one ``np.lexsort``), returned as
``(rows, k)`` arrays: no per-row Python objects.

Dead sellers (exhausted) are skipped; a bus's classes are rebuilt without them once half of them has died.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from transactive.matching.score import BusScores
from transactive.orders import FloatArray, IntArray

BoolArray = npt.NDArray[np.bool_]
ROUNDING_PAD = 1e-9
"""Relative slack added to every bound: far above the few ulps Alg. 4's float steps can lose."""


def select_top(
    sellers: IntArray, masked: FloatArray, k: int, cut: FloatArray | None = None
) -> tuple[IntArray, FloatArray, IntArray]:
    """Per row of ``masked`` (``(rows, cells)``, ``-inf`` where a cell is not eligible; ``sellers[c]`` the
    distinct seller of cell ``c``): its first ``min(k, eligible)`` cells in the order (score descending, seller
    index ascending), as ``(sellers (rows, k), scores (rows, k), count per row)``; only the first ``count``
    columns of a row are meaningful. ``cut``: each row's ``k``-th best score when the caller knows it.

    All rows at once: the ``k``-th best score per row (``np.partition``), the cells at or above it sorted by (row,
    score descending, seller) in one ``np.lexsort``, the first ``k`` of each row kept."""
    m, w = masked.shape
    if w > k and cut is None:
        cut = kth_best(masked, k)
    r, c = np.nonzero(masked >= cut[:, None] if w > k and cut is not None else masked > -np.inf)
    sc = masked[r, c]
    keep = sc > -np.inf  # a cut of -inf: fewer than k eligible
    if not keep.all():
        r, c, sc = r[keep], c[keep], sc[keep]
    seller = sellers[c]
    order = np.lexsort((seller, -sc, r))
    r, sc, seller = r[order], sc[order], seller[order]
    start = np.searchsorted(r, np.arange(m))
    rank = np.arange(len(r), dtype=np.int64) - start[r]
    first = rank < k  # ties at the cut beyond k: the lower sellers stay
    r, rank = r[first], rank[first]
    count = np.bincount(r, minlength=m).astype(np.int64)
    out_idx = np.zeros((m, k), dtype=np.int64)
    out_sc = np.zeros((m, k))
    out_idx[r, rank] = seller[first]
    out_sc[r, rank] = sc[first]
    return out_idx, out_sc, count


def kth_best(values: FloatArray, k: int) -> FloatArray:
    """Per row of ``values`` ``(rows, cells)`` (``cells >= k``): its ``k``-th largest value."""
    at = values.shape[1] - k
    out: FloatArray = np.partition(values, at, axis=1)[:, at]
    return out


def after_last(sc: FloatArray, sellers: IntArray, last_score: FloatArray, last_seller: IntArray) -> BoolArray:
    """Cells that come after each row's last taken candidate in the order (score descending, seller
    ascending): ``sc`` ``(rows, cells)``, ``sellers`` ``(cells,)``; ``last_score`` ``+inf`` for a row taken from
    the top."""
    ls, li = last_score[:, None], last_seller[:, None]
    out: BoolArray = (sc < ls) | ((sc == ls) & (sellers[None, :] > li))
    return out


def _window_scores(c: _Classes, buyer: tuple[FloatArray, FloatArray, FloatArray], columns: FloatArray,
                   per_class: IntArray) -> FloatArray:
    """Alg. 4 scores of a window's cells ``(rows, cells)`` -- :func:`~transactive.matching.score.blend`'s floats
    to the bit: the same operations in the same order on the same values, with what depends on the row and the
    class only (blend's ``sp`` of a covered seller ``(P(B) − d_km·C_d)·1 + 0``, ``[d > D(B)]·D(B)/d`` and
    ``cases``) computed per (row, class) and repeated over the class's cells. ``columns``: the cells' P(S), W_S
    and ``[d > D(S)]·D(S)/d``; ``per_class``: the cells of each class (they come class by class)."""
    pb, db, wb = buyer
    ps, ws, rs = columns
    out_b = ~(c.distance_m[None, :] <= db)
    ratio = db / c.safe[None, :]
    ratio *= out_b
    covered_sp = (pb - c.charge[None, :]) + 0.0
    cases = out_b + c.out_s[None, :] + 1.0
    num = wb + ws[None, :]
    num *= 0.5
    num += np.repeat(ratio, per_class, axis=1)
    num += rs[None, :]
    sp = np.repeat(covered_sp, per_class, axis=1)
    if len(ps) and ps.max() > pb.min():  # some cell's ask above its bid: blend's sp is 1.0 there
        sp = np.where(pb >= ps[None, :], sp, 1.0)
    num *= sp
    num /= np.repeat(cases, per_class, axis=1)
    out: FloatArray = num
    return out


@dataclass(frozen=True)
class _Classes:
    """The live sellers seen from one buyer bus, sorted by (class, K descending, index)."""

    order: IntArray  # seller indices
    key: FloatArray  # their K
    columns: FloatArray  # (3, positions): P(S), W_S, [d > D(S)]·D(S)/d (one gather a window)
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
    ids: IntArray  # per class: its id, 2 x (seller bus) + [d > D(S)] (stable across rebuilds)


class TopCandidates:
    """Exact per-row top-``k`` live sellers of a :class:`BusScores` market (see the module docstring)."""

    def __init__(self, bus_scores: BusScores, *, window: int = 2) -> None:
        if not bus_scores.blended:
            raise ValueError("the window bound needs BusScores' blended (finite) scores")
        self._bs = bus_scores
        self._window = window
        _, self._seller_class = np.unique(bus_scores.seller_bus, return_inverse=True)
        self._classes: dict[int, _Classes] = {}
        self._n_ids = 2 * (int(self._seller_class.max()) + 1 if len(self._seller_class) else 0)
        self._worked: dict[int, IntArray] = {}  # per buyer bus, per class id: the window that settled its last rows

    @property
    def row_bus(self) -> IntArray:
        """Per buyer row: the index of its bus (rows at one bus share their candidate classes)."""
        return self._bs.buyer_row_bus

    def _classes_of(self, p: int, alive: BoolArray, n_alive: int) -> _Classes:
        have = self._classes.get(p)
        if have is not None and have.alive - n_alive <= max(32, have.alive // 2):
            return have
        bs = self._bs
        if have is None:  # sorted once per bus; later only the dead are dropped (the order stays sorted)
            key = 0.5 * bs.seller_welfare + bs.seller_ratio[p]
            cls = self._seller_class * 2 + bs.seller_out[p]
            live = alive if bs.infinite is None else alive & ~bs.infinite[p]
            sel = np.flatnonzero(live)
            order = sel[np.lexsort((sel, -key[sel], cls[sel]))]
            key, cls = key[order], cls[order]
            columns = np.stack((bs.seller_price[order], bs.seller_welfare[order], bs.seller_ratio[p, order]))
        else:  # the same columns without the dead
            keep = alive[have.order]
            order, key, columns = have.order[keep], have.key[keep], have.columns[:, keep]
            cls = np.repeat(have.ids, have.ends - have.starts)[keep]
        starts = np.flatnonzero(np.r_[True, np.diff(cls) != 0]) if len(order) else np.zeros(0, np.int64)
        ends = np.r_[starts[1:], len(order)].astype(np.int64) if len(order) else starts
        first = order[starts]
        ps = columns[0]
        built = _Classes(
            order, key, columns, starts, ends, bs.distance[p, first],
            bs.charge[p, first], bs.safe[p, first], bs.seller_out[p, first].astype(np.int64),
            np.minimum.reduceat(ps, starts) if len(order) else ps,
            np.maximum.reduceat(ps, starts) if len(order) else ps,
            key[ends - 1], n_alive, starts.copy(), cls[starts],
        )
        self._classes[p] = built
        return built

    def batches(
        self, rows: IntArray, alive: BoolArray, k: int, last_score: FloatArray | None = None,
        last_seller: IntArray | None = None,
    ) -> tuple[IntArray, FloatArray, IntArray]:
        """For each buyer row: its first ``k`` live sellers after its last taken candidate
        (``(last_score[r], last_seller[r])``; ``last_score`` ``+inf``: from the top), in the order (score
        descending, seller ascending), as :func:`select_top` over the whole row would give them:
        ``(sellers (rows, k), scores (rows, k), count per row)``."""
        m = len(rows)
        if last_score is None or last_seller is None:
            last_score, last_seller = np.full(m, np.inf), np.full(m, -1, dtype=np.int64)
        out = (np.zeros((m, k), dtype=np.int64), np.zeros((m, k)), np.zeros(m, dtype=np.int64))
        n_alive = int(np.count_nonzero(alive))
        buses = self._bs.buyer_row_bus[rows]
        if m > 1:
            by_bus = np.argsort(buses, kind="stable")
            cuts = np.flatnonzero(np.diff(buses[by_bus])) + 1
            groups = np.split(by_bus, cuts)
        else:
            groups = [np.zeros(m, dtype=np.int64)]
        for group in groups:
            if not len(group):
                continue
            members = group
            p = int(buses[members[0]])
            classes = self._classes_of(p, alive, n_alive)
            worked = self._worked.setdefault(p, np.zeros(self._n_ids, dtype=np.int64))
            windows = np.maximum(self._window, worked[classes.ids])
            while len(members):
                members, grow = self._try(classes, rows, members, alive, k, (last_score, last_seller), windows, out)
                worked[classes.ids] = windows
                windows = np.where(grow, windows * 2, windows)
        return out

    def _try(  # noqa: PLR0917
        self,
        c: _Classes,
        rows: IntArray,
        members: IntArray,
        alive: BoolArray,
        k: int,
        lasts: tuple[FloatArray, IntArray],
        windows: IntArray,
        out: tuple[IntArray, FloatArray, IntArray],
    ) -> tuple[IntArray, BoolArray]:
        """Score the first ``windows[c]`` positions of every class ``c`` for ``rows[members]``; fill ``out`` for
        the rows it settles; return the others and the classes whose left-out sellers kept some row unsettled
        (only their windows need to grow)."""
        length = np.minimum(windows, c.ends - c.first)
        offset = np.cumsum(length) - length
        cell_class = np.repeat(np.arange(len(length)), length)
        pos = np.repeat(c.first - offset, length) + np.arange(int(offset[-1] + length[-1]) if len(length) else 0)
        cand = c.order[pos]
        live = alive[cand]
        pos, live_class, cand = pos[live], cell_class[live], cand[live]
        nxt = c.first + windows
        # skip the dead prefix of every class from now on (dead sellers never come back)
        change = np.ones(len(pos), dtype=bool)
        np.not_equal(live_class[1:], live_class[:-1], out=change[1:])
        head = np.flatnonzero(change)
        c.first[:] = np.minimum(nxt, c.ends)
        c.first[live_class[head]] = pos[head]
        excluded = nxt < c.ends
        r = rows[members]
        bs = self._bs
        buyer = bs.buyer_price[r][:, None], bs.buyer_pref[r][:, None], bs.buyer_welfare[r][:, None]
        sc = _window_scores(c, buyer, c.columns[:, pos], np.bincount(live_class, minlength=len(length)))
        last_score = lasts[0][members]
        eligible = np.isfinite(sc)
        if not (last_score == np.inf).all():  # rows taken from the top: every finite cell comes after
            ls = last_score[:, None]
            before = sc < ls
            tie = sc == ls
            if tie.any():
                before |= tie & (cand[None, :] > lasts[1][members][:, None])
            eligible &= before
        masked = np.where(eligible, sc, -np.inf)
        cut = kth_best(masked, k) if len(cand) >= k else None
        grow = np.zeros(len(length), dtype=bool)
        if excluded.any():  # the k-th best eligible score (-inf: fewer than k) above every left-out seller's bound
            floor = cut if cut is not None else np.full(len(r), -np.inf)
            bound = self._bound(c, buyer, excluded, np.where(excluded, c.key[np.minimum(nxt, len(c.key) - 1)], 0))
            settled = floor > bound.max(axis=1)
            if not settled.all():
                grow = (bound[~settled] >= floor[~settled, None]).any(axis=0)
        else:
            settled = np.ones(len(r), dtype=bool)
        if settled.all():  # the common case: no copies
            idx, top, count = select_top(cand, masked, k, cut)
            out[0][members], out[1][members], out[2][members] = idx, top, count
            return members[:0], grow
        done = members[settled]
        if len(done):
            idx, top, count = select_top(cand, masked[settled], k, None if cut is None else cut[settled])
            out[0][done], out[1][done], out[2][done] = idx, top, count
        return members[~settled], grow

    @staticmethod
    def _bound(c: _Classes, buyer: tuple[FloatArray, FloatArray, FloatArray], excluded: BoolArray,
               next_key: FloatArray) -> FloatArray:
        """Per row and class: an upper bound (padded) of the score of every seller the window left out of the
        class (``-inf`` where none is left out); ``buyer``: the rows' P(B), D(B), W_B as ``(rows, 1)`` columns."""
        pb, db, wb = buyer
        a = 0.5 * wb + np.where(c.distance_m[None, :] > db, db / c.safe[None, :], 0.0)
        cases = 1.0 + (c.distance_m[None, :] > db) + c.out_s[None, :]
        hi, lo = a + next_key[None, :], a + c.min_key[None, :]
        sp_covered = pb - c.charge[None, :]
        bound = np.where(c.min_ps[None, :] <= pb, np.maximum(sp_covered * hi, sp_covered * lo), -np.inf)
        bound = np.maximum(bound, np.where(c.max_ps[None, :] > pb, np.maximum(hi, lo), -np.inf))
        bound /= cases
        bound += ROUNDING_PAD * (np.abs(sp_covered) + 1.0) * (np.abs(a) + np.abs(next_key) + np.abs(c.min_key) + 1.0)
        out: FloatArray = np.where(excluded[None, :], bound, -np.inf)
        return out
