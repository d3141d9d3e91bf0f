"""Bilateral contracts, the first settlement of seed 001 (section III-A).

Two peers agree directly, with no central clearing, to deliver ``energy_kwh_per_slot`` from the seller to
the buyer in each slot of a schedule at a fixed ``price_per_kwh``; the contract is logged on the ledger and
visible to all. Consent is two signatures over the same EIP-712 digest (:mod:`transactive.crypto.eip712`):

``BilateralContract(address seller,address buyer,uint256[] slots,uint256 energyWh,uint256 priceMicroPerKwh,
uint256 nonce)`` in the Transactive domain (energy in Wh, price in micro-tokens per kWh, as in ``Order``).

A contract is **firm**: in every scheduled slot the seller is credited with selling, and the buyer with
buying, the contracted energy at the contracted price, whatever they metered; a shortfall is bought back in
the later settlements (listings, community auction, main grid), which is how seed 001 lets peers "correct
their trading positions". Money is integer micro-tokens: ``round(price · energy)`` once per slot.

Example:
    >>> c = BilateralContract("c1", "0x" + "11" * 20, "0x" + "22" * 20, (4, 5), 1.5, 0.08)
    >>> (c.delivery_wh(4), c.delivery_wh(6), c.value_micro(4))
    (1500, 0, 120000)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from transactive.crypto.eip712 import DOMAIN_FIELDS, Domain, Types, digest_of, hash_struct
from transactive.crypto.encoding import EncodingError, checksum
from transactive.crypto.signing import SignatureError, Signer, recover_address
from transactive.errors import MarketError
from transactive.units import energy_to_wh, money_to_micro

CONTRACT_FIELDS: tuple[tuple[str, str], ...] = (
    ("seller", "address"),
    ("buyer", "address"),
    ("slots", "uint256[]"),
    ("energyWh", "uint256"),
    ("priceMicroPerKwh", "uint256"),
    ("nonce", "uint256"),
)
CONTRACT_TYPES: Types = {"EIP712Domain": DOMAIN_FIELDS, "BilateralContract": CONTRACT_FIELDS}


def _address(value: str, name: str) -> str:
    try:
        return checksum(value)
    except (EncodingError, ValueError, TypeError) as exc:
        raise MarketError(name, f"must be a 20-byte hex address ({exc})") from exc


@dataclass(frozen=True)
class BilateralContract:
    """A bilateral contract (seed 001, III-A); validated on construction (:class:`MarketError` names the field).

    Attributes:
        contract_id: a label, unique among the contracts of a settlement.
        seller, buyer: the two parties' addresses (stored in EIP-55 form; they must differ).
        slots: the slot numbers of the delivery schedule, strictly increasing, >= 0.
        energy_kwh_per_slot: energy delivered in each scheduled slot, kWh (> 0, whole Wh).
        price_per_kwh: the agreed price, tokens per kWh (>= 0, whole micro-tokens).
        nonce: distinguishes otherwise identical contracts between the same parties.
    """

    contract_id: str
    seller: str
    buyer: str
    slots: tuple[int, ...]
    energy_kwh_per_slot: float
    price_per_kwh: float
    nonce: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.contract_id, str) or not self.contract_id:
            raise MarketError("contract.contract_id", "must be a non-empty string")
        object.__setattr__(self, "seller", _address(self.seller, "contract.seller"))
        object.__setattr__(self, "buyer", _address(self.buyer, "contract.buyer"))
        if self.seller == self.buyer:
            raise MarketError("contract.buyer", "must differ from the seller")
        slots = tuple(self.slots)
        if not slots:
            raise MarketError("contract.slots", "must list at least one slot")
        for k, slot in enumerate(slots):
            if isinstance(slot, bool) or not isinstance(slot, int) or slot < 0:
                raise MarketError(f"contract.slots[{k}]", "must be an integer >= 0")
            if k and slot <= slots[k - 1]:
                raise MarketError(f"contract.slots[{k}]", "must be strictly increasing")
        object.__setattr__(self, "slots", slots)
        for name, minimum_open in (("energy_kwh_per_slot", True), ("price_per_kwh", False)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise MarketError(f"contract.{name}", "must be a finite number")
            if value < 0 or (minimum_open and value == 0):
                raise MarketError(f"contract.{name}", "must be > 0" if minimum_open else "must be >= 0")
        if energy_to_wh(self.energy_kwh_per_slot) != round(self.energy_kwh_per_slot * 1000, 6):
            raise MarketError("contract.energy_kwh_per_slot", "must be a whole number of Wh")
        if money_to_micro(self.price_per_kwh) != round(self.price_per_kwh * 1_000_000, 6):
            raise MarketError("contract.price_per_kwh", "must be a whole number of micro-tokens per kWh")
        if isinstance(self.nonce, bool) or not isinstance(self.nonce, int) or self.nonce < 0:
            raise MarketError("contract.nonce", "must be an integer >= 0")

    @property
    def energy_wh_per_slot(self) -> int:
        """Energy per scheduled slot, Wh."""
        return energy_to_wh(self.energy_kwh_per_slot)

    @property
    def price_micro_per_kwh(self) -> int:
        """The price, micro-tokens per kWh."""
        return money_to_micro(self.price_per_kwh)

    def delivery_wh(self, slot: int) -> int:
        """Energy the contract delivers in ``slot``, Wh (0 outside the schedule)."""
        return self.energy_wh_per_slot if slot in self.slots else 0

    def value_micro(self, slot: int) -> int:
        """Money the buyer pays the seller for ``slot``, micro-tokens: ``round(price · energy)``."""
        return money_to_micro(self.price_per_kwh * self.delivery_wh(slot) / 1000)

    def message(self) -> dict[str, Any]:
        """The EIP-712 message."""
        return _message(self._fields())

    def _fields(self) -> _Fields:
        return (self.seller, self.buyer, self.slots, self.energy_wh_per_slot, self.price_micro_per_kwh, self.nonce)

    def digest(self, domain: Domain) -> bytes:
        """The 32-byte digest both parties sign (canonical: the contract id is a label, not signed); memoised
        on exactly what is hashed (the domain separator and the message's fields), since every settlement of
        a slot verifies every contract again."""
        return _contract_digest(domain.separator, self._fields())

    def sign(self, signer: Signer, domain: Domain) -> bytes:
        """``signer``'s 65-byte signature of the contract (it must be the seller or the buyer)."""
        if signer.address not in (self.seller, self.buyer):
            raise MarketError("signer", f"{signer.address} is not a party to contract {self.contract_id}")
        return signer.sign_digest(self.digest(domain))


_Fields = tuple[str, str, tuple[int, ...], int, int, int]  # seller, buyer, slots, energyWh, price, nonce


@lru_cache(maxsize=4096)
def _contract_digest(separator: bytes, fields: _Fields) -> bytes:
    """:meth:`BilateralContract.digest` of the message with these ``fields`` (EIP-712)."""
    return digest_of(separator, hash_struct("BilateralContract", CONTRACT_TYPES, _message(fields)))


def _message(fields: _Fields) -> dict[str, Any]:
    """A contract's EIP-712 message (``CONTRACT_TYPES``)."""
    seller, buyer, slots, energy_wh, price_micro_per_kwh, nonce = fields
    return {"seller": seller, "buyer": buyer, "slots": list(slots), "energyWh": energy_wh,
            "priceMicroPerKwh": price_micro_per_kwh, "nonce": nonce}


@dataclass(frozen=True)
class SignedContract:
    """A contract with both parties' consent; :meth:`verify` checks each signature recovers to its party."""

    contract: BilateralContract
    seller_signature: bytes
    buyer_signature: bytes

    def verify(self, domain: Domain) -> None:
        """Raise :class:`MarketError` (``kind="unauthenticated"``) naming the signature that does not match."""
        digest = self.contract.digest(domain)
        for name, signature, party in (
            ("seller_signature", self.seller_signature, self.contract.seller),
            ("buyer_signature", self.buyer_signature, self.contract.buyer),
        ):
            try:
                signed_by = recover_address(digest, signature)
            except SignatureError as exc:
                raise MarketError(name, str(exc), "unauthenticated") from exc
            if signed_by != party:
                raise MarketError(name, f"signed by {signed_by}, not by {party}", "unauthenticated")


def contracts_in_slot(
    contracts: Sequence[SignedContract], slot: int, domain: Domain
) -> tuple[BilateralContract, ...]:
    """The verified contracts that deliver in ``slot`` (each signature checked; ids must be unique)."""
    seen: set[str] = set()
    out: list[BilateralContract] = []
    for k, signed in enumerate(contracts):
        cid = signed.contract.contract_id
        if cid in seen:
            raise MarketError(f"contracts[{k}].contract_id", f"duplicate id {cid!r}", "conflict")
        seen.add(cid)
        try:
            signed.verify(domain)
        except MarketError as exc:
            raise MarketError(f"contracts[{k}].{exc.field}", exc.message, exc.kind) from exc
        if slot in signed.contract.slots:
            out.append(signed.contract)
    return tuple(out)
