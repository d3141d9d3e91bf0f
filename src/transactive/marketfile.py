"""The market file (``transactive.market/1``) and result file (``transactive.result/1``) formats.

This is the boundary between users' JSON and the pure mechanisms: everything is validated here, and the
first problem is reported as a :class:`MarketFileError` whose message names the offending field, e.g.
``sellers[2].price_per_kwh: must be a finite number, got NaN``. Nothing is cleared from a file that has any
problem. The formats are specified in ``docs/market-file.md`` with JSON Schemas in ``docs/schemas/``.

Example:
    >>> doc = {"format": "transactive.market/1", "mechanism": "uniform",
    ...        "sellers": [{"id": "s", "energy_kwh": 10, "price_per_kwh": 1}],
    ...        "buyers": [{"id": "b", "energy_kwh": 4, "price_per_kwh": 3}]}
    >>> market = parse_market(doc)
    >>> result_document(market, market.clear())["buyers"]
    [{'id': 'b', 'energy_kwh': 4.0, 'payment': 8.0}]
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from transactive.errors import FieldError
from transactive.mechanisms import Mechanism, ParamError, ParticipantField
from transactive.orders import Orders, OrdersError
from transactive.registry import full_registry
from transactive.result import RESULT_FORMAT, ClearingResult

MARKET_FORMAT = "transactive.market/1"

MAX_ENERGY_KWH = 1e9  # 1 TWh in one order is not a community market: rejected as absurd
MAX_ABS_PRICE_PER_KWH = 1e9
MAX_PARTICIPANTS = 10_000_000
_TOP_LEVEL_KEYS = frozenset({"format", "mechanism", "params", "sellers", "buyers", "description"})
_SIDES = ("sellers", "buyers")


class MarketFileError(FieldError):
    """Invalid market file. ``field`` is a JSON path such as ``buyers[3].energy_kwh``."""


@dataclass(frozen=True)
class Market:
    """A validated market: the mechanism, its parameters, and both sides' orders."""

    mechanism: Mechanism[Any]
    params: Any
    sellers: Orders
    buyers: Orders
    description: str = ""

    def clear(self) -> ClearingResult:
        """Run the mechanism (pure).

        Input problems a mechanism can only see while clearing (an unknown feeder bus, say) are raised by it
        as a :class:`~transactive.errors.FieldError`; they come out as :class:`MarketFileError` like any other.
        """
        try:
            return self.mechanism.run(self.sellers, self.buyers, self.params)
        except FieldError as exc:
            if isinstance(exc, MarketFileError):
                raise
            raise MarketFileError(exc.field, exc.message) from None


