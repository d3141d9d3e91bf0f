"""Distribution charges and quotes (seed 004, ch. 4.3.3, eq. 4.6-4.7).

A trade k over ``d_k`` metres of line costs ``C_d·d_k/1000`` tokens (``charge_per_km`` = C_d, thesis default
0.002 £/km), paid to the DSO and split half to each side. Quotes per participant over its trades:

* buyer (4.6): ``bill = Σ_k (p0·e_k + C_d·d_k/2)``;
* seller (4.7): ``income = Σ_k (p0·e_k − C_d·d_k/2)``.

*Erratum:* Table B.3 of the thesis adds the charge to the sellers' income; eq. 4.7 subtracts it, and only
the subtraction balances the money (Σ bills = Σ incomes + Σ charges). In integer micro-tokens the charge is
split with :func:`transactive.units.apportion` (the buyer takes the odd micro-token), so the halves always
add up to the charge.

Example:
    >>> float(trade_charge(1500.0, 0.002))
    0.003
    >>> split_charge_micro(3001)
    (1501, 1500)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from transactive.orders import FloatArray, IntArray
from transactive.units import apportion

DEFAULT_CHARGE_PER_KM = 0.002  # seed 004 ch. 4.5: hypothetical DSO charge, £/km


def trade_charge(distance_m: npt.ArrayLike, charge_per_km: float) -> FloatArray:
    """Charge of each trade, tokens: ``C_d · d_m / 1000``."""
    return np.asarray(distance_m, dtype=np.float64) / 1000.0 * charge_per_km


def quotes(
    price_per_kwh: float,
    *,
    trade_buyer: IntArray,
    trade_seller: IntArray,
    trade_energy_kwh: FloatArray,
    trade_charge_tokens: FloatArray,
    n_buyers: int,
    n_sellers: int,
) -> tuple[FloatArray, FloatArray]:
    """(4.6)-(4.7): ``(bill per buyer, income per seller)``, tokens, from the trades."""
    value = price_per_kwh * np.asarray(trade_energy_kwh, dtype=np.float64)
    half = 0.5 * np.asarray(trade_charge_tokens, dtype=np.float64)
    bill = np.bincount(trade_buyer, weights=value + half, minlength=n_buyers)
    income = np.bincount(trade_seller, weights=value - half, minlength=n_sellers)
    return bill.astype(np.float64), income.astype(np.float64)


def split_charge_micro(charge_micro: int) -> tuple[int, int]:
    """Split a charge in micro-tokens into (buyer share, seller share) that add up exactly."""
    buyer, seller = apportion(charge_micro, [1.0, 1.0])
    return buyer, seller
