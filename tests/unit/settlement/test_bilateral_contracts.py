"""Bilateral contracts: two-signature consent over an EIP-712 digest, validation, per-slot delivery."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data

from transactive.crypto.eip712 import Domain
from transactive.crypto.signing import Signer, new_private_key
from transactive.errors import MarketError
from transactive.settlement.bilateral import (
    CONTRACT_TYPES,
    BilateralContract,
    SignedContract,
    contracts_in_slot,
)

RNG = random.Random(7)
SELLER = Signer(new_private_key(RNG))
BUYER = Signer(new_private_key(RNG))
OTHER = Signer(new_private_key(RNG))
DOMAIN = Domain(chain_id=31337, verifying_contract="0x" + "ab" * 20)


def _contract(**changes: object) -> BilateralContract:
    base = BilateralContract("ev-noon", SELLER.address, BUYER.address, (10, 11, 12), 2.5, 0.07, nonce=1)
    return replace(base, **changes)  # type: ignore[arg-type]


def _signed(c: BilateralContract) -> SignedContract:
    return SignedContract(c, c.sign(SELLER, DOMAIN), c.sign(BUYER, DOMAIN))


def test_digest_equals_eth_account_typed_data() -> None:
    c = _contract()
    typed = {
        "types": {k: [{"name": n, "type": t} for n, t in v] for k, v in CONTRACT_TYPES.items()},
        "primaryType": "BilateralContract",
        "domain": DOMAIN.as_dict(),
        "message": c.message(),
    }
    assert c.digest(DOMAIN) == _hash_eip191_message(encode_typed_data(full_message=typed))


def test_memoised_digests_equal_eth_account_for_every_field_and_domain() -> None:
    """The digest is memoised per (domain, signed fields): contracts differing in any one signed field, or
    the same contract in another domain, each get eth_account's digest, asked in an interleaved order
    (the contract id is not signed: a renamed contract has the same digest)."""
    other_domain = Domain(chain_id=1337, verifying_contract="0x" + "cd" * 20)
    variants = [_contract(), _contract(seller=OTHER.address), _contract(buyer=OTHER.address),
                _contract(slots=(10, 11)), _contract(energy_kwh_per_slot=2.501), _contract(price_per_kwh=0.070001),
                _contract(nonce=2)]

    def expected(c: BilateralContract, domain: Domain) -> bytes:
        typed = {
            "types": {k: [{"name": n, "type": t} for n, t in v] for k, v in CONTRACT_TYPES.items()},
            "primaryType": "BilateralContract",
            "domain": domain.as_dict(),
            "message": c.message(),
        }
        return bytes(_hash_eip191_message(encode_typed_data(full_message=typed)))

    asked = [(c, d) for _ in range(2) for c in variants for d in (DOMAIN, other_domain)]
    RNG.shuffle(asked)
    digests = {}
    for c, d in asked:
        digests[c, d] = c.digest(d)
        assert digests[c, d] == expected(c, d)
    assert len(set(digests.values())) == len(variants) * 2
    assert _contract(contract_id="renamed").digest(DOMAIN) == _contract().digest(DOMAIN)


def test_signature_recovers_with_eth_account() -> None:
    c = _contract()
    signed = _signed(c)
    typed = {
        "types": {k: [{"name": n, "type": t} for n, t in v] for k, v in CONTRACT_TYPES.items()},
        "primaryType": "BilateralContract",
        "domain": DOMAIN.as_dict(),
        "message": c.message(),
    }
    recovered = Account.recover_message(encode_typed_data(full_message=typed), signature=signed.buyer_signature)
    assert recovered == BUYER.address


def test_both_signatures_are_required_and_checked() -> None:
    c = _contract()
    _signed(c).verify(DOMAIN)
    with pytest.raises(MarketError) as err:
        SignedContract(c, c.sign(SELLER, DOMAIN), c.sign(SELLER, DOMAIN)).verify(DOMAIN)
    assert err.value.field == "buyer_signature" and err.value.kind == "unauthenticated"
    with pytest.raises(MarketError) as err:
        SignedContract(c, b"\x00" * 65, c.sign(BUYER, DOMAIN)).verify(DOMAIN)
    assert err.value.field == "seller_signature"


def test_tampered_terms_invalidate_consent() -> None:
    signed = _signed(_contract())
    for change in ({"price_per_kwh": 0.08}, {"energy_kwh_per_slot": 2.6}, {"slots": (10, 11)}, {"nonce": 2}):
        tampered = SignedContract(replace(signed.contract, **change), signed.seller_signature, signed.buyer_signature)  # type: ignore[arg-type]
        with pytest.raises(MarketError):
            tampered.verify(DOMAIN)
    with pytest.raises(MarketError):  # another chain's domain
        signed.verify(Domain(chain_id=1, verifying_contract="0x" + "ab" * 20))


def test_a_third_party_cannot_sign() -> None:
    with pytest.raises(MarketError) as err:
        _contract().sign(OTHER, DOMAIN)
    assert err.value.field == "signer"


def test_delivery_per_slot() -> None:
    c = _contract()
    assert [c.delivery_wh(s) for s in (9, 10, 11, 12, 13)] == [0, 2500, 2500, 2500, 0]
    assert c.value_micro(10) == 175_000  # 2.5 kWh * 0.07 = 0.175 tokens
    assert c.value_micro(9) == 0


@pytest.mark.parametrize(("changes", "field"), [
    ({"contract_id": ""}, "contract.contract_id"),
    ({"seller": "0x12"}, "contract.seller"),
    ({"buyer": SELLER.address}, "contract.buyer"),
    ({"slots": ()}, "contract.slots"),
    ({"slots": (3, 3)}, "contract.slots[1]"),
    ({"slots": (-1,)}, "contract.slots[0]"),
    ({"energy_kwh_per_slot": 0.0}, "contract.energy_kwh_per_slot"),
    ({"energy_kwh_per_slot": 1.0005}, "contract.energy_kwh_per_slot"),
    ({"price_per_kwh": -0.01}, "contract.price_per_kwh"),
    ({"price_per_kwh": float("inf")}, "contract.price_per_kwh"),
    ({"nonce": -1}, "contract.nonce"),
])
def test_validation_names_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(MarketError) as err:
        _contract(**changes)
    assert err.value.field == field


def test_contracts_in_slot_verifies_and_filters() -> None:
    a = _signed(_contract())
    b = _signed(_contract(contract_id="later", slots=(20,)))
    assert [c.contract_id for c in contracts_in_slot([a, b], 11, DOMAIN)] == ["ev-noon"]
    assert contracts_in_slot([a, b], 15, DOMAIN) == ()
    with pytest.raises(MarketError) as err:
        contracts_in_slot([a, a], 11, DOMAIN)
    assert err.value.field == "contracts[1].contract_id"
    bad = SignedContract(b.contract, b.buyer_signature, b.buyer_signature)
    with pytest.raises(MarketError) as err:
        contracts_in_slot([a, bad], 11, DOMAIN)
    assert err.value.field == "contracts[1].seller_signature"
