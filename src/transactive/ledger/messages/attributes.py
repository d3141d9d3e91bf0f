"""Signed per-participant attributes: what grid-aware mechanisms need beyond the orders (seed 004 ch. 4).

``dpda_matched`` / ``mcafee_matched`` read, per participant, its feeder ``bus``, its ``distance_pref_m`` and
its welfare parameters (sellers ``a``, ``b``, ``c``; buyers ``omega``, ``alpha``; ``docs/grid.md``). Each trader
of a grid-aware slot has **one** ``Attributes`` record for the slot, EIP-712 typed data under the same domain
as its orders, whose struct hash its signed (version-2) ``Order`` carries as ``attributesHash``: one
signature covers both (issue 13). Version-1 archives signed the record separately (``sign_attributes``):

``Attributes(address trader,uint256 slot,string bus,uint256 distancePrefMm,uint256 costANano,``
``uint256 costBNano,uint256 costCNano,uint256 omegaNano,uint256 alphaNano)``

* ``bus``: the pandapower bus name (UTF-8, at most 32 bytes: the Registry stores it as ``bytes32``);
* ``distancePrefMm``: the distance preference in millimetres (``distance_pref_m`` x 1000, rounded);
* the welfare parameters in units of 1e-9 of theirs (``a`` tokens/kWh², ``b`` tokens/kWh, ``c`` tokens,
  ``omega`` tokens/kWh, ``alpha`` tokens/kWh²), rounded to nearest, ties to even; all >= 0. A decimal
  with at most 9 fractional digits round-trips exactly (``n / 1e9`` is the double nearest to it). A pure
  seller signs ``omega = alpha = 0``, a pure buyer ``a = b = c = 0``; the mechanism reads only its side's.

The record's struct hash is a leaf of the slot's **order tree**, next to the order leaves (the
``Attributes`` type hash differs from ``Order``'s, so a leaf is one or the other), so the committed order
root covers the attributes and an inclusion proof (``kind: "attributes"``) shows a participant what it was
cleared with. One record per trader per slot: the ``slot`` field stops replay into another slot, and a
second record of a trader in a batch is rejected (``duplicate``). A record changed after signing is the
``attributesHash`` of none of its trader's orders, or (version 1) no longer recovers to its trader
(``signature``). :func:`verify_batch` is every signature check of a batch, both versions.

Location is authoritative in the on-chain Registry (``Registry.bus(member)``): the signed bus must equal
it (:func:`registry_bus_mismatches`, checked by :func:`transactive.ledger.clearance.protocol.run_slot` before the
slot is opened). The recomputation itself stays a pure function of the batch.

Example:
    >>> from transactive.crypto.signing import Signer
    >>> from transactive.ledger.messages.orders import OrderMessage, sign_order
    >>> signer = Signer(bytes(31) + b"\\x03")
    >>> domain = Domain(chain_id=1337, verifying_contract="0x" + "42" * 20)
    >>> record = ParticipantAttributes.from_values(signer.address, slot=4, bus="34", distance_pref_m=100,
    ...                                            a=0.01, b=1.0, c=0.5)
    >>> record.distance_pref_mm, record.cost_a_nano, record.columns()["a"]
    (100000, 10000000, 0.01)
    >>> order = sign_order(signer, OrderMessage(signer.address, 4, 0, 1500, 200_000, 0, record.struct_hash()),
    ...                    domain)
    >>> verify_batch([order], [SignedAttributes(record)], domain, slot=4).problems()
    []
    >>> moved = SignedAttributes(ParticipantAttributes.from_values(signer.address, slot=4, bus="35",
    ...                                                            distance_pref_m=100, a=0.01, b=1.0, c=0.5))
    >>> [e.reason for _, e in verify_batch([order], [moved], domain, slot=4).attributes]
    ['signature']
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from transactive.crypto.eip712 import DOMAIN_FIELDS, Domain, digest_of, encode_type
from transactive.crypto.encoding import hex0x, keccak256
from transactive.crypto.signing import Signer, WorkerPool
from transactive.crypto.verification import Row, start_verifying_signers, verify_signers
from transactive.ledger.chain.base import Chain, Contract
from transactive.ledger.messages.nonces import NonceStore
from transactive.ledger.messages.orders import (
    OrderError,
    SignedOrder,
    VerifiedBatch,
    signature_of,
    signature_rows,
    trader_address,
    verify_orders,
)
from transactive.orders import Orders
from transactive.units import MM_PER_M, NANO_PER_UNIT, to_base_units

__all__ = [
    "ATTRIBUTES_FIELDS",
    "ATTRIBUTES_TYPEHASH",
    "NANO",
    "BatchCheck",
    "ParticipantAttributes",
    "SignedAttributes",
    "attribute_columns",
    "attributes_from_orders",
    "check_attributes",
    "registry_bus_mismatches",
    "sign_attributes",
    "start_recovering_signers",
    "verify_batch",
]

NANO = NANO_PER_UNIT
"""Scale of the welfare parameters in the message (units of 1e-9)."""
MAX_BUS_BYTES = 32

ATTRIBUTES_FIELDS: tuple[tuple[str, str], ...] = (
    ("trader", "address"),
    ("slot", "uint256"),
    ("bus", "string"),
    ("distancePrefMm", "uint256"),
    ("costANano", "uint256"),
    ("costBNano", "uint256"),
    ("costCNano", "uint256"),
    ("omegaNano", "uint256"),
    ("alphaNano", "uint256"),
)
ATTRIBUTES_TYPES = {"EIP712Domain": DOMAIN_FIELDS, "Attributes": ATTRIBUTES_FIELDS}
ATTRIBUTES_TYPE_STRING = encode_type("Attributes", ATTRIBUTES_TYPES)
ATTRIBUTES_TYPEHASH = keccak256(ATTRIBUTES_TYPE_STRING.encode())

# (python attribute, JSON/EIP-712 name, mechanism column, scale)
_SCALED = (
    ("distance_pref_mm", "distancePrefMm", "distance_pref_m", MM_PER_M),
    ("cost_a_nano", "costANano", "a", NANO),
    ("cost_b_nano", "costBNano", "b", NANO),
    ("cost_c_nano", "costCNano", "c", NANO),
    ("omega_nano", "omegaNano", "omega", NANO),
    ("alpha_nano", "alphaNano", "alpha", NANO),
)


@functools.lru_cache(maxsize=1 << 12)
def _bus_hash(bus: str) -> bytes:
    """``keccak256(bus)`` (UTF-8), the ``string`` member's word (memoised: a feeder's buses recur per trader)."""
    return keccak256(bus.encode("utf-8"))


_PAD12 = bytes(12)
_INF = float("inf")


def _scaled(name: str, value: float, scale: int) -> int:
    """``value`` in ``1 / scale`` units (:func:`~transactive.units.to_base_units`); :class:`OrderError` naming
    ``name`` unless a finite number >= 0."""
    if type(value) is float and 0.0 <= value < _INF:  # the common case: one comparison chain (NaN fails it)
        return to_base_units(value, scale, name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OrderError("field", f"{name} must be a number, got {type(value).__name__}")
    if not value >= 0 or value == float("inf"):
        raise OrderError("field", f"{name} must be finite and >= 0 to be signed, got {value!r}")
    return to_base_units(value, scale, name)


@dataclass(frozen=True)
class ParticipantAttributes:
    """The EIP-712 ``Attributes`` message of one trader for one slot (integer fields, see the module doc)."""

    trader: str
    slot: int
    bus: str
    distance_pref_mm: int
    cost_a_nano: int = 0
    cost_b_nano: int = 0
    cost_c_nano: int = 0
    omega_nano: int = 0
    alpha_nano: int = 0
    trader_bytes: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        trader_address(self)
        if not isinstance(self.bus, str) or not self.bus or len(self.bus.encode("utf-8")) > MAX_BUS_BYTES:
            raise OrderError("field", f"bus must be a non-empty name of at most 32 UTF-8 bytes, got {self.bus!r}")
        ints = (self.slot, self.distance_pref_mm, self.cost_a_nano, self.cost_b_nano, self.cost_c_nano,
                self.omega_nano, self.alpha_nano)
        if set(map(type, ints)) == {int} and min(ints) >= 0 and max(ints) >> 256 == 0:
            return  # all in uint256 (one pass in C; the loop below names the first field that is not)
        for name in ("slot", *(s[0] for s in _SCALED)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value >> 256:
                raise OrderError("field", f"{name} must be an integer in uint256, got {value!r}")

    @classmethod
    def from_values(
        cls,
        trader: str,
        *,
        slot: int,
        bus: str,
        distance_pref_m: float,
        a: float = 0.0,
        b: float = 0.0,
        c: float = 0.0,
        omega: float = 0.0,
        alpha: float = 0.0,
    ) -> ParticipantAttributes:
        """Build from the market-file values (metres, tokens), rounded to mm and 1e-9 units."""
        return cls(trader, slot, bus, _scaled("distance_pref_m", distance_pref_m, MM_PER_M), _scaled("a", a, NANO),
                   _scaled("b", b, NANO), _scaled("c", c, NANO), _scaled("omega", omega, NANO),
                   _scaled("alpha", alpha, NANO))

    def columns(self) -> dict[str, str | float]:
        """The mechanism's participant columns: ``bus`` and the exact float value of every scaled field."""
        out: dict[str, str | float] = {"bus": self.bus}
        for attr, _, column, scale in _SCALED:
            out[column] = getattr(self, attr) / scale
        return out

    def struct_hash(self) -> bytes:
        """EIP-712 ``hashStruct(Attributes)`` (also the value of its leaf in the order tree, and the
        ``attributesHash`` of the trader's version-2 orders); computed once (kept in the instance)."""
        found: bytes | None = self.__dict__.get("_struct_hash")
        if found is None:  # the fields were range-checked on construction: the words are written directly
            found = keccak256(b"".join((
                ATTRIBUTES_TYPEHASH, _PAD12, self.trader_bytes, self.slot.to_bytes(32, "big"), _bus_hash(self.bus),
                self.distance_pref_mm.to_bytes(32, "big"), self.cost_a_nano.to_bytes(32, "big"),
                self.cost_b_nano.to_bytes(32, "big"), self.cost_c_nano.to_bytes(32, "big"),
                self.omega_nano.to_bytes(32, "big"), self.alpha_nano.to_bytes(32, "big"))))
            self.__dict__["_struct_hash"] = found
        return found

    def digest(self, domain: Domain) -> bytes:
        """The 32-byte digest the trader signs under ``domain``."""
        return digest_of(domain.separator, self.struct_hash())

    def as_eip712(self) -> dict[str, Any]:
        """The EIP-712 message (camelCase names, integers)."""
        return {"trader": self.trader, "slot": self.slot, "bus": self.bus, "distancePrefMm": self.distance_pref_mm,
                "costANano": self.cost_a_nano, "costBNano": self.cost_b_nano, "costCNano": self.cost_c_nano,
                "omegaNano": self.omega_nano, "alphaNano": self.alpha_nano}  # _SCALED's order

    def typed_data(self, domain: Domain) -> dict[str, Any]:
        """The full EIP-712 document a wallet signs with ``eth_signTypedData_v4``."""
        return {
            "types": {name: [{"name": f, "type": t} for f, t in fields] for name, fields in ATTRIBUTES_TYPES.items()},
            "primaryType": "Attributes",
            "domain": domain.as_dict(),
            "message": self.as_eip712(),
        }

    @classmethod
    def from_eip712(cls, data: Mapping[str, Any]) -> ParticipantAttributes:
        """Inverse of :meth:`as_eip712` (a missing field is an :class:`OrderError` naming it)."""
        try:  # positionally, in the fields' order (_SCALED's)
            return cls(str(data["trader"]), data["slot"], data["bus"], data["distancePrefMm"], data["costANano"],
                       data["costBNano"], data["costCNano"], data["omegaNano"], data["alphaNano"])
        except KeyError as exc:
            raise OrderError("field", f"missing attributes field {exc.args[0]!r}") from exc


