"""The settlement input of a slot as a typed, versioned record: :class:`SettlementInput`.

The ledger desk commits a slot's settlement input on chain by its digest (:func:`input_digest`, SHA-256 of the
canonical JSON) and every validator and the audit recompute the postings from it. Three versions exist, named
by ``format``:

* ``transactive.settlement-input/3`` (written today, :mod:`transactive.settlement.sequence`): the whole seed-001
  sequence, its auction stage the anchored clearing's endorsed entries (``cleared``, ``charges_micro``,
  ``fund``, ``exchange_micro``) with the meters settling the deviations;
* ``/2`` (an older service): the same sequence, the auction stage the clearing's ``trades`` at p0 against the
  meters;
* ``/1`` (older still, :func:`transactive.settlement.slot_settlement.settle_input`): the auction against the
  meters only (``metered_kwh``).

:meth:`SettlementInput.from_json` reads each version, checks every key's type (a :class:`InputError` naming the
field, e.g. ``contracts[0].nonce``; an unknown ``format`` or a key the version does not have is an error too)
and keeps each JSON value as it was written (an integer stays an integer), so :meth:`SettlementInput.to_json`
gives back the same JSON, and the same digest: the on-chain order root of an archived slot still verifies.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

from transactive.canonical_json import canonical, canonical_once
from transactive.errors import FieldError
from transactive.settlement.grid_trading import GridTariff
from transactive.settlement.listings import ServiceRates
from transactive.settlement.meter_readings import SignedReading

INPUT_FORMAT = "transactive.settlement-input/1"
SEQUENCE_FORMAT_V2 = "transactive.settlement-input/2"
SEQUENCE_FORMAT = "transactive.settlement-input/3"
INPUT_FORMATS = (INPUT_FORMAT, SEQUENCE_FORMAT_V2, SEQUENCE_FORMAT)

__all__ = ["INPUT_FORMAT", "INPUT_FORMATS", "METER_KEYS", "SEQUENCE_FORMAT", "SEQUENCE_FORMAT_V2", "ClearedRows",
           "FundRow", "InputContract", "InputCorrection", "InputError", "InputListing", "InputOrder", "InputTrade",
           "InputWholesale", "SettlementInput", "input_digest", "meter_fields_of"]


class InputError(FieldError):
    """A settlement input that cannot be read (``field``: the offending key, e.g. ``trades[2].charge``)."""


def input_digest(doc: SettlementInput | Mapping[str, Any]) -> bytes:
    """SHA-256 of the canonical JSON (sorted keys, no spaces) of a settlement input: what the settlement slot's
    order root commits to."""
    # an input's stored_json is encoded once (the store writes that same text: transactive.canonical_json)
    raw = canonical_once(doc.stored_json) if isinstance(doc, SettlementInput) else canonical(doc)
    return hashlib.sha256(raw.encode()).digest()


# ---------------------------------------------------------------------------------------- field readers
def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InputError(where, f"must be a JSON object, not {type(value).__name__}")
    return value


def _get(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise InputError(f"{where}{key}", "is missing")
    return data[key]


def _num(data: Mapping[str, Any], key: str, where: str = "") -> float:
    value = _get(data, key, where)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{where}{key}", f"must be a number, not {value!r}")
    return value  # kept as written (an int stays an int: the digest depends on it)


def _int(data: Mapping[str, Any], key: str, where: str = "") -> int:
    value = _get(data, key, where)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{where}{key}", f"must be an integer, not {value!r}")
    return value


def _opt_int(data: Mapping[str, Any], key: str) -> int | None:
    return None if _get(data, key, "") is None else _int(data, key)


def _str(data: Mapping[str, Any], key: str, where: str = "") -> str:
    value = _get(data, key, where)
    if not isinstance(value, str):
        raise InputError(f"{where}{key}", f"must be a string, not {value!r}")
    return value


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    return None if _get(data, key, "") is None else _str(data, key)


def _list(data: Mapping[str, Any], key: str, where: str = "") -> list[Any]:
    value = _get(data, key, where)
    if not isinstance(value, list):
        raise InputError(f"{where}{key}", "must be a list")
    return value


def _strs(data: Mapping[str, Any], key: str, where: str = "") -> tuple[str, ...]:
    value = _list(data, key, where)
    for i, x in enumerate(value):
        if not isinstance(x, str):
            raise InputError(f"{where}{key}[{i}]", "must be a string")
    return tuple(value)


def _str_map(data: Mapping[str, Any], key: str) -> Mapping[str, str]:
    value = _obj(_get(data, key, ""), key)
    for k, v in value.items():
        if not isinstance(v, str):
            raise InputError(f"{key}.{k}", "must be a string")
    return MappingProxyType(dict(value))


def _num_map(data: Mapping[str, Any], key: str) -> Mapping[str, float]:
    value = _obj(_get(data, key, ""), key)
    for k in value:
        _num(value, k, f"{key}.")
    return MappingProxyType(dict(value))


def _rows(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    return [_obj(x, f"{key}[{i}]") for i, x in enumerate(_list(data, key))]


def _exact_keys(data: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    extra = sorted(set(data) - set(keys))
    if extra:
        raise InputError(f"{where}{extra[0]}", "is not a key of this settlement input format")


# ---------------------------------------------------------------------------------------- the parts
@dataclass(frozen=True)
class InputTrade:
    """A trade settled with a network charge (tokens): ``energy_kwh`` from ``seller`` to ``buyer``."""

    buyer: str
    seller: str
    energy_kwh: float
    charge: float

    def to_json(self) -> dict[str, Any]:
        return {"buyer": self.buyer, "seller": self.seller, "energy_kwh": self.energy_kwh, "charge": self.charge}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> InputTrade:
        _exact_keys(data, ("buyer", "seller", "energy_kwh", "charge"), where)
        return cls(_str(data, "buyer", where), _str(data, "seller", where), _num(data, "energy_kwh", where),
                   _num(data, "charge", where))


@dataclass(frozen=True)
class InputContract:
    """A signed bilateral contract delivering in the slot (addresses EIP-55, signatures ``0x``-hex)."""

    id: str
    seller_address: str
    buyer_address: str
    slots: tuple[int, ...]
    energy_wh: int
    price_per_kwh: float
    nonce: int
    seller_signature: str
    buyer_signature: str

    _KEYS = ("id", "seller_address", "buyer_address", "slots", "energy_wh", "price_per_kwh", "nonce",
             "seller_signature", "buyer_signature")

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "seller_address": self.seller_address, "buyer_address": self.buyer_address,
                "slots": list(self.slots), "energy_wh": self.energy_wh, "price_per_kwh": self.price_per_kwh,
                "nonce": self.nonce, "seller_signature": self.seller_signature,
                "buyer_signature": self.buyer_signature}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> InputContract:
        _exact_keys(data, cls._KEYS, where)
        slots = _list(data, "slots", where)
        for i, s in enumerate(slots):
            if isinstance(s, bool) or not isinstance(s, int):
                raise InputError(f"{where}slots[{i}]", "must be an integer")
        return cls(_str(data, "id", where), _str(data, "seller_address", where), _str(data, "buyer_address", where),
                   tuple(slots), _int(data, "energy_wh", where), _num(data, "price_per_kwh", where),
                   _int(data, "nonce", where), _str(data, "seller_signature", where),
                   _str(data, "buyer_signature", where))


@dataclass(frozen=True)
class InputListing:
    """A listing on the slot's board: ``energy_wh`` offered by ``seller`` at ``price_per_kwh``."""

    id: str
    seller: str
    energy_wh: int
    price_per_kwh: float

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "seller": self.seller, "energy_wh": self.energy_wh, "price_per_kwh": self.price_per_kwh}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> InputListing:
        _exact_keys(data, ("id", "seller", "energy_wh", "price_per_kwh"), where)
        return cls(_str(data, "id", where), _str(data, "seller", where), _int(data, "energy_wh", where),
                   _num(data, "price_per_kwh", where))


