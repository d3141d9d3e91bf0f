"""EIP-712 typed-data hashing, written from the specification (keccak + ABI words, no signing library).

``digest = keccak256(0x19 0x01 ‖ hashStruct(domain) ‖ hashStruct(message))`` with
``hashStruct(s) = keccak256(typeHash(s) ‖ encodeData(s))`` and ``typeHash = keccak256(encodeType)``;
``encodeType`` lists the primary type then its referenced struct types sorted by name. Atomic values are
32-byte ABI words, ``string`` / ``bytes`` are replaced by their keccak, arrays by the keccak of the
concatenated encodings, nested structs by their ``hashStruct`` (EIP-712, "Definition of encodeData").

Transactive's types (the contract with the Vyper side, see ``docs/ledger.md``):

* domain ``EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)`` with
  ``name = "Transactive"``, ``version = "1"`` and the market-slots contract as ``verifyingContract``;
* ``Order(address trader,uint256 slot,uint8 side,uint256 energyWh,uint256 priceMicroPerKwh,uint256 nonce,
  bytes32 attributesHash)``, ``side`` 0 = sell, 1 = buy, energy in Wh, price in micro-tokens per kWh,
  ``attributesHash`` the ``hashStruct`` of the trader's ``Attributes`` for the slot (zero when the mechanism
  reads none): one signature covers the order and its attributes (message version 2);
* the version-1 ``Order`` (the same fields without ``attributesHash``, attributes signed separately) is still
  hashed for archives written before (``ORDER_V1_*``, ``attributes_hash=None``);
* ``Endorsement(uint256 slot,bytes32 orderRoot,bytes32 resultRoot)`` signed by validators.

The generic functions (:func:`hash_struct`, :func:`typed_data_digest`) accept any types; the ``order_*`` and
``endorsement_*`` functions are the fast fixed-layout paths used in bulk and are tested equal to both the
generic path and eth-account's ``encode_typed_data``.

Example:
    >>> domain = Domain(chain_id=1, verifying_contract="0x" + "11" * 20)
    >>> len(domain.separator)
    32
    >>> ORDER_V1_TYPE_STRING
    'Order(address trader,uint256 slot,uint8 side,uint256 energyWh,uint256 priceMicroPerKwh,uint256 nonce)'
    >>> ORDER_TYPE_STRING.endswith('uint256 nonce,bytes32 attributesHash)')
    True
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import encode as abi_encode

from transactive.crypto.encoding import (
    ZERO32,
    EncodingError,
    address_word,
    checksum,
    fixed_bytes,
    from_hex,
    keccak256,
    parse_address,
    uint256_word,
)

Types = Mapping[str, Sequence[tuple[str, str]]]
"""Struct definitions: struct name -> ordered ``(field name, field type)`` pairs."""

DOMAIN_NAME = "Transactive"
DOMAIN_VERSION = "1"
SIDE_SELL = 0
SIDE_BUY = 1

DOMAIN_FIELDS: tuple[tuple[str, str], ...] = (
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
)
ORDER_V1_FIELDS: tuple[tuple[str, str], ...] = (
    ("trader", "address"),
    ("slot", "uint256"),
    ("side", "uint8"),
    ("energyWh", "uint256"),
    ("priceMicroPerKwh", "uint256"),
    ("nonce", "uint256"),
)
ORDER_FIELDS: tuple[tuple[str, str], ...] = (*ORDER_V1_FIELDS, ("attributesHash", "bytes32"))
ENDORSEMENT_FIELDS: tuple[tuple[str, str], ...] = (
    ("slot", "uint256"),
    ("orderRoot", "bytes32"),
    ("resultRoot", "bytes32"),
)
TRANSACTIVE_TYPES: Types = {
    "EIP712Domain": DOMAIN_FIELDS,
    "Order": ORDER_FIELDS,
    "Endorsement": ENDORSEMENT_FIELDS,
}

_ARRAY = re.compile(r"^(.*)\[(\d*)\]$")


# --------------------------------------------------------------------------- generic EIP-712
def _struct_dependencies(primary: str, types: Types, found: set[str]) -> None:
    if primary in found or primary not in types:
        return
    found.add(primary)
    for _name, typ in types[primary]:
        base = typ
        while (match := _ARRAY.match(base)) is not None:
            base = match.group(1)
        _struct_dependencies(base, types, found)


def encode_type(primary: str, types: Types) -> str:
    """``encodeType``: ``Name(type1 field1,...)`` of the primary type then its dependencies sorted by name."""
    if primary not in types:
        raise EncodingError(f"unknown struct type {primary!r}")
    deps: set[str] = set()
    _struct_dependencies(primary, types, deps)
    deps.discard(primary)
    return "".join(
        f"{name}({','.join(f'{typ} {field}' for field, typ in types[name])})"
        for name in [primary, *sorted(deps)]
    )


def type_hash(primary: str, types: Types) -> bytes:
    """``typeHash = keccak256(encodeType(primary))``."""
    return keccak256(encode_type(primary, types).encode("utf-8"))


def _to_bytes(value: Any, what: str) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return from_hex(value, what=what)
    raise EncodingError(f"{what}: expected bytes or hex, got {type(value).__name__}")


def encode_value(typ: str, value: Any, types: Types, *, what: str = "value") -> bytes:
    """One 32-byte ``encodeData`` word for a value of type ``typ``."""
    if typ in types:
        if not isinstance(value, Mapping):
            raise EncodingError(f"{what}: struct {typ} needs a mapping")
        return hash_struct(typ, types, value)
    if (match := _ARRAY.match(typ)) is not None:
        base, size = match.group(1), match.group(2)
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            raise EncodingError(f"{what}: {typ} needs a sequence")
        if size and len(value) != int(size):
            raise EncodingError(f"{what}: {typ} needs exactly {size} items, got {len(value)}")
        return keccak256(
            b"".join(encode_value(base, item, types, what=f"{what}[{i}]") for i, item in enumerate(value))
        )
    if typ == "string":
        if not isinstance(value, str):
            raise EncodingError(f"{what}: string expected")
        return keccak256(value.encode("utf-8"))
    if typ == "bytes":
        return keccak256(_to_bytes(value, what))
    if typ == "address":
        raw = parse_address(value) if isinstance(value, str) else _to_bytes(value, what)
        return address_word(raw)
    if typ.startswith("bytes"):
        raw = _to_bytes(value, what)
        if len(raw) != int(typ[5:]):
            raise EncodingError(f"{what}: {typ} needs {typ[5:]} bytes, got {len(raw)}")
    else:
        raw = value
        if typ.startswith(("uint", "int")) and (isinstance(value, bool) or not isinstance(value, int)):
            raise EncodingError(f"{what}: {typ} needs an integer, got {type(value).__name__}")
    try:
        return abi_encode([typ], [raw])
    except Exception as exc:  # eth-abi raises several types for out-of-range values
        raise EncodingError(f"{what}: cannot encode {value!r} as {typ}: {exc}") from exc


def encode_data(primary: str, types: Types, message: Mapping[str, Any]) -> bytes:
    """``encodeData``: the concatenated words of the fields, in declaration order."""
    words = []
    for name, typ in types[primary]:
        if name not in message:
            raise EncodingError(f"{primary}.{name}: missing")
        words.append(encode_value(typ, message[name], types, what=f"{primary}.{name}"))
    return b"".join(words)


def hash_struct(primary: str, types: Types, message: Mapping[str, Any]) -> bytes:
    """``hashStruct(s) = keccak256(typeHash ‖ encodeData(s))``."""
    return keccak256(type_hash(primary, types) + encode_data(primary, types, message))


def typed_data_digest(
    domain: Mapping[str, Any], primary: str, types: Types, message: Mapping[str, Any]
) -> bytes:
    """The signed digest ``keccak256(0x1901 ‖ hashStruct(domain) ‖ hashStruct(message))``.

    ``types`` must contain ``EIP712Domain`` (with the fields present in ``domain``) and ``primary``.
    """
    separator = hash_struct("EIP712Domain", types, domain)
    return keccak256(b"\x19\x01" + separator + hash_struct(primary, types, message))


# --------------------------------------------------------------------------- Transactive fast paths
ORDER_TYPE_STRING = encode_type("Order", TRANSACTIVE_TYPES)
ORDER_TYPEHASH = keccak256(ORDER_TYPE_STRING.encode())
ORDER_V1_TYPE_STRING = encode_type("Order", {"Order": ORDER_V1_FIELDS})
ORDER_V1_TYPEHASH = keccak256(ORDER_V1_TYPE_STRING.encode())
ENDORSEMENT_TYPE_STRING = encode_type("Endorsement", TRANSACTIVE_TYPES)
ENDORSEMENT_TYPEHASH = keccak256(ENDORSEMENT_TYPE_STRING.encode())
DOMAIN_TYPE_STRING = encode_type("EIP712Domain", TRANSACTIVE_TYPES)
DOMAIN_TYPEHASH = keccak256(DOMAIN_TYPE_STRING.encode())


@dataclass(frozen=True)
class Domain:
    """The EIP-712 domain of one market-slots contract on one chain.

    Attributes:
        chain_id: EIP-155 chain id.
        verifying_contract: the market-slots contract address (hex; stored in EIP-55 form).
        name, version: fixed to ``"Transactive"`` / ``"1"`` by default.
    """

    chain_id: int
    verifying_contract: str
    name: str = DOMAIN_NAME
    version: str = DOMAIN_VERSION
    separator: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "verifying_contract", checksum(self.verifying_contract))
        separator = keccak256(
            DOMAIN_TYPEHASH
            + keccak256(self.name.encode("utf-8"))
            + keccak256(self.version.encode("utf-8"))
            + uint256_word(self.chain_id, what="chainId")
            + address_word(parse_address(self.verifying_contract))
        )
        object.__setattr__(self, "separator", separator)

    def as_dict(self) -> dict[str, Any]:
        """The domain as EIP-712 JSON (``name``, ``version``, ``chainId``, ``verifyingContract``)."""
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Domain:
        """Inverse of :meth:`as_dict`."""
        return cls(
            chain_id=int(data["chainId"]),
            verifying_contract=str(data["verifyingContract"]),
            name=str(data.get("name", DOMAIN_NAME)),
            version=str(data.get("version", DOMAIN_VERSION)),
        )


def order_struct_hash(  # noqa: PLR0917 - the struct's fields, positionally, on the hot path
    trader: bytes,
    slot: int,
    side: int,
    energy_wh: int,
    price_micro_per_kwh: int,
    nonce: int,
    attributes_hash: bytes | None = ZERO32,
) -> bytes:
    """``hashStruct(Order)`` for a 20-byte ``trader`` and a 32-byte ``attributes_hash`` (version 2), or of the
    version-1 ``Order`` when ``attributes_hash`` is None; :class:`EncodingError` for out-of-range fields."""
    if (type(slot) is int and type(side) is int and type(energy_wh) is int and type(price_micro_per_kwh) is int
            and type(nonce) is int and type(trader) is bytes and len(trader) == 20 and 0 <= side < 256
            and min(slot, energy_wh, price_micro_per_kwh, nonce) >= 0
            and (slot | energy_wh | price_micro_per_kwh | nonce) >> 256 == 0):  # in range: words written directly
        words = b"".join((_PAD12, trader, slot.to_bytes(32, "big"), side.to_bytes(32, "big"),
                          energy_wh.to_bytes(32, "big"), price_micro_per_kwh.to_bytes(32, "big"),
                          nonce.to_bytes(32, "big")))
    else:  # the checked encoders name the field that is out of range
        words = _order_words(trader, slot, side, energy_wh, price_micro_per_kwh, nonce)
    if attributes_hash is None:
        return keccak256(ORDER_V1_TYPEHASH + words)
    return keccak256(ORDER_TYPEHASH + words + fixed_bytes(attributes_hash, 32, "attributesHash"))


_PAD12 = bytes(12)


def _order_words(trader: bytes, slot: int, side: int, energy_wh: int, price_micro_per_kwh: int,  # noqa: PLR0917
                 nonce: int) -> bytes:
    return (
        address_word(trader)
        + uint256_word(slot, what="slot")
        + uint256_word(side, 8, what="side")
        + uint256_word(energy_wh, what="energyWh")
        + uint256_word(price_micro_per_kwh, what="priceMicroPerKwh")
        + uint256_word(nonce, what="nonce")
    )


def digest_of(separator: bytes, struct_hash: bytes) -> bytes:
    """``keccak256(0x1901 ‖ domainSeparator ‖ structHash)`` (32 bytes each)."""
    return keccak256(b"\x19\x01" + fixed_bytes(separator, 32, "domainSeparator")
                     + fixed_bytes(struct_hash, 32, "structHash"))


def endorsement_struct_hash(slot: int, order_root: bytes, result_root: bytes) -> bytes:
    """``hashStruct(Endorsement)``; the roots are 32 bytes each."""
    return keccak256(ENDORSEMENT_TYPEHASH + uint256_word(slot, what="slot") + fixed_bytes(order_root, 32, "orderRoot")
                     + fixed_bytes(result_root, 32, "resultRoot"))


def endorsement_digest(domain: Domain, slot: int, order_root: bytes, result_root: bytes) -> bytes:
    """The digest a validator signs to endorse the clearing of ``slot``."""
    return digest_of(domain.separator, endorsement_struct_hash(slot, order_root, result_root))