@dataclass(frozen=True)
class SignedAttributes:
    """An ``Attributes`` message of a batch: version 2 (``signature`` None) is covered by the trader's signed
    order(s), whose ``attributesHash`` is this record's struct hash; version 1 (older archives) carries its
    own 65-byte ``r ‖ s ‖ v`` signature by the trader."""

    message: ParticipantAttributes
    signature: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        out = self.message.as_eip712()
        if self.signature is not None:
            out["signature"] = hex0x(self.signature)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SignedAttributes:
        """Inverse of :meth:`to_json`."""
        if not isinstance(data, Mapping):
            raise OrderError("field", "an attributes record must be an object")
        signature = signature_of(data, "attributes") if "signature" in data else None
        return cls(ParticipantAttributes.from_eip712(data), signature)


def sign_attributes(signer: Signer, message: ParticipantAttributes, domain: Domain) -> SignedAttributes:
    """A version-1 record: ``message`` signed on its own under ``domain`` (kept to write the older format in
    tests and benchmarks; new batches cover them with the order's signature: ``OrderMessage.attributes_hash``)."""
    if signer.address_bytes != message.trader_bytes:
        raise OrderError("signer", f"signer {signer.address} is not the trader {message.trader}")
    return SignedAttributes(message, signer.sign_digest(message.digest(domain)))


