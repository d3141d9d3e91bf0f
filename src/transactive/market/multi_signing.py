"""What a member signs for the multi-settlement desk, and how (the client side; the service checks the same).

Two EIP-712 messages (:mod:`transactive.crypto.eip712`), in the service's domain (:data:`OFF_CHAIN_DOMAIN`
unless the service is given its market-slots contract's domain; ``GET /communities/{c}/signing`` answers it):

* ``MemberAddress(string community,string member,address account)`` -- proof that ``member`` holds the key of
  ``account`` when it registers the address;
* ``BilateralContract(address seller,address buyer,uint256[] slots,uint256 energyWh,uint256 priceMicroPerKwh,
  uint256 nonce)`` (:mod:`transactive.settlement.bilateral`) -- a contract; ``slots`` are the slot numbers of the
  schedule: the **Unix time in seconds of each slot's start** (:func:`slot_number`).

Signatures are 65 bytes ``r ‖ s ‖ v`` (:mod:`transactive.crypto.signing`), sent as ``0x``-hex.

Example (a member signs a contract with its own key):
    >>> key = bytes(31) + b"\\x07"
    >>> seller = address_of(key)
    >>> terms = {"slot_starts": ["2026-03-01T10:30:00Z"], "energy_kwh_per_slot": 1.5, "price_per_kwh": 0.08}
    >>> signature = sign_contract(key, terms, seller, "0x" + "22" * 20)
    >>> contract = contract_of("c1", terms, seller, "0x" + "22" * 20)
    >>> recover_address(contract.digest(OFF_CHAIN_DOMAIN), bytes.fromhex(signature[2:])) == seller
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from transactive.crypto.eip712 import DOMAIN_FIELDS, Domain, Types, digest_of, hash_struct
from transactive.crypto.signing import Signer, address_of, recover_address
from transactive.errors import MarketError
from transactive.settlement.bilateral import BilateralContract
from transactive.times import parse_utc_time

OFF_CHAIN_DOMAIN = Domain(chain_id=0, verifying_contract="0x" + "00" * 20)
"""The domain of a service not anchored to a chain: ``chainId`` 0, ``verifyingContract`` the zero address."""

ADDRESS_FIELDS: tuple[tuple[str, str], ...] = (("community", "string"), ("member", "string"), ("account", "address"))
ADDRESS_TYPES: Types = {"EIP712Domain": DOMAIN_FIELDS, "MemberAddress": ADDRESS_FIELDS}

__all__ = ["OFF_CHAIN_DOMAIN", "address_digest", "address_of", "contract_of", "recover_address", "sign_address",
           "sign_contract", "slot_number"]


def slot_number(slot_start: object, field: str = "slot_start") -> int:
    """The slot number signed in a contract: Unix seconds of the slot start (an ISO 8601 string or an aware
    datetime; ``2026-03-01T10:30:00Z`` -> ``1772361000``)."""
    moment = slot_start if isinstance(slot_start, datetime) else parse_utc_time(slot_start, field)
    return int(moment.astimezone(UTC).timestamp())


def address_digest(community: str, member: str, account: str, domain: Domain = OFF_CHAIN_DOMAIN) -> bytes:
    """The digest a member signs with ``account``'s key to register it."""
    return digest_of(domain.separator, hash_struct("MemberAddress", ADDRESS_TYPES,
                                                   {"community": community, "member": member, "account": account}))


def sign_address(private_key: bytes, community: str, member: str, domain: Domain = OFF_CHAIN_DOMAIN) -> str:
    """The ``signature`` of ``POST /communities/{c}/addresses`` for the key's address (``0x``-hex)."""
    signer = Signer(private_key)
    return "0x" + signer.sign_digest(address_digest(community, member, signer.address, domain)).hex()


def contract_of(contract_id: str, terms: Mapping[str, Any], seller_address: str,
                buyer_address: str) -> BilateralContract:
    """The contract a request body describes (``slot_starts``, ``energy_kwh_per_slot``, ``price_per_kwh``,
    ``nonce``), between the two registered addresses. :class:`MarketError` names the body's field."""
    starts = terms.get("slot_starts")
    if not isinstance(starts, list) or not starts:
        raise MarketError("slot_starts", "must be a non-empty list of slot starts")
    slots = tuple(slot_number(s, f"slot_starts[{k}]") for k, s in enumerate(starts))
    try:
        energy: Any = terms.get("energy_kwh_per_slot")
        price: Any = terms.get("price_per_kwh")
        return BilateralContract(contract_id, seller_address, buyer_address, slots, energy, price,
                                 terms.get("nonce", 0))
    except MarketError as exc:
        field = exc.field.removeprefix("contract.").replace("slots[", "slot_starts[")
        raise MarketError(field, exc.message, exc.kind) from None


def sign_contract(private_key: bytes, terms: Mapping[str, Any], seller_address: str, buyer_address: str,
                  domain: Domain = OFF_CHAIN_DOMAIN) -> str:
    """A party's ``signature`` of a contract body (``0x``-hex); the key must be the seller's or the buyer's."""
    return "0x" + contract_of("-", terms, seller_address, buyer_address).sign(Signer(private_key), domain).hex()
