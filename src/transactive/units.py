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
from collections.abc import Sequence

WH_PER_KWH = 1000
MICRO_PER_TOKEN = 1_000_000


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


def wh_to_kwh(energy_wh: int) -> float:
    """Integer Wh to kWh."""
    return energy_wh / WH_PER_KWH


def micro_to_money(amount_micro: int) -> float:
    """Integer micro-tokens to tokens."""
    return amount_micro / MICRO_PER_TOKEN


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Split the integer ``total`` in proportion to non-negative ``weights`` so the parts sum to ``total``.

    Largest-remainder (Hamilton) method; equal remainders go to the lower index. With all weights zero the
    total goes to index 0 (an empty list requires ``total == 0``).
    """
    if not weights:
        if total != 0:
            raise ValueError("cannot apportion a non-zero total over no weights")
        return []
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise ValueError("weights must be finite and non-negative")
    weight_sum = math.fsum(weights)
    if weight_sum == 0:
        return [total] + [0] * (len(weights) - 1)
    sign = 1 if total >= 0 else -1
    magnitude = abs(total)
    quotas = [magnitude * w / weight_sum for w in weights]
    floors = [math.floor(q) for q in quotas]
    left = magnitude - sum(floors)
    order = sorted(range(len(weights)), key=lambda k: (-(quotas[k] - floors[k]), k))
    for k in order[:left]:
        floors[k] += 1
    return [sign * f for f in floors]
