"""The result of a clearing: per participant energy traded and payment, a clearing price, details.

Sign convention: ``energy_kwh`` is the magnitude traded; ``payment`` is money **received** by a seller and
money **paid** by a buyer (both normally >= 0). ``price_per_kwh`` is the single clearing price where the
mechanism has one (p0, MCP, uniform price), else ``None``. ``details`` holds mechanism-specific figures as
JSON-compatible values (numbers, strings, booleans, None, lists and dicts of them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from transactive.orders import FloatArray

JSONValue = Any  # numbers, strings, booleans, None, and lists / dicts of them


@dataclass(frozen=True, eq=False)
class Allocation:
    """One side's outcome, aligned with the side's ``Orders.ids``.

    Attributes:
        energy_kwh: energy traded by each participant, kWh (>= 0).
        payment: money received (sellers) or paid (buyers) by each participant, tokens.
    """

    energy_kwh: FloatArray
    payment: FloatArray

    def __post_init__(self) -> None:
        for name in ("energy_kwh", "payment"):
            array = np.array(getattr(self, name), dtype=np.float64, copy=True)
            array.setflags(write=False)
            object.__setattr__(self, name, array)
        if self.energy_kwh.shape != self.payment.shape or self.energy_kwh.ndim != 1:
            raise ValueError("energy_kwh and payment must be 1-D arrays of equal length")

    @classmethod
    def zeros(cls, n: int) -> Allocation:
        """Nobody trades."""
        return cls(np.zeros(n), np.zeros(n))

    @classmethod
    def at_price(cls, energy_kwh: npt.ArrayLike, price_per_kwh: float) -> Allocation:
        """Everyone pays or receives ``price_per_kwh`` per kWh traded."""
        e = np.asarray(energy_kwh, dtype=np.float64)
        return cls(e, e * price_per_kwh)

    @property
    def total_energy_kwh(self) -> float:
        return float(self.energy_kwh.sum())

    @property
    def total_payment(self) -> float:
        return float(self.payment.sum())


@dataclass(frozen=True, eq=False)
class ClearingResult:
    """What a mechanism returns: allocations for both sides, a clearing price, and details."""

    mechanism: str
    price_per_kwh: float | None
    sellers: Allocation
    buyers: Allocation
    details: Mapping[str, JSONValue] = field(default_factory=dict)
