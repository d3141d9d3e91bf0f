"""Welfare of sellers and buyers (seed 004, eq. 2.8-2.9), vectorised over participants.

* Seller cost ``C(E) = a·E² + b·E + c`` (a, b, c >= 0; the thesis says positive), welfare (2.8)
  ``W_S = p0·E − C(E)``.
* Buyer utility ``U(E) = ω·E − α·E²`` for ``E < ω/(2α)``, else ``ω²/(4α)``; welfare (2.9)
  ``W_B = U(E) − p0·E``.

*Erratum:* the thesis prints the saturated utility as ``ω²/(2α)``, which makes U jump at ``E = ω/(2α)``
(the quadratic reaches ``ω²/(4α)`` there). We use the continuous ``ω²/(4α)`` (as Rahbari et al., whom the
thesis cites, do). Units: E in kWh, p0 and ω in tokens/kWh, α and a in tokens/kWh², b in tokens/kWh,
c in tokens; welfare in tokens.

Example:
    >>> float(buyer_utility(10.0, 2.0, 0.05)), float(buyer_utility(30.0, 2.0, 0.05))
    (15.0, 20.0)
    >>> float(seller_welfare(16.5, 10.0, 0.1, 1.0, 2.0))
    143.0
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from transactive.orders import FloatArray


def seller_cost(energy_kwh: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike) -> FloatArray:
    """``C(E) = a·E² + b·E + c``, tokens."""
    e = np.asarray(energy_kwh, dtype=np.float64)
    return (
        np.asarray(a, dtype=np.float64) * e * e + np.asarray(b, dtype=np.float64) * e + np.asarray(c, dtype=np.float64)
    )


def seller_welfare(
    price_per_kwh: float, energy_kwh: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike
) -> FloatArray:
    """(2.8) ``W_S = p0·E − C(E)``, tokens."""
    e = np.asarray(energy_kwh, dtype=np.float64)
    return price_per_kwh * e - seller_cost(e, a, b, c)


def buyer_utility(energy_kwh: npt.ArrayLike, omega: npt.ArrayLike, alpha: npt.ArrayLike) -> FloatArray:
    """Continuous quadratic utility, saturating at ``ω²/(4α)`` from ``E = ω/(2α)`` on (α > 0)."""
    e = np.asarray(energy_kwh, dtype=np.float64)
    w = np.asarray(omega, dtype=np.float64)
    al = np.asarray(alpha, dtype=np.float64)
    return np.where(e < w / (2.0 * al), w * e - al * e * e, w * w / (4.0 * al))


def buyer_welfare(
    price_per_kwh: float, energy_kwh: npt.ArrayLike, omega: npt.ArrayLike, alpha: npt.ArrayLike
) -> FloatArray:
    """(2.9) ``W_B = U(E) − p0·E``, tokens."""
    e = np.asarray(energy_kwh, dtype=np.float64)
    return buyer_utility(e, omega, alpha) - price_per_kwh * e