# --------------------------------------------------------------------------- verification
def _attribute_rows(records: Sequence[SignedAttributes], domain: Domain) -> list[Row]:
    """``(digest, signature, trader)`` of the version-1 records (those with their own signature)."""
    return [(r.message.digest(domain), r.signature, r.message.trader_bytes) for r in records
            if r.signature is not None]


Signers = tuple[list[bytes | None], list[bytes | None]]
"""What the signatures recover to: one per order, one per version-1 attributes record (in batch order)."""


def start_recovering_signers(
    orders: Sequence[SignedOrder], records: Sequence[SignedAttributes], domain: Domain, pool: WorkerPool
) -> Callable[[], Signers]:
    """Recover every signature of a batch (orders, then version-1 attributes records) in one submission to
    ``pool`` (batch-verified where the trader's key is known: the same result,
    :func:`~transactive.crypto.verification.start_verifying_signers`): returns a function that waits for them
    (pass them to :func:`verify_batch` as ``signers``)."""
    wait = start_verifying_signers(signature_rows(orders, domain) + _attribute_rows(records, domain), pool)
    n = len(orders)

    def signers() -> Signers:
        out = wait()
        return out[:n], out[n:]

    return signers


def check_attributes(
    records: Sequence[SignedAttributes],
    domain: Domain,
    *,
    slot: int | None = None,
    orders: Sequence[SignedOrder] = (),
    pool: WorkerPool | None = None,
    signers: Sequence[bytes | None] | None = None,
) -> list[tuple[int, OrderError]]:
    """Problems with a batch's attribute records, as ``(index, OrderError)`` (empty when sound): reason
    ``slot`` (another slot), ``signature`` (not the trader's: a version-2 record whose struct hash is the
    ``attributesHash`` of none of the trader's ``orders`` -- a field changed after signing --, or a version-1
    record whose own signature does not recover to the trader under ``domain``), ``duplicate`` (a second
    record of a trader). ``signers``: what the version-1 records' signatures recover to, in order, when
    already recovered (:func:`start_recovering_signers`)."""
    if signers is None:
        signers = verify_signers(_attribute_rows(records, domain), pool=pool)
    # trader ‖ attributesHash of every version-2 order (flat bytes keys: no container per trader to collect)
    covered = {o.message.trader_bytes + o.message.attributes_hash for o in orders
               if o.message.attributes_hash is not None}
    recovered = iter(signers)
    problems: list[tuple[int, OrderError]] = []
    seen: set[bytes] = set()
    for k, record in enumerate(records):
        m = record.message
        if record.signature is None:
            ok = m.trader_bytes + m.struct_hash() in covered
            why = "its struct hash is no attributesHash of the trader's signed orders (changed after signing)"
        else:
            ok = next(recovered) == m.trader_bytes
            why = "not signed by the trader under this domain (or changed after signing)"
        if slot is not None and m.slot != slot:
            problems.append((k, OrderError("slot", f"attributes for slot {m.slot}, expected slot {slot}")))
        elif not ok:
            problems.append((k, OrderError("signature", f"attributes {k} of {m.trader}: {why}")))
        elif m.trader_bytes in seen:
            problems.append((k, OrderError("duplicate", f"a second attributes record of {m.trader}")))
        else:
            seen.add(m.trader_bytes)
    return problems


