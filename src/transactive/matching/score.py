"""Trade scores (seed 004, Alg. 3 price preference and Alg. 4 proposed score), vectorised.

For buyer j and seller i at distance ``d`` (metres along lines), with the grid charge ``C_d``
(``charge_per_km``, tokens per km; thesis default 0.002 £/km):

* price score (4.1, Alg. 3): ``s_p = P(B_j) − d_km·C_d`` if ``P(B_j) >= P(S_i)``, else ``1.0``;
* mean welfare ``W̄ = (W_S + W_B)/2`` (4.4);
* distance preferences ``D(B_j)``, ``D(S_i)`` (metres, >= 0), Alg. 4:
  both ``d <= D`` → ``s_p·W̄``; only the seller's exceeded → ``s_p·(W̄ + D(S)/d)/2``; only the buyer's
  exceeded → ``s_p·(W̄ + D(B)/d)/2``; both exceeded → ``s_p·(W̄ + D(B)/d + D(S)/d)/3``.

Alg. 4 in the thesis swaps the indices i/j of buyer and seller (an erratum); the meaning is as above. A pair
at infinite distance (different islands) scores ``-inf`` and is never matched.

Example:
    >>> import numpy as np
    >>> s = scores(np.array([28.0]), seller_price_per_kwh=np.array([10.0]), distance_m=np.array([[500.0]]),
    ...            buyer_pref_m=np.array([1000.0]), seller_pref_m=np.array([100.0]),
    ...            buyer_welfare=np.array([40.0]), seller_welfare=np.array([60.0]), charge_per_km=0.002)
    >>> round(float(s[0, 0]), 6)   # seller's 100 m exceeded: 27.999 * (50 + 100/500) / 2
    702.7749
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from transactive.orders import FloatArray, IntArray

M_PER_KM = 1000.0


def price_score(
    buyer_price_per_kwh: npt.ArrayLike,
    seller_price_per_kwh: npt.ArrayLike,
    distance_m: npt.ArrayLike,
    charge_per_km: float,
) -> FloatArray:
    """Alg. 3: ``P(B) − d_km·C_d`` where the buyer's price covers the seller's, else ``1.0`` (broadcasts)."""
    pb = np.asarray(buyer_price_per_kwh, dtype=np.float64)
    ps = np.asarray(seller_price_per_kwh, dtype=np.float64)
    d = np.asarray(distance_m, dtype=np.float64)
    return np.where(pb >= ps, pb - (d / M_PER_KM) * charge_per_km, 1.0)


def scores(
    buyer_price_per_kwh: FloatArray,
    *,
    seller_price_per_kwh: FloatArray,
    distance_m: FloatArray,
    buyer_pref_m: FloatArray,
    seller_pref_m: FloatArray,
    buyer_welfare: FloatArray,
    seller_welfare: FloatArray,
    charge_per_km: float,
) -> FloatArray:
    """Alg. 4 score matrix, shape ``(n_buyers, n_sellers)``; buyer vectors index rows, seller vectors columns.

    ``distance_m[j, i]`` is the distance between buyer j and seller i.
    """
    pb = np.asarray(buyer_price_per_kwh, dtype=np.float64)[:, None]
    ps = np.asarray(seller_price_per_kwh, dtype=np.float64)[None, :]
    db = np.asarray(buyer_pref_m, dtype=np.float64)[:, None]
    ds = np.asarray(seller_pref_m, dtype=np.float64)[None, :]
    wbar = 0.5 * (
        np.asarray(buyer_welfare, dtype=np.float64)[:, None] + np.asarray(seller_welfare, dtype=np.float64)[None, :]
    )
    d = np.asarray(distance_m, dtype=np.float64)
    finite = np.isfinite(d)
    d = np.where(finite, d, 0.0)
    sp = price_score(pb, ps, d, charge_per_km)
    in_b = d <= db
    in_s = d <= ds
    safe = np.where(d > 0, d, 1.0)  # d > D >= 0 wherever a ratio is used
    rb = db / safe
    rs = ds / safe
    out = np.where(
        in_b & in_s,
        sp * wbar,
        np.where(in_b, sp * (wbar + rs) / 2.0, np.where(in_s, sp * (wbar + rb) / 2.0, sp * (wbar + rb + rs) / 3.0)),
    )
    return np.where(finite, out, -np.inf)


class BusScores:
    """:func:`scores` rows for participants located at buses: bit-identical, several times faster.

    When distances come from a bus-to-bus matrix, every buyer at bus ``p`` sees the same distance to seller
    ``i``; what depends only on ``(p, i)`` -- the distance with ``inf`` replaced by 0, the grid-charge term
    ``d_km·C_d``, ``D(S_i)/d`` where the seller's preference is exceeded (else 0), whether it is, whether
    ``d`` is finite -- is computed once per distinct buyer bus, and a block of buyer rows only gathers those
    rows. The four cases of Alg. 4 are then blended without branches: ``(W̄ + [d > D(B)]·D(B)/d +
    [d > D(S)]·D(S)/d)·s_p / (1 + [d > D(B)] + [d > D(S)])`` and ``s_p = [P(B) >= P(S)]·(P(B) − d_km·C_d) +
    [P(B) < P(S)]``. Adding an exact ``+0.0``, multiplying by ``1.0`` and dividing by ``1.0`` change no
    finite value except ``−0.0``, so every score is bit-identical to :func:`scores` (tested) as long as no
    input is ``−0.0`` or not finite; otherwise :meth:`rows` falls back to :func:`scores` itself.

    ``bus_distance_m[p, q]`` (metres, ``inf`` for no path); ``buyer_bus`` / ``seller_bus`` index its rows /
    columns per participant; the other vectors as in :func:`scores`.
    """

    def __init__(
        self,
        bus_distance_m: FloatArray,
        buyer_bus: IntArray,
        seller_bus: IntArray,
        *,
        buyer_price_per_kwh: FloatArray,
        seller_price_per_kwh: FloatArray,
        buyer_pref_m: FloatArray,
        seller_pref_m: FloatArray,
        buyer_welfare: FloatArray,
        seller_welfare: FloatArray,
        charge_per_km: float,
    ) -> None:
        self._buyer_bus = np.asarray(buyer_bus, dtype=np.int64)
        self._seller_bus = np.asarray(seller_bus, dtype=np.int64)
        self._bus_d = np.asarray(bus_distance_m, dtype=np.float64)
        self._charge_per_km = float(charge_per_km)
        self._pb = np.asarray(buyer_price_per_kwh, dtype=np.float64)
        self._ps = np.asarray(seller_price_per_kwh, dtype=np.float64)
        self._db = np.asarray(buyer_pref_m, dtype=np.float64)
        self._ds = np.asarray(seller_pref_m, dtype=np.float64)
        self._wb = np.asarray(buyer_welfare, dtype=np.float64)
        self._ws = np.asarray(seller_welfare, dtype=np.float64)
        vectors = (self._pb, self._ps, self._db, self._ds, self._wb, self._ws)
        self.blended = all(bool(np.isfinite(v).all()) and not bool((np.signbit(v) & (v == 0)).any()) for v in vectors)
        buses, self._row_of = np.unique(self._buyer_bus, return_inverse=True)
        d = self._bus_d[np.ix_(buses, self._seller_bus)]
        finite = np.isfinite(d)
        self._infinite: npt.NDArray[np.bool_] | None = None if finite.all() else ~finite
        d = np.where(finite, d, 0.0)
        ds = self._ds[None, :]
        self._d = d
        self._charge = (d / M_PER_KM) * self._charge_per_km
        self._safe = np.where(d > 0, d, 1.0)
        out_s = ~(d <= ds)
        self._out_s = out_s.view(np.int8)
        self._rs = (ds / self._safe) * out_s
        # read-only views for the candidate windows (transactive.matching.candidates): per buyer bus x seller
        self.distance, self.charge, self.safe = self._d, self._charge, self._safe
        self.seller_out, self.seller_ratio, self.infinite = self._out_s, self._rs, self._infinite
        self.buyer_row_bus, self.seller_bus = self._row_of, self._seller_bus  # a buyer's bus row; a seller's bus
        self.buyer_price, self.buyer_pref, self.buyer_welfare = self._pb, self._db, self._wb
        self.seller_price, self.seller_welfare = self._ps, self._ws

    @staticmethod
    def memory_cells(buyer_bus: IntArray, n_sellers: int) -> int:
        """How many cells each per-bus table takes (distinct buyer buses x sellers)."""
        return len(np.unique(np.asarray(buyer_bus))) * int(n_sellers)

    def rows(self, rows: IntArray, sellers: IntArray | None = None) -> FloatArray:
        """Scores of buyer ``rows`` against every seller (or only ``sellers``), shape ``(len(rows), n)``; the
        same floats either way (every step is elementwise)."""
        if not self.blended:
            cols = slice(None) if sellers is None else sellers
            return scores(
                self._pb[rows],
                seller_price_per_kwh=self._ps[cols],
                distance_m=self._bus_d[np.ix_(self._buyer_bus[rows], self._seller_bus[cols])],
                buyer_pref_m=self._db[rows],
                seller_pref_m=self._ds[cols],
                buyer_welfare=self._wb[rows],
                seller_welfare=self._ws[cols],
                charge_per_km=self._charge_per_km,
            )
        p = self._row_of[rows]
        if sellers is None:
            return blend(self._pb[rows][:, None], self._db[rows][:, None], self._wb[rows][:, None],
                         self._ps[None, :], self._ws[None, :], self._charge[p], self._d[p], self._safe[p],
                         self._rs[p], self._out_s[p], None if self._infinite is None else self._infinite[p])
        at = (p[:, None], np.asarray(sellers, dtype=np.int64)[None, :])
        return blend(self._pb[rows][:, None], self._db[rows][:, None], self._wb[rows][:, None],
                     self._ps[sellers][None, :], self._ws[sellers][None, :], self._charge[at], self._d[at],
                     self._safe[at], self._rs[at], self._out_s[at],
                     None if self._infinite is None else self._infinite[at])


def blend(  # noqa: PLR0917
    pb: FloatArray, db: FloatArray, wb: FloatArray, ps: FloatArray, ws: FloatArray, charge: FloatArray,
    d: FloatArray, safe: FloatArray, rs: FloatArray, out_s: npt.NDArray[np.int8],
    infinite: npt.NDArray[np.bool_] | None,
) -> FloatArray:
    """:class:`BusScores`' branch-free Alg. 4 on gathered columns, broadcast to ``(rows, sellers)``: buyer
    columns ``(rows, 1)`` (P(B), D(B), W_B), seller columns ``(1, sellers)`` (P(S), W_S), and the per (buyer
    bus, seller) tables (``d_km·C_d``, ``d`` with inf as 0, ``d`` or 1 where 0, ``[d > D(S)]·D(S)/d``,
    ``[d > D(S)]``, ``d`` infinite) either shape. Elementwise, so any gather of the same cells gives the
    same floats."""
    covered = pb >= ps
    sp = pb - charge  # price score (Alg. 3): P(B) - d_km C_d where P(B) >= P(S), else 1.0
    sp = sp * covered if sp.shape == covered.shape else np.broadcast_to(sp, covered.shape) * covered
    sp += ~covered
    num = wb + ws
    num *= 0.5  # W̄
    out_b = ~(d <= db)
    ratio = db / safe
    ratio *= out_b
    num += ratio  # + D(B)/d where the buyer's preference is exceeded
    num += rs  # + D(S)/d where the seller's is
    num *= sp
    cases = out_b.view(np.int8) + out_s
    cases += 1
    num /= cases
    if infinite is not None:
        np.copyto(num, -np.inf, where=infinite)
    out: FloatArray = num
    return out
