"""The mechanism descriptor and the error type shared by all mechanisms."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from transactive.errors import FieldError
from transactive.orders import Orders
from transactive.result import ClearingResult

P = TypeVar("P")
SideName = Literal["sellers", "buyers"]


class ParamError(FieldError):
    """An invalid mechanism parameter; ``field`` is its name (e.g. ``target_kwh``)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"params.{field_name}", message)


def param_number(name: str, value: object) -> float:
    """``value`` as a finite float, or :class:`ParamError` naming the parameter ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParamError(name, "must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise ParamError(name, "must be finite")
    return number


@dataclass(frozen=True)
class ParticipantField:
    """An extra per-participant field a mechanism reads from the market file (e.g. ``bus``).

    ``default`` None means the field is required. Values land in ``Orders.attributes[name]``.
    ``minimum`` is inclusive unless ``exclusive_minimum`` (e.g. ``alpha > 0``, which the score matching
    divides by).
    """

    name: str
    kind: type[float] | type[int] | type[str]
    sides: tuple[SideName, ...] = ("sellers", "buyers")
    default: float | int | str | None = None
    minimum: float | None = None
    exclusive_minimum: bool = False


@dataclass(frozen=True)
class Mechanism(Generic[P]):
    """A registered clearing mechanism: a pure function ``clear(sellers, buyers, params) -> result``.

    Attributes:
        name: registry key, used in market files.
        summary: one line for listings.
        params_type: frozen dataclass of parameters (defaults = the canonical rule).
        clear: the pure clearing function.
        sides: the sides the mechanism takes; each must be non-empty, the other must be empty.
        block_bids: True when a participant may submit several blocks.
        participant_fields: extra per-participant fields.
        source: the seed document and equations implemented.
        price_required: False when participants may omit ``price_per_kwh`` (it is then 0).
    """

    name: str
    summary: str
    params_type: type[P]
    clear: Callable[[Orders, Orders, P], ClearingResult]
    sides: tuple[SideName, ...] = ("sellers", "buyers")
    block_bids: bool = False
    participant_fields: tuple[ParticipantField, ...] = field(default=())
    source: str = ""
    price_required: bool = True

    def run(self, sellers: Orders, buyers: Orders, params: Any) -> ClearingResult:
        """Clear with ``params`` (an instance of ``params_type``)."""
        if not isinstance(params, self.params_type):
            raise TypeError(f"{self.name} needs {self.params_type.__name__}, got {type(params).__name__}")
        return self.clear(sellers, buyers, params)


@dataclass(frozen=True)
class NoParams:
    """For mechanisms without parameters."""