@dataclass(frozen=True)
class BatchCheck:
    """Outcome of :func:`verify_batch`: the orders' verification and the attributes records' problems."""

    orders: VerifiedBatch
    attributes: list[tuple[int, OrderError]]

    def problems(self) -> list[str]:
        """``order k: ...`` then ``attributes j: ...`` lines (empty when sound)."""
        return [f"order {k}: {err}" for k, err in self.orders.rejected] + [
            f"attributes {k}: {err}" for k, err in self.attributes
        ]


def verify_batch(
    orders: Sequence[SignedOrder],
    records: Sequence[SignedAttributes],
    domain: Domain,
    *,
    slot: int | None = None,
    nonce_store: NonceStore | None = None,
    pool: WorkerPool | None = None,
    signers: Signers | None = None,
) -> BatchCheck:
    """Every signature check of a slot batch, both message versions: the orders (:func:`verify_orders`;
    a version-2 order whose non-zero ``attributesHash`` matches none of the trader's records is rejected,
    reason ``attributes``; when that record is itself reported, only the record is) and the attributes
    records (:func:`check_attributes`). The signatures are
    checked in chunks on ``pool``'s workers (one submission; batch-verified against the traders' keys seen
    before, recovered otherwise: the same verdicts) unless ``signers`` are given."""
    if signers is None:
        if pool is None:
            with WorkerPool(threads=True) as temporary:  # the C checks release the GIL: no processes to start
                signers = start_recovering_signers(orders, records, domain, temporary)()
        else:
            signers = start_recovering_signers(orders, records, domain, pool)()
    order_signers, record_signers = signers
    problems = check_attributes(records, domain, slot=slot, orders=orders, signers=record_signers)
    # the hashes the orders must name: their trader's sound records; a trader whose record is itself reported
    # (e.g. a field changed after signing) is reported once, there, not again at its orders
    reported = {records[k].message.trader_bytes for k, _ in problems}
    keys = {r.message.trader_bytes + r.message.struct_hash() for r in records
            if r.message.trader_bytes not in reported}
    keys.update(o.message.trader_bytes + o.message.attributes_hash for o in orders
                if o.message.attributes_hash is not None and o.message.trader_bytes in reported)
    verified = verify_orders(orders, domain, slot=slot, nonce_store=nonce_store, signers=order_signers,
                             attribute_keys=keys)
    return BatchCheck(verified, problems)