# ---------------------------------------------------------------------------------------------- reading
def load_json(text: str) -> Any:
    """Parse JSON. ``NaN``/``Infinity`` literals parse to floats so that the field check rejects them by name."""
    try:
        return json.loads(text, parse_constant=float)
    except json.JSONDecodeError as exc:
        raise MarketFileError(
            "(file)", f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise MarketFileError("(file)", "JSON nested too deeply") from None


def read_market(path: str | Path, registry: Mapping[str, Mechanism[Any]] | None = None) -> Market:
    """Read and validate a market file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MarketFileError("(file)", f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MarketFileError("(file)", f"{path}: cannot read: {exc}") from None
    return parse_market(load_json(text), registry)


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _number(value: object, field: str, *, minimum: float | None = None, exclusive: bool = False,
            maximum: float = math.inf) -> float:
    if type(value) is float:  # the common case first (a JSON number with a fraction): the same checks, fewer steps
        if math.isfinite(value) and abs(value) <= maximum and (
                minimum is None or value > minimum or (value == minimum and not exclusive)):
            return value
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise MarketFileError(field, f"must be a number, got {_type_name(value)}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float range
        raise MarketFileError(field, f"is absurdly large (the limit is {maximum:g})") from None
    if not math.isfinite(number):
        raise MarketFileError(field, f"must be a finite number, got {value!r}")
    if minimum is not None and (number < minimum or (exclusive and number == minimum)):
        sign = ">" if exclusive else ">="
        raise MarketFileError(field, f"must be {sign} {minimum:g}, got {number:g}")
    if abs(number) > maximum:
        raise MarketFileError(field, f"is absurdly large ({number:g}; the limit is {maximum:g})")
    return number


def _object(value: object, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MarketFileError(field, f"must be an object, got {_type_name(value)}")
    return value


def _list(value: object, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise MarketFileError(field, f"must be a list, got {_type_name(value)}")
    return value


def _param_converter(annotation: Any, field: str) -> Callable[[object], object]:
    """A converter from JSON for a params dataclass field of type ``annotation``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"unsupported parameter type {annotation!r} for {field}")
        convert = _param_converter(inner[0], field)
        return lambda v: None if v is None else convert(v)
    if origin is typing.Literal:
        def literal(v: object) -> object:
            if v not in args or isinstance(v, bool) != any(isinstance(a, bool) for a in args):
                choices = ", ".join(json.dumps(a) for a in args)
                raise MarketFileError(field, f"must be one of {choices}, got {json.dumps(v)}")
            return v
        return literal
    if annotation is bool:
        def boolean(v: object) -> object:
            if not isinstance(v, bool):
                raise MarketFileError(field, f"must be true or false, got {_type_name(v)}")
            return v
        return boolean
    if annotation is int:
        def integer(v: object) -> object:
            if isinstance(v, bool) or not isinstance(v, int):
                raise MarketFileError(field, f"must be an integer, got {_type_name(v)}")
            return v
        return integer
    if annotation is float:
        return lambda v: _number(v, field, maximum=MAX_ENERGY_KWH)
    if annotation is str:
        def string(v: object) -> object:
            if not isinstance(v, str):
                raise MarketFileError(field, f"must be a string, got {_type_name(v)}")
            return v
        return string
    raise TypeError(f"unsupported parameter type {annotation!r} for {field}")


def parse_params(mechanism: Mechanism[Any], raw: object) -> Any:
    """Build ``mechanism.params_type`` from a JSON object, naming any bad field."""
    given = _object({} if raw is None else raw, "params")
    params_type = mechanism.params_type
    hints = typing.get_type_hints(params_type)
    fields = {f.name: f for f in dataclasses.fields(params_type)}
    unknown = sorted(set(given) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields)) or "none"
        raise MarketFileError(f"params.{unknown[0]}", f"unknown parameter for {mechanism.name} (known: {known})")
    values: dict[str, Any] = {}
    for name, f in fields.items():
        if name in given:
            values[name] = _param_converter(hints[name], f"params.{name}")(given[name])
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise MarketFileError(f"params.{name}", f"required by {mechanism.name}")
    try:
        return params_type(**values)
    except ParamError as exc:
        raise MarketFileError(exc.field, exc.message) from None


def _extra_field(spec: ParticipantField, value: object, field: str) -> float | int | str:
    if spec.kind is str:
        if type(value) is str:
            return value
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise MarketFileError(field, f"must be a string, got {_type_name(value)}")
        return str(value)
    if spec.kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise MarketFileError(field, f"must be an integer, got {_type_name(value)}")
        if spec.minimum is not None and value < spec.minimum:
            raise MarketFileError(field, f"must be >= {spec.minimum:g}, got {value}")
        return value
    return _number(value, field, minimum=spec.minimum, exclusive=spec.exclusive_minimum,
                   maximum=MAX_ABS_PRICE_PER_KWH)


@dataclass(frozen=True)
class Participant:
    """One validated participant entry: its id, its blocks ``(energy_kwh, price_per_kwh)`` and extra fields."""

    id: str
    blocks: tuple[tuple[float, float], ...]
    attributes: Mapping[str, float | int | str]


