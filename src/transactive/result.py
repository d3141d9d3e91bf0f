"""The result of a clearing: per participant energy traded and payment, a clearing price, details.

Sign convention: ``energy_kwh`` is the magnitude traded; ``payment`` is money **received** by a seller and
money **paid** by a buyer (both normally >= 0). ``price_per_kwh`` is the single clearing price where the
mechanism has one (p0, MCP, uniform price), else ``None``. ``details`` holds mechanism-specific figures as
JSON-compatible values (numbers, strings, booleans, None, lists and dicts of them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from transactive.errors import FieldError
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


RESULT_FORMAT = "transactive.result/1"


class ResultDocumentError(FieldError):
    """A stored ``transactive.result/1`` document that cannot be read (``field``: the offending key)."""


@dataclass(frozen=True)
class ResultRow:
    """One participant's row of a result document: ``energy_kwh`` traded and ``payment`` (tokens), as written."""

    id: str
    energy_kwh: float
    payment: float

    @property
    def traded(self) -> bool:
        return self.energy_kwh > 0

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "energy_kwh": self.energy_kwh, "payment": self.payment}


def _row(data: Any, where: str) -> ResultRow:
    if not isinstance(data, Mapping):
        raise ResultDocumentError(where, "must be a JSON object")
    if not isinstance(data.get("id"), str):
        raise ResultDocumentError(f"{where}.id", "must be a string")
    values = []
    for key in ("energy_kwh", "payment"):
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ResultDocumentError(f"{where}.{key}", "must be a number")
        values.append(value)
    return ResultRow(data["id"], values[0], values[1])


@dataclass(frozen=True)
class ResultDocument:
    """A clearing's ``transactive.result/1`` document as stored by the service
    (:func:`transactive.marketfile.result_document` writes it): the mechanism, the clearing price (None without
    one), every participant's row per side in input order, and the mechanism's ``details``."""

    mechanism: str
    price_per_kwh: float | None
    sellers: tuple[ResultRow, ...]
    buyers: tuple[ResultRow, ...]
    details: Mapping[str, JSONValue] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"format": RESULT_FORMAT, "mechanism": self.mechanism, "price_per_kwh": self.price_per_kwh,
                "sellers": [r.to_json() for r in self.sellers], "buyers": [r.to_json() for r in self.buyers],
                "details": dict(self.details)}

    @classmethod
    def from_json(cls, data: Any) -> ResultDocument:
        """Read a result document (``format`` and ``mechanism`` may be absent in a bare clearing's rows)."""
        price = _document_price(data)
        sides = []
        for side in ("sellers", "buyers"):
            rows = data.get(side)
            if not isinstance(rows, list):
                raise ResultDocumentError(side, "must be a list")
            sides.append(tuple(_row(r, f"{side}[{i}]") for i, r in enumerate(rows)))
        details = data.get("details") or {}
        if not isinstance(details, Mapping):
            details = {}
        return cls(str(data.get("mechanism", "")), price, sides[0], sides[1], details)

    @classmethod
    def of(cls, document: ResultDocument | Mapping[str, Any]) -> ResultDocument:
        """``document`` itself, or read from its JSON."""
        return document if isinstance(document, ResultDocument) else cls.from_json(document)

    def rows_of(self, member: str) -> tuple[list[ResultRow], list[ResultRow]]:
        """``member``'s own rows ``(sellers, buyers)``."""
        return [r for r in self.sellers if r.id == member], [r for r in self.buyers if r.id == member]

    @property
    def matched_trades(self) -> list[Mapping[str, Any]] | None:
        """The matched trades of a ``*_matched`` mechanism (``details.trades``), else None."""
        trades = self.details.get("trades")
        return trades if isinstance(trades, list) else None


def _settlement_price(price_per_kwh: float | None, buyers: Iterable[tuple[float, float]]) -> float:
    """p0 (``price_per_kwh``), or the buyers' average price over ``(energy_kwh, payment)`` (0 if no trade)."""
    if price_per_kwh is not None:
        return float(price_per_kwh)
    rows = list(buyers)  # summed in row order, as written (the same floats every time)
    energy = sum(float(e) for e, _ in rows)
    paid = sum(float(p) for _, p in rows)
    return paid / energy if energy > 0 else 0.0


@dataclass(frozen=True)
class ResultSummary:
    """What a slot's settlement needs of its result document: the ``traders`` (ids of the rows with energy traded,
    either side), the settlement's ``price_per_kwh`` (p0, or the buyers' average price when the mechanism has
    none; 0 if no trade) and whether the mechanism's trades are ``matched`` (``details.trades``, a
    ``*_matched`` mechanism). :meth:`from_json` reads it from the stored JSON in one pass, checking every row as
    :meth:`ResultDocument.from_json` does, without an object per row (100,000 rows at 10^5)."""

    traders: frozenset[str]
    price_per_kwh: float
    matched: bool

    @classmethod
    def of(cls, document: ResultDocument | ResultSummary | Mapping[str, Any]) -> ResultSummary:
        """``document`` itself, or the summary of a result document (typed or its JSON)."""
        if isinstance(document, ResultSummary):
            return document
        if not isinstance(document, ResultDocument):
            return cls.from_json(document)
        return cls(frozenset(r.id for r in (*document.sellers, *document.buyers) if r.traded),
                   _settlement_price(document.price_per_kwh, ((b.energy_kwh, b.payment) for b in document.buyers)),
                   document.matched_trades is not None)

    @classmethod
    def from_json(cls, data: Any) -> ResultSummary:
        """Read the summary of a stored result document (the same checks and errors as
        :meth:`ResultDocument.from_json`)."""
        price = _document_price(data)
        traders: set[str] = set()
        buyers: list[tuple[float, float]] = []
        for side in ("sellers", "buyers"):
            rows = data.get(side)
            if not isinstance(rows, list):
                raise ResultDocumentError(side, "must be a list")
            figures: list[tuple[str, float, float]] = []
            for i, r in enumerate(rows):
                if type(r) is dict and type(id_ := r.get("id")) is str and \
                        ((kind := type(e := r.get("energy_kwh"))) is float or kind is int) and \
                        ((kind := type(p := r.get("payment"))) is float or kind is int):
                    figures.append((id_, e, p))  # type: ignore[arg-type]  # (checked: numbers)
                else:  # another mapping or a bad row: the typed reader's checks (and its error)
                    row = _row(r, f"{side}[{i}]")
                    figures.append((row.id, row.energy_kwh, row.payment))
            traders.update(id_ for id_, e, _ in figures if e > 0)
            if side == "buyers":
                buyers = [(e, p) for _, e, p in figures]
        details = data.get("details") or {}
        trades = details.get("trades") if isinstance(details, Mapping) else None
        return cls(frozenset(traders), _settlement_price(price, buyers), isinstance(trades, list))


def _document_price(data: Any) -> float | None:
    """A stored result document's envelope checked (an object of this format; ``format`` may be absent in a
    bare clearing's rows) and its clearing price (None for a mechanism without one): the first step of both
    :meth:`ResultDocument.from_json` and :meth:`ResultSummary.from_json`."""
    if not isinstance(data, Mapping):
        raise ResultDocumentError("result", "must be a JSON object")
    if data.get("format", RESULT_FORMAT) != RESULT_FORMAT:
        raise ResultDocumentError("format", f"not a {RESULT_FORMAT} document")
    price: float | None = data.get("price_per_kwh")  # an int stays an int, as it was read
    if price is not None and (isinstance(price, bool) or not isinstance(price, (int, float))):
        return None  # a mechanism without one clearing price
    return price