@dataclass(frozen=True)
class InputOrder:
    """A buyer's order on a listing and the seller's ``decision`` (``accepted``, ``rejected``; None: undecided)
    with its ``reason``."""

    id: str
    listing_id: str
    buyer: str
    energy_wh: int
    decision: str | None
    reason: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "listing_id": self.listing_id, "buyer": self.buyer, "energy_wh": self.energy_wh,
                "decision": self.decision, "reason": list(self.reason)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> InputOrder:
        _exact_keys(data, ("id", "listing_id", "buyer", "energy_wh", "decision", "reason"), where)
        decision = _get(data, "decision", where)
        if decision is not None and not isinstance(decision, str):
            raise InputError(f"{where}decision", "must be a string or null")
        return cls(_str(data, "id", where), _str(data, "listing_id", where), _str(data, "buyer", where),
                   _int(data, "energy_wh", where), decision, _strs(data, "reason", where))

    @property
    def accepted(self) -> bool:
        return self.decision == "accepted"


@dataclass(frozen=True)
class ClearedRows:
    """Format 3: the endorsed clearing per member id, parallel columns (signed: + sold / received)."""

    members: tuple[str, ...]
    energy_wh: tuple[int, ...]
    amount_micro: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {"members": list(self.members), "energy_wh": list(self.energy_wh),
                "amount_micro": list(self.amount_micro)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClearedRows:
        _exact_keys(data, ("members", "energy_wh", "amount_micro"), "cleared.")
        columns = []
        for key in ("energy_wh", "amount_micro"):
            values = _list(data, key, "cleared.")
            for i, v in enumerate(values):
                if isinstance(v, bool) or not isinstance(v, int):
                    raise InputError(f"cleared.{key}[{i}]", "must be an integer")
            columns.append(tuple(values))
        members = _strs(data, "members", "cleared.")
        if not len(members) == len(columns[0]) == len(columns[1]):
            raise InputError("cleared", "members, energy_wh and amount_micro must have the same length")
        return cls(members, columns[0], columns[1])

    def rows(self) -> list[tuple[str, int, int]]:
        """``(member, energy_wh, amount_micro)`` per cleared member."""
        return list(zip(self.members, self.energy_wh, self.amount_micro, strict=True))


@dataclass(frozen=True)
class FundRow:
    """Format 3: the community fund's endorsed row (``energy_wh`` = −DPDA's excess, ``amount_micro`` its
    surplus or deficit)."""

    account: str
    energy_wh: int
    amount_micro: int

    def to_json(self) -> dict[str, Any]:
        return {"account": self.account, "energy_wh": self.energy_wh, "amount_micro": self.amount_micro}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FundRow:
        _exact_keys(data, ("account", "energy_wh", "amount_micro"), "fund.")
        return cls(_str(data, "account", "fund."), _int(data, "energy_wh", "fund."),
                   _int(data, "amount_micro", "fund."))


@dataclass(frozen=True)
class InputWholesale:
    """Format 3, optional (``wholesale``): the community's wholesale price ``price_per_kwh`` (λ_w) at the slot
    and the auctioneer's ``fee_per_kwh`` (tokens/kWh, :mod:`transactive.settlement.wholesale`), the fee to the
    ``auctioneer`` address (None: the DSO's account keeps it)."""

    price_per_kwh: float
    fee_per_kwh: float
    auctioneer: str | None

    def to_json(self) -> dict[str, Any]:
        return {"price_per_kwh": self.price_per_kwh, "fee_per_kwh": self.fee_per_kwh, "auctioneer": self.auctioneer}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InputWholesale:
        where = "wholesale."
        _exact_keys(data, ("price_per_kwh", "fee_per_kwh", "auctioneer"), where)
        auctioneer = _get(data, "auctioneer", where)
        if auctioneer is not None and not isinstance(auctioneer, str):
            raise InputError(f"{where}auctioneer", "must be a string or null")
        price, fee = _num(data, "price_per_kwh", where), _num(data, "fee_per_kwh", where)
        for key, value in (("price_per_kwh", price), ("fee_per_kwh", fee)):
            if not math.isfinite(value):
                raise InputError(f"{where}{key}", "must be finite")
        if fee < 0:
            raise InputError(f"{where}fee_per_kwh", "must be >= 0")
        return cls(price, fee, auctioneer)


def _signed_reading(data: Mapping[str, Any], where: str) -> SignedReading:
    _exact_keys(data, ("community", "member", "slot", "energy_wh", "meter", "signature"), where)
    return SignedReading(_str(data, "community", where), _str(data, "member", where), _int(data, "slot", where),
                         _int(data, "energy_wh", where), _str(data, "meter", where), _str(data, "signature", where))


@dataclass(frozen=True)
class InputCorrection:
    """Format 3, optional (``corrections``): a reading corrected by a resolved dispute -- the settled
    ``energy_wh``, the meter's signed ``metered_wh`` (None: no signed reading), the approvers' ids per role
    (``approved_by``) and their EIP-712 ``signatures`` per role (``{"address", "signature"}``), checked by
    :func:`transactive.settlement.meter_readings.check_input_readings`."""

    member: str
    dispute: str
    energy_wh: int
    metered_wh: int | None
    approved_by: Mapping[str, str]
    signatures: Mapping[str, Mapping[str, str]]

    def to_json(self) -> dict[str, Any]:
        return {"member": self.member, "dispute": self.dispute, "energy_wh": self.energy_wh,
                "metered_wh": self.metered_wh, "approved_by": dict(self.approved_by),
                "signatures": {role: dict(entry) for role, entry in self.signatures.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> InputCorrection:
        _exact_keys(data, ("member", "dispute", "energy_wh", "metered_wh", "approved_by", "signatures"), where)
        approved_by = _obj(_get(data, "approved_by", where), f"{where}approved_by")
        for role, who in approved_by.items():
            if not isinstance(who, str):
                raise InputError(f"{where}approved_by.{role}", "must be a string")
        signatures: dict[str, Mapping[str, str]] = {}
        for role, raw in _obj(_get(data, "signatures", where), f"{where}signatures").items():
            at = f"{where}signatures.{role}."
            entry = _obj(raw, at.rstrip("."))
            _exact_keys(entry, ("address", "signature"), at)
            signatures[role] = MappingProxyType({"address": _str(entry, "address", at),
                                                 "signature": _str(entry, "signature", at)})
        metered = _get(data, "metered_wh", where)
        return cls(_str(data, "member", where), _str(data, "dispute", where), _int(data, "energy_wh", where),
                   None if metered is None else _int(data, "metered_wh", where),
                   MappingProxyType(dict(approved_by)), MappingProxyType(signatures))


METER_KEYS = ("meters", "signed_readings", "corrections")


def meter_fields_of(data: Mapping[str, Any]) -> dict[str, Any]:
    """The optional meter fields (issue 9) present in a format-3 input's JSON, typed (keyword arguments of
    :class:`SettlementInput`): ``meters`` (member -> meter address), ``signed_readings``
    (:class:`~transactive.settlement.meter_readings.SignedReading`), ``corrections`` (:class:`InputCorrection`)."""
    out: dict[str, Any] = {}
    if "meters" in data:
        out["meters"] = _str_map(data, "meters")
    if "signed_readings" in data:
        out["signed_readings"] = tuple(_signed_reading(r, f"signed_readings[{i}].")
                                       for i, r in enumerate(_rows(data, "signed_readings")))
    if "corrections" in data:
        out["corrections"] = tuple(InputCorrection.from_json(c, f"corrections[{i}].")
                                   for i, c in enumerate(_rows(data, "corrections")))
    return out


# ---------------------------------------------------------------------------------------- the record
def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


_COMMON = ("format", "slot", "clearingSlot", "clearingRoot", "price_per_kwh", "penalty_per_kwh", "trades",
           "missing_readings", "accounts", "dso")
_SEQUENCE = ("multiSlot", "parties", "readings_kwh", "contracts", "addresses", "listings", "orders", "tariff",
             "rates")
_KEYS = {INPUT_FORMAT: (*_COMMON, "metered_kwh"),
         SEQUENCE_FORMAT_V2: (*_COMMON, *_SEQUENCE),
         SEQUENCE_FORMAT: (*_COMMON, *_SEQUENCE, "cleared", "charges_micro", "fund", "exchange_micro")}
_OPTIONAL = {SEQUENCE_FORMAT: ("wholesale", *METER_KEYS)}
"""Keys a version may have or not: written only when they apply (an input without them keeps its JSON and
digest)."""


@dataclass(frozen=True)
class SettlementInput:
    """A slot's settlement input (see the module docstring). Every version has the chain ``slot``, the anchored
    clearing's ``clearing_slot`` and ``clearing_root`` (None for a slot without a clearing), the deviation
    price ``price_per_kwh`` and ``penalty_per_kwh`` (tokens/kWh), the network-charged ``trades``, the
    ``missing_readings``, the chain ``accounts`` per member id and the ``dso`` address. Formats 2 and 3 add the
    sequence's parts (``multi_slot`` … ``rates``: the service's tariff ``feed_in_per_kwh``/``retail_per_kwh`` and
    board rates ``service_charge_per_kwh``/``penalty_per_kwh``); format 3 the endorsed clearing (``cleared``,
    ``charges_micro``, ``fund``, ``exchange_micro``) and, only where it applies, the optional ``wholesale``
    (:class:`InputWholesale`) and meter evidence (``meters``, ``signed_readings``, ``corrections``: issue 9's
    signed readings, :mod:`transactive.settlement.meter_readings`), each absent from the JSON when None; format
    1 the ``metered_kwh`` per trading member."""

    format: str
    slot: int
    clearing_slot: int | None
    clearing_root: str | None
    price_per_kwh: float
    penalty_per_kwh: float
    trades: tuple[InputTrade, ...]
    missing_readings: tuple[str, ...]
    accounts: Mapping[str, str]
    dso: str
    multi_slot: int = 0
    parties: tuple[str, ...] = ()
    readings_kwh: Mapping[str, float] = field(default_factory=_empty)
    contracts: tuple[InputContract, ...] = ()
    addresses: Mapping[str, str] = field(default_factory=_empty)  # registered (contract-signing) address -> member id
    listings: tuple[InputListing, ...] = ()
    orders: tuple[InputOrder, ...] = ()
    tariff: GridTariff = field(default_factory=GridTariff)
    rates: ServiceRates = field(default_factory=ServiceRates)
    cleared: ClearedRows = field(default_factory=lambda: ClearedRows((), (), ()))
    charges_micro: int = 0
    fund: FundRow | None = None
    exchange_micro: int = 0
    metered_kwh: Mapping[str, float] = field(default_factory=_empty)
    wholesale: InputWholesale | None = None
    meters: Mapping[str, str] | None = None
    signed_readings: tuple[SignedReading, ...] | None = None
    corrections: tuple[InputCorrection, ...] | None = None

    @classmethod
    def of(cls, doc: SettlementInput | Mapping[str, Any]) -> SettlementInput:
        """``doc`` itself, or read from its JSON (:meth:`from_json`)."""
        return doc if isinstance(doc, SettlementInput) else cls.from_json(doc)

    @property
    def is_sequence(self) -> bool:
        """Whether this is a whole-sequence input (formats 2 and 3), not a format-1 auction-only one."""
        return self.format in (SEQUENCE_FORMAT, SEQUENCE_FORMAT_V2)

    @property
    def traded(self) -> bool:
        """Whether the slot's auction stage has anything to settle (trades or cleared members)."""
        return bool(self.trades or self.cleared.members)

    @cached_property
    def stored_json(self) -> dict[str, Any]:
        """:meth:`to_json`, built once per record and shared (read-only: the desk stores it on every save)."""
        return self.to_json()

    def digest(self) -> bytes:
        """:func:`input_digest` of this input (the settlement slot's order root)."""
        return input_digest(self)

    def to_json(self) -> dict[str, Any]:
        """The JSON document (exactly the keys of its format; values as read or built)."""
        out: dict[str, Any] = {
            "format": self.format, "slot": self.slot, "clearingSlot": self.clearing_slot,
            "clearingRoot": self.clearing_root, "price_per_kwh": self.price_per_kwh,
            "penalty_per_kwh": self.penalty_per_kwh, "trades": [t.to_json() for t in self.trades],
            "missing_readings": list(self.missing_readings), "accounts": dict(self.accounts), "dso": self.dso,
        }
        if self.format == INPUT_FORMAT:
            out["metered_kwh"] = dict(self.metered_kwh)
            return out
        out.update({
            "multiSlot": self.multi_slot, "parties": list(self.parties), "readings_kwh": dict(self.readings_kwh),
            "contracts": [c.to_json() for c in self.contracts], "addresses": dict(self.addresses),
            "listings": [x.to_json() for x in self.listings], "orders": [o.to_json() for o in self.orders],
            "tariff": {"feed_in_per_kwh": self.tariff.feed_in_per_kwh, "retail_per_kwh": self.tariff.retail_per_kwh},
            "rates": {"service_charge_per_kwh": self.rates.service_charge_per_kwh,
                      "penalty_per_kwh": self.rates.penalty_per_kwh},
        })
        if self.format == SEQUENCE_FORMAT:
            out.update({"cleared": self.cleared.to_json(), "charges_micro": self.charges_micro,
                        "fund": None if self.fund is None else self.fund.to_json(),
                        "exchange_micro": self.exchange_micro})
            if self.wholesale is not None:
                out["wholesale"] = self.wholesale.to_json()
            if self.meters is not None:
                out["meters"] = dict(self.meters)
            if self.signed_readings is not None:
                out["signed_readings"] = [r.to_json() for r in self.signed_readings]
            if self.corrections is not None:
                out["corrections"] = [c.to_json() for c in self.corrections]
        return out

    @classmethod
    def from_json(cls, data: Any) -> SettlementInput:
        """Read a settlement input of any version (:class:`InputError` naming the field)."""
        data = _obj(data, "input")
        version = data.get("format")
        if version not in _KEYS:
            raise InputError("format", f"unknown settlement input format {version!r} (known: "
                                       f"{', '.join(INPUT_FORMATS)})")
        _exact_keys(data, (*_KEYS[version], *_OPTIONAL.get(version, ())), "")
        common: dict[str, Any] = {
            "format": version, "slot": _int(data, "slot"), "clearing_slot": _opt_int(data, "clearingSlot"),
            "clearing_root": _opt_str(data, "clearingRoot"), "price_per_kwh": _num(data, "price_per_kwh"),
            "penalty_per_kwh": _num(data, "penalty_per_kwh"),
            "trades": tuple(InputTrade.from_json(t, f"trades[{i}].") for i, t in enumerate(_rows(data, "trades"))),
            "missing_readings": _strs(data, "missing_readings"), "accounts": _str_map(data, "accounts"),
            "dso": _str(data, "dso"),
        }
        if version == INPUT_FORMAT:
            return cls(**common, metered_kwh=_num_map(data, "metered_kwh"))
        tariff, rates = _obj(_get(data, "tariff", ""), "tariff"), _obj(_get(data, "rates", ""), "rates")
        _exact_keys(tariff, ("feed_in_per_kwh", "retail_per_kwh"), "tariff.")
        _exact_keys(rates, ("service_charge_per_kwh", "penalty_per_kwh"), "rates.")
        sequence: dict[str, Any] = {
            "multi_slot": _int(data, "multiSlot"), "parties": _strs(data, "parties"),
            "readings_kwh": _num_map(data, "readings_kwh"),
            "contracts": tuple(InputContract.from_json(c, f"contracts[{i}].")
                               for i, c in enumerate(_rows(data, "contracts"))),
            "addresses": _str_map(data, "addresses"),
            "listings": tuple(InputListing.from_json(x, f"listings[{i}].")
                              for i, x in enumerate(_rows(data, "listings"))),
            "orders": tuple(InputOrder.from_json(o, f"orders[{i}].") for i, o in enumerate(_rows(data, "orders"))),
        }
        try:
            sequence["tariff"] = GridTariff(feed_in_per_kwh=_num(tariff, "feed_in_per_kwh", "tariff."),
                                            retail_per_kwh=_num(tariff, "retail_per_kwh", "tariff."))
            sequence["rates"] = ServiceRates(service_charge_per_kwh=_num(rates, "service_charge_per_kwh", "rates."),
                                             penalty_per_kwh=_num(rates, "penalty_per_kwh", "rates."))
        except InputError:
            raise
        except FieldError as exc:  # a rate out of range
            raise InputError(exc.field if "." in exc.field else f"tariff.{exc.field}", exc.message) from exc
        if version == SEQUENCE_FORMAT_V2:
            return cls(**common, **sequence)
        fund = _get(data, "fund", "")
        return cls(**common, **sequence, cleared=ClearedRows.from_json(_obj(_get(data, "cleared", ""), "cleared")),
                   charges_micro=_int(data, "charges_micro"),
                   fund=None if fund is None else FundRow.from_json(_obj(fund, "fund")),
                   exchange_micro=_int(data, "exchange_micro"),
                   wholesale=(InputWholesale.from_json(_obj(data["wholesale"], "wholesale"))
                              if "wholesale" in data else None),
                   **meter_fields_of(data))