def attribute_columns(records: Iterable[SignedAttributes | ParticipantAttributes]) -> dict[str, dict[str, Any]]:
    """``{column: {trader address: value}}`` for :func:`~transactive.ledger.messages.orders.messages_to_orders`
    (columns ``bus``, ``distance_pref_m``, ``a``, ``b``, ``c``, ``omega``, ``alpha``)."""
    messages = [record.message if isinstance(record, SignedAttributes) else record for record in records]
    if not messages:
        return {}
    traders = [m.trader for m in messages]  # a trader listed twice keeps its first position, its last values
    out: dict[str, dict[str, Any]] = {"bus": dict(zip(traders, [m.bus for m in messages], strict=True))}
    for attr, _, column, scale in _SCALED:  # the values of ParticipantAttributes.columns, a column at a time
        out[column] = dict(zip(traders, [getattr(m, attr) / scale for m in messages], strict=True))
    return out


def attributes_from_orders(
    sellers: Orders, buyers: Orders, *, slot: int, traders: Mapping[str, str]
) -> list[ParticipantAttributes]:
    """One record per participant of a grid-aware market (sellers first, then buyers, as in the market
    file): ``traders`` maps participant ids to addresses; the attribute columns are read from the
    ``Orders`` (as :func:`transactive.marketfile.parse_market` builds them). A participant on both sides
    gets one record with both sides' parameters."""
    merged: dict[str, dict[str, Any]] = {}
    for orders, names in ((sellers, ("a", "b", "c")), (buyers, ("omega", "alpha"))):
        for k, pid in enumerate(orders.ids):
            if pid not in traders:
                raise OrderError("field", f"no address for participant {pid!r}")
            values = merged.setdefault(pid, {})
            for column in ("bus", "distance_pref_m", *names):
                if column not in orders.attributes:
                    raise OrderError("field", f"participant {pid!r} has no {column}")
                raw = orders.attributes[column][k]
                values[column] = str(raw) if column == "bus" else float(raw)
    return [
        ParticipantAttributes.from_values(traders[pid], slot=slot, **values)
        for pid, values in merged.items()
    ]


def registry_bus_mismatches(
    chain: Chain,
    registry: Contract,
    records: Iterable[SignedAttributes | ParticipantAttributes],
    *,
    cache: MutableMapping[str, str] | None = None,
) -> list[str]:
    """Records whose signed bus differs from the trader's bus in the Registry (the authority on location),
    as messages naming the trader and both buses (empty when all agree).

    ``cache``: the caller's memo of Registry buses by trader (read from the chain on a miss, then kept), for
    a caller that knows the Registry's buses do not change meanwhile (e.g. the simulated day, whose members
    register before the first slot): one ``bus`` call per trader instead of one per trader and slot."""
    problems = []
    for record in records:
        m = record.message if isinstance(record, SignedAttributes) else record
        on_chain = None if cache is None else cache.get(m.trader)
        if on_chain is None:
            on_chain = bytes(chain.call(registry, "bus", m.trader)).rstrip(b"\x00").decode("utf-8", "replace")
            if cache is not None:
                cache[m.trader] = on_chain
        if on_chain != m.bus:
            problems.append(f"attributes of {m.trader}: bus {m.bus!r} but the Registry says {on_chain!r}")
    return problems
