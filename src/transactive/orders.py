"""Orders: one side of a market (all sellers or all buyers), stored column-wise for speed.

A participant submits one or more **blocks** ``(energy_kwh, price_per_kwh)``. Energy is a non-negative
quantity in kWh for the slot (a block of ``p_kw`` over ``dt`` hours is ``p_kw * dt`` kWh); the price is in
tokens (or currency units) per kWh: the *lowest* acceptable price for a seller, the *highest* for a buyer.

Blocks are stored flat in NumPy arrays with ``owner[k]``, the index of the participant that owns block ``k``
(non-decreasing). Single-block mechanisms (McAfee, DPDA, ...) use ``energy_kwh`` and ``price_per_kwh``
directly, since then ``owner == arange(n)``.

Sign convention: energies are magnitudes (never negative); the side says the direction.

Example:
    >>> sellers = Orders.single(["3", "24"], [30.0, 25.0], [20.0, 10.0])
    >>> sellers.n, sellers.is_single_block
    (2, True)
    >>> blocks = Orders.from_blocks(["G1"], [[(10.0, 0.05), (10.0, 0.08)]])
    >>> blocks.owner.tolist()
    [0, 0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from transactive.errors import FieldError
from transactive.units import ENERGY_EXACT_RANGE_KWH, at_energy_resolution

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class OrdersError(FieldError):
    """Invalid orders; ``field`` names the offending field (e.g. ``energy_kwh[3]``)."""


def _frozen(values: Any, dtype: type) -> Any:
    array: npt.NDArray[Any] = np.array(values, dtype=dtype, copy=True)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Orders:
    """One side of a market, column-wise.

    Attributes:
        ids: participant ids, in submission order (ties in price are broken by this order).
        energy_kwh: per block, kWh, finite and >= 0, rounded to the clearing resolution (1e-9 kWh,
            :func:`transactive.units.at_energy_resolution`); the side's total is at most
            :data:`~transactive.units.ENERGY_EXACT_RANGE_KWH`.
        price_per_kwh: per block, tokens/kWh, finite.
        owner: per block, index into ``ids``; non-decreasing, every participant owns >= 1 block.
        attributes: optional per-participant columns (e.g. ``bus``), each of length ``n``.
    """

    ids: tuple[str, ...]
    energy_kwh: FloatArray
    price_per_kwh: FloatArray
    owner: IntArray
    attributes: Mapping[str, npt.NDArray[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", tuple(self.ids))
        energy = np.asarray(self.energy_kwh, dtype=np.float64)
        if energy.ndim == 1 and np.all(np.isfinite(energy)):
            energy = at_energy_resolution(energy)  # the clearing resolution, applied once at the boundary
        object.__setattr__(self, "energy_kwh", _frozen(energy, np.float64))
        object.__setattr__(self, "price_per_kwh", _frozen(self.price_per_kwh, np.float64))
        object.__setattr__(self, "owner", _frozen(self.owner, np.int64))
        attrs = {name: _frozen(col, np.asarray(col).dtype.type) for name, col in self.attributes.items()}
        object.__setattr__(self, "attributes", attrs)
        self._validate()

    def _validate(self) -> None:
        e, p, o = self.energy_kwh, self.price_per_kwh, self.owner
        if not (e.ndim == p.ndim == o.ndim == 1) or not (len(e) == len(p) == len(o)):
            raise OrdersError("blocks", "energy_kwh, price_per_kwh and owner must be 1-D of equal length")
        bad = np.flatnonzero(~np.isfinite(e) | (e < 0))
        if bad.size:
            raise OrdersError(f"energy_kwh[{bad[0]}]", "must be a finite number >= 0")
        total_kwh = float(e.sum())
        if total_kwh > ENERGY_EXACT_RANGE_KWH:
            raise OrdersError(
                "energy_kwh",
                f"the side offers {total_kwh:g} kWh in total; at most {ENERGY_EXACT_RANGE_KWH:g} kWh can be "
                "cleared at the 1e-9 kWh resolution",
            )
        bad = np.flatnonzero(~np.isfinite(p))
        if bad.size:
            raise OrdersError(f"price_per_kwh[{bad[0]}]", "must be a finite number")
        n = len(self.ids)
        if len(o):
            if o[0] != 0 or o[-1] != n - 1 or np.any(np.diff(o) < 0) or np.any(np.diff(o) > 1):
                raise OrdersError("owner", "must be non-decreasing and give every participant >= 1 block")
        elif n:
            raise OrdersError("owner", "every participant needs at least one block")
        for name, col in self.attributes.items():
            if col.shape != (n,):
                raise OrdersError(name, f"needs one value per participant ({n})")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def single(
        cls,
        ids: Sequence[str],
        energy_kwh: npt.ArrayLike,
        price_per_kwh: npt.ArrayLike,
        **attributes: npt.ArrayLike,
    ) -> Orders:
        """One block per participant."""
        n = len(ids)
        return cls(
            tuple(ids),
            np.asarray(energy_kwh, dtype=np.float64),
            np.asarray(price_per_kwh, dtype=np.float64),
            np.arange(n, dtype=np.int64),
            {k: np.asarray(v) for k, v in attributes.items()},
        )

    @classmethod
    def from_blocks(
        cls,
        ids: Sequence[str],
        blocks: Sequence[Sequence[tuple[float, float]]],
        **attributes: npt.ArrayLike,
    ) -> Orders:
        """Several blocks per participant: ``blocks[i]`` is a list of ``(energy_kwh, price_per_kwh)``."""
        if len(ids) != len(blocks):
            raise OrdersError("blocks", "one list of blocks per id is required")
        energy: list[float] = []
        price: list[float] = []
        owner: list[int] = []
        for i, bs in enumerate(blocks):
            if not bs:
                raise OrdersError(f"[{i}].blocks", "must not be empty")
            for e, p in bs:
                energy.append(e)
                price.append(p)
                owner.append(i)
        return cls(
            tuple(ids),
            np.asarray(energy, dtype=np.float64),
            np.asarray(price, dtype=np.float64),
            np.asarray(owner, dtype=np.int64),
            {k: np.asarray(v) for k, v in attributes.items()},
        )

    @classmethod
    def empty(cls) -> Orders:
        """No participants."""
        return cls((), np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64))

    # ------------------------------------------------------------------ views
    @property
    def n(self) -> int:
        """Number of participants."""
        return len(self.ids)

    @property
    def n_blocks(self) -> int:
        """Number of blocks."""
        return len(self.energy_kwh)

    @property
    def is_single_block(self) -> bool:
        """True when every participant has exactly one block."""
        return self.n_blocks == self.n

    def per_participant(self, per_block: npt.ArrayLike) -> FloatArray:
        """Sum a per-block quantity per participant (length ``n``)."""
        summed: FloatArray = np.bincount(
            self.owner, weights=np.asarray(per_block, dtype=np.float64), minlength=self.n
        ).astype(np.float64)
        return summed

    def total_energy_kwh(self) -> FloatArray:
        """Offered energy per participant, kWh."""
        return self.per_participant(self.energy_kwh)
