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

from transactive.orders import FloatArray

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
