"""Units and the one rounding rule that turns float figures into integer base units.

Mechanisms compute in float64 (kWh, tokens). Every figure that reaches settlement or the chain is converted
to integer base units: **Wh** for energy and **micro-tokens** (10^-6 token) for money, by rounding to the
nearest unit with ties to even (IEEE 754 / Python ``round``), which is identical on every machine.

Where several rounded figures must add up to an exact total (a settlement that has to balance to the unit),
:func:`apportion` distributes the integer total by the largest-remainder method, ties broken by index.

Example:
    >>> energy_to_wh(1.2345)
    1234
    >>> money_to_micro(0.0000025)
    2
    >>> apportion(10, [1.0, 1.0, 1.0])
    [4, 3, 3]
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

WH_PER_KWH = 1000
MICRO_PER_TOKEN = 1_000_000
MM_PER_M = 1000
NANO_PER_UNIT = 10**9


def _to_units(value: float, scale: int, name: str) -> int:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return round(value * scale)


def energy_to_wh(energy_kwh: float) -> int:
    """Energy in kWh to integer Wh (nearest, ties to even)."""
    return _to_units(energy_kwh, WH_PER_KWH, "energy_kwh")


def money_to_micro(amount_tokens: float) -> int:
    """Money in tokens to integer micro-tokens (nearest, ties to even)."""
    return _to_units(amount_tokens, MICRO_PER_TOKEN, "amount_tokens")


def base_units_column(values: npt.ArrayLike, scale: int, name: str = "value") -> IntArray:
    """The one rounding rule on a column: ``rint(value × scale)`` per element as int64 -- the same IEEE
    operations as :func:`to_base_units` per figure (``value × scale`` in float64, nearest, ties to even), so
    each element equals the scalar rule's integer. ``ValueError`` naming ``name`` for the first value that is
    not finite (as the scalar rule) or whose result is beyond ±2^62 units (it would not fit int64)."""
    x = np.asarray(values, dtype=np.float64)
    scaled = x * scale
    if scaled.size and not (np.abs(scaled) < _INT64_SAFE).all():
        k = int(np.flatnonzero(~(np.abs(scaled) < _INT64_SAFE))[0])
        if not math.isfinite(float(x[k])):
            raise ValueError(f"{name} must be finite, got {float(x[k])!r}")
        raise ValueError(f"{name} is out of range, got {float(x[k])!r}")
    return np.rint(scaled).astype(np.int64)


def to_base_units(value: float, scale: int, name: str = "value") -> int:
    """``value × scale`` to the nearest integer, ties to even: the one rounding rule, for any base unit
    (``scale`` base units per unit, e.g. 1000 Wh per kWh). ``ValueError`` naming ``name`` if not finite."""
    return _to_units(value, scale, name)


BATCH_SCALES: Mapping[str, int] = {
    "energy_kwh": WH_PER_KWH, "price_per_kwh": MICRO_PER_TOKEN, "distance_pref_m": MM_PER_M,
    "a": NANO_PER_UNIT, "b": NANO_PER_UNIT, "c": NANO_PER_UNIT, "omega": NANO_PER_UNIT, "alpha": NANO_PER_UNIT,
}
"""Base units per unit of each participant figure a signed slot batch carries: an order's energy in Wh and
price in micro-tokens/kWh, a signed ``Attributes`` record's distance preference in mm and its welfare
parameters (``a b c`` of the seller's cost, ``omega alpha`` of the buyer's utility) in 1e-9 units."""


def at_batch_resolution(value: float, scale: int, name: str = "value") -> float:
    """``value`` rounded to the batch resolution ``1 / scale`` (see :data:`BATCH_SCALES`): the float of the
    integer the signed batch carries, ``to_base_units(value, scale) / scale``.

    The rule is the project's one rule applied to ``value × scale`` (nearest, ties to even), *not* decimal
    rounding of the float (``round(value, 3)``): the signed order carries ``energy_to_wh(value)`` and the
    validators clear ``Wh / 1000``, so the file, the service's clearing and the validators' recomputation
    only agree if the float is rounded exactly as the integer is. Example: 792.2965 kWh × 1000 is the float
    792296.5, a tie, so 792,296 Wh (even) and 792.296 kWh, where ``round(792.2965, 3)`` gives 792.297
    (the binary value of 792.2965 lies just above the tie).
    """
    return _to_units(value, scale, name) / scale


def entry_at_batch_resolution(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of one market entry (a seller or buyer, or an order entry, with or without ``blocks``) with
    every figure of :data:`BATCH_SCALES` at batch resolution (:func:`at_batch_resolution`); other fields
    (``id``, ``bus``, coordinates, non-numbers for the parser to reject) are kept as they are."""

    def flat(row: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(row)
        for key, value in row.items():  # the row's own keys (a few), not every scale's
            scale = BATCH_SCALES.get(key)
            if scale is not None and (type(value) is float or (isinstance(value, int | float)
                                                              and not isinstance(value, bool))) \
                    and math.isfinite(value):
                out[key] = at_batch_resolution(value, scale, key)
        return out

    out = flat(entry)
    blocks = entry.get("blocks")
    if isinstance(blocks, list):
        out["blocks"] = [flat(b) if isinstance(b, Mapping) else b for b in blocks]
    return out


def wh_to_kwh(energy_wh: int) -> float:
    """Integer Wh to kWh."""
    return energy_wh / WH_PER_KWH


def micro_to_money(amount_micro: int) -> float:
    """Integer micro-tokens to tokens."""
    return amount_micro / MICRO_PER_TOKEN


def apportion(total: int, weights: Sequence[float] | npt.NDArray[Any]) -> list[int]:
    """Split the integer ``total`` in proportion to non-negative ``weights`` so the parts sum to ``total``.

    Largest-remainder (Hamilton) method: quota ``q_k = |total|·w_k / Σw``, part ``floor(q_k)``, the
    ``|total| − Σ floor`` units left over go one each to the largest remainders ``q_k − floor(q_k)``, equal
    remainders to the lower index. With all weights zero the total goes to index 0 (an empty list requires
    ``total == 0``).

    Float weights with ``|total| < 2^53`` (every caller: money and energy figures): the quotas in float64, on
    arrays (the same IEEE operations as per figure, identical on every machine). Integer weights (Python or
    NumPy ints, any size), or a total beyond 2^53 (where float64 quotas lose units): the exact rule in integer
    arithmetic, every float weight taken as the rational it is.
    """
    if isinstance(weights, np.ndarray):
        exact = weights.dtype.kind in "iubO"
    else:
        exact = any(isinstance(w, numbers.Integral) for w in weights)
    magnitude = abs(total)
    if exact or magnitude >= _EXACT_INT:
        values = weights.tolist() if isinstance(weights, np.ndarray) else list(weights)
        return _apportion_exact(total, values)
    w = np.asarray(weights, dtype=np.float64)
    if w.size == 0:
        return _apportion_exact(total, [])
    if not (np.isfinite(w).all() and (w >= 0).all()):
        raise ValueError("weights must be finite and non-negative")
    weight_sum = math.fsum(w.tolist())
    if weight_sum == 0:
        return [total] + [0] * (w.size - 1)
    quotas = float(magnitude) * w / weight_sum
    floored = np.floor(quotas)
    floors: list[int] = floored.astype(np.int64).tolist()
    left = magnitude - sum(floors)
    if left > 0:
        # a stable sort of the negated remainders: largest first, ties by index
        for k in np.argsort(floored - quotas, kind="stable")[:left].tolist():
            floors[k] += 1
    return floors if total >= 0 else [-f for f in floors]


def _apportion_exact(total: int, weights: Sequence[float]) -> list[int]:
    """:func:`apportion` in integers: the weights over their common denominator (a float is ``a / 2^k``), so
    ``q_k = (|total|·n_k) / N`` exactly, its floor and remainder by ``divmod``."""
    if not weights:
        if total != 0:
            raise ValueError("cannot apportion a non-zero total over no weights")
        return []
    ratios: list[tuple[int, int]] = []
    for w in weights:
        if not isinstance(w, numbers.Real):
            raise ValueError(f"weights must be numbers, got {type(w).__name__}")
        if not isinstance(w, numbers.Integral) and not math.isfinite(w):
            raise ValueError("weights must be finite and non-negative")
        ratio = (int(w), 1) if isinstance(w, numbers.Integral) else float(w).as_integer_ratio()
        if ratio[0] < 0:
            raise ValueError("weights must be finite and non-negative")
        ratios.append(ratio)
    denominator = max(d for _, d in ratios)  # powers of two (floats) and 1 (ints): the largest is a common one
    numerators = [n * (denominator // d) for n, d in ratios]
    weight_sum = sum(numerators)
    if weight_sum == 0:
        return [total] + [0] * (len(weights) - 1)
    magnitude = abs(total)
    parts = [divmod(magnitude * n, weight_sum) for n in numerators]
    floors = [q for q, _ in parts]
    left = magnitude - sum(floors)
    for k in sorted(range(len(parts)), key=lambda k: (-parts[k][1], k))[:left]:
        floors[k] += 1
    return floors if total >= 0 else [-f for f in floors]


_EXACT_INT = 2**53
"""Below this, float64 holds every integer quota exactly; from it on :func:`apportion` computes exactly."""
_INT64_SAFE = 2.0**62
"""Below this magnitude a float64 converts to int64 exactly (:func:`base_units_column`)."""


# ---------------------------------------------------------------------- clearing energy resolution
ENERGY_DECIMALS = 9
ENERGY_RESOLUTION_KWH = 1e-9
"""Clearing resolution: every energy a mechanism takes or returns is a multiple of 1e-9 kWh (1 µWh)."""
ENERGY_UNITS_PER_KWH = 1_000_000_000
ENERGY_EXACT_RANGE_KWH = 8e6
"""Largest total energy (kWh) one side of a market may offer: below 2^23 kWh (8.39e6) doubles are spaced less
than 1e-9 kWh apart, so every multiple of 1e-9 kWh up to a side's total has its own double and
:func:`energy_to_units` recovers its integer count exactly."""
_ROUND_TRIP_UNITS = 2**50


def at_energy_resolution(energy_kwh: npt.ArrayLike) -> FloatArray:
    """Energies rounded to the clearing resolution: the nearest multiple of 1e-9 kWh (``k = rint(x·10^9)``,
    ties to even, returned as ``k / 10^9``).

    The one rule by which clearing quantises energy (distinct from the batch resolution of settlement, Wh):
    applied to every block energy when :class:`~transactive.orders.Orders` are built, and to every energy a
    mechanism computes (cumulative sums, the marginal block's part, a cut), so that Σ sold and Σ bought are
    sums of multiples of 1e-9 kWh and equal at that resolution. Idempotent; a decimal with at most 9
    fractional digits is returned unchanged (``0.1`` stays the double nearest to 0.1).

    Example:
        >>> at_energy_resolution([1.4e-9, 3e-10, 6.78, 1.0000000004]).tolist()
        [1e-09, 0.0, 6.78, 1.0]
    """
    rounded: FloatArray = np.round(np.asarray(energy_kwh, dtype=np.float64), ENERGY_DECIMALS).astype(
        np.float64, copy=False
    )
    return rounded


def energy_to_units(energy_kwh: npt.ArrayLike) -> IntArray:
    """Energies as integer counts of the resolution (1e-9 kWh), so that sums and differences are exact.

    The inverse of :func:`units_to_energy` for energies at the resolution within the exact range (others are
    rounded, as :func:`at_energy_resolution` would). ``x·10^9`` can be up to 2 units off near the top of the
    range; the count whose double is ``x`` is taken.

    Example:
        >>> energy_to_units([6.78, 1e-9, 4.1e6]).tolist()
        [6780000000, 1, 4100000000000000]
    """
    x = np.asarray(energy_kwh, dtype=np.float64)
    count = np.rint(x * ENERGY_UNITS_PER_KWH).astype(np.int64)
    if x.size == 0 or np.abs(count).max() < _ROUND_TRIP_UNITS:
        return count  # below 2^50 units x·10^9 is within 0.25 of the count: rint finds it
    exact = count / ENERGY_UNITS_PER_KWH == x
    for step in (-1, 1, -2, 2):
        if exact.all():
            break
        candidate = count + step
        hit = ~exact & (candidate / ENERGY_UNITS_PER_KWH == x)
        count = np.where(hit, candidate, count)
        exact |= hit
    return count


def units_to_energy(units: npt.ArrayLike) -> FloatArray:
    """Integer counts of 1e-9 kWh to kWh: the same doubles :func:`at_energy_resolution` gives."""
    energy: FloatArray = np.asarray(units, dtype=np.int64) / ENERGY_UNITS_PER_KWH
    return energy
