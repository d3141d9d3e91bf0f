"""EIP-712 hashing: the specification's own example, and equality with eth-account's encode_typed_data."""

from __future__ import annotations

import pytest
from eth_account.messages import _hash_eip191_message, encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.crypto.eip712 import (
    DOMAIN_FIELDS,
    ENDORSEMENT_FIELDS,
    ORDER_FIELDS,
    ORDER_TYPE_STRING,
    ORDER_V1_FIELDS,
    ORDER_V1_TYPE_STRING,
    TRANSACTIVE_TYPES,
    Domain,
    digest_of,
    encode_type,
    endorsement_digest,
    endorsement_struct_hash,
    hash_struct,
    order_struct_hash,
    typed_data_digest,
)
from transactive.crypto.encoding import EncodingError, keccak256, parse_address

# The example of EIP-712 itself (Mail from Cow to Bob); the expected hashes are printed in the EIP.
MAIL_TYPES = {
    "EIP712Domain": (
        ("name", "string"),
        ("version", "string"),
        ("chainId", "uint256"),
        ("verifyingContract", "address"),
    ),
    "Person": (("name", "string"), ("wallet", "address")),
    "Mail": (("from", "Person"), ("to", "Person"), ("contents", "string")),
}
MAIL_DOMAIN = {
    "name": "Ether Mail",
    "version": "1",
    "chainId": 1,
    "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC",
}
MAIL = {
    "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
    "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
    "contents": "Hello, Bob!",
}


def _eip712_json(types: dict[str, tuple[tuple[str, str], ...]], primary: str, domain: dict, message: dict):
    return {
        "types": {name: [{"name": f, "type": t} for f, t in fields] for name, fields in types.items()},
        "primaryType": primary,
        "domain": domain,
        "message": message,
    }


def _eth_account_digest(types, primary, domain, message) -> bytes:
    return bytes(
        _hash_eip191_message(encode_typed_data(full_message=_eip712_json(types, primary, domain, message)))
    )


def test_eip712_specification_example() -> None:
    assert (
        encode_type("Mail", MAIL_TYPES)
        == "Mail(Person from,Person to,string contents)Person(string name,address wallet)"
    )
    assert hash_struct("EIP712Domain", MAIL_TYPES, MAIL_DOMAIN).hex() == (
        "f2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f"
    )
    assert hash_struct("Mail", MAIL_TYPES, MAIL).hex() == (
        "c52c0ee5d84264471806290a3f2c4cecfc5490626bf912d01f240d7a274b371e"
    )
    assert typed_data_digest(MAIL_DOMAIN, "Mail", MAIL_TYPES, MAIL).hex() == (
        "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"
    )


def test_type_strings_are_the_agreed_ones() -> None:
    assert ORDER_TYPE_STRING == (
        "Order(address trader,uint256 slot,uint8 side,uint256 energyWh,"
        "uint256 priceMicroPerKwh,uint256 nonce,bytes32 attributesHash)"
    )
    assert ORDER_V1_TYPE_STRING == (  # older archives' orders
        "Order(address trader,uint256 slot,uint8 side,uint256 energyWh,"
        "uint256 priceMicroPerKwh,uint256 nonce)"
    )
    assert encode_type("EIP712Domain", TRANSACTIVE_TYPES) == (
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    )
    assert encode_type("Endorsement", TRANSACTIVE_TYPES) == (
        "Endorsement(uint256 slot,bytes32 orderRoot,bytes32 resultRoot)"
    )


def test_mail_example_equals_eth_account() -> None:
    assert typed_data_digest(MAIL_DOMAIN, "Mail", MAIL_TYPES, MAIL) == _eth_account_digest(
        MAIL_TYPES, "Mail", MAIL_DOMAIN, MAIL
    )


uint256 = st.integers(0, 2**256 - 1)
addresses = st.binary(min_size=20, max_size=20)