def _at(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def parse_participant(mechanism: Mechanism[Any], side: str, entry: object, field_prefix: str = "") -> Participant:
    """Validate one participant entry of ``side`` (``"sellers"`` or ``"buyers"``) for ``mechanism``.

    Errors name the field as ``field_prefix.name`` (just ``name`` when the prefix is empty), e.g.
    ``sellers[2].price_per_kwh`` in a market file or ``blocks[1].energy_kwh`` in a REST order.

    Example:
        >>> from transactive.registry import full_registry
        >>> parse_participant(full_registry()["uniform"], "buyers", {"id": "b", "energy_kwh": 2, "price_per_kwh": 3})
        Participant(id='b', blocks=((2.0, 3.0),), attributes={})
    """
    return _participant(mechanism, _SideShape.of(mechanism, side), entry, field_prefix)


@dataclass(frozen=True)
class _SideShape:
    """What one side of a mechanism takes: its extra fields and every allowed key (worked out once per side)."""

    extras: tuple[ParticipantField, ...]
    allowed: frozenset[str]

    @classmethod
    def of(cls, mechanism: Mechanism[Any], side: str) -> _SideShape:
        extras = tuple(f for f in mechanism.participant_fields if side in f.sides)
        allowed = {"id", "energy_kwh", "price_per_kwh"} | {f.name for f in extras}
        if mechanism.block_bids:
            allowed.add("blocks")
        return cls(extras, frozenset(allowed))


def _participant(mechanism: Mechanism[Any], shape: _SideShape, entry: object, where: str) -> Participant:
    """:func:`parse_participant` with the side's shape given."""
    item = _object(entry, where or "(order)")
    if not shape.allowed.issuperset(item):
        unknown = sorted(set(item) - shape.allowed)
        hint = " (this mechanism takes one block per participant)" if unknown[0] == "blocks" else ""
        raise MarketFileError(_at(where, unknown[0]), f"unknown field for {mechanism.name}{hint}")
    if "id" not in item:
        raise MarketFileError(_at(where, "id"), "required")
    pid = item["id"]
    if isinstance(pid, bool) or not isinstance(pid, str | int) or (isinstance(pid, str) and not pid.strip()):
        raise MarketFileError(_at(where, "id"), "must be a non-empty string or an integer")
    if "blocks" in item:
        if "energy_kwh" in item or "price_per_kwh" in item:
            raise MarketFileError(_at(where, "blocks"), "give either blocks or energy_kwh/price_per_kwh, not both")
        blocks = _list(item["blocks"], _at(where, "blocks"))
        if not blocks:
            raise MarketFileError(_at(where, "blocks"), "must not be empty")
        pairs = [(_object(b, _at(where, f"blocks[{k}]")), _at(where, f"blocks[{k}]")) for k, b in enumerate(blocks)]
    else:
        pairs = [(item, where)]
    parsed: list[tuple[float, float]] = []
    for block, at in pairs:
        unknown_keys = sorted(set(block) - {"energy_kwh", "price_per_kwh"}) if block is not item else []
        if unknown_keys:
            raise MarketFileError(_at(at, unknown_keys[0]), "unknown field in a block")
        if "energy_kwh" not in block:
            raise MarketFileError(_at(at, "energy_kwh"), "required")
        energy = _number(block["energy_kwh"], _at(at, "energy_kwh"), minimum=0.0, exclusive=True,
                         maximum=MAX_ENERGY_KWH)
        if "price_per_kwh" in block:
            price = _number(block["price_per_kwh"], _at(at, "price_per_kwh"), minimum=0.0,
                            maximum=MAX_ABS_PRICE_PER_KWH)
        elif mechanism.price_required:
            raise MarketFileError(_at(at, "price_per_kwh"), "required")
        else:
            price = 0.0
        parsed.append((energy, price))
    attributes: dict[str, float | int | str] = {}
    for spec in shape.extras:
        if spec.name in item:
            attributes[spec.name] = _extra_field(spec, item[spec.name], _at(where, spec.name))
        elif spec.default is None:
            raise MarketFileError(_at(where, spec.name), f"required by {mechanism.name}")
        else:
            attributes[spec.name] = spec.default
    return Participant(str(pid), tuple(parsed), attributes)


def _parse_side(mechanism: Mechanism[Any], side: str, raw: object, seen: dict[str, str]) -> Orders:
    participants = _list(raw, side)
    if len(participants) > MAX_PARTICIPANTS:
        raise MarketFileError(side, f"has {len(participants)} participants; the limit is {MAX_PARTICIPANTS}")
    shape = _SideShape.of(mechanism, side)
    extras = shape.extras
    ids: list[str] = []
    energy: list[float] = []
    price: list[float] = []
    owner: list[int] = []
    columns: dict[str, list[float | int | str]] = {f.name: [] for f in extras}
    for i, item in enumerate(participants):
        where = f"{side}[{i}]"
        participant = _participant(mechanism, shape, item, where)
        pid = participant.id
        if pid in seen:
            raise MarketFileError(f"{where}.id", f"duplicate id {pid!r} (already used at {seen[pid]})")
        seen[pid] = where
        ids.append(pid)
        for e, p in participant.blocks:
            energy.append(e)
            price.append(p)
            owner.append(i)
        for spec in extras:
            columns[spec.name].append(participant.attributes[spec.name])
    try:
        return Orders(tuple(ids), np.asarray(energy, dtype=np.float64), np.asarray(price, dtype=np.float64),
                      np.asarray(owner, dtype=np.int64), {k: np.asarray(v) for k, v in columns.items()})
    except OrdersError as exc:  # e.g. a side beyond the exact range of the clearing resolution
        raise MarketFileError(f"{side}.{exc.field}", exc.message) from None


def parse_market(doc: object, registry: Mapping[str, Mechanism[Any]] | None = None) -> Market:
    """Validate a parsed market document and build the :class:`Market`."""
    reg = full_registry() if registry is None else registry
    top = _object(doc, "(file)")
    if "format" not in top:
        raise MarketFileError("format", f"required (expected {MARKET_FORMAT!r})")
    if top["format"] != MARKET_FORMAT:
        raise MarketFileError("format", f"unsupported format {top['format']!r} (expected {MARKET_FORMAT!r})")
    unknown = sorted(set(top) - _TOP_LEVEL_KEYS)
    if unknown:
        raise MarketFileError(unknown[0], "unknown top-level field")
    name = top.get("mechanism")
    if not isinstance(name, str):
        raise MarketFileError("mechanism", f"required: a string, one of {', '.join(reg)}")
    if name not in reg:
        raise MarketFileError("mechanism", f"unknown mechanism {name!r} (known: {', '.join(reg)})")
    mechanism = reg[name]
    description = top.get("description", "")
    if not isinstance(description, str):
        raise MarketFileError("description", "must be a string")
    params = parse_params(mechanism, top.get("params"))
    seen: dict[str, str] = {}
    sides: dict[str, Orders] = {}
    for side in _SIDES:
        raw = top.get(side, [])
        if side in mechanism.sides:
            if not _list(raw, side):
                raise MarketFileError(side, f"must not be empty: {name} needs {side}")
            sides[side] = _parse_side(mechanism, side, raw, seen)
        else:
            if _list(raw, side):
                raise MarketFileError(side, f"must be empty: {name} takes no {side}")
            sides[side] = Orders.empty()
    return Market(mechanism, params, sides["sellers"], sides["buyers"], description)


# ---------------------------------------------------------------------------------------------- writing
def _plain(value: Any) -> Any:
    """JSON-ready copy: NumPy scalars and arrays to Python, -0.0 to 0.0, tuples to lists. The exact JSON types
    are tested first (a slot's ``details.trades``: 100,000 rows of small dicts)."""
    kind = type(value)
    if kind is float:
        if not math.isfinite(value):
            raise ValueError(f"non-finite number {value!r} in a result")
        return value + 0.0
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        return {k if type(k) is str else str(k): _plain(v) for k, v in value.items()}
    if kind is list:
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"non-finite number {value!r} in a result")
        return value + 0.0
    return value


def result_document(market: Market, result: ClearingResult) -> dict[str, Any]:
    """The ``transactive.result/1`` document: every participant in input order."""
    def side(orders: Orders, energy: np.ndarray, payment: np.ndarray) -> list[dict[str, Any]]:
        return [{"id": pid, "energy_kwh": float(e) + 0.0, "payment": float(p) + 0.0}
                for pid, e, p in zip(orders.ids, energy.tolist(), payment.tolist(), strict=True)]

    return {
        "format": RESULT_FORMAT,
        "mechanism": result.mechanism,
        "price_per_kwh": None if result.price_per_kwh is None else float(result.price_per_kwh) + 0.0,
        "sellers": side(market.sellers, result.sellers.energy_kwh, result.sellers.payment),
        "buyers": side(market.buyers, result.buyers.energy_kwh, result.buyers.payment),
        "details": _plain(dict(result.details)),
    }


def dumps_result(document: Mapping[str, Any]) -> str:
    """Deterministic JSON text (same result → same bytes on every machine)."""
    return json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