@settings(max_examples=150)
@given(
    trader=addresses,
    slot=uint256,
    side=st.integers(0, 255),
    energy=uint256,
    price=uint256,
    nonce=uint256,
    chain_id=st.integers(0, 2**64),
    contract=addresses,
    attributes_hash=st.none() | st.binary(min_size=32, max_size=32),
)
def test_order_digest_equals_eth_account(  # noqa: PLR0917 - hypothesis arguments
    trader, slot, side, energy, price, nonce, chain_id, contract, attributes_hash
) -> None:
    """Both versions: version 2 (``attributesHash`` bytes32 last) and version 1 (None: no such field)."""
    domain = Domain(chain_id=chain_id, verifying_contract="0x" + contract.hex())
    message = {
        "trader": "0x" + trader.hex(),
        "slot": slot,
        "side": side,
        "energyWh": energy,
        "priceMicroPerKwh": price,
        "nonce": nonce,
    }
    fields = ORDER_V1_FIELDS
    if attributes_hash is not None:
        message["attributesHash"] = attributes_hash
        fields = ORDER_FIELDS
    types = {"EIP712Domain": DOMAIN_FIELDS, "Order": fields}
    fast = order_struct_hash(trader, slot, side, energy, price, nonce, attributes_hash)
    assert fast == hash_struct("Order", types, message)
    digest = digest_of(domain.separator, fast)
    assert digest == typed_data_digest(domain.as_dict(), "Order", types, message)
    assert digest == _eth_account_digest(types, "Order", domain.as_dict(), message)


@settings(max_examples=60)
@given(
    slot=uint256,
    order_root=st.binary(min_size=32, max_size=32),
    result_root=st.binary(min_size=32, max_size=32),
)
def test_endorsement_digest_equals_eth_account(slot, order_root, result_root) -> None:
    domain = Domain(chain_id=1, verifying_contract="0x" + "42" * 20)
    types = {"EIP712Domain": DOMAIN_FIELDS, "Endorsement": ENDORSEMENT_FIELDS}
    message = {"slot": slot, "orderRoot": order_root, "resultRoot": result_root}
    assert endorsement_struct_hash(slot, order_root, result_root) == hash_struct(
        "Endorsement", types, message
    )
    assert endorsement_digest(domain, slot, order_root, result_root) == _eth_account_digest(
        types, "Endorsement", domain.as_dict(), message
    )


def test_domain_fields_change_the_digest() -> None:
    struct = order_struct_hash(bytes(20), 1, 0, 1000, 5, 0)
    base = Domain(chain_id=1, verifying_contract="0x" + "11" * 20)
    variants = [
        Domain(chain_id=2, verifying_contract="0x" + "11" * 20),
        Domain(chain_id=1, verifying_contract="0x" + "12" * 20),
        Domain(chain_id=1, verifying_contract="0x" + "11" * 20, name="Other"),
        Domain(chain_id=1, verifying_contract="0x" + "11" * 20, version="2"),
    ]
    digests = {digest_of(d.separator, struct) for d in [base, *variants]}
    assert len(digests) == 5


def test_domain_roundtrip_and_checksum() -> None:
    d = Domain(chain_id=5, verifying_contract="0x5fbdb2315678afecb367f032d93f642f64180aa3")
    assert d.verifying_contract == "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    assert Domain.from_dict(d.as_dict()) == d
    assert Domain.from_dict(d.as_dict()).separator == d.separator


@pytest.mark.parametrize(
    ("side", "energy", "nonce"),
    [(256, 1, 0), (0, -1, 0), (0, 1, 2**256), (-1, 0, 0), (0, True, 0), (True, 1, 0), (0, 1.0, 0)],
)
def test_out_of_range_fields_are_rejected(side: int, energy: int, nonce: int) -> None:
    with pytest.raises(EncodingError):
        order_struct_hash(bytes(20), 1, side, energy, 0, nonce)


def test_bad_checksum_is_rejected() -> None:
    good = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    parse_address(good)
    parse_address(good.lower())
    with pytest.raises(EncodingError):
        parse_address(good.replace("F", "f", 1))


def test_keccak_is_ethereum_keccak_not_sha3() -> None:
    # keccak256("") as used by Ethereum (differs from NIST SHA3-256's a7ffc6f8...).
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
